//! SRTP packet processing (RFC 3711 §3.3, RFC 7714 §8).
//!
//! Each direction is split in two: a per-packet pass (`*_begin`: checks, index,
//! keystream) and, for HMAC suites, a finishing pass once the MAC is known, so the
//! burst functions can compute the MACs of many packets together in between.

use subtle::ConstantTimeEq;

use super::aes_cm::aes_cm_iv;
use super::context::{Context, SessionCipher};
use super::error::SrtpError;
use super::gcm::{self, GCM_TAG_LEN};
use super::header::RtpHeader;
use super::hmac::{hmac_sha1, HmacInput, HMAC_SHA1_LEN};
use super::stream::StreamState;

/// What is left of a packet of an HMAC suite once its per-packet pass is done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingAuth {
    /// Master key slot.
    slot: usize,
    /// Authenticated portion: `buf[..auth_len]`, then the ROC (RFC 3711 §4.2).
    auth_len: usize,
    index: u64,
    /// Where the tag is (to write or to check) and its length.
    tag_at: usize,
    tag_len: usize,
    /// Encrypted portion, for unprotect's decryption after authentication.
    payload_at: usize,
    ssrc: u32,
    /// Packet length once done.
    new_len: usize,
}

/// Outcome of a per-packet pass.
pub(crate) enum Step {
    Done(usize),
    Auth(PendingAuth),
}

