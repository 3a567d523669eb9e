//! UDP datagrams (RFC 768) over IPv4 and IPv6 (RFC 8200 §8.1).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, get_u16, protocol, set_u16, Result, WireError};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// The checksum field value for a computed checksum: 0 is reserved for
/// "no checksum", so a computed 0 is sent as `0xFFFF` (RFC 768).
fn on_wire(check: u16) -> u16 {
    if check == 0 {
        0xFFFF
    } else {
        check
    }
}

view! {
    /// A view of a UDP datagram.
    pub struct Datagram;
    /// Wraps `buffer` after checking the length field covers the header and
    /// fits in the buffer. Bytes beyond the length field are ignored.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Datagram<T> {
    /// Validates the buffer as [`Datagram::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || field_len > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload, in bytes.
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the payload is empty (the length field is 8).
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field; over IPv4, 0 means none was computed.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Header and payload, bounded by the length field.
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    fn full_sum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        checksum::pseudo_header_v4(src, dst, protocol::UDP, self.len()) + checksum::sum(self.datagram())
    }

    fn full_sum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
        checksum::pseudo_header_v6(src, dst, protocol::UDP, u32::from(self.len())) + checksum::sum(self.datagram())
    }

    /// Whether the checksum verifies over the IPv4 pseudo-header (RFC 768);
    /// a checksum of 0 means none was sent and verifies.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::fold(self.full_sum_v4(src, dst)) == 0xFFFF
    }

    /// Whether the checksum verifies over the IPv6 pseudo-header (RFC 8200
    /// §8.1); a checksum of 0 is invalid over IPv6.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.checksum() != 0 && checksum::fold(self.full_sum_v6(src, dst)) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Datagram<T> {
    /// Sets the source port; the checksum is not updated.
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port; the checksum is not updated.
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the length field; the checksum is not updated.
    pub fn set_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the checksum field, e.g. to the result of [`checksum::update`]
    /// (mapping a result of 0 to `0xFFFF`, and leaving an IPv4 0 alone).
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// The payload, bounded by the length field, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the IPv4 pseudo-header from scratch.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let check = checksum::finish(self.full_sum_v4(src, dst));
        self.set_checksum(on_wire(check));
    }

    /// Computes the checksum over the IPv6 pseudo-header from scratch.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let check = checksum::finish(self.full_sum_v6(src, dst));
        self.set_checksum(on_wire(check));
    }
}

