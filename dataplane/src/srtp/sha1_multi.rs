//! SHA-1 compression of up to [`MAX_LANES`] independent messages at once.
//!
//! One SHA-1 block is a chain of 20 dependent `sha1rnds4` instructions, so a single
//! message runs at the instruction's latency, not its throughput. Interleaving the
//! rounds of independent messages (lanes) lets each lane's rounds fill the others'
//! latency: the burst HMAC of [`super::hmac`] feeds one SRTP packet per lane.
//! With no SHA extensions at run time every lane goes through the `sha1` crate's
//! portable compression.
//!
//! This file holds the SRTP module's only `unsafe` code: the SHA-NI entry point and
//! its call site.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

/// Most messages compressed together.
pub(crate) const MAX_LANES: usize = 4;

/// SHA-1 initial hash value (FIPS 180-4 §5.3.1).
pub(crate) const SHA1_IV: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// One lane's next blocks: `head` then `tail`, both whole 64-byte blocks (the
/// packet's full blocks in place, then the padded tail built on the stack).
#[derive(Clone, Copy)]
pub(crate) struct LaneBlocks<'a> {
    pub head: &'a [u8],
    pub tail: &'a [u8],
}

impl<'a> LaneBlocks<'a> {
    /// Number of 64-byte blocks.
    pub(crate) fn count(&self) -> usize {
        (self.head.len() + self.tail.len()) / 64
    }

    /// The `i`-th block.
    fn block(&self, i: usize) -> &'a [u8; 64] {
        let head_blocks = self.head.len() / 64;
        let (bytes, at) = if i < head_blocks { (self.head, i * 64) } else { (self.tail, (i - head_blocks) * 64) };
        bytes[at..at + 64].try_into().expect("64-byte block")
    }
}

