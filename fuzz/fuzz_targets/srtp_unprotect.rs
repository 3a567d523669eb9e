//! SRTP and SRTCP unprotect on random keys and packets: arbitrary bytes, and
//! packets the same keys sealed (as a peer holding them sends), some then
//! altered. Invariants: no panic; a refused packet leaves the buffer and the
//! stream state as they were; a sealed packet opens to what was sealed; an
//! altered one is refused.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mediafwd_dataplane::srtp::{Context, MasterKey, Mki, Policy, StreamState, Suite};

#[derive(Debug, Arbitrary)]
struct Input {
    suite: u8,
    key_salt: [u8; 46],
    /// An MKI of 1 to 4 bytes, or none; a second master key when both are set.
    mki: Option<(u32, u8)>,
    second_key: Option<[u8; 46]>,
    tx_key: bool,
    window: u16,
    packets: Vec<Packet>,
}

#[derive(Debug, Arbitrary)]
struct Packet {
    rtcp: bool,
    /// Sealed by the peer first (the bytes are the clear packet).
    seal: bool,
    /// After sealing: flip this bit (index into the sealed packet, in bits).
    flip: Option<u16>,
    bytes: Vec<u8>,
}

fn policy(input: &Input) -> Option<Policy> {
    let suite = Suite::ALL[usize::from(input.suite) % Suite::ALL.len()];
    let len = suite.master_key_len() + suite.master_salt_len();
    let mut key = MasterKey::from_key_salt(suite, &input.key_salt[..len]).ok()?;
    let mut policy = Policy::new(suite, key.clone());
    if let Some((value, mki_len)) = input.mki {
        let mki_len = usize::from(mki_len % 4) + 1;
        let value = u64::from(value) & ((1u64 << (8 * mki_len)) - 1);
        key = key.with_mki(Mki::new(value, mki_len).ok()?);
        policy.master_keys = vec![key];
        if let Some(second) = &input.second_key {
            let other = Mki::new(value ^ 1, mki_len).ok()?;
            policy.master_keys.push(MasterKey::from_key_salt(suite, &second[..len]).ok()?.with_mki(other));
            policy.tx_key = usize::from(input.tx_key);
        }
    }
    policy.window_size = u32::from(input.window);
    Some(policy)
}

fuzz_target!(|input: Input| {
    let Some(policy) = policy(&input) else { return };
    // Out-of-range windows are refused here, which is part of what is tested.
    let Ok(ctx) = Context::new(&policy) else { return };
    let mut sender = StreamState::new();
    let mut receiver = StreamState::new();
    // Both ends have seen the same packets: the receiver's estimate of the
    // rollover counter is the sender's.
    let mut in_sync = true;
    for p in input.packets.iter().take(16) {
        let mut buf = p.bytes.clone();
        let clear_len = buf.len();
        let overhead = if p.rtcp { ctx.srtcp_overhead() } else { ctx.srtp_overhead() };
        buf.resize(clear_len + overhead, 0);
        let mut len = clear_len;
        let mut sealed = false;
        if p.seal {
            let before = sender.clone();
            let r = if p.rtcp {
                ctx.protect_rtcp(&mut sender, &mut buf, clear_len)
            } else {
                ctx.protect_rtp(&mut sender, &mut buf, clear_len)
            };
            match r {
                Ok(n) => {
                    assert!(n <= buf.len(), "protect wrote past its buffer");
                    len = n;
                    sealed = true;
                }
                Err(_) => {
                    assert_eq!(&buf[..clear_len], &p.bytes[..], "a refused protect changed the packet");
                    assert_eq!(sender, before, "a refused protect changed the stream");
                }
            }
        }
        let mut altered = false;
        if let (true, Some(bit)) = (sealed, p.flip) {
            let bit = usize::from(bit) % (len * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            altered = true;
        }
        let wire = buf[..len].to_vec();
        let before = receiver.clone();
        let r = if p.rtcp {
            ctx.unprotect_rtcp(&mut receiver, &mut buf, len)
        } else {
            ctx.unprotect_rtp(&mut receiver, &mut buf, len)
        };
        match r {
            Ok(n) => {
                assert!(n <= len, "unprotect grew the packet");
                assert!(!altered, "an altered packet authenticated");
                if sealed {
                    assert_eq!(&buf[..n], &p.bytes[..], "a sealed packet opened to other bytes");
                }
            }
            Err(e) => {
                assert_eq!(&buf[..len], &wire[..], "a refused unprotect ({e:?}) changed the packet");
                assert_eq!(receiver, before, "a refused unprotect ({e:?}) changed the stream");
                // What the peer sealed opens while both ends saw the same packets.
                assert!(!(sealed && !altered && in_sync), "a sealed packet was refused: {e:?}");
                in_sync &= !sealed;
            }
        }
    }
});
