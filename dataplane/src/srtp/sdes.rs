//! SDES: the SDP `a=crypto` attribute (RFC 4568) for SRTP, parsed and emitted.
//!
//! ```text
//! a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<mki>:<len>][;inline:...] [params]
//! ```
//!
//! Supported: up to [`MAX_MASTER_KEYS`] `inline:` keys, lifetimes as `2^n` or
//! decimal (applied to SRTP and SRTCP alike, capped at RFC 3711's 2^48 / 2^31), MKIs
//! of 1 to 4 bytes, and the session parameters `KDR=0` (the only key derivation
//! rate mediafwd runs), `UNENCRYPTED_SRTP` (with `AES_CM_128_HMAC_SHA1_80`, giving
//! [`Suite::NullHmacSha1_80`]), `WSH=n`, `FEC_ORDER=FEC_SRTP`, and any parameter
//! prefixed with `-` (ignorable by RFC 4568 §6.3.7). `UNENCRYPTED_SRTCP`,
//! `UNAUTHENTICATED_SRTP`, other KDRs and `FEC_KEY` are refused.

use core::fmt;
use core::str::FromStr;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};

use super::error::PolicyError;
use super::policy::{
    MasterKey, Mki, Policy, DEFAULT_SRTCP_LIFETIME, DEFAULT_SRTP_LIFETIME, DEFAULT_WINDOW_SIZE, MAX_MASTER_KEYS,
    MAX_WINDOW_SIZE, MIN_WINDOW_SIZE,
};
use super::suite::Suite;

/// Standard base64, padding optional on input (peers differ), written on output.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One `a=crypto` attribute (RFC 4568 §4, §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The attribute tag the answer echoes (1 to 9 digits).
    pub tag: u32,
    /// The suite; [`Suite::NullHmacSha1_80`] stands for
    /// `AES_CM_128_HMAC_SHA1_80 ... UNENCRYPTED_SRTP`.
    pub suite: Suite,
    /// The `inline:` master keys, in order, with their lifetimes and MKIs.
    pub keys: Vec<MasterKey>,
    /// The `WSH` session parameter: the replay window the sender asks for
    /// (RFC 4568 §6.3.6).
    pub window_size_hint: Option<u32>,
}

/// Why an `a=crypto` line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdesError {
    /// The line does not have the `a=crypto:<tag> <suite> <key-params>` shape.
    #[error("not an SDES crypto attribute: {0}")]
    Syntax(&'static str),
    /// A crypto suite mediafwd does not speak.
    #[error(
        "unsupported SRTP crypto suite {0}: offer AEAD_AES_128_GCM, AEAD_AES_256_GCM or an AES_*_CM_HMAC_SHA1_* suite"
    )]
    UnknownSuite(String),
    /// A key method other than `inline`.
    #[error("key method {0:?} unsupported: only inline: keys are")]
    KeyMethod(String),
    /// The key is not valid base64.
    #[error("inline key is not valid base64")]
    Base64,
    /// Key or salt of the wrong length for the suite, or a bad MKI value.
    #[error(transparent)]
    Key(#[from] PolicyError),
    /// A lifetime that is not `2^n` or a decimal number, or is zero.
    #[error("bad key lifetime {0:?}: write 2^n or a decimal packet count")]
    Lifetime(String),
    /// A malformed MKI, or one longer than mediafwd carries.
    #[error("bad MKI {0:?}: mediafwd supports MKIs of 1 to 4 bytes, written value:length")]
    Mki(String),
    /// More `inline:` keys than a context holds.
    #[error("{0} inline keys: at most {MAX_MASTER_KEYS} per crypto attribute are supported")]
    TooManyKeys(usize),
    /// A non-zero key derivation rate.
    #[error("KDR={0} asks for a new session key every 2^{0} packets; mediafwd derives session keys once per master key: offer KDR=0 or no KDR")]
    KeyDerivationRate(u32),
    /// `UNENCRYPTED_SRTP` with a suite other than `AES_CM_128_HMAC_SHA1_80`.
    #[error("UNENCRYPTED_SRTP is supported with AES_CM_128_HMAC_SHA1_80 only, not {0}")]
    UnencryptedSrtpSuite(Suite),
    /// `UNENCRYPTED_SRTCP`: refused, SRTCP is always encrypted.
    #[error("UNENCRYPTED_SRTCP refused: mediafwd always encrypts SRTCP")]
    UnencryptedSrtcp,
    /// `UNAUTHENTICATED_SRTP`: refused, SRTP is always authenticated.
    #[error("UNAUTHENTICATED_SRTP refused: mediafwd always authenticates SRTP (RFC 3711 §9.5)")]
    UnauthenticatedSrtp,
    /// `FEC_KEY` or an `FEC_ORDER` other than the default.
    #[error("FEC session parameter {0:?} unsupported")]
    Fec(String),
    /// A session parameter neither known nor marked ignorable with `-`.
    #[error("unknown SDES session parameter {0:?}")]
    UnknownParameter(String),
}

