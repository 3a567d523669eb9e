//! Whole-packet tests: RFC 7714 vectors, index and replay handling, tampering,
//! MKI, lifetimes, and bursts against the packet-by-packet path.

use proptest::prelude::*;

use super::context::{KeySlot, SessionCipher, SessionCrypto};
use super::engine::{with_crypto, TEST_ENGINE};
use super::*;

/// Runs `f` once with each engine this build and CPU have: the contexts it
/// makes use that engine.
pub(crate) fn for_each_engine(f: impl Fn(EngineKind)) {
    for kind in EngineKind::available() {
        TEST_ENGINE.with(|e| e.set(Some(kind)));
        f(kind);
        TEST_ENGINE.with(|e| e.set(None));
    }
}

/// Bytes from hex digits; whitespace is ignored.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    assert!(s.len().is_multiple_of(2), "odd number of hex digits");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn rtp_packet(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
    p
}

fn rtcp_packet(ssrc: u32) -> Vec<u8> {
    // A receiver report with one report block (RFC 3550 §6.4.2).
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..24).map(|i| i as u8));
    p
}

fn key(suite: Suite, fill: u8) -> MasterKey {
    let material: Vec<u8> = (0..46).map(|i| fill.wrapping_mul(31).wrapping_add(i)).collect();
    MasterKey::from_key_salt(suite, &material[..suite.master_key_len() + suite.master_salt_len()]).unwrap()
}

fn context(suite: Suite) -> Context {
    Context::new(&Policy::new(suite, key(suite, 1))).unwrap()
}

