//! From the DTLS handshake to SRTP master keys (RFC 5764 §4.1.2, §4.2).

use mediafwd_dataplane::srtp::{MasterKey, PolicyError, Suite};

/// The protection profiles offered, most preferred first (the OpenSSL
/// names of RFC 5764 §4.1.2 and RFC 7714 §14.2).
pub const PROFILES: &str = "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";

/// The SRTP suite of a negotiated DTLS-SRTP protection profile.
pub fn suite_of_profile(name: &str) -> Option<Suite> {
    Some(match name {
        "SRTP_AES128_CM_SHA1_80" => Suite::AesCm128HmacSha1_80,
        "SRTP_AES128_CM_SHA1_32" => Suite::AesCm128HmacSha1_32,
        "SRTP_AEAD_AES_128_GCM" => Suite::AeadAes128Gcm,
        "SRTP_AEAD_AES_256_GCM" => Suite::AeadAes256Gcm,
        _ => return None,
    })
}

/// The keys of a leg after its handshake: what we send with and what the
/// peer sends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated suite.
    pub suite: Suite,
    /// The key and salt of our outbound SRTP and SRTCP.
    pub local: MasterKey,
    /// The key and salt of the peer's, for our inbound contexts.
    pub remote: MasterKey,
}

/// Splits the exported keying material of `suite`
/// (`client_key | server_key | client_salt | server_salt`, RFC 5764 §4.2)
/// into the leg's keys; `client` says whether we were the DTLS client.
pub fn split_keying_material(suite: Suite, material: &[u8], client: bool) -> Result<SrtpKeys, PolicyError> {
    let (k, s) = (suite.master_key_len(), suite.master_salt_len());
    let at = |i: usize, len: usize| material.get(i..i + len).unwrap_or(&[]);
    let client_key = MasterKey::new(suite, at(0, k), at(2 * k, s))?;
    let server_key = MasterKey::new(suite, at(k, k), at(2 * k + s, s))?;
    let (local, remote) = if client { (client_key, server_key) } else { (server_key, client_key) };
    Ok(SrtpKeys { suite, local, remote })
}

/// Bytes of keying material `suite` needs.
pub(crate) fn material_len(suite: Suite) -> usize {
    2 * (suite.master_key_len() + suite.master_salt_len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5764_layout() {
        // 16-byte keys and 14-byte salts, each byte its own index.
        let material: Vec<u8> = (0..60).collect();
        let k = split_keying_material(Suite::AesCm128HmacSha1_80, &material, true).unwrap();
        assert_eq!(k.local.key(), &material[0..16]);
        assert_eq!(k.remote.key(), &material[16..32]);
        assert_eq!(k.local.salt(), &material[32..46]);
        assert_eq!(k.remote.salt(), &material[46..60]);
        let s = split_keying_material(Suite::AesCm128HmacSha1_80, &material, false).unwrap();
        assert_eq!((s.local, s.remote), (k.remote, k.local));
        // GCM: 16-byte keys, 12-byte salts; AES-256 GCM: 32 and 12.
        let material: Vec<u8> = (0..88).collect();
        let g = split_keying_material(Suite::AeadAes256Gcm, &material, true).unwrap();
        assert_eq!(g.remote.key(), &material[32..64]);
        assert_eq!(g.remote.salt(), &material[76..88]);
        assert_eq!(material_len(Suite::AeadAes256Gcm), 88);
        assert_eq!(material_len(Suite::AeadAes128Gcm), 56);
        assert!(split_keying_material(Suite::AeadAes256Gcm, &material[..87], true).is_err());
    }

    #[test]
    fn every_offered_profile_has_a_suite() {
        for p in PROFILES.split(':') {
            assert!(suite_of_profile(p).is_some(), "{p}");
        }
        assert_eq!(suite_of_profile("SRTP_NULL_SHA1_80"), None);
    }
}
