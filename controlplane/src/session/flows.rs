//! From two legs to the dataplane flows: for each leg, the flow of what its
//! endpoint sends us (RTP, and RTCP unless multiplexed), relayed out of the
//! other leg.

use std::net::SocketAddr;

use mediafwd_dataplane::flow::{Egress, Flow, FlowId, FlowKey, Ingress, LatchMode, Media};
use mediafwd_dataplane::wire::ethernet::MacAddr;

/// Everything about one leg that its flows need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegPlan {
    /// DPDK port of the leg's interface.
    pub port_id: u16,
    /// The interface's VLAN.
    pub vlan: Option<u16>,
    /// Our MAC on the port.
    pub mac: MacAddr,
    /// Our local RTP address (RTCP: port + 1 unless multiplexed).
    pub local: SocketAddr,
    /// The endpoint's RTP address, when known.
    pub remote: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Latching of the remote.
    pub latch: LatchMode,
    /// Drop packets from other sources.
    pub strict_source: bool,
    /// Next-hop id towards the remote.
    pub next_hop: u32,
    /// Statistics slots: RTP flow, RTCP flow.
    pub flow_ids: (FlowId, FlowId),
    /// RTP clock rate for jitter.
    pub clock_rate: u32,
}

impl LegPlan {
    fn rtp_key(&self) -> FlowKey {
        FlowKey::new(self.port_id, self.local.ip(), self.local.port())
    }

    fn rtcp_local(&self) -> SocketAddr {
        if self.rtcp_mux {
            self.local
        } else {
            SocketAddr::new(self.local.ip(), self.local.port() + 1)
        }
    }

    fn rtcp_key(&self) -> FlowKey {
        let l = self.rtcp_local();
        FlowKey::new(self.port_id, l.ip(), l.port())
    }

    /// The flow that receives on [`LegPlan::rtcp_key`]: the RTP flow when multiplexed.
    fn rtcp_flow_id(&self) -> FlowId {
        if self.rtcp_mux {
            self.flow_ids.0
        } else {
            self.flow_ids.1
        }
    }

    fn remote_rtcp(&self) -> Option<SocketAddr> {
        self.remote.map(|r| if self.rtcp_mux { r } else { SocketAddr::new(r.ip(), r.port() + 1) })
    }

    /// Sending RTP to this leg's endpoint.
    fn rtp_egress(&self) -> Egress {
        Egress {
            port_id: self.port_id,
            vlan: self.vlan,
            src_mac: self.mac,
            next_hop: self.next_hop,
            src: self.local,
            dst: self.remote,
        }
    }

    /// Sending RTCP to this leg's endpoint.
    fn rtcp_egress(&self) -> Egress {
        Egress { src: self.rtcp_local(), dst: self.remote_rtcp(), ..self.rtp_egress() }
    }

    fn ingress(&self, remote: Option<SocketAddr>) -> Ingress {
        Ingress { vlan: self.vlan, remote, latch: self.latch, strict_source: self.strict_source }
    }
}

/// The flows of a session between legs `a` and `b`: 2 to 4 (key, flow)
/// pairs, one per port a leg receives on.
pub fn flows_for(a: &LegPlan, b: &LegPlan) -> Vec<(FlowKey, Flow)> {
    let mut out = Vec::with_capacity(4);
    for (from, to) in [(a, b), (b, a)] {
        out.push((
            from.rtp_key(),
            Flow {
                id: from.flow_ids.0,
                media: Media::Rtp { rtcp_mux: from.rtcp_mux },
                ingress: from.ingress(from.remote),
                egress: to.rtp_egress(),
                rtcp_egress: from.rtcp_mux.then(|| to.rtcp_egress()),
                reverse: Some(to.flow_ids.0),
                clock_rate: from.clock_rate,
            },
        ));
        if !from.rtcp_mux {
            out.push((
                from.rtcp_key(),
                Flow {
                    id: from.flow_ids.1,
                    media: Media::Rtcp,
                    ingress: from.ingress(from.remote_rtcp()),
                    egress: to.rtcp_egress(),
                    rtcp_egress: None,
                    reverse: Some(to.rtcp_flow_id()),
                    clock_rate: from.clock_rate,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(port: u16, local: &str, remote: Option<&str>, mux: bool, ids: (u32, u32)) -> LegPlan {
        LegPlan {
            port_id: port,
            vlan: None,
            mac: MacAddr([2, 0, 0, 0, 0, port as u8]),
            local: local.parse().unwrap(),
            remote: remote.map(|r| r.parse().unwrap()),
            rtcp_mux: mux,
            latch: LatchMode::Off,
            strict_source: false,
            next_hop: port as u32,
            flow_ids: ids,
            clock_rate: 8000,
        }
    }

    #[test]
    fn plain_legs_get_four_flows_crossing_over() {
        let a = leg(0, "198.18.0.1:30000", Some("198.18.0.2:5000"), false, (0, 1));
        let b = leg(1, "198.19.0.1:40000", Some("198.19.0.2:6000"), false, (2, 3));
        let f = flows_for(&a, &b);
        assert_eq!(f.len(), 4);
        let (k, rtp_a) = &f[0];
        assert_eq!(*k, FlowKey::new(0, "198.18.0.1".parse().unwrap(), 30000));
        assert_eq!(rtp_a.egress.dst, Some("198.19.0.2:6000".parse().unwrap()));
        assert_eq!(rtp_a.egress.src, "198.19.0.1:40000".parse().unwrap());
        let (k, rtcp_a) = &f[1];
        assert_eq!(k.udp_port(), 30001);
        assert_eq!(rtcp_a.media, Media::Rtcp);
        assert_eq!(rtcp_a.egress.src.port(), 40001);
        assert_eq!(rtcp_a.egress.dst, Some("198.19.0.2:6001".parse().unwrap()));
        assert_eq!(rtcp_a.reverse, Some(3), "B's RTCP flow");
        assert_eq!(rtcp_a.ingress.remote, Some("198.18.0.2:5001".parse().unwrap()));
    }

    #[test]
    fn a_mux_leg_relays_rtcp_to_a_plain_peer_rtcp_port() {
        let a = leg(0, "198.18.0.1:30000", Some("198.18.0.2:5000"), true, (0, 1));
        let b = leg(1, "198.19.0.1:40000", Some("198.19.0.2:6000"), false, (2, 3));
        let f = flows_for(&a, &b);
        assert_eq!(f.len(), 3);
        let rtp_a = &f[0].1;
        assert_eq!(rtp_a.media, Media::Rtp { rtcp_mux: true });
        let rtcp = rtp_a.rtcp_egress.unwrap();
        assert_eq!((rtcp.src.port(), rtcp.dst.unwrap().port()), (40001, 6001));
        // B's RTCP goes to A's RTP port, multiplexed.
        let rtcp_b = &f[2].1;
        assert_eq!(rtcp_b.egress.dst, Some("198.18.0.2:5000".parse().unwrap()));
        assert_eq!(rtcp_b.egress.src.port(), 30000);
        assert_eq!(rtcp_b.reverse, Some(0), "A's RTP flow, which takes its RTCP");
    }

    #[test]
    fn unknown_remote_leaves_the_destination_open() {
        let a = leg(0, "198.18.0.1:30000", None, false, (0, 1));
        let b = leg(1, "198.19.0.1:40000", Some("198.19.0.2:6000"), false, (2, 3));
        let f = flows_for(&a, &b);
        assert_eq!(f[2].1.egress.dst, None);
        assert_eq!(f[0].1.ingress.remote, None);
    }
}