/// Protects `plain` with `ctx` and `stream`, returning the SRTP packet.
fn protect(ctx: &Context, stream: &mut StreamState, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + ctx.srtp_overhead(), 0);
    let n = ctx.protect_rtp(stream, &mut buf, plain.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn unprotect(ctx: &Context, stream: &mut StreamState, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = packet.to_vec();
    let n = ctx.unprotect_rtp(stream, &mut buf, packet.len())?;
    buf.truncate(n);
    Ok(buf)
}

/// A context whose session keys are given directly, as RFC 7714's vectors are.
fn gcm_session_context(suite: Suite, key: &[u8], salt: &[u8]) -> Context {
    let mut session_salt = [0u8; 16];
    session_salt[4..].copy_from_slice(salt);
    let crypto = SessionCrypto {
        cipher: SessionCipher::AesGcm(with_crypto(|c| c.gcm_key(engine::current(), key))),
        auth: None,
        salt: u128::from_be_bytes(session_salt),
    };
    Context {
        suite,
        engine: engine::current(),
        keys: vec![KeySlot {
            mki: [0; 4],
            srtp: crypto.clone(),
            srtcp: crypto,
            srtp_lifetime: DEFAULT_SRTP_LIFETIME,
            srtcp_lifetime: DEFAULT_SRTCP_LIFETIME,
        }],
        tx_key: 0,
        mki_len: 0,
        window: u64::from(DEFAULT_WINDOW_SIZE),
    }
}

const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const RFC7714_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const RFC7714_SALT: &str = "517569642070726f2071756f";
const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                           20646976 69736120 696e2070 61727465 73207472 6573";
const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                            4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";

fn rfc7714_srtp(suite: Suite, key: &str, expected: &str) {
    let ctx = gcm_session_context(suite, &hex(key), &hex(RFC7714_SALT));
    let plain = hex(RFC7714_RTP);
    let sealed = protect(&ctx, &mut StreamState::new(), &plain);
    assert_eq!(sealed, hex(expected));
    let mut rx = StreamState::new();
    assert_eq!(unprotect(&ctx, &mut rx, &sealed).unwrap(), plain);
    assert_eq!(unprotect(&ctx, &mut rx, &sealed), Err(SrtpError::Replayed));
}

/// RFC 7714 §16.1: AEAD_AES_128_GCM SRTP encryption and decryption.
#[test]
fn rfc7714_16_1_srtp_aes_128_gcm() {
    for_each_engine(|_| {
        rfc7714_srtp(
            Suite::AeadAes128Gcm,
            RFC7714_KEY_128,
            "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f
             42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
        );
    });
}

/// RFC 7714 §16.2: AEAD_AES_256_GCM SRTP encryption and decryption.
#[test]
fn rfc7714_16_2_srtp_aes_256_gcm() {
    for_each_engine(|_| {
        rfc7714_srtp(
            Suite::AeadAes256Gcm,
            RFC7714_KEY_256,
            "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3
             b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
        );
    });
}

fn rfc7714_srtcp(suite: Suite, key: &str, expected: &str, encrypted: bool) {
    let ctx = gcm_session_context(suite, &hex(key), &hex(RFC7714_SALT));
    let plain = hex(RFC7714_RTCP);
    let sealed = hex(expected);
    if encrypted {
        let mut tx = StreamState::new();
        tx.srtcp_next = 0x5d4;
        let mut buf = plain.clone();
        buf.resize(plain.len() + ctx.srtcp_overhead(), 0);
        assert_eq!(ctx.protect_rtcp(&mut tx, &mut buf, plain.len()), Ok(sealed.len()));
        assert_eq!(buf, sealed);
    }
    let mut rx = StreamState::new();
    let mut buf = sealed.clone();
    assert_eq!(ctx.unprotect_rtcp(&mut rx, &mut buf, sealed.len()), Ok(plain.len()));
    assert_eq!(buf[..plain.len()], plain[..]);
    let mut buf = sealed.clone();
    assert_eq!(ctx.unprotect_rtcp(&mut rx, &mut buf, sealed.len()), Err(SrtpError::Replayed));
}

/// RFC 7714 §17.1: SRTCP AEAD_AES_128_GCM encryption (index 0x5d4).
#[test]
fn rfc7714_17_1_srtcp_aes_128_gcm() {
    for_each_engine(|_| {
        rfc7714_srtcp(
            Suite::AeadAes128Gcm,
            RFC7714_KEY_128,
            "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1
             730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
            true,
        );
    });
}

/// RFC 7714 §17.2: SRTCP AEAD_AES_256_GCM encryption.
#[test]
fn rfc7714_17_2_srtcp_aes_256_gcm() {
    for_each_engine(|_| {
        rfc7714_srtcp(
            Suite::AeadAes256Gcm,
            RFC7714_KEY_256,
            "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1
             110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
            true,
        );
    });
}

/// RFC 7714 §17.3: SRTCP AEAD_AES_128_GCM authentication only (E flag clear).
#[test]
fn rfc7714_17_3_srtcp_aes_128_gcm_unencrypted() {
    for_each_engine(|_| {
        rfc7714_srtcp(
            Suite::AeadAes128Gcm,
            RFC7714_KEY_128,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef
             deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4",
            false,
        );
    });
}

/// RFC 7714 §17.4: SRTCP AEAD_AES_256_GCM authentication only (E flag clear).
#[test]
fn rfc7714_17_4_srtcp_aes_256_gcm_unencrypted() {
    for_each_engine(|_| {
        rfc7714_srtcp(
            Suite::AeadAes256Gcm,
            RFC7714_KEY_256,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef
             deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393 ed2615fe 000005d4",
            false,
        );
    });
}

#[test]
fn every_suite_round_trips_rtp_and_rtcp() {
    for_each_engine(|_| {
        for suite in Suite::ALL {
            let ctx = context(suite);
            let (mut tx, mut rx) = (StreamState::new(), StreamState::new());
            for seq in [1u16, 2, 3] {
                let plain = rtp_packet(seq, 0x1234_5678, 160);
                let sealed = protect(&ctx, &mut tx, &plain);
                assert_eq!(sealed.len(), plain.len() + suite.srtp_tag_len());
                assert_eq!(sealed[..12], plain[..12]);
                assert_eq!(sealed[12..plain.len()] == plain[12..], !suite.encrypts_srtp(), "{suite}");
                assert_eq!(unprotect(&ctx, &mut rx, &sealed).unwrap(), plain, "{suite}");
            }
            let plain = rtcp_packet(0x1234_5678);
            let mut buf = plain.clone();
            buf.resize(plain.len() + ctx.srtcp_overhead(), 0);
            let n = ctx.protect_rtcp(&mut tx, &mut buf, plain.len()).unwrap();
            assert_eq!(n, plain.len() + 4 + suite.srtcp_tag_len());
            assert_ne!(buf[8..plain.len()], plain[8..], "SRTCP is always encrypted ({suite})");
            assert_eq!(ctx.unprotect_rtcp(&mut rx, &mut buf, n), Ok(plain.len()));
            assert_eq!(buf[..plain.len()], plain[..]);
        }
    });
}

#[test]
fn short_tag_suites_keep_an_80_bit_srtcp_tag() {
    for_each_engine(|_| {
        for suite in [Suite::AesCm128HmacSha1_32, Suite::Aes192CmHmacSha1_32, Suite::Aes256CmHmacSha1_32] {
            let ctx = context(suite);
            assert_eq!(ctx.srtp_overhead(), 4);
            assert_eq!(ctx.srtcp_overhead(), 4 + 10);
            let plain = rtcp_packet(7);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 14, 0);
            assert_eq!(ctx.protect_rtcp(&mut StreamState::new(), &mut buf, plain.len()), Ok(plain.len() + 14));
        }
    });
}

