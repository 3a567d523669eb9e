//! First look at a received frame: is it UDP for one of our flows, for the
//! slow path (ARP, ICMP, Neighbor Discovery, STUN and DTLS on a relay port),
//! or to be dropped, and why.
//! Headers are checked here once; later stages trust the offsets.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::flow::FlowKey;
use crate::latch::RemoteBits;
use crate::slowpath::police::{Kind, Punt};
use crate::stats::DropReason;
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{ipv6, stun, udp};

/// What the worker knows of one of its ports.
#[derive(Debug, Clone)]
pub struct PortContext {
    /// Our MAC address on the port.
    pub mac: MacAddr,
    /// Whether untagged frames belong to an interface.
    pub untagged: bool,
    /// VLAN ids that belong to an interface, as a 4096-bit set.
    vlans: [u64; 64],
}

impl PortContext {
    /// A port with our `mac` accepting untagged frames only.
    pub fn new(mac: MacAddr) -> Self {
        PortContext { mac, untagged: true, vlans: [0; 64] }
    }

    /// A port accepting untagged frames (if `untagged`) and the given VLANs.
    pub fn with_vlans(mac: MacAddr, untagged: bool, vlans: &[u16]) -> Self {
        let mut p = PortContext { mac, untagged, vlans: [0; 64] };
        for &v in vlans {
            p.vlans[(v as usize & 0xfff) / 64] |= 1 << (v % 64);
        }
        p
    }

    #[inline(always)]
    fn accepts(&self, vlan: Option<u16>) -> bool {
        match vlan {
            None => self.untagged,
            Some(v) => self.vlans[(v as usize & 0xfff) / 64] & (1 << (v % 64)) != 0,
        }
    }
}

/// The IP family of a classified packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A UDP datagram addressed to one of our (address, port) pairs, with the
/// offsets of its headers in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket {
    /// The flow key of the destination.
    pub key: FlowKey,
    /// The sender.
    pub src: SocketAddr,
    /// The sender's MAC (the previous hop).
    pub src_mac: MacAddr,
    /// The VLAN it arrived on.
    pub vlan: Option<u16>,
    /// IPv4 or IPv6.
    pub family: Family,
    /// Offset of the IP header.
    pub l3_off: usize,
    /// Offset of the UDP header.
    pub udp_off: usize,
    /// UDP length (header and payload), from the UDP header.
    pub udp_len: usize,
}

/// The classifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// UDP to look up in the flow table.
    Udp(UdpPacket),
    /// For the control core: ARP, ICMP, ICMPv6 (echo, Neighbor Discovery),
    /// and STUN and DTLS to our UDP ports (ICE checks, DTLS-SRTP handshakes);
    /// with the kind and sender the slow-path policer budgets it by.
    SlowPath(Punt),
    /// Dropped, for this reason.
    Drop(DropReason),
}

/// Classifies the frame `frame` received on port `port_id`; `stripped_vlan`
/// is the tag the NIC (or the kernel, for af_packet) removed from the frame
/// and reported beside it.
#[inline]
pub fn classify(frame: &[u8], port_id: u16, port: &PortContext, stripped_vlan: Option<u16>) -> Class {
    let eth = match ethernet::Frame::new_checked(frame) {
        Ok(f) => f,
        Err(crate::wire::WireError::Unsupported) => return Class::Drop(DropReason::UnsupportedEtherType),
        Err(_) => return Class::Drop(DropReason::Runt),
    };
    let dst = eth.dst_addr();
    let to_us = dst == port.mac;
    if !to_us && dst.is_unicast() {
        return Class::Drop(DropReason::NotForUs);
    }
    let vlan = eth.vlan_id().or(stripped_vlan.map(|tci| tci & 0x0fff));
    if !port.accepts(vlan) {
        return Class::Drop(DropReason::WrongVlan);
    }
    let l3_off = eth.header_len();
    let l3 = &frame[l3_off..];
    match eth.ethertype() {
        ethertype::IPV4 => classify_v4(l3, l3_off, port_id, to_us, vlan, eth.src_addr()),
        ethertype::IPV6 => classify_v6(l3, l3_off, port_id, to_us, vlan, eth.src_addr()),
        ethertype::ARP => {
            // A frame that is not to us, yet got here, is to a group.
            let kind = if to_us { Kind::Neighbor } else { Kind::ArpBroadcast };
            // The ARP sender's protocol address, or the source MAC of a runt.
            let sender = l3.get(14..18).unwrap_or(&frame[6..12]);
            Class::SlowPath(Punt::new(kind, sender))
        }
        _ => Class::Drop(DropReason::UnsupportedEtherType),
    }
}

