//! Per-stream RTP reception statistics (RFC 3550 Appendix A.1 and A.8):
//! extended highest sequence number, packets expected and lost, and
//! interarrival jitter.

/// A sequence number jump larger than this restarts the count (A.1).
const MAX_DROPOUT: u16 = 3000;
/// A sequence number this far behind is a late or duplicate packet (A.1).
const MAX_MISORDER: u16 = 100;

/// Reception state of one RTP source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpStream {
    ssrc: u32,
    started: bool,
    max_seq: u16,
    /// Wrap count, shifted left 16 as in A.1.
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    transit: u32,
    /// Jitter in timestamp units, scaled by 16 (A.8).
    jitter_q4: u32,
}

/// Which figures of an [`RtpStream`] a packet changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpChange {
    /// None: a jump of the sequence held until the next packet confirms it.
    None,
    /// The count, the highest sequence number and the jitter (the common case).
    Counted,
    /// All, the SSRC and the base sequence number too: a new source or a restart.
    Restarted,
}

impl RtpStream {
    /// A stream (re)started by its first packet (RFC 3550 A.1 `init_seq`).
    #[inline]
    fn start(ssrc: u32, seq: u16, transit: u32) -> RtpStream {
        RtpStream {
            ssrc,
            started: true,
            max_seq: seq,
            base_seq: seq as u32,
            bad_seq: u32::MAX,
            received: 1,
            transit,
            ..RtpStream::default()
        }
    }

    /// A stream taken over from another node or worker: source `ssrc` at
    /// extended highest sequence number `extended_max` (cycles << 16 | seq),
    /// counted from the packet after it.
    pub fn resume(ssrc: u32, extended_max: u64) -> RtpStream {
        let ext = extended_max as u32;
        RtpStream {
            ssrc,
            started: true,
            max_seq: ext as u16,
            cycles: ext & !0xffff,
            base_seq: ext.wrapping_add(1),
            bad_seq: u32::MAX,
            ..RtpStream::default()
        }
    }

    /// Accounts one packet: its SSRC, sequence number and RTP timestamp,
    /// and its arrival time in the stream's timestamp units. Says which of
    /// the figures changed, so that only those are published.
    #[inline]
    pub fn update(&mut self, ssrc: u32, seq: u16, timestamp: u32, arrival: u32) -> RtpChange {
        if !self.started || ssrc != self.ssrc {
            *self = RtpStream::start(ssrc, seq, arrival.wrapping_sub(timestamp));
            return RtpChange::Restarted;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A large jump: restart if the next packet confirms it.
            if seq as u32 == self.bad_seq {
                *self = RtpStream::start(ssrc, seq, arrival.wrapping_sub(timestamp));
                return RtpChange::Restarted;
            }
            self.bad_seq = (seq as u32 + 1) & 0xffff;
            return RtpChange::None;
        }
        // else: duplicate or reordered; counted as received.
        self.received += 1;

        let transit = arrival.wrapping_sub(timestamp);
        let d = (transit.wrapping_sub(self.transit) as i32).unsigned_abs();
        self.transit = transit;
        self.jitter_q4 = self.jitter_q4.wrapping_add(d).wrapping_sub((self.jitter_q4 + 8) >> 4);
        RtpChange::Counted
    }

    /// The source being counted.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets received from this source.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u64 {
        self.cycles as u64 + self.max_seq as u64
    }

    /// First sequence number counted.
    pub fn base(&self) -> u64 {
        self.base_seq as u64
    }

    /// Packets expected from the sequence numbers (A.3).
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.extended_max() + 1).saturating_sub(self.base())
    }

    /// Packets lost: expected minus received, 0 when duplicates outnumber losses.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(s: &mut RtpStream, seqs: &[u16]) {
        for &q in seqs {
            s.update(7, q, q as u32 * 160, q as u32 * 160);
        }
    }

    #[test]
    fn a_resumed_stream_counts_on_from_its_extended_sequence() {
        let mut s = RtpStream::resume(7, (2 << 16) | 65_534);
        assert_eq!((s.ssrc(), s.extended_max(), s.expected(), s.received()), (7, (2 << 16) | 65_534, 0, 0));
        feed(&mut s, &[65_535, 0, 2]);
        assert_eq!((s.extended_max(), s.expected(), s.lost()), ((3 << 16) | 2, 4, 1));
    }

    #[test]
    fn in_order_stream_has_no_loss_or_jitter() {
        let mut s = RtpStream::default();
        feed(&mut s, &(100..200).collect::<Vec<_>>());
        assert_eq!((s.received(), s.expected(), s.lost(), s.jitter()), (100, 100, 0, 0));
    }

    #[test]
    fn gaps_count_as_lost_and_wrap_extends() {
        let mut s = RtpStream::default();
        let mut seqs: Vec<u16> = (65530..=65535).collect();
        seqs.extend(0..10u16);
        seqs.retain(|&q| q != 3 && q != 65533);
        feed(&mut s, &seqs);
        assert_eq!(s.extended_max(), 65536 + 9);
        assert_eq!(s.expected(), 16);
        assert_eq!(s.lost(), 2);
    }

    #[test]
    fn late_packet_is_received_not_lost() {
        let mut s = RtpStream::default();
        feed(&mut s, &[1, 2, 4, 3, 5]);
        assert_eq!((s.expected(), s.lost()), (5, 0));
    }

    #[test]
    fn ssrc_change_restarts() {
        let mut s = RtpStream::default();
        feed(&mut s, &[1, 2, 3]);
        s.update(8, 5000, 0, 0);
        assert_eq!((s.ssrc(), s.received(), s.expected()), (8, 1, 1));
    }

    #[test]
    fn jump_restarts_after_two_confirming_packets() {
        let mut s = RtpStream::default();
        feed(&mut s, &[1, 2, 3, 20000, 20001, 20002]);
        // 20000 is suspect; 20001 confirms the jump and restarts the count.
        assert_eq!(s.base(), 20001);
        assert_eq!(s.received(), 2);
        assert_eq!(s.extended_max(), 20002);
    }

    #[test]
    fn jitter_follows_the_a8_estimator() {
        let mut s = RtpStream::default();
        // Every other packet arrives 16 timestamp units late.
        for i in 0..1000u32 {
            let late = if i % 2 == 1 { 16 } else { 0 };
            s.update(1, i as u16, i * 160, i * 160 + late);
        }
        // |D| = 16 each packet: J converges to 16.
        assert!((15..=16).contains(&s.jitter()), "{}", s.jitter());
    }

    proptest! {
        #[test]
        fn lost_never_exceeds_expected(seqs in proptest::collection::vec(any::<u16>(), 1..300)) {
            let mut s = RtpStream::default();
            feed(&mut s, &seqs);
            prop_assert!(s.lost() <= s.expected());
        }
    }
}