#[test]
fn null_cipher_leaves_payload_clear_but_authenticates() {
    for_each_engine(|_| {
        let ctx = context(Suite::NullHmacSha1_80);
        let plain = rtp_packet(10, 99, 40);
        let sealed = protect(&ctx, &mut StreamState::new(), &plain);
        assert_eq!(sealed[..plain.len()], plain[..]);
        let mut forged = sealed.clone();
        forged[20] ^= 0x01;
        assert_eq!(unprotect(&ctx, &mut StreamState::new(), &forged), Err(SrtpError::AuthFailed));
        assert_eq!(unprotect(&ctx, &mut StreamState::new(), &sealed).unwrap(), plain);
    });
}

#[test]
fn roc_follows_the_sequence_wrap_and_late_packets() {
    for_each_engine(|_| {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
            let ctx = context(suite);
            let mut tx = StreamState::new();
            let seqs = [65533u16, 65534, 65535, 0, 1, 2];
            let sealed: Vec<_> = seqs.iter().map(|&s| protect(&ctx, &mut tx, &rtp_packet(s, 5, 30))).collect();
            assert_eq!(tx.roc(), 1);

            // Receive everything but 65535, then 65535 late, after the wrap.
            let mut rx = StreamState::new();
            for (i, p) in sealed.iter().enumerate().filter(|(i, _)| *i != 2) {
                assert_eq!(unprotect(&ctx, &mut rx, p).unwrap(), rtp_packet(seqs[i], 5, 30));
            }
            assert_eq!(rx.roc(), 1);
            assert_eq!(rx.highest_index(), Some(65536 + 2));
            assert_eq!(unprotect(&ctx, &mut rx, &sealed[2]).unwrap(), rtp_packet(65535, 5, 30));
            assert_eq!(unprotect(&ctx, &mut rx, &sealed[2]), Err(SrtpError::Replayed));
            assert_eq!(unprotect(&ctx, &mut rx, &sealed[4]), Err(SrtpError::Replayed));
        }
    });
}

#[test]
fn too_old_packets_are_refused() {
    for_each_engine(|_| {
        let ctx = context(Suite::AesCm128HmacSha1_80);
        let mut tx = StreamState::new();
        let old = protect(&ctx, &mut tx, &rtp_packet(100, 1, 10));
        let mut rx = StreamState::new();
        for seq in 101..=100 + DEFAULT_WINDOW_SIZE as u16 {
            let p = protect(&ctx, &mut tx, &rtp_packet(seq, 1, 10));
            unprotect(&ctx, &mut rx, &p).unwrap();
        }
        assert_eq!(unprotect(&ctx, &mut rx, &old), Err(SrtpError::TooOld));
        // Protect refuses to reuse an index it already sent.
        let mut buf = rtp_packet(150, 1, 10);
        buf.resize(40, 0);
        assert_eq!(ctx.protect_rtp(&mut tx, &mut buf, 22), Err(SrtpError::Replayed));
    });
}

