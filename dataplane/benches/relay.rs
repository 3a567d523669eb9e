//! The relay fast path on one core: bursts of 32 G.711 RTP packets
//! (214-byte IPv4 frames, 160-byte payload) arriving at randomly chosen
//! flows of a table of 1,000 / 100,000 / 1,000,000 flows, through
//! `Pipeline::process` (classify, look up, check, account, rewrite).
//!
//! State is what a real worker keeps: every flow has its statistics slot and
//! RTP stream accounting, latching is off, the source is checked against the
//! configured remote. Each flow's packets carry consecutive sequence numbers
//! and timestamps, so the RTP accounting takes its in-order path.
//!
//! The rewrite changes packets in place, so every burst is rebuilt from
//! per-flow header templates in untimed setup (`iter_batched_ref`): the
//! timed part starts with 32 packets that were just written, i.e. whose
//! headers sit in L1/L2 as after a PMD's receive copy, while the flow
//! entries and statistics slots they hit are wherever the random access
//! pattern left them.
//!
//! Run with `cargo bench -p mediafwd-dataplane --bench relay`; see
//! docs/performance.md for the figures.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Command, Egress, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict};
use mediafwd_dataplane::stats::FlowStatsArray;
use mediafwd_dataplane::wire::checksum;
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::wire::rtp;

/// Packets per burst: DPDK's customary rx burst.
const BURST: usize = 32;
/// G.711 at 20 ms: 160 bytes of payload.
const PAYLOAD: usize = 160;
/// Ethernet + IPv4 + UDP + RTP headers.
const HEADERS: usize = 14 + 20 + 8 + rtp::HEADER_LEN;
const FRAME: usize = HEADERS + PAYLOAD;
/// Where the frame starts in its buffer (an mbuf's data offset).
const HEADROOM: usize = 64;
/// One buffer per packet, cache-line multiple like an mbuf's data room.
const SLOT: usize = 320;
/// Offset of the RTP header in the frame.
const RTP_OFF: usize = 14 + 20 + 8;
/// Offset of the UDP checksum in the frame.
const UDP_CSUM_OFF: usize = 14 + 20 + 6;
/// Sessions per local address: even UDP ports 10000..60000.
const SESSIONS_PER_ADDR: u32 = 25_000;
/// Bursts built per timed batch: their buffers (16 x 10 KiB) stay in L2.
const BURSTS_PER_BATCH: u64 = 16;

const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);

/// Addresses of session `s`: leg A faces the caller on port 0, leg B the
/// callee on port 1. Everything is in 198.18.0.0/15 (RFC 2544).
struct Session {
    a_local: SocketAddr,
    b_local: SocketAddr,
    caller: SocketAddr,
    callee: SocketAddr,
}

impl Session {
    fn new(s: u32) -> Self {
        let local = |leg: u8| {
            let ip = Ipv4Addr::new(198, 18, leg, 1 + (s / SESSIONS_PER_ADDR) as u8);
            SocketAddr::V4(SocketAddrV4::new(ip, 10_000 + 2 * (s % SESSIONS_PER_ADDR) as u16))
        };
        let remote = |base: u16| {
            let ip = Ipv4Addr::new(198, 19, (s >> 8) as u8, s as u8);
            SocketAddr::V4(SocketAddrV4::new(ip, base + 2 * (s >> 16) as u16))
        };
        Session { a_local: local(0), b_local: local(1), caller: remote(20_000), callee: remote(30_000) }
    }
}

/// A worker's table, statistics and ports.
struct Relay {
    table: FlowTable,
    stats: FlowStatsArray,
    ports: Vec<PortContext>,
}

/// What the traffic of each flow looks like.
struct Templates {
    /// Frame headers (Ethernet to RTP) with sequence number 0, by flow id.
    headers: Vec<[u8; HEADERS]>,
    /// Ingress port, by flow id.
    rx_port: Vec<u16>,
}

