//! A log-linear histogram of latencies: 64 linear sub-buckets per power of
//! two, so every recorded value is known to within 1/64 (1.6%) whatever its
//! size, in a fixed 26 KiB and one increment per sample.

/// Sub-buckets per power of two (a power of two).
const SUB: u64 = 64;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Values up to 2^(SUB_BITS + GROUPS - 1) are told apart (2^46 cycles: hours).
const GROUPS: usize = 41;
const BUCKETS: usize = SUB as usize * GROUPS;

/// Counts of values (e.g. TSC cycles) in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: Box::new([0; BUCKETS]), total: 0, sum: 0, min: u64::MAX, max: 0 }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("total", &self.total).field("min", &self.min).field("max", &self.max).finish()
    }
}

/// The bucket of `v`: values below [`SUB`] have their own; above, the
/// power of two picks a group and the next [`SUB_BITS`] bits the bucket.
#[inline]
fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let group = (exp - SUB_BITS + 1) as usize;
    let sub = ((v >> (exp - SUB_BITS)) & (SUB - 1)) as usize;
    (group * SUB as usize + sub).min(BUCKETS - 1)
}

/// The smallest value of bucket `b`.
fn bucket_low(b: usize) -> u64 {
    let (group, sub) = (b / SUB as usize, (b % SUB as usize) as u64);
    if group == 0 {
        return sub;
    }
    let exp = group as u32 + SUB_BITS - 1;
    (1u64 << exp) | (sub << (exp - SUB_BITS))
}

/// The width of bucket `b`.
fn bucket_width(b: usize) -> u64 {
    let group = b / SUB as usize;
    if group <= 1 {
        1
    } else {
        1u64 << (group as u32 - 1)
    }
}

impl Histogram {
    /// Counts one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Smallest value, if any.
    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    /// Largest value, if any.
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// Mean value, if any.
    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum as f64 / self.total as f64)
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding
    /// the `ceil(q * count)`-th smallest value, clamped to the observed
    /// minimum and maximum; the maximum itself for the last rank.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank >= self.total {
            return Some(self.max);
        }
        let mut seen = 0;
        for (b, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let mid = bucket_low(b) + (bucket_width(b) - 1) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut prev_end = 0;
        for b in 0..BUCKETS - 1 {
            assert_eq!(bucket_low(b), prev_end, "bucket {b}");
            prev_end = bucket_low(b) + bucket_width(b);
            assert_eq!(bucket(bucket_low(b)), b);
            assert_eq!(bucket(prev_end - 1), b);
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 0..64 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(31));
        assert_eq!(h.quantile(1.0), Some(63));
        assert_eq!(h.quantile(0.0), Some(0));
    }

    #[test]
    fn percentiles_of_a_uniform_range_within_the_precision() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for (q, want) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 1.0 / 64.0, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.min(), Some(10));
        assert_eq!(h.max(), Some(1_000_000));
        assert_eq!(h.mean(), Some(500_005.0));
    }

    #[test]
    fn a_tail_shows_in_the_high_percentiles_only() {
        // 99.8% at ~20 us, 0.2% at ~5 ms (in cycles at 1 GHz: ns).
        let mut h = Histogram::default();
        for i in 0..99_800u64 {
            h.record(20_000 + i % 100);
        }
        for _ in 0..200 {
            h.record(5_000_000);
        }
        assert!(h.quantile(0.5).unwrap().abs_diff(20_050) < 400);
        assert!(h.quantile(0.99).unwrap().abs_diff(20_050) < 400);
        assert!(h.quantile(0.999).unwrap().abs_diff(5_000_000) < 80_000);
    }

    #[test]
    fn merge_and_clear() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(100);
        b.record(300);
        b.record(200);
        a.merge(&b);
        assert_eq!((a.count(), a.min(), a.max()), (3, Some(100), Some(300)));
        assert_eq!(a.quantile(0.5), Some(200));
        a.clear();
        assert_eq!((a.count(), a.quantile(0.5), a.min()), (0, None, None));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let mut h = Histogram::default();
        h.record(u64::MAX);
        h.record(1);
        assert_eq!(h.max(), Some(u64::MAX));
        assert_eq!(h.quantile(1.0), Some(u64::MAX));
    }
}
