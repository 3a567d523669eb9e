//! Neighbor Discovery (RFC 4861): NS/NA fields, options and emission.

use core::net::Ipv6Addr;

use super::super::ethernet::MacAddr;
use super::super::{Result, WireError};
use super::{field, msg_type, nd_options_start, Packet};

/// Neighbor Discovery option types (RFC 4861 §4.6).
pub mod nd_option {
    /// Source link-layer address (RFC 4861 §4.6.1).
    pub const SOURCE_LINK_ADDR: u8 = 1;
    /// Target link-layer address (RFC 4861 §4.6.1).
    pub const TARGET_LINK_ADDR: u8 = 2;
    /// Prefix information (RFC 4861 §4.6.2).
    pub const PREFIX_INFO: u8 = 3;
    /// Redirected header (RFC 4861 §4.6.3).
    pub const REDIRECTED_HEADER: u8 = 4;
    /// MTU (RFC 4861 §4.6.4).
    pub const MTU: u8 = 5;
}

const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;

/// Length of an NS or NA without options.
const NS_NA_LEN: usize = 24;
/// Length of a link-layer address option for Ethernet (RFC 2464 §6).
const LINK_ADDR_OPT_LEN: usize = 8;

/// Checks that `opts` is a sequence of options each with a nonzero length
/// (in units of 8 bytes) that fits (RFC 4861 §4.6).
pub(super) fn check_options(opts: &[u8]) -> Result<()> {
    let mut rest = opts;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(WireError::Truncated);
        }
        let len = usize::from(rest[1]) * 8;
        if len == 0 || len > rest.len() {
            return Err(WireError::BadLength);
        }
        rest = &rest[len..];
    }
    Ok(())
}

/// One Neighbor Discovery option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdOption<'a> {
    /// Option type, see [`nd_option`].
    pub kind: u8,
    /// The option after its type and length bytes.
    pub data: &'a [u8],
}

/// Iterator over the options of a Neighbor Discovery message; it stops at
/// the first malformed option (which a checked packet does not have).
#[derive(Debug, Clone)]
pub struct NdOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = NdOption<'a>;

    fn next(&mut self) -> Option<NdOption<'a>> {
        let rest = self.rest;
        let len = usize::from(*rest.get(1)?) * 8;
        if len == 0 || len > rest.len() {
            self.rest = &[];
            return None;
        }
        self.rest = &rest[len..];
        Some(NdOption { kind: rest[0], data: &rest[2..len] })
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Target address of a Neighbor Solicitation or Advertisement.
    ///
    /// # Panics
    /// On a message shorter than 24 bytes, which a checked NS or NA is not.
    pub fn nd_target(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::ND_TARGET]);
        Ipv6Addr::from(a)
    }

    fn na_flags(&self) -> u8 {
        self.buffer.as_ref()[field::NA_FLAGS]
    }

    /// NA Router flag: the sender is a router.
    ///
    /// # Panics
    /// On a message shorter than 8 bytes, which a checked NA is not.
    pub fn router_flag(&self) -> bool {
        self.na_flags() & NA_ROUTER != 0
    }

    /// NA Solicited flag: the advertisement answers a solicitation.
    ///
    /// # Panics
    /// On a message shorter than 8 bytes, which a checked NA is not.
    pub fn solicited_flag(&self) -> bool {
        self.na_flags() & NA_SOLICITED != 0
    }

    /// NA Override flag: the advertisement should replace a cached address.
    ///
    /// # Panics
    /// On a message shorter than 8 bytes, which a checked NA is not.
    pub fn override_flag(&self) -> bool {
        self.na_flags() & NA_OVERRIDE != 0
    }

    /// The options of a Neighbor Discovery message (none for other types).
    pub fn options(&self) -> NdOptions<'_> {
        let b = self.buffer.as_ref();
        let rest = nd_options_start(self.msg_type()).and_then(|start| b.get(start..)).unwrap_or(&[]);
        NdOptions { rest }
    }

    fn link_addr(&self, kind: u8) -> Option<MacAddr> {
        self.options().find(|o| o.kind == kind && o.data.len() >= 6).map(|o| MacAddr::from_bytes(o.data))
    }

    /// The source link-layer address option (NS, RS, RA).
    pub fn source_link_addr(&self) -> Option<MacAddr> {
        self.link_addr(nd_option::SOURCE_LINK_ADDR)
    }

    /// The target link-layer address option (NA, Redirect).
    pub fn target_link_addr(&self) -> Option<MacAddr> {
        self.link_addr(nd_option::TARGET_LINK_ADDR)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_na_flag(&mut self, flag: u8, on: bool) {
        let b = &mut self.buffer.as_mut()[field::NA_FLAGS];
        *b = if on { *b | flag } else { *b & !flag };
    }

    /// Sets the target address of an NS or NA; the checksum is not updated.
    pub fn set_nd_target(&mut self, target: Ipv6Addr) {
        self.buffer.as_mut()[field::ND_TARGET].copy_from_slice(&target.octets());
    }

    /// Sets the NA Router flag; the checksum is not updated.
    pub fn set_router_flag(&mut self, on: bool) {
        self.set_na_flag(NA_ROUTER, on);
    }

    /// Sets the NA Solicited flag; the checksum is not updated.
    pub fn set_solicited_flag(&mut self, on: bool) {
        self.set_na_flag(NA_SOLICITED, on);
    }

    /// Sets the NA Override flag; the checksum is not updated.
    pub fn set_override_flag(&mut self, on: bool) {
        self.set_na_flag(NA_OVERRIDE, on);
    }
}

