//! The calls the generator plays: for each session, two legs, each an
//! endpoint the generator impersonates on one of its ports and the relay's
//! address that endpoint sends to, with the SRTP keys of each direction.
//!
//! Sessions come from the relay's control API ([`crate::setup`]) or from a
//! JSON file in this format, and give the streams: a→b (the caller's media,
//! from leg 0's endpoint to leg 0's relay address, coming back from the
//! relay at leg 1's endpoint) and b→a.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{bail, Context as _};
use mediafwd_dataplane::srtp::{MasterKey, Policy, Suite};
use serde::{Deserialize, Serialize};

/// One relayed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The relay's name for it.
    pub id: String,
    /// Leg 0 (the caller, "a") and leg 1 (the callee, "b").
    pub legs: [Leg; 2],
}

/// One leg as the generator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    /// The generator's port the endpoint lives behind: 0 (side a) or 1 (side b).
    pub side: u8,
    /// The 802.1Q tag of the leg's frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The endpoint's RTP address (the generator plays it).
    pub endpoint: SocketAddr,
    /// The relay's RTP address for this leg: where the endpoint sends, and
    /// where the endpoint's media comes from.
    pub relay: SocketAddr,
    /// SRTP keys the endpoint protects its media with (the relay's inbound keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_keys: Option<Keys>,
    /// SRTP keys the relay protects the endpoint's media with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_keys: Option<Keys>,
}

/// One direction's SRTP keying (SDES).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    /// RFC 4568 suite name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// Master key, hex.
    pub key: String,
    /// Master salt, hex.
    pub salt: String,
}

impl Keys {
    /// Keys of `suite` drawn from `seed` (a benchmark needs distinct keys,
    /// not secret ones: the same seed gives the same keys).
    pub fn derive(suite: Suite, seed: u64) -> Keys {
        let mut state = seed;
        let mut bytes = |n: usize| -> String {
            let mut out = String::with_capacity(2 * n);
            while out.len() < 2 * n {
                for b in splitmix64(&mut state).to_le_bytes() {
                    if out.len() < 2 * n {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
            out
        };
        let key = bytes(suite.master_key_len());
        let salt = bytes(suite.master_salt_len());
        Keys { suite: suite.sdes_name().to_string(), key, salt }
    }

    /// The suite.
    pub fn suite(&self) -> anyhow::Result<Suite> {
        Suite::from_sdes_name(&self.suite).with_context(|| format!("unknown SRTP suite {:?}", self.suite))
    }

    /// The master key and salt.
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        let suite = self.suite()?;
        MasterKey::new(suite, &hex(&self.key)?, &hex(&self.salt)?).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The SRTP policy of these keys.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        Ok(Policy::new(self.suite()?, self.master_key()?))
    }
}

fn hex(s: &str) -> anyhow::Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("hex {s:?} has an odd length");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).with_context(|| format!("hex {s:?}")))
        .collect()
}

/// SplitMix64 (Steele, Lea, Flood 2014): a fast, well-mixed sequence.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where the generator's endpoints live on one side: `hosts` addresses
/// from `base`, then more sessions on further even ports of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointPlan {
    /// First address.
    pub base: Ipv4Addr,
    /// Addresses used.
    pub hosts: u32,
    /// First RTP port (even).
    pub first_port: u16,
}

impl EndpointPlan {
    /// The endpoint of session `s`.
    pub fn endpoint(&self, s: u32) -> SocketAddr {
        let host = u32::from(self.base) + s % self.hosts;
        let port = u32::from(self.first_port) + 2 * (s / self.hosts);
        assert!(port < 65_535, "session {s}: out of ports (use more hosts)");
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(host), port as u16))
    }
}

/// Which way media flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum Direction {
    /// Leg a's endpoint sends, leg b's receives.
    #[value(name = "a-b")]
    AToB,
    /// Leg b's endpoint sends, leg a's receives.
    #[value(name = "b-a")]
    BToA,
    /// Both: a call.
    #[value(name = "both")]
    Both,
}

/// One stream: session `session`'s media from leg `from` to the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRef {
    /// Index of the session.
    pub session: u32,
    /// The sending leg (0 or 1).
    pub from: usize,
}

