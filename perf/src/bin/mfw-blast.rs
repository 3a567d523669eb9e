//! mfw-blast: a DPDK traffic generator and sink on one port.
//!
//! Sends G.711 RTP frames (214 bytes) as the callers of `--sessions`
//! sessions of the benchmark's address plan, round-robin over the sessions,
//! each session's packets numbered in sequence; at full speed, or paced to
//! `--rate` packets per second. Whatever comes back on the same port (the
//! relayed packets) is counted and freed. At the end one JSON line reports
//! what was offered and what came back.
//!
//! With `--flood KIND` it sends a flood instead: ARP, Neighbor
//! Solicitations, ICMP echo, or UDP to closed or live ports, each frame from
//! another spoofed source ([`mediafwd_perf::flood`]), for the slow-path
//! protection test (perf/flood.sh).
//!
//! A packet the port does not take (its ring towards the forwarder is full)
//! stays queued and is offered again: the offered rate is what the forwarder
//! let in, and the loss is what it let in but did not send back.
//!
//! ```text
//! mfw-blast --sessions 10000 --duration 10 -- --lcores=0@0 --no-pci \
//!     --vdev=net_memif0,role=server,socket=/run/mediafwd-bench/memif.sock,socket-abstract=no
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_ffi::{eal, Burst, Eal, Mempool, BURST_SIZE};
use mediafwd_perf::flood::{self, FloodKind, FloodTarget};
use mediafwd_perf::{fmt_mac, parse_mac, plan, port};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Sends G.711 RTP to the benchmark's relay flows and counts what comes back")]
struct Args {
    /// The DPDK port to use (a vdev name such as net_memif0, or a PCI address).
    #[arg(long, default_value = "net_memif0")]
    port: String,
    /// Sessions to send to (the forwarder must program at least as many).
    #[arg(long, default_value_t = 10_000)]
    sessions: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Packets per second to offer; 0 sends as fast as the port takes them.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The forwarder's MAC address (the destination of every frame).
    #[arg(long, default_value = "02:00:00:00:00:02")]
    dst_mac: String,
    /// Seconds to wait for the link (the forwarder) to come up.
    #[arg(long, default_value_t = 30.0)]
    link_timeout: f64,
    /// After the link is up, wait until this file exists before sending
    /// (the forwarder has its flows programmed).
    #[arg(long)]
    start_file: Option<std::path::PathBuf>,
    /// After the report, keep the link up until this file exists (at most
    /// 60 s), so that the forwarder can be asked for its statistics first.
    #[arg(long)]
    hold_file: Option<std::path::PathBuf>,
    /// Milliseconds to keep receiving after the last packet was sent.
    #[arg(long, default_value_t = 200)]
    drain_ms: u64,
    /// A label for the JSON report (e.g. the forwarder's name).
    #[arg(long, default_value = "")]
    label: String,
    /// Send a flood of this kind instead of RTP.
    #[arg(long, value_enum)]
    flood: Option<FloodKind>,
    /// The relay's IPv4 address, for the flood.
    #[arg(long, default_value = "198.18.0.1")]
    flood_v4: std::net::Ipv4Addr,
    /// The relay's IPv6 address, for the flood.
    #[arg(long, default_value = "2001:db8::1")]
    flood_v6: std::net::Ipv6Addr,
    /// The relay's next hop, claimed by some of the ARP flood.
    #[arg(long, default_value = "198.18.0.2")]
    flood_gateway: std::net::Ipv4Addr,
    /// The relay ports of the live calls, LOW-HIGH (--flood udp-wrong-source).
    #[arg(long, default_value = "30000-30099")]
    flood_ports: String,
    /// Distinct spoofed sources of the flood.
    #[arg(long, default_value_t = 4096)]
    flood_sources: usize,
    /// EAL arguments (after `--`).
    #[arg(last = true)]
    eal: Vec<String>,
}

/// The JSON line printed at the end.
#[derive(Serialize)]
struct Report {
    label: String,
    sessions: u32,
    frame_bytes: usize,
    duration_s: f64,
    requested_pps: u64,
    tx_packets: u64,
    rx_packets: u64,
    offered_pps: f64,
    received_pps: f64,
    offered_mpps: f64,
    received_mpps: f64,
    loss_pct: f64,
    /// Share of the sending time during which the port took nothing (the
    /// forwarder's ring was full): near 0, the generator limited the rate;
    /// large, the forwarder did.
    tx_blocked_pct: f64,
    port_rx_missed: u64,
    port_rx_nombuf: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.sessions > plan::MAX_SESSIONS {
        bail!("--sessions must be 1..={}", plan::MAX_SESSIONS);
    }
    let relay_mac = parse_mac(&args.dst_mac)?;
    let eal = Eal::init(&args.eal).context("EAL init (check the arguments after --)")?;
    let result = run(&args, relay_mac);
    eal.cleanup();
    result
}

