//! HMAC-SHA1 (RFC 2104) with pre-hashed pads, over one or many messages at once.
//!
//! SRTP authenticates `packet || ROC` (RFC 3711 §4.2). The key is fixed per
//! session, so the SHA-1 states after the `key ^ ipad` and `key ^ opad` blocks are
//! computed once ([`HmacSha1Key::new`]); a packet then costs its own blocks plus one
//! outer block. [`hmac_sha1_lanes`] takes up to four messages at once through the
//! interleaved lanes of [`super::sha1_multi`]; the packet's whole blocks are read in
//! place, only the last partial block, the ROC and the padding are built on the
//! stack.

use super::sha1_multi::{compress_lanes, LaneBlocks, MAX_LANES, SHA1_IV};

/// SHA-1 block size in bytes.
const BLOCK: usize = 64;

/// An HMAC-SHA1 value as the five words of the final SHA-1 state; its bytes are
/// the words big-endian. Tags are written and compared straight from the words:
/// bytes stored one word at a time and read back in wider loads would wait on the
/// CPU's store queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mac([u32; 5]);

impl Mac {
    /// Writes the first `dst.len()` bytes (an SRTP tag: 4 or 10; up to 20).
    #[inline]
    pub(crate) fn write_tag(&self, dst: &mut [u8]) {
        let [w0, w1, w2, ..] = self.0;
        match dst.len() {
            4 => dst.copy_from_slice(&w0.to_be_bytes()),
            10 => {
                dst[..4].copy_from_slice(&w0.to_be_bytes());
                dst[4..8].copy_from_slice(&w1.to_be_bytes());
                dst[8..].copy_from_slice(&w2.to_be_bytes()[..2]);
            }
            _ => {
                let bytes = self.bytes();
                dst.copy_from_slice(&bytes[..dst.len()]);
            }
        }
    }

    /// Whether `received` is this MAC truncated to its length, compared in time
    /// independent of where they differ.
    #[inline]
    pub(crate) fn matches(&self, received: &[u8]) -> bool {
        let mut diff = 0u8;
        for (chunk, word) in received.chunks(4).zip(self.0) {
            for (r, e) in chunk.iter().zip(word.to_be_bytes()) {
                diff |= r ^ e;
            }
        }
        received.len() <= 20 && bool::from(subtle::ConstantTimeEq::ct_eq(&diff, &0))
    }

    /// The 20 MAC bytes.
    pub(crate) fn bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.0) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// An HMAC-SHA1 key reduced to the SHA-1 states after its inner and outer pads.
#[derive(Clone)]
pub(crate) struct HmacSha1Key {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl HmacSha1Key {
    /// Pre-hashes `key ^ ipad` and `key ^ opad` (RFC 2104 §2). SRTP session
    /// authentication keys are 20 bytes, shorter than a block.
    pub(crate) fn new(key: &[u8]) -> Self {
        assert!(key.len() <= BLOCK, "SRTP authentication keys are at most one block");
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let mut states = [SHA1_IV, SHA1_IV];
        let pads = [LaneBlocks { head: &ipad, tail: &[] }, LaneBlocks { head: &opad, tail: &[] }];
        compress_lanes(&mut states, &pads, 1, None);
        HmacSha1Key { inner: states[0], outer: states[1] }
    }
}

/// One message to authenticate: `msg`, then SRTP's ROC if given (RFC 3711 §4.2;
/// SRTCP has none).
#[derive(Clone, Copy)]
pub(crate) struct HmacInput<'a> {
    pub key: &'a HmacSha1Key,
    pub msg: &'a [u8],
    pub roc: Option<u32>,
}

/// HMAC-SHA1 of one message.
pub(crate) fn hmac_sha1(input: HmacInput<'_>) -> Mac {
    hmac_sha1_lanes(&[input])[0]
}

