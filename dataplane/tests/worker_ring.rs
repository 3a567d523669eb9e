//! The worker on a real EAL: two `net_ring` ports, one worker lcore, flows
//! programmed through the engine while packets stream. Crafted frames go in
//! through the ports' RX rings; what the worker transmits is read from their
//! TX rings.
//!
//! One EAL per process: the tests share one running dataplane and take
//! turns through a lock, each with its own flow keys and ids.

use core::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Command, Egress, Flow, FlowKey, Ingress, LatchMode, Media};
use mediafwd_dataplane::stats::DropReason;
use mediafwd_dataplane::wire::ethernet::{self, MacAddr};
use mediafwd_dataplane::wire::{ipv4, rtp, udp};
use mediafwd_dataplane::{Dataplane, DataplaneConfig, WorkerQueues};
use mediafwd_ffi::{ring, Burst, Eal, Mempool, Port, PortConfig, Ring};

const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);
const WAIT: Duration = Duration::from_secs(20);

struct Harness {
    dp: Dataplane,
    pool: Mempool,
    /// Per port: (ring the port receives from, ring it transmits into).
    rings: Vec<(Ring, Ring)>,
    macs: Vec<MacAddr>,
    ports: Vec<Port>,
}

fn harness() -> MutexGuard<'static, Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(start())).lock().unwrap_or_else(|e| e.into_inner())
}

fn start() -> Harness {
    let prefix = format!("--file-prefix=mfw-worker-{}", std::process::id());
    let eal =
        Eal::init(&["--no-huge", "-m", "512", "--no-shconf", "--no-pci", "-l", "0,1", "--log-level=error", &prefix])
            .expect("EAL");
    let pool = Mempool::create("worker_test", 16383, 256, 2176, -1).unwrap();
    let mut rings = Vec::new();
    let mut ports = Vec::new();
    let mut contexts = Vec::new();
    let mut macs = Vec::new();
    let mut rxqs = Vec::new();
    let mut txqs = Vec::new();
    for name in ["side_a", "side_b"] {
        let flags = ring::flags::SP_ENQ | ring::flags::SC_DEQ;
        let rx = Ring::create(&format!("{name}_rx"), 4096, -1, flags).unwrap();
        let tx = Ring::create(&format!("{name}_tx"), 4096, -1, flags).unwrap();
        let port = Port::from_rings(name, std::slice::from_ref(&rx), std::slice::from_ref(&tx), 0).unwrap();
        let (_, rxq, txq) = port.configure(&PortConfig::default(), &pool).unwrap();
        port.start().unwrap();
        assert_eq!(port.id() as usize, contexts.len(), "ports numbered in creation order");
        let mac = MacAddr(port.mac_addr().unwrap());
        contexts.push(PortContext::new(mac));
        macs.push(mac);
        rings.push((rx, tx));
        ports.push(port);
        rxqs.extend(rxq);
        txqs.extend(txq.into_iter().map(Some));
    }
    let config = DataplaneConfig { max_flows: 1 << 18, ..DataplaneConfig::default() };
    let queues = vec![WorkerQueues { lcore: 1, rx: rxqs, tx: txqs, slow_path: None, inject: None }];
    let dp = Dataplane::start(eal, &config, contexts, queues).expect("dataplane");
    Harness { dp, pool, rings, macs, ports }
}

/// One relay session between port 0 (caller side) and port 1 (callee side).
#[derive(Clone, Copy)]
struct Session {
    a_local: SocketAddr,
    caller: SocketAddr,
    b_local: SocketAddr,
    callee: SocketAddr,
    id: u32,
}

impl Session {
    fn new(n: u32, base_id: u32) -> Self {
        let port = 20000 + (n % 20000) as u16 * 2;
        let host = 1 + n / 20000;
        Session {
            a_local: format!("198.18.{host}.1:{port}").parse().unwrap(),
            caller: format!("198.18.{host}.2:{}", 5000 + n % 50000).parse().unwrap(),
            b_local: format!("198.19.{host}.1:{port}").parse().unwrap(),
            callee: format!("198.19.{host}.2:{}", 6000 + n % 50000).parse().unwrap(),
            id: base_id + 2 * n,
        }
    }

