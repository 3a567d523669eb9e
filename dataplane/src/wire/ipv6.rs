//! IPv6 fixed headers (RFC 8200 §3).
//!
//! Extension headers are not walked: the classifier treats a next header
//! other than UDP or ICMPv6 as unsupported.

use core::net::Ipv6Addr;

use super::{get_u16, get_u32, set_u16, set_u32, Result, WireError};

pub use super::protocol;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

view! {
    /// A view of an IPv6 packet.
    pub struct Packet;
    /// Wraps `buffer` after checking the version and that the payload
    /// length fits. Trailing bytes beyond it are ignored by [`Packet::payload`].
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    fn ver_tc_flow(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// The version field (6 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class: DSCP (RFC 2474) and ECN (RFC 3168).
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// The 20-bit flow label (RFC 6437).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000F_FFFF
    }

    /// Payload length in bytes (everything after the fixed header).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Next header: the upper-layer protocol, see [`protocol`].
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The bytes after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes version 6 with the given traffic class and flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000F_FFFF);
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }

    /// Sets the traffic class, keeping version and flow label.
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let v = (self.ver_tc_flow() & 0xF00F_FFFF) | (u32::from(traffic_class) << 20);
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }

    /// Sets the flow label (low 20 bits of `label`), keeping version and
    /// traffic class.
    pub fn set_flow_label(&mut self, label: u32) {
        let v = (self.ver_tc_flow() & 0xFFF0_0000) | (label & 0x000F_FFFF);
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, v);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, next_header: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = next_header;
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// The bytes after the fixed header, up to the payload length, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The fields of an IPv6 fixed header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header, see [`protocol`].
    pub next_header: u8,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Repr {
    /// Reads a header, validating it as [`Packet::new_checked`] does.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Header length this representation emits: [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 40-byte header (traffic class and flow label 0) into the
    /// start of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`]; in debug builds, if the
    /// payload length exceeds 65 535 (jumbograms are not supported).
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_tc_flow(0, 0);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, NS, UDP_V6};
    use proptest::prelude::*;

    #[test]
    fn parse_udp_capture() {
        let b = hex(UDP_V6);
        let p = Packet::new_checked(&b[14..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), protocol::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::10".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8:1::20".parse::<Ipv6Addr>().unwrap());
        assert_eq!(&p.payload()[..2], &[0xc3, 0x50]);
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn parse_ns_capture() {
        let b = hex(NS);
        let p = Packet::new_checked(&b[14..]).unwrap();
        assert_eq!(p.next_header(), protocol::ICMPV6);
        assert_eq!(p.hop_limit(), 255);
        assert_eq!(p.dst_addr(), "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn setters() {
        let mut b = hex(UDP_V6)[14..].to_vec();
        b.extend_from_slice(&[0; 4]); // trailing bytes are ignored
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_traffic_class(0x2e);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0x2e, 0x12345));
        p.set_flow_label(0xFFF_FFFF);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0x2e, 0xF_FFFF));
        p.set_hop_limit(3);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        p.set_payload_len(8);
        assert_eq!(p.hop_limit(), 3);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.payload_mut().len(), 8);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = hex(UDP_V6)[14..].to_vec();
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        for len in HEADER_LEN..b.len() {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::BadLength);
        }
    }

    #[test]
    fn bad_version() {
        let mut b = hex(UDP_V6)[14..].to_vec();
        b[0] = 0x4b;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion);
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.traffic_class(), p.flow_label(), p.payload_len());
                let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr(), p.payload());
                let _ = Repr::parse(&p).unwrap();
            }
        }

        #[test]
        fn repr_round_trip(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), next_header in any::<u8>(),
            payload_len in 0usize..1500, hop_limit in any::<u8>(),
        ) {
            let repr = Repr { src_addr: src.into(), dst_addr: dst.into(), next_header, payload_len, hop_limit };
            let mut buf = vec![0xFFu8; HEADER_LEN + payload_len];
            repr.emit(&mut buf);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!((p.traffic_class(), p.flow_label()), (0, 0));
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }
    }
}
