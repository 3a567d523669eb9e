//! Worker and flow counters: written by one worker, read by the control side
//! at any time. Each worker's counters sit in their own cache lines; the
//! worker publishes with plain relaxed stores (it is the only writer, so no
//! read-modify-write is needed).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use super::drops::{DropReason, FlowDrop};
use super::rtp::{RtpChange, RtpStream};
use super::stages::{Stage, StageClock};
use crate::memory::{Place, PlaceError, Slab};

/// Adds `n` to a counter that only the calling worker writes.
#[inline(always)]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One value per [`DropReason`], in [`DropReason::ALL`] order: an array that
/// is `Default` whatever the number of reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerReason<T>(pub [T; DropReason::COUNT]);

impl<T: Default> Default for PerReason<T> {
    fn default() -> Self {
        PerReason(std::array::from_fn(|_| T::default()))
    }
}

impl<T> std::ops::Deref for PerReason<T> {
    type Target = [T; DropReason::COUNT];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> std::ops::DerefMut for PerReason<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
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
    /// Sleeps taken while idle (`idle_sleep_us`).
    pub idle_sleeps: AtomicU64,
    /// TSC cycles spent in busy polls.
    pub busy_cycles: AtomicU64,
    /// TSC cycles spent in the loop.
    pub total_cycles: AtomicU64,
    /// TSC cycles of busy polls by [`Stage`], in [`Stage::ALL`] order; they
    /// add up to `busy_cycles`.
    pub stage_cycles: [AtomicU64; Stage::COUNT],
    /// Sequence number of the last control command applied.
    pub applied_seq: AtomicU64,
    /// Commands that could not be applied (table full...).
    pub command_errors: AtomicU64,
    /// Events lost because the event queue was full.
    pub events_dropped: AtomicU64,
    /// Packets dropped, by [`DropReason`].
    pub drops: PerReason<AtomicU64>,
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
    /// Idle sleeps.
    pub idle_sleeps: u64,
    /// Cycles in busy polls.
    pub busy_cycles: u64,
    /// Cycles in the loop.
    pub total_cycles: u64,
    /// Cycles of busy polls by [`Stage`], in [`Stage::ALL`] order.
    pub stage_cycles: [u64; Stage::COUNT],
    /// Last command applied.
    pub applied_seq: u64,
    /// Commands refused.
    pub command_errors: u64,
    /// Events lost.
    pub events_dropped: u64,
    /// Drops by reason, in [`DropReason::ALL`] order.
    pub drops: PerReason<u64>,
}

impl WorkerCounters {
    /// Counts a drop.
    #[inline(always)]
    pub fn drop_packet(&self, reason: DropReason) {
        add(&self.drops[reason as usize], 1);
    }

