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

/// Compresses `blocks[i]` into `states[i]` for every lane `i`: the SHA-1
/// compression function (FIPS 180-4 §6.1.2) applied to `min(len)` lanes at once.
pub(crate) fn compress_lanes(states: &mut [[u32; 5]], blocks: &[&[u8; 64]]) {
    debug_assert_eq!(states.len(), blocks.len());
    #[cfg(target_arch = "x86_64")]
    if shani_detected() {
        match (states.len(), blocks.len()) {
            (4, 4) => return compress_shani_checked::<4>(states, blocks),
            (3, 3) => return compress_shani_checked::<3>(states, blocks),
            (2, 2) => return compress_shani_checked::<2>(states, blocks),
            (1, 1) => return compress_shani_checked::<1>(states, blocks),
            _ => {}
        }
    }
    compress_portable(states, blocks);
}

/// Lane by lane with the `sha1` crate (which picks its own best backend).
pub(crate) fn compress_portable(states: &mut [[u32; 5]], blocks: &[&[u8; 64]]) {
    for (state, block) in states.iter_mut().zip(blocks) {
        let block = sha1::digest::generic_array::GenericArray::from_slice(&block[..]);
        sha1::compress(state, core::slice::from_ref(block));
    }
}

#[cfg(target_arch = "x86_64")]
fn shani_detected() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

#[cfg(target_arch = "x86_64")]
fn compress_shani_checked<const N: usize>(states: &mut [[u32; 5]], blocks: &[&[u8; 64]]) {
    let (Ok(states), Ok(blocks)) = (
        <&mut [[u32; 5]; N]>::try_from(states),
        <&[&[u8; 64]; N]>::try_from(blocks),
    ) else {
        unreachable!("compress_lanes matched the lane count");
    };
    // SAFETY: only called from `compress_lanes` after `shani_detected()` returned
    // true, so the CPU supports every feature `compress_shani` is compiled for.
    unsafe { compress_shani::<N>(states, blocks) }
}

/// The SHA-NI compression of N lanes, round steps interleaved across lanes.
///
/// # Safety
/// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_shani<const N: usize>(states: &mut [[u32; 5]; N], blocks: &[&[u8; 64]; N]) {
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

    // SAFETY: the caller guarantees the target features; the loads read exactly the
    // 64 bytes of each `&[u8; 64]` (four unaligned 16-byte loads), so every pointer
    // stays inside its block.
    unsafe {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F);
        let zero = _mm_setzero_si128();
        let mut abcd = [zero; N];
        let mut e0 = [zero; N];
        let (mut w0, mut w1, mut w2, mut w3, mut w4) = ([zero; N], [zero; N], [zero; N], [zero; N], [zero; N]);
        let (mut h0, mut h1) = ([zero; N], [zero; N]);

        for l in 0..N {
            let s = &states[l];
            abcd[l] = _mm_set_epi32(s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32);
            e0[l] = _mm_set_epi32(s[4] as i32, 0, 0, 0);
            let p = blocks[l].as_ptr().cast::<__m128i>();
            w0[l] = _mm_shuffle_epi8(_mm_loadu_si128(p), mask);
            w1[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask);
            w2[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask);
            w3[l] = _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask);
            h0[l] = abcd[l];
            h1[l] = _mm_add_epi32(e0[l], w0[l]);
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
            let abcd = _mm_add_epi32(abcd[l], h0[l]);
            let e = _mm_sha1nexte_epu32(h1[l], e0[l]);
            states[l] = [
                _mm_extract_epi32(abcd, 3) as u32,
                _mm_extract_epi32(abcd, 2) as u32,
                _mm_extract_epi32(abcd, 1) as u32,
                _mm_extract_epi32(abcd, 0) as u32,
                _mm_extract_epi32(e, 3) as u32,
            ];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blocks_of(data: &[u8]) -> Vec<[u8; 64]> {
        data.chunks_exact(64).map(|c| c.try_into().unwrap()).collect()
    }

    /// FIPS 180-2 appendix A.1: SHA-1("abc") through one padded block.
    #[test]
    fn abc_vector() {
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        for lanes in 1..=MAX_LANES {
            let mut states = vec![SHA1_IV; lanes];
            let blocks = vec![&block; lanes];
            compress_lanes(&mut states, &blocks);
            for s in &states {
                assert_eq!(s, &[0xA999_3E36, 0x4706_816A, 0xBA3E_2571, 0x7850_C26C, 0x9CD0_D89D]);
            }
        }
    }

    proptest! {
        /// Every lane of the interleaved compression equals the portable one,
        /// for random states, blocks and lane counts.
        #[test]
        fn lanes_match_portable(
            seeds in proptest::collection::vec((any::<[u32; 5]>(), proptest::collection::vec(any::<u8>(), 64..=64 * 3)), 1..=MAX_LANES)
        ) {
            let nblocks = seeds.iter().map(|(_, d)| d.len() / 64).min().unwrap();
            let data: Vec<Vec<[u8; 64]>> = seeds.iter().map(|(_, d)| blocks_of(d)).collect();
            let mut multi: Vec<[u32; 5]> = seeds.iter().map(|(s, _)| *s).collect();
            let mut single = multi.clone();
            for b in 0..nblocks {
                let blocks: Vec<&[u8; 64]> = data.iter().map(|d| &d[b]).collect();
                compress_lanes(&mut multi, &blocks);
                compress_portable(&mut single, &blocks);
            }
            prop_assert_eq!(multi, single);
        }
    }
}
