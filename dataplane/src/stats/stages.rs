//! Where a worker's busy polls spend their time: TSC cycles by stage of the
//! burst, read once per burst (never per packet) and summed per worker.
//! Divided by the packets received they give each stage's share of the
//! worker's time per packet.

/// A stage of a busy poll, in the order a burst goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The RX bursts, with what the loop does before them (control
    /// commands, SRTP stream hand-overs, the control side's frames).
    Receive,
    /// The pipeline's first pass: classify, look up, relay plain packets,
    /// check the SRTP ones.
    Pipeline,
    /// The pipeline's SRTP pass (bursts with SRTP or SRTCP packets only).
    Srtp,
    /// The verdicts applied to the mbufs: data windows set, packets sorted
    /// into TX bursts, the drop bin freed, the slow path's ring enqueue.
    Sort,
    /// The TX bursts.
    Transmit,
}

impl Stage {
    /// Number of stages.
    pub const COUNT: usize = 5;
    /// Every stage, in order.
    pub const ALL: [Stage; Stage::COUNT] = [Stage::Receive, Stage::Pipeline, Stage::Srtp, Stage::Sort, Stage::Transmit];

    /// The stage's name in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::Pipeline => "pipeline",
            Stage::Srtp => "srtp",
            Stage::Sort => "sort",
            Stage::Transmit => "transmit",
        }
    }
}

/// One poll's cycles by stage: each TSC reading ends a stage, which gets
/// the cycles since the reading before.
#[derive(Debug, Clone)]
pub struct StageClock {
    mark: u64,
    cycles: [u64; Stage::COUNT],
}

impl StageClock {
    /// A clock whose first stage starts at TSC `now`.
    #[inline(always)]
    pub fn start(now: u64) -> Self {
        StageClock { mark: now, cycles: [0; Stage::COUNT] }
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
        c.lap(Stage::Transmit, 2100);
        assert_eq!(c.cycles(), &[130, 420, 400, 60, 90]);
        assert_eq!(c.cycles().iter().sum::<u64>(), 2100 - 1000);
        assert_eq!(c.mark(), 2100);
    }

    #[test]
    fn names_are_distinct_and_in_order() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["receive", "pipeline", "srtp", "sort", "transmit"]);
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