    /// Adds a busy poll's cycles by stage (once per poll).
    #[inline(always)]
    pub fn add_stages(&self, clock: &StageClock) {
        for (c, &n) in self.stage_cycles.iter().zip(clock.cycles()) {
            add(c, n);
        }
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
            idle_sleeps: self.idle_sleeps.load(Relaxed),
            busy_cycles: self.busy_cycles.load(Relaxed),
            total_cycles: self.total_cycles.load(Relaxed),
            stage_cycles: std::array::from_fn(|i| self.stage_cycles[i].load(Relaxed)),
            applied_seq: self.applied_seq.load(std::sync::atomic::Ordering::Acquire),
            command_errors: self.command_errors.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
            drops: PerReason(std::array::from_fn(|i| self.drops[i].load(Relaxed))),
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
/// [`FlowId`](crate::flow::FlowId), one line of what every packet touches
/// (packets, bytes, last TSC, RTP state). The drops by reason, which a relayed
/// packet never touches, are kept apart ([`FlowDrops`]).
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
}

/// One flow's drops in one worker, by [`FlowDrop`]: apart from its
/// [`FlowCounters`] slot, unpadded (112 bytes), since only a dropped packet
/// writes them.
#[derive(Default)]
pub struct FlowDrops(pub [AtomicU64; FlowDrop::COUNT]);

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
    /// Extended highest sequence number of the SSRC seen last (RFC 3550
    /// A.1: cycles in the high bits). For an SRTP stream whose rollover
    /// counter started at 0 this is its packet index (RFC 3711 §3.3.1): the
    /// rollover counter is `>> 16`.
    pub rtp_ext_max: u64,
    /// Drops by [`FlowDrop`].
    pub drops: [u64; FlowDrop::COUNT],
    /// The next SRTCP index the flow protects with, the highest over its
    /// SSRCs and the workers; 0 if it protected none. What a checkpoint keeps,
    /// so that a node resuming the flow never protects an index again.
    pub srtcp_next: u32,
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
    }

    /// Publishes the figures of the RTP stream's state that `change` says
    /// changed (in the common in-order case, three of the five).
    #[inline(always)]
    pub(crate) fn publish_rtp(&self, s: &RtpStream, change: RtpChange) {
        if change == RtpChange::None {
            return;
        }
        self.rtp_received.store(s.received(), Relaxed);
        self.rtp_ext_max.store(s.extended_max(), Relaxed);
        self.rtp_jitter.store(s.jitter(), Relaxed);
        if change == RtpChange::Restarted {
            self.rtp_base.store(s.base(), Relaxed);
            self.rtp_ssrc.store(s.ssrc(), Relaxed);
        }
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
            rtp_ext_max: if received == 0 { 0 } else { self.rtp_ext_max.load(Relaxed) },
            // Kept apart from the slot ([`FlowStatsArray::snapshot`]).
            drops: [0; FlowDrop::COUNT],
            srtcp_next: 0,
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
            self.rtp_ext_max = other.rtp_ext_max;
        }
        self.srtcp_next = self.srtcp_next.max(other.srtcp_next);
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
    slots: Slab<FlowCounters>,
    /// Per flow, its drops by reason: apart from the slots, whose one cache
    /// line a relayed packet writes.
    drops: Slab<FlowDrops>,
    /// Per flow, the next SRTCP index it protects with: apart from the
    /// slots, since only SRTCP packets
    /// (a few per stream and minute) write it.
    srtcp_next: Slab<AtomicU32>,
}

