//! Slow-path policing on the worker, before the slow-path ring: what a
//! router's control-plane policer does. Every frame the classifier punts is
//! given a [`Kind`] and a source, and passes two token buckets: the
//! source's (a small hashed table, so one sender cannot use a kind's whole
//! budget) and then its kind's (so a flood of one kind cannot crowd out
//! another). What is refused is dropped on the worker, counted by
//! [`Refused`], and never costs the control core anything.
//!
//! Kinds keep the messages that keep calls running apart from the ones
//! anybody can send at any rate: ARP and ND addressed to our MAC (answers to
//! our probes, a router refreshing its entry for us) are [`Kind::Neighbor`];
//! broadcast ARP and multicast ND (what a spoofed flood is made of) are
//! [`Kind::ArpBroadcast`] and [`Kind::NdMulticast`]; every other ICMP and
//! ICMPv6 message is [`Kind::Icmp`]; UDP punted from a relay port (ICE
//! checks, DTLS records of WebRTC legs) is [`Kind::IceDtls`]. A new punted
//! protocol gets a kind of its own: a row in [`Kind::ALL`], in the classifier
//! (`classify`) and in the default rates.
//!
//! The classifier, which parses the frame anyway, decides the kind and the
//! source and hands them over as a [`Punt`]. Pure: a punt and a time in TSC
//! ticks in, a verdict out. The worker reads the TSC once per burst and
//! passes it to every frame.

/// What a punted frame is, for its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// ARP and Neighbor Discovery to our unicast MAC: answers to our
    /// probes, unicast refreshes of a neighbor's entry for us.
    Neighbor,
    /// ARP to the broadcast (or another group) address.
    ArpBroadcast,
    /// Neighbor Solicitations and Advertisements to a multicast address.
    NdMulticast,
    /// Every other ICMP and ICMPv6 message (echo, errors, router
    /// discovery), and anything else punted.
    Icmp,
    /// UDP to a relay port that is not media: ICE connectivity checks
    /// (STUN) and DTLS records of WebRTC legs.
    IceDtls,
}

impl Kind {
    /// Number of kinds.
    pub const COUNT: usize = 5;
    /// Every kind, in budget order.
    pub const ALL: [Kind; Self::COUNT] =
        [Kind::Neighbor, Kind::ArpBroadcast, Kind::NdMulticast, Kind::Icmp, Kind::IceDtls];

    /// The name used in statistics.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Neighbor => "neighbor",
            Kind::ArpBroadcast => "arp_broadcast",
            Kind::NdMulticast => "nd_multicast",
            Kind::Icmp => "icmp",
            Kind::IceDtls => "ice_dtls",
        }
    }
}

/// What the classifier hands the policer with a punted frame: its kind and
/// the address that names its sender (the ARP sender's IPv4 address, the IP
/// source address, or the source MAC of an ARP frame too short to name
/// one). Decided once, where the frame is parsed, so the policer never reads
/// the frame again and cannot see it otherwise than the classifier did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punt {
    /// The frame's budget.
    pub kind: Kind,
    source: [u8; 16],
    source_len: u8,
}

impl Punt {
    /// A punt of `kind` from `source` (at most 16 bytes are kept).
    #[inline]
    pub fn new(kind: Kind, source: &[u8]) -> Self {
        let n = source.len().min(16);
        let mut bytes = [0u8; 16];
        bytes[..n].copy_from_slice(&source[..n]);
        Punt { kind, source: bytes, source_len: n as u8 }
    }

    /// The bytes that name the sender.
    #[inline]
    pub fn source(&self) -> &[u8] {
        &self.source[..usize::from(self.source_len)]
    }
}

/// Why the policer refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its source sent more than its share.
    Source,
    /// Its kind is over its rate on this worker.
    Kind(Kind),
}

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Frames per second.
    pub per_second: u32,
    /// Frames at once.
    pub burst: u32,
}

/// A worker's budgets for punted frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoliceConfig {
    /// Per kind, in [`Kind::ALL`] order.
    pub kinds: [Rate; Kind::COUNT],
    /// Per source (each slot of the hashed source table).
    pub source: Rate,
    /// Slots of the source table: a power of two. Sources whose hashes
    /// meet share a slot.
    pub source_slots: usize,
}

