//! What `rtpgen` reports (one JSON object per run), and the benchmark's
//! scenario table built from several runs: `perf/results/latest.json` and
//! its markdown rendering.

use serde::{Deserialize, Serialize};

use crate::search::Criteria;
use crate::session::Direction;
use crate::stats::Summary;
use crate::usage::{stages_line, Usage};

/// One measurement with what the relay spent on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The traffic.
    pub summary: Summary,
    /// The relay's side.
    #[serde(default)]
    pub usage: Usage,
    /// Whether it met the search's criteria (searches only).
    #[serde(default)]
    pub passed: bool,
}

/// rtpgen's report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// A label given on the command line.
    pub label: String,
    /// Who set the calls up: `mediafwd`, `rtpengine`, `loopback`, `file`.
    pub relay: String,
    /// Sessions.
    pub sessions: u32,
    /// Streams sent.
    pub streams: u64,
    /// Which way media flowed.
    pub direction: Direction,
    /// The SRTP suite of leg a and leg b, if any.
    pub srtp: [Option<String>; 2],
    /// Bytes of leg a's frames on the wire.
    pub frame_bytes: usize,
    /// Packet time, milliseconds.
    pub ptime_ms: f64,
    /// Seconds the relay took to set the sessions up.
    pub setup_seconds: f64,
    /// Streams that came back in the warm-up.
    pub warm_streams: u64,
    /// The search's criteria (a search), or none (a run at a fixed rate).
    pub criteria: Option<Criteria>,
    /// The highest rate meeting the criteria (a search).
    pub throughput_pps: Option<f64>,
    /// The search's maximum passed: the throughput is at least that.
    #[serde(default)]
    pub passed_at_max: bool,
    /// Every trial, in order.
    pub trials: Vec<Measured>,
    /// The run at a fixed rate, or the search's best passing trial.
    pub result: Option<Measured>,
    /// Frames that were not our streams' (or came from an earlier trial).
    pub strays: u64,
    /// The relay's own account after the run (mediafwd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<crate::setup::mediafwd::NodeReport>,
}

impl RunReport {
    /// Whether the generator, not the relay, set the limit: the search's
    /// maximum passed, or trials failed without the relay pushing back or
    /// losing packets (the generator could not offer the rate).
    pub fn generator_bound(&self) -> bool {
        if self.passed_at_max {
            return true;
        }
        let Some(c) = self.criteria else { return false };
        let failed: Vec<_> = self.trials.iter().filter(|t| !t.passed).collect();
        !failed.is_empty()
            && failed.iter().all(|t| {
                t.summary.loss_pct <= c.max_loss_pct
                    && t.summary.tx_blocked_pct < 5.0
                    && t.usage.worker_busy_pct.is_none_or(|b| b < 90.0)
            })
    }
}

/// One row of the scenario table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Short key (`plain-1k`, `testpmd`, ...), for ratios.
    pub id: String,
    /// What is measured (`plain RTP, 1k sessions`).
    pub scenario: String,
    /// The forwarder (`mediafwd`, `testpmd io`, `rtpengine`).
    pub relay: String,
    /// The link (`memif`, `veth, af_xdp`).
    pub link: String,
    /// The transform (`RTP->RTP`, `RTP->SRTP`, ...).
    pub transform: String,
    /// The row this one is compared with (its `id`), if any.
    #[serde(default)]
    pub compare_to: Option<String>,
    /// rtpgen's report, if the scenario ran.
    #[serde(default)]
    pub report: Option<RunReport>,
    /// Why it did not run, or what to know about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// CPUs online.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// DPDK version.
    pub dpdk: String,
    /// Load average (1 minute) before and after.
    pub load: [f64; 2],
}

/// `perf/results/latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    /// When (UTC, RFC 3339).
    pub date: String,
    /// The command that produced it.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Seconds per trial.
    pub trial_seconds: f64,
    /// The loss criterion, percent.
    pub max_loss_pct: f64,
    /// The rows.
    pub rows: Vec<Row>,
}

