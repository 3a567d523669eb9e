//! The SRTP crypto suites mediafwd speaks, with their RFC 4568 names and lengths.

use core::fmt;

/// An SRTP crypto suite: cipher, authentication and their key, salt and tag lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag (RFC 4568 §6.2.1).
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit SRTP tag; SRTCP keeps the
    /// 80-bit tag (RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
    /// AES-192 counter mode, HMAC-SHA1 80-bit tag (RFC 6188 §3).
    Aes192CmHmacSha1_80,
    /// AES-192 counter mode, HMAC-SHA1 32-bit SRTP tag, 80-bit SRTCP tag (RFC 6188 §3).
    Aes192CmHmacSha1_32,
    /// AES-256 counter mode, HMAC-SHA1 80-bit tag (RFC 6188 §3).
    Aes256CmHmacSha1_80,
    /// AES-256 counter mode, HMAC-SHA1 32-bit SRTP tag, 80-bit SRTCP tag (RFC 6188 §3).
    Aes256CmHmacSha1_32,
    /// AES-128 GCM, 16-byte tag, 12-byte salt (RFC 7714 §12, §14.1).
    AeadAes128Gcm,
    /// AES-256 GCM, 16-byte tag, 12-byte salt (RFC 7714 §12, §14.1).
    AeadAes256Gcm,
    /// `AES_CM_128_HMAC_SHA1_80` with the `UNENCRYPTED_SRTP` session parameter
    /// (RFC 4568 §6.3.2): SRTP payloads stay in clear but are authenticated with
    /// HMAC-SHA1-80; SRTCP is still encrypted with AES-128-CM.
    NullHmacSha1_80,
}

/// How one direction (SRTP or SRTCP) of a suite transforms packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// AES counter mode (RFC 3711 §4.1.1) then HMAC-SHA1 (RFC 3711 §4.2.1).
    AesCmHmac,
    /// No encryption, HMAC-SHA1 (RFC 3711 §4.1.3 NULL cipher).
    NullHmac,
    /// AEAD AES-GCM (RFC 7714).
    AesGcm,
}

impl Suite {
    /// Every suite, in the order of preference mediafwd offers them.
    pub const ALL: [Suite; 9] = [
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::Aes256CmHmacSha1_80,
        Suite::Aes256CmHmacSha1_32,
        Suite::Aes192CmHmacSha1_80,
        Suite::Aes192CmHmacSha1_32,
        Suite::NullHmacSha1_80,
    ];

    /// The suite named `name` in an SDES `a=crypto` line (RFC 4568 §6.2, RFC 6188 §6,
    /// RFC 7714 §14.1). [`Suite::NullHmacSha1_80`] has no name of its own: it is
    /// `AES_CM_128_HMAC_SHA1_80` plus `UNENCRYPTED_SRTP` (see [`super::sdes`]).
    pub fn from_sdes_name(name: &str) -> Option<Suite> {
        Some(match name {
            "AES_CM_128_HMAC_SHA1_80" => Suite::AesCm128HmacSha1_80,
            "AES_CM_128_HMAC_SHA1_32" => Suite::AesCm128HmacSha1_32,
            "AES_192_CM_HMAC_SHA1_80" => Suite::Aes192CmHmacSha1_80,
            "AES_192_CM_HMAC_SHA1_32" => Suite::Aes192CmHmacSha1_32,
            "AES_256_CM_HMAC_SHA1_80" => Suite::Aes256CmHmacSha1_80,
            "AES_256_CM_HMAC_SHA1_32" => Suite::Aes256CmHmacSha1_32,
            "AEAD_AES_128_GCM" => Suite::AeadAes128Gcm,
            "AEAD_AES_256_GCM" => Suite::AeadAes256Gcm,
            _ => return None,
        })
    }

    /// The crypto-suite name written in an SDES `a=crypto` line. For
    /// [`Suite::NullHmacSha1_80`] this is `AES_CM_128_HMAC_SHA1_80`; the line also
    /// carries `UNENCRYPTED_SRTP`.
    pub fn sdes_name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::NullHmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Suite::Aes192CmHmacSha1_80 => "AES_192_CM_HMAC_SHA1_80",
            Suite::Aes192CmHmacSha1_32 => "AES_192_CM_HMAC_SHA1_32",
            Suite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            Suite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Suite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// Master (and session encryption) key length in bytes.
    pub fn master_key_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AesCm128HmacSha1_32 | Suite::AeadAes128Gcm | Suite::NullHmacSha1_80 => {
                16
            }
            Suite::Aes192CmHmacSha1_80 | Suite::Aes192CmHmacSha1_32 => 24,
            Suite::Aes256CmHmacSha1_80 | Suite::Aes256CmHmacSha1_32 | Suite::AeadAes256Gcm => 32,
        }
    }

    /// Master (and session) salt length in bytes: 14 for AES-CM (RFC 3711 §8.2),
    /// 12 for AES-GCM (RFC 7714 §12).
    pub fn master_salt_len(self) -> usize {
        if self.is_aead() {
            12
        } else {
            14
        }
    }

    /// Bytes of the SRTP authentication tag.
    pub fn srtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_32 | Suite::Aes192CmHmacSha1_32 | Suite::Aes256CmHmacSha1_32 => 4,
            Suite::AeadAes128Gcm | Suite::AeadAes256Gcm => 16,
            _ => 10,
        }
    }

    /// Bytes of the SRTCP authentication tag: 80 bits even for the `_32` suites
    /// (RFC 4568 §6.2.2, RFC 6188 §3), 16 bytes for GCM.
    pub fn srtcp_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            10
        }
    }

    /// Whether the suite is an AEAD (RFC 7714) rather than cipher + HMAC.
    pub fn is_aead(self) -> bool {
        matches!(self, Suite::AeadAes128Gcm | Suite::AeadAes256Gcm)
    }

    /// Whether SRTP payloads are encrypted (false only for [`Suite::NullHmacSha1_80`]).
    pub fn encrypts_srtp(self) -> bool {
        self != Suite::NullHmacSha1_80
    }

    pub(crate) fn srtp_transform(self) -> Transform {
        match self {
            Suite::NullHmacSha1_80 => Transform::NullHmac,
            s if s.is_aead() => Transform::AesGcm,
            _ => Transform::AesCmHmac,
        }
    }

    pub(crate) fn srtcp_transform(self) -> Transform {
        if self.is_aead() {
            Transform::AesGcm
        } else {
            Transform::AesCmHmac
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suite::NullHmacSha1_80 => f.write_str("NULL_HMAC_SHA1_80"),
            s => f.write_str(s.sdes_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for suite in Suite::ALL {
            let parsed = Suite::from_sdes_name(suite.sdes_name()).unwrap();
            if suite == Suite::NullHmacSha1_80 {
                assert_eq!(parsed, Suite::AesCm128HmacSha1_80);
            } else {
                assert_eq!(parsed, suite);
            }
        }
        assert_eq!(Suite::from_sdes_name("F8_128_HMAC_SHA1_80"), None);
    }

    #[test]
    fn short_tag_suites_keep_80_bit_srtcp_tag() {
        for suite in [Suite::AesCm128HmacSha1_32, Suite::Aes192CmHmacSha1_32, Suite::Aes256CmHmacSha1_32] {
            assert_eq!(suite.srtp_tag_len(), 4);
            assert_eq!(suite.srtcp_tag_len(), 10);
        }
    }
}
