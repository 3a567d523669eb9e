//! Ethernet II frames (IEEE 802.3 §3.1) with at most one 802.1Q tag.
//!
//! Stacked tags (802.1ad QinQ) are rejected as [`WireError::Unsupported`]:
//! mediafwd attaches to access ports or a single trunk VLAN.

use core::fmt;
use core::str::FromStr;

use super::{get_u16, set_u16, Result, WireError};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Reads an address from the first six bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than six bytes.
    pub fn from_bytes(data: &[u8]) -> MacAddr {
        let mut a = [0u8; 6];
        a.copy_from_slice(&data[..6]);
        MacAddr(a)
    }

    /// The six octets in transmission order.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether this is `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit (the least significant bit of the first octet,
    /// IEEE 802 §8.2) is set; broadcast is multicast too.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (non-group) address.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

impl fmt::Display for MacAddr {
    /// Lower-case, colon-separated: `aa:bb:cc:dd:ee:ff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// A string that is not a MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address: expected six hex pairs separated by ':' or '-', like aa:bb:cc:dd:ee:ff")]
pub struct ParseMacAddrError;

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    /// Parses six two-digit hex groups separated by `:` (or `-`, consistently).
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let sep = match s.as_bytes().get(2) {
            Some(b':') => ':',
            Some(b'-') => '-',
            _ => return Err(ParseMacAddrError),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for o in &mut out {
            let p = parts.next().ok_or(ParseMacAddrError)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseMacAddrError);
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| ParseMacAddrError)?;
        }
        match parts.next() {
            None => Ok(MacAddr(out)),
            Some(_) => Err(ParseMacAddrError),
        }
    }
}

