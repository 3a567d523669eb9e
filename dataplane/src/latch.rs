//! Latching (symmetric RTP): learning a leg's remote endpoint from the
//! source of the packets it sends us, for endpoints behind NAT.

use core::net::SocketAddr;

use crate::flow::{Ingress, LatchMode};

/// What the source of a received packet means for its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    /// Relay it.
    Accept,
    /// Relay it; the remote is now this address (report it).
    Latched(SocketAddr),
    /// Drop it: strict source and not from the remote.
    Reject,
}

/// The remote a flow currently believes in, in 24 bytes (a third of the
/// flow entry's hot cache line), as the numbers a packet's source is
/// compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchState {
    // A `RemoteBits` laid out flat, so that `latched` takes its padding.
    hi: u64,
    lo: u64,
    port: u16,
    family: u8,
    latched: bool,
}

/// A remote endpoint as numbers, compared with a packet's source without
/// making a `SocketAddr`: the address as [`FlowKey::addr_bits`](crate::flow::FlowKey::addr_bits)
/// in two halves, the port, and the family (an IPv6 sender may use an
/// IPv4-mapped address). The flow label and scope of an IPv6 remote are not
/// kept: a received packet's source has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteBits {
    hi: u64,
    lo: u64,
    port: u16,
    /// 0: none, 4: IPv4, 6: IPv6.
    family: u8,
}

impl RemoteBits {
    /// The numbers of `remote`.
    pub fn of(remote: Option<SocketAddr>) -> Self {
        match remote {
            None => RemoteBits::default(),
            Some(SocketAddr::V4(a)) => RemoteBits::v4(u32::from(*a.ip()), a.port()),
            Some(SocketAddr::V6(a)) => RemoteBits::v6(u128::from(*a.ip()), a.port()),
        }
    }

    /// An IPv4 endpoint (the address as a big-endian number).
    #[inline(always)]
    pub fn v4(addr: u32, port: u16) -> Self {
        let bits = crate::flow::FlowKey::v4_bits(addr);
        RemoteBits { hi: (bits >> 64) as u64, lo: bits as u64, port, family: 4 }
    }

    /// An IPv6 endpoint (the address as a big-endian number).
    #[inline(always)]
    pub fn v6(addr: u128, port: u16) -> Self {
        RemoteBits { hi: (addr >> 64) as u64, lo: addr as u64, port, family: 6 }
    }

    /// The endpoint, if any.
    pub fn addr(&self) -> Option<SocketAddr> {
        let bits = (self.hi as u128) << 64 | self.lo as u128;
        match self.family {
            4 => Some(SocketAddr::from((core::net::Ipv4Addr::from(bits as u32), self.port))),
            6 => Some(SocketAddr::from((core::net::Ipv6Addr::from(bits), self.port))),
            _ => None,
        }
    }
}

impl LatchState {
    /// The state for a new flow: the configured remote, nothing learned.
    pub fn new(ingress: &Ingress) -> Self {
        let mut s = LatchState { hi: 0, lo: 0, port: 0, family: 0, latched: false };
        s.set_remote(ingress.remote);
        s
    }