impl Default for PoliceConfig {
    /// Per worker: neighbor answers 4000/s; broadcast ARP, multicast ND and
    /// ICMP 1000/s each; ICE checks and DTLS 4000/s; 100/s (bursts of 20)
    /// from one source. A few
    /// thousand frames a second is more than a relay's neighbors and
    /// monitoring ever need, and far less than the control core can serve.
    fn default() -> Self {
        let r = |per_second, burst| Rate { per_second, burst };
        PoliceConfig {
            kinds: [r(4000, 400), r(1000, 100), r(1000, 100), r(1000, 100), r(4000, 400)],
            source: r(100, 20),
            source_slots: 1024,
        }
    }
}

/// A token bucket in TSC ticks: tokens are kept multiplied by the tick
/// rate, so a refill is one multiply and no division.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    last: u64,
}

/// One rate's constants, in scaled tokens.
#[derive(Debug, Clone, Copy)]
struct Scale {
    per_tick: u64,
    cap: u64,
    cost: u64,
}

impl Scale {
    fn new(rate: Rate, hz: u64) -> Self {
        let hz = hz.max(1);
        Scale { per_tick: u64::from(rate.per_second), cap: u64::from(rate.burst).saturating_mul(hz), cost: hz }
    }
}

impl Bucket {
    fn full(s: &Scale, now: u64) -> Self {
        Bucket { tokens: s.cap, last: now }
    }

    /// Refills to `now` and says whether a token is there; time going
    /// backwards refills nothing.
    #[inline]
    fn has(&mut self, s: &Scale, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.tokens = self.tokens.saturating_add(elapsed.saturating_mul(s.per_tick)).min(s.cap);
        self.last = self.last.max(now);
        self.tokens >= s.cost
    }

    /// Takes a token at `now` if there is one.
    #[inline]
    fn take(&mut self, s: &Scale, now: u64) -> bool {
        let has = self.has(s, now);
        if has {
            self.tokens -= s.cost;
        }
        has
    }
}

/// A worker's policer: per-kind buckets and a hashed table of per-source
/// buckets.
#[derive(Debug, Clone)]
pub struct Police {
    kind_scale: [Scale; Kind::COUNT],
    kinds: [Bucket; Kind::COUNT],
    source_scale: Scale,
    sources: Vec<Bucket>,
    seed: u64,
}

impl Police {
    /// Full buckets at `now`, for a TSC of `hz` ticks a second. `seed`
    /// keys the source hash, so that an outsider cannot aim many sources
    /// at one slot.
    pub fn new(config: &PoliceConfig, hz: u64, now: u64, seed: u64) -> Self {
        let kind_scale = config.kinds.map(|r| Scale::new(r, hz));
        let source_scale = Scale::new(config.source, hz);
        let slots = config.source_slots.max(1).next_power_of_two();
        Police {
            kind_scale,
            kinds: kind_scale.map(|s| Bucket::full(&s, now)),
            source_scale,
            sources: vec![Bucket::full(&source_scale, now); slots],
            seed,
        }
    }

    /// Whether the punted frame the classifier described as `punt` may go
    /// to the slow path at `now` (TSC ticks). A frame admitted takes a token from its source's and its
    /// kind's bucket; a refused one takes none, so a source over its rate
    /// costs its kind nothing, and a flood from many (spoofed) sources,
    /// refused by its kind, does not drain the sources' buckets.
    #[inline]
    pub fn admit(&mut self, punt: &Punt, now: u64) -> Result<Kind, Refused> {
        let kind = punt.kind;
        let slot = (hash(punt.source(), self.seed) as usize) & (self.sources.len() - 1);
        let source = &mut self.sources[slot];
        if !source.has(&self.source_scale, now) {
            return Err(Refused::Source);
        }
        let k = kind as usize;
        if !self.kinds[k].take(&self.kind_scale[k], now) {
            return Err(Refused::Kind(kind));
        }
        source.tokens -= self.source_scale.cost;
        Ok(kind)
    }
}