/// EtherType values (IEEE 802 numbers registry).
pub mod ethertype {
    /// Internet Protocol version 4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// Internet Protocol version 6 (RFC 2464).
    pub const IPV6: u16 = 0x86DD;
    /// Address Resolution Protocol (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag (TPID).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (QinQ outer TPID); unsupported.
    pub const QINQ: u16 = 0x88A8;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of a header carrying one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    /// The EtherType, or the TPID when a tag follows.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// 802.1Q tag control information: PCP (3 bits), DEI (1), VID (12).
    pub const VLAN_TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

view! {
    /// A view of an Ethernet II frame, optionally 802.1Q tagged.
    pub struct Frame;
    /// Wraps `buffer` after checking it holds a full header: 14 bytes, or 18
    /// with an 802.1Q tag. A second tag is [`WireError::Unsupported`].
    fn new_checked;
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Validates the buffer as [`Frame::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        match get_u16(b, field::ETHERTYPE) {
            ethertype::QINQ => Err(WireError::Unsupported),
            ethertype::VLAN if b.len() < VLAN_HEADER_LEN => Err(WireError::Truncated),
            ethertype::VLAN => match get_u16(b, field::INNER_ETHERTYPE) {
                ethertype::VLAN | ethertype::QINQ => Err(WireError::Unsupported),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn is_tagged(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE) == ethertype::VLAN
    }

    fn tci(&self) -> Option<u16> {
        self.is_tagged().then(|| get_u16(self.buffer.as_ref(), field::VLAN_TCI))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source address.
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The 12-bit VLAN identifier of the 802.1Q tag, if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.tci().map(|t| t & 0x0FFF)
    }

    /// The 3-bit priority code point of the 802.1Q tag, if tagged.
    pub fn vlan_pcp(&self) -> Option<u8> {
        self.tci().map(|t| (t >> 13) as u8)
    }

    /// The EtherType of the payload (after the tag, when tagged).
    pub fn ethertype(&self) -> u16 {
        if self.is_tagged() {
            get_u16(self.buffer.as_ref(), field::INNER_ETHERTYPE)
        } else {
            get_u16(self.buffer.as_ref(), field::ETHERTYPE)
        }
    }

    /// Header length: [`HEADER_LEN`] or [`VLAN_HEADER_LEN`].
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The bytes after the header, including any trailing padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the payload EtherType (after the tag, when tagged).
    pub fn set_ethertype(&mut self, ethertype: u16) {
        let at = if self.is_tagged() { field::INNER_ETHERTYPE } else { field::ETHERTYPE };
        set_u16(self.buffer.as_mut(), at, ethertype);
    }

    /// The bytes after the header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// Writes an Ethernet header (with an 802.1Q tag of priority 0 when
/// `vlan_id` is set) and returns its length, 14 or 18.
///
/// # Panics
/// If `buf` is shorter than the returned length.
pub fn emit_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, vlan_id: Option<u16>, ethertype: u16) -> usize {
    buf[field::DESTINATION].copy_from_slice(&dst.0);
    buf[field::SOURCE].copy_from_slice(&src.0);
    match vlan_id {
        Some(vid) => {
            set_u16(buf, field::ETHERTYPE, ethertype::VLAN);
            set_u16(buf, field::VLAN_TCI, vid & 0x0FFF);
            set_u16(buf, field::INNER_ETHERTYPE, ethertype);
            VLAN_HEADER_LEN
        }
        None => {
            set_u16(buf, field::ETHERTYPE, ethertype);
            HEADER_LEN
        }
    }
}

/// The fields of an Ethernet header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Destination address.
    pub dst_addr: MacAddr,
    /// Source address.
    pub src_addr: MacAddr,
    /// 802.1Q VLAN identifier (12 bits), if tagged.
    pub vlan_id: Option<u16>,
    /// Payload EtherType.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame (the tag's priority is dropped).
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            dst_addr: frame.dst_addr(),
            src_addr: frame.src_addr(),
            vlan_id: frame.vlan_id(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length this representation emits.
    pub const fn header_len(&self) -> usize {
        match self.vlan_id {
            Some(_) => VLAN_HEADER_LEN,
            None => HEADER_LEN,
        }
    }

    /// Writes the header into the start of `buf`; see [`emit_header`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        emit_header(buf, self.dst_addr, self.src_addr, self.vlan_id, self.ethertype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::hex;
    use proptest::prelude::*;

    // Broadcast ARP request head, then an 802.1Q-tagged IPv4 frame (VID 100, PCP 5).
    const UNTAGGED: &str = "ffffffffffff 00163e1a2b3c 0806 0001";
    const TAGGED: &str = "3c22fb112233 00163e1a2b3c 8100 a064 0800 4500";

    #[test]
    fn parse_untagged() {
        let b = hex(UNTAGGED);
        let f = Frame::new_checked(&b[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert_eq!(f.src_addr(), MacAddr([0x00, 0x16, 0x3e, 0x1a, 0x2b, 0x3c]));
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.vlan_pcp(), None);
        assert_eq!(f.ethertype(), ethertype::ARP);
        assert_eq!(f.header_len(), HEADER_LEN);
        assert_eq!(f.payload(), &[0x00, 0x01]);
    }

    #[test]
    fn parse_tagged() {
        let b = hex(TAGGED);
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst_addr().to_string(), "3c:22:fb:11:22:33");
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.vlan_pcp(), Some(5));
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.header_len(), VLAN_HEADER_LEN);
        assert_eq!(f.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn truncated_at_every_length() {
        let b = hex(UNTAGGED);
        for len in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        let b = hex(TAGGED);
        for len in 0..VLAN_HEADER_LEN {
            assert_eq!(Frame::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        assert!(Frame::new_checked(&b[..VLAN_HEADER_LEN]).is_ok());
    }

    #[test]
    fn qinq_rejected() {
        let stacked = hex("3c22fb112233 00163e1a2b3c 8100 0064 8100 00c8 0800");
        assert_eq!(Frame::new_checked(&stacked[..]).unwrap_err(), WireError::Unsupported);
        let inner_ad = hex("3c22fb112233 00163e1a2b3c 8100 0064 88a8 00c8 0800");
        assert_eq!(Frame::new_checked(&inner_ad[..]).unwrap_err(), WireError::Unsupported);
        let outer_ad = hex("3c22fb112233 00163e1a2b3c 88a8 0064 8100 00c8 0800");
        assert_eq!(Frame::new_checked(&outer_ad[..]).unwrap_err(), WireError::Unsupported);
    }

    #[test]
    fn setters() {
        let mut b = hex(TAGGED);
        let mut f = Frame::new_checked(&mut b[..]).unwrap();
        let a: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        f.set_dst_addr(MacAddr::BROADCAST);
        f.set_src_addr(a);
        f.set_ethertype(ethertype::IPV6);
        f.payload_mut()[0] = 0x60;
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), a);
        assert_eq!(f.ethertype(), ethertype::IPV6);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.as_ref()[18], 0x60);
    }

    #[test]
    fn mac_addr_text_and_kinds() {
        let a: MacAddr = "AA-bb-cc-dd-ee-0f".parse().unwrap();
        assert_eq!(a.to_string(), "aa:bb:cc:dd:ee:0f");
        assert!(a.is_unicast() && !a.is_multicast());
        assert!(MacAddr([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb-cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:fg",
            "a:bb:cc:dd:ee:ff0",
            "+a:bb:cc:dd:ee:ff",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacAddrError), "{bad}");
        }
    }

    #[test]
    fn emit_header_lengths() {
        let mut b = [0u8; 18];
        let (d, s) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(emit_header(&mut b, d, s, None, ethertype::IPV4), 14);
        assert_eq!(&b[12..14], &[0x08, 0x00]);
        assert_eq!(emit_header(&mut b, d, s, Some(0xF123), ethertype::IPV6), 18);
        assert_eq!(&b[12..18], &[0x81, 0x00, 0x01, 0x23, 0x86, 0xdd]);
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(f) = Frame::new_checked(&data[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.vlan_id(), f.vlan_pcp(), f.ethertype());
                prop_assert_eq!(f.payload().len() + f.header_len(), data.len());
            }
        }

        #[test]
        fn repr_round_trip(
            dst in any::<[u8; 6]>(), src in any::<[u8; 6]>(),
            vlan_id in proptest::option::of(0u16..0x1000),
            ethertype in any::<u16>().prop_filter("tag", |t| *t != ethertype::VLAN && *t != ethertype::QINQ),
        ) {
            let repr = Repr { dst_addr: MacAddr(dst), src_addr: MacAddr(src), vlan_id, ethertype };
            let mut buf = [0u8; VLAN_HEADER_LEN];
            let n = repr.emit(&mut buf);
            prop_assert_eq!(n, repr.header_len());
            let f = Frame::new_checked(&buf[..n]).unwrap();
            prop_assert_eq!(Repr::parse(&f).unwrap(), repr);
        }

        #[test]
        fn mac_display_parse_round_trip(a in any::<[u8; 6]>()) {
            let mac = MacAddr(a);
            prop_assert_eq!(mac.to_string().parse::<MacAddr>().unwrap(), mac);
        }
    }
}
