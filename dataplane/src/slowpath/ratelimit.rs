//! Token buckets: how many replies an interface may send.
//!
//! Echo requests, ARP requests and Neighbor Solicitations are what an
//! outsider can send at any rate, with any source; the buckets bound the
//! replies the slow path puts on the wire, so that mediafwd is not an
//! amplifier for spoofed requests. (The workers' policer,
//! [`police`](super::police), bounds what reaches the slow path at all.)

use std::time::Instant;

/// Tokens are kept in billionths, so that a refill over any elapsed
/// nanoseconds is exact in integers.
const SCALE: u128 = 1_000_000_000;

/// Up to `burst` at once, `rate` per second sustained.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u128,
    cap: u128,
    tokens: u128,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate` per second.
    pub fn new(rate: u32, burst: u32) -> Self {
        let cap = u128::from(burst) * SCALE;
        TokenBucket { rate: u128::from(rate), cap, tokens: cap, last: None }
    }

    /// Takes one token if there is one at `now`. Time going backwards
    /// refills nothing.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_nanos();
            self.tokens = self.tokens.saturating_add(elapsed.saturating_mul(self.rate)).min(self.cap);
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        if self.tokens >= SCALE {
            self.tokens -= SCALE;
            true
        } else {
            false
        }
    }
}

/// An interface's reply budgets.
#[derive(Debug, Clone)]
pub struct ReplyLimits {
    /// Echo replies (ICMP and ICMPv6).
    pub echo: TokenBucket,
    /// ARP replies and Neighbor Advertisements.
    pub neighbor: TokenBucket,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 100);
        assert_eq!((0..150).filter(|_| b.try_take(t0)).count(), 100);
        // 1 ms refills one token.
        assert!(b.try_take(t0 + Duration::from_millis(1)));
        assert!(!b.try_take(t0 + Duration::from_millis(1)));
        // Half a millisecond twice makes one token.
        assert!(!b.try_take(t0 + Duration::from_micros(1500)));
        assert!(b.try_take(t0 + Duration::from_micros(2000)));
        // A long pause refills to the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..150).filter(|_| b.try_take(later)).count(), 100);
        // Time going backwards refills nothing.
        assert!(!b.try_take(t0));
        // One second of requests at 2000/s: the one token held, then 1000 more.
        let mut b = TokenBucket::new(1000, 1);
        let sent = (0..=2000).filter(|i| b.try_take(t0 + Duration::from_micros(500 * i))).count();
        assert_eq!(sent, 1001);
    }

    #[test]
    fn zero_rate_and_burst_refuse() {
        let mut b = TokenBucket::new(0, 0);
        let t0 = Instant::now();
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(10)));
    }
}
