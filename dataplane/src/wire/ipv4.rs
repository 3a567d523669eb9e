//! IPv4 headers (RFC 791 §3.1).

use core::net::Ipv4Addr;

use super::checksum;
use super::{get_u16, set_u16, Result, WireError};

pub use super::protocol;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

view! {
    /// A view of an IPv4 packet.
    pub struct Packet;
    /// Wraps `buffer` after checking the version, header length and total
    /// length against it. Bytes beyond the total length (Ethernet padding of
    /// short frames) are allowed and ignored by [`Packet::payload`].
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(WireError::BadHeaderLen);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// The version field (4 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), including options.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// Differentiated services code point (RFC 2474), e.g. 46 for EF media.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length of header and payload in bytes.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    fn flags_offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (MF set or a nonzero offset); mediafwd
    /// does not reassemble, so fragments leave the fast path.
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Payload protocol, see [`protocol`].
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Whether the header checksum verifies (RFC 791 §3.1, RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..self.header_len()];
        checksum::fold(checksum::sum(header)) == 0xFFFF
    }

    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source address; the checksum is not updated.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address; the checksum is not updated.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the time to live; the checksum is not updated.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the payload protocol; the checksum is not updated.
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    /// Sets the total length; the checksum is not updated.
    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the identification field; the checksum is not updated.
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Sets the checksum field, e.g. to the result of [`checksum::update`].
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header = &self.buffer.as_ref()[..self.header_len()];
        let check = checksum::finish(checksum::sum(header));
        self.set_checksum(check);
    }

    /// The bytes after the header, up to the total length, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// The fields of an unfragmented IPv4 header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol, see [`protocol`].
    pub protocol: u8,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
}

impl Repr {
    /// Reads a header, validating lengths; a bad checksum is
    /// [`WireError::BadChecksum`] and a fragment [`WireError::Unsupported`].
    /// Options are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(WireError::Unsupported);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
        })
    }

    /// Header length this representation emits: [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header (DF set, identification 0, DSCP 0, checksum
    /// filled) into the start of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`]; in debug builds, if the
    /// total length exceeds 65 535.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        let b = &mut buf[..HEADER_LEN];
        b[field::VER_IHL] = 0x45;
        b[field::DSCP_ECN] = 0;
        set_u16(b, field::LENGTH, (HEADER_LEN + self.payload_len) as u16);
        set_u16(b, field::IDENT, 0);
        set_u16(b, field::FLG_OFF, FLAG_DF);
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        b[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        Packet::new_unchecked(b).fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, ICMP_ECHO, RTP_V4};
    use proptest::prelude::*;

    fn rtp_v4() -> Vec<u8> {
        hex(RTP_V4)[14..].to_vec()
    }

    #[test]
    fn parse_rtp_capture() {
        let b = rtp_v4();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 200);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.checksum(), 0x30d5);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 20));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 180);
        assert_eq!(&p.payload()[..4], &[0x75, 0x30, 0x9c, 0x42]);
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 180);
    }

    #[test]
    fn parse_icmp_capture() {
        let b = hex(ICMP_ECHO);
        let p = Packet::new_checked(&b[14..]).unwrap();
        assert_eq!(p.protocol(), protocol::ICMP);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn ethernet_padding_ignored() {
        let mut b = hex(ICMP_ECHO)[14..].to_vec();
        b.extend_from_slice(&[0; 6]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn rewrite_and_fill_checksum() {
        let mut b = rtp_v4();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        let new_src = Ipv4Addr::new(203, 0, 113, 7);
        let c = checksum::update(p.checksum(), &p.src_addr().octets(), &new_src.octets());
        p.set_src_addr(new_src);
        p.set_checksum(c);
        assert!(p.verify_checksum());
        p.set_ttl(1);
        p.set_ident(7);
        p.set_total_len(20);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert!(p.payload_mut().is_empty());
    }

    #[test]
    fn fragments() {
        let mut b = rtp_v4();
        b[6] = 0x20; // MF, offset 0
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.more_frags() && p.is_fragment() && !p.dont_frag());
        b[6] = 0x00;
        b[7] = 0xb9; // offset 185 units, last fragment
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment());
        p.fill_checksum();
        assert_eq!(Repr::parse(&p).unwrap_err(), WireError::Unsupported);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = rtp_v4();
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        for len in HEADER_LEN..b.len() {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::BadLength);
        }
    }

    #[test]
    fn rejections() {
        let mut b = rtp_v4();
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion);
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadHeaderLen);
        b[0] = 0x4f; // 60-byte header in a 24-byte buffer
        assert_eq!(Packet::new_checked(&b[..24]).unwrap_err(), WireError::BadHeaderLen);
        b[0] = 0x45;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
        b[2..4].copy_from_slice(&201u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
        let mut b = rtp_v4();
        b[12] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap_err(), WireError::BadChecksum);
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.header_len(), p.dscp(), p.ecn(), p.total_len(), p.ident());
                let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.is_fragment());
                let _ = (p.ttl(), p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
                let _ = (p.verify_checksum(), p.payload());
                let _ = Repr::parse(&p);
            }
        }

        #[test]
        fn repr_round_trip(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(),
            payload_len in 0usize..1500, ttl in any::<u8>(),
        ) {
            let repr = Repr { src_addr: src.into(), dst_addr: dst.into(), protocol, payload_len, ttl };
            let mut buf = vec![0u8; HEADER_LEN + payload_len];
            repr.emit(&mut buf);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.dont_frag());
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }
    }
}