#[inline(always)]
fn classify_v4(l3: &[u8], l3_off: usize, port_id: u16, to_us: bool, vlan: Option<u16>, src_mac: MacAddr) -> Class {
    let Ok(ip) = ipv4::Packet::new_checked(l3) else {
        return Class::Drop(DropReason::BadIpv4);
    };
    if !ip.verify_checksum() {
        return Class::Drop(DropReason::BadIpv4);
    }
    if ip.is_fragment() {
        return Class::Drop(DropReason::Fragment);
    }
    match ip.protocol() {
        protocol::UDP if to_us => {}
        protocol::ICMP => return Class::SlowPath(Punt::new(Kind::Icmp, &ip.src_addr().octets())),
        protocol::UDP => return Class::Drop(DropReason::NotForUs),
        _ => return Class::Drop(DropReason::NotUdp),
    }
    let hl = ip.header_len();
    let Ok(u) = udp::Datagram::new_checked(ip.payload()) else {
        return Class::Drop(DropReason::BadUdp);
    };
    if u.len() as usize <= udp::HEADER_LEN {
        return Class::Drop(DropReason::BadUdp);
    }
    if punted(u.payload()) {
        return Class::SlowPath(Punt::new(Kind::IceDtls, &ip.src_addr().octets()));
    }
    let (src, dst): (Ipv4Addr, Ipv4Addr) = (ip.src_addr(), ip.dst_addr());
    Class::Udp(UdpPacket {
        key: FlowKey::v4(port_id, dst, u.dst_port()),
        src: SocketAddr::V4(SocketAddrV4::new(src, u.src_port())),
        src_mac,
        vlan,
        family: Family::V4,
        l3_off,
        udp_off: l3_off + hl,
        udp_len: u.len() as usize,
    })
}

#[inline(always)]
fn classify_v6(l3: &[u8], l3_off: usize, port_id: u16, to_us: bool, vlan: Option<u16>, src_mac: MacAddr) -> Class {
    let Ok(ip) = ipv6::Packet::new_checked(l3) else {
        return Class::Drop(DropReason::BadIpv6);
    };
    match ip.next_header() {
        protocol::UDP if to_us => {}
        protocol::ICMPV6 => {
            let nd = matches!(ip.payload().first(), Some(135 | 136));
            let kind = match (nd, to_us) {
                (true, false) => Kind::NdMulticast,
                (true, true) => Kind::Neighbor,
                (false, _) => Kind::Icmp,
            };
            return Class::SlowPath(Punt::new(kind, &ip.src_addr().octets()));
        }
        protocol::UDP => return Class::Drop(DropReason::NotForUs),
        // Hop-by-hop, routing, fragment and other extension headers.
        44 => return Class::Drop(DropReason::Fragment),
        _ => return Class::Drop(DropReason::NotUdp),
    }
    let Ok(u) = udp::Datagram::new_checked(ip.payload()) else {
        return Class::Drop(DropReason::BadUdp);
    };
    if u.len() as usize <= udp::HEADER_LEN {
        return Class::Drop(DropReason::BadUdp);
    }
    if punted(u.payload()) {
        return Class::SlowPath(Punt::new(Kind::IceDtls, &ip.src_addr().octets()));
    }
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (ip.src_addr(), ip.dst_addr());
    Class::Udp(UdpPacket {
        key: FlowKey::v6(port_id, dst, u.dst_port()),
        src: SocketAddr::V6(SocketAddrV6::new(src, u.src_port(), 0, 0)),
        src_mac,
        vlan,
        family: Family::V6,
        l3_off,
        udp_off: l3_off + ipv6::HEADER_LEN,
        udp_len: u.len() as usize,
    })
}

