//! Control-plane load: sessions created and deleted over mediafwd's gRPC API
//! as fast as the node answers (or at `--rate` set-ups a second), with
//! `--concurrency` requests in flight, for `--duration` seconds; with `--ng`,
//! calls offered, answered and deleted over the ng protocol at the same time.
//! Reports set-ups per second and the latency of creates and deletes (p50,
//! p99, p99.9), as text and one JSON line.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use serde::Serialize;

#[derive(Parser, Clone)]
struct Args {
    /// The node's API.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    server: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of churn.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Interfaces of the two legs.
    #[arg(long, default_value = "public")]
    a: String,
    #[arg(long, default_value = "private")]
    b: String,
    /// Remotes of the two legs.
    #[arg(long, default_value = "198.18.0.2:5000")]
    a_remote: std::net::SocketAddr,
    #[arg(long, default_value = "198.19.0.2:6000")]
    b_remote: std::net::SocketAddr,
    /// Set-ups per second in all (0: as fast as the node answers).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Also churn calls over mediafwd's ng listener (offer, answer,
    /// delete), at --rate (or 10 a second), one at a time.
    #[arg(long)]
    ng: Option<std::net::SocketAddr>,
}

#[derive(Serialize)]
struct Latency {
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

#[derive(Serialize)]
struct Report {
    concurrency: usize,
    seconds: f64,
    setups: u64,
    setups_per_second: f64,
    errors: u64,
    create: Latency,
    delete: Latency,
    ng_setups: u64,
    ng_errors: u64,
}

/// Calls offered, answered and deleted over ng until `deadline`, one every
/// `every`; returns (set-ups, errors).
fn ng_churn(server: std::net::SocketAddr, args: &Args, every: Duration, deadline: Instant) -> (u64, u64) {
    use mediafwd_perf::ng::{self, sdp, Client};
    let mut client = match Client::new(server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ng client: {e}");
            return (0, 1);
        }
    };
    let dirs = Some([args.a.as_str(), args.b.as_str()]);
    let (mut setups, mut errors) = (0u64, 0u64);
    let mut next = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let id = format!("ng-load-{}-{n}", std::process::id());
        n += 1;
        let offer = ng::offer(&id, "a", &sdp::audio("a", args.a_remote, 20, None), dirs);
        let answer = ng::answer(&id, "a", "b", &sdp::audio("b", args.b_remote, 20, None));
        let ok = client.call(offer).is_ok() && client.call(answer).is_ok();
        let deleted = client.call(ng::delete(&id, "a")).is_ok();
        if ok && deleted {
            setups += 1;
        } else {
            errors += 1;
        }
        next += every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    (setups, errors)
}

fn percentiles(v: &mut [u64]) -> Latency {
    v.sort_unstable();
    let at =
        |q: f64| v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(0) as f64;
    Latency { p50_us: at(0.50), p99_us: at(0.99), p999_us: at(0.999), max_us: v.last().copied().unwrap_or(0) as f64 }
}

fn endpoint(a: std::net::SocketAddr) -> pb::Endpoint {
    pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let channel = tonic::transport::Endpoint::from_shared(args.server.clone())?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.server))?;
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    // Each task waits this long between set-ups, when a rate is asked.
    let pace = (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
    let ng = args.ng.map(|server| {
        let every = Duration::from_secs_f64(1.0 / if args.rate > 0.0 { args.rate } else { 10.0 });
        let a = Args { ng: None, ..args.clone() };
        std::thread::spawn(move || ng_churn(server, &a, every, deadline))
    });
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let mut client = MediaRelayClient::new(channel.clone());
        let legs = vec![
            pb::LegSpec {
                label: "a".into(),
                interface: args.a.clone(),
                remote: Some(endpoint(args.a_remote)),
                ..Default::default()
            },
            pb::LegSpec {
                label: "b".into(),
                interface: args.b.clone(),
                remote: Some(endpoint(args.b_remote)),
                ..Default::default()
            },
        ];
        tasks.push(tokio::spawn(async move {
            let (mut creates, mut deletes, mut errors) = (Vec::new(), Vec::new(), 0u64);
            let mut n = 0u64;
            let mut ticks = pace.map(tokio::time::interval);
            while Instant::now() < deadline {
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                let id = format!("load-{worker}-{n}");
                n += 1;
                let t = Instant::now();
                let req = pb::CreateSessionRequest { session_id: id.clone(), legs: legs.clone(), ..Default::default() };
                if client.create_session(req).await.is_err() {
                    errors += 1;
                    continue;
                }
                creates.push(t.elapsed().as_micros() as u64);
                let t = Instant::now();
                if client.delete_session(pb::DeleteSessionRequest { session_id: id }).await.is_err() {
                    errors += 1;
                    continue;
                }
                deletes.push(t.elapsed().as_micros() as u64);
            }
            (creates, deletes, errors)
        }));
    }
    let (mut creates, mut deletes, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (c, d, e) = t.await?;
        creates.extend(c);
        deletes.extend(d);
        errors += e;
    }
    let (ng_setups, ng_errors) = match ng {
        Some(t) => t.join().map_err(|_| anyhow::anyhow!("the ng churn panicked"))?,
        None => (0, 0),
    };
    let seconds = started.elapsed().as_secs_f64();
    let setups = deletes.len() as u64;
    let report = Report {
        concurrency: args.concurrency,
        seconds,
        setups,
        setups_per_second: setups as f64 / seconds,
        errors,
        create: percentiles(&mut creates),
        delete: percentiles(&mut deletes),
        ng_setups,
        ng_errors,
    };
    println!(
        "{:.0} session set-ups (create + delete) per second over {:.1} s, {} in flight, {} errors",
        report.setups_per_second, seconds, args.concurrency, errors
    );
    if args.ng.is_some() {
        println!("  ng: {ng_setups} calls offered, answered and deleted, {ng_errors} errors");
    }
    for (what, l) in [("create", &report.create), ("delete", &report.delete)] {
        println!(
            "  {what}: p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
            l.p50_us, l.p99_us, l.p999_us, l.max_us
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
