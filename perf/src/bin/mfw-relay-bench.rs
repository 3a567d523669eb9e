//! mfw-relay-bench: the mediafwd dataplane as the forwarder under test.
//!
//! One port, one worker. `--sessions` sessions of the benchmark's address
//! plan are programmed as static flows (two per session), both legs on the
//! one port; the generator's MAC is the next hop of every remote, so every
//! relayed packet goes back to it. The port is started once every flow is
//! in the worker's table; the program runs until the link goes down (the
//! generator left) or `--timeout`, then prints the worker's counters as one
//! JSON line.
//!
//! ```text
//! mfw-relay-bench --sessions 10000 -- --lcores=0@1,1@1 --no-pci \
//!     --vdev=net_memif0,role=client,socket=/run/mediafwd-bench/memif.sock,socket-abstract=no
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::flow::Command;
use mediafwd_dataplane::memory::TableMemory;
use mediafwd_dataplane::stats::{DropReason, WorkerStats};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::{Dataplane, DataplaneConfig, WorkerQueues};
use mediafwd_ffi::{eal, Eal, Mempool, Port, PortConfig};
use mediafwd_perf::{fmt_mac, parse_mac, plan};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Runs one mediafwd worker relaying the benchmark's sessions on one port")]
struct Args {
    /// The DPDK port to use (a vdev name such as net_memif0, or a PCI address).
    #[arg(long, default_value = "net_memif0")]
    port: String,
    /// Sessions to program (two flows each).
    #[arg(long, default_value_t = 10_000)]
    sessions: u32,
    /// The generator's MAC address: the next hop of every remote.
    #[arg(long, default_value = "02:00:00:00:00:01")]
    peer_mac: String,
    /// Seconds to wait for the link to come up.
    #[arg(long, default_value_t = 30.0)]
    link_timeout: f64,
    /// Seconds to run at most.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Where the worker's flow tables live: `hugepages` (DPDK memory on its
    /// socket) or `heap`.
    #[arg(long, default_value = "hugepages", value_parser = ["hugepages", "heap"])]
    table_memory: String,
    /// EAL arguments (after `--`); they must give one lcore besides the main one.
    #[arg(last = true)]
    eal: Vec<String>,
}

/// The JSON line printed at the end.
#[derive(Serialize)]
struct Report {
    forwarder: &'static str,
    sessions: u32,
    flows: u32,
    /// `hugepages` or `heap`.
    table_memory: &'static str,
    worker_lcore: u32,
    rx_packets: u64,
    tx_packets: u64,
    drops: BTreeMap<&'static str, u64>,
    /// TSC cycles per received packet in polls that received packets:
    /// rx, pipeline and tx, the worker's whole cost of a packet.
    busy_cycles_per_packet: f64,
    tsc_hz: u64,
    /// While packets were arriving.
    active: Option<Active>,
}

/// The worker's figures over the window in which packets arrived.
#[derive(Serialize)]
struct Active {
    seconds: f64,
    rx_mpps: f64,
    tx_mpps: f64,
    /// Share of the worker's loop spent in polls that received packets.
    busy_pct: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.sessions > plan::MAX_SESSIONS {
        bail!("--sessions must be 1..={}", plan::MAX_SESSIONS);
    }
    let peer_mac = parse_mac(&args.peer_mac)?;
    let eal = Eal::init(&args.eal).context("EAL init (check the arguments after --)")?;
    let report = run(eal, &args, peer_mac);
    eal.cleanup();
    println!("{}", serde_json::to_string(&report?)?);
    Ok(())
}

