//! SDES keying (RFC 4568) on the SRTP side of a relayed stream: mediafwd
//! terminates SRTP there. It takes the key an endpoint offers (what the
//! endpoint encrypts with) and answers with a key of its own (what mediafwd
//! encrypts with); towards an SRTP endpoint it has not heard from yet, it
//! offers its own keys, one per suite, and learns the endpoint's from the
//! answer.

use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::{MasterKey, Policy, Suite};

/// Suites offered when the other side brings none, in order of preference
/// (the two every SDES endpoint speaks first).
const DEFAULT_OFFER: [Suite; 4] =
    [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::AeadAes128Gcm, Suite::AeadAes256Gcm];

/// The `SDES` options of a request (from its `SDES` list, or `SDES-...` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesOptions {
    /// `off`: offer no SDES.
    pub off: bool,
    /// `nonew`: offer only the suites the other side offered.
    pub nonew: bool,
    /// `no-<suite>`: never offer these.
    pub no: Vec<Suite>,
    /// `only-<suite>`: offer these only.
    pub only: Vec<Suite>,
}

impl SdesOptions {
    /// Reads `SDES` list items and `SDES-...` flags; returns what it did not
    /// understand.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> (SdesOptions, Vec<String>) {
        let mut o = SdesOptions::default();
        let mut unknown = Vec::new();
        for item in items {
            let lower = item.to_ascii_lowercase();
            let suite = |prefix: &str| {
                item.get(prefix.len()..).and_then(Suite::from_sdes_name).filter(|_| lower.starts_with(prefix))
            };
            match lower.as_str() {
                "off" | "no" | "disable" => o.off = true,
                "nonew" => o.nonew = true,
                // Padding is always written; the others concern parameters mediafwd never offers.
                "pad" | "lifetime" | "static" | "encrypted_srtp" | "encrypted_srtcp" | "authenticated_srtp" => {}
                _ => match (suite("no-"), suite("only-")) {
                    (Some(s), _) => o.no.push(s),
                    (_, Some(s)) => o.only.push(s),
                    _ => unknown.push(format!("SDES-{item}")),
                },
            }
        }
        (o, unknown)
    }

    /// The suites to offer, given what the other side offered (first choice
    /// first): its suite leads, then mediafwd's defaults.
    pub fn suites(&self, theirs: Option<Suite>) -> Vec<Suite> {
        let mut out: Vec<Suite> = Vec::new();
        let candidates: Vec<Suite> = if self.nonew {
            theirs.into_iter().collect()
        } else if !self.only.is_empty() {
            theirs.into_iter().filter(|s| self.only.contains(s)).chain(self.only.iter().copied()).collect()
        } else {
            theirs.into_iter().chain(DEFAULT_OFFER).collect()
        };
        for s in candidates {
            if !out.contains(&s) && !self.no.contains(&s) && s != Suite::NullHmacSha1_80 {
                out.push(s);
            }
        }
        out
    }
}

/// Whether mediafwd can key a relay leg with this attribute: one master key
/// (the API carries one), and encryption (the API names suites without
/// `UNENCRYPTED_SRTP`).
fn usable(a: &CryptoAttribute) -> bool {
    a.keys.len() == 1 && a.suite != Suite::NullHmacSha1_80
}

/// The first offered `a=crypto` line mediafwd can use.
pub fn choose<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<CryptoAttribute> {
    lines.into_iter().filter_map(|l| CryptoAttribute::parse(l).ok()).find(usable)
}

/// A fresh random key for `suite`, written with `tag`.
pub fn generate(tag: u32, suite: Suite) -> CryptoAttribute {
    let mut material = [0u8; 46];
    let len = suite.master_key_len() + suite.master_salt_len();
    getrandom::getrandom(&mut material[..len]).expect("the operating system's random source");
    let key = MasterKey::from_key_salt(suite, &material[..len]).expect("lengths of the suite");
    CryptoAttribute { tag, suite, keys: vec![key], window_size_hint: None }
}

/// Our offer: one line per suite, tags from 1, keys reused from `keep` when
/// its suite is offered again (a re-offer does not rekey).
pub fn offer(suites: &[Suite], keep: Option<&CryptoAttribute>) -> Vec<CryptoAttribute> {
    suites
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let tag = i as u32 + 1;
            match keep {
                Some(k) if k.suite == s => CryptoAttribute { tag, ..k.clone() },
                _ => generate(tag, s),
            }
        })
        .collect()
}

