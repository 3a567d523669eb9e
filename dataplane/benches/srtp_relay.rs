//! The relay with SRTP on one core: bursts of 32 G.711 packets (214-byte IPv4
//! frames, 172-byte RTP) of one session through `Pipeline::process_burst`,
//! plain and with AES_CM_128_HMAC_SHA1_80 on one leg (RTP to SRTP, SRTP to
//! RTP) or on both (transcrypt). Each iteration gets fresh frames and a fresh
//! flow table (so every index is new to the stream states), prepared outside
//! the timed part.
//!
//! `cargo bench -p mediafwd-dataplane --bench srtp_relay`

use core::net::SocketAddr;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{
    Command, Egress, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media, SrtpKeys, SrtpTransform,
};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict};
use mediafwd_dataplane::srtp::{Context, MasterKey, Policy, StreamState, Suite};
use mediafwd_dataplane::stats::{DropReason, FlowStatsArray};
use mediafwd_dataplane::wire::ethernet::MacAddr;

const BURST: usize = 32;
const HEADROOM: usize = 128;
const SLOT: usize = 512;
const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn context(fill: u8) -> Arc<Context> {
    let suite = Suite::AesCm128HmacSha1_80;
    let key = MasterKey::from_key_salt(suite, &[fill; 30]).unwrap();
    Arc::new(Context::new(&Policy::new(suite, key)).unwrap())
}

/// One session, caller on port 0 to callee on port 1, with `srtp` on the
/// caller's flow.
fn table(srtp: &SrtpTransform) -> FlowTable {
    let mut t = FlowTable::with_capacity(4, 2);
    t.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
    let flow = Flow {
        id: 0,
        media: Media::Rtp { rtcp_mux: false },
        ingress: Ingress {
            vlan: None,
            remote: Some(sa("198.18.0.2:5000")),
            latch: LatchMode::Off,
            strict_source: true,
        },
        egress: Egress {
            port_id: 1,
            vlan: None,
            src_mac: MAC_B,
            next_hop: 1,
            src: sa("198.19.0.1:40000"),
            dst: Some(sa("198.19.0.2:6000")),
        },
        rtcp_egress: None,
        reverse: None,
        clock_rate: 8000,
    };
    let key = FlowKey::new(0, sa("198.18.0.1:30000").ip(), 30000);
    t.apply(&Command::UpsertSrtp { key, flow, srtp: srtp.clone() }).unwrap();
    t
}

/// The burst's frames as the caller sends them: plain, or protected with `sealed_by`.
fn frames(sealed_by: Option<&Context>) -> Vec<u8> {
    let mut bufs = vec![0u8; BURST * SLOT];
    let mut stream = StreamState::new();
    for (i, buf) in bufs.chunks_exact_mut(SLOT).enumerate() {
        let mut payload = [0u8; 256];
        let mut len = rtp_packet(&mut payload, 0xcafe, 1000 + i as u16, 160 * i as u32, 0, 160, 0xd5);
        if let Some(ctx) = sealed_by {
            len = ctx.protect_rtp(&mut stream, &mut payload, len).unwrap();
        }
        let frame = UdpFrame {
            src_mac: CALLER_MAC,
            dst_mac: MAC_A,
            vlan: None,
            src: sa("198.18.0.2:5000"),
            dst: sa("198.18.0.1:30000"),
        };
        frame.emit(&mut buf[HEADROOM..], &payload[..len]);
    }
    bufs
}

fn relay(table: &mut FlowTable, stats: &FlowStatsArray, ports: &[PortContext], bufs: &mut [u8]) -> usize {
    // Ethernet and IPv4 headers, then the UDP length.
    let frame_len = |buf: &[u8]| 14 + 20 + usize::from(u16::from_be_bytes([buf[HEADROOM + 38], buf[HEADROOM + 39]]));
    let mut pkts: Vec<PacketBuf<'_>> = bufs
        .chunks_exact_mut(SLOT)
        .map(|b| {
            let n = frame_len(b);
            PacketBuf::new(b, HEADROOM, n)
        })
        .collect();
    let mut verdicts = [Verdict::Drop(DropReason::Runt); BURST];
    let mut p = Pipeline { worker: 0, table, ports, flow_stats: stats, now_tsc: 1, now_us: 0 };
    p.process_burst(&mut pkts, 0, &[None; BURST], &mut verdicts, &mut |e| {
        black_box(e);
    });
    verdicts.iter().filter(|v| matches!(v, Verdict::Forward { .. })).count()
}

fn bench(c: &mut Criterion) {
    let (caller_keys, callee_keys) = (context(1), context(2));
    let keys = |c: &Arc<Context>| Some(SrtpKeys::new(c.clone()));
    let cases = [
        ("plain", SrtpTransform::default(), None),
        ("rtp_to_srtp", SrtpTransform { unprotect: None, protect: keys(&callee_keys) }, None),
        ("srtp_to_rtp", SrtpTransform { unprotect: keys(&caller_keys), protect: None }, Some(&*caller_keys)),
        (
            "transcrypt",
            SrtpTransform { unprotect: keys(&caller_keys), protect: keys(&callee_keys) },
            Some(&*caller_keys),
        ),
    ];
    let stats = FlowStatsArray::new(4);
    let ports = [PortContext::new(MAC_A), PortContext::new(MAC_B)];
    let mut group = c.benchmark_group("srtp_relay");
    group.throughput(Throughput::Elements(BURST as u64));
    for (id, srtp, sealed_by) in cases {
        let template = frames(sealed_by);
        assert_eq!(relay(&mut table(&srtp), &stats, &ports, &mut template.clone()), BURST, "{id}");
        group.bench_function(id, |b| {
            b.iter_batched_ref(
                || (table(&srtp), template.clone()),
                |(t, bufs)| relay(t, &stats, &ports, bufs),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
