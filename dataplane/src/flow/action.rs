use core::net::SocketAddr;

use crate::wire::ethernet::MacAddr;

/// Index of a flow's statistics slot, allocated by the control side.
pub type FlowId = u32;

/// How a flow learns its peer's address from the packets it receives
/// (symmetric RTP, for endpoints behind NAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchMode {
    /// Never: the configured remote is used as it is.
    #[default]
    Off,
    /// The first packet's source becomes the remote, once.
    Once,
    /// Every change of source moves the remote.
    Follow,
}

/// Whether a flow's packets are RTP or RTCP (RFC 3550); an RTP flow with
/// rtcp-mux (RFC 5761) also carries RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// RTP on the even port; `rtcp_mux`: RTCP arrives on the same port.
    Rtp {
        /// RTCP is multiplexed on this port (RFC 5761).
        rtcp_mux: bool,
    },
    /// RTCP on its own port (RTP + 1).
    Rtcp,
}

/// What a flow accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// The VLAN the packets must arrive on.
    pub vlan: Option<u16>,
    /// The remote endpoint we expect packets from, if known.
    pub remote: Option<SocketAddr>,
    /// Latching of the remote from the traffic.
    pub latch: LatchMode,
    /// Drop packets whose source is not the expected or latched remote.
    pub strict_source: bool,
}

/// Where and how a flow's packets leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Egress {
    /// DPDK port to send on.
    pub port_id: u16,
    /// VLAN tag to add.
    pub vlan: Option<u16>,
    /// Our MAC on that port.
    pub src_mac: MacAddr,
    /// Index of the next hop in the workers' neighbor table.
    pub next_hop: u32,
    /// Our local address and port the packets come from (the other leg's).
    pub src: SocketAddr,
    /// The other leg's remote endpoint; `None` until known (packets are
    /// dropped as "no remote").
    pub dst: Option<SocketAddr>,
}

/// The action for packets arriving at one [`FlowKey`](super::FlowKey).
/// A flow entry keeps it packed ([`super::PackedFlow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Statistics slot.
    pub id: FlowId,
    /// RTP clock rate for jitter (RFC 3550 A.8), e.g. 8000 for G.711.
    pub clock_rate: u32,
    /// RTP or RTCP.
    pub media: Media,
    /// What is accepted.
    pub ingress: Ingress,
    /// Where RTP (or, for an RTCP flow, RTCP) goes.
    pub egress: Egress,
    /// Where RTCP demultiplexed from an rtcp-mux RTP port goes (the peer's
    /// RTCP port, or its RTP port when the peer is rtcp-mux too).
    pub rtcp_egress: Option<Egress>,
    /// The flow (its id) whose egress destination is this flow's remote:
    /// when this flow latches a new source, that flow's packets follow it.
    pub reverse: Option<FlowId>,
}

impl Flow {
    /// An inert flow filling unused table slots.
    pub(crate) fn placeholder() -> Flow {
        let any = core::net::SocketAddr::from(([0, 0, 0, 0], 0));
        Flow {
            id: 0,
            clock_rate: 8000,
            media: Media::Rtcp,
            ingress: Ingress { vlan: None, remote: None, latch: LatchMode::Off, strict_source: false },
            egress: Egress { port_id: 0, vlan: None, src_mac: MacAddr::default(), next_hop: 0, src: any, dst: None },
            rtcp_egress: None,
            reverse: None,
        }
    }
}