impl Relay {
    /// The state of a worker relaying `flows` flows (`flows / 2` sessions),
    /// and their traffic.
    fn new(flows: usize) -> (Self, Templates) {
        assert!(flows.is_multiple_of(2), "two flows per session");
        let mut table = FlowTable::with_capacity(flows, 8);
        let stats = FlowStatsArray::new(flows);
        let ports = vec![PortContext::new(MAC_A), PortContext::new(MAC_B)];
        table.apply(&Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) }).unwrap();
        table.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
        let mut templates = Vec::with_capacity(flows);
        let mut rx_port = Vec::with_capacity(flows);
        let mut payload = [0u8; rtp::HEADER_LEN + PAYLOAD];
        for s in 0..(flows / 2) as u32 {
            let ss = Session::new(s);
            let egress = |port_id, src_mac, next_hop, src, dst| Egress {
                port_id,
                vlan: None,
                src_mac,
                next_hop,
                src,
                dst: Some(dst),
            };
            let flow = |id, remote, egress| Flow {
                id,
                media: Media::Rtp { rtcp_mux: false },
                ingress: Ingress { vlan: None, remote: Some(remote), latch: LatchMode::Off, strict_source: true },
                egress,
                rtcp_egress: None,
                reverse: None,
                clock_rate: 8000,
            };
            let (key_a, key_b) = (key(0, ss.a_local), key(1, ss.b_local));
            let a_to_b = flow(2 * s, ss.caller, egress(1, MAC_B, 1, ss.b_local, ss.callee));
            let b_to_a = flow(2 * s + 1, ss.callee, egress(0, MAC_A, 0, ss.a_local, ss.caller));
            let mut a_to_b_rev = a_to_b;
            a_to_b_rev.reverse = Some(b_to_a.id);
            let mut b_to_a_rev = b_to_a;
            b_to_a_rev.reverse = Some(a_to_b.id);
            table.apply(&Command::Upsert { key: key_a, flow: a_to_b_rev }).unwrap();
            table.apply(&Command::Upsert { key: key_b, flow: b_to_a_rev }).unwrap();

            for (src_mac, dst_mac, src, dst, port, ssrc) in [
                (CALLER_MAC, MAC_A, ss.caller, ss.a_local, 0, 2 * s),
                (CALLEE_MAC, MAC_B, ss.callee, ss.b_local, 1, 2 * s + 1),
            ] {
                rtp_packet(&mut payload, ssrc, 0, 0, 0, PAYLOAD, 0xd5);
                let mut frame = [0u8; FRAME];
                let n = UdpFrame { src_mac, dst_mac, vlan: None, src, dst }.emit(&mut frame, &payload);
                assert_eq!(n, FRAME);
                templates.push(frame[..HEADERS].try_into().unwrap());
                rx_port.push(port);
            }
        }
        assert_eq!(table.len(), flows);
        (Relay { table, stats, ports }, Templates { headers: templates, rx_port })
    }
}

fn key(port: u16, a: SocketAddr) -> FlowKey {
    FlowKey::new(port, a.ip(), a.port())
}

/// 32 frames in their buffers, ready for the pipeline.
struct BurstInput {
    bufs: Box<[u8; BURST * SLOT]>,
    rx_port: [u16; BURST],
    now_us: u64,
}

/// Builds bursts addressed to random flows, each flow's packets numbered
/// in sequence.
struct Traffic {
    rng: u64,
    seq: Vec<u16>,
    now_us: u64,
}

impl Traffic {
    fn new(flows: usize) -> Self {
        Traffic { rng: 0x9e37_79b9_7f4a_7c15, seq: vec![0; flows], now_us: 0 }
    }

