//! SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF and key derivation
//! rate 0: session keys are derived once per master key, with the portable
//! engine's AES whatever engine then uses them.

use super::engine::portable::AesKey;

/// Key derivation labels (RFC 3711 §4.3.1, §4.3.2).
pub(crate) const LABEL_SRTP_ENCRYPTION: u8 = 0x00;
pub(crate) const LABEL_SRTP_AUTH: u8 = 0x01;
pub(crate) const LABEL_SRTP_SALT: u8 = 0x02;
pub(crate) const LABEL_SRTCP_ENCRYPTION: u8 = 0x03;
pub(crate) const LABEL_SRTCP_AUTH: u8 = 0x04;
pub(crate) const LABEL_SRTCP_SALT: u8 = 0x05;

/// Session authentication key length for HMAC-SHA1 (RFC 3711 §8.2: 160 bits).
pub(crate) const AUTH_KEY_LEN: usize = 20;

/// The AES-CM PRF keyed with one master key (RFC 3711 §4.3.3, RFC 6188 §4 for
/// AES-192/256, RFC 7714 §11 for GCM's 96-bit master salt).
pub(crate) struct Kdf {
    prf: AesKey,
    /// The master salt as a 112-bit value; a 96-bit GCM salt is zero-padded on
    /// the right (RFC 7714 §11, as libsrtp does).
    salt: [u8; 14],
}

impl Kdf {
    /// A KDF for `master_key` (16, 24 or 32 bytes) and `master_salt` (12 or 14 bytes).
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Self {
        let mut salt = [0u8; 14];
        salt[..master_salt.len()].copy_from_slice(master_salt);
        Kdf { prf: AesKey::new(master_key), salt }
    }

    /// Fills `out` with the key for `label`: with KDR 0 the index term `r` is 0,
    /// so `x = (label * 2^48) XOR master_salt` and the output is the AES-CM
    /// keystream from counter `x * 2^16`.
    pub(crate) fn derive(&self, label: u8, out: &mut [u8]) {
        let mut x = [0u8; 16];
        x[..14].copy_from_slice(&self.salt);
        x[7] ^= label;
        out.fill(0);
        self.prf.apply_keystream(&x, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::tests::hex;

    fn check(master_key: &str, master_salt: &str, cipher_key: &str, salt: &str, auth: &str) {
        let kdf = Kdf::new(&hex(master_key), &hex(master_salt));
        let (cipher_key, salt, auth) = (hex(cipher_key), hex(salt), hex(auth));
        let mut out = vec![0u8; cipher_key.len()];
        kdf.derive(LABEL_SRTP_ENCRYPTION, &mut out);
        assert_eq!(out, cipher_key, "cipher key");
        let mut out = vec![0u8; salt.len()];
        kdf.derive(LABEL_SRTP_SALT, &mut out);
        assert_eq!(out, salt, "cipher salt");
        let mut out = vec![0u8; auth.len()];
        kdf.derive(LABEL_SRTP_AUTH, &mut out);
        assert_eq!(out, auth, "auth key");
    }

    /// RFC 3711 Appendix B.3, including the full 94-byte auth key output.
    #[test]
    fn rfc3711_b3_key_derivation() {
        check(
            "E1F97A0D3E018BE0D64FA32C06DE4139",
            "0EC675AD498AFEEBB6960B3AABE6",
            "C61E7A93744F39EE10734AFE3FF7A087",
            "30CBBC08863D8C85D49DB34A9AE1",
            "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2",
        );
    }

    /// RFC 6188 §7.2: AES_256_CM_PRF.
    #[test]
    fn rfc6188_aes256_key_derivation() {
        check(
            "f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6",
            "3b04803de51ee7c96423ab5b78d2",
            "5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4",
            "fa31791685ca444a9e07c6c64e93",
            "fd9c32d39ed5fbb5a9dc96b30818454d1313dc05",
        );
    }

    /// RFC 6188 §7.4: AES_192_CM_PRF.
    #[test]
    fn rfc6188_aes192_key_derivation() {
        check(
            "73edc66c4fa15776fb57f9505c17136550ffda71f3e8e5f1",
            "c8522f3acd4ce86d5add78edbb11",
            "31874736a8f1143870c26e4857d8a5b2c4a354407faadabb",
            "2372b82d639b6d8503a47adc0a6c",
            "355b10973cd95b9eacf4061c7e1a7151e7cfbfcb",
        );
    }
}
