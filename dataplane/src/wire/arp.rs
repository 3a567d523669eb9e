//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! Only the Ethernet/IPv4 combination exists on mediafwd's links; any other
//! hardware or protocol type is [`WireError::Unsupported`].

use core::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::{get_u16, set_u16, Result, WireError};

/// ARP operation codes (RFC 826, "ar$op").
pub mod op {
    /// Who has the target protocol address?
    pub const REQUEST: u16 = 1;
    /// The sender hardware address owns the sender protocol address.
    pub const REPLY: u16 = 2;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

view! {
    /// A view of an Ethernet/IPv4 ARP packet.
    pub struct Packet;
    /// Wraps `buffer` after checking it holds [`LEN`] bytes and describes
    /// Ethernet (htype 1, hlen 6) and IPv4 (ptype 0x0800, plen 4).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < LEN {
            return Err(WireError::Truncated);
        }
        if get_u16(b, field::HTYPE) != HTYPE_ETHERNET
            || get_u16(b, field::PTYPE) != PTYPE_IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(())
    }

    /// Operation code, see [`op`].
    pub fn operation(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware address.
    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::SPA])
    }

    /// Target hardware address (zero in a request).
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the fixed Ethernet/IPv4 type and length fields.
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        set_u16(b, field::HTYPE, HTYPE_ETHERNET);
        set_u16(b, field::PTYPE, PTYPE_IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    /// Sets the operation code.
    pub fn set_operation(&mut self, operation: u16) {
        set_u16(self.buffer.as_mut(), field::OPER, operation);
    }

    /// Sets the sender hardware address.
    pub fn set_sender_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// An Ethernet/IPv4 ARP packet as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Operation code, see [`op`].
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// Reads a packet, validating it as [`Packet::new_checked`] does.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            operation: packet.operation(),
            sender_mac: packet.sender_hardware_addr(),
            sender_ip: packet.sender_protocol_addr(),
            target_mac: packet.target_hardware_addr(),
            target_ip: packet.target_protocol_addr(),
        })
    }

    /// Bytes [`Repr::emit`] writes: [`LEN`].
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the packet into the first [`LEN`] bytes of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`LEN`].
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..LEN]);
        p.set_ethernet_ipv4();
        p.set_operation(self.operation);
        p.set_sender_hardware_addr(self.sender_mac);
        p.set_sender_protocol_addr(self.sender_ip);
        p.set_target_hardware_addr(self.target_mac);
        p.set_target_protocol_addr(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;
    use proptest::prelude::*;

    /// Who has 192.168.0.2? Tell 192.168.0.1 (after the Ethernet header).
    const REQUEST: &str = "0001 0800 06 04 0001 00163e1a2b3c c0a80001 000000000000 c0a80002";

    #[test]
    fn parse_request() {
        let b = hex(REQUEST);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), op::REQUEST);
        assert_eq!(p.sender_hardware_addr().to_string(), "00:16:3e:1a:2b:3c");
        assert_eq!(p.sender_protocol_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.target_hardware_addr(), MacAddr::default());
        assert_eq!(p.target_protocol_addr(), Ipv4Addr::new(192, 168, 0, 2));
    }

    #[test]
    fn answer_in_place() {
        let mut b = hex(REQUEST);
        let ours = MacAddr([0x02, 0, 0, 0, 0, 0x10]);
        let req = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        let reply = Repr {
            operation: op::REPLY,
            sender_mac: ours,
            sender_ip: req.target_ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        };
        reply.emit(&mut b);
        let expect = hex("0001 0800 06 04 0002 020000000010 c0a80002 00163e1a2b3c c0a80001");
        assert_eq!(b, expect);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = hex(REQUEST);
        for len in 0..LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
    }

    #[test]
    fn other_types_unsupported() {
        for (at, v) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = hex(REQUEST);
            b[at] = v;
            assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Unsupported);
        }
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.operation(), p.sender_hardware_addr(), p.sender_protocol_addr());
                let _ = (p.target_hardware_addr(), p.target_protocol_addr());
            }
        }

        #[test]
        fn repr_round_trip(
            operation in any::<u16>(), sm in any::<[u8; 6]>(), si in any::<[u8; 4]>(),
            tm in any::<[u8; 6]>(), ti in any::<[u8; 4]>(),
        ) {
            let repr = Repr {
                operation,
                sender_mac: MacAddr(sm),
                sender_ip: si.into(),
                target_mac: MacAddr(tm),
                target_ip: ti.into(),
            };
            let mut buf = [0xAAu8; LEN];
            repr.emit(&mut buf);
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }
    }
}