/// The fields of a UDP header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Reads a header, validating lengths as [`Datagram::new_checked`] does.
    /// The checksum needs the IP addresses and is verified separately.
    pub fn parse<T: AsRef<[u8]>>(datagram: &Datagram<T>) -> Result<Repr> {
        datagram.check_len()?;
        Ok(Repr {
            src_port: datagram.src_port(),
            dst_port: datagram.dst_port(),
            payload_len: usize::from(datagram.len()) - HEADER_LEN,
        })
    }

    /// Header length this representation emits: [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 8-byte header with a zero checksum into the start of
    /// `buf`; fill it after the payload with `fill_checksum_v4`/`_v6`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`]; in debug builds, if the
    /// length exceeds 65 535.
    pub fn emit(&self, buf: &mut [u8]) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        let mut d = Datagram::new_unchecked(&mut buf[..HEADER_LEN]);
        d.set_src_port(self.src_port);
        d.set_dst_port(self.dst_port);
        d.set_len((HEADER_LEN + self.payload_len) as u16);
        d.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, RTP_V4, UDP_V6};
    use proptest::prelude::*;

    const V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(198, 51, 100, 20));

    fn v6_addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("2001:db8::10".parse().unwrap(), "2001:db8:1::20".parse().unwrap())
    }

    #[test]
    fn parse_v4_capture() {
        let b = hex(RTP_V4);
        let d = Datagram::new_checked(&b[34..]).unwrap();
        assert_eq!(d.src_port(), 30000);
        assert_eq!(d.dst_port(), 40002);
        assert_eq!(d.len(), 180);
        assert_eq!(d.checksum(), 0x7240);
        assert_eq!(d.payload().len(), 172);
        assert_eq!(d.payload()[0], 0x80);
        assert!(d.verify_checksum_v4(V4.0, V4.1));
        assert!(!d.verify_checksum_v4(V4.1, Ipv4Addr::new(198, 51, 100, 21)));
    }

    #[test]
    fn parse_v6_capture() {
        let b = hex(UDP_V6);
        let (src, dst) = v6_addrs();
        let d = Datagram::new_checked(&b[54..]).unwrap();
        assert_eq!((d.src_port(), d.dst_port(), d.len()), (50000, 50002, 40));
        assert_eq!(d.checksum(), 0x7b5f);
        assert!(d.verify_checksum_v6(&src, &dst));
        assert!(!d.verify_checksum_v6(&src, &Ipv6Addr::LOCALHOST));
        assert_eq!(Repr::parse(&d).unwrap().payload_len, 32);
    }

    #[test]
    fn zero_checksum_rules() {
        let mut b = hex(RTP_V4)[34..].to_vec();
        let (src, dst) = v6_addrs();
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        d.set_checksum(0);
        assert!(d.verify_checksum_v4(V4.0, V4.1));
        assert!(!d.verify_checksum_v6(&src, &dst));
        d.fill_checksum_v4(V4.0, V4.1);
        assert_eq!(d.checksum(), 0x7240);
        d.fill_checksum_v6(&src, &dst);
        assert!(d.verify_checksum_v6(&src, &dst));
    }

    #[test]
    fn computed_zero_sent_as_ffff() {
        // Choose a payload word that makes the sum fold to 0xFFFF.
        let mut b = [0u8; 10];
        let mut d = Datagram::new_unchecked(&mut b[..]);
        d.set_src_port(1);
        d.set_dst_port(2);
        d.set_len(10);
        let partial = checksum::pseudo_header_v4(V4.0, V4.1, protocol::UDP, 10) + checksum::sum(&d.as_ref()[..8]);
        let word = !checksum::fold(partial);
        d.payload_mut().copy_from_slice(&word.to_be_bytes());
        d.fill_checksum_v4(V4.0, V4.1);
        assert_eq!(d.checksum(), 0xFFFF);
        assert!(d.verify_checksum_v4(V4.0, V4.1));
    }

    #[test]
    fn port_rewrite_with_update() {
        let mut b = hex(RTP_V4)[34..].to_vec();
        let mut d = Datagram::new_checked(&mut b[..]).unwrap();
        let c = checksum::update16(d.checksum(), d.dst_port(), 20000);
        d.set_dst_port(20000);
        d.set_checksum(on_wire(c));
        assert!(d.verify_checksum_v4(V4.0, V4.1));
    }

    #[test]
    fn truncated_at_every_length() {
        let b = hex(RTP_V4)[34..].to_vec();
        for len in 0..HEADER_LEN {
            assert_eq!(Datagram::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        for len in HEADER_LEN..b.len() {
            assert_eq!(Datagram::new_checked(&b[..len]).unwrap_err(), WireError::BadLength);
        }
    }

    #[test]
    fn bad_length_field() {
        let mut b = hex(RTP_V4)[34..].to_vec();
        for bad in [0u16, 7, 181, 0xFFFF] {
            b[4..6].copy_from_slice(&bad.to_be_bytes());
            assert_eq!(Datagram::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
        }
        b[4..6].copy_from_slice(&8u16.to_be_bytes());
        let d = Datagram::new_checked(&b[..]).unwrap();
        assert!(d.is_empty() && d.payload().is_empty());
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(d) = Datagram::new_checked(&data[..]) {
                let _ = (d.src_port(), d.dst_port(), d.len(), d.is_empty(), d.checksum(), d.payload());
                let _ = d.verify_checksum_v4(V4.0, V4.1);
                let _ = d.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
                let _ = Repr::parse(&d).unwrap();
            }
        }

        #[test]
        fn repr_round_trip(src_port in any::<u16>(), dst_port in any::<u16>(), payload_len in 0usize..1500) {
            let repr = Repr { src_port, dst_port, payload_len };
            let mut buf = vec![0xAAu8; HEADER_LEN + payload_len];
            repr.emit(&mut buf);
            let mut d = Datagram::new_checked(&mut buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&d).unwrap(), repr);
            d.fill_checksum_v4(V4.0, V4.1);
            prop_assert!(d.verify_checksum_v4(V4.0, V4.1));
            let (s, t) = v6_addrs();
            d.fill_checksum_v6(&s, &t);
            prop_assert!(d.verify_checksum_v6(&s, &t));
        }
    }
}
