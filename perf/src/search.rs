//! RFC 2544 §26.1 throughput: the highest offered rate at which the device
//! forwards with no more than the allowed loss, found by binary search.
//!
//! The first trial runs at the maximum rate; if it fails, its forwarded rate
//! also bounds the search (at [`FORWARDED_BOUND`] times it), which saves
//! trials when the maximum is far above the device's capacity. Then the
//! interval between the highest passing and the lowest failing rate is
//! halved until it is narrower than the resolution. A trial passes when its
//! loss is at most the threshold *and* the generator really offered the rate
//! (a device that pushes back on its link, as memif does, fails by not
//! taking the packets). The throughput is the rate the generator offered in
//! the best passing trial, which may be a little below the rate asked.

use serde::{Deserialize, Serialize};

/// A failed trial at the maximum bounds the search at this many times the
/// rate it forwarded.
pub const FORWARDED_BOUND: f64 = 1.25;
/// Default share of the requested rate the generator must have offered.
pub const SUSTAINED: f64 = 0.99;

fn sustained() -> f64 {
    SUSTAINED
}

/// What decides a trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// Most loss allowed, percent (RFC 2544 asks for none; 0.001 is usual).
    pub max_loss_pct: f64,
    /// Share of the requested rate the generator must have got onto the link.
    #[serde(default = "sustained")]
    pub sustained: f64,
}

/// The outcome of one trial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Requested rate, packets per second.
    pub requested_pps: f64,
    /// What the generator got onto the link.
    pub offered_pps: f64,
    /// What came back.
    pub received_pps: f64,
    /// Loss, percent.
    pub loss_pct: f64,
}

impl Trial {
    /// Whether the trial meets `c`.
    pub fn passes(&self, c: &Criteria) -> bool {
        self.loss_pct <= c.max_loss_pct && self.offered_pps >= c.sustained * self.requested_pps
    }
}

/// The binary search's state.
#[derive(Debug, Clone)]
pub struct Search {
    criteria: Criteria,
    max: f64,
    min: f64,
    resolution: f64,
    /// Highest passing rate.
    pass: Option<f64>,
    /// Highest rate offered in a passing trial.
    best_offered: Option<f64>,
    /// Lowest failing rate (or the bound a failure implied).
    fail: Option<f64>,
    trials: Vec<(Trial, bool)>,
}

impl Search {
    /// Searches `min..=max` packets per second until the interval is
    /// narrower than `resolution` (a share of the failing rate, e.g. 0.02).
    pub fn new(criteria: Criteria, min: f64, max: f64, resolution: f64) -> Search {
        assert!(min > 0.0 && max >= min && resolution > 0.0, "bad search range");
        Search { criteria, max, min, resolution, pass: None, best_offered: None, fail: None, trials: Vec::new() }
    }