fn kpps(pps: f64) -> String {
    if pps >= 10_000.0 {
        format!("{:.0}", pps / 1e3)
    } else {
        format!("{:.1}", pps / 1e3)
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

impl Row {
    /// The throughput, packets per second.
    pub fn throughput(&self) -> Option<f64> {
        self.report.as_ref()?.throughput_pps
    }

    /// The relay's busy share at the throughput: mediafwd's worker busy
    /// share if known, else the process's CPU.
    pub fn busy_pct(&self) -> Option<f64> {
        let u = &self.report.as_ref()?.result.as_ref()?.usage;
        u.worker_busy_pct.or(u.process_cpu_pct)
    }

    /// mediafwd's worker time per packet received at the throughput, ns
    /// (polls that received nothing excluded; scaled by the worker thread's
    /// on-CPU share where known), and its mean RX burst.
    pub fn worker_cost(&self) -> (Option<f64>, Option<f64>) {
        let Some(u) = self.report.as_ref().and_then(|r| r.result.as_ref()).map(|m| &m.usage) else {
            return (None, None);
        };
        // The kernel's pauses of the worker fall in busy and idle polls
        // alike (in proportion to their time): only the on-CPU share of the
        // busy time is the worker's.
        let on_cpu = u.worker_on_cpu_pct.map_or(1.0, |c| (c / 100.0).min(1.0));
        (u.worker_ns_per_packet.map(|ns| ns * on_cpu), u.worker_burst)
    }

    /// mediafwd's worker time per packet by stage of the burst ("receive
    /// 40 / pipeline 120 / ... / stalled 30"), not scaled: the kernel's
    /// pauses are in `stalled` (polls over 100 µs), not in the others;
    /// empty where the relay does not export its stages.
    pub fn worker_stages(&self) -> String {
        let Some(u) = self.report.as_ref().and_then(|r| r.result.as_ref()).map(|m| &m.usage) else {
            return String::new();
        };
        stages_line(&u.worker_stage_ns, 1.0)
    }

    /// Throughput over busy share: what one core of the relay would carry
    /// if the generator could offer more (a linear estimate).
    pub fn capacity(&self) -> Option<f64> {
        let b = self.busy_pct()?;
        (b > 1.0).then(|| self.throughput().unwrap_or(0.0) * 100.0 / b)
    }
}

impl BenchResults {
    fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// The ratio of row `r`'s throughput to that of the row it compares with.
    pub fn ratio(&self, r: &Row) -> Option<f64> {
        let other = self.row(r.compare_to.as_deref()?)?;
        Some(r.throughput()? / other.throughput()?)
    }

    /// The markdown table.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "Throughput: highest offered rate with loss <= {}% (RFC 2544 binary search, {} s trials). \
             Latency at that rate. `>=`: the generator's limit, not the relay's.\n\n",
            self.max_loss_pct, self.trial_seconds
        ));
        s.push_str(
            "| scenario | relay | link | transform | throughput kpps | ratio | latency p50 / p99 / p99.9 µs | \
             jitter p99 µs | relay busy % | 1-core capacity kpps | relay ns/packet | RX burst | worker on CPU % | \
             relay ns/packet by stage |\n",
        );
        s.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for r in &self.rows {
            let Some(report) = &r.report else {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | not run: {} | | | | | | | | | |\n",
                    r.scenario,
                    r.relay,
                    r.link,
                    r.transform,
                    r.note.as_deref().unwrap_or("no report")
                ));
                continue;
            };
            let thr = match r.throughput() {
                Some(t) if report.generator_bound() => format!(">= {}", kpps(t)),
                Some(t) => kpps(t),
                None => "none".to_string(),
            };
            let ratio = match (self.ratio(r), &r.compare_to) {
                (Some(x), Some(to)) => format!("{x:.2} of {}", self.row(to).map_or(to.as_str(), |o| o.relay.as_str())),
                _ => String::new(),
            };
            let res = report.result.as_ref().map(|m| &m.summary);
            let lat = res
                .and_then(|s| s.latency_us)
                .map_or_else(|| "–".to_string(), |l| format!("{:.0} / {:.0} / {:.0}", l.p50, l.p99, l.p999));
            let jit = opt(res.and_then(|s| s.jitter_us).map(|j| j.p99), 1);
            let (ns, burst) = r.worker_cost();
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.scenario,
                r.relay,
                r.link,
                r.transform,
                thr,
                ratio,
                lat,
                jit,
                opt(r.busy_pct(), 0),
                r.capacity().map_or_else(|| "–".to_string(), kpps),
                opt(ns, 0),
                opt(burst, 1),
                opt(report.result.as_ref().and_then(|m| m.usage.worker_on_cpu_pct), 0),
                r.worker_stages(),
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Latency;

    fn report(throughput: f64, busy: Option<f64>, at_max: bool) -> RunReport {
        let summary = Summary {
            latency_us: Some(Latency { min: 5.0, p50: 12.4, p99: 40.2, p999: 95.0, max: 300.0, mean: 14.0 }),
            jitter_us: Some(crate::stats::Jitter { mean: 1.0, p99: 2.25, max: 5.0 }),
            ..Summary::default()
        };
        let result = Measured {
            summary,
            usage: Usage { worker_busy_pct: busy, process_cpu_pct: Some(100.0), ..Usage::default() },
            passed: true,
        };
        RunReport {
            label: String::new(),
            relay: "mediafwd".into(),
            sessions: 1000,
            streams: 1000,
            direction: Direction::AToB,
            srtp: [None, None],
            frame_bytes: 214,
            ptime_ms: 20.0,
            setup_seconds: 0.5,
            warm_streams: 1000,
            criteria: Some(Criteria { max_loss_pct: 0.001, sustained: 0.99 }),
            throughput_pps: Some(throughput),
            passed_at_max: at_max,
            trials: vec![result.clone()],
            result: Some(result),
            strays: 0,
            node: None,
        }
    }

    /// `r` with mediafwd's worker cost known.
    fn costed(mut r: RunReport) -> RunReport {
        let u = &mut r.result.as_mut().unwrap().usage;
        (u.worker_ns_per_packet, u.worker_burst, u.worker_on_cpu_pct) = (Some(200.0), Some(12.5), Some(50.0));
        u.worker_stage_ns = [("receive", 30.0), ("pipeline", 120.0), ("sort", 10.0), ("transmit", 40.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        r
    }

    fn row(id: &str, relay: &str, report: RunReport, compare_to: Option<&str>) -> Row {
        Row {
            id: id.into(),
            scenario: "plain RTP, 1k sessions".into(),
            relay: relay.into(),
            link: "memif".into(),
            transform: "RTP->RTP".into(),
            compare_to: compare_to.map(str::to_string),
            report: Some(report),
            note: None,
        }
    }

    #[test]
    fn table_rendering() {
        let r = BenchResults {
            date: "2025-01-01T00:00:00Z".into(),
            command: "perf/bench".into(),
            machine: Machine::default(),
            trial_seconds: 2.0,
            max_loss_pct: 0.001,
            rows: vec![
                row("testpmd", "testpmd io", report(4_000_000.0, None, true), None),
                row("plain-1k", "mediafwd", costed(report(2_500_000.0, Some(50.0), false)), Some("testpmd")),
                row("slow", "mediafwd", report(8_000.0, Some(0.5), false), Some("missing")),
                Row {
                    report: None,
                    note: Some("SRTP is not available on this node".into()),
                    ..row("srtp", "mediafwd", report(1.0, None, false), None)
                },
            ],
        };
        let md = r.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "Throughput: highest offered rate with loss <= 0.001% (RFC 2544 binary search, 2 s trials). Latency at that rate. `>=`: the generator's limit, not the relay's.");
        assert_eq!(lines[2].matches('|').count(), 15);
        assert_eq!(
            lines[4],
            "| plain RTP, 1k sessions | testpmd io | memif | RTP->RTP | >= 4000 |  | 12 / 40 / 95 | 2.2 | 100 | 4000 | – | – | – |  |"
        );
        assert_eq!(lines[5], "| plain RTP, 1k sessions | mediafwd | memif | RTP->RTP | 2500 | 0.62 of testpmd io | 12 / 40 / 95 | 2.2 | 50 | 5000 | 100 | 12.5 | 50 | receive 30 / pipeline 120 / sort 10 / transmit 40 |");
        assert_eq!(
            lines[6],
            "| plain RTP, 1k sessions | mediafwd | memif | RTP->RTP | 8.0 |  | 12 / 40 / 95 | 2.2 | 0 | – | – | – | – |  |"
        );
        // The JSON file round-trips.
        let back: BenchResults = serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn generator_bound_when_failures_show_no_loss_and_no_push_back() {
        let mut r = report(1e6, Some(40.0), false);
        let mut failed = r.trials[0].clone();
        failed.passed = false;
        failed.summary.offered_pps = 0.9e6;
        r.trials.push(failed.clone());
        assert!(r.generator_bound());
        failed.summary.loss_pct = 0.5;
        r.trials[1] = failed;
        assert!(!r.generator_bound());
        assert!(report(1e6, None, true).generator_bound());
    }
}