    fn key_a(&self) -> FlowKey {
        FlowKey::new(0, self.a_local.ip(), self.a_local.port())
    }

    fn key_b(&self) -> FlowKey {
        FlowKey::new(1, self.b_local.ip(), self.b_local.port())
    }

    fn a_to_b(&self, h: &Harness) -> Flow {
        Flow {
            id: self.id,
            media: Media::Rtp { rtcp_mux: false },
            ingress: Ingress { vlan: None, remote: Some(self.caller), latch: LatchMode::Off, strict_source: false },
            egress: Egress {
                port_id: 1,
                vlan: None,
                src_mac: h.macs[1],
                next_hop: 1,
                src: self.b_local,
                dst: Some(self.callee),
            },
            rtcp_egress: None,
            reverse: Some(self.id + 1),
            clock_rate: 8000,
        }
    }

    fn b_to_a(&self, h: &Harness) -> Flow {
        Flow {
            id: self.id + 1,
            media: Media::Rtp { rtcp_mux: false },
            ingress: Ingress { vlan: None, remote: Some(self.callee), latch: LatchMode::Off, strict_source: false },
            egress: Egress {
                port_id: 0,
                vlan: None,
                src_mac: h.macs[0],
                next_hop: 0,
                src: self.a_local,
                dst: Some(self.caller),
            },
            rtcp_egress: None,
            reverse: Some(self.id),
            clock_rate: 8000,
        }
    }

    fn program(&self, h: &mut Harness) -> u64 {
        let (a, b) = (self.a_to_b(h), self.b_to_a(h));
        h.dp.send(Command::Upsert { key: self.key_a(), flow: a });
        h.dp.send(Command::Upsert { key: self.key_b(), flow: b })
    }

    fn remove(&self, h: &mut Harness) -> u64 {
        h.dp.send(Command::Remove { key: self.key_a() });
        h.dp.send(Command::Remove { key: self.key_b() })
    }
}

impl Harness {
    fn neighbors(&mut self) {
        self.dp.send(Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) });
        let seq = self.dp.send(Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) });
        assert!(self.dp.wait_applied(seq, WAIT));
    }

    /// Puts a caller->leg A frame carrying RTP `seq` on port 0's RX ring,
    /// waiting (bounded) for room.
    fn inject(&self, s: &Session, seq: u16) {
        let mut m = self.pool.alloc().expect("mbuf");
        let mut payload = [0u8; 172];
        rtp_packet(&mut payload, s.id, seq, seq as u32 * 160, 0, 160, 0xd5);
        let mut frame = [0u8; 256];
        let n = UdpFrame { src_mac: CALLER_MAC, dst_mac: self.macs[0], vlan: None, src: s.caller, dst: s.a_local }
            .emit(&mut frame, &payload);
        m.extend_from_slice(&frame[..n]).unwrap();
        let deadline = Instant::now() + WAIT;
        let mut m = Some(m);
        while let Some(pkt) = m.take() {
            if let Err(back) = self.rings[0].0.enqueue(pkt) {
                assert!(Instant::now() < deadline, "RX ring stayed full");
                std::thread::yield_now();
                m = Some(back);
            }
        }
    }

    /// Reads every frame port 1 transmitted.
    fn collect(&self, into: &mut Vec<Vec<u8>>) {
        let mut b = Burst::new();
        while self.rings[1].1.dequeue_burst(&mut b) > 0 {
            for m in b.drain() {
                into.push(m.data().to_vec());
            }
        }
    }

    /// Collects until `n` frames arrived (bounded in time).
    fn collect_n(&self, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let deadline = Instant::now() + WAIT;
        while out.len() < n && Instant::now() < deadline {
            self.collect(&mut out);
        }
        // Anything beyond n (misrouted duplicates) shows up here too.
        std::thread::sleep(Duration::from_millis(20));
        self.collect(&mut out);
        out
    }

    fn worker_drops(&self, r: DropReason) -> u64 {
        self.dp.worker_stats()[0].dropped(r)
    }
}

