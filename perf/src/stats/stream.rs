//! What one received RTP stream did: packets, duplicates, reordering and
//! interarrival jitter.
//!
//! Sequence numbers are extended to 64 bits (RFC 3550 A.1) and the last
//! [`WINDOW`] of them remembered in a bitmap, so a duplicate is told from a
//! late packet. A packet is *reordered* when a higher sequence number arrived
//! before it (RFC 4737 §3); one older than the window cannot be checked for
//! duplication and counts as reordered. Jitter is RFC 3550 A.8's estimator
//! applied to the send times the generator carries in each payload, so it is
//! exact at any packet rate, not only at the codec's packet time.

/// Sequence numbers remembered below the highest one.
pub const WINDOW: u64 = 128;

/// How a packet arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The highest sequence number so far (gaps before it may fill later).
    InOrder,
    /// After a higher sequence number.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// Counters of one stream over one measurement (a trial); reset between
/// trials while the sequence state carries on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxCounts {
    /// Distinct packets received.
    pub received: u64,
    /// Copies of packets already received.
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
}

/// Receive state of one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamRx {
    started: bool,
    /// Highest extended sequence number, offset by 2^16 so that packets
    /// just before the first one do not underflow.
    highest: u64,
    /// Bit `i`: `highest - i` was received.
    seen: u128,
    /// Counters since the last [`StreamRx::reset_counts`].
    pub counts: RxCounts,
    jitter: Jitter,
}

impl StreamRx {
    /// Accounts for a packet with sequence number `seq`, sent at `sent` and
    /// received at `arrived` (the same clock, e.g. TSC cycles).
    #[inline]
    pub fn record(&mut self, seq: u16, sent: u64, arrived: u64) -> Arrival {
        self.record_times(seq, Some((sent, arrived)))
    }

    /// Accounts for a packet known by its sequence number only (an SRTP
    /// packet not opened, whose send time is in its encrypted payload): it
    /// counts like any other, and leaves the jitter alone.
    #[inline]
    pub fn record_unopened(&mut self, seq: u16) -> Arrival {
        self.record_times(seq, None)
    }

    #[inline]
    fn record_times(&mut self, seq: u16, times: Option<(u64, u64)>) -> Arrival {
        if !self.started {
            self.started = true;
            self.highest = (1 << 16) + u64::from(seq);
            self.seen = 1;
            self.counts.received += 1;
            if let Some((sent, arrived)) = times {
                self.jitter.record(sent, arrived);
            }
            return Arrival::InOrder;
        }
        let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        let arrival = if delta > 0 {
            let d = delta as u64;
            self.seen = if d >= 128 { 0 } else { self.seen << d };
            self.seen |= 1;
            self.highest += d;
            Arrival::InOrder
        } else {
            let back = delta.unsigned_abs();
            if back >= WINDOW {
                Arrival::Reordered
            } else if self.seen & (1u128 << back) != 0 {
                Arrival::Duplicate
            } else {
                self.seen |= 1u128 << back;
                Arrival::Reordered
            }
        };
        match arrival {
            Arrival::Duplicate => self.counts.duplicates += 1,
            Arrival::Reordered | Arrival::InOrder => {
                self.counts.received += 1;
                self.counts.reordered += u64::from(arrival == Arrival::Reordered);
                if let Some((sent, arrived)) = times {
                    self.jitter.record(sent, arrived);
                }
            }
        }
        arrival
    }

    /// Starts a new measurement: counters and jitter start again, the
    /// sequence state carries on.
    pub fn reset_counts(&mut self) {
        self.counts = RxCounts::default();
        self.jitter = Jitter::default();
    }

    /// Interarrival jitter, in the clock's units.
    pub fn jitter(&self) -> f64 {
        self.jitter.value()
    }

    /// The highest extended sequence number received, if any (the first
    /// packet's is `65536 + seq`).
    pub fn highest(&self) -> Option<u64> {
        self.started.then_some(self.highest)
    }
}

/// RFC 3550 A.8: `J += (|D| - J) / 16`, with `D` the change in transit time
/// between consecutive packets, kept scaled by 16 as the RFC's code does.
#[derive(Debug, Clone, Copy, Default)]
struct Jitter {
    last_transit: Option<i64>,
    scaled: u64,
}

