//! SRTCP packet processing (RFC 3711 §3.4, RFC 7714 §9), in the same steps as
//! `rtp.rs`, so that a burst hands all its SRTCP ciphers and MACs to the engine
//! at once ([`super::burst`]).
//!
//! SRTCP always encrypts on protect (E flag set); unprotect also accepts packets a
//! peer sent with the E flag clear, authenticated but in clear (RFC 3711 §3.4).

use super::burst::{protect_rtcp_burst, unprotect_rtcp_burst, BurstPacket};
use super::context::{Context, SessionCipher};
use super::engine::{tag_matches, Crypto, CtrOp, MacOp, GCM_TAG_LEN, MAC_LEN};
use super::error::SrtpError;
use super::header::{rtcp_ssrc, RTCP_HEADER_LEN};
use super::iv::{aes_cm_iv, gcm_srtcp_iv};
use super::stream::StreamState;

/// The E flag of the SRTCP trailer word.
const E_FLAG: u32 = 0x8000_0000;
/// Bytes of `E || SRTCP index`.
const TRAILER_LEN: usize = 4;
/// Largest SRTCP index (31 bits).
const MAX_INDEX: u32 = 0x7fff_ffff;

/// An SRTCP packet between its first step and its last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtcpPending {
    slot: usize,
    index: u32,
    ssrc: u32,
    /// Whether the body is (to be) encrypted.
    encrypted: bool,
    /// The body, `buf[RTCP_HEADER_LEN..body_end]`.
    body_end: usize,
    /// Where `E || index` is.
    trailer_at: usize,
    /// HMAC suites: the authenticated portion is `buf[..auth_end]`.
    auth_end: usize,
    tag_at: usize,
    mki_at: usize,
    new_len: usize,
}

impl RtcpPending {
    fn trailer(&self) -> [u8; TRAILER_LEN] {
        (if self.encrypted { E_FLAG } else { 0 } | self.index).to_be_bytes()
    }
}

