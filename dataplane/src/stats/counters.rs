//! Worker and flow counters: written by one worker, read by the control side
//! at any time. Each worker's counters sit in their own cache lines; the
//! worker publishes with plain relaxed stores (it is the only writer, so no
//! read-modify-write is needed).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::rtp::RtpStream;
use crate::srtp::SrtpError;

/// Why a worker dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Runt,
    /// Unicast to another MAC address.
    NotForUs,
    /// Neither IPv4, IPv6 nor ARP, or a stacked VLAN tag.
    UnsupportedEtherType,
    /// A VLAN tag (or its absence) that no interface on the port expects.
    WrongVlan,
    /// Malformed IPv4 header (length, IHL, version, checksum).
    BadIpv4,
    /// Malformed IPv6 header.
    BadIpv6,
    /// IP fragment (RTP is never fragmented in practice; reassembly is not done).
    Fragment,
    /// Neither UDP nor ICMP/ICMPv6.
    NotUdp,
    /// Malformed UDP header or zero-length payload.
    BadUdp,
    /// UDP to an address and port with no flow.
    UnknownFlow,
    /// A payload that is neither RTP version 2 nor RTCP.
    BadRtp,
    /// From a source other than the strict remote.
    SourceMismatch,
    /// The other leg's remote is not known yet.
    NoRemote,
    /// The next hop's MAC is not resolved yet.
    NeighborUnresolved,
    /// Not enough headroom to grow the headers (IPv4 to IPv6).
    NoHeadroom,
    /// Chained (multi-segment) mbuf.
    MultiSegment,
    /// The port's TX queue stayed full.
    TxFull,
    /// For the slow path, whose ring was full.
    SlowPathFull,
    /// For the slow path, which is not running.
    NoSlowPath,
    /// SRTP/SRTCP authentication failed: corrupted, forged, or protected with
    /// other keys (RFC 3711 §3.3, §3.4).
    SrtpAuth,
    /// SRTP/SRTCP index already received, or (protecting) already sent.
    SrtpReplay,
    /// SRTP/SRTCP index behind the replay window.
    SrtpTooOld,
    /// Too short for its SRTP trailer, or an RTP/RTCP header SRTP cannot use.
    SrtpMalformed,
    /// An MKI that names none of the flow's master keys.
    SrtpUnknownMki,
    /// The master key's lifetime is used up.
    SrtpKeyLifetime,
    /// No tailroom in the buffer for the SRTP tag and MKI.
    SrtpNoTailroom,
    /// A new SSRC on a flow that already keeps state for as many SSRCs as it can.
    SrtpSsrcLimit,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 27;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::Runt,
        Self::NotForUs,
        Self::UnsupportedEtherType,
        Self::WrongVlan,
        Self::BadIpv4,
        Self::BadIpv6,
        Self::Fragment,
        Self::NotUdp,
        Self::BadUdp,
        Self::UnknownFlow,
        Self::BadRtp,
        Self::SourceMismatch,
        Self::NoRemote,
        Self::NeighborUnresolved,
        Self::NoHeadroom,
        Self::MultiSegment,
        Self::TxFull,
        Self::SlowPathFull,
        Self::NoSlowPath,
        Self::SrtpAuth,
        Self::SrtpReplay,
        Self::SrtpTooOld,
        Self::SrtpMalformed,
        Self::SrtpUnknownMki,
        Self::SrtpKeyLifetime,
        Self::SrtpNoTailroom,
        Self::SrtpSsrcLimit,
    ];

    /// The name used in statistics and metrics labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::NotForUs => "not_for_us",
            Self::UnsupportedEtherType => "unsupported_ethertype",
            Self::WrongVlan => "wrong_vlan",
            Self::BadIpv4 => "bad_ipv4",
            Self::BadIpv6 => "bad_ipv6",
            Self::Fragment => "fragment",
            Self::NotUdp => "not_udp",
            Self::BadUdp => "bad_udp",
            Self::UnknownFlow => "unknown_flow",
            Self::BadRtp => "bad_rtp",
            Self::SourceMismatch => "source_mismatch",
            Self::NoRemote => "no_remote",
            Self::NeighborUnresolved => "neighbor_unresolved",
            Self::NoHeadroom => "no_headroom",
            Self::MultiSegment => "multi_segment",
            Self::TxFull => "tx_full",
            Self::SlowPathFull => "slow_path_full",
            Self::NoSlowPath => "no_slow_path",
            Self::SrtpAuth => "srtp_auth",
            Self::SrtpReplay => "srtp_replay",
            Self::SrtpTooOld => "srtp_too_old",
            Self::SrtpMalformed => "srtp_malformed",
            Self::SrtpUnknownMki => "srtp_unknown_mki",
            Self::SrtpKeyLifetime => "srtp_key_lifetime",
            Self::SrtpNoTailroom => "srtp_no_tailroom",
            Self::SrtpSsrcLimit => "srtp_ssrc_limit",
        }
    }

    /// The per-flow counter this reason also counts in, for drops that
    /// happen after the flow was found.
    pub const fn flow_drop(self) -> Option<FlowDrop> {
        match self {
            Self::BadRtp => Some(FlowDrop::BadRtp),
            Self::WrongVlan => Some(FlowDrop::WrongVlan),
            Self::SourceMismatch => Some(FlowDrop::SourceMismatch),
            Self::NoRemote => Some(FlowDrop::NoRemote),
            Self::NeighborUnresolved => Some(FlowDrop::NeighborUnresolved),
            Self::NoHeadroom => Some(FlowDrop::NoHeadroom),
            Self::SrtpAuth => Some(FlowDrop::SrtpAuth),
            Self::SrtpReplay => Some(FlowDrop::SrtpReplay),
            Self::SrtpTooOld => Some(FlowDrop::SrtpTooOld),
            Self::SrtpMalformed => Some(FlowDrop::SrtpMalformed),
            Self::SrtpUnknownMki => Some(FlowDrop::SrtpUnknownMki),
            Self::SrtpKeyLifetime => Some(FlowDrop::SrtpKeyLifetime),
            Self::SrtpNoTailroom => Some(FlowDrop::SrtpNoTailroom),
            Self::SrtpSsrcLimit => Some(FlowDrop::SrtpSsrcLimit),
            _ => None,
        }
    }
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

