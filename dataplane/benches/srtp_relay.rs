//! The relay with SRTP on one core: bursts of 32 G.711 packets (214-byte IPv4
//! frames, 172-byte RTP) of one session through `Pipeline::process_burst`,
//! plain and with AES_CM_128_HMAC_SHA1_80 on one leg (RTP to SRTP, SRTP to
//! RTP) or on both (transcrypt). Each iteration gets fresh frames and a fresh
//! flow table (so every index is new to the stream states), prepared outside
//! the timed part.
//!
//! RTP to SRTP also as the end-to-end benchmark delivers it
//! (`rtp_to_srtp/sessions1000`: each burst of 32 from 32 of 1,000 sessions,
//! one packet each, the next burst from the next 32), and in bursts of 1, 4
//! and 8 packets of one session (`rtp_to_srtp/burstN`, throughput N):
//! these keep one table across iterations (plain packets in, so the same
//! frames can be protected again), and `plain/sessions1000` is their
//! reference without SRTP.
//!
//! `rtp_to_srtp/sessions1000/checksummed` keeps the frames' UDP checksums,
//! which the relay verifies before protecting (the others clear them).
//! `.../other_core` (of `plain/sessions1000`, `rtp_to_srtp/sessions1000`
//! and `rtp_to_srtp/sessions1000/checksummed`) are the same bursts written, just before the relay takes each, by a
//! thread on another CPU (CPU 0, or `SRTP_RELAY_WRITER_CPU`): as a generator
//! on its own core writes the frames a zero-copy memif client relays. The
//! hand-off is an atomic flag both sides spin on (no system call); run the
//! benchmark itself on another CPU than the writer's (`taskset -c 1`). Like
//! the worker, these ids prefetch the first line of every frame of the burst
//! before the pipeline.
//!
//! `cargo bench -p mediafwd-dataplane --bench srtp_relay`

use core::net::SocketAddr;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{
    Command, Egress, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media, SrtpKeys, SrtpTransform,
};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict};
use mediafwd_dataplane::prefetch::prefetch;
use mediafwd_dataplane::srtp::{Context, MasterKey, Policy, StreamState, Suite};
use mediafwd_dataplane::stats::{DropReason, FlowStatsArray};
use mediafwd_dataplane::wire::checksum;
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
    sessions(1, |_| srtp.clone())
}

/// `n` sessions, session `i` from caller port 5000 + i to relay port
/// 30000 + i, with `srtp(i)` on the caller's flow.
fn sessions(n: usize, srtp: impl Fn(usize) -> SrtpTransform) -> FlowTable {
    let mut t = FlowTable::with_capacity(n.max(4), 2);
    t.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
    for i in 0..n {
        let (i16_, id) = (i as u16, i as u32);
        let flow = session_flow(id, i16_);
        let key = FlowKey::new(0, sa("198.18.0.1:30000").ip(), 30000 + i16_);
        t.apply(&Command::UpsertSrtp { key, flow, srtp: srtp(i) }).unwrap();
    }
    t
}

fn session_flow(id: u32, i: u16) -> Flow {
    Flow {
        id,
        media: Media::Rtp { rtcp_mux: false },
        ingress: Ingress {
            vlan: None,
            remote: Some(SocketAddr::new(sa("198.18.0.2:5000").ip(), 5000 + i)),
            latch: LatchMode::Off,
            strict_source: true,
        },
        egress: Egress {
            port_id: 1,
            vlan: None,
            src_mac: MAC_B,
            next_hop: 1,
            src: SocketAddr::new(sa("198.19.0.1:40000").ip(), 40000 + i),
            dst: Some(SocketAddr::new(sa("198.19.0.2:6000").ip(), 6000 + i)),
        },
        rtcp_egress: None,
        reverse: None,
        clock_rate: 8000,
    }
}

/// The burst's frames as the caller sends them: plain, or protected with `sealed_by`.
fn frames(sealed_by: Option<&Context>) -> Vec<u8> {
    let mut stream = StreamState::new();
    plain_frames(
        BURST,
        |_| 0,
        |payload, len| match sealed_by {
            Some(ctx) => ctx.protect_rtp(&mut stream, payload, len).unwrap(),
            None => len,
        },
    )
}

/// `n` frames, frame `k` the caller's of session `session(k)`, its payload
/// passed through `seal`.
fn plain_frames(n: usize, session: impl Fn(usize) -> u16, mut seal: impl FnMut(&mut [u8], usize) -> usize) -> Vec<u8> {
    let mut bufs = vec![0u8; n * SLOT];
    for (k, buf) in bufs.chunks_exact_mut(SLOT).enumerate() {
        let i = session(k);
        let mut payload = [0u8; 256];
        let len = rtp_packet(&mut payload, 0xcafe + u32::from(i), 1000 + k as u16, 160 * k as u32, 0, 160, 0xd5);
        let len = seal(&mut payload, len);
        let frame = UdpFrame {
            src_mac: CALLER_MAC,
            dst_mac: MAC_A,
            vlan: None,
            src: SocketAddr::new(sa("198.18.0.2:5000").ip(), 5000 + i),
            dst: SocketAddr::new(sa("198.18.0.1:30000").ip(), 30000 + i),
        };
        frame.emit(&mut buf[HEADROOM..], &payload[..len]);
    }
    bufs
}

