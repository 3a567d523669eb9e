//! How a 32-packet SRTP burst is best handed to ipsec-mb, on the same packets
//! in one run: AES-CTR and HMAC-SHA1 as two bursts of one algorithm each
//! (`split`), the hash jobs built once and
//! submitted again (`hash_reused`), as one chained cipher-then-hash job per packet through the
//! scheduler (`chained`), and the hash alone on the AVX-512 path (16 SHA-1
//! lanes) against the SSE path (SHA-NI, one or two buffers at a time), each
//! path also with the SHA extensions switched off (`<arch>-nosha`), and
//! on kept jobs through the unvalidating entry points (`hash_slots`,
//! `cipher_slots`, what the SRTP engine does). `ipsec_mb/hash_n/...`: the
//! hash alone on bursts of 1, 2, 4, 8, 16 and 32, on each path (throughput: the
//! burst's size).
//! Packets are SRTP's 172 bytes (12-byte header, 160-byte payload) and the
//! hash covers the 4-byte ROC after them. Throughput is 32 elements.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mediafwd_ipsec_mb::{Arch, Batch, CipherSlots, HashSlots, Job, Manager};

const BURST: usize = 32;
const HEADER: usize = 12;
const PAYLOAD_END: usize = 172;
const HASHED: usize = PAYLOAD_END + 4;

fn bufs() -> Vec<[u8; 192]> {
    (0..BURST).map(|i| [i as u8; 192]).collect()
}

fn levers(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipsec_mb/burst32");
    group.throughput(Throughput::Elements(BURST as u64));
    let best = Manager::new().unwrap();
    let aes = best.aes_key(&[9; 16]);
    let auth = best.hmac_sha1_key(&[7; 20]);
    let ivs: Vec<[u8; 16]> = (0..BURST).map(|i| [i as u8; 16]).collect();
    for (arch, mut mgr) in managers() {
        let mut b = bufs();
        let mut tags = [[0u8; 12]; BURST];
        group.bench_function(format!("split/{arch}"), |bench| {
            bench.iter(|| {
                let mut jobs = Batch::<BURST>::new();
                for (buf, iv) in b.iter_mut().zip(&ivs) {
                    jobs.push(Job::aes_ctr(&aes, iv, &mut buf[HEADER..PAYLOAD_END]));
                }
                mgr.cipher_burst(jobs.as_mut_slice(), 16).unwrap();
                let mut jobs = Batch::<BURST>::new();
                for (buf, tag) in b.iter().zip(&mut tags) {
                    jobs.push(Job::hmac_sha1(&auth, &buf[..HASHED], tag));
                }
                mgr.hash_burst(jobs.as_mut_slice()).unwrap();
                black_box(&tags);
            })
        });
        group.bench_function(format!("chained/{arch}"), |bench| {
            bench.iter(|| {
                let mut jobs = Batch::<BURST>::new();
                for ((buf, iv), tag) in b.iter_mut().zip(&ivs).zip(&mut tags) {
                    jobs.push(Job::aes_ctr_then_hmac_sha1(&aes, iv, &auth, buf, HEADER..PAYLOAD_END, HASHED, tag));
                }
                mgr.submit_burst(jobs.as_mut_slice()).unwrap();
                black_box(&tags);
            })
        });
        group.bench_function(format!("cipher/{arch}"), |bench| {
            bench.iter(|| {
                let mut jobs = Batch::<BURST>::new();
                for (buf, iv) in b.iter_mut().zip(&ivs) {
                    jobs.push(Job::aes_ctr(&aes, iv, &mut buf[HEADER..PAYLOAD_END]));
                }
                mgr.cipher_burst(jobs.as_mut_slice(), 16).unwrap();
            })
        });
        group.bench_function(format!("hash/{arch}"), |bench| {
            bench.iter(|| {
                let mut jobs = Batch::<BURST>::new();
                for (buf, tag) in b.iter().zip(&mut tags) {
                    jobs.push(Job::hmac_sha1(&auth, &buf[..HASHED], tag));
                }
                mgr.hash_burst(jobs.as_mut_slice()).unwrap();
                black_box(&tags);
            })
        });
        // The same hash jobs built once and submitted again each iteration.
        let mut reused = Batch::<BURST>::new();
        for (buf, tag) in b.iter().zip(&mut tags) {
            reused.push(Job::hmac_sha1(&auth, &buf[..HASHED], tag));
        }
        group.bench_function(format!("hash_reused/{arch}"), |bench| {
            bench.iter(|| mgr.hash_burst(black_box(reused.as_mut_slice())).unwrap())
        });
        let mut slots = HashSlots::new();
        group.bench_function(format!("hash_slots/{arch}"), |bench| {
            bench.iter(|| {
                let msgs = b.iter().zip(&mut tags).map(|(buf, tag)| (&auth, &buf[..HASHED], tag));
                mgr.hash_burst_in(&mut slots, msgs).unwrap();
                black_box(&tags);
            })
        });
        let mut cslots = CipherSlots::new();
        group.bench_function(format!("cipher_slots/{arch}"), |bench| {
            bench.iter(|| {
                let ops = b.iter_mut().zip(&ivs).map(|(buf, iv)| (&aes, iv, &mut buf[HEADER..PAYLOAD_END]));
                mgr.ctr_burst_in(&mut cslots, 16, ops).unwrap();
            })
        });
        let gcm = mgr.gcm_key(&[5; 16]);
        group.bench_function(format!("gcm_seal/{arch}"), |bench| {
            bench.iter(|| {
                for (buf, iv) in b.iter_mut().zip(&ivs) {
                    let (aad, rest) = buf.split_at_mut(HEADER);
                    let iv: &[u8; 12] = iv[..12].try_into().unwrap();
                    black_box(mgr.gcm_seal(&gcm, iv, aad, &mut rest[..PAYLOAD_END - HEADER]));
                }
            })
        });
    }
    group.finish();
}

/// HMAC-SHA1 alone on kept jobs, bursts of 8, 16 and 32 packets: where the
/// SSE path (SHA-NI) and the multi-buffer AVX2 and AVX-512 paths cross.
/// `<arch>-nosha` is the same path with the SHA extensions switched off
/// (`Manager::without_sha_ni`).
fn hash_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipsec_mb/hash_n");
    let auth = Manager::new().unwrap().hmac_sha1_key(&[7; 20]);
    let b = bufs();
    for (name, mut mgr) in managers() {
        let mut slots = HashSlots::new();
        let mut tags = [[0u8; 12]; BURST];
        for n in [1, 2, 4, 8, 16, 32] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{n}/{name}"), |bench| {
                bench.iter(|| {
                    let msgs = b[..n].iter().zip(&mut tags).map(|(buf, tag)| (&auth, &buf[..HASHED], tag));
                    mgr.hash_burst_in(&mut slots, msgs).unwrap();
                    black_box(&tags);
                })
            });
        }
    }
    group.finish();
}

/// Every code path the CPU runs, with and without the SHA extensions.
fn managers() -> Vec<(String, Manager)> {
    let mut v = Vec::new();
    for arch in [Arch::Avx512, Arch::Avx2, Arch::Sse] {
        if let Ok(m) = Manager::with_arch(arch) {
            v.push((arch.to_string(), m));
        }
        if let Ok(m) = Manager::without_sha_ni(Some(arch)) {
            v.push((format!("{arch}-nosha"), m));
        }
    }
    v
}

criterion_group!(benches, levers, hash_sizes);
criterion_main!(benches);