    /// The remote in force.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.bits().addr()
    }

    #[inline(always)]
    fn bits(&self) -> RemoteBits {
        RemoteBits { hi: self.hi, lo: self.lo, port: self.port, family: self.family }
    }

    /// The control side changed the flow; a new configured remote (an SDP
    /// answer, a re-INVITE) replaces the learned one and re-arms latching.
    pub fn on_update(&mut self, old: &Ingress, new: &Ingress) {
        // As numbers: a flow entry keeps no IPv6 flow label or scope.
        if RemoteBits::of(old.remote) != RemoteBits::of(new.remote) || old.latch != new.latch {
            self.set_remote(new.remote);
            self.latched = false;
        }
    }

    fn set_remote(&mut self, remote: Option<SocketAddr>) {
        let b = RemoteBits::of(remote);
        (self.hi, self.lo, self.port, self.family) = (b.hi, b.lo, b.port, b.family);
    }

    /// [`LatchState::check`] for the cases that change nothing: `Some(true)`
    /// accept, `Some(false)` reject; `None` when the source is to be latched
    /// (then [`LatchState::check`] decides). `src` as [`RemoteBits`].
    #[inline(always)]
    pub fn check_unchanged(&self, mode: LatchMode, strict_source: bool, src: &RemoteBits) -> Option<bool> {
        let matches = self.bits() == *src;
        match mode {
            LatchMode::Off => Some(!(strict_source && self.family != 0 && !matches)),
            LatchMode::Once if self.latched => Some(matches || !strict_source),
            LatchMode::Once => None,
            LatchMode::Follow => matches.then_some(true),
        }
    }

    /// Judges the source `src` of a received packet.
    #[inline]
    pub fn check(&mut self, ingress: &Ingress, src: SocketAddr) -> SourceVerdict {
        self.check_source(ingress.latch, ingress.strict_source, src)
    }

    /// [`LatchState::check`] with the ingress's latching mode and strict source.
    #[inline]
    pub fn check_source(&mut self, latch: LatchMode, strict_source: bool, src: SocketAddr) -> SourceVerdict {
        let matches = self.bits() == RemoteBits::of(Some(src));
        match latch {
            LatchMode::Off => {
                if strict_source && self.family != 0 && !matches {
                    SourceVerdict::Reject
                } else {
                    SourceVerdict::Accept
                }
            }
            LatchMode::Once if !self.latched => {
                self.latched = true;
                if matches {
                    SourceVerdict::Accept
                } else {
                    self.set_remote(Some(src));
                    SourceVerdict::Latched(src)
                }
            }
            LatchMode::Once => {
                if strict_source && !matches {
                    SourceVerdict::Reject
                } else {
                    SourceVerdict::Accept
                }
            }
            LatchMode::Follow => {
                if matches {
                    SourceVerdict::Accept
                } else {
                    self.set_remote(Some(src));
                    SourceVerdict::Latched(src)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(remote: Option<&str>, latch: LatchMode, strict: bool) -> Ingress {
        Ingress { vlan: None, remote: remote.map(|r| r.parse().unwrap()), latch, strict_source: strict }
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn off_accepts_anything_unless_strict() {
        let i = ingress(Some("198.18.0.2:4000"), LatchMode::Off, false);
        let mut s = LatchState::new(&i);
        assert_eq!(s.check(&i, a("198.18.0.9:1")), SourceVerdict::Accept);
        let strict = ingress(Some("198.18.0.2:4000"), LatchMode::Off, true);
        let mut s = LatchState::new(&strict);
        assert_eq!(s.check(&strict, a("198.18.0.9:1")), SourceVerdict::Reject);
        assert_eq!(s.check(&strict, a("198.18.0.2:4000")), SourceVerdict::Accept);
        // Strict with no known remote has nothing to compare with.
        let unknown = ingress(None, LatchMode::Off, true);
        let mut s = LatchState::new(&unknown);
        assert_eq!(s.check(&unknown, a("198.18.0.9:1")), SourceVerdict::Accept);
    }

    #[test]
    fn once_learns_the_first_source_then_holds() {
        let i = ingress(None, LatchMode::Once, true);
        let mut s = LatchState::new(&i);
        assert_eq!(s.check(&i, a("198.18.0.2:4000")), SourceVerdict::Latched(a("198.18.0.2:4000")));
        assert_eq!(s.remote(), Some(a("198.18.0.2:4000")));
        assert_eq!(s.check(&i, a("198.18.0.2:4000")), SourceVerdict::Accept);
        assert_eq!(s.check(&i, a("198.18.0.3:4000")), SourceVerdict::Reject);
        let loose = ingress(None, LatchMode::Once, false);
        let mut s = LatchState::new(&loose);
        s.check(&loose, a("198.18.0.2:4000"));
        assert_eq!(s.check(&loose, a("198.18.0.3:4000")), SourceVerdict::Accept);
        assert_eq!(s.remote(), Some(a("198.18.0.2:4000")));
    }

    #[test]
    fn once_with_the_expected_source_reports_nothing() {
        let i = ingress(Some("198.18.0.2:4000"), LatchMode::Once, false);
        let mut s = LatchState::new(&i);
        assert_eq!(s.check(&i, a("198.18.0.2:4000")), SourceVerdict::Accept);
    }

    #[test]
    fn follow_moves_with_every_change() {
        let i = ingress(Some("198.18.0.2:4000"), LatchMode::Follow, true);
        let mut s = LatchState::new(&i);
        assert_eq!(s.check(&i, a("198.18.0.2:4001")), SourceVerdict::Latched(a("198.18.0.2:4001")));
        assert_eq!(s.check(&i, a("198.18.0.2:4001")), SourceVerdict::Accept);
        assert_eq!(s.check(&i, a("[2001:db8::5]:9")), SourceVerdict::Latched(a("[2001:db8::5]:9")));
    }

    proptest::proptest! {
        /// Whenever the lean check decides, it decides as the full check,
        /// which then changes nothing.
        #[test]
        fn the_unchanged_check_agrees_with_the_full_one(
            remote in proptest::option::of(0usize..4),
            src in 0usize..4,
            mode in 0u8..3,
            strict: bool,
            warm in proptest::collection::vec(0usize..4, 0..3),
        ) {
            let addrs = ["198.18.0.2:4000", "198.18.0.2:4001", "[2001:db8::2]:4000", "[::ffff:198.18.0.2]:4000"].map(a);
            let latch = [LatchMode::Off, LatchMode::Once, LatchMode::Follow][mode as usize];
            let i = Ingress { vlan: None, remote: remote.map(|r| addrs[r]), latch, strict_source: strict };
            let mut s = LatchState::new(&i);
            for w in warm {
                s.check(&i, addrs[w]);
            }
            let before = s;
            if let Some(accept) = s.check_unchanged(i.latch, i.strict_source, &RemoteBits::of(Some(addrs[src]))) {
                let full = s.check(&i, addrs[src]);
                proptest::prop_assert_eq!(full, if accept { SourceVerdict::Accept } else { SourceVerdict::Reject });
                proptest::prop_assert_eq!(s, before);
            }
        }
    }

    #[test]
    fn a_new_configured_remote_rearms_latching() {
        let i = ingress(None, LatchMode::Once, true);
        let mut s = LatchState::new(&i);
        s.check(&i, a("198.18.0.2:4000"));
        let j = ingress(Some("198.18.0.7:5000"), LatchMode::Once, true);
        s.on_update(&i, &j);
        assert_eq!(s.remote(), Some(a("198.18.0.7:5000")));
        assert_eq!(s.check(&j, a("198.18.0.8:5000")), SourceVerdict::Latched(a("198.18.0.8:5000")));
    }
}
