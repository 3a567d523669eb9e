//! Where a worker's busy polls spend their time: TSC cycles by stage of the
//! burst, read once per burst (never per packet) and summed per worker.
//! Divided by the packets received they give each stage's share of the
//! worker's time per packet.
//!
//! A poll that took longer than a bound ([`StageClock::stalled_after`]) was
//! most likely stopped by the kernel (another task, an interrupt), whose
//! time would land in whichever stage it interrupted: its cycles count as
//! [`Stage::Stalled`] instead, so the other stages keep their own cost on
//! a shared core.

/// A stage of a busy poll, in the order a burst goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The RX bursts, with what the loop does before them (control
    /// commands, SRTP stream hand-overs, the control side's frames).
    Receive,
    /// The pipeline's first pass: classify, look up, relay plain packets,
    /// check the SRTP ones (with the worker's preparation of the burst:
    /// header prefetches, buffer views of the mbufs).
    Pipeline,
    /// The pipeline's SRTP pass (bursts with SRTP or SRTCP packets only).
    Srtp,
    /// The verdicts applied to the mbufs: data windows set, packets sorted
    /// into TX bursts, the drop bin freed, the slow path's ring enqueue.
    Sort,
    /// The TX bursts.
    Transmit,
    /// Whole polls longer than the bound, not split.
    Stalled,
}

impl Stage {
    /// Number of stages.
    pub const COUNT: usize = 6;
    /// Every stage, in order.
    pub const ALL: [Stage; Stage::COUNT] =
        [Stage::Receive, Stage::Pipeline, Stage::Srtp, Stage::Sort, Stage::Transmit, Stage::Stalled];

    /// The stage's name in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::Pipeline => "pipeline",
            Stage::Srtp => "srtp",
            Stage::Sort => "sort",
            Stage::Transmit => "transmit",
            Stage::Stalled => "stalled",
        }
    }
}

/// One poll's cycles by stage: each TSC reading ends a stage, which gets
/// the cycles since the reading before.
#[derive(Debug, Clone)]
pub struct StageClock {
    start: u64,
    mark: u64,
    cycles: [u64; Stage::COUNT],
}

impl StageClock {
    /// A clock whose first stage starts at TSC `now`.
    #[inline(always)]
    pub fn start(now: u64) -> Self {
        StageClock { start: now, mark: now, cycles: [0; Stage::COUNT] }
    }

    /// The bound in TSC cycles past which a poll counts as stalled: 100 µs,
    /// some ten times a burst of 32 SRTP packets.
    pub fn stalled_after(tsc_hz: u64) -> u64 {
        tsc_hz / 10_000
    }

    /// Ends the poll at TSC `now` with `last`, the stage still running; a
    /// poll longer than `stalled_after` cycles becomes one [`Stage::Stalled`].
    #[inline(always)]
    pub fn finish(&mut self, last: Stage, now: u64, stalled_after: u64) {
        if now.wrapping_sub(self.start) > stalled_after {
            self.cycles = [0; Stage::COUNT];
            self.cycles[Stage::Stalled as usize] = now.wrapping_sub(self.start);
            self.mark = now;
        } else {
            self.lap(last, now);
        }
    }

    /// Ends `stage` at TSC `now`.
    #[inline(always)]
    pub fn lap(&mut self, stage: Stage, now: u64) {
        self.cycles[stage as usize] += now.wrapping_sub(self.mark);
        self.mark = now;
    }

    /// The TSC of the last reading (the start, or the last lap).
    #[inline(always)]
    pub fn mark(&self) -> u64 {
        self.mark
    }

    /// Cycles by stage, in [`Stage::ALL`] order.
    #[inline(always)]
    pub fn cycles(&self) -> &[u64; Stage::COUNT] {
        &self.cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_split_the_poll_without_losing_a_cycle() {
        let mut c = StageClock::start(1000);
        c.lap(Stage::Receive, 1100);
        c.lap(Stage::Pipeline, 1400);
        c.lap(Stage::Sort, 1450);
        // A second queue's burst: its stages add up.
        c.lap(Stage::Receive, 1480);
        c.lap(Stage::Pipeline, 1600);
        c.lap(Stage::Srtp, 2000);
        c.lap(Stage::Sort, 2010);
        c.finish(Stage::Transmit, 2100, 5000);
        assert_eq!(c.cycles(), &[130, 420, 400, 60, 90, 0]);
        assert_eq!(c.cycles().iter().sum::<u64>(), 2100 - 1000);
        assert_eq!(c.mark(), 2100);
    }

    #[test]
    fn a_poll_past_the_bound_is_stalled_as_a_whole() {
        let mut c = StageClock::start(1000);
        c.lap(Stage::Receive, 1100);
        c.lap(Stage::Pipeline, 9000);
        c.finish(Stage::Transmit, 9100, 5000);
        assert_eq!(c.cycles(), &[0, 0, 0, 0, 0, 8100]);
        // At the bound itself the poll is split.
        let mut c = StageClock::start(0);
        c.lap(Stage::Receive, 10);
        c.finish(Stage::Transmit, 5000, 5000);
        assert_eq!(c.cycles(), &[10, 0, 0, 0, 4990, 0]);
        assert_eq!(StageClock::stalled_after(2_600_000_000), 260_000);
    }

    #[test]
    fn names_are_distinct_and_in_order() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["receive", "pipeline", "srtp", "sort", "transmit", "stalled"]);
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