    /// splitmix64: uniform enough to spread over the table, and cheap.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn burst(&mut self, t: &Templates) -> BurstInput {
        let mut bufs: Box<[u8; BURST * SLOT]> = vec![0u8; BURST * SLOT].into_boxed_slice().try_into().unwrap();
        let mut rx_port = [0u16; BURST];
        let flows = t.headers.len() as u64;
        for (i, port) in rx_port.iter_mut().enumerate() {
            // A burst comes from one RX queue, so one port: the caller side
            // (even templates), half the flows in the table.
            let f = 2 * ((self.next() as u128 * (flows / 2) as u128) >> 64) as usize;
            let seq = self.seq[f].wrapping_add(1);
            self.seq[f] = seq;
            let ts = (seq as u32).wrapping_mul(160);
            let frame = &mut bufs[i * SLOT + HEADROOM..i * SLOT + HEADROOM + FRAME];
            frame[..HEADERS].copy_from_slice(&t.headers[f]);
            frame[HEADERS..].fill(0xd5);
            // The template carries sequence number 0 and timestamp 0; patch
            // both and keep the UDP checksum right (RFC 1624).
            let mut c = u16::from_be_bytes([frame[UDP_CSUM_OFF], frame[UDP_CSUM_OFF + 1]]);
            c = checksum::update16(c, 0, seq);
            c = checksum::update16(c, 0, (ts >> 16) as u16);
            c = checksum::update16(c, 0, ts as u16);
            frame[UDP_CSUM_OFF..UDP_CSUM_OFF + 2].copy_from_slice(&c.to_be_bytes());
            let mut r = rtp::Packet::new_unchecked(&mut frame[RTP_OFF..]);
            r.set_sequence_number(seq);
            r.set_timestamp(ts);
            *port = t.rx_port[f];
        }
        // Bursts of a 20 ms packetisation interval arrive over time.
        self.now_us += 10;
        BurstInput { bufs, rx_port, now_us: self.now_us }
    }
}

/// Runs one burst through the pipeline; returns the packets forwarded.
#[inline(never)]
fn process_burst(relay: &mut Relay, input: &mut BurstInput) -> usize {
    let mut p = Pipeline {
        worker: 0,
        table: &mut relay.table,
        ports: &relay.ports,
        flow_stats: &relay.stats,
        now_tsc: input.now_us,
        now_us: input.now_us,
    };
    let mut pkts: [PacketBuf<'_>; BURST] = std::array::from_fn(|_| PacketBuf::empty());
    for (pkt, chunk) in pkts.iter_mut().zip(input.bufs.chunks_exact_mut(SLOT)) {
        *pkt = PacketBuf::new(chunk, HEADROOM, FRAME);
    }
    let mut verdicts = [Verdict::Drop(mediafwd_dataplane::stats::DropReason::Runt); BURST];
    p.process_burst(&mut pkts, input.rx_port[0], &[None; BURST], &mut verdicts, &mut |e| {
        black_box(e);
    });
    black_box(&verdicts).iter().filter(|v| matches!(v, Verdict::Forward { .. })).count()
}

fn relay_plain(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay/plain");
    group.throughput(Throughput::Elements(BURST as u64));
    for (label, flows) in [("1k", 1_000), ("100k", 100_000), ("1m", 1_000_000)] {
        // Built on first use, so that a filtered run builds only its table.
        let mut state = None;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            let (relay, templates, traffic) = state.get_or_insert_with(|| {
                let (mut relay, templates) = Relay::new(flows);
                let mut traffic = Traffic::new(flows);
                // Every packet must be relayed, or the figure measures drops.
                let mut check = traffic.burst(&templates);
                assert_eq!(process_burst(&mut relay, &mut check), BURST, "a burst was not relayed in full");
                (relay, templates, traffic)
            });
            b.iter_batched_ref(
                || traffic.burst(templates),
                |input| process_burst(relay, input),
                BatchSize::NumIterations(BURSTS_PER_BATCH),
            )
        });
    }
    group.finish();
}

criterion_group!(benches, relay_plain);
criterion_main!(benches);
