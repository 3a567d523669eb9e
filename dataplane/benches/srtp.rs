//! SRTP per-packet cost on a G.711 packet (12-byte RTP header + 160 bytes), in
//! bursts of 32 packets of one stream, next to libsrtp on the same packets.
//! Each iteration gets fresh packets and fresh stream state, prepared outside the
//! timed part.
//!
//! Ids: `srtp/{protect,unprotect,transcrypt}/<suite>` with the process's engine
//! (ipsec-mb where it runs); `srtp/burst32/...` with ipsec-mb and
//! `srtp/burst32/portable/...` with the portable engine, on the same packets;
//! `srtp/libsrtp/...` for libsrtp. Each iteration is one 32-packet burst
//! (`Throughput::Elements(32)`).
//!
//! `cargo bench -p mediafwd-dataplane --bench srtp`; needs libsrtp2 (Debian:
//! `libsrtp2-dev`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use mediafwd_libsrtp as libsrtp;

use mediafwd_dataplane::srtp::{
    protect_rtp_burst, unprotect_rtp_burst, BurstPacket, Context, EngineKind, MasterKey, Policy, SrtpError,
    StreamState, Suite,
};

const BURST: usize = 32;
const PAYLOAD: usize = 160;
const RTP_LEN: usize = 12 + PAYLOAD;
/// Room for the packet and any trailer.
const CAP: usize = 320;
const SSRC: u32 = 0x5ca1_ab1e;

type Bufs = Vec<[u8; CAP]>;

fn rtp(seq: u16) -> [u8; CAP] {
    let mut p = [0u8; CAP];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&SSRC.to_be_bytes());
    for (i, b) in p[12..RTP_LEN].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn key_salt(suite: Suite, fill: u8) -> Vec<u8> {
    (0..suite.master_key_len() + suite.master_salt_len()).map(|i| fill ^ i as u8).collect()
}

fn context(suite: Suite, fill: u8, engine: EngineKind) -> Context {
    let key = MasterKey::from_key_salt(suite, &key_salt(suite, fill)).unwrap();
    Context::with_engine(&Policy::new(suite, key), engine).unwrap()
}

fn plain_burst() -> Bufs {
    (0..BURST as u16).map(|s| rtp(1000 + s)).collect()
}