#[test]
fn any_flipped_bit_fails_and_leaves_the_stream_unchanged() {
    for_each_engine(|_| {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::AeadAes256Gcm] {
            let ctx = context(suite);
            let mut tx = StreamState::new();
            let first = protect(&ctx, &mut tx, &rtp_packet(1, 3, 24));
            let second = protect(&ctx, &mut tx, &rtp_packet(2, 3, 24));
            let mut rx = StreamState::new();
            unprotect(&ctx, &mut rx, &first).unwrap();
            let before = rx.clone();
            for bit in 0..second.len() * 8 {
                let mut forged = second.clone();
                forged[bit / 8] ^= 1 << (bit % 8);
                let err = unprotect(&ctx, &mut rx, &forged).unwrap_err();
                // Bytes 0..4 hold the version, CSRC count, extension flag and sequence
                // number: flipping them may also be refused before any crypto
                // (Malformed, TooShort, or an index already received or too old).
                // Everything else is the tag's business.
                if bit >= 32 {
                    assert_eq!(err, SrtpError::AuthFailed, "{suite} bit {bit}");
                }
                assert_eq!(rx, before, "{suite} bit {bit} moved the stream");
            }
            assert_eq!(unprotect(&ctx, &mut rx, &second).unwrap(), rtp_packet(2, 3, 24));
        }
    });
}

#[test]
fn rtcp_tampering_and_replay() {
    for_each_engine(|_| {
        let ctx = context(Suite::AesCm128HmacSha1_80);
        let mut tx = StreamState::new();
        let plain = rtcp_packet(9);
        let mut sealed = plain.clone();
        sealed.resize(plain.len() + ctx.srtcp_overhead(), 0);
        ctx.protect_rtcp(&mut tx, &mut sealed, plain.len()).unwrap();
        let mut rx = StreamState::new();
        for bit in 0..sealed.len() * 8 {
            let mut forged = sealed.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let n = forged.len();
            let err = ctx.unprotect_rtcp(&mut rx, &mut forged, n).unwrap_err();
            assert!(matches!(err, SrtpError::AuthFailed | SrtpError::Malformed), "bit {bit}: {err:?}");
        }
        assert_eq!(rx, StreamState::new());
        let mut buf = sealed.clone();
        assert_eq!(ctx.unprotect_rtcp(&mut rx, &mut buf, sealed.len()), Ok(plain.len()));
        let mut buf = sealed.clone();
        assert_eq!(ctx.unprotect_rtcp(&mut rx, &mut buf, sealed.len()), Err(SrtpError::Replayed));
    });
}

fn two_key_policy(suite: Suite, tx_key: usize) -> Policy {
    Policy {
        suite,
        master_keys: vec![
            key(suite, 1).with_mki(Mki::new(0x0a0b, 2).unwrap()),
            key(suite, 2).with_mki(Mki::new(0x0c0d, 2).unwrap()),
        ],
        tx_key,
        window_size: DEFAULT_WINDOW_SIZE,
    }
}

#[test]
fn mki_selects_the_master_key() {
    for_each_engine(|_| {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
            let old = Context::new(&two_key_policy(suite, 0)).unwrap();
            let new = Context::new(&two_key_policy(suite, 1)).unwrap();
            let mut tx = StreamState::new();
            let a = protect(&old, &mut tx, &rtp_packet(1, 4, 20));
            let b = protect(&new, &mut tx, &rtp_packet(2, 4, 20));
            let mki_at = if suite.is_aead() { a.len() - 2 } else { 32 };
            assert_eq!(a[mki_at..mki_at + 2], [0x0a, 0x0b]);
            assert_eq!(b[mki_at..mki_at + 2], [0x0c, 0x0d]);
            // Either receiving context accepts both keys.
            let mut rx = StreamState::new();
            assert_eq!(unprotect(&new, &mut rx, &a).unwrap(), rtp_packet(1, 4, 20));
            assert_eq!(unprotect(&old, &mut rx, &b).unwrap(), rtp_packet(2, 4, 20));
            assert_eq!((rx.key_usage(0).0, rx.key_usage(1).0), (1, 1));

            let mut unknown = protect(&old, &mut tx, &rtp_packet(3, 4, 20));
            unknown[mki_at] = 0xff;
            assert_eq!(unprotect(&old, &mut rx, &unknown), Err(SrtpError::UnknownMki));

            // A context with only the first key does not know the second MKI.
            let one = Policy {
                master_keys: vec![key(suite, 1).with_mki(Mki::new(0x0a0b, 2).unwrap())],
                ..two_key_policy(suite, 0)
            };
            let one = Context::new(&one).unwrap();
            assert_eq!(unprotect(&one, &mut StreamState::new(), &b), Err(SrtpError::UnknownMki));
        }
    });
}

