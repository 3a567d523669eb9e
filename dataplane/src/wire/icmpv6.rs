//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages mediafwd answers
//! and sends (RFC 4861).
//!
//! The view covers the whole ICMPv6 message (the IPv6 payload): the
//! checksum covers all of it plus the IPv6 pseudo-header (RFC 8200 §8.1).

use core::net::Ipv6Addr;

use super::ethernet::MacAddr;
use super::{checksum, protocol, Result, WireError};

mod nd;

pub use nd::{nd_option, NdOption, NdOptions, NdRepr};

/// ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4).
pub mod msg_type {
    /// Echo request (RFC 4443 §4.1).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply (RFC 4443 §4.2).
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation (RFC 4861 §4.1).
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement (RFC 4861 §4.2).
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation (RFC 4861 §4.3).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement (RFC 4861 §4.4).
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect (RFC 4861 §4.5).
    pub const REDIRECT: u8 = 137;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// Neighbor Advertisement flags: R, S, O in the high bits (RFC 4861 §4.4).
    pub const NA_FLAGS: usize = 4;
    /// Target address of a Neighbor Solicitation or Advertisement.
    pub const ND_TARGET: Range<usize> = 8..24;
}

/// Shortest message of any type: type, code and checksum.
const MIN_LEN: usize = 4;
/// Echo and Neighbor Discovery messages carry four more bytes.
const EXTENDED_LEN: usize = 8;

/// Where the options of a Neighbor Discovery message start, which is also
/// its minimum length (RFC 4861 §4.1 to §4.5).
fn nd_options_start(msg_type: u8) -> Option<usize> {
    match msg_type {
        msg_type::ROUTER_SOLICIT => Some(8),
        msg_type::ROUTER_ADVERT => Some(16),
        msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT => Some(24),
        msg_type::REDIRECT => Some(40),
        _ => None,
    }
}

view! {
    /// A view of an ICMPv6 message.
    pub struct Packet;
    /// Wraps `buffer` after checking it is long enough for its type: 4
    /// bytes, 8 for echo, the fixed part of a Neighbor Discovery message
    /// (24 for NS/NA), whose options must each have a nonzero length that
    /// fits (RFC 4861 §4.6).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < MIN_LEN {
            return Err(WireError::Truncated);
        }
        let msg_type = self.msg_type();
        if matches!(msg_type, msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY) && b.len() < EXTENDED_LEN {
            return Err(WireError::Truncated);
        }
        match nd_options_start(msg_type) {
            Some(start) if b.len() < start => Err(WireError::Truncated),
            Some(start) => nd::check_options(&b[start..]),
            None => Ok(()),
        }
    }

    icmp_fields!(get);

    /// The bytes after the first eight: echo data, or as much of the
    /// invoking packet as an error message carries. Empty when shorter.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(EXTENDED_LEN..).unwrap_or(&[])
    }

    fn full_sum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u32 {
        let b = self.buffer.as_ref();
        checksum::pseudo_header_v6(src, dst, protocol::ICMPV6, b.len() as u32) + checksum::sum(b)
    }

    /// Whether the checksum verifies over the IPv6 pseudo-header of `src`
    /// and `dst` (RFC 4443 §2.3, RFC 8200 §8.1).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::fold(self.full_sum(src, dst)) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    icmp_fields!(set);

    /// The bytes after the first eight, mutably. Empty when shorter.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(EXTENDED_LEN..).unwrap_or(&mut [])
    }

    /// Computes the checksum over the whole message and the IPv6
    /// pseudo-header of `src` and `dst` (RFC 4443 §2.3).
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let check = checksum::finish(self.full_sum(src, dst));
        self.set_checksum(check);
    }
}

/// The solicited-node multicast group of `addr`, `ff02::1:ffXX:XXXX` with
/// its low 24 bits (RFC 4291 §2.7.1), where NS for it are sent.
pub fn solicited_node_multicast(addr: Ipv6Addr) -> Ipv6Addr {
    let a = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a[13], a[14], a[15]])
}

