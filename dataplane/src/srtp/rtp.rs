//! SRTP packet processing (RFC 3711 §3.3, RFC 7714 §8), as steps a burst runs
//! over all its packets before the next ([`super::burst`]):
//!
//! ```text
//! protect    begin (index, checks) -> AES-CM of the payloads -> HMAC-SHA1s -> finish (MKI, tag)
//!            begin -> AES-GCM seal (tag)                               -> finish (MKI)
//! unprotect  begin (MKI, index, replay) -> HMAC-SHA1s -> verify (tag, stream) -> AES-CM of the payloads
//!            begin -> AES-GCM open (verify, then decrypt) -> stream
//! ```
//!
//! HMAC-SHA1 authenticates `packet || ROC` (RFC 3711 §4.2): the engines take one
//! contiguous message, so the ROC is written over the four bytes after the
//! packet (the MKI and tag's place, or tailroom) for the MAC and the bytes are
//! then put back or overwritten. A single packet is a burst of one.

use super::burst::{protect_rtp_burst, unprotect_rtp_burst, BurstPacket};
use super::context::{Context, SessionCipher};
use super::engine::{tag_matches, Crypto, CtrOp, MacOp, GCM_TAG_LEN, MAC_LEN};
use super::error::SrtpError;
use super::header::RtpHeader;
use super::iv::{aes_cm_iv, gcm_srtp_iv};
use super::stream::StreamState;

/// Bytes of the ROC appended to the authenticated portion (RFC 3711 §4.2).
const ROC_LEN: usize = 4;

/// A packet between its first step and its last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    /// Master key slot.
    slot: usize,
    index: u64,
    ssrc: u32,
    /// The encrypted portion, `buf[payload_at..payload_end]`.
    payload_at: usize,
    payload_end: usize,
    /// Where the tag is written or read.
    tag_at: usize,
    /// Where the MKI is written.
    mki_at: usize,
    /// Packet length once done.
    new_len: usize,
    /// The packet's bytes under the ROC while the MAC is computed (unprotect).
    saved: [u8; ROC_LEN],
}