#[test]
fn policy_errors() {
    for_each_engine(|_| {
        let suite = Suite::AesCm128HmacSha1_80;
        let mut p = two_key_policy(suite, 0);
        p.master_keys[1].mki = None;
        assert_eq!(Context::new(&p).unwrap_err(), PolicyError::MkiLayout);
        let mut p = two_key_policy(suite, 0);
        p.master_keys[1].mki = p.master_keys[0].mki;
        assert_eq!(Context::new(&p).unwrap_err(), PolicyError::DuplicateMki(0x0a0b));
        assert_eq!(Context::new(&two_key_policy(suite, 2)).unwrap_err(), PolicyError::TxKey(2));
        let mut p = Policy::new(suite, key(suite, 1));
        p.window_size = 32;
        assert!(matches!(Context::new(&p), Err(PolicyError::WindowSize { .. })));
        p.window_size = 128;
        p.master_keys[0].srtcp_lifetime = 0;
        assert_eq!(Context::new(&p).unwrap_err(), PolicyError::Lifetime);
        assert!(matches!(MasterKey::from_key_salt(suite, &[0; 29]), Err(PolicyError::KeySaltLength { .. })));
        assert!(matches!(MasterKey::new(suite, &[0; 16], &[0; 12]), Err(PolicyError::SaltLength { .. })));
        assert!(Mki::new(256, 1).is_err() && Mki::new(1, 5).is_err() && Mki::new(1, 0).is_err());
        let p = Policy::new(Suite::AeadAes128Gcm, key(suite, 1));
        assert!(matches!(Context::new(&p), Err(PolicyError::SaltLength { .. })));
    });
}

#[test]
fn lifetimes_are_enforced() {
    for_each_engine(|_| {
        let suite = Suite::AesCm128HmacSha1_80;
        let ctx = Context::new(&Policy::new(suite, key(suite, 1).with_lifetimes(3, 2))).unwrap();
        let (mut tx, mut rx) = (StreamState::new(), StreamState::new());
        let sealed: Vec<_> = (1..=3).map(|s| protect(&ctx, &mut tx, &rtp_packet(s, 1, 8))).collect();
        let mut buf = rtp_packet(4, 1, 8);
        buf.resize(40, 0);
        assert_eq!(ctx.protect_rtp(&mut tx, &mut buf, 20), Err(SrtpError::KeyLifetimeExceeded));
        for p in &sealed {
            unprotect(&ctx, &mut rx, p).unwrap();
        }
        let mut other = StreamState::new();
        let fourth = protect(&ctx, &mut other, &rtp_packet(4, 1, 8));
        assert_eq!(unprotect(&ctx, &mut rx, &fourth), Err(SrtpError::KeyLifetimeExceeded));

        let rtcp = rtcp_packet(1);
        let mut buf = rtcp.clone();
        buf.resize(rtcp.len() + ctx.srtcp_overhead(), 0);
        for _ in 0..2 {
            ctx.protect_rtcp(&mut tx, &mut buf, rtcp.len()).unwrap();
        }
        assert_eq!(ctx.protect_rtcp(&mut tx, &mut buf, rtcp.len()), Err(SrtpError::KeyLifetimeExceeded));
        tx.reset_key_usage(0);
        assert!(ctx.protect_rtcp(&mut tx, &mut buf, rtcp.len()).is_ok());
        // The SRTCP index space itself ends at 2^31.
        tx.srtcp_next = 0x8000_0000;
        tx.reset_key_usage(0);
        assert_eq!(ctx.protect_rtcp(&mut tx, &mut buf, rtcp.len()), Err(SrtpError::KeyLifetimeExceeded));
    });
}

