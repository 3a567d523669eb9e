//! mfw-bench-report: the benchmark's scenario table from rtpgen's reports.
//!
//! Reads a manifest (one JSON object per line: `id`, `scenario`, `relay`,
//! `link`, `transform`, optional `compare_to` and `note`, and `report_file`,
//! rtpgen's `--json` output), writes every row with the machine's
//! description to `--out` (`perf/results/latest.json`) and prints the
//! markdown table.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use mediafwd_perf::report::{BenchResults, Machine, Row, RunReport};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(about = "Builds the benchmark's table and latest.json from rtpgen's reports")]
struct Args {
    /// The manifest.
    #[arg(long)]
    manifest: PathBuf,
    /// Where to write the results.
    #[arg(long)]
    out: PathBuf,
    /// The command that ran the benchmark.
    #[arg(long, default_value = "perf/bench")]
    command: String,
    /// Seconds per trial.
    #[arg(long)]
    trial: f64,
    /// Loss criterion, percent.
    #[arg(long)]
    max_loss: f64,
    /// Load average (1 minute) when the benchmark started.
    #[arg(long, default_value_t = 0.0)]
    load_before: f64,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    scenario: String,
    relay: String,
    link: String,
    transform: String,
    #[serde(default)]
    compare_to: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    report_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.manifest).with_context(|| format!("{}", args.manifest.display()))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let e: Entry = serde_json::from_str(line).with_context(|| format!("manifest line {line:?}"))?;
        let report: Option<RunReport> = match &e.report_file {
            Some(p) => std::fs::read_to_string(p)
                .ok()
                .and_then(|t| t.lines().rev().find(|l| l.starts_with('{')).map(str::to_string))
                .and_then(|l| serde_json::from_str(&l).ok()),
            None => None,
        };
        let note = match (&report, e.note) {
            (None, None) => Some("the run failed (see its log)".to_string()),
            (_, n) => n,
        };
        rows.push(Row {
            id: e.id,
            scenario: e.scenario,
            relay: e.relay,
            link: e.link,
            transform: e.transform,
            compare_to: e.compare_to,
            report,
            note,
        });
    }
    let results = BenchResults {
        date: rfc3339(std::time::UNIX_EPOCH.elapsed()?.as_secs()),
        command: args.command,
        machine: machine(args.load_before),
        trial_seconds: args.trial,
        max_loss_pct: args.max_loss,
        rows,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)? + "\n")?;
    let m = &results.machine;
    println!(
        "{} ({} CPUs), kernel {}, DPDK {}, load {:.1} -> {:.1}\n",
        m.cpu, m.cpus, m.kernel, m.dpdk, m.load[0], m.load[1]
    );
    print!("{}", results.markdown());
    Ok(())
}

fn machine(load_before: f64) -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let dpdk = std::process::Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let load = read("/proc/loadavg").split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        dpdk,
        load: [load_before, load],
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (Howard Hinnant's
/// days-to-civil algorithm).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
    }
}
