//! Replay protection over packet indexes (RFC 3711 §3.3.2).
//!
//! The window remembers the highest index accepted and which of the indexes
//! behind it, up to the window size, were seen: a ring of bits addressed by
//! `index % WINDOW_BITS`, so advancing clears only the bits it passes.

use super::error::SrtpError;

/// Bits in the ring: the largest window size supported.
pub(crate) const WINDOW_BITS: u64 = 256;

/// Highest index accepted plus the ring of seen indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    /// `None` until the first index is accepted.
    top: Option<u64>,
    bits: [u64; (WINDOW_BITS / 64) as usize],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow { top: None, bits: [0; (WINDOW_BITS / 64) as usize] }
    }
}

impl ReplayWindow {
    /// The highest index accepted so far.
    pub(crate) fn top(&self) -> Option<u64> {
        self.top
    }

    /// Whether `index` may be accepted with a window of `size` packets
    /// (`size <= WINDOW_BITS`).
    pub(crate) fn check(&self, index: u64, size: u64) -> Result<(), SrtpError> {
        let Some(top) = self.top else {
            return Ok(());
        };
        if index > top {
            return Ok(());
        }
        if top - index >= size {
            return Err(SrtpError::TooOld);
        }
        if self.is_set(index) {
            return Err(SrtpError::Replayed);
        }
        Ok(())
    }

    /// Marks `index` seen, sliding the window forward if it is the new highest.
    /// Call only after `check` passed and the packet authenticated.
    pub(crate) fn accept(&mut self, index: u64) {
        match self.top {
            Some(top) if index <= top => {}
            Some(top) if index - top < WINDOW_BITS => {
                for passed in top + 1..index {
                    self.clear(passed);
                }
                self.top = Some(index);
            }
            _ => {
                self.bits = [0; (WINDOW_BITS / 64) as usize];
                self.top = Some(index);
            }
        }
        let bit = index % WINDOW_BITS;
        self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
    }

    fn is_set(&self, index: u64) -> bool {
        let bit = index % WINDOW_BITS;
        self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn clear(&mut self, index: u64) {
        let bit = index % WINDOW_BITS;
        self.bits[(bit / 64) as usize] &= !(1 << (bit % 64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replayed_and_too_old() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(1000, 128), Ok(()));
        w.accept(1000);
        assert_eq!(w.check(1000, 128), Err(SrtpError::Replayed));
        assert_eq!(w.check(999, 128), Ok(()));
        assert_eq!(w.check(1000 - 127, 128), Ok(()));
        assert_eq!(w.check(1000 - 128, 128), Err(SrtpError::TooOld));
        w.accept(990);
        assert_eq!(w.check(990, 128), Err(SrtpError::Replayed));
        w.accept(1200);
        assert_eq!(w.check(990, 128), Err(SrtpError::TooOld));
        assert_eq!(w.check(1100, 128), Ok(()));
        w.accept(100_000);
        assert_eq!(w.check(1200, 256), Err(SrtpError::TooOld));
        assert_eq!(w.check(100_000 - 200, 256), Ok(()));
    }

    proptest! {
        /// The ring behaves like a set of every index ever accepted, seen
        /// through a window of `size` behind the highest.
        #[test]
        fn matches_a_set(size in 1u64..=WINDOW_BITS, ops in proptest::collection::vec(0u64..600, 1..200)) {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            for index in ops {
                let expected = match seen.last() {
                    None => Ok(()),
                    Some(&top) if index > top => Ok(()),
                    Some(&top) if top - index >= size => Err(SrtpError::TooOld),
                    _ if seen.contains(&index) => Err(SrtpError::Replayed),
                    _ => Ok(()),
                };
                prop_assert_eq!(w.check(index, size), expected);
                if expected.is_ok() {
                    w.accept(index);
                    seen.insert(index);
                }
            }
        }
    }
}