/// In an answer to `ours`, the endpoint's accepted line: (its key, our key
/// of the same tag and suite).
pub fn accepted<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    ours: &[CryptoAttribute],
) -> Option<(CryptoAttribute, CryptoAttribute)> {
    lines.into_iter().filter_map(|l| CryptoAttribute::parse(l).ok()).filter(usable).find_map(|theirs| {
        ours.iter().find(|o| o.tag == theirs.tag && o.suite == theirs.suite).map(|o| (theirs.clone(), o.clone()))
    })
}

/// The SRTP policy of one direction keyed by `a` (its first key, with its
/// MKI and lifetime).
pub fn policy(a: &CryptoAttribute) -> Policy {
    Policy::new(a.suite, a.keys[0].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

    #[test]
    fn options() {
        let (o, unknown) = SdesOptions::parse(["no-AES_CM_128_HMAC_SHA1_32", "nonew", "pad", "bogus"]);
        assert_eq!(o.no, vec![Suite::AesCm128HmacSha1_32]);
        assert!(o.nonew && !o.off);
        assert_eq!(unknown, vec!["SDES-bogus".to_string()]);
        let plain = SdesOptions::default();
        assert_eq!(
            plain.suites(Some(Suite::Aes256CmHmacSha1_80))[..2],
            [Suite::Aes256CmHmacSha1_80, Suite::AesCm128HmacSha1_80]
        );
        assert_eq!(o.suites(Some(Suite::AesCm128HmacSha1_80)), vec![Suite::AesCm128HmacSha1_80]);
        assert_eq!(o.suites(Some(Suite::AesCm128HmacSha1_32)), vec![]);
        let (only, _) = SdesOptions::parse(["only-AEAD_AES_256_GCM"]);
        assert_eq!(only.suites(Some(Suite::AesCm128HmacSha1_80)), vec![Suite::AeadAes256Gcm]);
    }

    #[test]
    fn choose_skips_what_cannot_be_keyed() {
        let two_keys = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4;inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^20|2:4";
        let null =
            "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP";
        let odd = "a=crypto:3 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        assert_eq!(choose([two_keys, null, odd]), None);
        let c = choose([odd, LINE]).unwrap();
        assert_eq!((c.tag, c.suite), (1, Suite::AesCm128HmacSha1_80));
        let p = policy(&c);
        assert_eq!(p.suite, Suite::AesCm128HmacSha1_80);
        let k = &p.master_keys[0];
        assert_eq!((k.key().len(), k.salt().len()), (16, 14));
        assert_eq!((k.mki.map(|m| (m.value(), m.len())), k.srtp_lifetime), (Some((1, 4)), 1 << 20));
    }

    #[test]
    fn offers_and_answers() {
        let ours = offer(&[Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32], None);
        assert_eq!(ours.iter().map(|o| o.tag).collect::<Vec<_>>(), [1, 2]);
        assert_ne!(ours[0].keys[0].key_salt(), ours[1].keys[0].key_salt());
        // A re-offer keeps the key of the suite in use.
        let again = offer(&[Suite::AesCm128HmacSha1_32, Suite::AesCm128HmacSha1_80], Some(&ours[0]));
        assert_eq!(again[1].keys[0].key_salt(), ours[0].keys[0].key_salt());
        assert_eq!(again[1].tag, 2);
        // The answer picks tag 2.
        let answer = generate(2, Suite::AesCm128HmacSha1_32).to_string();
        let (theirs, mine) = accepted([answer.as_str()], &ours).unwrap();
        assert_eq!((theirs.tag, mine.tag, mine.suite), (2, 2, Suite::AesCm128HmacSha1_32));
        // A tag we did not offer, or a suite that does not match its tag, is not an answer.
        assert!(accepted([generate(3, Suite::AesCm128HmacSha1_80).to_string().as_str()], &ours).is_none());
        assert!(accepted([generate(1, Suite::AesCm128HmacSha1_32).to_string().as_str()], &ours).is_none());
    }
}