/// Drops counted per flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FlowDrop {
    /// See [`DropReason::BadRtp`].
    BadRtp,
    /// See [`DropReason::WrongVlan`].
    WrongVlan,
    /// See [`DropReason::SourceMismatch`].
    SourceMismatch,
    /// See [`DropReason::NoRemote`].
    NoRemote,
    /// See [`DropReason::NeighborUnresolved`].
    NeighborUnresolved,
    /// See [`DropReason::NoHeadroom`].
    NoHeadroom,
    /// See [`DropReason::SrtpAuth`].
    SrtpAuth,
    /// See [`DropReason::SrtpReplay`].
    SrtpReplay,
    /// See [`DropReason::SrtpTooOld`].
    SrtpTooOld,
    /// See [`DropReason::SrtpMalformed`].
    SrtpMalformed,
    /// See [`DropReason::SrtpUnknownMki`].
    SrtpUnknownMki,
    /// See [`DropReason::SrtpKeyLifetime`].
    SrtpKeyLifetime,
    /// See [`DropReason::SrtpNoTailroom`].
    SrtpNoTailroom,
    /// See [`DropReason::SrtpSsrcLimit`].
    SrtpSsrcLimit,
}

impl FlowDrop {
    /// Number of per-flow drop counters.
    pub const COUNT: usize = 14;
    /// Every per-flow drop, in counter order.
    pub const ALL: [FlowDrop; Self::COUNT] = [
        Self::BadRtp,
        Self::WrongVlan,
        Self::SourceMismatch,
        Self::NoRemote,
        Self::NeighborUnresolved,
        Self::NoHeadroom,
        Self::SrtpAuth,
        Self::SrtpReplay,
        Self::SrtpTooOld,
        Self::SrtpMalformed,
        Self::SrtpUnknownMki,
        Self::SrtpKeyLifetime,
        Self::SrtpNoTailroom,
        Self::SrtpSsrcLimit,
    ];

    /// The name used in statistics.
    pub const fn name(self) -> &'static str {
        DropReason::from_flow_drop(self).name()
    }
}

impl DropReason {
    const fn from_flow_drop(d: FlowDrop) -> DropReason {
        match d {
            FlowDrop::BadRtp => Self::BadRtp,
            FlowDrop::WrongVlan => Self::WrongVlan,
            FlowDrop::SourceMismatch => Self::SourceMismatch,
            FlowDrop::NoRemote => Self::NoRemote,
            FlowDrop::NeighborUnresolved => Self::NeighborUnresolved,
            FlowDrop::NoHeadroom => Self::NoHeadroom,
            FlowDrop::SrtpAuth => Self::SrtpAuth,
            FlowDrop::SrtpReplay => Self::SrtpReplay,
            FlowDrop::SrtpTooOld => Self::SrtpTooOld,
            FlowDrop::SrtpMalformed => Self::SrtpMalformed,
            FlowDrop::SrtpUnknownMki => Self::SrtpUnknownMki,
            FlowDrop::SrtpKeyLifetime => Self::SrtpKeyLifetime,
            FlowDrop::SrtpNoTailroom => Self::SrtpNoTailroom,
            FlowDrop::SrtpSsrcLimit => Self::SrtpSsrcLimit,
        }
    }
}

