//! SRTP packet processing (RFC 3711 §3.3, RFC 7714 §8).
//!
//! Each direction is split into steps so that a burst can run every step over
//! several packets before the next ([`super::burst`]): `*_begin` checks the packet,
//! settles its index and prepares its counter blocks; then the cipher pass
//! (`protect_rtp_crypt`, or `unprotect_rtp_open` for AEAD, which finishes the
//! packet); then, for HMAC suites, the MAC and `*_finish`. A single packet runs the
//! same steps back to back.

use super::aes_cm::{aes_cm_iv, Counters};
use super::context::{Context, SessionCipher};
use super::error::SrtpError;
use super::gcm::{self, GCM_TAG_LEN};
use super::header::RtpHeader;
use super::hmac::{hmac_sha1, HmacInput, Mac};
use super::stream::StreamState;

/// A packet between its first step and its last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    /// Master key slot.
    slot: usize,
    index: u64,
    /// The encrypted portion, `buf[payload_at..payload_end]`; HMAC suites
    /// authenticate `buf[..payload_end]` then the ROC (RFC 3711 §4.2).
    payload_at: usize,
    payload_end: usize,
    /// Where the tag is written or read.
    tag_at: usize,
    /// Packet length once done.
    new_len: usize,
}

impl Pending {
    /// A placeholder for fixed-size queues.
    pub(crate) const EMPTY: Pending =
        Pending { slot: 0, index: 0, payload_at: 0, payload_end: 0, tag_at: 0, new_len: 0 };

    /// Packet length once done.
    pub(crate) fn new_len(&self) -> usize {
        self.new_len
    }
}