/// (ssrc, seq, src, dst) of a relayed frame, checking its checksums.
fn parse_relayed(frame: &[u8], src_mac: MacAddr) -> (u32, u16, SocketAddr, SocketAddr) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    assert_eq!((eth.src_addr(), eth.dst_addr()), (src_mac, CALLEE_MAC));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    let u = udp::Datagram::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    let r = rtp::Packet::new_checked(u.payload()).unwrap();
    (
        r.ssrc(),
        r.sequence_number(),
        SocketAddr::new(ip.src_addr().into(), u.src_port()),
        SocketAddr::new(ip.dst_addr().into(), u.dst_port()),
    )
}

#[test]
fn programmed_flows_are_relayed_rewritten_and_unknown_ones_counted() {
    let mut h = harness();
    h.neighbors();
    let sessions: Vec<Session> = (0..8).map(|n| Session::new(n, 0)).collect();
    let mut seq = 0;
    for s in &sessions {
        seq = s.program(&mut h);
    }
    assert!(h.dp.wait_applied(seq, WAIT));
    let unknown_before = h.worker_drops(DropReason::UnknownFlow);
    for i in 0..10u16 {
        for s in &sessions {
            h.inject(s, i);
        }
    }
    // A session that was never programmed.
    let stranger = Session::new(999, 0);
    h.inject(&stranger, 0);
    let out = h.collect_n(80);
    assert_eq!(out.len(), 80);
    for f in &out {
        let (ssrc, _, src, dst) = parse_relayed(f, h.macs[1]);
        let s = sessions.iter().find(|s| s.id == ssrc).expect("known session");
        assert_eq!((src, dst), (s.b_local, s.callee));
    }
    assert_eq!(h.worker_drops(DropReason::UnknownFlow) - unknown_before, 1);
    for s in &sessions {
        let st = h.dp.flow_stats(s.id);
        assert_eq!((st.packets, st.rtp_received, st.rtp_lost), (10, 10, 0));
    }
    let mut seq = 0;
    for s in &sessions {
        seq = s.remove(&mut h);
    }
    assert!(h.dp.wait_applied(seq, WAIT));
    h.inject(&sessions[0], 99);
    assert!(h.collect_n(1).is_empty(), "removed flow forwarded");
}

#[test]
fn a_flow_update_mid_stream_loses_nothing_for_other_flows() {
    let mut h = harness();
    h.neighbors();
    let sessions: Vec<Session> = (0..16).map(|n| Session::new(n, 1000)).collect();
    let mut seq = 0;
    for s in &sessions {
        seq = s.program(&mut h);
    }
    assert!(h.dp.wait_applied(seq, WAIT));
    let moved = sessions[0];
    let new_callee: SocketAddr = "198.19.1.2:7777".parse().unwrap();
    let mut out = Vec::new();
    for i in 0..200u16 {
        if i == 100 {
            // Re-INVITE: the first session's callee moves.
            let mut f = moved.a_to_b(&h);
            f.egress.dst = Some(new_callee);
            h.dp.send(Command::Upsert { key: moved.key_a(), flow: f });
        }
        for s in &sessions {
            h.inject(s, i);
        }
        h.collect(&mut out);
    }
    out.extend(h.collect_n(16 * 200 - out.len()));
    assert_eq!(out.len(), 16 * 200, "every packet relayed exactly once");
    let mut moved_to_new = 0;
    for f in &out {
        let (ssrc, _, _, dst) = parse_relayed(f, h.macs[1]);
        let s = sessions.iter().find(|s| s.id == ssrc).unwrap();
        if ssrc == moved.id && dst == new_callee {
            moved_to_new += 1;
        } else {
            assert_eq!(dst, s.callee);
        }
    }
    assert!(moved_to_new >= 100 - 16, "the update took effect ({moved_to_new})");
    for s in &sessions {
        assert_eq!(h.dp.flow_stats(s.id).rtp_lost, 0);
        s.remove(&mut h);
    }
}