#[test]
fn buffer_and_header_errors() {
    for_each_engine(|_| {
        let ctx = context(Suite::AesCm128HmacSha1_80);
        let plain = rtp_packet(1, 1, 10);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 9, 0);
        assert_eq!(ctx.protect_rtp(&mut StreamState::new(), &mut buf, plain.len()), Err(SrtpError::BufferTooSmall));
        assert_eq!(buf[..plain.len()], plain[..], "refused packets stay untouched");
        let mut tiny = [0x80u8; 11 + 10];
        assert_eq!(ctx.protect_rtp(&mut StreamState::new(), &mut tiny, 11), Err(SrtpError::TooShort));
        let mut v1 = plain.clone();
        v1[0] = 0x40;
        v1.resize(plain.len() + 10, 0);
        assert_eq!(ctx.protect_rtp(&mut StreamState::new(), &mut v1, plain.len()), Err(SrtpError::Malformed));
        let mut short = plain[..12 + 5].to_vec();
        assert_eq!(ctx.unprotect_rtp(&mut StreamState::new(), &mut short, 17), Err(SrtpError::TooShort));
        let mut short_rtcp = rtcp_packet(1)[..8 + 4 + 9].to_vec();
        assert_eq!(ctx.unprotect_rtcp(&mut StreamState::new(), &mut short_rtcp, 21), Err(SrtpError::TooShort));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A burst over several streams and contexts, with duplicates, tampered
    /// packets and sequence jumps, gives exactly the results of the packets
    /// processed one by one.
    #[test]
    fn bursts_equal_packet_by_packet(
        suite in prop::sample::select(vec![Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32, Suite::NullHmacSha1_80, Suite::AeadAes128Gcm]),
        packets in proptest::collection::vec((0usize..3, 0u16..40, 0usize..200, any::<bool>()), 1..70),
        engine in prop::sample::select(EngineKind::available()),
    ) {
        TEST_ENGINE.with(|e| e.set(Some(engine)));
        let contexts = [context(suite), Context::new(&Policy::new(suite, key(suite, 9))).unwrap()];
        let stream_ctx = [0usize, 1, 0];

        // Protect one by one and as a burst: same bytes, same stream states.
        let plains: Vec<Vec<u8>> = packets.iter().map(|&(s, seq, len, _)| rtp_packet(seq, s as u32, len)).collect();
        let mut single_tx = vec![StreamState::new(); 3];
        let mut single: Vec<(Vec<u8>, Result<usize, SrtpError>)> = Vec::new();
        for (p, &(s, ..)) in plains.iter().zip(&packets) {
            let mut buf = p.clone();
            buf.resize(p.len() + 16, 0);
            let r = contexts[stream_ctx[s]].protect_rtp(&mut single_tx[s], &mut buf, p.len());
            single.push((buf, r));
        }
        let mut burst_tx = vec![StreamState::new(); 3];
        let mut bufs: Vec<Vec<u8>> = plains.iter().map(|p| { let mut b = p.clone(); b.resize(p.len() + 16, 0); b }).collect();
        let mut results = vec![Ok(0); bufs.len()];
        let mut burst: Vec<BurstPacket<'_>> = bufs.iter_mut().zip(&packets).zip(&plains)
            .map(|((buf, &(s, ..)), p)| BurstPacket { ctx: &contexts[stream_ctx[s]], stream: s, buf, len: p.len() })
            .collect();
        protect_rtp_burst(&mut burst, &mut burst_tx[..], &mut results);
        drop(burst);
        prop_assert_eq!(&burst_tx, &single_tx);
        for ((buf, r), (sbuf, sr)) in bufs.iter().zip(&results).zip(&single) {
            prop_assert_eq!(r, sr);
            if let Ok(n) = r {
                prop_assert_eq!(&buf[..*n], &sbuf[..*n]);
            }
        }

        // Unprotect, some packets tampered with: one by one, then as a burst.
        let wire: Vec<Vec<u8>> = single.iter().zip(&packets).filter_map(|((buf, r), &(.., tamper))| {
            let n = *r.as_ref().ok()?;
            let mut w = buf[..n].to_vec();
            if tamper { let last = w.len() - 1; w[last] ^= 0x20; }
            Some(w)
        }).collect();
        let owners: Vec<usize> = single.iter().zip(&packets).filter(|((_, r), _)| r.is_ok()).map(|(_, &(s, ..))| s).collect();
        let mut single_rx = vec![StreamState::new(); 3];
        let mut expected = Vec::new();
        for (w, &s) in wire.iter().zip(&owners) {
            let mut buf = w.clone();
            let r = contexts[stream_ctx[s]].unprotect_rtp(&mut single_rx[s], &mut buf, w.len());
            expected.push((buf, r));
        }
        let mut burst_rx = vec![StreamState::new(); 3];
        let mut bufs: Vec<Vec<u8>> = wire.clone();
        let mut results = vec![Ok(0); bufs.len()];
        let mut burst: Vec<BurstPacket<'_>> = bufs.iter_mut().zip(&owners)
            .map(|(buf, &s)| { let len = buf.len(); BurstPacket { ctx: &contexts[stream_ctx[s]], stream: s, buf, len } })
            .collect();
        unprotect_rtp_burst(&mut burst, &mut burst_rx[..], &mut results);
        drop(burst);
        prop_assert_eq!(&burst_rx, &single_rx);
        for ((buf, r), (ebuf, er)) in bufs.iter().zip(&results).zip(&expected) {
            prop_assert_eq!(r, er);
            if let Ok(n) = r {
                prop_assert_eq!(&buf[..*n], &ebuf[..*n]);
            }
        }
    }
}

/// SRTCP bursts over two streams, for every suite and engine, equal the
/// packets processed one by one; a tampered packet in the burst fails alone.
#[test]
fn rtcp_bursts_equal_packet_by_packet() {
    for_each_engine(|_| {
        for suite in Suite::ALL {
            let ctx = context(suite);
            let plains: Vec<Vec<u8>> = (0..9u32).map(|i| rtcp_packet(i % 2)).collect();
            let cap = plains[0].len() + ctx.srtcp_overhead();
            let mut single_tx = vec![StreamState::new(); 2];
            let single: Vec<Vec<u8>> = plains
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut buf = p.clone();
                    buf.resize(cap, 0);
                    assert_eq!(ctx.protect_rtcp(&mut single_tx[i % 2], &mut buf, p.len()), Ok(cap));
                    buf
                })
                .collect();
            let mut burst_tx = vec![StreamState::new(); 2];
            let mut bufs: Vec<Vec<u8>> = plains.iter().map(|p| [p.clone(), vec![0; cap - p.len()]].concat()).collect();
            let mut results = vec![Ok(0); bufs.len()];
            let mut burst: Vec<BurstPacket<'_>> = bufs
                .iter_mut()
                .enumerate()
                .map(|(i, buf)| BurstPacket { ctx: &ctx, stream: i % 2, buf, len: plains[i].len() })
                .collect();
            protect_rtcp_burst(&mut burst, &mut burst_tx[..], &mut results);
            drop(burst);
            assert_eq!((&bufs, &burst_tx), (&single, &single_tx), "{suite}");
            assert!(results.iter().all(|r| *r == Ok(cap)), "{suite}");

            bufs[4][10] ^= 1;
            let mut rx = vec![StreamState::new(); 2];
            let mut results = vec![Ok(0); bufs.len()];
            let mut burst: Vec<BurstPacket<'_>> = bufs
                .iter_mut()
                .enumerate()
                .map(|(i, buf)| BurstPacket { ctx: &ctx, stream: i % 2, buf, len: cap })
                .collect();
            unprotect_rtcp_burst(&mut burst, &mut rx[..], &mut results);
            drop(burst);
            for (i, (r, buf)) in results.iter().zip(&bufs).enumerate() {
                if i == 4 {
                    assert_eq!(*r, Err(SrtpError::AuthFailed), "{suite}");
                    assert_eq!(
                        buf[..],
                        {
                            let mut t = single[4].clone();
                            t[10] ^= 1;
                            t
                        }[..],
                        "{suite}: left as it was"
                    );
                } else {
                    assert_eq!(&buf[..*r.as_ref().unwrap()], &plains[i][..], "{suite} {i}");
                }
            }
        }
    });
}