fn run(eal: &'static Eal, args: &Args, peer_mac: MacAddr) -> anyhow::Result<Report> {
    let Some(&lcore) = eal.worker_lcores().first() else {
        bail!("no worker lcore: give the EAL two lcores, e.g. --lcores=0@1,1@1");
    };
    let port = Port::by_name(&args.port)?;
    let pool = Mempool::create("mfw_relay", 16_383, 256, 2176, port.socket())?;
    let conf = PortConfig { rx_queues: 1, tx_queues: 1, rx_desc: 1024, tx_desc: 1024, mtu: None, promiscuous: true };
    let (_info, rx, tx) = port.configure(&conf, &pool)?;
    let mac = MacAddr(port.mac_addr()?);
    let mut ports = vec![PortContext::new(mac); port.id() as usize + 1];
    ports[port.id() as usize] = PortContext::new(mac);
    let mut tx_by_port: Vec<_> = (0..=port.id()).map(|_| None).collect();
    tx_by_port[port.id() as usize] = tx.into_iter().next();
    let flows = 2 * args.sessions;
    let table_memory = if args.table_memory == "heap" { TableMemory::Heap } else { TableMemory::Hugepages };
    let config = DataplaneConfig { max_flows: flows as usize, table_memory, ..DataplaneConfig::default() };
    let queues = vec![WorkerQueues { lcore, rx, tx: tx_by_port, slow_path: None, inject: None }];
    port.start().context("starting the port (for memif: is the server listening?)")?;
    let mut dp = Dataplane::start(eal, &config, ports, queues)?;

    let t0 = Instant::now();
    dp.send(Command::SetNeighbor { id: plan::GENERATOR_NEXT_HOP, mac: Some(peer_mac) });
    for s in 0..args.sessions {
        for (key, flow) in plan::session_flows(s, port.id(), mac) {
            dp.send(Command::Upsert { key, flow });
        }
    }
    if !dp.wait_applied(dp.last_seq(), Duration::from_secs(120)) {
        bail!("the worker did not apply {flows} flows within 120 s");
    }
    let errors = dp.worker_stats()[0].command_errors;
    if errors > 0 {
        bail!("the worker refused {errors} commands");
    }
    eprintln!(
        "mfw-relay-bench: {} flows programmed in {:.2} s; port {} mac {}, worker on lcore {lcore}",
        flows,
        t0.elapsed().as_secs_f64(),
        port.name(),
        fmt_mac(mac)
    );
    eprintln!("mfw-relay-bench: ready");

    let started = Instant::now();
    let link_deadline = started + Duration::from_secs_f64(args.link_timeout);
    let deadline = started + Duration::from_secs_f64(args.timeout);
    let mut was_up = false;
    // The traffic window: the last sample before packets arrived and the
    // last sample in which they still did, so that idle time before and
    // after the generator's run does not dilute the figures.
    let mut prev = (Instant::now(), dp.worker_stats().remove(0));
    let mut window: Option<((Instant, WorkerStats), (Instant, WorkerStats))> = None;
    loop {
        let up = port.link_up();
        if up && !was_up {
            eprintln!("mfw-relay-bench: link up");
        }
        let sample = (Instant::now(), dp.worker_stats().remove(0));
        if sample.1.rx_packets != prev.1.rx_packets {
            let first = window.take().map_or_else(|| prev.clone(), |(first, _)| first);
            window = Some((first, sample.clone()));
        }
        prev = sample;
        if was_up && !up {
            eprintln!("mfw-relay-bench: link down, stopping");
            break;
        }
        was_up |= up;
        let now = Instant::now();
        if !was_up && now > link_deadline {
            eprintln!("mfw-relay-bench: the link did not come up within {} s", args.link_timeout);
            break;
        }
        if now > deadline {
            eprintln!("mfw-relay-bench: --timeout reached, stopping");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let ws = dp.worker_stats().remove(0);
    dp.stop();
    port.stop().ok();
    port.close().ok();
    drop(pool);
    let drops = DropReason::ALL.iter().filter(|r| ws.dropped(**r) > 0).map(|r| (r.name(), ws.dropped(*r))).collect();
    let active = window.map(|((t0, a), (t1, b))| {
        let seconds = (t1 - t0).as_secs_f64();
        let rx = b.rx_packets - a.rx_packets;
        let total = b.total_cycles - a.total_cycles;
        Active {
            seconds,
            rx_mpps: rx as f64 / seconds / 1e6,
            tx_mpps: (b.tx_packets - a.tx_packets) as f64 / seconds / 1e6,
            busy_pct: if total == 0 { 0.0 } else { 100.0 * (b.busy_cycles - a.busy_cycles) as f64 / total as f64 },
        }
    });
    Ok(Report {
        forwarder: "mediafwd",
        sessions: args.sessions,
        flows,
        table_memory: table_memory.name(),
        worker_lcore: lcore,
        rx_packets: ws.rx_packets,
        tx_packets: ws.tx_packets,
        drops,
        busy_cycles_per_packet: if ws.rx_packets == 0 { 0.0 } else { ws.busy_cycles as f64 / ws.rx_packets as f64 },
        tsc_hz: eal::tsc_hz(),
        active,
    })
}
