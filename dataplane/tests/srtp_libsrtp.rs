//! Interoperability of mediafwd's SRTP with libsrtp 2 (Debian's `libsrtp2-dev`,
//! 2.5, built against NSS): for every suite both implement, packets protected by
//! one are unprotected by the other, RTP and RTCP, across a sequence number wrap
//! (ROC 0 -> 1), with two master keys told apart by their MKI; replayed and
//! tampered packets are refused by both. Every test runs on each crypto engine
//! this build and CPU have.
//!
//! Two libsrtp 2.5 limitations shape the test:
//! - AES-192: libsrtp's built-in KDF (used unless built with OpenSSL's KDF) runs
//!   AES-256 over the zero-padded `key || salt` for any master key longer than
//!   AES-128's, so its AES-192 session keys are not RFC 6188's (mediafwd follows
//!   RFC 6188 §7.4's vectors). The AES-192 test checks that they differ.
//! - `_32` suites with an MKI: libsrtp finds the MKI of an SRTCP packet at the
//!   SRTP tag length (4) from the end instead of the SRTCP tag length (10), so it
//!   cannot unprotect them; that direction runs without MKI for those suites.

use mediafwd_dataplane::srtp::{Context, EngineKind, MasterKey, Mki, Policy, SrtpError, StreamState, Suite};
use mediafwd_libsrtp::{Policy as LibPolicy, Profile, Session, Ssrc, Status};

const SSRC: u32 = 0x0bad_cafe;
const MKIS: [u32; 2] = [0x0a0b, 0x0c0d];

/// Master key `i` of the test, key || salt.
fn key_salt(suite: Suite, i: u8) -> Vec<u8> {
    (0..suite.master_key_len() + suite.master_salt_len())
        .map(|b| (b as u8).wrapping_mul(7).wrapping_add(i * 50 + 1))
        .collect()
}

/// A libsrtp session with both master keys and their MKIs, or only the first
/// key and no MKI; for sending (`outbound`) or receiving.
fn libsrtp(suite: Suite, outbound: bool, mki: bool) -> Session {
    let profile: Profile = suite.to_string().parse().unwrap();
    let ssrc = if outbound { Ssrc::AnyOutbound } else { Ssrc::AnyInbound };
    let policy = if mki {
        let keys = (0..2).map(|i| (key_salt(suite, i as u8), (MKIS[i] as u16).to_be_bytes().to_vec()));
        LibPolicy::with_mkis(profile, ssrc, keys)
    } else {
        LibPolicy::new(profile, ssrc, &key_salt(suite, 0))
    };
    Session::new(&policy).unwrap_or_else(|s| panic!("srtp_create for {suite}: {s}"))
}

/// mediafwd's context with the same two master keys; `tx_key` protects.
fn context(suite: Suite, tx_key: usize, engine: EngineKind) -> Context {
    let master_keys = (0..2)
        .map(|i| {
            MasterKey::from_key_salt(suite, &key_salt(suite, i as u8))
                .unwrap()
                .with_mki(Mki::new(u64::from(MKIS[i]), 2).unwrap())
        })
        .collect();
    Context::with_engine(&Policy { suite, master_keys, tx_key, window_size: 128 }, engine).unwrap()
}

/// mediafwd's context with the first master key only, no MKI.
fn context_without_mki(suite: Suite, engine: EngineKind) -> Context {
    let key = MasterKey::from_key_salt(suite, &key_salt(suite, 0)).unwrap();
    Context::with_engine(&Policy::new(suite, key), engine).unwrap()
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..160).map(|i: u32| (i as u8) ^ (seq as u8)));
    p
}

fn rtcp(n: u8) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..24).map(|i| i ^ n));
    p
}

/// Sequence numbers across the wrap: ROC 0 then 1.
const SEQS: [u16; 8] = [65532, 65533, 65534, 65535, 0, 1, 2, 3];

/// The packet with one payload bit flipped.
fn tampered(packet: &[u8]) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[20] ^= 0x01;
    p
}

fn libsrtp_to_mediafwd(suite: Suite, engine: EngineKind) {
    let mut tx = libsrtp(suite, true, true);
    let rx = [context(suite, 0, engine), context(suite, 1, engine)];
    let mut stream = StreamState::new();
    for (n, &seq) in SEQS.iter().enumerate() {
        let plain = rtp(seq);
        let sealed = tx.use_key((n % 2) as u32).protect(&plain).expect("libsrtp protect");
        // A tampered copy fails and changes nothing.
        let mut forged = tampered(&sealed);
        let len = forged.len();
        assert_eq!(rx[0].unprotect_rtp(&mut stream, &mut forged, len), Err(SrtpError::AuthFailed), "{suite} {engine}");
        let mut buf = sealed.clone();
        let len = rx[n % 2].unprotect_rtp(&mut stream, &mut buf, sealed.len()).expect("mediafwd unprotect");
        assert_eq!(buf[..len], plain[..], "{suite} {engine} seq {seq}");
        let mut again = sealed.clone();
        assert_eq!(
            rx[0].unprotect_rtp(&mut stream, &mut again, sealed.len()),
            Err(SrtpError::Replayed),
            "{suite} {engine}"
        );
    }
    assert_eq!(stream.roc(), 1);

    for n in 0..4u8 {
        let plain = rtcp(n);
        let sealed = tx.use_key(u32::from(n % 2)).protect_rtcp(&plain).expect("libsrtp protect_rtcp");
        let mut forged = tampered(&sealed);
        let len = forged.len();
        assert_eq!(rx[0].unprotect_rtcp(&mut stream, &mut forged, len), Err(SrtpError::AuthFailed), "{suite} {engine}");
        let mut buf = sealed.clone();
        let len = rx[0].unprotect_rtcp(&mut stream, &mut buf, sealed.len()).expect("mediafwd unprotect_rtcp");
        assert_eq!(buf[..len], plain[..], "{suite} {engine} rtcp {n}");
        let mut again = sealed.clone();
        assert_eq!(
            rx[1].unprotect_rtcp(&mut stream, &mut again, sealed.len()),
            Err(SrtpError::Replayed),
            "{suite} {engine}"
        );
    }
}