impl Jitter {
    #[inline]
    fn record(&mut self, sent: u64, arrived: u64) {
        let transit = arrived.wrapping_sub(sent) as i64;
        if let Some(last) = self.last_transit {
            let d = transit.wrapping_sub(last).unsigned_abs();
            // J' = J + (|D| - J)/16, with S = 16 J: S' = S + |D| - S/16.
            self.scaled = self.scaled + d - ((self.scaled + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    fn value(&self) -> f64 {
        self.scaled as f64 / 16.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u16]) -> StreamRx {
        let mut s = StreamRx::default();
        for &q in seqs {
            s.record(q, 0, 0);
        }
        s
    }

    #[test]
    fn in_order_stream() {
        let s = feed(&(0..1000).collect::<Vec<_>>());
        assert_eq!(s.counts, RxCounts { received: 1000, duplicates: 0, reordered: 0 });
        assert_eq!(s.highest(), Some(65536 + 999));
    }

    #[test]
    fn loss_is_what_never_arrived() {
        // Every fifth packet lost: 800 of 1000 arrive; none reordered.
        let seqs: Vec<u16> = (0..1000).filter(|i| i % 5 != 0).collect();
        let s = feed(&seqs);
        assert_eq!(s.counts.received, 800);
        assert_eq!(s.counts.reordered, 0);
    }

    #[test]
    fn swapped_pair_is_one_reordered_packet() {
        let s = feed(&[0, 1, 3, 2, 4]);
        assert_eq!(s.counts, RxCounts { received: 5, duplicates: 0, reordered: 1 });
    }

    #[test]
    fn duplicates_are_found_in_order_and_late() {
        let mut s = feed(&[0, 1, 2, 2, 1, 3]);
        assert_eq!(s.counts, RxCounts { received: 4, duplicates: 2, reordered: 0 });
        // A late packet, then its copy.
        assert_eq!(s.record(10, 0, 0), Arrival::InOrder);
        assert_eq!(s.record(7, 0, 0), Arrival::Reordered);
        assert_eq!(s.record(7, 0, 0), Arrival::Duplicate);
    }

    #[test]
    fn sequence_wraps() {
        let seqs: Vec<u16> = (0..300u32).map(|i| (65_400 + i) as u16).collect();
        let s = feed(&seqs);
        assert_eq!(s.counts, RxCounts { received: 300, duplicates: 0, reordered: 0 });
        assert_eq!(s.highest(), Some(65536 + 65_400 + 299));
    }

    #[test]
    fn older_than_the_window_counts_as_reordered() {
        let mut s = feed(&[0, 500]);
        assert_eq!(s.record(1, 0, 0), Arrival::Reordered);
        assert_eq!(s.record(1, 0, 0), Arrival::Reordered, "beyond the window a copy cannot be told");
        assert_eq!(s.counts.received, 4);
    }

    #[test]
    fn reset_keeps_the_sequence() {
        let mut s = feed(&[0, 1, 2]);
        s.reset_counts();
        assert_eq!(s.record(2, 0, 0), Arrival::Duplicate);
        assert_eq!(s.record(3, 0, 0), Arrival::InOrder);
        assert_eq!(s.counts, RxCounts { received: 1, duplicates: 1, reordered: 0 });
    }

    #[test]
    fn unopened_packets_count_without_jitter() {
        let mut s = StreamRx::default();
        // Opened packets 0 and 4 (1 ms transit each), the rest by sequence alone.
        assert_eq!(s.record(0, 0, 1000), Arrival::InOrder);
        for seq in [1, 3, 2] {
            s.record_unopened(seq);
        }
        assert_eq!(s.record_unopened(3), Arrival::Duplicate);
        assert_eq!(s.record(4, 80, 1080), Arrival::InOrder);
        assert_eq!(s.counts, RxCounts { received: 5, duplicates: 1, reordered: 1 });
        assert_eq!(s.highest(), Some((1 << 16) + 4));
        assert_eq!(s.jitter(), 0.0);
    }

    #[test]
    fn constant_transit_has_no_jitter() {
        let mut s = StreamRx::default();
        for i in 0..100u64 {
            s.record(i as u16, i * 1000, i * 1000 + 250);
        }
        assert_eq!(s.jitter(), 0.0);
    }

    #[test]
    fn jitter_converges_to_the_mean_transit_change() {
        // Transit alternates 100 and 300: |D| = 200 every packet, so J -> 200.
        let mut s = StreamRx::default();
        for i in 0..2000u64 {
            let transit = if i % 2 == 0 { 100 } else { 300 };
            s.record(i as u16, i * 1000, i * 1000 + transit);
        }
        assert!((s.jitter() - 200.0).abs() < 1.0, "{}", s.jitter());
    }

    #[test]
    fn jitter_follows_rfc3550_a8_step_by_step() {
        // Floating-point reference of J += (|D| - J)/16.
        let transits = [10u64, 30, 20, 20, 80, 10, 15, 40];
        let mut s = StreamRx::default();
        let mut j = 0.0f64;
        let mut last: Option<f64> = None;
        for (i, t) in transits.iter().enumerate() {
            s.record(i as u16, 1000 * i as u64, 1000 * i as u64 + t);
            if let Some(l) = last {
                j += ((*t as f64 - l).abs() - j) / 16.0;
            }
            last = Some(*t as f64);
        }
        assert!((s.jitter() - j).abs() < 0.5, "{} vs {j}", s.jitter());
    }

    proptest::proptest! {
        #[test]
        fn counts_match_a_set_model(seqs in proptest::collection::vec(0u16..(WINDOW as u16), 1..400)) {
            // Within a window's span of sequence numbers every duplicate is
            // told: received is the number of distinct values, duplicates the rest.
            let s = feed(&seqs);
            let distinct: std::collections::BTreeSet<u16> = seqs.iter().copied().collect();
            proptest::prop_assert_eq!(s.counts.received, distinct.len() as u64);
            proptest::prop_assert_eq!(s.counts.duplicates, (seqs.len() - distinct.len()) as u64);
        }
    }
}