/// The Ethernet destination for IPv6 multicast `addr`, `33:33` and its low
/// 32 bits (RFC 2464 §7).
pub fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let a = addr.octets();
    MacAddr([0x33, 0x33, a[12], a[13], a[14], a[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An echo request as `ping -6` sends it: ident 0x0a0b, seq 1, 8 data bytes.
    fn echo() -> [u8; 16] {
        [128, 0, 0, 0, 0x0a, 0x0b, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]
    }

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("2001:db8::10".parse().unwrap(), "2001:db8::1".parse().unwrap())
    }

    #[test]
    fn echo_fields_and_checksum() {
        let (src, dst) = addrs();
        let mut b = echo();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(&src, &dst);
        assert!(p.verify_checksum(&src, &dst));
        assert!(!p.verify_checksum(&dst, &Ipv6Addr::LOCALHOST));
        assert_eq!((p.msg_type(), p.code()), (msg_type::ECHO_REQUEST, 0));
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x0a0b, 1));
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);

        // Answer in place: swap the type and fix the checksum incrementally.
        let c = checksum::update16(p.checksum(), 128 << 8, 129 << 8);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_checksum(c);
        assert!(p.verify_checksum(&src, &dst));
        p.set_echo_ident(1);
        p.set_echo_seq(2);
        p.set_code(0);
        p.payload_mut()[0] = 9;
        p.fill_checksum(&src, &dst);
        assert!(p.verify_checksum(&src, &dst));
        assert_eq!((p.echo_ident(), p.echo_seq(), p.payload()[0]), (1, 2, 9));
    }

    #[test]
    fn truncated_at_every_length() {
        let b = echo();
        for len in 0..EXTENDED_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        // A packet-too-big error needs only its first four bytes to be read.
        let ptb = [2u8, 0, 0, 0, 0, 0];
        assert!(Packet::new_checked(&ptb[..4]).is_ok());
        assert!(Packet::new_checked(&ptb[..]).unwrap().payload().is_empty());
        let rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
        for len in 0..rs.len() {
            assert_eq!(Packet::new_checked(&rs[..len]).unwrap_err(), WireError::Truncated);
        }
        assert!(Packet::new_checked(&rs[..]).is_ok());
    }

    #[test]
    fn multicast_addresses() {
        let a: Ipv6Addr = "fe80::216:3eff:fe1a:2b3c".parse().unwrap();
        let g = solicited_node_multicast(a);
        assert_eq!(g, "ff02::1:ff1a:2b3c".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(g), MacAddr([0x33, 0x33, 0xff, 0x1a, 0x2b, 0x3c]));
        assert!(multicast_mac(g).is_multicast());
    }

    proptest! {
        #[test]
        fn checked_never_panics(
            kind in prop_oneof![any::<u8>(), 128u8..=137],
            mut data in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            // Half the cases get an echo or NDP type, so option walking is exercised.
            if let Some(first) = data.first_mut() {
                *first = kind;
            }
            let (src, dst) = addrs();
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.checksum(), p.payload(), p.verify_checksum(&src, &dst));
                if data.len() >= EXTENDED_LEN {
                    let _ = (p.echo_ident(), p.echo_seq());
                }
                for opt in p.options() {
                    prop_assert!(opt.data.len() + 2 <= data.len());
                }
                let _ = (p.source_link_addr(), p.target_link_addr());
                if matches!(p.msg_type(), msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT) {
                    let _ = (p.nd_target(), p.router_flag(), p.solicited_flag(), p.override_flag());
                    let _ = NdRepr::parse(&p);
                }
            }
        }

        #[test]
        fn fill_then_verify(mut data in proptest::collection::vec(any::<u8>(), 4..200),
                            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut p = Packet::new_unchecked(&mut data[..]);
            p.fill_checksum(&src, &dst);
            prop_assert!(p.verify_checksum(&src, &dst));
        }
    }
}
