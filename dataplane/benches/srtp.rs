//! SRTP per-packet cost on a G.711 packet (12-byte RTP header + 160 bytes), in
//! bursts of 32 packets of one stream, next to libsrtp on the same packets.
//! Each iteration gets fresh packets and fresh stream state, prepared outside the
//! timed part.
//!
//! `cargo bench --bench srtp`; needs libsrtp2 (Debian: `libsrtp2-dev`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use mediafwd_dataplane::srtp::{
    protect_rtp_burst, unprotect_rtp_burst, BurstPacket, Context, MasterKey, Policy, SrtpError, StreamState, Suite,
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

fn context(suite: Suite, fill: u8) -> Context {
    let key = MasterKey::from_key_salt(suite, &key_salt(suite, fill)).unwrap();
    Context::new(&Policy::new(suite, key)).unwrap()
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

fn bench_suite(c: &mut Criterion, suite: Suite, id: &str) {
    let ctx = context(suite, 0x11);
    let plain_lens = [RTP_LEN; BURST];
    let mut sealed = plain_burst();
    let sealed_lens = lens_of(&protect_all(&ctx, &mut StreamState::new(), &mut sealed, &plain_lens));

    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function(format!("protect/{id}"), |b| {
        b.iter_batched_ref(
            || (plain_burst(), StreamState::new()),
            |(bufs, stream)| protect_all(&ctx, stream, bufs, &plain_lens),
            BatchSize::PerIteration,
        )
    });
    group.bench_function(format!("unprotect/{id}"), |b| {
        b.iter_batched_ref(
            || (sealed.clone(), StreamState::new()),
            |(bufs, stream)| unprotect_all(&ctx, stream, bufs, &sealed_lens),
            BatchSize::PerIteration,
        )
    });
    if suite == Suite::AesCm128HmacSha1_80 {
        // A relay leg: unprotect with the caller's keys, protect with the callee's.
        let out = context(suite, 0x22);
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

fn mediafwd(c: &mut Criterion) {
    bench_suite(c, Suite::AesCm128HmacSha1_80, "aes_cm_128_hmac_sha1_80");
    bench_suite(c, Suite::AeadAes128Gcm, "aead_aes_128_gcm");
}

/// libsrtp 2's C API, the part the benchmark uses (`/usr/include/srtp2/srtp.h`).
mod libsrtp {
    use std::ffi::{c_int, c_uint, c_ulong, c_void};

    #[repr(C)]
    #[derive(Default)]
    pub struct CryptoPolicy {
        cipher_type: u32,
        cipher_key_len: c_int,
        auth_type: u32,
        auth_key_len: c_int,
        auth_tag_len: c_int,
        sec_serv: c_int,
    }

    #[repr(C)]
    pub struct Ssrc {
        pub kind: c_int,
        pub value: c_uint,
    }

    #[repr(C)]
    pub struct Policy {
        pub ssrc: Ssrc,
        pub rtp: CryptoPolicy,
        pub rtcp: CryptoPolicy,
        pub key: *mut u8,
        pub keys: *mut c_void,
        pub num_master_keys: c_ulong,
        pub deprecated_ekt: *mut c_void,
        pub window_size: c_ulong,
        pub allow_repeat_tx: c_int,
        pub enc_xtn_hdr: *mut c_int,
        pub enc_xtn_hdr_count: c_int,
        pub next: *mut Policy,
    }

    #[link(name = "srtp2")]
    extern "C" {
        fn srtp_init() -> c_int;
        fn srtp_create(session: *mut *mut c_void, policy: *const Policy) -> c_int;
        fn srtp_dealloc(session: *mut c_void) -> c_int;
        fn srtp_protect(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;
        fn srtp_unprotect(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;
        fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
    }

    /// An AES_CM_128_HMAC_SHA1_80 session for one SSRC.
    pub struct Session(*mut c_void);

    impl Session {
        pub fn new(key_salt: &[u8], ssrc: u32) -> Session {
            static INIT: std::sync::Once = std::sync::Once::new();
            // SAFETY: srtp_init takes no arguments and runs once per process.
            INIT.call_once(|| assert_eq!(unsafe { srtp_init() }, 0));
            let mut key = key_salt.to_vec();
            let mut policy = Policy {
                ssrc: Ssrc { kind: 1, value: ssrc },
                rtp: CryptoPolicy::default(),
                rtcp: CryptoPolicy::default(),
                key: key.as_mut_ptr(),
                keys: std::ptr::null_mut(),
                num_master_keys: 0,
                deprecated_ekt: std::ptr::null_mut(),
                window_size: 128,
                allow_repeat_tx: 1,
                enc_xtn_hdr: std::ptr::null_mut(),
                enc_xtn_hdr_count: 0,
                next: std::ptr::null_mut(),
            };
            let mut session = std::ptr::null_mut();
            // SAFETY: the setters write the policies they are given; `policy` and
            // the key it points to are alive for srtp_create, which copies them.
            unsafe {
                srtp_crypto_policy_set_rtp_default(&mut policy.rtp);
                srtp_crypto_policy_set_rtp_default(&mut policy.rtcp);
                assert_eq!(srtp_create(&mut session, &policy), 0);
            }
            Session(session)
        }

        /// Protects `buf[..len]` in place; returns the new length.
        pub fn protect(&self, buf: &mut [u8], len: usize) -> usize {
            assert!(buf.len() >= len + 16 + 128, "libsrtp writes up to SRTP_MAX_TRAILER_LEN");
            let mut n = len as c_int;
            // SAFETY: `buf` has room for the packet and libsrtp's largest trailer.
            let status = unsafe { srtp_protect(self.0, buf.as_mut_ptr().cast(), &mut n) };
            assert_eq!(status, 0);
            n as usize
        }

        /// Unprotects `buf[..len]` in place; returns the new length.
        pub fn unprotect(&self, buf: &mut [u8], len: usize) -> usize {
            let mut n = len as c_int;
            // SAFETY: `buf[..len]` is the packet; libsrtp only shortens it.
            let status = unsafe { srtp_unprotect(self.0, buf.as_mut_ptr().cast(), &mut n) };
            assert_eq!(status, 0);
            n as usize
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            // SAFETY: the session came from srtp_create and is freed once.
            unsafe { srtp_dealloc(self.0) };
        }
    }
}

fn libsrtp(c: &mut Criterion) {
    let suite = Suite::AesCm128HmacSha1_80;
    let key = key_salt(suite, 0x11);
    let tx = libsrtp::Session::new(&key, SSRC);
    let mut sealed = plain_burst();
    let sealed_lens: Vec<usize> = sealed.iter_mut().map(|p| tx.protect(p, RTP_LEN)).collect();

    let mut group = c.benchmark_group("srtp/libsrtp");
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function("protect/aes_cm_128_hmac_sha1_80", |b| {
        b.iter_batched_ref(
            plain_burst,
            |bufs| {
                for buf in bufs.iter_mut() {
                    tx.protect(buf, RTP_LEN);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("unprotect/aes_cm_128_hmac_sha1_80", |b| {
        b.iter_batched_ref(
            || (sealed.clone(), libsrtp::Session::new(&key, SSRC)),
            |(bufs, rx)| {
                for (buf, &len) in bufs.iter_mut().zip(&sealed_lens) {
                    rx.unprotect(buf, len);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, mediafwd, libsrtp);
criterion_main!(benches);
