//! Setting the calls up on the relay under test: through mediafwd's gRPC
//! API ([`mediafwd`]), rtpengine's ng protocol ([`rtpengine`]), or none at
//! all for a link that sends every frame back unchanged ([`loopback`]).

pub mod mediafwd;
pub mod rtpengine;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mediafwd_dataplane::srtp::Suite;

use crate::session::{EndpointPlan, Keys, Leg, Session};

/// What the generator plays, whoever relays it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sessions.
    pub sessions: u32,
    /// Where each leg's endpoints live (leg a, leg b).
    pub endpoints: [EndpointPlan; 2],
    /// The generator port of each leg.
    pub sides: [u8; 2],
    /// The SRTP suite of each leg (both directions), or plain RTP.
    pub srtp: [Option<Suite>; 2],
    /// Seed of the SRTP keys.
    pub seed: u64,
    /// A prefix for session ids (unique per run).
    pub id_prefix: String,
}

impl Plan {
    /// Session `s`'s id.
    pub fn id(&self, s: u32) -> String {
        format!("{}-{s}", self.id_prefix)
    }

    /// The keys of leg `leg` of session `s`: what its endpoint sends with,
    /// and what it receives with (distinct, so no relay passes SRTP through).
    pub fn keys(&self, s: u32, leg: usize) -> (Option<Keys>, Option<Keys>) {
        let Some(suite) = self.srtp[leg] else { return (None, None) };
        let seed = self.seed ^ (u64::from(s) << 8) ^ ((leg as u64) << 4);
        (Some(Keys::derive(suite, seed)), Some(Keys::derive(suite, seed ^ 1)))
    }

    /// Leg `leg` of session `s` with the relay's address for it.
    pub fn leg(&self, s: u32, leg: usize, relay: SocketAddr, vlan: Option<u16>) -> Leg {
        let (send_keys, recv_keys) = self.keys(s, leg);
        Leg { side: self.sides[leg], vlan, endpoint: self.endpoints[leg].endpoint(s), relay, send_keys, recv_keys }
    }
}

/// A link that returns every frame as it was sent (a cable, or
/// `dpdk-testpmd --forward-mode=io`): the "relay" addresses are made up, in
/// 198.18.0.0/15, and no packet is changed on the way.
pub mod loopback {
    use super::*;

    /// The sessions of `plan` on such a link. Nothing there decrypts or
    /// re-encrypts: a leg with SRTP sends with its keys, and the other leg
    /// receives with the same keys (the generator's own sealing and
    /// opening, measured without a relay).
    pub fn sessions(plan: &Plan) -> Vec<Session> {
        let relay = |leg: u8, s: u32| {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18 + leg, 0, 1)), 1024 + 2 * (s % 30_000) as u16)
        };
        (0..plan.sessions)
            .map(|s| {
                let mut legs = [plan.leg(s, 0, relay(0, s), None), plan.leg(s, 1, relay(1, s), None)];
                let sent = [legs[0].send_keys.take(), legs[1].send_keys.take()];
                for (j, keys) in sent.into_iter().enumerate() {
                    legs[1 - j].recv_keys = keys.clone();
                    legs[j].send_keys = keys;
                }
                Session { id: plan.id(s), legs }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            sessions: 3,
            endpoints: [
                EndpointPlan { base: Ipv4Addr::new(198, 18, 64, 0), hosts: 100, first_port: 20_000 },
                EndpointPlan { base: Ipv4Addr::new(198, 19, 64, 0), hosts: 100, first_port: 20_000 },
            ],
            sides: [0, 1],
            srtp: [None, Some(Suite::AesCm128HmacSha1_80)],
            seed: 1,
            id_prefix: "t".into(),
        }
    }

    #[test]
    fn keys_differ_per_leg_direction_and_session() {
        let p = plan();
        assert_eq!(p.keys(0, 0), (None, None));
        let (a, b) = p.keys(0, 1);
        let (c, _) = p.keys(1, 1);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(p.keys(0, 1), (a, b));
    }

    #[test]
    fn loopback_sessions_are_plain_and_valid() {
        let s = loopback::sessions(&Plan { srtp: [None, None], ..plan() });
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|s| s.legs.iter().all(|l| l.send_keys.is_none() && l.recv_keys.is_none())));
        crate::session::validate(&s, 2).unwrap();
        assert_eq!(s[2].id, "t-2");
    }

    #[test]
    fn loopback_srtp_comes_back_under_the_senders_keys() {
        let p = plan();
        let s = loopback::sessions(&p);
        crate::session::validate(&s, 2).unwrap();
        for (i, s) in s.iter().enumerate() {
            let (sent, _) = p.keys(i as u32, 1);
            assert!(sent.is_some());
            assert_eq!(s.legs[1].send_keys, sent);
            assert_eq!(s.legs[0].recv_keys, sent);
            assert_eq!((&s.legs[0].send_keys, &s.legs[1].recv_keys), (&None, &None));
        }
    }
}
