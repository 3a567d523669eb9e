//! Why a worker dropped a packet: one table, from which come the
//! [`DropReason`] enum and its counter order, the names the statistics and
//! the `mediafwd_dropped_packets_total{reason}` labels use, the per-flow
//! [`FlowDrop`] counters (the reasons marked `flow`, which happen after the
//! packet's flow was found) and the table in docs/operations.md.

use super::reasons::reasons;
use crate::slowpath::police::{Kind, Refused};
use crate::srtp::SrtpError;

/// Declares [`DropReason`] from rows `/// help` + `node|flow Variant =
/// "name",`, and [`FlowDrop`] from the rows marked `flow`, in the same order.
macro_rules! drop_reasons {
    ($( $(#[doc = $help:literal])+ $scope:ident $name:ident = $label:literal, )*) => {
        reasons! {
            /// Why a worker dropped a packet.
            pub enum DropReason {
                $( $(#[doc = $help])+ $name = $label, )*
            }
        }

        impl DropReason {
            /// The per-flow counter this reason also counts in, for drops
            /// that happen after the flow was found.
            pub const fn flow_drop(self) -> Option<FlowDrop> {
                match self {
                    $(Self::$name => drop_reasons!(@flow $scope $name),)*
                }
            }
        }

        drop_reasons!(@flows [] $($scope $name)*);
    };
    (@flow flow $name:ident) => { Some(FlowDrop::$name) };
    (@flow node $name:ident) => { None };
    // Collects the rows marked `flow`, in order.
    (@flows [$($f:ident)*] flow $name:ident $($rest:tt)*) => { drop_reasons!(@flows [$($f)* $name] $($rest)*); };
    (@flows [$($f:ident)*] node $name:ident $($rest:tt)*) => { drop_reasons!(@flows [$($f)*] $($rest)*); };
    (@flows [$($f:ident)*]) => {
        /// Drops counted per flow: the [`DropReason`]s that happen after the
        /// packet's flow was found.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum FlowDrop {
            $(
                #[doc = concat!("See [`DropReason::", stringify!($f), "`].")]
                $f,
            )*
        }

        impl FlowDrop {
            /// Number of per-flow drop counters.
            pub const COUNT: usize = [$(Self::$f),*].len();
            /// Every per-flow drop, in counter order.
            pub const ALL: [FlowDrop; Self::COUNT] = [$(Self::$f),*];

            /// The drop reason it counts.
            pub const fn reason(self) -> DropReason {
                match self {
                    $(Self::$f => DropReason::$f,)*
                }
            }

            /// The name used in statistics.
            pub const fn name(self) -> &'static str {
                self.reason().name()
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header.
    node Runt = "runt",
    /// Unicast to another MAC address.
    node NotForUs = "not_for_us",
    /// Neither IPv4, IPv6 nor ARP, or a stacked VLAN tag.
    node UnsupportedEtherType = "unsupported_ethertype",
    /// A VLAN tag (or its absence) that no interface on the port expects.
    flow WrongVlan = "wrong_vlan",
    /// Malformed IPv4 header (length, IHL, version, checksum).
    node BadIpv4 = "bad_ipv4",
    /// Malformed IPv6 header.
    node BadIpv6 = "bad_ipv6",
    /// IP fragment (RTP is never fragmented in practice; reassembly is not done).
    node Fragment = "fragment",
    /// Neither UDP nor ICMP/ICMPv6.
    node NotUdp = "not_udp",
    /// Malformed UDP header or zero-length payload.
    node BadUdp = "bad_udp",
    /// UDP to an address and port with no flow.
    node UnknownFlow = "unknown_flow",
    /// A payload that is neither RTP version 2 nor RTCP.
    flow BadRtp = "bad_rtp",
    /// From a source other than the strict remote.
    flow SourceMismatch = "source_mismatch",
    /// The other leg's remote is not known yet.
    flow NoRemote = "no_remote",
    /// The next hop's MAC is not resolved yet.
    flow NeighborUnresolved = "neighbor_unresolved",
    /// Not enough headroom to grow the headers (IPv4 to IPv6).
    flow NoHeadroom = "no_headroom",
    /// Chained (multi-segment) mbuf.
    node MultiSegment = "multi_segment",
    /// The port's TX queue stayed full.
    node TxFull = "tx_full",
    /// To be sent while the node does not hold its group's lease (a standby,
    /// or a node fenced after losing the lease): see `gate`.
    node Fenced = "fenced",
    /// For the slow path, whose ring was full.
    node SlowPathFull = "slow_path_full",
    /// For the slow path, which is not running.
    node NoSlowPath = "no_slow_path",
    /// For the slow path, from a source over its share of the worker's
    /// slow-path budget.
    node PolicedSource = "policed_source",
    /// ARP or ND to our MAC, over the worker's rate for them.
    node PolicedNeighbor = "policed_neighbor",
    /// Broadcast ARP, over the worker's rate for it.
    node PolicedArp = "policed_arp",
    /// Multicast Neighbor Solicitations and Advertisements, over the
    /// worker's rate for them.
    node PolicedNd = "policed_nd",
    /// Other ICMP and ICMPv6 (echo, errors), over the worker's rate for them.
    node PolicedIcmp = "policed_icmp",
    /// ICE checks (STUN) and DTLS to a relay port, over the worker's rate
    /// for them.
    node PolicedIceDtls = "policed_ice_dtls",
    /// SRTP/SRTCP authentication failed: corrupted, forged, or protected with
    /// other keys (RFC 3711 §3.3, §3.4).
    flow SrtpAuth = "srtp_auth",
    /// SRTP/SRTCP index already received, or (protecting) already sent.
    flow SrtpReplay = "srtp_replay",
    /// SRTP/SRTCP index behind the replay window.
    flow SrtpTooOld = "srtp_too_old",
    /// Too short for its SRTP trailer, or an RTP/RTCP header SRTP cannot use.
    flow SrtpMalformed = "srtp_malformed",
    /// An MKI that names none of the flow's master keys.
    flow SrtpUnknownMki = "srtp_unknown_mki",
    /// The master key's lifetime is used up.
    flow SrtpKeyLifetime = "srtp_key_lifetime",
    /// No tailroom in the buffer for the SRTP tag and MKI.
    flow SrtpNoTailroom = "srtp_no_tailroom",
    /// A new SSRC on a flow that already keeps state for as many SSRCs as it can.
    flow SrtpSsrcLimit = "srtp_ssrc_limit",
    /// A packet of an SRTP stream another worker holds (its sender's address
    /// moved, and RSS with it), while that worker hands the stream's state over.
    node SrtpMoving = "srtp_moving",
}

impl From<SrtpError> for DropReason {
    fn from(e: SrtpError) -> Self {
        match e {
            SrtpError::AuthFailed => Self::SrtpAuth,
            SrtpError::Replayed => Self::SrtpReplay,
            SrtpError::TooOld => Self::SrtpTooOld,
            SrtpError::TooShort | SrtpError::Malformed => Self::SrtpMalformed,
            SrtpError::UnknownMki => Self::SrtpUnknownMki,
            SrtpError::KeyLifetimeExceeded => Self::SrtpKeyLifetime,
            SrtpError::BufferTooSmall => Self::SrtpNoTailroom,
        }
    }
}

impl DropReason {
    /// The drop reason of a frame the slow-path policer refused.
    pub const fn policed(refused: Refused) -> DropReason {
        match refused {
            Refused::Source => Self::PolicedSource,
            Refused::Kind(Kind::Neighbor) => Self::PolicedNeighbor,
            Refused::Kind(Kind::ArpBroadcast) => Self::PolicedArp,
            Refused::Kind(Kind::NdMulticast) => Self::PolicedNd,
            Refused::Kind(Kind::Icmp) => Self::PolicedIcmp,
            Refused::Kind(Kind::IceDtls) => Self::PolicedIceDtls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_tables_are_consistent() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(r.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(r.help().ends_with('.'), "{}", r.help());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for (i, d) in FlowDrop::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i);
            assert_eq!(d.reason().flow_drop(), Some(*d));
        }
        let per_flow = DropReason::ALL.iter().filter_map(|r| r.flow_drop()).collect::<Vec<_>>();
        assert_eq!(per_flow, FlowDrop::ALL, "FlowDrop keeps DropReason's order");
        assert_eq!((DropReason::COUNT, FlowDrop::COUNT), (35, 14));
    }

    /// The drop-reason table of docs/operations.md, as the code defines it.
    fn docs_table() -> String {
        let mut t = String::from("| reason | per flow | what |\n|---|---|---|\n");
        for r in DropReason::ALL {
            let per_flow = if r.flow_drop().is_some() { "yes" } else { "" };
            t += &format!("| `{}` | {per_flow} | {} |\n", r.name(), r.help());
        }
        t
    }

    #[test]
    fn the_docs_list_every_drop_reason_as_the_code_does() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- drop reasons: begin -->\n", "<!-- drop reasons: end -->");
        let table = docs
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table)
            .unwrap_or_else(|| panic!("{path} has no table between {start:?} and {end:?}"));
        let want = docs_table();
        assert!(table == want, "{path}'s drop-reason table differs from the code's; replace it with:\n{want}");
    }
}
