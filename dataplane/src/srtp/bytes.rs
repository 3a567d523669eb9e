//! Byte helpers for the per-packet path: short copies without a `memcpy` call,
//! and a constant-time tag comparison.

use subtle::ConstantTimeEq;

/// Copies `src` (at most 64 bytes) to the start of `dst` in fixed-size pieces: the
/// length changes with every packet, and a call to `memcpy` would cost more than
/// the copy.
#[inline]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    debug_assert!(src.len() <= 64);
    let mut at = 0;
    for width in [32, 16, 8, 4, 2, 1] {
        if src.len() - at >= width {
            dst[at..at + width].copy_from_slice(&src[at..at + width]);
            at += width;
        }
    }
    if at < src.len() {
        // 33..=64 bytes: the ladder took 32, the rest fits another pass.
        copy_short(&mut dst[at..], &src[at..]);
    }
}

/// Compares two tags in time independent of where they differ.
#[inline]
pub(crate) fn tag_matches(expected: &[u8], received: &[u8]) -> bool {
    let diff = expected.iter().zip(received).fold(0u8, |d, (a, b)| d | (a ^ b));
    expected.len() == received.len() && bool::from(diff.ct_eq(&0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies() {
        let src: Vec<u8> = (1..=64).collect();
        for len in 0..=64 {
            let mut dst = [0xffu8; 70];
            copy_short(&mut dst, &src[..len]);
            assert_eq!(dst[..len], src[..len]);
            assert!(dst[len..].iter().all(|&b| b == 0xff));
        }
    }

    #[test]
    fn tags() {
        assert!(tag_matches(b"0123456789", b"0123456789"));
        assert!(!tag_matches(b"0123456789", b"0123456788"));
        assert!(!tag_matches(b"0123", b"01234"));
    }
}