/// Adds `n` to a counter that only the calling worker writes.
#[inline(always)]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One worker's counters, in their own cache lines.
#[repr(C, align(64))]
#[derive(Default)]
pub struct WorkerCounters {
    /// Packets received.
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Packets relayed (handed to a TX queue).
    pub tx_packets: AtomicU64,
    /// Bytes relayed.
    pub tx_bytes: AtomicU64,
    /// Packets handed to the slow path.
    pub slow_path: AtomicU64,
    /// Polls that received at least one packet.
    pub busy_polls: AtomicU64,
    /// Polls that received nothing.
    pub idle_polls: AtomicU64,
    /// TSC cycles spent in busy polls.
    pub busy_cycles: AtomicU64,
    /// TSC cycles spent in the loop.
    pub total_cycles: AtomicU64,
    /// Sequence number of the last control command applied.
    pub applied_seq: AtomicU64,
    /// Commands that could not be applied (table full...).
    pub command_errors: AtomicU64,
    /// Events lost because the event queue was full.
    pub events_dropped: AtomicU64,
    /// Packets dropped, by [`DropReason`].
    pub drops: [AtomicU64; DropReason::COUNT],
}

/// A copy of [`WorkerCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets relayed.
    pub tx_packets: u64,
    /// Bytes relayed.
    pub tx_bytes: u64,
    /// Packets handed to the slow path.
    pub slow_path: u64,
    /// Polls with packets.
    pub busy_polls: u64,
    /// Polls without.
    pub idle_polls: u64,
    /// Cycles in busy polls.
    pub busy_cycles: u64,
    /// Cycles in the loop.
    pub total_cycles: u64,
    /// Last command applied.
    pub applied_seq: u64,
    /// Commands refused.
    pub command_errors: u64,
    /// Events lost.
    pub events_dropped: u64,
    /// Drops by reason, in [`DropReason::ALL`] order.
    pub drops: [u64; DropReason::COUNT],
}

impl WorkerCounters {
    /// Counts a drop.
    #[inline(always)]
    pub fn drop_packet(&self, reason: DropReason) {
        add(&self.drops[reason as usize], 1);
    }

    /// A consistent-enough copy (each counter read once, relaxed).
    pub fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            slow_path: self.slow_path.load(Relaxed),
            busy_polls: self.busy_polls.load(Relaxed),
            idle_polls: self.idle_polls.load(Relaxed),
            busy_cycles: self.busy_cycles.load(Relaxed),
            total_cycles: self.total_cycles.load(Relaxed),
            applied_seq: self.applied_seq.load(std::sync::atomic::Ordering::Acquire),
            command_errors: self.command_errors.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
            drops: std::array::from_fn(|i| self.drops[i].load(Relaxed)),
        }
    }
}

impl WorkerStats {
    /// Drops of one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }
}

/// One flow's counters in one worker: a cache-line-aligned slot indexed by
/// [`FlowId`](crate::flow::FlowId). What every packet touches (packets, bytes,
/// last TSC, RTP state) is in the first cache line; the drop counters follow.
#[repr(C, align(64))]
#[derive(Default)]
pub struct FlowCounters {
    /// Packets relayed.
    pub packets: AtomicU64,
    /// Bytes relayed (UDP payload).
    pub bytes: AtomicU64,
    /// Of which RTCP.
    pub rtcp_packets: AtomicU64,
    /// TSC of the last packet received.
    pub last_tsc: AtomicU64,
    /// RTP packets received from the current SSRC.
    pub rtp_received: AtomicU64,
    /// Extended highest sequence number.
    pub rtp_ext_max: AtomicU64,
    /// First sequence number counted.
    pub rtp_base: AtomicU64,
    /// Current SSRC.
    pub rtp_ssrc: AtomicU32,
    /// Interarrival jitter, timestamp units.
    pub rtp_jitter: AtomicU32,
    /// Drops by [`FlowDrop`].
    pub drops: [AtomicU64; FlowDrop::COUNT],
}

/// A copy of one flow's counters, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets relayed.
    pub packets: u64,
    /// Bytes relayed.
    pub bytes: u64,
    /// Of which RTCP.
    pub rtcp_packets: u64,
    /// TSC of the last packet (the latest over workers).
    pub last_tsc: u64,
    /// RTP SSRC seen last.
    pub ssrc: u32,
    /// RTP packets received.
    pub rtp_received: u64,
    /// RTP packets expected from the sequence numbers.
    pub rtp_expected: u64,
    /// RTP packets lost.
    pub rtp_lost: u64,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Drops by [`FlowDrop`].
    pub drops: [u64; FlowDrop::COUNT],
}

