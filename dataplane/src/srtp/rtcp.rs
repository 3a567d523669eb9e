//! SRTCP packet processing (RFC 3711 §3.4, RFC 7714 §9).
//!
//! SRTCP always encrypts on protect (E flag set); unprotect also accepts packets a
//! peer sent with the E flag clear, authenticated but in clear (RFC 3711 §3.4).

use super::context::{Context, SessionCipher};
use super::engine::{tag_matches, with_crypto, CtrOp, MacOp, GCM_TAG_LEN, MAC_LEN};
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

impl Context {
    /// Protects the compound RTCP packet `buf[..len]` in place (RFC 3711 §3.4):
    /// encrypts everything after the first 8 bytes, appends `E || SRTCP index`,
    /// the MKI and the tag (for GCM, RFC 7714 §9.1: tag, then index, then MKI), and
    /// returns the new length, `len + self.srtcp_overhead()`.
    pub fn protect_rtcp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
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

        let trailer = (E_FLAG | index).to_be_bytes();
        let mki = &keys.mki[..self.mki_len];
        let crypto = &keys.srtcp;
        with_crypto(|c| match &crypto.cipher {
            SessionCipher::AesGcm(key) => {
                // RFC 7714 §9.2: AAD = header || E || index.
                let mut aad = [0u8; RTCP_HEADER_LEN + TRAILER_LEN];
                aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                aad[RTCP_HEADER_LEN..].copy_from_slice(&trailer);
                let iv = gcm_srtcp_iv(crypto.salt, ssrc, index);
                let tag = c.gcm_seal(key, &iv, &aad, &mut buf[RTCP_HEADER_LEN..len]);
                let mut at = len;
                for part in [&tag[..], &trailer, mki] {
                    buf[at..at + part.len()].copy_from_slice(part);
                    at += part.len();
                }
            }
            cipher => {
                if let SessionCipher::AesCm(key) = cipher {
                    let iv = aes_cm_iv(crypto.salt, ssrc, u64::from(index));
                    c.ctr(&mut [Some(CtrOp { key, iv, data: &mut buf[RTCP_HEADER_LEN..len] })]);
                }
                buf[len..len + TRAILER_LEN].copy_from_slice(&trailer);
                let auth = crypto.auth.as_ref().expect("HMAC suites have an auth key");
                let mut op = [Some(MacOp { key: auth, msg: &buf[..len + TRAILER_LEN], mac: [0; MAC_LEN] })];
                c.mac(&mut op);
                let mac = op[0].as_ref().expect("one op").mac;
                let tag_at = len + TRAILER_LEN + mki.len();
                buf[len + TRAILER_LEN..tag_at].copy_from_slice(mki);
                buf[tag_at..new_len].copy_from_slice(&mac[..new_len - tag_at]);
            }
        });
        Ok(new_len)
    }

    /// Unprotects the SRTCP packet `buf[..len]` in place (RFC 3711 §3.4): selects
    /// the key by MKI, checks the index against the SRTCP replay window, verifies
    /// the tag, decrypts if the E flag is set, and returns the RTCP length.
    pub fn unprotect_rtcp(&self, stream: &mut StreamState, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len > buf.len() {
            return Err(SrtpError::BufferTooSmall);
        }
        let ssrc = rtcp_ssrc(&buf[..len])?;
        let tag_len = self.suite.srtcp_tag_len();
        if len < RTCP_HEADER_LEN + TRAILER_LEN + self.mki_len + tag_len {
            return Err(SrtpError::TooShort);
        }
        let aead = self.suite.is_aead();
        // RFC 3711 §3.4: payload | E+index | MKI | tag;
        // RFC 7714 §9.1: payload | tag | E+index | MKI.
        let mki_at = if aead { len - self.mki_len } else { len - self.mki_len - tag_len };
        let trailer_at = mki_at - TRAILER_LEN;
        let (slot, keys) = self.rx_slot(&buf[mki_at..mki_at + self.mki_len])?;
        let trailer: [u8; TRAILER_LEN] = buf[trailer_at..mki_at].try_into().expect("4 bytes");
        let word = u32::from_be_bytes(trailer);
        let encrypted = word & E_FLAG != 0;
        let index = word & MAX_INDEX;
        stream.srtcp.check(u64::from(index), self.window)?;
        if stream.srtcp_packets[slot] >= keys.srtcp_lifetime {
            return Err(SrtpError::KeyLifetimeExceeded);
        }

        let crypto = &keys.srtcp;
        let new_len = with_crypto(|c| match &crypto.cipher {
            SessionCipher::AesGcm(key) => {
                let tag_at = trailer_at - GCM_TAG_LEN;
                let iv = gcm_srtcp_iv(crypto.salt, ssrc, index);
                let opened = if encrypted {
                    let mut aad = [0u8; RTCP_HEADER_LEN + TRAILER_LEN];
                    aad[..RTCP_HEADER_LEN].copy_from_slice(&buf[..RTCP_HEADER_LEN]);
                    aad[RTCP_HEADER_LEN..].copy_from_slice(&trailer);
                    let (body, tag) = buf[RTCP_HEADER_LEN..trailer_at].split_at_mut(tag_at - RTCP_HEADER_LEN);
                    c.gcm_open(key, &iv, &aad, body, tag)
                } else {
                    // RFC 7714 §9.2: unencrypted SRTCP authenticates the whole
                    // packet and the trailer as AAD. The trailer is moved over
                    // the tag to make them one piece, and put back on failure.
                    let tag: [u8; GCM_TAG_LEN] = buf[tag_at..trailer_at].try_into().expect("16 bytes");
                    buf[tag_at..tag_at + TRAILER_LEN].copy_from_slice(&trailer);
                    let ok = c.gcm_open(key, &iv, &buf[..tag_at + TRAILER_LEN], &mut [], &tag);
                    if !ok {
                        buf[tag_at..trailer_at].copy_from_slice(&tag);
                    }
                    ok
                };
                if !opened {
                    return Err(SrtpError::AuthFailed);
                }
                Ok(tag_at)
            }
            cipher => {
                let auth = crypto.auth.as_ref().expect("HMAC suites have an auth key");
                let mut op = [Some(MacOp { key: auth, msg: &buf[..mki_at], mac: [0; MAC_LEN] })];
                c.mac(&mut op);
                let mac = op[0].as_ref().expect("one op").mac;
                if !tag_matches(&mac, &buf[len - tag_len..len]) {
                    return Err(SrtpError::AuthFailed);
                }
                if let (true, SessionCipher::AesCm(key)) = (encrypted, cipher) {
                    let iv = aes_cm_iv(crypto.salt, ssrc, u64::from(index));
                    c.ctr(&mut [Some(CtrOp { key, iv, data: &mut buf[RTCP_HEADER_LEN..trailer_at] })]);
                }
                Ok(trailer_at)
            }
        })?;
        stream.srtcp.accept(u64::from(index));
        stream.srtcp_packets[slot] += 1;
        Ok(new_len)
    }
}