fn mediafwd_to_libsrtp(suite: Suite, engine: EngineKind) {
    let tx = [context(suite, 0, engine), context(suite, 1, engine)];
    let mut rx = libsrtp(suite, false, true);
    let mut stream = StreamState::new();
    for (n, &seq) in SEQS.iter().enumerate() {
        let plain = rtp(seq);
        let mut sealed = plain.clone();
        sealed.resize(plain.len() + tx[0].srtp_overhead(), 0);
        tx[n % 2].protect_rtp(&mut stream, &mut sealed, plain.len()).expect("mediafwd protect");
        assert_eq!(rx.unprotect(&tampered(&sealed)), Err(Status::AUTH_FAIL), "{suite} {engine}");
        assert_eq!(rx.unprotect(&sealed).expect("libsrtp unprotect"), plain, "{suite} {engine} seq {seq}");
        let replay = rx.unprotect(&sealed);
        assert!(matches!(replay, Err(s) if s.is_replay()), "{suite} {engine}: {replay:?}");
    }

    // libsrtp cannot find the MKI of SRTCP packets of the `_32` suites.
    let short_tag = suite.srtp_tag_len() == 4;
    let (tx, mut rx) = if short_tag {
        let single = context_without_mki(suite, engine);
        ([single.clone(), single], libsrtp(suite, false, false))
    } else {
        (tx, rx)
    };
    for n in 0..4u8 {
        let plain = rtcp(n);
        let mut sealed = plain.clone();
        sealed.resize(plain.len() + tx[0].srtcp_overhead(), 0);
        tx[usize::from(n % 2)].protect_rtcp(&mut stream, &mut sealed, plain.len()).expect("mediafwd protect_rtcp");
        assert_eq!(rx.unprotect_rtcp(&tampered(&sealed)), Err(Status::AUTH_FAIL), "{suite} {engine}");
        assert_eq!(rx.unprotect_rtcp(&sealed).expect("libsrtp unprotect_rtcp"), plain, "{suite} {engine} rtcp {n}");
        let replay = rx.unprotect_rtcp(&sealed);
        assert!(matches!(replay, Err(s) if s.is_replay()), "{suite} {engine}: {replay:?}");
    }
}

macro_rules! interop {
    ($($name:ident: $suite:expr,)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn libsrtp_protects_mediafwd_unprotects() {
                for engine in EngineKind::available() {
                    libsrtp_to_mediafwd($suite, engine);
                }
            }

            #[test]
            fn mediafwd_protects_libsrtp_unprotects() {
                for engine in EngineKind::available() {
                    mediafwd_to_libsrtp($suite, engine);
                }
            }
        }
    )*};
}

interop! {
    aes_cm_128_hmac_sha1_80: Suite::AesCm128HmacSha1_80,
    aes_cm_128_hmac_sha1_32: Suite::AesCm128HmacSha1_32,
    aes_256_cm_hmac_sha1_80: Suite::Aes256CmHmacSha1_80,
    aes_256_cm_hmac_sha1_32: Suite::Aes256CmHmacSha1_32,
    aead_aes_128_gcm: Suite::AeadAes128Gcm,
    aead_aes_256_gcm: Suite::AeadAes256Gcm,
    null_hmac_sha1_80: Suite::NullHmacSha1_80,
}

/// libsrtp 2.5's AES-192 session keys are not RFC 6188's (see the module
/// documentation): its packets fail authentication here, ours fail there. If this
/// test fails, libsrtp was fixed: move AES-192 into `interop!`.
#[test]
fn aes_192_libsrtp_derives_other_session_keys() {
    for (suite, engine) in [Suite::Aes192CmHmacSha1_80, Suite::Aes192CmHmacSha1_32]
        .into_iter()
        .flat_map(|s| EngineKind::available().into_iter().map(move |e| (s, e)))
    {
        let mut tx = libsrtp(suite, true, true);
        let sealed = tx.protect(&rtp(1)).expect("libsrtp protect");
        let mut buf = sealed.clone();
        let ours = context(suite, 0, engine).unprotect_rtp(&mut StreamState::new(), &mut buf, sealed.len());
        assert_eq!(ours, Err(SrtpError::AuthFailed), "{suite} {engine}");

        let plain = rtp(1);
        let mut sealed = plain.clone();
        let ctx = context(suite, 0, engine);
        sealed.resize(plain.len() + ctx.srtp_overhead(), 0);
        ctx.protect_rtp(&mut StreamState::new(), &mut sealed, plain.len()).unwrap();
        let mut rx = libsrtp(suite, false, true);
        assert_eq!(rx.unprotect(&sealed), Err(Status::AUTH_FAIL), "{suite} {engine}");
    }
}