impl Context {
    /// Protects the RTP packet `buf[..len]` in place (RFC 3711 §3.3): encrypts the
    /// payload, appends the MKI and the authentication tag, and returns the SRTP
    /// packet length, `len + self.srtp_overhead()`. `buf` must have room for it.
    ///
    /// Refuses an index already protected on this stream ([`SrtpError::Replayed`]):
    /// protecting it again would reuse its keystream.
    pub fn protect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut result = [Ok(0)];
        protect_rtp_burst(
            &mut [BurstPacket { ctx: self, stream: 0, buf, len }],
            core::slice::from_mut(stream),
            &mut result,
        );
        result[0]
    }

    /// Unprotects the SRTP packet `buf[..len]` in place (RFC 3711 §3.3): selects
    /// the master key by MKI, estimates the index, checks replay, verifies the tag,
    /// decrypts, and returns the RTP packet length. The stream's ROC and replay
    /// window move only once the packet authenticated.
    pub fn unprotect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut result = [Ok(0)];
        unprotect_rtp_burst(
            &mut [BurstPacket { ctx: self, stream: 0, buf, len }],
            core::slice::from_mut(stream),
            &mut result,
        );
        result[0]
    }

    /// Checks the packet and takes its index.
    #[inline]
    pub(crate) fn protect_rtp_begin(
        &self,
        stream: &mut StreamState,
        buf: &[u8],
        len: usize,
    ) -> Result<Pending, SrtpError> {
        let new_len = len + self.srtp_overhead();
        if new_len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        let header = RtpHeader::parse(&buf[..len])?;
        let (slot, keys) = self.tx_slot();
        if stream.srtp_packets[slot] >= keys.srtp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        let index = stream.estimate_srtp_index(header.seq)?;
        stream.srtp.check(index, self.window)?;
        stream.srtp.accept(index);
        stream.srtp_packets[slot] += 1;
        // RFC 3711 §3.1: payload | MKI | tag. RFC 7714 §8.1: payload | tag | MKI.
        let (mki_at, tag_at) = if self.suite.is_aead() { (len + GCM_TAG_LEN, len) } else { (len, len + self.mki_len) };
        Ok(Pending {
            slot,
            index,
            ssrc: header.ssrc,
            payload_at: header.len,
            payload_end: len,
            tag_at,
            mki_at,
            new_len,
            saved: [0; ROC_LEN],
        })
    }

    /// The AES-CM operation on the payload, for AES-CM suites.
    #[inline]
    pub(crate) fn rtp_ctr<'a>(&'a self, p: &Pending, buf: &'a mut [u8]) -> Option<CtrOp<'a>> {
        let crypto = &self.keys[p.slot].srtp;
        match &crypto.cipher {
            SessionCipher::AesCm(key) => Some(CtrOp {
                key,
                iv: aes_cm_iv(crypto.salt, p.ssrc, p.index),
                data: &mut buf[p.payload_at..p.payload_end],
            }),
            _ => None,
        }
    }

    /// The HMAC operation over `packet || ROC`, for HMAC suites: writes the
    /// ROC after the packet, keeping the bytes it covers in `p` if `keep`.
    #[inline]
    pub(crate) fn rtp_mac<'a>(&'a self, p: &mut Pending, buf: &'a mut [u8], keep: bool) -> Option<MacOp<'a>> {
        let key = self.keys[p.slot].srtp.auth.as_ref()?;
        let roc = &mut buf[p.payload_end..p.payload_end + ROC_LEN];
        if keep {
            p.saved.copy_from_slice(roc);
        }
        roc.copy_from_slice(&((p.index >> 16) as u32).to_be_bytes());
        Some(MacOp { key, msg: &buf[..p.payload_end + ROC_LEN], mac: [0; MAC_LEN] })
    }

    /// AEAD: encrypts the payload and writes the tag; the header is the AAD
    /// (RFC 7714 §8.2).
    #[inline]
    pub(crate) fn protect_rtp_seal(&self, c: &mut Crypto, p: &Pending, buf: &mut [u8]) {
        let crypto = &self.keys[p.slot].srtp;
        let SessionCipher::AesGcm(key) = &crypto.cipher else { unreachable!("AEAD suites have a GCM key") };
        let iv = gcm_srtp_iv(crypto.salt, p.ssrc, p.index);
        let (aad, rest) = buf.split_at_mut(p.payload_at);
        let tag = c.gcm_seal(key, &iv, aad, &mut rest[..p.payload_end - p.payload_at]);
        buf[p.tag_at..p.tag_at + GCM_TAG_LEN].copy_from_slice(&tag);
    }

    /// Writes the MKI and, for HMAC suites, the tag (over the ROC).
    #[inline]
    pub(crate) fn protect_rtp_finish(&self, p: &Pending, buf: &mut [u8], mac: Option<&[u8; MAC_LEN]>) -> usize {
        if let Some(mac) = mac {
            let tag_len = self.suite.srtp_tag_len();
            buf[p.tag_at..p.tag_at + tag_len].copy_from_slice(&mac[..tag_len]);
        }
        if self.mki_len > 0 {
            buf[p.mki_at..p.mki_at + self.mki_len].copy_from_slice(&self.keys[p.slot].mki[..self.mki_len]);
        }
        p.new_len
    }

    /// Checks the packet, selects the key by MKI and estimates the index
    /// against the replay window. Changes nothing.
    #[inline]
    pub(crate) fn unprotect_rtp_begin(
        &self,
        stream: &StreamState,
        buf: &[u8],
        len: usize,
    ) -> Result<Pending, SrtpError> {
        if len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        let tag_len = self.suite.srtp_tag_len();
        let trailer = self.mki_len + tag_len;
        let header = RtpHeader::parse(&buf[..len])?;
        if len < header.len + trailer {
            return Err(SrtpError::TooShort);
        }
        let aead = self.suite.is_aead();
        // RFC 3711 §3.1: payload | MKI | tag. RFC 7714 §8.1: payload | tag | MKI.
        let (mki_at, tag_at) = if aead { (len - self.mki_len, len - trailer) } else { (len - trailer, len - tag_len) };
        let (slot, keys) = self.rx_slot(&buf[mki_at..mki_at + self.mki_len])?;
        if stream.srtp_packets[slot] >= keys.srtp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        let index = stream.estimate_srtp_index(header.seq)?;
        stream.srtp.check(index, self.window)?;
        let payload_end = len - trailer;
        Ok(Pending {
            slot,
            index,
            ssrc: header.ssrc,
            payload_at: header.len,
            payload_end,
            tag_at,
            mki_at,
            new_len: payload_end,
            saved: [0; ROC_LEN],
        })
    }

    /// HMAC suites: puts back the bytes under the ROC, verifies the tag against
    /// `mac`, then updates the stream. The payload is decrypted afterwards
    /// ([`Context::rtp_ctr`]).
    #[inline]
    pub(crate) fn unprotect_rtp_verify(
        &self,
        stream: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
        mac: &[u8; MAC_LEN],
    ) -> Result<usize, SrtpError> {
        buf[p.payload_end..p.payload_end + ROC_LEN].copy_from_slice(&p.saved);
        if !tag_matches(mac, &buf[p.tag_at..p.tag_at + self.suite.srtp_tag_len()]) {
            return Err(SrtpError::AuthFailed);
        }
        self.recheck(stream, p)?;
        Ok(self.accept(stream, p))
    }

    /// AEAD: verifies, decrypts, then updates the stream.
    #[inline]
    pub(crate) fn unprotect_rtp_open(
        &self,
        c: &mut Crypto,
        stream: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        self.recheck(stream, p)?;
        let crypto = &self.keys[p.slot].srtp;
        let SessionCipher::AesGcm(key) = &crypto.cipher else { unreachable!("AEAD suites have a GCM key") };
        let iv = gcm_srtp_iv(crypto.salt, p.ssrc, p.index);
        let (aad, rest) = buf.split_at_mut(p.payload_at);
        let (ciphertext, tag) =
            rest[..p.tag_at + GCM_TAG_LEN - p.payload_at].split_at_mut(p.payload_end - p.payload_at);
        if !c.gcm_open(key, &iv, aad, ciphertext, tag) {
            return Err(SrtpError::AuthFailed);
        }
        Ok(self.accept(stream, p))
    }

    /// Checked again before the stream moves: an earlier packet of the same burst
    /// may have taken the index, moved the window or used up the key.
    fn recheck(&self, stream: &StreamState, p: &Pending) -> Result<(), SrtpError> {
        stream.srtp.check(p.index, self.window)?;
        if stream.srtp_packets[p.slot] >= self.keys[p.slot].srtp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        Ok(())
    }

    fn accept(&self, stream: &mut StreamState, p: &Pending) -> usize {
        stream.srtp.accept(p.index);
        stream.srtp_packets[p.slot] += 1;
        p.new_len
    }
}
