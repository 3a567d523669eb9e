//! The node's transmit gate, the fence of high availability: a node may
//! transmit only while it holds the lease of its group, up to a deadline
//! the control side moves forward at each renewal. Workers compare the
//! deadline with the TSC once per burst, so a node frozen past its lease
//! (a SIGSTOP, a stalled VM) sends nothing when it wakes up, before its
//! control side has even run.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A deadline in TSC ticks before which the node may transmit.
#[derive(Debug)]
pub struct TransmitGate {
    until_tsc: AtomicU64,
}

impl TransmitGate {
    /// A gate that never closes (a node without a standby).
    pub fn open() -> Self {
        TransmitGate { until_tsc: AtomicU64::new(u64::MAX) }
    }

    /// A closed gate (a standby).
    pub fn closed() -> Self {
        TransmitGate { until_tsc: AtomicU64::new(0) }
    }

    /// Allows transmitting until TSC `until` (a renewed lease's end).
    pub fn open_until(&self, until: u64) {
        self.until_tsc.store(until, Relaxed);
    }

    /// Stops transmitting now (the lease lost).
    pub fn close(&self) {
        self.until_tsc.store(0, Relaxed);
    }

    /// Whether the node may transmit at TSC `now`.
    #[inline(always)]
    pub fn allows(&self, now: u64) -> bool {
        now < self.until_tsc.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_allows_until_its_deadline() {
        assert!(TransmitGate::open().allows(u64::MAX - 1));
        let g = TransmitGate::closed();
        assert!(!g.allows(0));
        g.open_until(1000);
        assert!(g.allows(999) && !g.allows(1000));
        g.close();
        assert!(!g.allows(1));
    }
}