/// Runs `blocks` blocks of every lane through its state: `states[i]` absorbs
/// the first `blocks` blocks of `lanes[i]` (FIPS 180-4 §6.1.2), lanes side by side.
///
/// With `outer`, each lane then finishes an HMAC-SHA1 (RFC 2104): its digest, as
/// one padded block, goes through the outer state `outer[i]`, and `states[i]`
/// ends as the state of `H(key ^ opad || digest)`.
pub(crate) fn compress_lanes(
    states: &mut [[u32; 5]],
    lanes: &[LaneBlocks<'_>],
    blocks: usize,
    outer: Option<&[[u32; 5]]>,
) {
    debug_assert_eq!(states.len(), lanes.len());
    debug_assert!(lanes.iter().all(|l| l.count() >= blocks));
    debug_assert!(outer.is_none_or(|o| o.len() == states.len()));
    #[cfg(target_arch = "x86_64")]
    if shani_detected() {
        match states.len() {
            4 => return compress_shani_checked::<4>(states, lanes, blocks, outer),
            3 => return compress_shani_checked::<3>(states, lanes, blocks, outer),
            2 => return compress_shani_checked::<2>(states, lanes, blocks, outer),
            1 => return compress_shani_checked::<1>(states, lanes, blocks, outer),
            _ => {}
        }
    }
    compress_portable(states, lanes, blocks, outer);
}

/// Lane by lane with the `sha1` crate (which picks its own best backend).
pub(crate) fn compress_portable(
    states: &mut [[u32; 5]],
    lanes: &[LaneBlocks<'_>],
    blocks: usize,
    outer: Option<&[[u32; 5]]>,
) {
    for (i, (state, lane)) in states.iter_mut().zip(lanes).enumerate() {
        for b in 0..blocks {
            compress_one(state, lane.block(b));
        }
        if let Some(outer) = outer {
            let mut block = [0u8; 64];
            for (bytes, word) in block.chunks_exact_mut(4).zip(state.iter()) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
            block[20] = 0x80;
            block[56..].copy_from_slice(&OUTER_BITS.to_be_bytes());
            *state = outer[i];
            compress_one(state, &block);
        }
    }
}

/// Bits hashed by HMAC-SHA1's outer hash: the opad block and the inner digest.
const OUTER_BITS: u64 = (64 + 20) * 8;

fn compress_one(state: &mut [u32; 5], block: &[u8; 64]) {
    let block = sha1::digest::generic_array::GenericArray::from_slice(&block[..]);
    sha1::compress(state, core::slice::from_ref(block));
}

#[cfg(target_arch = "x86_64")]
fn shani_detected() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

#[cfg(target_arch = "x86_64")]
fn compress_shani_checked<const N: usize>(
    states: &mut [[u32; 5]],
    lanes: &[LaneBlocks<'_>],
    blocks: usize,
    outer: Option<&[[u32; 5]]>,
) {
    let (Ok(states), Ok(lanes)) = (<&mut [[u32; 5]; N]>::try_from(states), <&[LaneBlocks<'_>; N]>::try_from(lanes))
    else {
        unreachable!("compress_lanes matched the lane count");
    };
    let outer = outer.map(|o| <&[[u32; 5]; N]>::try_from(o).expect("one outer state per lane"));
    // SAFETY: only called from `compress_lanes` after `shani_detected()` returned
    // true, so the CPU supports every feature `compress_shani` is compiled for.
    unsafe { compress_shani::<N>(states, lanes, blocks, outer) }
}

/// The SHA-NI compression of N lanes, round steps interleaved across lanes, and
/// the optional HMAC outer block built in registers from the inner digest.
///
/// # Safety
/// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_shani<const N: usize>(
    states: &mut [[u32; 5]; N],
    lanes: &[LaneBlocks<'_>; N],
    blocks: usize,
    outer: Option<&[[u32; 5]; N]>,
) {
    use core::arch::x86_64::*;

    // Four rounds on (abcd, e + w): `h1 = rnds4(h0, nexte(h1, w))`.
    macro_rules! rounds4 {
        ($h0:expr, $h1:expr, $wk:expr, $i:expr) => {
            _mm_sha1rnds4_epu32($h0, _mm_sha1nexte_epu32($h1, $wk), $i)
        };
    }
    // Message schedule: the next four words from the previous sixteen.
    macro_rules! schedule {
        ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
            _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($v0, $v1), $v2), $v3)
        };
    }
    // One step of every lane: lanes are independent, so each step's N
    // instructions can issue back to back.
    macro_rules! schedule_rounds4 {
        ($h0:ident, $h1:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident, $w4:ident, $i:expr) => {
            for l in 0..N {
                $w4[l] = schedule!($w0[l], $w1[l], $w2[l], $w3[l]);
                $h1[l] = rounds4!($h0[l], $h1[l], $w4[l], $i);
            }
        };
    }
    // One block per lane: message words `w0..w3` (big-endian words, first word in
    // the top lane) into `abcd`/`e0`.
    macro_rules! compress_block {
        ($abcd:ident, $e0:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident) => {{
            let mut w4 = [_mm_setzero_si128(); N];
            let (mut w0, mut w1, mut w2, mut w3) = ($w0, $w1, $w2, $w3);
            let mut h0 = $abcd;
            let mut h1 = [_mm_setzero_si128(); N];
            for l in 0..N {
                h1[l] = _mm_add_epi32($e0[l], w0[l]);
            }

            // Rounds 0..20
            for l in 0..N {
                h1[l] = _mm_sha1rnds4_epu32(h0[l], h1[l], 0);
            }
            for l in 0..N {
                h0[l] = rounds4!(h1[l], h0[l], w1[l], 0);
            }
            for l in 0..N {
                h1[l] = rounds4!(h0[l], h1[l], w2[l], 0);
            }
            for l in 0..N {
                h0[l] = rounds4!(h1[l], h0[l], w3[l], 0);
            }
            schedule_rounds4!(h0, h1, w0, w1, w2, w3, w4, 0);

            // Rounds 20..40
            schedule_rounds4!(h1, h0, w1, w2, w3, w4, w0, 1);
            schedule_rounds4!(h0, h1, w2, w3, w4, w0, w1, 1);
            schedule_rounds4!(h1, h0, w3, w4, w0, w1, w2, 1);
            schedule_rounds4!(h0, h1, w4, w0, w1, w2, w3, 1);
            schedule_rounds4!(h1, h0, w0, w1, w2, w3, w4, 1);

            // Rounds 40..60
            schedule_rounds4!(h0, h1, w1, w2, w3, w4, w0, 2);
            schedule_rounds4!(h1, h0, w2, w3, w4, w0, w1, 2);
            schedule_rounds4!(h0, h1, w3, w4, w0, w1, w2, 2);
            schedule_rounds4!(h1, h0, w4, w0, w1, w2, w3, 2);
            schedule_rounds4!(h0, h1, w0, w1, w2, w3, w4, 2);

            // Rounds 60..80
            schedule_rounds4!(h1, h0, w1, w2, w3, w4, w0, 3);
            schedule_rounds4!(h0, h1, w2, w3, w4, w0, w1, 3);
            schedule_rounds4!(h1, h0, w3, w4, w0, w1, w2, 3);
            schedule_rounds4!(h0, h1, w4, w0, w1, w2, w3, 3);
            schedule_rounds4!(h1, h0, w0, w1, w2, w3, w4, 3);

            for l in 0..N {
                $abcd[l] = _mm_add_epi32($abcd[l], h0[l]);
                $e0[l] = _mm_sha1nexte_epu32(h1[l], $e0[l]);
            }
        }};
    }

    // SAFETY: the caller guarantees the target features; the loads read exactly the
    // 64 bytes of each `&[u8; 64]` block (four unaligned 16-byte loads), so every
    // pointer stays inside its block.
    unsafe {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F);
        let zero = _mm_setzero_si128();
        let load = |s: &[u32; 5]| {
            (_mm_set_epi32(s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32), _mm_set_epi32(s[4] as i32, 0, 0, 0))
        };
        let mut abcd = [zero; N];
        let mut e0 = [zero; N];
        for l in 0..N {
            (abcd[l], e0[l]) = load(&states[l]);
        }

        for i in 0..blocks {
            let (mut w0, mut w1, mut w2, mut w3) = ([zero; N], [zero; N], [zero; N], [zero; N]);
            for l in 0..N {
                let p = lanes[l].block(i).as_ptr().cast::<__m128i>();
                w0[l] = _mm_shuffle_epi8(_mm_loadu_si128(p), mask);
                w1[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask);
                w2[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask);
                w3[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask);
            }
            compress_block!(abcd, e0, w0, w1, w2, w3);
        }

        if let Some(outer) = outer {
            // The outer block's words are the inner digest (a, b, c, d, e), then
            // 0x80000000, zeros, and the bit length: W0..W3 sit in `abcd` as they
            // are, W4 is the top lane of `e0` (its other lanes are zero).
            let w0 = abcd;
            let mut w1 = [zero; N];
            for l in 0..N {
                w1[l] = _mm_or_si128(e0[l], _mm_set_epi32(0, 0x8000_0000_u32 as i32, 0, 0));
                (abcd[l], e0[l]) = load(&outer[l]);
            }
            let w2 = [zero; N];
            let w3 = [_mm_set_epi32(0, 0, 0, OUTER_BITS as i32); N];
            compress_block!(abcd, e0, w0, w1, w2, w3);
        }

        for l in 0..N {
            states[l] = [
                _mm_extract_epi32(abcd[l], 3) as u32,
                _mm_extract_epi32(abcd[l], 2) as u32,
                _mm_extract_epi32(abcd[l], 1) as u32,
                _mm_extract_epi32(abcd[l], 0) as u32,
                _mm_extract_epi32(e0[l], 3) as u32,
            ];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// FIPS 180-2 appendix A.1: SHA-1("abc") through one padded block.
    #[test]
    fn abc_vector() {
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        for lanes in 1..=MAX_LANES {
            let mut states = vec![SHA1_IV; lanes];
            let blocks = vec![LaneBlocks { head: &block, tail: &[] }; lanes];
            compress_lanes(&mut states, &blocks, 1, None);
            for s in &states {
                assert_eq!(s, &[0xA999_3E36, 0x4706_816A, 0xBA3E_2571, 0x7850_C26C, 0x9CD0_D89D]);
            }
        }
    }

    proptest! {
        /// Every lane of the interleaved compression equals the portable one,
        /// for random states, blocks, head/tail splits, lane counts, with and
        /// without the HMAC outer block.
        #[test]
        fn lanes_match_portable(
            seeds in proptest::collection::vec(
                (any::<[u32; 5]>(), any::<[u32; 5]>(), proptest::collection::vec(any::<u8>(), 64..=64 * 4), 0usize..4),
                1..=MAX_LANES,
            ),
            with_outer in any::<bool>(),
        ) {
            let nblocks = seeds.iter().map(|(_, _, d, _)| d.len() / 64).min().unwrap();
            let lanes: Vec<LaneBlocks<'_>> = seeds.iter().map(|(_, _, d, split)| {
                let whole = &d[..d.len() / 64 * 64];
                let at = (*split).min(whole.len() / 64) * 64;
                LaneBlocks { head: &whole[..at], tail: &whole[at..] }
            }).collect();
            let outer: Vec<[u32; 5]> = seeds.iter().map(|(_, o, ..)| *o).collect();
            let outer = with_outer.then_some(&outer[..]);
            let mut multi: Vec<[u32; 5]> = seeds.iter().map(|(s, ..)| *s).collect();
            let mut single = multi.clone();
            compress_lanes(&mut multi, &lanes, nblocks, outer);
            compress_portable(&mut single, &lanes, nblocks, outer);
            prop_assert_eq!(multi, single);
        }
    }
}
