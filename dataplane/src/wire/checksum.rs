//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A checksum is built in two steps: [`sum`] adds big-endian 16-bit words
//! into a 32-bit accumulator (partial sums of several regions, such as a
//! pseudo-header and a payload, simply add), then [`finish`] folds the
//! carries and complements. A receiver verifies by summing the whole header
//! including the checksum field: the data is intact when [`fold`] of that
//! sum is `0xFFFF`.
//!
//! When the relay rewrites an address or a port, recomputing over the whole
//! payload would touch every byte of the packet; [`update16`], [`update`] and
//! [`update_sum`] instead adjust the old checksum with RFC 1624 Eq. 3,
//! `HC' = ~(~HC + ~m + m')`, which stays correct for the one's complement
//! negative zero that RFC 1624 §3 warns about.
//!
//! # The UDP special cases (RFC 768, RFC 8200 §8.1)
//!
//! - Over IPv4, a UDP checksum field of 0 means "no checksum was sent". It
//!   must stay 0 through a rewrite: do not call the update functions on it.
//! - A computed UDP checksum of 0 is transmitted as `0xFFFF` (the other one's
//!   complement zero), because 0 is reserved for "none". Apply that mapping to
//!   the result of an update too.
//! - Over IPv6, the checksum is mandatory, so translating an IPv4 datagram
//!   that carried 0 to IPv6 requires computing a checksum from scratch.

use core::net::{Ipv4Addr, Ipv6Addr};

/// One's complement sum of `data` as big-endian 16-bit words (RFC 1071 §4.1).
///
/// An odd trailing byte is padded with a zero low byte. The result is a
/// partial sum: add sums of other regions to it, then [`fold`] or
/// [`finish`]. It equals the plain sum of the 16-bit words whenever that
/// sum fits in 32 bits (any buffer up to 128 KiB); for larger inputs the
/// carries are folded back in, which leaves the checksum unchanged.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut total: u64 = 0;
    let mut blocks = data.chunks_exact(LANE_BLOCK);
    for block in &mut blocks {
        total += sum_words(block).0;
    }
    let (words, tail) = sum_words(blocks.remainder());
    total += words;
    let mut pairs = tail.chunks_exact(2);
    for p in &mut pairs {
        total += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        total += u64::from(*last) << 8;
    }
    while total > u64::from(u32::MAX) {
        total = (total >> 32) + (total & 0xFFFF_FFFF);
    }
    total as u32
}

/// Bytes per call of [`sum_words`]: each 32-bit lane gains one 16-bit word
/// per 8 bytes and can absorb 65 535 of them without overflowing.
const LANE_BLOCK: usize = 8 * 0xFFFF;

/// Sums the 8-byte chunks of `block` (at most [`LANE_BLOCK`] bytes) and
/// returns the exact sum of their 16-bit words with the unsummed tail.
#[inline]
fn sum_words(block: &[u8]) -> (u64, &[u8]) {
    // Two u64 accumulators hold four 32-bit lanes, so the loop is two masks
    // and two adds per 8 bytes, and vectorizes.
    const LANES: u64 = 0x0000_FFFF_0000_FFFF;
    let (mut hi, mut lo) = (0u64, 0u64);
    let mut chunks = block.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        hi += (w >> 16) & LANES;
        lo += w & LANES;
    }
    let words = (hi >> 32) + (hi & 0xFFFF_FFFF) + (lo >> 32) + (lo & 0xFFFF_FFFF);
    (words, chunks.remainder())
}

/// Folds the carries of a 32-bit partial sum into 16 bits (RFC 1071 §4.1),
/// without complementing.
///
/// A nonzero sum folds to a nonzero value, so `0xFFFF` (not 0) is what an
/// intact packet's full sum folds to.
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    let s = (sum >> 16) + (sum & 0xFFFF);
    let s = (s >> 16) + (s & 0xFFFF);
    s as u16
}

/// [`fold`] for a 64-bit partial sum, such as a sum of 32-bit words (the
/// one's complement sum does not depend on the byte order the words are
/// added in, so a header read as native 32-bit words verifies as well).
#[inline(always)]
pub fn fold64(sum: u64) -> u16 {
    let s = (sum & 0xFFFF_FFFF) + (sum >> 32);
    let s = (s & 0xFFFF) + (s >> 16);
    let s = (s & 0xFFFF) + (s >> 16);
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// The checksum field value for a partial sum: `!fold(sum)` (RFC 1071 §1).
///
/// Sum the region with its checksum field set to zero, then store this.
#[inline(always)]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Partial sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768).
///
/// `len` is the UDP length (header plus payload).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(protocol)
        + u32::from(len)
}

/// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1).
///
/// `len` is the upper-layer packet length and `next_header` the upper-layer
/// protocol (17 for UDP, 58 for ICMPv6), not an extension header's.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let words = |a: &Ipv6Addr| a.segments().iter().map(|&w| u32::from(w)).sum::<u32>();
    words(src) + words(dst) + (len >> 16) + (len & 0xFFFF) + u32::from(next_header)
}

/// Adjusts `check` after one 16-bit word of the covered data changed from
/// `old` to `new` (RFC 1624 §3, Eq. 3).
///
/// See the module docs for the UDP cases (0 stays 0; a result of 0 is sent
/// as `0xFFFF`).
#[inline(always)]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!check) + u32::from(!old) + u32::from(new))
}

/// Adjusts `check` after the covered bytes `old` were replaced by `new`
/// (RFC 1624 §3, Eq. 3), e.g. an address or a port.
///
/// Both slices have the same even length and start at an even offset of
/// the checksummed data. See the module docs for the UDP cases.
#[inline]
pub fn update(check: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len(), "replaced regions differ in length");
    debug_assert!(old.len() & 1 == 0, "replaced region has odd length");
    update_sum(check, sum(old), sum(new))
}

/// Adjusts `check` after a region whose partial sum was `old_sum` was
/// replaced by one summing to `new_sum` (RFC 1624 §3, Eq. 3).
///
/// Suits changes that are not a byte-for-byte swap, such as a UDP datagram
/// moving from IPv4 to IPv6: pass [`pseudo_header_v4`] and
/// [`pseudo_header_v6`] of the two pseudo-headers. See the module docs for
/// the UDP cases.
#[inline(always)]
pub fn update_sum(check: u16, old_sum: u32, new_sum: u32) -> u16 {
    // ~m is -m modulo 0xFFFF; 0xFFFF << 32 (a multiple of it) keeps the
    // difference positive, and a positive sum folds to the same nonzero
    // representative as Eq. 3's.
    !fold64(u64::from(!check) + u64::from(new_sum) + (0xFFFF_u64 << 32) - u64::from(old_sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(data: &[u8]) -> u32 {
        let mut acc = 0u32;
        for (i, b) in data.iter().enumerate() {
            acc += if i % 2 == 0 { u32::from(*b) << 8 } else { u32::from(*b) };
        }
        acc
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folding to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0x2_ddf0);
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(finish(sum(&data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_low_byte() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x01, 0x02, 0x03]), 0x0102 + 0x0300);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn large_input_folds_like_naive() {
        // More than one lane block and more than fits in a u32 naive sum.
        let data: Vec<u8> = (0..1_200_000u32).map(|i| (i * 7 + 3) as u8 | 0x80).collect();
        let mut reference = 0u64;
        for (i, b) in data.iter().enumerate() {
            reference += if i % 2 == 0 { u64::from(*b) << 8 } else { u64::from(*b) };
        }
        while reference >> 16 != 0 {
            reference = (reference >> 16) + (reference & 0xFFFF);
        }
        assert_eq!(u64::from(fold(sum(&data))), reference);
    }

    #[test]
    fn update16_rfc1624_negative_zero() {
        // RFC 1624 §3: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 must give 0x0000,
        // the value a from-scratch computation yields, not 0xFFFF (Eq. 2).
        assert_eq!(update16(0xDD2F, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 2), 17, 28);
        assert_eq!(v4, 0xc000 + 0x0201 + 0xc633 + 0x6402 + 17 + 28);
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let v6 = pseudo_header_v6(&a, &b, 58, 0x1_0004);
        assert_eq!(v6, 2 * (0x2001 + 0x0db8) + 1 + 2 + 1 + 4 + 58);
    }

    /// A 20-byte IPv4 header with a valid checksum, as built by hand.
    fn ipv4_header(src: [u8; 4], dst: [u8; 4], ident: u16, ttl: u8) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&60u16.to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        h[6] = 0x40;
        h[8] = ttl;
        h[9] = 17;
        h[12..16].copy_from_slice(&src);
        h[16..20].copy_from_slice(&dst);
        let c = finish(sum(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    fn udp_v4_check(src: [u8; 4], dst: [u8; 4], seg: &[u8]) -> u16 {
        let ph = pseudo_header_v4(src.into(), dst.into(), 17, seg.len() as u16);
        match finish(ph + sum(seg)) {
            0 => 0xFFFF,
            c => c,
        }
    }

    fn udp_v6_check(src: [u8; 16], dst: [u8; 16], seg: &[u8]) -> u16 {
        let ph = pseudo_header_v6(&src.into(), &dst.into(), 17, seg.len() as u32);
        match finish(ph + sum(seg)) {
            0 => 0xFFFF,
            c => c,
        }
    }

    /// The UDP rule on top of an update: a computed 0 goes out as 0xFFFF.
    fn udp_fix(c: u16) -> u16 {
        if c == 0 {
            0xFFFF
        } else {
            c
        }
    }

    /// A UDP segment with ports set and its checksum field zeroed.
    fn udp_segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut seg = Vec::with_capacity(8 + payload.len());
        seg.extend_from_slice(&sport.to_be_bytes());
        seg.extend_from_slice(&dport.to_be_bytes());
        seg.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        seg.extend_from_slice(&[0, 0]);
        seg.extend_from_slice(payload);
        seg
    }

    proptest! {
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert_eq!(sum(&data), naive(&data));
        }

        #[test]
        fn sum_of_parts_matches_whole(
            a in proptest::collection::vec(any::<u8>(), 0..64).prop_map(|mut v| { v.truncate(v.len() & !1); v }),
            b in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(fold(sum(&a) + sum(&b)), fold(sum(&whole)));
        }

        #[test]
        fn ipv4_header_update(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            new_src in any::<[u8; 4]>(), new_dst in any::<[u8; 4]>(),
            ident in any::<u16>(), ttl in 1u8..,
        ) {
            let h = ipv4_header(src, dst, ident, ttl);
            let check = u16::from_be_bytes([h[10], h[11]]);
            let c = update(check, &src, &new_src);
            let c = update(c, &dst, &new_dst);
            // TTL shares its word with the protocol field.
            let c = update16(c, u16::from_be_bytes([ttl, 17]), u16::from_be_bytes([ttl - 1, 17]));
            let expect = ipv4_header(new_src, new_dst, ident, ttl - 1);
            prop_assert_eq!(c, u16::from_be_bytes([expect[10], expect[11]]));
        }

        #[test]
        fn udp_v4_update(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            new_src in any::<[u8; 4]>(), new_dst in any::<[u8; 4]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            new_sport in any::<u16>(), new_dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let check = udp_v4_check(src, dst, &udp_segment(sport, dport, &payload));
            let c = update(check, &src, &new_src);
            let c = update(c, &dst, &new_dst);
            let c = update16(c, sport, new_sport);
            let c = udp_fix(update16(c, dport, new_dport));
            let expect = udp_v4_check(new_src, new_dst, &udp_segment(new_sport, new_dport, &payload));
            prop_assert_eq!(c, expect);
        }

        #[test]
        fn udp_v6_update(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            new_src in any::<[u8; 16]>(), new_dst in any::<[u8; 16]>(),
            sport in any::<u16>(), new_sport in any::<u16>(), dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let check = udp_v6_check(src, dst, &udp_segment(sport, dport, &payload));
            let c = update(check, &src, &new_src);
            let c = update(c, &dst, &new_dst);
            let c = udp_fix(update(c, &sport.to_be_bytes(), &new_sport.to_be_bytes()));
            let expect = udp_v6_check(new_src, new_dst, &udp_segment(new_sport, dport, &payload));
            prop_assert_eq!(c, expect);
        }

        #[test]
        fn udp_v4_to_v6_update_sum(
            src4 in any::<[u8; 4]>(), dst4 in any::<[u8; 4]>(),
            src6 in any::<[u8; 16]>(), dst6 in any::<[u8; 16]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let seg = udp_segment(sport, dport, &payload);
            let check = udp_v4_check(src4, dst4, &seg);
            let len = seg.len() as u16;
            let old = pseudo_header_v4(src4.into(), dst4.into(), 17, len);
            let new = pseudo_header_v6(&src6.into(), &dst6.into(), 17, u32::from(len));
            let c = udp_fix(update_sum(check, old, new));
            prop_assert_eq!(c, udp_v6_check(src6, dst6, &seg));
        }
    }
}