/// Whether a UDP payload to one of our ports is STUN or DTLS, which share a
/// WebRTC leg's port with RTP (RFC 7983 §7) and are handled off the workers.
/// RTP and RTCP start at 128, so the common case costs one compare.
#[inline(always)]
fn punted(payload: &[u8]) -> bool {
    payload[0] < 64 && (stun::is_stun(payload) || stun::is_dtls(payload))
}

/// A frame of the common shape, decided from fixed offsets: to our MAC,
/// untagged or one 802.1Q tag, IPv4 without options and not fragmented (its
/// header checksum verified) or IPv6 with UDP as the next header, and a UDP
/// datagram with a payload whose first byte is 64 or more (so neither STUN
/// nor DTLS, which [`classify`] sends to the slow path). Everything [`classify`] would say of such a
/// frame follows from these fields; any other frame is left to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lean {
    /// Our local UDP port.
    pub dst_port: u16,
    /// The sender's UDP port.
    pub src_port: u16,
    /// UDP length (header and payload).
    pub udp_len: u16,
    /// The VLAN it arrived on.
    pub vlan: Option<u16>,
    /// Offset of the IP header: 14, or 18 behind a tag.
    pub l3_off: u8,
    /// Offset of the UDP header.
    pub udp_off: u8,
    /// IPv4 or IPv6.
    pub family: Family,
}

impl Lean {
    /// A placeholder in burst arrays.
    pub const NONE: Lean =
        Lean { dst_port: 0, src_port: 0, udp_len: 0, vlan: None, l3_off: 0, udp_off: 0, family: Family::V4 };

    /// Offset of the UDP header.
    #[inline(always)]
    pub fn udp_off(&self) -> usize {
        self.udp_off as usize
    }

    /// The sender, read from `frame` (the frame it was classified from).
    #[inline(always)]
    pub fn src(&self, frame: &[u8]) -> RemoteBits {
        let l3 = self.l3_off as usize;
        match self.family {
            Family::V4 => {
                let a: [u8; 4] = frame[l3 + 12..l3 + 16].try_into().expect("4 bytes");
                RemoteBits::v4(u32::from_be_bytes(a), self.src_port)
            }
            Family::V6 => {
                let a: [u8; 16] = frame[l3 + 8..l3 + 24].try_into().expect("16 bytes");
                RemoteBits::v6(u128::from_be_bytes(a), self.src_port)
            }
        }
    }
}

impl Lean {
    /// The packet as [`classify`] gives it, read from `frame` (the frame this
    /// was classified from) received on `port_id`, without classifying it again.
    #[inline(always)]
    pub fn udp_packet(&self, frame: &[u8], port_id: u16) -> UdpPacket {
        let l3 = self.l3_off as usize;
        let (key, src) = match self.family {
            Family::V4 => {
                let a = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&frame[l3 + at..l3 + at + 4]).expect("4 bytes"));
                (FlowKey::v4(port_id, a(16), self.dst_port), SocketAddr::V4(SocketAddrV4::new(a(12), self.src_port)))
            }
            Family::V6 => {
                let a =
                    |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&frame[l3 + at..l3 + at + 16]).expect("16 bytes"));
                let src = SocketAddr::V6(SocketAddrV6::new(a(8), self.src_port, 0, 0));
                (FlowKey::v6(port_id, a(24), self.dst_port), src)
            }
        };
        UdpPacket {
            key,
            src,
            src_mac: MacAddr::from_bytes(&frame[6..12]),
            vlan: self.vlan,
            family: self.family,
            l3_off: l3,
            udp_off: self.udp_off(),
            udp_len: self.udp_len as usize,
        }
    }
}

/// The UDP header and the fixed RTP header behind it, as the lean relay reads
/// them: source port, destination port, length, checksum, then the 12 bytes
/// of RTP (RFC 3550 §5.1).
pub type UdpRtp = [u8; udp::HEADER_LEN + 12];