/// FxHash-style mix of up to 16 bytes with `seed`.
#[inline]
fn hash(bytes: &[u8], seed: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = seed;
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify, Class, PortContext};
    use crate::slowpath::interface::Interface;
    use crate::slowpath::test_frames::Echo;
    use crate::slowpath::{arp, nd};
    use crate::wire::ethernet::MacAddr;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const HZ: u64 = 1_000_000_000;
    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);

    fn peer(n: u8, v4: &str) -> Interface {
        let mut i = Interface::new("peer", 0, None, MacAddr([0x02, 0, 0, 0, 1, n]));
        i.ipv4 = vec![v4.parse().unwrap()];
        i
    }

    fn arp_request(n: u8, sender: &str) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        let len = arp::request(&mut buf, &peer(n, sender), "198.18.0.1".parse().unwrap(), None).unwrap();
        buf.truncate(len);
        buf
    }

    fn echo(src: &str) -> Vec<u8> {
        let mut buf = vec![0u8; 128];
        let e = Echo::<Ipv4Addr> {
            src_mac: MacAddr([0x02, 0, 0, 0, 1, 1]),
            dst_mac: OURS,
            vlan: None,
            src: src.parse().unwrap(),
            dst: "198.18.0.1".parse().unwrap(),
        };
        let n = e.emit(&mut buf, b"ping");
        buf.truncate(n);
        buf
    }

    /// The punt the classifier makes of `frame` (received untagged on port 0).
    fn punt(frame: &[u8]) -> Punt {
        match classify(frame, 0, &PortContext::with_vlans(OURS, true, &[100]), None) {
            Class::SlowPath(p) => p,
            other => panic!("not punted: {other:?}"),
        }
    }

    #[test]
    fn the_classifier_names_kinds_and_sources() {
        let req = arp_request(1, "198.18.0.2/24");
        assert_eq!(punt(&req), Punt::new(Kind::ArpBroadcast, &[198, 18, 0, 2]));
        // The same request unicast to us, as a reply or a refresh is.
        let mut uni = req.clone();
        uni[..6].copy_from_slice(&OURS.0);
        assert_eq!(punt(&uni).kind, Kind::Neighbor);
        // Tagged.
        let mut buf = vec![0u8; 128];
        let mut tagged = peer(1, "198.18.0.2/24");
        tagged.vlan = Some(100);
        let n = arp::request(&mut buf, &tagged, "198.18.0.1".parse().unwrap(), None).unwrap();
        assert_eq!(punt(&buf[..n]), Punt::new(Kind::ArpBroadcast, &[198, 18, 0, 2]));
        assert_eq!(punt(&echo("198.18.0.9")), Punt::new(Kind::Icmp, &[198, 18, 0, 9]));
        // NS to the solicited-node group, NA unicast, echo over IPv6.
        let src = Interface::new("peer", 0, None, MacAddr([0x02, 0, 0, 0, 1, 1]));
        let n = nd::solicit(&mut buf, &src, "2001:db8::1".parse().unwrap(), None);
        assert_eq!(punt(&buf[..n]).kind, Kind::NdMulticast);
        buf[..6].copy_from_slice(&OURS.0);
        assert_eq!(punt(&buf[..n]).kind, Kind::Neighbor);
        let e6 = Echo::<Ipv6Addr> {
            src_mac: MacAddr([0x02, 0, 0, 0, 1, 1]),
            dst_mac: OURS,
            vlan: None,
            src: "2001:db8::9".parse().unwrap(),
            dst: "2001:db8::1".parse().unwrap(),
        };
        let n = e6.emit(&mut buf, b"ping");
        let ip: Ipv6Addr = "2001:db8::9".parse().unwrap();
        assert_eq!(punt(&buf[..n]), Punt::new(Kind::Icmp, &ip.octets()));
        // An ARP frame too short to name its sender is named by its source MAC.
        assert_eq!(punt(&req[..20]), Punt::new(Kind::ArpBroadcast, &req[6..12]));
    }

    #[test]
    fn one_kind_flooding_leaves_the_others_their_budget() {
        let mut p = Police::new(&PoliceConfig::default(), HZ, 0, 7);
        // 100,000 broadcast ARP requests from 100,000 sources within one millisecond.
        let mut admitted = 0;
        for i in 0..100_000u32 {
            let [_, a, b, c] = i.to_be_bytes();
            let f = arp_request(1, &format!("10.{a}.{b}.{c}/8"));
            admitted += p.admit(&punt(&f), i as u64 * 10).is_ok() as u32;
        }
        // The burst; the first token of the rate comes back at 1 ms.
        assert_eq!(admitted, 100);
        // Meanwhile a neighbor's answer and a ping still pass.
        let mut answer = arp_request(2, "198.18.0.254/24");
        answer[..6].copy_from_slice(&OURS.0);
        assert_eq!(p.admit(&punt(&answer), 999_995), Ok(Kind::Neighbor));
        assert_eq!(p.admit(&punt(&echo("198.18.0.9")), 999_995), Ok(Kind::Icmp));
        // ARP refused until a token comes back: one per millisecond at 1000/s.
        let other = arp_request(3, "198.18.0.77/24");
        assert_eq!(p.admit(&punt(&other), 999_995), Err(Refused::Kind(Kind::ArpBroadcast)));
        assert_eq!(p.admit(&punt(&other), 1_000_000), Ok(Kind::ArpBroadcast));
    }

    #[test]
    fn one_source_cannot_take_its_kind() {
        let mut p = Police::new(&PoliceConfig::default(), HZ, 0, 7);
        let loud = echo("198.18.0.66");
        let passed = (0..1000).filter(|_| p.admit(&punt(&loud), 0).is_ok()).count();
        assert_eq!(passed, 20);
        // Its refusals took nothing from the kind: others have the rest of the burst.
        let passed = (0..200u8).filter(|i| p.admit(&punt(&echo(&format!("198.18.1.{i}"))), 0).is_ok()).count();
        assert_eq!(passed, 80);
        // 100/s for the source: one every 10 ms.
        assert_eq!(p.admit(&punt(&loud), 9_999_999), Err(Refused::Source));
        assert!(p.admit(&punt(&loud), 20_000_000).is_ok());
    }

    #[test]
    fn a_second_of_a_flood_passes_the_rate() {
        let mut p = Police::new(&PoliceConfig::default(), HZ, 0, 1);
        // 300,000 pings a second for one second, each from another source.
        let sent = (0..300_000u32)
            .filter(|i| {
                let [_, a, b, c] = i.to_be_bytes();
                p.admit(&punt(&echo(&format!("10.{a}.{b}.{c}"))), *i as u64 * HZ / 300_000).is_ok()
            })
            .count();
        assert!((1000..=1100).contains(&sent), "{sent}");
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let cfg = PoliceConfig { kinds: [Rate { per_second: 1000, burst: 1 }; Kind::COUNT], ..PoliceConfig::default() };
        let mut p = Police::new(&cfg, HZ, 5_000_000, 1);
        let f = echo("198.18.0.9");
        assert!(p.admit(&punt(&f), 5_000_000).is_ok());
        assert!(p.admit(&punt(&f), 0).is_err());
        assert!(p.admit(&punt(&f), 5_999_999).is_err());
        assert!(p.admit(&punt(&f), 6_000_000).is_ok());
        // A zero rate refuses everything.
        let cfg = PoliceConfig { kinds: [Rate { per_second: 0, burst: 0 }; Kind::COUNT], ..PoliceConfig::default() };
        let mut p = Police::new(&cfg, HZ, 0, 1);
        assert_eq!(p.admit(&punt(&f), u64::MAX), Err(Refused::Kind(Kind::Icmp)));
    }

    proptest! {
        #[test]
        fn arbitrary_punts_never_panic(
            kind in 0..Kind::COUNT,
            source in proptest::collection::vec(any::<u8>(), 0..24),
            now in any::<u64>(),
        ) {
            let mut p = Police::new(&PoliceConfig { source_slots: 3, ..PoliceConfig::default() }, 3_000_000_000, 0, 9);
            let punt = Punt::new(Kind::ALL[kind], &source);
            prop_assert!(punt.source().len() <= 16 && punt.source() == &source[..source.len().min(16)]);
            let _ = p.admit(&punt, now);
        }

        #[test]
        fn every_punted_frame_is_named_by_at_most_16_bytes(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Class::SlowPath(p) = classify(&data, 0, &PortContext::new(OURS), None) {
                prop_assert!(!p.source().is_empty() && p.source().len() <= 16);
            }
        }
    }
}