/// Runs `f` over the burst as `BurstPacket`s built on the stack.
fn with_burst<R>(
    ctx: &Context,
    bufs: &mut Bufs,
    len: impl Fn(usize) -> usize,
    f: impl FnOnce(&mut [BurstPacket<'_>]) -> R,
) -> R {
    let mut it = bufs.iter_mut().enumerate();
    let mut packets: [BurstPacket<'_>; BURST] = core::array::from_fn(|_| {
        let (i, buf) = it.next().expect("BURST buffers");
        BurstPacket { ctx, stream: 0, buf: &mut buf[..], len: len(i) }
    });
    f(&mut packets)
}

fn protect_all(
    ctx: &Context,
    stream: &mut StreamState,
    bufs: &mut Bufs,
    lens: &[usize],
) -> [Result<usize, SrtpError>; BURST] {
    let mut results = [Ok(0); BURST];
    with_burst(
        ctx,
        bufs,
        |i| lens[i],
        |packets| protect_rtp_burst(packets, core::slice::from_mut(stream), &mut results),
    );
    results
}

fn unprotect_all(
    ctx: &Context,
    stream: &mut StreamState,
    bufs: &mut Bufs,
    lens: &[usize],
) -> [Result<usize, SrtpError>; BURST] {
    let mut results = [Ok(0); BURST];
    with_burst(
        ctx,
        bufs,
        |i| lens[i],
        |packets| unprotect_rtp_burst(packets, core::slice::from_mut(stream), &mut results),
    );
    results
}

fn lens_of(results: &[Result<usize, SrtpError>; BURST]) -> [usize; BURST] {
    results.map(|r| r.expect("packet processed"))
}

fn bench_suite(c: &mut Criterion, group_name: &str, engine: EngineKind, suite: Suite, id: &str, ops: &[&str]) {
    let ctx = context(suite, 0x11, engine);
    let plain_lens = [RTP_LEN; BURST];
    let mut sealed = plain_burst();
    let sealed_lens = lens_of(&protect_all(&ctx, &mut StreamState::new(), &mut sealed, &plain_lens));

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(BURST as u64));
    if ops.contains(&"protect") {
        group.bench_function(format!("protect/{id}"), |b| {
            b.iter_batched_ref(
                || (plain_burst(), StreamState::new()),
                |(bufs, stream)| protect_all(&ctx, stream, bufs, &plain_lens),
                BatchSize::PerIteration,
            )
        });
    }
    if ops.contains(&"unprotect") {
        group.bench_function(format!("unprotect/{id}"), |b| {
            b.iter_batched_ref(
                || (sealed.clone(), StreamState::new()),
                |(bufs, stream)| unprotect_all(&ctx, stream, bufs, &sealed_lens),
                BatchSize::PerIteration,
            )
        });
    }
    if ops.contains(&"transcrypt") {
        // A relay leg: unprotect with the caller's keys, protect with the callee's.
        let out = context(suite, 0x22, engine);
        group.bench_function(format!("transcrypt/{id}"), |b| {
            b.iter_batched_ref(
                || (sealed.clone(), StreamState::new(), StreamState::new()),
                |(bufs, rx, tx)| {
                    let lens = lens_of(&unprotect_all(&ctx, rx, bufs, &sealed_lens));
                    protect_all(&out, tx, bufs, &lens)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

const CM80: &str = "aes_cm_128_hmac_sha1_80";
const GCM128: &str = "aead_aes_128_gcm";

fn mediafwd(c: &mut Criterion) {
    let engine = mediafwd_dataplane::srtp::engine::current();
    eprintln!("SRTP engine: {}", mediafwd_dataplane::srtp::engine::describe(engine));
    bench_suite(c, "srtp", engine, Suite::AesCm128HmacSha1_80, CM80, &["protect", "unprotect", "transcrypt"]);
    bench_suite(c, "srtp", engine, Suite::AeadAes128Gcm, GCM128, &["protect", "unprotect"]);
}

fn burst32(c: &mut Criterion) {
    let available = EngineKind::available();
    let engines = [(EngineKind::IpsecMb, "srtp/burst32"), (EngineKind::Portable, "srtp/burst32/portable")];
    for (engine, group) in engines.into_iter().filter(|(e, _)| available.contains(e)) {
        bench_suite(c, group, engine, Suite::AesCm128HmacSha1_80, CM80, &["protect", "unprotect", "transcrypt"]);
        bench_suite(c, group, engine, Suite::AeadAes128Gcm, GCM128, &["protect"]);
    }
}

fn libsrtp(c: &mut Criterion) {
    let suite = Suite::AesCm128HmacSha1_80;
    let key = key_salt(suite, 0x11);
    // One SSRC; the sender protects the same packets in every iteration.
    let policy = libsrtp::Policy {
        allow_repeat_tx: true,
        ..libsrtp::Policy::new(suite.to_string().parse().unwrap(), libsrtp::Ssrc::Specific(SSRC), &key)
    };
    let session = || libsrtp::Session::new(&policy).expect("srtp_create");
    let mut tx = session();
    let mut sealed = plain_burst();
    let sealed_lens: Vec<usize> = sealed.iter_mut().map(|p| tx.protect_in_place(p, RTP_LEN).unwrap()).collect();

    let mut group = c.benchmark_group("srtp/libsrtp");
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function("protect/aes_cm_128_hmac_sha1_80", |b| {
        b.iter_batched_ref(
            plain_burst,
            |bufs| {
                for buf in bufs.iter_mut() {
                    tx.protect_in_place(buf, RTP_LEN).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("unprotect/aes_cm_128_hmac_sha1_80", |b| {
        b.iter_batched_ref(
            || (sealed.clone(), session()),
            |(bufs, rx)| {
                for (buf, &len) in bufs.iter_mut().zip(&sealed_lens) {
                    rx.unprotect_in_place(buf, len).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    // A relay leg, as above: the caller's session in, the callee's out.
    let out_key = key_salt(suite, 0x22);
    let out_policy = libsrtp::Policy {
        allow_repeat_tx: true,
        ..libsrtp::Policy::new(suite.to_string().parse().unwrap(), libsrtp::Ssrc::Specific(SSRC), &out_key)
    };
    group.bench_function("transcrypt/aes_cm_128_hmac_sha1_80", |b| {
        b.iter_batched_ref(
            || (sealed.clone(), session(), libsrtp::Session::new(&out_policy).expect("srtp_create")),
            |(bufs, rx, tx)| {
                for (buf, &len) in bufs.iter_mut().zip(&sealed_lens) {
                    let n = rx.unprotect_in_place(buf, len).unwrap();
                    tx.protect_in_place(buf, n).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, mediafwd, burst32, libsrtp);
criterion_main!(benches);