impl FlowCounters {
    /// Zeroes the slot for a new flow.
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // used by the worker
    pub(crate) fn reset(&self) {
        for c in [
            &self.packets,
            &self.bytes,
            &self.rtcp_packets,
            &self.last_tsc,
            &self.rtp_received,
            &self.rtp_ext_max,
            &self.rtp_base,
        ] {
            c.store(0, Relaxed);
        }
        self.rtp_ssrc.store(0, Relaxed);
        self.rtp_jitter.store(0, Relaxed);
        for d in &self.drops {
            d.store(0, Relaxed);
        }
    }

    /// Publishes the RTP stream's state.
    #[inline(always)]
    pub(crate) fn publish_rtp(&self, s: &RtpStream) {
        self.rtp_received.store(s.received(), Relaxed);
        self.rtp_ext_max.store(s.extended_max(), Relaxed);
        self.rtp_base.store(s.base(), Relaxed);
        self.rtp_ssrc.store(s.ssrc(), Relaxed);
        self.rtp_jitter.store(s.jitter(), Relaxed);
    }

    /// Counts a drop.
    #[inline(always)]
    pub(crate) fn drop_packet(&self, d: FlowDrop) {
        add(&self.drops[d as usize], 1);
    }

    fn snapshot(&self) -> FlowStats {
        let received = self.rtp_received.load(Relaxed);
        let expected = if received == 0 {
            0
        } else {
            (self.rtp_ext_max.load(Relaxed) + 1).saturating_sub(self.rtp_base.load(Relaxed))
        };
        FlowStats {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            rtcp_packets: self.rtcp_packets.load(Relaxed),
            last_tsc: self.last_tsc.load(Relaxed),
            ssrc: self.rtp_ssrc.load(Relaxed),
            rtp_received: received,
            rtp_expected: expected,
            rtp_lost: expected.saturating_sub(received),
            jitter: self.rtp_jitter.load(Relaxed),
            drops: std::array::from_fn(|i| self.drops[i].load(Relaxed)),
        }
    }
}

impl FlowStats {
    /// Adds another worker's share: counters add up; the RTP stream figures
    /// come from the worker that saw the stream last (a stream lives on one
    /// worker unless RSS moved it).
    pub fn merge(&mut self, other: &FlowStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.rtcp_packets += other.rtcp_packets;
        for (a, b) in self.drops.iter_mut().zip(other.drops) {
            *a += b;
        }
        if other.last_tsc > self.last_tsc {
            self.last_tsc = other.last_tsc;
            self.ssrc = other.ssrc;
            self.jitter = other.jitter;
        }
        self.rtp_received += other.rtp_received;
        self.rtp_expected += other.rtp_expected;
        self.rtp_lost += other.rtp_lost;
    }

    /// Drops of one kind.
    pub fn dropped(&self, d: FlowDrop) -> u64 {
        self.drops[d as usize]
    }
}

/// One worker's flow slots, allocated once at start.
pub struct FlowStatsArray {
    slots: Box<[FlowCounters]>,
}

impl FlowStatsArray {
    /// Slots for flow ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        FlowStatsArray { slots: (0..capacity).map(|_| FlowCounters::default()).collect() }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot of `id` (ids beyond the capacity are refused by the control side).
    #[inline(always)]
    pub fn slot(&self, id: u32) -> &FlowCounters {
        &self.slots[id as usize]
    }

    /// A copy of the slot of `id`.
    pub fn snapshot(&self, id: u32) -> FlowStats {
        self.slots.get(id as usize).map(FlowCounters::snapshot).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_tables_are_consistent() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(r.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
        for (i, d) in FlowDrop::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i);
            assert_eq!(DropReason::from_flow_drop(*d).flow_drop(), Some(*d));
        }
    }

    #[test]
    fn counters_live_in_their_own_cache_lines() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
        assert_eq!(std::mem::align_of::<FlowCounters>(), 64);
        assert_eq!(std::mem::size_of::<FlowCounters>(), 192);
    }

    #[test]
    fn merge_adds_counters_and_keeps_the_latest_stream() {
        let a = FlowStats { packets: 2, last_tsc: 10, ssrc: 1, jitter: 5, ..Default::default() };
        let b = FlowStats { packets: 3, last_tsc: 20, ssrc: 2, jitter: 7, ..Default::default() };
        let mut m = a;
        m.merge(&b);
        assert_eq!((m.packets, m.ssrc, m.jitter), (5, 2, 7));
    }
}