#[test]
fn adding_and_removing_100k_flows_while_forwarding_drops_and_misroutes_nothing() {
    let mut h = harness();
    h.neighbors();
    let stable: Vec<Session> = (0..32).map(|n| Session::new(n, 10_000)).collect();
    let mut seq = 0;
    for s in &stable {
        seq = s.program(&mut h);
    }
    assert!(h.dp.wait_applied(seq, WAIT));
    let churn: Vec<Session> = (0..50_000).map(|n| Session::new(100 + n, 20_000)).collect();
    let drops_before: u64 = h.dp.worker_stats()[0].dropped_total();

    let mut out = Vec::new();
    let mut sent = 0usize;
    let mut round = 0u16;
    // Interleave: a round of stable traffic after every 2,000 sessions (4,000 flow commands).
    for (i, s) in churn.iter().enumerate() {
        s.program(&mut h);
        if i % 2000 == 1999 {
            for st in &stable {
                h.inject(st, round);
                sent += 1;
            }
            round += 1;
            h.collect(&mut out);
        }
    }
    for (i, s) in churn.iter().enumerate() {
        s.remove(&mut h);
        if i % 2000 == 1999 {
            for st in &stable {
                h.inject(st, round);
                sent += 1;
            }
            round += 1;
            h.collect(&mut out);
        }
    }
    let last = h.dp.last_seq();
    assert!(h.dp.wait_applied(last, Duration::from_secs(60)), "commands applied");
    out.extend(h.collect_n(sent - out.len()));
    assert_eq!(out.len(), sent, "stable flows lost packets during churn");
    for f in &out {
        let (ssrc, _, src, dst) = parse_relayed(f, h.macs[1]);
        let s = stable.iter().find(|s| s.id == ssrc).expect("only stable flows carry traffic");
        assert_eq!((src, dst), (s.b_local, s.callee), "misrouted");
    }
    assert_eq!(h.dp.worker_stats()[0].dropped_total(), drops_before);
    assert_eq!(h.dp.worker_stats()[0].command_errors, 0);
    for s in &stable {
        assert_eq!(h.dp.flow_stats(s.id).packets, round as u64);
        s.remove(&mut h);
    }
}

#[test]
fn no_mbuf_leaks_after_traffic() {
    let mut h = harness();
    h.neighbors();
    let s = Session::new(7, 5000);
    let seq = s.program(&mut h);
    assert!(h.dp.wait_applied(seq, WAIT));
    for i in 0..500 {
        h.inject(&s, i);
        if i % 100 == 0 {
            let _ = h.collect_n(0);
        }
    }
    // Unknown and malformed traffic is freed too.
    h.inject(&Session::new(12345, 0), 0);
    let _ = h.collect_n(500);
    let seq = s.remove(&mut h);
    assert!(h.dp.wait_applied(seq, WAIT));
    std::thread::sleep(Duration::from_millis(50));
    // Buffers still cached per lcore count as in use; the worker's cache is
    // bounded by the pool's cache size, so the test allows that much.
    assert!(h.pool.in_use() <= 256 + 64, "mbufs in use after draining: {}", h.pool.in_use());
    let _ = &h.ports;
}

#[test]
fn a_closed_or_expired_transmit_gate_drops_what_would_be_sent_and_counts_it() {
    let mut h = harness();
    h.neighbors();
    let s = Session::new(7, 200_000);
    let seq = s.program(&mut h);
    assert!(h.dp.wait_applied(seq, WAIT));
    let fenced = |h: &Harness| h.worker_drops(DropReason::Fenced);
    let before = fenced(&h);
    let mut seq = 0;
    let mut send = |h: &Harness, n: u16| {
        for _ in 0..n {
            h.inject(&s, seq);
            seq += 1;
        }
    };
    // A deadline already passed (a lease not renewed in time), then closed.
    h.dp.gate().open_until(mediafwd_dataplane::node::Tsc::now());
    send(&h, 5);
    h.dp.gate().close();
    send(&h, 5);
    let deadline = Instant::now() + WAIT;
    while fenced(&h) - before < 10 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(fenced(&h) - before, 10);
    assert!(h.collect_n(1).is_empty(), "a fenced node transmitted");
    // Open again: the flow relays, its state intact.
    h.dp.gate().open_until(u64::MAX);
    send(&h, 3);
    assert_eq!(h.collect_n(3).len(), 3);
    let seq = s.remove(&mut h);
    assert!(h.dp.wait_applied(seq, WAIT));
}