impl CryptoAttribute {
    /// Parses `a=crypto:...` (the `a=` is optional).
    pub fn parse(line: &str) -> Result<Self, SdesError> {
        let line = line.trim();
        let value = line.strip_prefix("a=").unwrap_or(line);
        let value = value.strip_prefix("crypto:").ok_or(SdesError::Syntax("expected a=crypto:"))?;
        let mut fields = value.split_ascii_whitespace();
        let tag = fields.next().ok_or(SdesError::Syntax("missing tag"))?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SdesError::Syntax("the tag is 1 to 9 digits"));
        }
        let tag = tag.parse().map_err(|_| SdesError::Syntax("the tag is 1 to 9 digits"))?;
        let suite_name = fields.next().ok_or(SdesError::Syntax("missing crypto suite"))?;
        let mut suite = Suite::from_sdes_name(suite_name).ok_or_else(|| SdesError::UnknownSuite(suite_name.into()))?;
        let key_params = fields.next().ok_or(SdesError::Syntax("missing key parameters"))?;

        let mut window_size_hint = None;
        for param in fields {
            match param.split_once('=') {
                _ if param.starts_with('-') => {}
                None if param == "UNENCRYPTED_SRTP" => {
                    if suite != Suite::AesCm128HmacSha1_80 {
                        return Err(SdesError::UnencryptedSrtpSuite(suite));
                    }
                    suite = Suite::NullHmacSha1_80;
                }
                None if param == "UNENCRYPTED_SRTCP" => return Err(SdesError::UnencryptedSrtcp),
                None if param == "UNAUTHENTICATED_SRTP" => return Err(SdesError::UnauthenticatedSrtp),
                Some(("KDR", n)) => {
                    let n: u32 = n.parse().map_err(|_| SdesError::Syntax("KDR=n with n a decimal number"))?;
                    if n != 0 {
                        return Err(SdesError::KeyDerivationRate(n));
                    }
                }
                Some(("WSH", n)) => {
                    window_size_hint = Some(n.parse().map_err(|_| SdesError::Syntax("WSH=n with n a decimal number"))?);
                }
                Some(("FEC_ORDER", "FEC_SRTP")) => {}
                Some(("FEC_ORDER" | "FEC_KEY", _)) => return Err(SdesError::Fec(param.into())),
                _ => return Err(SdesError::UnknownParameter(param.into())),
            }
        }

        let count = key_params.split(';').count();
        if count > MAX_MASTER_KEYS {
            return Err(SdesError::TooManyKeys(count));
        }
        let keys = key_params.split(';').map(|param| parse_key_param(suite, param)).collect::<Result<Vec<_>, _>>()?;
        Ok(CryptoAttribute { tag, suite, keys, window_size_hint })
    }

    /// The policy these keys describe: the first key protects, every key is
    /// accepted by MKI, the window is the `WSH` hint within the supported range.
    pub fn to_policy(&self) -> Policy {
        let window_size =
            self.window_size_hint.map_or(DEFAULT_WINDOW_SIZE, |w| w.clamp(MIN_WINDOW_SIZE, MAX_WINDOW_SIZE));
        Policy { suite: self.suite, master_keys: self.keys.clone(), tx_key: 0, window_size }
    }
}