/// Sends, counts, prints the report, then (with `--hold-file`) keeps the
/// link up until told to leave, so that the forwarder's own counters can be
/// read while it is still connected.
fn run(args: &Args, relay_mac: MacAddr) -> anyhow::Result<()> {
    if eal::current_lcore().is_none() {
        bail!("the main thread has no lcore id; give the EAL an lcore (e.g. --lcores=0@0)");
    }
    let pool = Mempool::create("mfw_blast", 16_383, 256, 2176, -1)?;
    let port::Opened { port, mut rx, mut tx, mac: gen_mac } = port::open(&args.port, &pool, 1024)?;
    eprintln!(
        "mfw-blast: port {} mac {}, {} sessions, waiting for the link",
        port.name(),
        fmt_mac(gen_mac),
        args.sessions
    );

    // One frame per session, advanced in place before each copy.
    let mut frames = vec![0u8; args.sessions as usize * plan::FRAME_LEN];
    for (s, f) in frames.chunks_exact_mut(plan::FRAME_LEN).enumerate() {
        plan::caller_frame(f, s as u32, gen_mac, relay_mac);
    }
    let flood_frames = match args.flood {
        Some(kind) => {
            let (lo, hi) = args.flood_ports.split_once('-').context("--flood-ports LOW-HIGH")?;
            let target = FloodTarget {
                relay_mac,
                relay_v4: args.flood_v4,
                relay_v6: args.flood_v6,
                gateway_v4: args.flood_gateway,
                live_ports: (lo.parse()?, hi.parse()?),
            };
            flood::frames(kind, &target, args.flood_sources.max(1))
        }
        None => Vec::new(),
    };

    let deadline = Instant::now() + Duration::from_secs_f64(args.link_timeout);
    if let Err(e) = port::wait_links(&[port], Duration::from_secs_f64(args.link_timeout)) {
        port.stop().ok();
        return Err(e.context("is the forwarder running?"));
    }
    if let Some(path) = &args.start_file {
        eprintln!("mfw-blast: link up, waiting for {}", path.display());
        while !path.exists() {
            if Instant::now() > deadline {
                port.stop().ok();
                bail!("{} did not appear within {} s", path.display(), args.link_timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Whatever arrived before the start is not ours to count.
    let mut stale = Burst::new();
    while rx.rx_burst(&mut stale) > 0 {
        stale.free_all();
    }
    eprintln!("mfw-blast: sending for {} s", args.duration);

    let hz = eal::tsc_hz();
    let start = eal::rdtsc();
    let end = start + (args.duration * hz as f64) as u64;
    let drain_end_after = args.drain_ms * hz / 1000;
    let mut out = Burst::new();
    let mut back = Burst::new();
    let (mut built, mut sent, mut received) = (0u64, 0u64, 0u64);
    // Cycles of the loop in which the port took nothing from a full burst:
    // the forwarder's ring was full, i.e. the forwarder was the bottleneck.
    let mut blocked_cycles = 0u64;
    let mut next_session = 0usize;
    let sessions = args.sessions as usize;
    let mut now = start;
    let mut sending = true;
    let mut drain_end = u64::MAX;
    loop {
        let mut blocked = false;
        if sending {
            // Packets the pacing allows now, on top of those still queued.
            let room = BURST_SIZE - out.len();
            let want = if args.rate == 0 {
                room
            } else {
                let due = ((now - start) as u128 * args.rate as u128 / hz as u128) as u64;
                (due.saturating_sub(built) as usize).min(room)
            };
            for _ in 0..want {
                let Some(mut m) = pool.alloc() else { break };
                if flood_frames.is_empty() {
                    let f = &mut frames[next_session * plan::FRAME_LEN..(next_session + 1) * plan::FRAME_LEN];
                    plan::next_packet(f);
                    m.extend_from_slice(f).expect("a 214-byte frame fits an mbuf");
                    next_session += 1;
                    if next_session == sessions {
                        next_session = 0;
                    }
                } else {
                    m.extend_from_slice(&flood_frames[built as usize % flood_frames.len()])
                        .expect("a flood frame fits an mbuf");
                }
                let _ = out.push(m);
                built += 1;
            }
            let n = tx.tx_burst(&mut out);
            sent += n as u64;
            blocked = n == 0 && out.is_full();
        }
        if rx.rx_burst(&mut back) > 0 {
            received += back.len() as u64;
            back.free_all();
        }
        let then = now;
        now = eal::rdtsc();
        if blocked {
            blocked_cycles += now - then;
        }
        if sending && now >= end {
            sending = false;
            drain_end = now + drain_end_after;
        }
        if !sending && now >= drain_end {
            break;
        }
    }
    let elapsed = (end - start) as f64 / hz as f64;
    // Packets never taken by the port were not offered.
    out.free_all();
    let stats = port.stats().unwrap_or_default();

    let offered = sent as f64 / elapsed;
    let got = received as f64 / elapsed;
    let report = Report {
        label: args.label.clone(),
        sessions: args.sessions,
        frame_bytes: flood_frames.first().map_or(plan::FRAME_LEN, Vec::len),
        duration_s: elapsed,
        requested_pps: args.rate,
        tx_packets: sent,
        rx_packets: received,
        offered_pps: offered,
        received_pps: got,
        offered_mpps: offered / 1e6,
        received_mpps: got / 1e6,
        loss_pct: if sent == 0 { 0.0 } else { 100.0 * (sent.saturating_sub(received)) as f64 / sent as f64 },
        tx_blocked_pct: 100.0 * blocked_cycles as f64 / (end - start) as f64,
        port_rx_missed: stats.rx_missed,
        port_rx_nombuf: stats.rx_nombuf,
    };
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
        stdout.flush()?;
    }
    if let Some(path) = &args.hold_file {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !path.exists() && Instant::now() < deadline {
            if rx.rx_burst(&mut back) > 0 {
                back.free_all();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    port.stop().ok();
    port.close().ok();
    Ok(())
}