    /// The rate of the next trial, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        match (self.pass, self.fail) {
            (None, None) => Some(self.max),
            (Some(_), None) => None, // the maximum passed
            (pass, Some(fail)) => {
                let lo = pass.unwrap_or(0.0);
                if fail - lo <= self.resolution * fail {
                    return None;
                }
                if pass.is_none() && fail <= self.min {
                    // The bound a failure implied may be the minimum: try it once.
                    let tried = self.trials.iter().any(|(t, _)| t.requested_pps <= self.min);
                    return (!tried).then_some(self.min);
                }
                let mid = ((lo + fail) / 2.0).max(self.min);
                // The minimum failed already: nothing lower is tried.
                (mid < fail).then_some(mid)
            }
        }
    }

    /// Records a trial's outcome; returns whether it passed.
    pub fn record(&mut self, t: Trial) -> bool {
        let ok = t.passes(&self.criteria);
        let rate = t.requested_pps;
        if ok {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
            self.best_offered = Some(self.best_offered.map_or(t.offered_pps, |b| b.max(t.offered_pps)));
        } else {
            let mut bound = rate;
            if self.trials.is_empty() && t.received_pps > 0.0 {
                bound = bound.min(FORWARDED_BOUND * t.received_pps).max(self.min);
            }
            self.fail = Some(self.fail.map_or(bound, |f| f.min(bound)));
        }
        self.trials.push((t, ok));
        ok
    }

    /// The throughput: the highest rate offered in a passing trial, if any passed.
    pub fn result(&self) -> Option<f64> {
        self.best_offered
    }

    /// Whether the maximum itself passed (the result is a lower bound).
    pub fn passed_at_max(&self) -> bool {
        self.pass.is_some_and(|p| p >= self.max)
    }

    /// The trials so far, with whether each passed.
    pub fn trials(&self) -> &[(Trial, bool)] {
        &self.trials
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Criteria = Criteria { max_loss_pct: 0.001, sustained: SUSTAINED };

    /// A device that forwards everything up to `capacity` and drops the excess.
    fn device(capacity: f64, rate: f64) -> Trial {
        let received = rate.min(capacity);
        Trial {
            requested_pps: rate,
            offered_pps: rate,
            received_pps: received,
            loss_pct: 100.0 * (rate - received) / rate,
        }
    }

    fn run(search: &mut Search, capacity: f64) -> usize {
        let mut n = 0;
        while let Some(rate) = search.next_rate() {
            search.record(device(capacity, rate));
            n += 1;
            assert!(n < 50, "the search does not end");
        }
        n
    }

    #[test]
    fn finds_the_capacity_within_the_resolution() {
        for capacity in [1e5, 7.3e5, 2.2e6, 9.99e6] {
            let mut s = Search::new(C, 1e4, 1e7, 0.01);
            let trials = run(&mut s, capacity);
            let r = s.result().unwrap();
            assert!(r <= capacity && r >= capacity * 0.98, "capacity {capacity}: {r}");
            assert!(trials <= 10, "{trials} trials");
            assert!(!s.passed_at_max());
        }
    }

    #[test]
    fn a_capacity_above_the_maximum_takes_one_trial() {
        let mut s = Search::new(C, 1e4, 1e6, 0.01);
        assert_eq!(run(&mut s, 5e6), 1);
        assert_eq!(s.result(), Some(1e6));
        assert!(s.passed_at_max());
    }

    #[test]
    fn nothing_passes_below_the_minimum() {
        let mut s = Search::new(C, 1e5, 1e6, 0.01);
        assert_eq!(run(&mut s, 5e4), 2, "the maximum, then the minimum");
        assert_eq!(s.result(), None);
        assert!(s.trials().iter().all(|(_, ok)| !ok));
    }

    #[test]
    fn a_generator_that_falls_short_fails_the_trial() {
        let t = Trial { requested_pps: 1e6, offered_pps: 0.9e6, received_pps: 0.9e6, loss_pct: 0.0 };
        assert!(!t.passes(&C));
        let t = Trial { requested_pps: 1e6, offered_pps: 0.995e6, received_pps: 0.995e6, loss_pct: 0.0005 };
        assert!(t.passes(&C));
        let t = Trial { loss_pct: 0.002, ..t };
        assert!(!t.passes(&C));
        let loose = Criteria { sustained: 0.95, ..C };
        let t = Trial { requested_pps: 1e6, offered_pps: 0.96e6, received_pps: 0.96e6, loss_pct: 0.0 };
        assert!(t.passes(&loose) && !t.passes(&C));
    }

    #[test]
    fn the_throughput_is_what_was_offered() {
        let mut s = Search::new(Criteria { sustained: 0.95, ..C }, 1e3, 1e6, 0.02);
        s.record(Trial { requested_pps: 1e6, offered_pps: 0.97e6, received_pps: 0.97e6, loss_pct: 0.0 });
        assert_eq!(s.result(), Some(0.97e6));
        assert!(s.passed_at_max());
    }

    #[test]
    fn the_first_failure_bounds_the_search() {
        let mut s = Search::new(C, 1e3, 1e8, 0.02);
        s.record(device(1e6, 1e8));
        // Forwarded 1e6 at 1e8: the next trial is below 1.25e6, not 5e7.
        let next = s.next_rate().unwrap();
        assert!(next <= 1.25e6 && next > 5e5, "{next}");
    }
}