/// A Neighbor Solicitation or Advertisement as plain values (RFC 4861
/// §4.3, §4.4), with its link-layer address option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdRepr {
    /// Neighbor Solicitation: who has `target`?
    Solicit {
        /// The address being resolved.
        target: Ipv6Addr,
        /// The solicitor's link-layer address (absent in DAD probes).
        source_mac: Option<MacAddr>,
    },
    /// Neighbor Advertisement: `target` is at `target_mac`.
    Advert {
        /// The sender is a router.
        router_flag: bool,
        /// This answers a solicitation.
        solicited_flag: bool,
        /// Replace an existing cache entry.
        override_flag: bool,
        /// The address being advertised.
        target: Ipv6Addr,
        /// Its link-layer address.
        target_mac: Option<MacAddr>,
    },
}

impl NdRepr {
    /// Reads an NS or NA, validating it as [`Packet::new_checked`] does.
    /// Other types, and a nonzero code (RFC 4861 §7.1), are
    /// [`WireError::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<NdRepr> {
        packet.check_len()?;
        if packet.code() != 0 {
            return Err(WireError::Unsupported);
        }
        match packet.msg_type() {
            msg_type::NEIGHBOR_SOLICIT => {
                Ok(NdRepr::Solicit { target: packet.nd_target(), source_mac: packet.source_link_addr() })
            }
            msg_type::NEIGHBOR_ADVERT => Ok(NdRepr::Advert {
                router_flag: packet.router_flag(),
                solicited_flag: packet.solicited_flag(),
                override_flag: packet.override_flag(),
                target: packet.nd_target(),
                target_mac: packet.target_link_addr(),
            }),
            _ => Err(WireError::Unsupported),
        }
    }

    /// Bytes [`NdRepr::emit`] writes: 24, plus 8 with a link-layer address.
    pub const fn buffer_len(&self) -> usize {
        match self {
            NdRepr::Solicit { source_mac: mac, .. } | NdRepr::Advert { target_mac: mac, .. } => match mac {
                Some(_) => NS_NA_LEN + LINK_ADDR_OPT_LEN,
                None => NS_NA_LEN,
            },
        }
    }

    /// Writes the message into the first [`NdRepr::buffer_len`] bytes of
    /// `buf` with a zero checksum; call [`Packet::fill_checksum`] once the
    /// IPv6 addresses are known.
    ///
    /// # Panics
    /// If `buf` is shorter than [`NdRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) {
        let buf = &mut buf[..self.buffer_len()];
        buf[..8].fill(0);
        let (kind, target, opt_kind, mac) = match *self {
            NdRepr::Solicit { target, source_mac } => {
                (msg_type::NEIGHBOR_SOLICIT, target, nd_option::SOURCE_LINK_ADDR, source_mac)
            }
            NdRepr::Advert { router_flag, solicited_flag, override_flag, target, target_mac } => {
                buf[field::NA_FLAGS] = if router_flag { NA_ROUTER } else { 0 }
                    | if solicited_flag { NA_SOLICITED } else { 0 }
                    | if override_flag { NA_OVERRIDE } else { 0 };
                (msg_type::NEIGHBOR_ADVERT, target, nd_option::TARGET_LINK_ADDR, target_mac)
            }
        };
        buf[field::TYPE] = kind;
        buf[field::ND_TARGET].copy_from_slice(&target.octets());
        if let Some(mac) = mac {
            let opt = &mut buf[NS_NA_LEN..NS_NA_LEN + LINK_ADDR_OPT_LEN];
            opt[0] = opt_kind;
            opt[1] = (LINK_ADDR_OPT_LEN / 8) as u8;
            opt[2..].copy_from_slice(&mac.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{multicast_mac, solicited_node_multicast};
    use super::*;
    use crate::wire::ipv6;
    use crate::wire::test_util::{hex, NA, NS};
    use proptest::prelude::*;

    fn icmp_of(frame: &[u8]) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
        let ip = ipv6::Packet::new_checked(&frame[14..]).unwrap();
        (ip.src_addr(), ip.dst_addr(), ip.payload().to_vec())
    }

    #[test]
    fn parse_ns_capture() {
        let (src, dst, b) = icmp_of(&hex(NS));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::NEIGHBOR_SOLICIT);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x798a);
        assert!(p.verify_checksum(&src, &dst));
        let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(p.nd_target(), target);
        assert_eq!(dst, solicited_node_multicast(target));
        assert_eq!(multicast_mac(dst).to_string(), "33:33:ff:00:00:01");
        let mac: MacAddr = "00:16:3e:1a:2b:3c".parse().unwrap();
        assert_eq!(p.source_link_addr(), Some(mac));
        assert_eq!(p.target_link_addr(), None);
        let opts: Vec<_> = p.options().collect();
        assert_eq!(opts.len(), 1);
        assert_eq!(opts[0].kind, nd_option::SOURCE_LINK_ADDR);
        assert_eq!(NdRepr::parse(&p).unwrap(), NdRepr::Solicit { target, source_mac: Some(mac) });
    }

    #[test]
    fn parse_na_capture() {
        let (src, dst, b) = icmp_of(&hex(NA));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::NEIGHBOR_ADVERT);
        assert_eq!(p.checksum(), 0xf7da);
        assert!(p.verify_checksum(&src, &dst));
        assert!(!p.router_flag() && p.solicited_flag() && p.override_flag());
        let mac: MacAddr = "3c:22:fb:11:22:33".parse().unwrap();
        assert_eq!(p.target_link_addr(), Some(mac));
        assert_eq!(p.source_link_addr(), None);
        assert_eq!(
            NdRepr::parse(&p).unwrap(),
            NdRepr::Advert {
                router_flag: false,
                solicited_flag: true,
                override_flag: true,
                target: src,
                target_mac: Some(mac),
            }
        );
    }

    #[test]
    fn answer_capture_with_emit() {
        // The NA in the capture is exactly the answer to the NS.
        let (ns_src, _, ns) = icmp_of(&hex(NS));
        let (na_src, na_dst, expect) = icmp_of(&hex(NA));
        let ns = Packet::new_checked(&ns[..]).unwrap();
        let NdRepr::Solicit { target, .. } = NdRepr::parse(&ns).unwrap() else {
            panic!("not a solicitation");
        };
        let reply = NdRepr::Advert {
            router_flag: false,
            solicited_flag: true,
            override_flag: true,
            target,
            target_mac: Some("3c:22:fb:11:22:33".parse().unwrap()),
        };
        let mut buf = [0xEEu8; 40];
        reply.emit(&mut buf);
        let mut na = Packet::new_unchecked(&mut buf[..reply.buffer_len()]);
        assert_eq!((na_src, na_dst), (target, ns_src));
        na.fill_checksum(&na_src, &na_dst);
        assert_eq!(na.as_ref(), &expect[..]);
    }

    #[test]
    fn setters() {
        let (_, _, mut b) = icmp_of(&hex(NA));
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_router_flag(true);
        p.set_solicited_flag(false);
        p.set_override_flag(false);
        p.set_nd_target(Ipv6Addr::LOCALHOST);
        assert!(p.router_flag() && !p.solicited_flag() && !p.override_flag());
        assert_eq!(p.nd_target(), Ipv6Addr::LOCALHOST);
    }

    #[test]
    fn truncated_and_bad_options() {
        let (_, _, b) = icmp_of(&hex(NS));
        for len in 0..NS_NA_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        assert!(Packet::new_checked(&b[..NS_NA_LEN]).is_ok());
        assert_eq!(Packet::new_checked(&b[..NS_NA_LEN + 1]).unwrap_err(), WireError::Truncated);
        for len in NS_NA_LEN + 2..b.len() {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::BadLength);
        }
        let mut zero = b.clone();
        zero[NS_NA_LEN + 1] = 0;
        assert_eq!(Packet::new_checked(&zero[..]).unwrap_err(), WireError::BadLength);
        // Unchecked, the iterator stops rather than looping or panicking.
        assert_eq!(Packet::new_unchecked(&zero[..]).options().count(), 0);
        let mut long = b.clone();
        long[NS_NA_LEN + 1] = 2;
        assert_eq!(Packet::new_checked(&long[..]).unwrap_err(), WireError::BadLength);
    }

    #[test]
    fn unknown_options_skipped() {
        // NS with a nonce option (RFC 3971 type 14) before the source address.
        let (_, _, mut b) = icmp_of(&hex(NS));
        b.splice(NS_NA_LEN..NS_NA_LEN, [14, 1, 1, 2, 3, 4, 5, 6]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options().count(), 2);
        assert_eq!(p.source_link_addr().unwrap().to_string(), "00:16:3e:1a:2b:3c");
    }

    #[test]
    fn parse_rejects_other_messages() {
        let (_, _, mut b) = icmp_of(&hex(NS));
        b[1] = 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(NdRepr::parse(&p).unwrap_err(), WireError::Unsupported);
        let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
        let p = Packet::new_checked(&echo[..]).unwrap();
        assert_eq!(NdRepr::parse(&p).unwrap_err(), WireError::Unsupported);
        assert_eq!(p.options().count(), 0);
    }

    fn mac() -> impl Strategy<Value = Option<MacAddr>> {
        proptest::option::of(any::<[u8; 6]>().prop_map(MacAddr))
    }

    /// Well-formed options of random kinds and sizes.
    fn options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((any::<u8>(), 1u8..4, any::<u8>()), 0..4).prop_map(|opts| {
            let mut out = Vec::new();
            for (kind, units, fill) in opts {
                out.extend_from_slice(&[kind, units]);
                out.extend(std::iter::repeat_n(fill, usize::from(units) * 8 - 2));
            }
            out
        })
    }

    proptest! {
        #[test]
        fn checked_ns_na_never_panics(
            advert in any::<bool>(), fixed in any::<[u8; 23]>(), opts in options(), cut in any::<u8>(),
        ) {
            let mut b = vec![if advert { msg_type::NEIGHBOR_ADVERT } else { msg_type::NEIGHBOR_SOLICIT }];
            b.extend_from_slice(&fixed);
            b.extend_from_slice(&opts);
            let whole = b.len();
            for len in [whole, whole - usize::from(cut) % whole] {
                if let Ok(p) = Packet::new_checked(&b[..len]) {
                    let _ = (p.nd_target(), p.router_flag(), p.solicited_flag(), p.override_flag());
                    let _ = (p.source_link_addr(), p.target_link_addr(), p.options().count());
                    let _ = NdRepr::parse(&p);
                }
            }
            prop_assert!(Packet::new_checked(&b[..]).is_ok());
        }

        #[test]
        fn repr_round_trip(
            advert in any::<bool>(), flags in any::<[bool; 3]>(),
            target in any::<[u8; 16]>(), mac in mac(),
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
        ) {
            let target = Ipv6Addr::from(target);
            let repr = if advert {
                NdRepr::Advert {
                    router_flag: flags[0], solicited_flag: flags[1], override_flag: flags[2],
                    target, target_mac: mac,
                }
            } else {
                NdRepr::Solicit { target, source_mac: mac }
            };
            let mut buf = [0xEEu8; 32];
            repr.emit(&mut buf);
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut p = Packet::new_checked(&mut buf[..repr.buffer_len()]).unwrap();
            p.fill_checksum(&src, &dst);
            prop_assert!(p.verify_checksum(&src, &dst));
            prop_assert_eq!(NdRepr::parse(&p).unwrap(), repr);
        }
    }
}