/// `inline:<key||salt>[|lifetime][|mki:len]`
fn parse_key_param(suite: Suite, param: &str) -> Result<MasterKey, SdesError> {
    let (method, info) = param.split_once(':').ok_or(SdesError::Syntax("key parameter is inline:<key>"))?;
    if method != "inline" {
        return Err(SdesError::KeyMethod(method.into()));
    }
    let mut parts = info.split('|');
    let key_salt = BASE64.decode(parts.next().unwrap_or_default()).map_err(|_| SdesError::Base64)?;
    let mut key = MasterKey::from_key_salt(suite, &key_salt)?;
    let mut seen_mki = false;
    for part in parts {
        if seen_mki {
            return Err(SdesError::Syntax("nothing may follow the MKI"));
        }
        if let Some((value, len)) = part.split_once(':') {
            let (Ok(value), Ok(len)) = (value.parse::<u64>(), len.parse::<usize>()) else {
                return Err(SdesError::Mki(part.into()));
            };
            key.mki = Some(Mki::new(value, len).map_err(|_| SdesError::Mki(part.into()))?);
            seen_mki = true;
        } else {
            let lifetime = parse_lifetime(part)?;
            key.srtp_lifetime = lifetime.min(DEFAULT_SRTP_LIFETIME);
            key.srtcp_lifetime = lifetime.min(DEFAULT_SRTCP_LIFETIME);
        }
    }
    Ok(key)
}

fn parse_lifetime(s: &str) -> Result<u64, SdesError> {
    let bad = || SdesError::Lifetime(s.into());
    let value = match s.strip_prefix("2^") {
        Some(exp) => {
            let exp: u32 = exp.parse().map_err(|_| bad())?;
            1u64.checked_shl(exp).filter(|_| exp < 64).ok_or_else(bad)?
        }
        None => s.parse().map_err(|_| bad())?,
    };
    if value == 0 {
        return Err(bad());
    }
    Ok(value)
}

impl FromStr for CryptoAttribute {
    type Err = SdesError;

    fn from_str(s: &str) -> Result<Self, SdesError> {
        CryptoAttribute::parse(s)
    }
}

