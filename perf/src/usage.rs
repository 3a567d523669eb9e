//! What the device under test spent during a measurement: CPU time of its
//! process and of a core (from /proc), and mediafwd's own worker counters
//! (from its Prometheus endpoint).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mediafwd_dataplane::stats::Stage;
use serde::{Deserialize, Serialize};

/// Linux reports /proc CPU times in USER_HZ, 100 per second on every
/// architecture mediafwd runs on.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) a process and all its threads used.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// Seconds on a CPU of a process's DPDK worker threads (`rte-worker-N`),
/// summed, from their schedstat (nanoseconds run).
pub fn worker_thread_seconds(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("rte-worker") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        found = true;
    }
    found.then_some(ns as f64 / 1e9)
}

/// Busy and total seconds of CPU `cpu` (busy: everything but idle and iowait).
pub fn core_seconds(cpu: usize) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_core(&stat, cpu)
}

fn parse_core(stat: &str, cpu: usize) -> Option<(f64, f64)> {
    let name = format!("cpu{cpu}");
    let line = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal guest guest_nice;
    // guest time is already in user.
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some(((total - idle) as f64 / USER_HZ, total as f64 / USER_HZ))
}

/// Prometheus text: the sum of `name`'s samples whose labels include
/// every `(label, value)` of `filter`.
pub fn metric_sum(text: &str, name: &str, filter: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (head, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (metric, labels) = match head.split_once('{') {
            Some((m, l)) => (m, l.trim_end_matches('}')),
            None => (head, ""),
        };
        if metric != name {
            continue;
        }
        let ok = filter.iter().all(|(k, v)| labels.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if ok {
            sum += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// Prometheus text: `name`'s samples summed by the value of `label`.
pub fn metric_by_label(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let key = format!("{label}=\"");
    for line in text.lines().filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{')) {
        let Some((head, value)) = line.rsplit_once(' ') else { continue };
        let Some(at) = head.find(&key) else { continue };
        let rest = &head[at + key.len()..];
        let Some(end) = rest.find('"') else { continue };
        *out.entry(rest[..end].to_string()).or_default() += value.parse::<f64>().unwrap_or(0.0);
    }
    out
}

/// `GET /metrics` from `addr` (plain HTTP/1.1).
pub fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// Each stage's seconds between two readings (by stage name, as
/// `mediafwd_worker_stage_seconds_total` labels them) over the `packets`
/// received meanwhile: ns per packet. Empty without packets or stages.
pub fn stage_ns_per_packet(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    packets: f64,
) -> BTreeMap<String, f64> {
    if packets <= 0.0 {
        return BTreeMap::new();
    }
    after
        .iter()
        .map(|(stage, s)| (stage.clone(), 1e9 * (s - before.get(stage).copied().unwrap_or(0.0)) / packets))
        .collect()
}

/// `ns` by stage in the order a burst goes through them ("receive 40 /
/// pipeline 120 / ..."), each scaled by `scale`; empty if no stage is known.
pub fn stages_line(ns: &BTreeMap<String, f64>, scale: f64) -> String {
    Stage::ALL
        .iter()
        .filter_map(|s| ns.get(s.name()).map(|v| format!("{} {:.0}", s.name(), v * scale)))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// A process (the relay).
    pub pid: Option<u32>,
    /// A file that will hold the relay's process id (written once the relay
    /// starts, after the generator): its DPDK worker threads' CPU time.
    pub pid_file: Option<std::path::PathBuf>,
    /// A CPU (the relay's worker core).
    pub cpu: Option<usize>,
    /// mediafwd's metrics endpoint.
    pub metrics: Option<SocketAddr>,
}

/// A reading of everything watched.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    process: Option<f64>,
    core: Option<(f64, f64)>,
    metrics: Option<String>,
    workers: Option<f64>,
}

/// What the device under test spent between two samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The process's CPU time per second, percent of one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_cpu_pct: Option<f64>,
    /// The core's busy time (any task, interrupts), percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_busy_pct: Option<f64>,
    /// mediafwd's workers: share of their loop in polls that received packets, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_busy_pct: Option<f64>,
    /// mediafwd's workers: time in polls that received packets (receive,
    /// the pipeline, transmit) per packet received, ns. Polls that found
    /// nothing are not in it, so it does not fall as the offered load falls;
    /// it rises as bursts shrink, by each poll's fixed cost over fewer packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_ns_per_packet: Option<f64>,
    /// mediafwd's workers: packets per poll that received any (the mean RX
    /// burst; 32 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_burst: Option<f64>,
    /// mediafwd's worker threads: share of the wall-clock time they were on
    /// a CPU, percent (schedstat). Below 100 the kernel ran something else
    /// on the worker's core, and the TSC-timed busy share and time per
    /// packet above include those pauses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_on_cpu_pct: Option<f64>,
    /// mediafwd's workers: `worker_ns_per_packet` by stage of the burst
    /// (receive, pipeline, srtp, sort, transmit), ns per packet received.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub worker_stage_ns: BTreeMap<String, f64>,
    /// mediafwd's drops by reason in the interval.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drops: BTreeMap<String, f64>,
}

impl Watch {
    /// Reads everything watched now.
    pub fn sample(&self) -> Sample {
        Sample {
            at: Instant::now(),
            process: self.pid.and_then(process_cpu_seconds),
            core: self.cpu.and_then(core_seconds),
            metrics: self.metrics.and_then(|a| scrape(a).ok()),
            workers: self
                .pid_file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .and_then(|p| p.trim().parse().ok())
                .or(self.pid)
                .and_then(worker_thread_seconds),
        }
    }
}

/// The usage between `a` and `b`.
pub fn between(a: &Sample, b: &Sample) -> Usage {
    let secs = (b.at - a.at).as_secs_f64().max(1e-9);
    let mut u = Usage {
        process_cpu_pct: a.process.zip(b.process).map(|(x, y)| 100.0 * (y - x) / secs),
        core_busy_pct: a
            .core
            .zip(b.core)
            .and_then(|((b0, t0), (b1, t1))| (t1 > t0).then(|| 100.0 * (b1 - b0) / (t1 - t0))),
        worker_on_cpu_pct: a.workers.zip(b.workers).map(|(x, y)| 100.0 * (y - x) / secs),
        ..Usage::default()
    };
    if let (Some(x), Some(y)) = (&a.metrics, &b.metrics) {
        let d = |name: &str, f: &[(&str, &str)]| metric_sum(y, name, f) - metric_sum(x, name, f);
        let busy = d("mediafwd_worker_busy_seconds_total", &[]);
        let total = d("mediafwd_worker_loop_seconds_total", &[]);
        if total > 0.0 {
            u.worker_busy_pct = Some(100.0 * busy / total);
        }
        let packets = d("mediafwd_worker_rx_packets_total", &[]);
        let polls = d("mediafwd_worker_busy_polls_total", &[]);
        if packets > 0.0 {
            u.worker_ns_per_packet = Some(1e9 * busy / packets);
        }
        let stage = |t: &str| metric_by_label(t, "mediafwd_worker_stage_seconds_total", "stage");
        u.worker_stage_ns = stage_ns_per_packet(&stage(x), &stage(y), packets);
        if polls > 0.0 {
            u.worker_burst = Some(packets / polls);
        }
        let before = metric_by_label(x, "mediafwd_dropped_packets_total", "reason");
        for (reason, n) in metric_by_label(y, "mediafwd_dropped_packets_total", "reason") {
            let n = n - before.get(&reason).copied().unwrap_or(0.0);
            if n > 0.0 {
                u.drops.insert(reason, n);
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_sums_with_label_filters() {
        let text = "# HELP x y\n# TYPE mediafwd_worker_busy_seconds_total counter\n\
                    mediafwd_worker_busy_seconds_total{worker=\"0\",lcore=\"1\"} 1.5\n\
                    mediafwd_worker_busy_seconds_total{worker=\"1\",lcore=\"2\"} 2.5\n\
                    mediafwd_dropped_packets_total{worker=\"0\",reason=\"tx_full\"} 7\n\
                    mediafwd_dropped_packets_total{worker=\"1\",reason=\"tx_full\"} 1\n\
                    mediafwd_dropped_packets_total{worker=\"0\",reason=\"no_flow\"} 3\n\
                    mediafwd_sessions 12\n";
        assert_eq!(metric_sum(text, "mediafwd_worker_busy_seconds_total", &[]), 4.0);
        assert_eq!(metric_sum(text, "mediafwd_worker_busy_seconds_total", &[("worker", "1")]), 2.5);
        assert_eq!(metric_sum(text, "mediafwd_dropped_packets_total", &[("reason", "tx_full")]), 8.0);
        let by = metric_by_label(text, "mediafwd_dropped_packets_total", "reason");
        assert_eq!(by.into_iter().collect::<Vec<_>>(), [("no_flow".to_string(), 3.0), ("tx_full".to_string(), 8.0)]);
        assert_eq!(metric_sum(text, "mediafwd_sessions", &[]), 12.0);
        assert_eq!(metric_sum(text, "absent", &[]), 0.0);
    }

    #[test]
    fn worker_cost_per_packet_and_burst() {
        let at = |busy: f64, packets: u64, polls: u64| Sample {
            at: Instant::now(),
            process: None,
            core: None,
            workers: None,
            metrics: Some(format!(
                "mediafwd_worker_busy_seconds_total{{worker=\"0\"}} {busy}\n\
                 mediafwd_worker_loop_seconds_total{{worker=\"0\"}} {}\n\
                 mediafwd_worker_rx_packets_total{{worker=\"0\"}} {packets}\n\
                 mediafwd_worker_busy_polls_total{{worker=\"0\"}} {polls}\n",
                busy * 2.0
            )),
        };
        // 1,000,000 packets in 250,000 polls, 0.5 s of them busy.
        let u = between(&at(1.0, 3_000_000, 1_000_000), &at(1.5, 4_000_000, 1_250_000));
        assert_eq!(u.worker_ns_per_packet, Some(500.0));
        assert_eq!(u.worker_burst, Some(4.0));
        let idle = between(&at(1.0, 10, 1), &at(1.0, 10, 1));
        assert_eq!((idle.worker_ns_per_packet, idle.worker_burst), (None, None));
        assert!(u.worker_stage_ns.is_empty(), "a relay without stage counters has none");
    }

    #[test]
    fn worker_cost_by_stage() {
        let at = |packets: u64, receive: f64, srtp: f64| Sample {
            at: Instant::now(),
            process: None,
            core: None,
            workers: None,
            metrics: Some(format!(
                "mediafwd_worker_busy_seconds_total{{worker=\"0\"}} {}\n\
                 mediafwd_worker_rx_packets_total{{worker=\"0\",lcore=\"1\"}} {packets}\n\
                 mediafwd_worker_stage_seconds_total{{worker=\"0\",lcore=\"1\",stage=\"receive\"}} {receive}\n\
                 mediafwd_worker_stage_seconds_total{{worker=\"0\",lcore=\"1\",stage=\"srtp\"}} {srtp}\n\
                 mediafwd_worker_stage_seconds_total{{worker=\"1\",lcore=\"2\",stage=\"srtp\"}} {srtp}\n",
                receive + 2.0 * srtp
            )),
        };
        // 2,000,000 packets; receive 0.1 s, SRTP 0.25 s on each of two workers.
        let u = between(&at(1_000_000, 1.0, 2.0), &at(3_000_000, 1.1, 2.25));
        let ns = |s: &str| (u.worker_stage_ns[s] * 1e6).round() / 1e6;
        assert_eq!((ns("receive"), ns("srtp")), (50.0, 250.0));
        assert_eq!(u.worker_stage_ns.len(), 2);
        // The stages add up to the whole.
        assert!((u.worker_stage_ns.values().sum::<f64>() - u.worker_ns_per_packet.unwrap()).abs() < 1e-6);
        assert_eq!(stages_line(&u.worker_stage_ns, 0.5), "receive 25 / srtp 125");
        assert_eq!(stages_line(&BTreeMap::new(), 1.0), "");
        // A stage that did not exist before counts from zero; no packets, no figures.
        let before = BTreeMap::new();
        let after = BTreeMap::from([("sort".to_string(), 0.002)]);
        assert_eq!(stage_ns_per_packet(&before, &after, 1e6)["sort"], 2.0);
        assert!(stage_ns_per_packet(&before, &after, 0.0).is_empty());
    }

    #[test]
    fn core_line_reading() {
        let stat = "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 100 0 50 40 10 0 0 0 0 0\n";
        assert_eq!(parse_core(stat, 1), Some((1.5, 2.0)));
        assert_eq!(parse_core(stat, 2), None);
    }

    #[test]
    fn own_process_has_cpu_time() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds(std::process::id()).is_some());
    }
}
