//! The node's DTLS identity: an ECDSA P-256 key and a self-signed
//! certificate (RFC 8827 §6.5 expects no CA), and the certificate's SHA-256
//! fingerprint for `a=fingerprint` (RFC 8122 §5).

use core::fmt;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Builder, X509NameBuilder, X509Ref, X509};

use crate::DtlsError;

/// The SHA-256 fingerprint of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert`.
    pub fn of(cert: &X509Ref) -> Result<Self, DtlsError> {
        let d = cert.digest(MessageDigest::sha256())?;
        let mut f = [0u8; 32];
        f.copy_from_slice(&d);
        Ok(Fingerprint(f))
    }

    /// Parses the value of an `a=fingerprint` line: `sha-256 AB:CD:...`
    /// (the hash name in any case).
    pub fn parse_sdp(value: &str) -> Result<Self, DtlsError> {
        let bad = || DtlsError::BadFingerprint(value.to_string());
        let (hash, hex) = value.trim().split_once(' ').ok_or_else(bad)?;
        if !hash.eq_ignore_ascii_case("sha-256") {
            return Err(bad());
        }
        let mut f = [0u8; 32];
        let mut parts = hex.trim().split(':');
        for b in &mut f {
            let p = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Fingerprint(f))
    }
}

/// `sha-256 AB:CD:...`, the value of an `a=fingerprint` line.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha-256 ")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// A certificate and its private key.
#[derive(Clone)]
pub struct Identity {
    /// The certificate offered in every handshake.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &self.fingerprint.to_string()).finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh ECDSA P-256 key and a self-signed certificate for it, valid
    /// for 30 days from a day ago (clock skew), named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, DtlsError> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let since = Asn1Time::from_unix(now - 86_400)?;
        let until = Asn1Time::from_unix(now + 30 * 86_400)?;
        b.set_not_before(&since)?;
        b.set_not_after(&until)?;
        b.sign(&key, MessageDigest::sha256())?;
        Self::new(b.build(), key)
    }

    /// The identity of a configured certificate and key (PEM).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, DtlsError> {
        Self::new(X509::from_pem(cert)?, PKey::private_key_from_pem(key)?)
    }

    fn new(cert: X509, key: PKey<Private>) -> Result<Self, DtlsError> {
        let fingerprint = Fingerprint::of(&cert)?;
        Ok(Identity { cert, key, fingerprint })
    }

    /// The certificate's fingerprint, for our `a=fingerprint`.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_p256_with_its_fingerprint() {
        let id = Identity::generate("mediafwd").unwrap();
        let ec = id.key.ec_key().unwrap();
        assert_eq!(ec.group().curve_name(), Some(Nid::X9_62_PRIME256V1));
        assert!(id.cert.verify(&id.key).unwrap(), "self-signed");
        let s = id.fingerprint().to_string();
        assert!(s.starts_with("sha-256 ") && s.len() == 8 + 32 * 3 - 1, "{s}");
        assert_eq!(Fingerprint::parse_sdp(&s).unwrap(), id.fingerprint());
        assert_eq!(Fingerprint::parse_sdp(&s.to_lowercase().replace("sha-256", "SHA-256")).unwrap(), id.fingerprint());
        // A second node has another key.
        assert_ne!(Identity::generate("mediafwd").unwrap().fingerprint(), id.fingerprint());
        // The PEM round trip keeps the fingerprint.
        let pem = (id.cert.to_pem().unwrap(), id.key.private_key_to_pem_pkcs8().unwrap());
        assert_eq!(Identity::from_pem(&pem.0, &pem.1).unwrap().fingerprint(), id.fingerprint());
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        let good = Identity::generate("x").unwrap().fingerprint().to_string();
        for bad in [
            "",
            "sha-1 AB:CD",
            &good.replace("sha-256", "sha-512"),
            &good[..good.len() - 3],
            &format!("{good}:00"),
            &good.replacen(':', "-", 1),
            &good.replace("sha-256 ", "sha-256 ZZ:")[..good.len()],
        ] {
            assert!(Fingerprint::parse_sdp(bad).is_err(), "{bad:?}");
        }
    }
}
