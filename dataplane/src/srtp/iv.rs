//! The initial counter blocks and IVs of SRTP's ciphers, from the session salt,
//! the SSRC and the packet index.

/// The AES-CM initial counter (RFC 3711 §4.1.1):
/// `IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`, with `i` the 48-bit SRTP
/// index or the 31-bit SRTCP index and `salt = k_s * 2^16` from the session salt.
pub(crate) fn aes_cm_iv(salt: u128, ssrc: u32, index: u64) -> [u8; 16] {
    (salt ^ (u128::from(ssrc) << 64) ^ (u128::from(index) << 16)).to_be_bytes()
}

/// The SRTP AEAD IV (RFC 7714 §8.1): `(00 00 || SSRC || ROC || SEQ) XOR salt`.
pub(crate) fn gcm_srtp_iv(salt: u128, ssrc: u32, index: u64) -> [u8; 12] {
    iv96(salt ^ (u128::from(ssrc) << 48) ^ u128::from(index & 0xffff_ffff_ffff))
}

/// The SRTCP AEAD IV (RFC 7714 §9.1):
/// `(00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt`.
pub(crate) fn gcm_srtcp_iv(salt: u128, ssrc: u32, index: u32) -> [u8; 12] {
    iv96(salt ^ (u128::from(ssrc) << 48) ^ u128::from(index & 0x7fff_ffff))
}

fn iv96(v: u128) -> [u8; 12] {
    v.to_be_bytes()[4..].try_into().expect("12 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::tests::hex;

    /// RFC 3711 Appendix B.2's IV for SSRC 0, index 0.
    #[test]
    fn rfc3711_b2_iv() {
        let salt = u128::from_be_bytes(hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap());
        assert_eq!(aes_cm_iv(salt, 0, 0)[..], hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")[..]);
    }

    /// RFC 7714 §16.1 / §17.1 IV formation.
    #[test]
    fn rfc7714_ivs() {
        let salt = u128::from_be_bytes(hex("00000000517569642070726f2071756f").try_into().unwrap());
        assert_eq!(gcm_srtp_iv(salt, 0x5501_a0b2, 0xf17b)[..], hex("51753c6580c2726f20718414")[..]);
        assert_eq!(gcm_srtcp_iv(salt, 0x4d61_7273, 0x5d4)[..], hex("517524055203726f207170bb")[..]);
    }
}