impl StreamRef {
    /// The receiving leg.
    pub fn to(&self) -> usize {
        1 - self.from
    }
}

/// The streams of `sessions` sessions in `direction`, in sending order
/// (both directions of a session next to each other).
pub fn streams(sessions: u32, direction: Direction) -> Vec<StreamRef> {
    let froms: &[usize] = match direction {
        Direction::AToB => &[0],
        Direction::BToA => &[1],
        Direction::Both => &[0, 1],
    };
    (0..sessions).flat_map(|s| froms.iter().map(move |&from| StreamRef { session: s, from })).collect()
}

/// Checks what a file or an API gave: sides, families, distinct endpoints.
pub fn validate(sessions: &[Session], ports: usize) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in sessions {
        for (j, l) in s.legs.iter().enumerate() {
            if usize::from(l.side) >= ports.max(1) && !(ports == 1 && l.side == 1) {
                bail!("session {:?} leg {j}: side {} but the generator has {ports} port(s)", s.id, l.side);
            }
            if l.endpoint.is_ipv4() != l.relay.is_ipv4() {
                bail!("session {:?} leg {j}: endpoint {} and relay {} differ in family", s.id, l.endpoint, l.relay);
            }
            if !seen.insert((l.vlan, l.endpoint)) {
                bail!("session {:?} leg {j}: endpoint {} is used twice", s.id, l.endpoint);
            }
            for k in [&l.send_keys, &l.recv_keys].into_iter().flatten() {
                k.policy().with_context(|| format!("session {:?} leg {j}", s.id))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_spread_over_hosts_then_ports() {
        let p = EndpointPlan { base: Ipv4Addr::new(198, 18, 64, 0), hosts: 1000, first_port: 20_000 };
        assert_eq!(p.endpoint(0), "198.18.64.0:20000".parse().unwrap());
        assert_eq!(p.endpoint(999), "198.18.67.231:20000".parse().unwrap());
        assert_eq!(p.endpoint(1000), "198.18.64.0:20002".parse().unwrap());
    }

    #[test]
    fn stream_order() {
        let s = streams(2, Direction::Both);
        assert_eq!(s.len(), 4);
        assert_eq!((s[1].session, s[1].from, s[1].to()), (0, 1, 0));
        assert_eq!(streams(3, Direction::BToA).iter().map(|s| s.from).collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn derived_keys_are_distinct_valid_and_reproducible() {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm, Suite::Aes256CmHmacSha1_32] {
            let a = Keys::derive(suite, 1);
            assert_eq!(a, Keys::derive(suite, 1));
            assert_ne!(a.key, Keys::derive(suite, 2).key);
            let p = a.policy().unwrap();
            assert_eq!(p.suite, suite);
            assert_eq!(a.key.len(), 2 * suite.master_key_len());
        }
    }

    #[test]
    fn file_format_round_trips_and_validates() {
        let leg = |side, ep: &str, relay: &str| Leg {
            side,
            vlan: None,
            endpoint: ep.parse().unwrap(),
            relay: relay.parse().unwrap(),
            send_keys: None,
            recv_keys: None,
        };
        let mut s = Session {
            id: "c1".into(),
            legs: [leg(0, "198.18.64.1:20000", "198.18.0.1:30000"), leg(1, "198.19.64.1:20000", "198.19.0.1:30000")],
        };
        s.legs[1].recv_keys = Some(Keys::derive(Suite::AesCm128HmacSha1_80, 7));
        let json = serde_json::to_string(&[s.clone()]).unwrap();
        let back: Vec<Session> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [s.clone()]);
        validate(&back, 2).unwrap();
        let mut dup = s.clone();
        dup.legs[1].endpoint = dup.legs[0].endpoint;
        assert!(validate(&[dup], 2).is_err());
        let mut bad = s;
        bad.legs[0].send_keys =
            Some(Keys { suite: "AES_CM_128_HMAC_SHA1_80".into(), key: "00".into(), salt: "".into() });
        assert!(validate(&[bad], 2).is_err());
    }
}
