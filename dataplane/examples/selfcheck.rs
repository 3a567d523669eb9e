//! A self-check of the packet engine on this machine: one worker lcore
//! relays G.711 RTP for 1,000 sessions between two virtual ports, fed and
//! drained by the main lcore, for a few seconds; then a short report.
//!
//! `cargo run --release -p mediafwd-dataplane --example selfcheck`

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Command, Egress, Flow, FlowKey, Ingress, LatchMode, Media};
use mediafwd_dataplane::stats::DropReason;
use mediafwd_dataplane::wire::ethernet::{self, MacAddr};
use mediafwd_dataplane::wire::{ipv4, udp};
use mediafwd_dataplane::{Dataplane, DataplaneConfig, WorkerQueues};
use mediafwd_ffi::{eal, ring, Burst, Eal, Mempool, Port, PortConfig, Ring};

const SESSIONS: u32 = 1000;
const RUN_FOR: Duration = Duration::from_secs(3);
const IN_FLIGHT: u64 = 1024;
const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);

fn main() {
    let hugepages = std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let prefix = format!("--file-prefix=mediafwd-selfcheck-{}", std::process::id());
    let mut args = vec!["-l", "0,1", "--no-pci", "--log-level=error", &prefix];
    args.extend(if hugepages >= 256 {
        ["--in-memory", "-m", "256", ""]
    } else {
        ["--no-huge", "-m", "512", "--no-shconf"]
    });
    args.retain(|a| !a.is_empty());
    let eal = Eal::init(&args).unwrap_or_else(|e| fail(&format!("cannot start DPDK: {e}")));
    println!(
        "mediafwd self-check: {}, {} memory",
        eal::version(),
        if hugepages >= 256 { "hugepage" } else { "ordinary" }
    );

    let pool = Mempool::create("selfcheck", 8191, 256, 2176, -1).unwrap_or_else(|e| fail(&e.to_string()));
    let mut rings = Vec::new();
    let mut contexts = Vec::new();
    let (mut rxqs, mut txqs) = (Vec::new(), Vec::new());
    for name in ["caller_side", "callee_side"] {
        let flags = ring::flags::SP_ENQ | ring::flags::SC_DEQ;
        let rx = Ring::create(&format!("{name}_rx"), 2048, -1, flags).unwrap();
        let tx = Ring::create(&format!("{name}_tx"), 2048, -1, flags).unwrap();
        let port = Port::from_rings(name, std::slice::from_ref(&rx), std::slice::from_ref(&tx), 0).unwrap();
        let (_, rxq, txq) = port.configure(&PortConfig::default(), &pool).unwrap();
        port.start().unwrap();
        contexts.push(PortContext::new(MacAddr(port.mac_addr().unwrap())));
        rings.push((rx, tx));
        rxqs.extend(rxq);
        txqs.extend(txq.into_iter().map(Some));
    }
    let macs: Vec<MacAddr> = contexts.iter().map(|c| c.mac).collect();
    let lcore = *eal.worker_lcores().first().unwrap_or_else(|| fail("no worker lcore"));
    let queues = vec![WorkerQueues { lcore, rx: rxqs, tx: txqs, slow_path: None, inject: None }];
    let mut dp =
        Dataplane::start(eal, &DataplaneConfig::default(), contexts, queues).unwrap_or_else(|e| fail(&e.to_string()));

    // 1,000 sessions: caller 198.18.x.y -> leg A on port 0, leg B on port 1 -> callee 198.19.x.y.
    dp.send(Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) });
    let mut frames = Vec::new();
    for n in 0..SESSIONS {
        let a_local = addr(18, 1, 20000 + 2 * n as u16);
        let b_local = addr(19, 1, 20000 + 2 * n as u16);
        let caller = addr(18, 2 + (n / 200) as u8, 5000 + n as u16);
        let callee = addr(19, 2 + (n / 200) as u8, 6000 + n as u16);
        let flow = Flow {
            id: n,
            media: Media::Rtp { rtcp_mux: false },
            ingress: Ingress { vlan: None, remote: Some(caller), latch: LatchMode::Off, strict_source: false },
            egress: Egress { port_id: 1, vlan: None, src_mac: macs[1], next_hop: 1, src: b_local, dst: Some(callee) },
            rtcp_egress: None,
            reverse: None,
            clock_rate: 8000,
        };
        dp.send(Command::Upsert { key: FlowKey::new(0, a_local.ip(), a_local.port()), flow });
        let mut payload = [0u8; 172];
        rtp_packet(&mut payload, n, 0, 0, 0, 160, 0xd5);
        let mut frame = vec![0u8; 256];
        let len = UdpFrame { src_mac: CALLER_MAC, dst_mac: macs[0], vlan: None, src: caller, dst: a_local }
            .emit(&mut frame, &payload);
        frame.truncate(len);
        frames.push((frame, b_local, callee));
    }
    if !dp.wait_applied(dp.last_seq(), Duration::from_secs(10)) {
        fail("the worker did not apply the flows");
    }

    // Stream: the main lcore injects bursts and drains the relayed packets,
    // checking each one's addresses and checksums.
    let (mut sent, mut received, mut bad) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut next = 0usize;
    let mut burst = Burst::new();
    while start.elapsed() < RUN_FOR {
        // At most IN_FLIGHT packets between injection and collection, so
        // the port's TX ring (drained by this same core) never overflows.
        while !burst.is_full() && sent + (burst.len() as u64) < received + IN_FLIGHT {
            let Some(mut m) = pool.alloc() else { break };
            let (frame, ..) = &frames[next % frames.len()];
            m.extend_from_slice(frame).expect("frame fits an mbuf");
            let _ = burst.push(m);
            next += 1;
        }
        sent += rings[0].0.enqueue_burst(&mut burst) as u64;
        collect(&rings[1].1, macs[1], &frames, &mut received, &mut bad);
    }
    sent -= burst.len() as u64;
    drop(burst);
    std::thread::sleep(Duration::from_millis(50));
    collect(&rings[1].1, macs[1], &frames, &mut received, &mut bad);
    let secs = start.elapsed().as_secs_f64();
    let w = dp.worker_stats()[0].clone();
    let busy = w.busy_cycles as f64 / w.total_cycles.max(1) as f64;
    let lost: u64 = (0..SESSIONS).map(|n| dp.flow_stats(n).rtp_lost).sum();
    dp.stop();

    println!("sessions            {SESSIONS}");
    println!("packets sent        {sent}");
    println!(
        "packets relayed     {received} ({:.3} Mpps through one worker, sender-bound)",
        received as f64 / secs / 1e6
    );
    println!("rewrite errors      {bad}");
    println!("worker drops        {}", w.dropped_total());
    for r in DropReason::ALL.iter().filter(|r| w.dropped(**r) > 0) {
        println!("  {:<18}{}", r.name(), w.dropped(*r));
    }
    println!("RTP loss (stats)    {lost}");
    println!("worker busy         {:.0}% of its polls' cycles", busy * 100.0);
    if sent == received && bad == 0 && w.dropped_total() == 0 {
        println!("OK: every packet relayed, rewritten and checksummed correctly");
    } else {
        fail("packets were lost or rewritten wrongly");
    }
}

