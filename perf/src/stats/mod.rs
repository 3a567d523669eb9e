//! Receive statistics of the generator: per-stream sequence accounting and
//! jitter ([`stream`]), latency distribution ([`histogram`]), and their
//! summary over a measurement ([`Summary`]).

pub mod histogram;
pub mod stream;

use serde::{Deserialize, Serialize};

pub use histogram::Histogram;
pub use stream::{Arrival, RxCounts, StreamRx};

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// The percentiles of `h`, whose values are TSC cycles at `tsc_hz`.
    pub fn from_cycles(h: &Histogram, tsc_hz: u64) -> Option<Latency> {
        let us = |c: u64| c as f64 * 1e6 / tsc_hz as f64;
        Some(Latency {
            min: us(h.min()?),
            p50: us(h.quantile(0.5)?),
            p99: us(h.quantile(0.99)?),
            p999: us(h.quantile(0.999)?),
            max: us(h.max()?),
            mean: h.mean()? * 1e6 / tsc_hz as f64,
        })
    }
}

/// Interarrival jitter over the streams (each stream's RFC 3550 estimate at
/// the end of the measurement), microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Jitter {
    /// Mean over streams.
    pub mean: f64,
    /// 99th percentile over streams.
    pub p99: f64,
    /// Largest stream's.
    pub max: f64,
}

impl Jitter {
    /// From per-stream jitters in TSC cycles at `tsc_hz`.
    pub fn from_cycles(mut per_stream: Vec<f64>, tsc_hz: u64) -> Option<Jitter> {
        if per_stream.is_empty() {
            return None;
        }
        per_stream.sort_by(f64::total_cmp);
        let us = |c: f64| c * 1e6 / tsc_hz as f64;
        let n = per_stream.len();
        let p99 = per_stream[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
        Some(Jitter { mean: us(per_stream.iter().sum::<f64>() / n as f64), p99: us(p99), max: us(per_stream[n - 1]) })
    }
}

/// What a measurement (one trial, or a whole fixed-rate run) showed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Seconds of sending.
    pub seconds: f64,
    /// Packets per second asked for.
    pub requested_pps: f64,
    /// Packets per second the port took.
    pub offered_pps: f64,
    /// Packets per second that came back (distinct, of this measurement).
    pub received_pps: f64,
    /// Packets sent.
    pub sent: u64,
    /// Distinct packets received.
    pub received: u64,
    /// Packets sent and never received.
    pub lost: u64,
    /// `lost / sent`, percent.
    pub loss_pct: f64,
    /// Copies of packets already received.
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number of their stream.
    pub reordered: u64,
    /// Streams that sent.
    pub streams: u64,
    /// Streams that lost at least one packet.
    pub streams_with_loss: u64,
    /// One-way latency, from the send time in the payload to reception.
    pub latency_us: Option<Latency>,
    /// Interarrival jitter per stream.
    pub jitter_us: Option<Jitter>,
    /// SRTP packets that failed authentication (or replay checks) here.
    pub auth_failures: u64,
    /// Frames to a stream's address that came from the wrong relay address.
    pub misrouted: u64,
    /// Share of the sending time the port's ring was full (the receiver of
    /// our packets was the bottleneck), percent.
    pub tx_blocked_pct: f64,
    /// Packets built (and sealed, with SRTP) per burst, mean: what the
    /// generator handed its SRTP engine and its port at a time.
    #[serde(default)]
    pub tx_burst: f64,
    /// Share of the sending time the generator spent in loops that built,
    /// sent or received packets (not in loops that found nothing to do nor
    /// in those its full ring refused), percent: near 100 the generator
    /// was its own limit.
    #[serde(default)]
    pub gen_busy_pct: f64,
    /// Share of the sending time the generator's thread was on a CPU
    /// (schedstat), percent; below 100 the kernel ran something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_on_cpu_pct: Option<f64>,
    /// Totals of each direction (calls sending both ways).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directions: Vec<DirectionTotals>,
}