// Not inlined: perf/callgrind-srtp-relay.py collects inside it.
#[inline(never)]
fn relay(table: &mut FlowTable, stats: &FlowStatsArray, ports: &[PortContext], bufs: &mut [u8]) -> usize {
    // Ethernet and IPv4 headers, then the UDP length.
    let frame_len = |buf: &[u8]| 14 + 20 + usize::from(u16::from_be_bytes([buf[HEADROOM + 38], buf[HEADROOM + 39]]));
    let mut pkts: [PacketBuf<'_>; BURST] = std::array::from_fn(|_| PacketBuf::empty());
    let mut n = 0;
    for (b, pkt) in bufs.chunks_exact_mut(SLOT).zip(pkts.iter_mut()) {
        let len = frame_len(b);
        *pkt = PacketBuf::new(b, HEADROOM, len);
        n += 1;
    }
    let mut verdicts = [Verdict::Drop(DropReason::Runt); BURST];
    let mut p = Pipeline { worker: 0, table, ports, flow_stats: stats, now_tsc: 1, now_us: 0 };
    p.process_burst(&mut pkts[..n], 0, &[None; BURST][..n], &mut verdicts[..n], &mut |e| {
        black_box(e);
    });
    verdicts[..n].iter().filter(|v| matches!(v, Verdict::Forward { .. })).count()
}

/// [`relay`] after the first line of every frame started loading, as the
/// worker prefetches a received burst's headers before the pipeline.
fn relay_prefetched(table: &mut FlowTable, stats: &FlowStatsArray, ports: &[PortContext], bufs: &mut [u8]) -> usize {
    for b in bufs.chunks_exact(SLOT) {
        prefetch(&b[HEADROOM]);
    }
    relay(table, stats, ports, bufs)
}

/// Frames to protect again through a kept table: the UDP checksums cleared
/// (none sent, RFC 768) so that [`renumber`] need not redo them.
fn uncheck(mut bufs: Vec<u8>) -> Vec<u8> {
    for b in bufs.chunks_exact_mut(SLOT) {
        b[HEADROOM + 40..HEADROOM + 42].fill(0);
    }
    bufs
}

/// Gives packet `k` of `bufs` sequence number `first + k`: a stream refuses
/// to protect an index twice. `checked`: frames with UDP checksums, updated.
fn renumber(bufs: &mut [u8], first: u16, checked: bool) {
    let word = |b: &[u8], at: usize| u16::from_be_bytes([b[HEADROOM + at], b[HEADROOM + at + 1]]);
    for (k, b) in bufs.chunks_exact_mut(SLOT).enumerate() {
        let seq = first.wrapping_add(k as u16);
        if checked {
            let check = checksum::update16(word(b, 40), word(b, 44), seq);
            b[HEADROOM + 40..HEADROOM + 42].copy_from_slice(&if check == 0 { 0xffff } else { check }.to_be_bytes());
        }
        b[HEADROOM + 44..HEADROOM + 46].copy_from_slice(&seq.to_be_bytes());
    }
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
    bench_kept_table(c, &stats, &ports);
}

/// Sessions whose bursts go through one table kept across iterations.
const SESSIONS: usize = 1000;

/// RTP to SRTP through one table kept across iterations: 32-packet bursts
/// over 1,000 sessions, and bursts of 1, 4 and 8 packets of one session.
fn bench_kept_table(c: &mut Criterion, stats: &FlowStatsArray, ports: &[PortContext]) {
    let stats_many = FlowStatsArray::new(SESSIONS);
    let keys: Vec<Arc<Context>> = (0..SESSIONS).map(|i| context(i as u8 ^ 0x5a)).collect();
    let mut group = c.benchmark_group("srtp_relay");
    // Bursts of 32, packet k of burst b from session (32 b + k) mod 1,000.
    let checked = plain_frames(SESSIONS * BURST, |k| (k % SESSIONS) as u16, |_, len| len);
    let unchecked = uncheck(checked.clone());
    group.throughput(Throughput::Elements(BURST as u64));
    // `checksummed`: the frames keep their UDP checksums, which the relay
    // verifies before it protects (as it does for the end-to-end benchmark's).
    for (id, srtp, checked, cycle) in [
        ("plain/sessions1000", None, false, &unchecked),
        ("rtp_to_srtp/sessions1000", Some(&keys), false, &unchecked),
        ("rtp_to_srtp/sessions1000/checksummed", Some(&keys), true, &checked),
    ] {
        let transform = |i: usize| match srtp {
            Some(k) => SrtpTransform { unprotect: None, protect: Some(SrtpKeys::new(k[i].clone())) },
            None => SrtpTransform::default(),
        };
        let mut t = sessions(SESSIONS, transform);
        let bursts = cycle.len() / (BURST * SLOT);
        // Burst b (of every cycle) numbered from 32 b: a session's packets
        // go up by 32 per burst.
        let mut next = 0u64;
        let mut burst = move || {
            let b = (next % bursts as u64) as usize;
            let mut bufs = cycle[b * BURST * SLOT..(b + 1) * BURST * SLOT].to_vec();
            renumber(&mut bufs, (next * BURST as u64) as u16, checked);
            next += 1;
            bufs
        };
        for _ in 0..2 * bursts {
            assert_eq!(relay(&mut t, &stats_many, ports, &mut burst()), BURST, "{id}");
        }
        group.bench_function(id, |b| {
            b.iter_batched_ref(&mut burst, |bufs| relay(&mut t, &stats_many, ports, bufs), BatchSize::PerIteration)
        });
        // The same through a table of its own, each burst written on the other CPU.
        let mut t = sessions(SESSIONS, transform);
        let handoff = Handoff::new(BURST * SLOT);
        std::thread::scope(|s| {
            s.spawn(|| {
                handoff.write(writer_cpu(), |seq, buf| {
                    let b = (seq % bursts as u64) as usize;
                    buf.copy_from_slice(&cycle[b * BURST * SLOT..(b + 1) * BURST * SLOT]);
                    renumber(buf, (seq * BURST as u64) as u16, checked);
                })
            });
            for _ in 0..2 * bursts {
                assert_eq!(relay_prefetched(&mut t, &stats_many, ports, &mut handoff.next()), BURST, "{id}/other_core");
            }
            group.bench_function(format!("{id}/other_core"), |b| {
                b.iter_batched_ref(
                    || handoff.next(),
                    |bufs| relay_prefetched(&mut t, &stats_many, ports, bufs),
                    BatchSize::PerIteration,
                )
            });
            handoff.stop();
        });
    }
    // One session, small bursts.
    let callee_keys = context(2);
    let one = uncheck(frames(None));
    for n in [1, 4, 8] {
        let mut t = table(&SrtpTransform { unprotect: None, protect: Some(SrtpKeys::new(callee_keys.clone())) });
        let (one, mut next) = (&one, 0u16);
        let mut burst = move || {
            let mut bufs = one[..n * SLOT].to_vec();
            renumber(&mut bufs, next, false);
            next = next.wrapping_add(n as u16);
            bufs
        };
        for _ in 0..2 {
            assert_eq!(relay(&mut t, stats, ports, &mut burst()), n, "burst{n}");
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("rtp_to_srtp/burst{n}"), |b| {
            b.iter_batched_ref(&mut burst, |bufs| relay(&mut t, stats, ports, bufs), BatchSize::PerIteration)
        });
    }
    group.finish();
}

/// The CPU the other-core ids' writer runs on.
fn writer_cpu() -> usize {
    std::env::var("SRTP_RELAY_WRITER_CPU").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Bursts written by one thread for another: the benchmark asks for burst
/// `seq` and spins until the writer, spinning on its CPU, has written it.
struct Handoff {
    asked: AtomicU64,
    written: AtomicU64,
    stop: AtomicBool,
    /// Never contended: each side locks it only while the other spins.
    buf: Mutex<Vec<u8>>,
}

impl Handoff {
    fn new(len: usize) -> Self {
        Handoff {
            asked: AtomicU64::new(0),
            written: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            buf: Mutex::new(vec![0; len]),
        }
    }

    /// The writer's loop, pinned to `cpu`: burst `seq` (from 0) by `write`.
    fn write(&self, cpu: usize, mut write: impl FnMut(u64, &mut [u8])) {
        assert!(core_affinity::set_for_current(core_affinity::CoreId { id: cpu }), "pinning the writer to CPU {cpu}");
        let mut done = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let asked = self.asked.load(Ordering::Acquire);
            if asked == done {
                std::hint::spin_loop();
                continue;
            }
            write(asked - 1, &mut self.buf.lock().unwrap());
            done = asked;
            self.written.store(done, Ordering::Release);
        }
    }

    /// The next burst, written on the writer's CPU; the writer waits until it is dropped and asked again.
    fn next(&self) -> MutexGuard<'_, Vec<u8>> {
        let seq = self.asked.load(Ordering::Relaxed) + 1;
        self.asked.store(seq, Ordering::Release);
        while self.written.load(Ordering::Acquire) != seq {
            std::hint::spin_loop();
        }
        self.buf.lock().unwrap()
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