fn addr(net: u8, host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([198, net, host / 200, 1 + host % 200], port))
}

/// Takes every packet the worker relayed into `ring`: `received` counts
/// them, `bad` those not rewritten as expected.
fn collect(
    ring: &Ring,
    src_mac: MacAddr,
    frames: &[(Vec<u8>, SocketAddr, SocketAddr)],
    received: &mut u64,
    bad: &mut u64,
) {
    let mut out = Burst::new();
    while ring.dequeue_burst(&mut out) > 0 {
        for m in out.drain() {
            *received += 1;
            if !relayed_correctly(m.data(), src_mac, frames) {
                *bad += 1;
            }
        }
    }
}

fn relayed_correctly(data: &[u8], src_mac: MacAddr, frames: &[(Vec<u8>, SocketAddr, SocketAddr)]) -> bool {
    let Ok(eth) = ethernet::Frame::new_checked(data) else { return false };
    let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else { return false };
    let Ok(u) = udp::Datagram::new_checked(ip.payload()) else { return false };
    let ssrc = u32::from_be_bytes(u.payload()[8..12].try_into().unwrap_or_default()) as usize;
    let Some((_, b_local, callee)) = frames.get(ssrc) else { return false };
    eth.src_addr() == src_mac
        && eth.dst_addr() == CALLEE_MAC
        && ip.verify_checksum()
        && u.verify_checksum_v4(ip.src_addr(), ip.dst_addr())
        && SocketAddr::new(ip.src_addr().into(), u.src_port()) == *b_local
        && SocketAddr::new(ip.dst_addr().into(), u.dst_port()) == *callee
}

fn fail(msg: &str) -> ! {
    eprintln!("self-check failed: {msg}");
    std::process::exit(1)
}
