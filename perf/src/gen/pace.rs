//! When the generator builds its next TX burst: once a whole burst is due,
//! or once the oldest packet due has waited long enough. Sealing SRTP a
//! packet or two at a time (a fast loop, a port that took part of a burst)
//! costs ipsec-mb several times a full burst's share per packet, and hands
//! the relay the same small bursts; gathering keeps both at full bursts,
//! and the wait bound keeps pacing honest at rates where a burst takes
//! longer than that to fall due.

/// Packets to build now: `due` packets are due and not yet built, the
/// oldest of them `late` cycles ago; `full` is a whole burst (every sending
/// port's), `max_wait` the cycles the oldest may wait for the rest.
pub fn to_build(due: u64, late: u64, full: u64, max_wait: u64) -> u64 {
    if due == 0 {
        0
    } else if due >= full || late >= max_wait {
        due.min(full)
    } else {
        0
    }
}

/// The TSC from which `n` packets are due in a run that started at `start`
/// at `rate_per_cycle` packets a cycle (the run counts `(now - start) *
/// rate_per_cycle` packets due at `now`).
pub fn due_at(start: u64, n: u64, rate_per_cycle: f64) -> u64 {
    start + (n as f64 / rate_per_cycle).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_whole_burst() {
        assert_eq!(to_build(0, 1_000_000, 32, 100), 0);
        assert_eq!(to_build(1, 0, 32, 100), 0);
        assert_eq!(to_build(31, 99, 32, 100), 0);
        assert_eq!(to_build(32, 0, 32, 100), 32);
    }

    #[test]
    fn never_more_than_a_burst() {
        assert_eq!(to_build(33, 0, 32, 100), 32);
        assert_eq!(to_build(10_000, 10_000, 64, 100), 64);
    }

    #[test]
    fn a_late_packet_goes_with_what_is_due() {
        assert_eq!(to_build(1, 100, 32, 100), 1);
        assert_eq!(to_build(5, 250, 32, 100), 5);
    }

    #[test]
    fn no_wait_builds_every_packet_due() {
        assert_eq!(to_build(1, 0, 32, 0), 1);
        assert_eq!(to_build(0, 0, 32, 0), 0);
    }

    #[test]
    fn due_times_follow_the_rate() {
        // A packet every 2,048 cycles (1.27 Mpps on a 2.6 GHz TSC).
        let r = 1.0 / 2048.0;
        assert_eq!(due_at(500, 0, r), 500);
        assert_eq!(due_at(500, 1, r), 2_548);
        assert_eq!(due_at(500, 32, r), 66_036);
        let now = due_at(500, 32, r);
        assert_eq!(((now - 500) as f64 * r) as u64, 32);
    }

    #[test]
    fn at_a_low_rate_the_wait_bounds_the_delay() {
        // A packet every 131,072 cycles (20 kpps on a 2.6 GHz TSC), a wait
        // of half that: the first packet waits 65,536 cycles for company,
        // then goes alone, not with 31 more 4 M cycles later.
        let (r, wait) = (1.0 / 131_072.0, 65_536);
        let first = due_at(0, 1, r);
        assert_eq!(first, 131_072);
        for (now, built) in [(140_000u64, 0), (196_608, 1), (262_143, 1), (262_144, 2)] {
            let due = (now as f64 * r) as u64;
            assert_eq!(to_build(due, now - first, 32, wait), built, "at {now}");
        }
    }
}