/// HMAC-SHA1 of up to [`MAX_LANES`] messages side by side; the MAC of
/// `inputs[i]` is in `[i]`.
pub(crate) fn hmac_sha1_lanes(inputs: &[HmacInput<'_>]) -> [Mac; MAX_LANES] {
    let n = inputs.len();
    assert!((1..=MAX_LANES).contains(&n), "1 to {MAX_LANES} messages at once");
    let mut tails = [[0u8; 2 * BLOCK]; MAX_LANES];
    let mut tail_lens = [0usize; MAX_LANES];
    let mut states = [[0u32; 5]; MAX_LANES];
    for (i, input) in inputs.iter().enumerate() {
        tail_lens[i] = build_tail(&mut tails[i], input);
        states[i] = input.key.inner;
    }
    let mut lanes = [LaneBlocks { head: &[], tail: &[] }; MAX_LANES];
    let mut outer = [[0u32; 5]; MAX_LANES];
    for (i, input) in inputs.iter().enumerate() {
        let whole = input.msg.len() - input.msg.len() % BLOCK;
        lanes[i] = LaneBlocks { head: &input.msg[..whole], tail: &tails[i][..tail_lens[i]] };
        outer[i] = input.key.outer;
    }
    compress_hmac(&mut states[..n], &lanes[..n], &outer[..n]);

    states.map(Mac)
}

/// Inner blocks then the outer block of every lane; lanes of unequal length run
/// side by side while they last.
fn compress_hmac(states: &mut [[u32; 5]], lanes: &[LaneBlocks<'_>], outer: &[[u32; 5]]) {
    let counts: [usize; MAX_LANES] = core::array::from_fn(|i| lanes.get(i).map_or(0, LaneBlocks::count));
    if counts[..lanes.len()].iter().all(|&c| c == counts[0]) {
        compress_lanes(states, lanes, counts[0], Some(outer));
        return;
    }
    let mut done = 0;
    loop {
        let mut active = [0usize; MAX_LANES];
        let mut n = 0;
        for (i, &count) in counts[..lanes.len()].iter().enumerate() {
            if count > done {
                active[n] = i;
                n += 1;
            }
        }
        if n == 0 {
            break;
        }
        let step = active[..n].iter().map(|&i| counts[i] - done).min().unwrap_or(0);
        let mut sub_states = [[0u32; 5]; MAX_LANES];
        let mut sub_lanes = [LaneBlocks { head: &[], tail: &[] }; MAX_LANES];
        for (k, &i) in active[..n].iter().enumerate() {
            sub_states[k] = states[i];
            sub_lanes[k] = skip_blocks(lanes[i], done);
        }
        compress_lanes(&mut sub_states[..n], &sub_lanes[..n], step, None);
        for (k, &i) in active[..n].iter().enumerate() {
            states[i] = sub_states[k];
        }
        done += step;
    }
    compress_lanes(states, lanes, 0, Some(outer));
}

fn skip_blocks(lane: LaneBlocks<'_>, blocks: usize) -> LaneBlocks<'_> {
    let skip = blocks * BLOCK;
    if skip <= lane.head.len() {
        LaneBlocks { head: &lane.head[skip..], tail: lane.tail }
    } else {
        LaneBlocks { head: &[], tail: &lane.tail[skip - lane.head.len()..] }
    }
}

/// Writes the message's last partial block, the ROC and the SHA-1 padding
/// (FIPS 180-4 §5.1.1; the length counts the ipad block) into `tail`, which must
/// be zeroed; returns its length, one or two blocks.
fn build_tail(tail: &mut [u8; 2 * BLOCK], input: &HmacInput<'_>) -> usize {
    let rest = &input.msg[input.msg.len() - input.msg.len() % BLOCK..];
    copy_short(tail, rest);
    let mut end = rest.len();
    if let Some(roc) = input.roc {
        tail[end..end + 4].copy_from_slice(&roc.to_be_bytes());
        end += 4;
    }
    tail[end] = 0x80;
    let len = if end + 1 + 8 <= BLOCK { BLOCK } else { 2 * BLOCK };
    let bits = ((BLOCK + end - rest.len() + input.msg.len()) as u64) * 8;
    tail[len - 8..len].copy_from_slice(&bits.to_be_bytes());
    len
}

/// Copies `src` (under 64 bytes) to the start of `dst` in fixed-size pieces: the
/// length changes with every packet, and a call to `memcpy` would cost more than
/// the copy.
fn copy_short(dst: &mut [u8], src: &[u8]) {
    debug_assert!(src.len() < BLOCK);
    let mut at = 0;
    for width in [32, 16, 8, 4, 2, 1] {
        if src.len() - at >= width {
            dst[at..at + width].copy_from_slice(&src[at..at + width]);
            at += width;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn mac(key: &[u8], msg: &[u8]) -> [u8; 20] {
        let key = HmacSha1Key::new(key);
        hmac_sha1(HmacInput { key: &key, msg, roc: None }).bytes()
    }

    /// RFC 2202 §3 test cases 1 to 3.
    #[test]
    fn rfc2202_vectors() {
        assert_eq!(mac(&[0x0b; 20], b"Hi There")[..], hex("b617318655057264e28bc0b6fb378c8ef146be00")[..]);
        assert_eq!(
            mac(b"Jefe", b"what do ya want for nothing?")[..],
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")[..]
        );
        assert_eq!(mac(&[0xaa; 20], &[0xdd; 50])[..], hex("125d7342b9ac11cd91a39af48aa17b4f63f175d3")[..]);
    }

    #[test]
    fn short_copies() {
        let src: Vec<u8> = (1..=63).collect();
        for len in 0..=63 {
            let mut dst = [0xffu8; 70];
            copy_short(&mut dst, &src[..len]);
            assert_eq!(dst[..len], src[..len]);
            assert!(dst[len..].iter().all(|&b| b == 0xff));
        }
    }

    #[test]
    fn tags_from_words() {
        let mac = Mac([0x0102_0304, 0x0506_0708, 0x090a_0b0c, 0, 0]);
        let mut tag = [0u8; 10];
        mac.write_tag(&mut tag);
        assert_eq!(tag, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(mac.matches(&tag) && mac.matches(&tag[..4]));
        tag[9] ^= 1;
        assert!(!mac.matches(&tag));
        let mut short = [0u8; 4];
        mac.write_tag(&mut short);
        assert_eq!(short, [1, 2, 3, 4]);
    }

    /// A straightforward HMAC-SHA1 built on the portable compression, to check
    /// the lane scheduler against.
    fn reference(key: &[u8], msg: &[u8]) -> [u8; 20] {
        use super::super::sha1_multi::compress_portable;
        fn sha1(prefix: &[u8; 64], msg: &[u8]) -> [u8; 20] {
            let mut data = prefix.to_vec();
            data.extend_from_slice(msg);
            let bits = (data.len() as u64) * 8;
            data.push(0x80);
            while data.len() % 64 != 56 {
                data.push(0);
            }
            data.extend_from_slice(&bits.to_be_bytes());
            let mut state = [SHA1_IV];
            let lane = LaneBlocks { head: &data, tail: &[] };
            compress_portable(&mut state, &[lane], data.len() / 64, None);
            Mac(state[0]).bytes()
        }
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        sha1(&opad, &sha1(&ipad, msg))
    }

    proptest! {
        /// Many messages of random lengths through the lanes equal the reference.
        #[test]
        fn many_match_reference(
            key in proptest::collection::vec(any::<u8>(), 20..=20),
            msgs in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 4..300), any::<bool>()), 1..12),
        ) {
            let hkey = HmacSha1Key::new(&key);
            // With a ROC, the message's last four bytes go in as the ROC.
            let inputs: Vec<HmacInput<'_>> = msgs.iter().map(|(m, with_roc)| {
                let cut = if *with_roc { 4 } else { 0 };
                let roc = with_roc.then(|| u32::from_be_bytes(m[m.len() - 4..].try_into().unwrap()));
                HmacInput { key: &hkey, msg: &m[..m.len() - cut], roc }
            }).collect();
            let mut got = Vec::new();
            for group in inputs.chunks(MAX_LANES) {
                got.extend(hmac_sha1_lanes(group)[..group.len()].iter().map(Mac::bytes));
            }
            for ((m, _), got) in msgs.iter().zip(&got) {
                prop_assert_eq!(*got, reference(&key, m));
            }
        }
    }
}
