//! A flow's action as its entry keeps it: the socket addresses as numbers
//! (20 bytes each instead of a `SocketAddr`'s 32), the reverse flow as its
//! id, and what the lean path already keeps ([`LeanFlow`]:
//! VLAN, clock rate, latching) left out. 144 bytes instead of [`Flow`]'s
//! 236, so that a flow entry is five cache lines. The full path reads the
//! action back as a [`Flow`].

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::table::LeanFlow;
use super::{Egress, Flow, FlowId, Ingress, Media};
use crate::wire::ethernet::MacAddr;

/// No reverse flow.
const NO_FLOW: FlowId = FlowId::MAX;

/// An optional socket address as numbers. The flow label and scope of an
/// IPv6 address are not kept: the relay neither matches nor sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Endpoint {
    addr: [u8; 16],
    port: u16,
    /// 0: none, 4: IPv4 (in the first four bytes), 6: IPv6.
    family: u8,
}

impl Endpoint {
    fn of(a: Option<SocketAddr>) -> Self {
        let mut addr = [0; 16];
        match a {
            None => Endpoint { addr, port: 0, family: 0 },
            Some(SocketAddr::V4(a)) => {
                addr[..4].copy_from_slice(&a.ip().octets());
                Endpoint { addr, port: a.port(), family: 4 }
            }
            Some(SocketAddr::V6(a)) => Endpoint { addr: a.ip().octets(), port: a.port(), family: 6 },
        }
    }

    fn get(&self) -> Option<SocketAddr> {
        match self.family {
            4 => {
                let [a, b, c, d, ..] = self.addr;
                Some(SocketAddr::from((Ipv4Addr::new(a, b, c, d), self.port)))
            }
            6 => Some(SocketAddr::from((Ipv6Addr::from(self.addr), self.port))),
            _ => None,
        }
    }
}

/// An [`Egress`] as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct PackedEgress {
    src: Endpoint,
    dst: Endpoint,
    port_id: u16,
    vlan: Option<u16>,
    src_mac: MacAddr,
    next_hop: u32,
}

impl PackedEgress {
    fn of(e: &Egress) -> Self {
        PackedEgress {
            src: Endpoint::of(Some(e.src)),
            dst: Endpoint::of(e.dst),
            port_id: e.port_id,
            vlan: e.vlan,
            src_mac: e.src_mac,
            next_hop: e.next_hop,
        }
    }

    fn get(&self) -> Egress {
        Egress {
            port_id: self.port_id,
            vlan: self.vlan,
            src_mac: self.src_mac,
            next_hop: self.next_hop,
            // Always set from a `SocketAddr`.
            src: self.src.get().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            dst: self.dst.get(),
        }
    }
}

/// What a flow entry keeps of a [`Flow`] beside its [`LeanFlow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct PackedFlow {
    egress: PackedEgress,
    rtcp_egress: Option<PackedEgress>,
    remote: Endpoint,
    id: FlowId,
    reverse: FlowId,
    media: Media,
}

impl PackedFlow {
    /// The part of `f` that [`LeanFlow`] does not hold.
    pub fn of(f: &Flow) -> Self {
        PackedFlow {
            egress: PackedEgress::of(&f.egress),
            rtcp_egress: f.rtcp_egress.as_ref().map(PackedEgress::of),
            remote: Endpoint::of(f.ingress.remote),
            id: f.id,
            reverse: f.reverse.unwrap_or(NO_FLOW),
            media: f.media,
        }
    }

    /// The flow, with the fields `lean` holds.
    pub fn get(&self, lean: &LeanFlow) -> Flow {
        Flow {
            id: self.id,
            clock_rate: lean.clock_rate,
            media: self.media,
            ingress: Ingress {
                vlan: lean.vlan,
                remote: self.remote.get(),
                latch: lean.latch,
                strict_source: lean.strict_source,
            },
            egress: self.egress.get(),
            rtcp_egress: self.rtcp_egress.as_ref().map(PackedEgress::get),
            reverse: (self.reverse != NO_FLOW).then_some(self.reverse),
        }
    }

    /// [`Flow::id`].
    #[inline(always)]
    pub fn id(&self) -> FlowId {
        self.id
    }

    /// [`Flow::media`].
    #[inline(always)]
    pub fn media(&self) -> Media {
        self.media
    }

    /// [`Flow::egress`].
    pub fn egress(&self) -> Egress {
        self.egress.get()
    }

    /// [`Flow::rtcp_egress`] if `is_rtcp` and there is one, else [`Flow::egress`].
    #[inline]
    pub fn egress_for(&self, is_rtcp: bool) -> Egress {
        match (is_rtcp, &self.rtcp_egress) {
            (true, Some(e)) => e.get(),
            _ => self.egress.get(),
        }
    }

    /// [`Ingress::remote`].
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::LatchMode;
    use proptest::prelude::*;

    fn lean(f: &Flow) -> LeanFlow {
        LeanFlow::of(f, false)
    }

    fn sock() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
            // IPv4-mapped IPv6 stays IPv6.
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::from((Ipv4Addr::from(a).to_ipv6_mapped(), p))),
        ]
    }

    fn egress() -> impl Strategy<Value = Egress> {
        (
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            any::<[u8; 6]>(),
            any::<u32>(),
            sock(),
            proptest::option::of(sock()),
        )
            .prop_map(|(port_id, vlan, mac, next_hop, src, dst)| Egress {
                port_id,
                vlan,
                src_mac: MacAddr(mac),
                next_hop,
                src,
                dst,
            })
    }

    proptest! {
        /// A flow packed and read back is the flow (its addresses carry no
        /// flow label or scope).
        #[test]
        fn a_packed_flow_reads_back_as_it_was(
            id in 0..FlowId::MAX,
            clock_rate: u32,
            media in prop_oneof![any::<bool>().prop_map(|rtcp_mux| Media::Rtp { rtcp_mux }), Just(Media::Rtcp)],
            vlan in proptest::option::of(any::<u16>()),
            remote in proptest::option::of(sock()),
            latch in proptest::sample::select(vec![LatchMode::Off, LatchMode::Once, LatchMode::Follow]),
            strict_source: bool,
            egress in egress(),
            rtcp_egress in proptest::option::of(egress()),
            reverse in proptest::option::of(0..FlowId::MAX),
        ) {
            let f = Flow {
                id,
                clock_rate,
                media,
                ingress: Ingress { vlan, remote, latch, strict_source },
                egress,
                rtcp_egress,
                reverse,
            };
            prop_assert_eq!(PackedFlow::of(&f).get(&lean(&f)), f);
        }
    }

    #[test]
    fn a_packed_flow_is_144_bytes() {
        // docs/performance.md's memory per session counts these bytes in the entry.
        assert_eq!(core::mem::size_of::<PackedFlow>(), 144);
    }
}