impl Context {
    /// Protects the RTP packet `buf[..len]` in place (RFC 3711 §3.3): encrypts the
    /// payload, appends the MKI and the authentication tag, and returns the SRTP
    /// packet length, `len + self.srtp_overhead()`. `buf` must have room for it.
    ///
    /// Refuses an index already protected on this stream ([`SrtpError::Replayed`]):
    /// protecting it again would reuse its keystream.
    pub fn protect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        match self.protect_rtp_begin(stream, buf, len)? {
            Step::Done(n) => Ok(n),
            Step::Auth(p) => {
                let mac = hmac_sha1(self.rtp_auth_input(&p, buf));
                Ok(self.protect_rtp_finish(&p, buf, &mac))
            }
        }
    }

    /// Unprotects the SRTP packet `buf[..len]` in place (RFC 3711 §3.3): selects
    /// the master key by MKI, estimates the index, checks replay, verifies the tag,
    /// decrypts, and returns the RTP packet length. The stream's ROC and replay
    /// window move only once the packet authenticated.
    pub fn unprotect_rtp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        match self.unprotect_rtp_begin(stream, buf, len)? {
            Step::Done(n) => Ok(n),
            Step::Auth(p) => {
                let mac = hmac_sha1(self.rtp_auth_input(&p, buf));
                self.unprotect_rtp_finish(stream, &p, buf, &mac)
            }
        }
    }

    /// Checks, reserves the index, encrypts and writes the MKI; AEAD finishes here.
    pub(crate) fn protect_rtp_begin(
        &self,
        stream: &mut StreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Step, SrtpError> {
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
        let tag_len = self.suite.srtp_tag_len();
        match &crypto.cipher {
            SessionCipher::AesGcm(gcm) => {
                // RFC 7714 §8: AAD is the header, the tag follows the
                // ciphertext, the MKI follows the tag.
                let iv = gcm::srtp_iv(crypto.gcm_salt(), header.ssrc, index);
                let (aad, rest) = buf.split_at_mut(header.len);
                let tag = gcm.seal(&iv, (aad, &[]), &mut rest[..len - header.len]);
                buf[len..len + GCM_TAG_LEN].copy_from_slice(&tag);
                buf[len + GCM_TAG_LEN..new_len].copy_from_slice(&keys.mki[..self.mki_len]);
                Ok(Step::Done(new_len))
            }
            cipher => {
                if let SessionCipher::AesCm(aes) = cipher {
                    let iv = aes_cm_iv(&crypto.salt, header.ssrc, index);
                    aes.apply_keystream(iv, &mut buf[header.len..len]);
                }
                // RFC 3711 §3.1: the MKI precedes the tag.
                buf[len..len + self.mki_len].copy_from_slice(&keys.mki[..self.mki_len]);
                Ok(Step::Auth(PendingAuth {
                    slot,
                    auth_len: len,
                    index,
                    tag_at: len + self.mki_len,
                    tag_len,
                    payload_at: header.len,
                    ssrc: header.ssrc,
                    new_len,
                }))
            }
        }
    }

    pub(crate) fn protect_rtp_finish(&self, p: &PendingAuth, buf: &mut [u8], mac: &[u8; HMAC_SHA1_LEN]) -> usize {
        buf[p.tag_at..p.tag_at + p.tag_len].copy_from_slice(&mac[..p.tag_len]);
        p.new_len
    }

    /// The HMAC input of a pending packet: `packet || ROC` (RFC 3711 §4.2).
    pub(crate) fn rtp_auth_input<'a>(&'a self, p: &PendingAuth, buf: &'a [u8]) -> HmacInput<'a> {
        HmacInput {
            key: self.keys[p.slot]
                .srtp
                .auth
                .as_ref()
                .expect("HMAC suites have an auth key"),
            msg: &buf[..p.auth_len],
            suffix: ((p.index >> 16) as u32).to_be_bytes(),
            suffix_len: 4,
        }
    }

    /// Checks, selects the key and estimates the index; AEAD finishes here.
    pub(crate) fn unprotect_rtp_begin(
        &self,
        stream: &mut StreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Step, SrtpError> {
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
        // RFC 3711 §3.1: payload | MKI | tag; RFC 7714 §8.1: payload | tag | MKI.
        let mki_at = if aead { len - self.mki_len } else { len - trailer };
        let (slot, keys) = self.rx_slot(&buf[mki_at..mki_at + self.mki_len])?;
        if stream.srtp_packets[slot] >= keys.srtp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        let index = stream.estimate_srtp_index(header.seq)?;
        stream.srtp.check(index, self.window)?;

        let crypto = &keys.srtp;
        let payload_end = len - trailer;
        if let SessionCipher::AesGcm(gcm) = &crypto.cipher {
            let iv = gcm::srtp_iv(crypto.gcm_salt(), header.ssrc, index);
            let (aad, rest) = buf.split_at_mut(header.len);
            let (ciphertext, tag) = rest[..payload_end + GCM_TAG_LEN - header.len].split_at_mut(payload_end - header.len);
            if !gcm.open(&iv, (aad, &[]), ciphertext, tag) {
                return Err(SrtpError::AuthFailed);
            }
            stream.srtp.accept(index);
            stream.srtp_packets[slot] += 1;
            return Ok(Step::Done(payload_end));
        }
        Ok(Step::Auth(PendingAuth {
            slot,
            auth_len: payload_end,
            index,
            tag_at: len - tag_len,
            tag_len,
            payload_at: header.len,
            ssrc: header.ssrc,
            new_len: payload_end,
        }))
    }

    /// Verifies the tag against `mac`, then updates the stream and decrypts.
    pub(crate) fn unprotect_rtp_finish(
        &self,
        stream: &mut StreamState,
        p: &PendingAuth,
        buf: &mut [u8],
        mac: &[u8; HMAC_SHA1_LEN],
    ) -> Result<usize, SrtpError> {
        if !bool::from(mac[..p.tag_len].ct_eq(&buf[p.tag_at..p.tag_at + p.tag_len])) {
            return Err(SrtpError::AuthFailed);
        }
        // Checked again: an earlier packet of the same burst may have taken the
        // index, moved the window or used up the key.
        stream.srtp.check(p.index, self.window)?;
        if stream.srtp_packets[p.slot] >= self.keys[p.slot].srtp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }
        stream.srtp.accept(p.index);
        stream.srtp_packets[p.slot] += 1;
        let crypto = &self.keys[p.slot].srtp;
        if let SessionCipher::AesCm(aes) = &crypto.cipher {
            aes.apply_keystream(aes_cm_iv(&crypto.salt, p.ssrc, p.index), &mut buf[p.payload_at..p.new_len]);
        }
        Ok(p.new_len)
    }
}