impl Context {
    /// Protects the RTP packet `buf[..len]` in place (RFC 3711 §3.3): encrypts the
    /// payload, appends the MKI and the authentication tag, and returns the SRTP
    /// packet length, `len + self.srtp_overhead()`. `buf` must have room for it.
    ///
    /// Refuses an index already protected on this stream ([`SrtpError::Replayed`]):
    /// protecting it again would reuse its keystream.
    pub fn protect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut counters = Counters::new();
        let p = self.protect_rtp_begin(stream, buf, len, &mut counters)?;
        self.protect_rtp_crypt(&p, buf, &mut counters);
        if self.suite.is_aead() {
            return Ok(p.new_len);
        }
        let mac = hmac_sha1(self.rtp_auth_input(&p, buf));
        Ok(self.protect_rtp_finish(&p, buf, &mac))
    }

    /// Unprotects the SRTP packet `buf[..len]` in place (RFC 3711 §3.3): selects
    /// the master key by MKI, estimates the index, checks replay, verifies the tag,
    /// decrypts, and returns the RTP packet length. The stream's ROC and replay
    /// window move only once the packet authenticated.
    pub fn unprotect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut counters = Counters::new();
        let p = self.unprotect_rtp_begin(stream, buf, len, &mut counters)?;
        if self.suite.is_aead() {
            return self.unprotect_rtp_open(stream, &p, buf, &mut counters);
        }
        let mac = hmac_sha1(self.rtp_auth_input(&p, buf));
        self.unprotect_rtp_finish(stream, &p, buf, &mac, &mut counters)
    }

    /// Checks the packet, takes its index, writes the MKI and prepares the
    /// counter blocks.
    #[inline]
    pub(crate) fn protect_rtp_begin(
        &self,
        stream: &mut StreamState,
        buf: &mut [u8],
        len: usize,
        counters: &mut Counters,
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

        let crypto = &keys.srtp;
        let payload = len - header.len;
        // RFC 3711 §3.1: payload | MKI | tag. RFC 7714 §8.1: payload | tag | MKI.
        let (mki_at, tag_at) = match &crypto.cipher {
            SessionCipher::AesGcm(_) => {
                gcm::prepare(counters, gcm::srtp_iv(crypto.salt, header.ssrc, index), payload);
                (len + GCM_TAG_LEN, len)
            }
            SessionCipher::AesCm(_) => {
                counters.prepare(aes_cm_iv(crypto.salt, header.ssrc, index), false, payload);
                (len, len + self.mki_len)
            }
            SessionCipher::Null => (len, len + self.mki_len),
        };
        if self.mki_len > 0 {
            buf[mki_at..mki_at + self.mki_len].copy_from_slice(&keys.mki[..self.mki_len]);
        }
        Ok(Pending { slot, index, payload_at: header.len, payload_end: len, tag_at, new_len })
    }

    /// Encrypts the payload; for AEAD also writes the tag, which finishes it.
    #[inline]
    pub(crate) fn protect_rtp_crypt(&self, p: &Pending, buf: &mut [u8], counters: &mut Counters) {
        match &self.keys[p.slot].srtp.cipher {
            SessionCipher::AesGcm(gcm) => {
                // RFC 7714 §8.2: the header is the AAD.
                let (aad, rest) = buf.split_at_mut(p.payload_at);
                let tag = gcm.seal(counters, (aad, &[]), &mut rest[..p.payload_end - p.payload_at]);
                buf[p.tag_at..p.tag_at + GCM_TAG_LEN].copy_from_slice(&tag);
            }
            SessionCipher::AesCm(aes) => {
                aes.apply_counters(counters, &mut buf[p.payload_at..p.payload_end]);
            }
            SessionCipher::Null => {}
        }
    }

    /// Writes the HMAC tag.
    #[inline]
    pub(crate) fn protect_rtp_finish(&self, p: &Pending, buf: &mut [u8], mac: &Mac) -> usize {
        mac.write_tag(&mut buf[p.tag_at..p.tag_at + self.suite.srtp_tag_len()]);
        p.new_len
    }

    /// The HMAC input of a pending packet: `packet || ROC` (RFC 3711 §4.2).
    #[inline]
    pub(crate) fn rtp_auth_input<'a>(&'a self, p: &Pending, buf: &'a [u8]) -> HmacInput<'a> {
        HmacInput {
            key: self.keys[p.slot].srtp.auth.as_ref().expect("HMAC suites have an auth key"),
            msg: &buf[..p.payload_end],
            roc: Some((p.index >> 16) as u32),
        }
    }

    /// Checks the packet, selects the key by MKI, estimates the index against
    /// the replay window and prepares the counter blocks. Changes nothing.
    #[inline]
    pub(crate) fn unprotect_rtp_begin(
        &self,
        stream: &StreamState,
        buf: &[u8],
        len: usize,
        counters: &mut Counters,
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

        let crypto = &keys.srtp;
        let payload_end = len - trailer;
        let payload = payload_end - header.len;
        match &crypto.cipher {
            SessionCipher::AesGcm(_) => {
                gcm::prepare(counters, gcm::srtp_iv(crypto.salt, header.ssrc, index), payload);
            }
            SessionCipher::AesCm(_) => counters.prepare(aes_cm_iv(crypto.salt, header.ssrc, index), false, payload),
            SessionCipher::Null => {}
        }
        Ok(Pending { slot, index, payload_at: header.len, payload_end, tag_at, new_len: payload_end })
    }

    /// AEAD: verifies and decrypts, then updates the stream.
    #[inline]
    pub(crate) fn unprotect_rtp_open(
        &self,
        stream: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
        counters: &mut Counters,
    ) -> Result<usize, SrtpError> {
        self.recheck(stream, p)?;
        let SessionCipher::AesGcm(gcm) = &self.keys[p.slot].srtp.cipher else {
            unreachable!("AEAD suites have a GCM key");
        };
        let (aad, rest) = buf.split_at_mut(p.payload_at);
        let (ciphertext, tag) =
            rest[..p.tag_at + GCM_TAG_LEN - p.payload_at].split_at_mut(p.payload_end - p.payload_at);
        if !gcm.open(counters, (aad, &[]), ciphertext, tag) {
            return Err(SrtpError::AuthFailed);
        }
        Ok(self.accept(stream, p))
    }

    /// HMAC suites: verifies the tag against `mac`, then updates the stream and
    /// decrypts.
    #[inline]
    pub(crate) fn unprotect_rtp_finish(
        &self,
        stream: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
        mac: &Mac,
        counters: &mut Counters,
    ) -> Result<usize, SrtpError> {
        let tag_len = self.suite.srtp_tag_len();
        if !mac.matches(&buf[p.tag_at..p.tag_at + tag_len]) {
            return Err(SrtpError::AuthFailed);
        }
        self.recheck(stream, p)?;
        if let SessionCipher::AesCm(aes) = &self.keys[p.slot].srtp.cipher {
            aes.apply_counters(counters, &mut buf[p.payload_at..p.payload_end]);
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