/// Writes the `a=crypto:...` line (no line ending).
impl fmt::Display for CryptoAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a=crypto:{} {} ", self.tag, self.suite.sdes_name())?;
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "inline:{}", BASE64.encode(key.key_salt()))?;
            // One lifetime covers SRTP and SRTCP: write the lower one that differs
            // from the default.
            let lifetime = if key.srtp_lifetime < DEFAULT_SRTP_LIFETIME {
                Some(key.srtp_lifetime)
            } else {
                (key.srtcp_lifetime < DEFAULT_SRTCP_LIFETIME).then_some(key.srtcp_lifetime)
            };
            if let Some(l) = lifetime {
                if l.is_power_of_two() {
                    write!(f, "|2^{}", l.trailing_zeros())?;
                } else {
                    write!(f, "|{l}")?;
                }
            }
            if let Some(mki) = key.mki {
                write!(f, "|{}:{}", mki.value(), mki.len())?;
            }
        }
        if self.suite == Suite::NullHmacSha1_80 {
            f.write_str(" UNENCRYPTED_SRTP")?;
        }
        if let Some(wsh) = self.window_size_hint {
            write!(f, " WSH={wsh}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_plain_line() {
        let a = CryptoAttribute::parse(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
        )
        .unwrap();
        assert_eq!(a.tag, 1);
        assert_eq!(a.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(a.keys.len(), 1);
        let k = &a.keys[0];
        assert_eq!(k.key_salt().len(), 30);
        assert_eq!((k.srtp_lifetime, k.srtcp_lifetime), (1 << 20, 1 << 20));
        assert_eq!(k.mki, Some(Mki::new(1, 4).unwrap()));
        assert_eq!(
            a.to_string(),
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
        );
    }

    #[test]
    fn session_parameters() {
        let key = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        let null =
            CryptoAttribute::parse(&format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 {key} UNENCRYPTED_SRTP KDR=0 -FOO"))
                .unwrap();
        assert_eq!(null.suite, Suite::NullHmacSha1_80);
        assert_eq!(null.to_string(), format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 {key} UNENCRYPTED_SRTP"));
        let err = |params: &str| {
            CryptoAttribute::parse(&format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 {key} {params}")).unwrap_err()
        };
        assert_eq!(err("KDR=10"), SdesError::KeyDerivationRate(10));
        assert_eq!(err("UNENCRYPTED_SRTCP"), SdesError::UnencryptedSrtcp);
        assert_eq!(err("UNAUTHENTICATED_SRTP"), SdesError::UnauthenticatedSrtp);
        assert_eq!(err("FEC_KEY=inline:abc"), SdesError::Fec("FEC_KEY=inline:abc".into()));
        assert_eq!(err("BOGUS"), SdesError::UnknownParameter("BOGUS".into()));
        assert!(CryptoAttribute::parse(&format!("a=crypto:2 AES_CM_128_HMAC_SHA1_32 {key} UNENCRYPTED_SRTP")).is_err());
        let wsh = CryptoAttribute::parse(&format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 {key} WSH=200")).unwrap();
        assert_eq!(wsh.to_policy().window_size, 200);
    }

    #[test]
    fn refusals() {
        let err = |line: &str| CryptoAttribute::parse(line).unwrap_err();
        assert!(matches!(
            err("a=crypto:1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"),
            SdesError::UnknownSuite(_)
        ));
        assert!(matches!(err("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywj"), SdesError::Key(_)));
        assert_eq!(err("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!"), SdesError::Base64);
        // RFC 4568's own example carries a 32-byte MKI: more than mediafwd carries.
        assert!(matches!(
            err("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"),
            SdesError::Mki(_)
        ));
        assert!(matches!(
            err("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^x"),
            SdesError::Lifetime(_)
        ));
        assert!(matches!(err("a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:sip:x"), SdesError::KeyMethod(_)));
        assert!(matches!(
            err("a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"),
            SdesError::Syntax(_)
        ));
        assert!(matches!(err("a=rtpmap:0 PCMU/8000"), SdesError::Syntax(_)));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        // 28 bytes of GCM-128 key and salt: 38 base64 characters without padding.
        let a = CryptoAttribute::parse("a=crypto:3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw")
            .unwrap();
        assert_eq!(a.keys[0].key_salt(), &(0u8..28).collect::<Vec<_>>()[..]);
        assert_eq!(a.to_string(), "a=crypto:3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==");
    }

    fn any_attribute() -> impl Strategy<Value = CryptoAttribute> {
        let suite = prop::sample::select(Suite::ALL.to_vec());
        let key = (
            proptest::collection::vec(any::<u8>(), 46),
            prop::option::of((0u64..=u64::from(u32::MAX), 1usize..=4)),
            prop::option::of(1u64..=1 << 48),
        );
        (1u32..=999_999_999, suite, proptest::collection::vec(key, 1..=MAX_MASTER_KEYS), prop::option::of(64u32..=256))
            .prop_map(|(tag, suite, keys, wsh)| {
                let mki_len = keys[0].1.map(|(_, l)| l);
                let keys = keys
                    .into_iter()
                    .enumerate()
                    .map(|(i, (material, mki, lifetime))| {
                        let len = suite.master_key_len() + suite.master_salt_len();
                        let mut k = MasterKey::from_key_salt(suite, &material[..len]).unwrap();
                        if let (Some(len), Some((value, _))) = (mki_len, mki) {
                            let value = (value + i as u64) & ((1u64 << (8 * len)) - 1);
                            k = k.with_mki(Mki::new(value, len).unwrap());
                        }
                        if let Some(l) = lifetime {
                            k = k.with_lifetimes(l, l.min(DEFAULT_SRTCP_LIFETIME));
                        }
                        k
                    })
                    .collect();
                CryptoAttribute { tag, suite, keys, window_size_hint: wsh }
            })
    }

    proptest! {
        /// Emit then parse gives the attribute back, and emitting it again gives
        /// the same line.
        #[test]
        fn round_trip(attr in any_attribute()) {
            let line = attr.to_string();
            let parsed = CryptoAttribute::parse(&line).unwrap();
            prop_assert_eq!(&parsed, &attr);
            prop_assert_eq!(parsed.to_string(), line);
        }

        /// The parser never panics, whatever the line.
        #[test]
        fn parse_never_panics(line in "a=crypto:[0-9]{1,3} [A-Z_0-9]{0,30} inline:[A-Za-z0-9+/=|:^;]{0,80}( [A-Z_=0-9-]{0,12}){0,3}") {
            let _ = CryptoAttribute::parse(&line);
        }
    }
}