impl Context {
    /// Protects the compound RTCP packet `buf[..len]` in place (RFC 3711 §3.4):
    /// encrypts everything after the first 8 bytes, appends `E || SRTCP index`,
    /// the MKI and the tag (for GCM, RFC 7714 §9.1: tag, then index, then MKI), and
    /// returns the new length, `len + self.srtcp_overhead()`.
    pub fn protect_rtcp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut result = [Ok(0)];
        protect_rtcp_burst(
            &mut [BurstPacket { ctx: self, stream: 0, buf, len }],
            core::slice::from_mut(stream),
            &mut result,
        );
        result[0]
    }

    /// Unprotects the SRTCP packet `buf[..len]` in place (RFC 3711 §3.4): selects
    /// the key by MKI, checks the index against the SRTCP replay window, verifies
    /// the tag, decrypts if the E flag is set, and returns the RTCP length.
    pub fn unprotect_rtcp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let mut result = [Ok(0)];
        unprotect_rtcp_burst(
            &mut [BurstPacket { ctx: self, stream: 0, buf, len }],
            core::slice::from_mut(stream),
            &mut result,
        );
        result[0]
    }

    /// Checks the packet, takes its index and, for HMAC suites, writes
    /// `E || index` (authenticated with the packet).
    pub(crate) fn protect_rtcp_begin(
        &self,
        stream: &mut StreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<RtcpPending, SrtpError> {
        let new_len = len + self.srtcp_overhead();
        if new_len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        let ssrc = rtcp_ssrc(&buf[..len])?;
        let (slot, keys) = self.tx_slot();
        let index = stream.srtcp_next;
        if index > MAX_INDEX || stream.srtcp_packets[slot] >= keys.srtcp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        stream.srtcp_next += 1;
        stream.srtcp_packets[slot] += 1;
        let aead = self.suite.is_aead();
        // RFC 3711 §3.4: body | E+index | MKI | tag. RFC 7714 §9.1: body | tag | E+index | MKI.
        let (tag_at, trailer_at) =
            if aead { (len, len + GCM_TAG_LEN) } else { (new_len - self.suite.srtcp_tag_len(), len) };
        let p = RtcpPending {
            slot,
            index,
            ssrc,
            encrypted: true,
            body_end: len,
            trailer_at,
            auth_end: len + TRAILER_LEN,
            tag_at,
            mki_at: trailer_at + TRAILER_LEN,
            new_len,
        };
        buf[trailer_at..trailer_at + TRAILER_LEN].copy_from_slice(&p.trailer());
        Ok(p)
    }

    /// The AES-CM operation on the body, for AES-CM suites and an encrypted body.
    pub(crate) fn rtcp_ctr<'a>(&'a self, p: &RtcpPending, buf: &'a mut [u8]) -> Option<CtrOp<'a>> {
        let crypto = &self.keys[p.slot].srtcp;
        match &crypto.cipher {
            SessionCipher::AesCm(key) if p.encrypted => Some(CtrOp {
                key,
                iv: aes_cm_iv(crypto.salt, p.ssrc, u64::from(p.index)),
                data: &mut buf[RTCP_HEADER_LEN..p.body_end],
            }),
            _ => None,
        }
    }

    /// The HMAC operation over the packet and `E || index`, for HMAC suites.
    pub(crate) fn rtcp_mac<'a>(&'a self, p: &RtcpPending, buf: &'a [u8]) -> Option<MacOp<'a>> {
        let key = self.keys[p.slot].srtcp.auth.as_ref()?;
        Some(MacOp { key, msg: &buf[..p.auth_end], mac: [0; MAC_LEN] })
    }

    /// AEAD: encrypts the body and writes the tag; the AAD is the header and
    /// `E || index` (RFC 7714 §9.2).
    pub(crate) fn protect_rtcp_seal(&self, c: &mut Crypto, p: &RtcpPending, buf: &mut [u8]) {
        let crypto = &self.keys[p.slot].srtcp;
        let SessionCipher::AesGcm(key) = &crypto.cipher else { unreachable!("AEAD suites have a GCM key") };
        let aad = rtcp_aad(buf, &p.trailer());
        let iv = gcm_srtcp_iv(crypto.salt, p.ssrc, p.index);
        let tag = c.gcm_seal(key, &iv, &aad, &mut buf[RTCP_HEADER_LEN..p.body_end]);
        buf[p.tag_at..p.tag_at + GCM_TAG_LEN].copy_from_slice(&tag);
    }

    /// Writes the MKI and, for HMAC suites, the tag.
    pub(crate) fn protect_rtcp_finish(&self, p: &RtcpPending, buf: &mut [u8], mac: Option<&[u8; MAC_LEN]>) -> usize {
        if let Some(mac) = mac {
            buf[p.tag_at..p.new_len].copy_from_slice(&mac[..p.new_len - p.tag_at]);
        }
        buf[p.mki_at..p.mki_at + self.mki_len].copy_from_slice(&self.keys[p.slot].mki[..self.mki_len]);
        p.new_len
    }

    /// Checks the packet, selects the key by MKI and checks the index against
    /// the SRTCP replay window. Changes nothing.
    pub(crate) fn unprotect_rtcp_begin(
        &self,
        stream: &StreamState,
        buf: &[u8],
        len: usize,
    ) -> Result<RtcpPending, SrtpError> {
        if len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        let ssrc = rtcp_ssrc(&buf[..len])?;
        let tag_len = self.suite.srtcp_tag_len();
        if len < RTCP_HEADER_LEN + TRAILER_LEN + self.mki_len + tag_len {
            return Err(SrtpError::TooShort);
        }
        let aead = self.suite.is_aead();
        // RFC 3711 §3.4: body | E+index | MKI | tag; RFC 7714 §9.1: body | tag | E+index | MKI.
        let mki_at = if aead { len - self.mki_len } else { len - self.mki_len - tag_len };
        let trailer_at = mki_at - TRAILER_LEN;
        let (slot, keys) = self.rx_slot(&buf[mki_at..mki_at + self.mki_len])?;
        let word = u32::from_be_bytes(buf[trailer_at..mki_at].try_into().expect("4 bytes"));
        let index = word & MAX_INDEX;
        stream.srtcp.check(u64::from(index), self.window)?;
        if stream.srtcp_packets[slot] >= keys.srtcp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        let (tag_at, body_end) =
            if aead { (trailer_at - GCM_TAG_LEN, trailer_at - GCM_TAG_LEN) } else { (len - tag_len, trailer_at) };
        Ok(RtcpPending {
            slot,
            index,
            ssrc,
            encrypted: word & E_FLAG != 0,
            body_end,
            trailer_at,
            auth_end: mki_at,
            tag_at,
            mki_at,
            new_len: body_end,
        })
    }

    /// HMAC suites: verifies the tag against `mac`, then updates the stream.
    /// The body is decrypted afterwards ([`Context::rtcp_ctr`]).
    pub(crate) fn unprotect_rtcp_verify(
        &self,
        stream: &mut StreamState,
        p: &RtcpPending,
        buf: &[u8],
        mac: &[u8; MAC_LEN],
    ) -> Result<usize, SrtpError> {
        if !tag_matches(mac, &buf[p.tag_at..p.tag_at + self.suite.srtcp_tag_len()]) {
            return Err(SrtpError::AuthFailed);
        }
        self.recheck_rtcp(stream, p)?;
        Ok(self.accept_rtcp(stream, p))
    }

    /// AEAD: verifies, decrypts if the E flag is set, then updates the stream.
    pub(crate) fn unprotect_rtcp_open(
        &self,
        c: &mut Crypto,
        stream: &mut StreamState,
        p: &RtcpPending,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        self.recheck_rtcp(stream, p)?;
        let crypto = &self.keys[p.slot].srtcp;
        let SessionCipher::AesGcm(key) = &crypto.cipher else { unreachable!("AEAD suites have a GCM key") };
        let iv = gcm_srtcp_iv(crypto.salt, p.ssrc, p.index);
        let trailer = p.trailer();
        let opened = if p.encrypted {
            let aad = rtcp_aad(buf, &trailer);
            let (body, tag) = buf[RTCP_HEADER_LEN..p.trailer_at].split_at_mut(p.tag_at - RTCP_HEADER_LEN);
            c.gcm_open(key, &iv, &aad, body, tag)
        } else {
            // RFC 7714 §9.2: unencrypted SRTCP authenticates the whole packet
            // and the trailer as AAD. The trailer is moved over the tag to make
            // them one piece, and the tag put back on failure.
            let tag: [u8; GCM_TAG_LEN] = buf[p.tag_at..p.trailer_at].try_into().expect("16 bytes");
            buf[p.tag_at..p.tag_at + TRAILER_LEN].copy_from_slice(&trailer);
            let ok = c.gcm_open(key, &iv, &buf[..p.tag_at + TRAILER_LEN], &mut [], &tag);
            if !ok {
                buf[p.tag_at..p.trailer_at].copy_from_slice(&tag);
            }
            ok
        };
        if !opened {
            return Err(SrtpError::AuthFailed);
        }
        Ok(self.accept_rtcp(stream, p))
    }

    /// Checked again before the stream moves: an earlier packet of the same
    /// burst may have taken the index or used up the key.
    fn recheck_rtcp(&self, stream: &StreamState, p: &RtcpPending) -> Result<(), SrtpError> {
        stream.srtcp.check(u64::from(p.index), self.window)?;
        if stream.srtcp_packets[p.slot] >= self.keys[p.slot].srtcp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        Ok(())
    }

    fn accept_rtcp(&self, stream: &mut StreamState, p: &RtcpPending) -> usize {
        stream.srtcp.accept(u64::from(p.index));
        stream.srtcp_packets[p.slot] += 1;
        p.new_len
    }
}

/// The AEAD AAD of encrypted SRTCP: the header then `E || index` (RFC 7714 §9.2).
fn rtcp_aad(buf: &[u8], trailer: &[u8; TRAILER_LEN]) -> [u8; RTCP_HEADER_LEN + TRAILER_LEN] {
    let mut aad = [0u8; RTCP_HEADER_LEN + TRAILER_LEN];
    aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
    aad[RTCP_HEADER_LEN..].copy_from_slice(trailer);
    aad
}