impl FlowStatsArray {
    /// Slots for flow ids `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        Self::new_in(Place::Heap, capacity).expect("the heap")
    }

    /// Slots for flow ids `0..capacity` in `place` (a worker's: DPDK memory on its socket).
    pub fn new_in(place: Place, capacity: usize) -> Result<Self, PlaceError> {
        Ok(FlowStatsArray {
            slots: Slab::new_in(place, capacity, |_| FlowCounters::default())?,
            drops: Slab::new_in(place, capacity, |_| FlowDrops::default())?,
            srtcp_next: Slab::new_in(place, capacity, |_| AtomicU32::new(0))?,
        })
    }

    /// Zeroes the slot of `id` for a new flow.
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // used by the worker
    pub(crate) fn reset(&self, id: u32) {
        self.slots[id as usize].reset();
        for d in &self.drops[id as usize].0 {
            d.store(0, Relaxed);
        }
        self.srtcp_next[id as usize].store(0, Relaxed);
    }

    /// Counts a drop of the flow whose slot is `slot` (from [`FlowStatsArray::slot`]).
    #[inline(always)]
    pub(crate) fn drop_packet(&self, slot: &FlowCounters, d: FlowDrop) {
        // The slot's index, from its address: the fast path keeps the slot
        // at hand, not the flow id.
        let id = (slot as *const FlowCounters as usize).wrapping_sub(self.slots.as_ptr() as usize)
            / core::mem::size_of::<FlowCounters>();
        add(&self.drops[id].0[d as usize], 1);
    }

    /// Notes that flow `id` protects SRTCP from index `next` on (or higher).
    #[inline]
    pub(crate) fn note_srtcp_next(&self, id: u32, next: u32) {
        let c = &self.srtcp_next[id as usize];
        if next > c.load(Relaxed) {
            c.store(next, Relaxed);
        }
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

    /// Starts loading the slot of `id`.
    #[inline(always)]
    pub fn prefetch(&self, id: u32) {
        // No bounds check: a prefetch of any address is harmless.
        crate::prefetch::prefetch(self.slots.as_ptr().wrapping_add(id as usize));
    }

    /// A copy of the slot of `id`.
    pub fn snapshot(&self, id: u32) -> FlowStats {
        let Some(slot) = self.slots.get(id as usize) else { return FlowStats::default() };
        FlowStats {
            drops: std::array::from_fn(|i| self.drops[id as usize].0[i].load(Relaxed)),
            srtcp_next: self.srtcp_next[id as usize].load(Relaxed),
            ..slot.snapshot()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Publishing what each packet changed leaves the slot as publishing
        /// every figure after every packet does.
        #[test]
        fn publishing_the_changes_equals_publishing_all(
            pkts in proptest::collection::vec(
                (0u32..2, proptest::prop_oneof![0u16..4, proptest::prelude::any::<u16>()], proptest::prelude::any::<u32>(), 0u32..4000),
                1..200,
            ),
        ) {
            let (changes, all) = (FlowCounters::default(), FlowCounters::default());
            let (mut s, mut seq) = (RtpStream::default(), 0u16);
            for (ssrc, step, ts, arrival) in pkts {
                seq = seq.wrapping_add(step);
                let change = s.update(ssrc, seq, ts, arrival);
                changes.publish_rtp(&s, change);
                all.publish_rtp(&s, RtpChange::Restarted);
                proptest::prop_assert_eq!(changes.snapshot(), all.snapshot());
            }
        }
    }

    #[test]
    fn counters_live_in_their_own_cache_lines() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
        assert_eq!(std::mem::align_of::<FlowCounters>(), 64);
        // docs/performance.md's memory per session counts these 64 + 112 bytes.
        assert_eq!(std::mem::size_of::<FlowCounters>(), 64);
        assert_eq!(std::mem::size_of::<FlowDrops>(), 8 * FlowDrop::COUNT);
    }

    #[test]
    fn merge_adds_counters_and_keeps_the_latest_stream() {
        let a = FlowStats { packets: 2, last_tsc: 10, ssrc: 1, jitter: 5, rtp_ext_max: 70_000, ..Default::default() };
        let b = FlowStats { packets: 3, last_tsc: 20, ssrc: 2, jitter: 7, rtp_ext_max: 9, ..Default::default() };
        let mut m = a;
        m.merge(&b);
        assert_eq!((m.packets, m.ssrc, m.jitter, m.rtp_ext_max), (5, 2, 7, 9));
        let mut m = b;
        m.merge(&a);
        assert_eq!((m.ssrc, m.rtp_ext_max), (2, 9));
        // The SRTCP index is the highest any worker protected with.
        let (a, b) = (FlowStats { srtcp_next: 9, ..a }, FlowStats { srtcp_next: 4, last_tsc: 30, ..b });
        let mut m = a;
        m.merge(&b);
        assert_eq!(m.srtcp_next, 9);
    }

    #[test]
    fn a_drop_counts_on_its_own_flow_and_a_new_flow_starts_from_zero() {
        let array = FlowStatsArray::new(3);
        array.drop_packet(array.slot(1), FlowDrop::SourceMismatch);
        array.drop_packet(array.slot(1), FlowDrop::SourceMismatch);
        array.drop_packet(array.slot(2), FlowDrop::SrtpSsrcLimit);
        let drops = |id| array.snapshot(id).drops;
        assert_eq!(drops(0), [0; FlowDrop::COUNT]);
        assert_eq!(array.snapshot(1).dropped(FlowDrop::SourceMismatch), 2);
        assert_eq!(drops(1).iter().sum::<u64>(), 2);
        assert_eq!((array.snapshot(2).dropped(FlowDrop::SrtpSsrcLimit), drops(2).iter().sum::<u64>()), (1, 1));
        array.reset(1);
        assert_eq!((drops(1), array.snapshot(2).dropped(FlowDrop::SrtpSsrcLimit)), ([0; FlowDrop::COUNT], 1));
    }

    #[test]
    fn the_srtcp_index_only_rises_and_a_new_flow_starts_from_zero() {
        let array = FlowStatsArray::new(2);
        array.note_srtcp_next(1, 7);
        array.note_srtcp_next(1, 3);
        assert_eq!((array.snapshot(1).srtcp_next, array.snapshot(0).srtcp_next), (7, 0));
        array.reset(1);
        assert_eq!(array.snapshot(1).srtcp_next, 0);
    }
}