impl Lean {
    /// The sender and the UDP and fixed RTP headers of `frame` (the frame it
    /// was classified from), taken with one bounds check; `None` when the
    /// datagram is too short to hold an RTP header.
    #[inline(always)]
    pub fn headers<'f>(&self, frame: &'f [u8]) -> Option<(RemoteBits, &'f UdpRtp)> {
        if (self.udp_len as usize) < core::mem::size_of::<UdpRtp>() {
            return None;
        }
        let l3 = self.l3_off as usize;
        match self.family {
            Family::V4 => {
                let h: &[u8; ipv4::HEADER_LEN + 20] = frame.get(l3..l3 + 40)?.try_into().ok()?;
                let (ip, u) = h.split_at(ipv4::HEADER_LEN);
                let a = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
                Some((RemoteBits::v4(a, self.src_port), u.try_into().ok()?))
            }
            Family::V6 => {
                let h: &[u8; ipv6::HEADER_LEN + 20] = frame.get(l3..l3 + 60)?.try_into().ok()?;
                let (ip, u) = h.split_at(ipv6::HEADER_LEN);
                let a: [u8; 16] = ip[8..24].try_into().ok()?;
                Some((RemoteBits::v6(u128::from_be_bytes(a), self.src_port), u.try_into().ok()?))
            }
        }
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The common case of [`classify`] from fixed offsets, with our local
/// address (the destination) as [`FlowKey::addr_bits`], or `None` for any
/// frame of another shape (which [`classify`] then decides).
#[inline(always)]
pub fn classify_lean(frame: &[u8], port: &PortContext, stripped_vlan: Option<u16>) -> Option<(Lean, u128)> {
    // The shortest frame of the shape: Ethernet, IPv4, UDP.
    if frame.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN || frame[..6] != port.mac.0 {
        return None;
    }
    let (l3, ty, vlan) = match be16(frame, 12) {
        ethertype::VLAN => (ethernet::VLAN_HEADER_LEN, be16(frame, 16), Some(be16(frame, 14) & 0x0fff)),
        ty => (ethernet::HEADER_LEN, ty, stripped_vlan.map(|tci| tci & 0x0fff)),
    };
    if !port.accepts(vlan) {
        return None;
    }
    match ty {
        ethertype::IPV4 => {
            let h: &[u8; ipv4::HEADER_LEN + udp::HEADER_LEN] = frame.get(l3..l3 + 28)?.try_into().ok()?;
            let total = be16(h, 2) as usize;
            // Version 4 without options, not a fragment, UDP.
            if h[0] != 0x45
                || be16(h, 6) & 0x3fff != 0
                || h[9] != ipv4::protocol::UDP
                || total < h.len()
                || l3 + total > frame.len()
            {
                return None;
            }
            let udp_len = be16(h, 24);
            if (udp_len as usize) <= udp::HEADER_LEN
                || udp_len as usize > total - ipv4::HEADER_LEN
                || frame[l3 + h.len()] < 64
            {
                return None;
            }
            let word = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
            if crate::wire::checksum::fold64(word(0) + word(4) + word(8) + word(12) + word(16)) != 0xffff {
                return None;
            }
            let lean = Lean {
                dst_port: be16(h, 22),
                src_port: be16(h, 20),
                udp_len,
                vlan,
                l3_off: l3 as u8,
                udp_off: (l3 + ipv4::HEADER_LEN) as u8,
                family: Family::V4,
            };
            Some((lean, FlowKey::v4_bits(u32::from_be_bytes([h[16], h[17], h[18], h[19]]))))
        }
        ethertype::IPV6 => {
            let h: &[u8; ipv6::HEADER_LEN + udp::HEADER_LEN] = frame.get(l3..l3 + 48)?.try_into().ok()?;
            let payload = be16(h, 4) as usize;
            if h[0] >> 4 != 6 || h[6] != ipv4::protocol::UDP || l3 + ipv6::HEADER_LEN + payload > frame.len() {
                return None;
            }
            let udp_len = be16(h, 44);
            if (udp_len as usize) <= udp::HEADER_LEN || udp_len as usize > payload || frame[l3 + h.len()] < 64 {
                return None;
            }
            let lean = Lean {
                dst_port: be16(h, 42),
                src_port: be16(h, 40),
                udp_len,
                vlan,
                l3_off: l3 as u8,
                udp_off: (l3 + ipv6::HEADER_LEN) as u8,
                family: Family::V6,
            };
            Some((lean, u128::from_be_bytes(h[24..40].try_into().expect("16 bytes"))))
        }
        _ => None,
    }
}

/// The sum of the 16-bit words of a fixed-size header.
#[inline(always)]
pub(crate) fn sum_words<const N: usize>(b: &[u8; N]) -> u32 {
    let mut s = 0u32;
    let mut i = 0;
    while i + 1 < N {
        s += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
        i += 2;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::UdpFrame;
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);

    fn addr(v6: bool, host: u8, port: u16) -> SocketAddr {
        if v6 {
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, host as u16], port))
        } else {
            SocketAddr::from(([198, 18, 0, host], port))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// The lean classifier takes every frame of the common shape, and
        /// whatever it takes, mutated or truncated, the full classifier
        /// classifies as the same UDP packet.
        #[test]
        fn the_lean_classifier_agrees_with_the_full_one(
            v6 in any::<bool>(),
            vlan in proptest::option::of(1u16..4095),
            stripped in proptest::option::of(any::<u16>()),
            payload in proptest::collection::vec(any::<u8>(), 1..64),
            padding in 0usize..8,
            edits in proptest::collection::vec(
                (0usize..64, prop_oneof![any::<u8>(), Just(0u8), Just(0x20), Just(0x81), Just(0xff)]),
                0..3,
            ),
            cut in proptest::option::of(0usize..120),
            fix_checksum in any::<bool>(),
        ) {
            let f = UdpFrame { src_mac: MacAddr([2, 0, 0, 0, 1, 1]), dst_mac: OURS, vlan, src: addr(v6, 2, 5000), dst: addr(v6, 1, 30000) };
            let mut frame = vec![0u8; f.header_len() + payload.len() + padding];
            f.emit(&mut frame, &payload);
            let port = PortContext::with_vlans(OURS, true, &[vlan.unwrap_or(7), stripped.unwrap_or(0) & 0xfff]);
            if edits.is_empty() && cut.is_none() {
                prop_assert_eq!(classify_lean(&frame, &port, stripped).is_some(), payload[0] >= 64);
            }
            for (at, b) in edits {
                if at < frame.len() {
                    frame[at] = b;
                }
            }
            // Edits past a valid IPv4 header checksum, where there is one.
            let l3 = if vlan.is_some() { 18 } else { 14 };
            if fix_checksum && !v6 && frame.len() >= l3 + 20 {
                frame[l3 + 10..l3 + 12].fill(0);
                let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&frame[l3..l3 + 20]));
                frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            }
            if let Some(c) = cut {
                frame.truncate(c);
            }
            if let Some((l, dst)) = classify_lean(&frame, &port, stripped) {
                let Class::Udp(u) = classify(&frame, 3, &port, stripped) else {
                    return Err(TestCaseError::fail(format!("lean took a frame the full classifier did not: {l:?}")));
                };
                let key = match l.family {
                    Family::V4 => FlowKey::v4(3, Ipv4Addr::from(dst as u32), l.dst_port),
                    Family::V6 => FlowKey::v6(3, Ipv6Addr::from(dst), l.dst_port),
                };
                prop_assert_eq!(u.key, key);
                prop_assert_eq!(RemoteBits::of(Some(u.src)), l.src(&frame));
                // The fixed-offset view: the same sender, the datagram's own bytes.
                match l.headers(&frame) {
                    Some((src, h)) => {
                        prop_assert_eq!(src, l.src(&frame));
                        prop_assert_eq!(&h[..], &frame[u.udp_off..u.udp_off + h.len()]);
                    }
                    None => prop_assert!(u.udp_len < core::mem::size_of::<UdpRtp>()),
                }
                prop_assert_eq!((u.vlan, u.family, u.l3_off, u.udp_off, u.udp_len), (l.vlan, l.family, l.l3_off as usize, l.udp_off(), l.udp_len as usize));
                prop_assert_eq!(l.udp_packet(&frame, 3), u);
            }
        }
    }
}