/// The packets of one direction of the calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectionTotals {
    /// `a->b` (callers to callees) or `b->a`.
    pub direction: String,
    /// Packets sent.
    pub sent: u64,
    /// Distinct packets received.
    pub received: u64,
    /// Packets lost.
    pub lost: u64,
    /// Packets per second sent.
    pub offered_pps: f64,
    /// Packets per second received.
    pub received_pps: f64,
}

/// One stream's share of a measurement.
#[derive(Debug, Clone, Copy)]
pub struct StreamResult {
    /// Packets it sent.
    pub sent: u64,
    /// What came back of them.
    pub counts: RxCounts,
    /// Its jitter, TSC cycles.
    pub jitter: f64,
}

/// Adds up streams into a [`Summary`]; the caller fills in the rates,
/// counters not kept per stream, and the latency.
pub fn summarize(streams: impl IntoIterator<Item = StreamResult>, latency: &Histogram, tsc_hz: u64) -> Summary {
    let mut s = Summary::default();
    let mut jitters = Vec::new();
    for r in streams {
        if r.sent == 0 {
            continue;
        }
        s.streams += 1;
        s.sent += r.sent;
        s.received += r.counts.received;
        s.duplicates += r.counts.duplicates;
        s.reordered += r.counts.reordered;
        let lost = r.sent.saturating_sub(r.counts.received);
        s.lost += lost;
        s.streams_with_loss += u64::from(lost > 0);
        if r.counts.received > 1 {
            jitters.push(r.jitter);
        }
    }
    s.loss_pct = if s.sent == 0 { 0.0 } else { 100.0 * s.lost as f64 / s.sent as f64 };
    s.latency_us = Latency::from_cycles(latency, tsc_hz);
    s.jitter_us = Jitter::from_cycles(jitters, tsc_hz);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_adds_streams_and_ignores_silent_ones() {
        let r = |sent, received, duplicates, reordered, jitter| StreamResult {
            sent,
            counts: RxCounts { received, duplicates, reordered },
            jitter,
        };
        let mut h = Histogram::default();
        for v in [1000, 2000, 3000] {
            h.record(v);
        }
        // 1 GHz: cycles are nanoseconds.
        let s = summarize(
            [r(100, 100, 0, 0, 500.0), r(100, 97, 2, 1, 1500.0), r(0, 0, 0, 0, 0.0), r(50, 50, 0, 0, 1000.0)],
            &h,
            1_000_000_000,
        );
        assert_eq!((s.streams, s.sent, s.received, s.lost), (3, 250, 247, 3));
        assert_eq!((s.duplicates, s.reordered, s.streams_with_loss), (2, 1, 1));
        assert!((s.loss_pct - 1.2).abs() < 1e-9);
        let l = s.latency_us.unwrap();
        assert_eq!((l.min, l.max), (1.0, 3.0));
        assert!((l.p50 - 2.0).abs() < 2.0 / 64.0, "{}", l.p50);
        let j = s.jitter_us.unwrap();
        assert_eq!((j.mean, j.p99, j.max), (1.0, 1.5, 1.5));
    }

    #[test]
    fn more_received_than_sent_is_not_negative_loss() {
        let s = summarize(
            [StreamResult { sent: 10, counts: RxCounts { received: 12, ..Default::default() }, jitter: 0.0 }],
            &Histogram::default(),
            1,
        );
        assert_eq!((s.lost, s.loss_pct), (0, 0.0));
        assert_eq!(s.latency_us, None);
    }

    #[test]
    fn jitter_percentile_over_many_streams() {
        let j = Jitter::from_cycles((1..=1000).map(|v| v as f64).collect(), 1_000_000).unwrap();
        assert_eq!((j.p99, j.max), (990.0, 1000.0));
        assert!((j.mean - 500.5).abs() < 1e-9);
    }
}
