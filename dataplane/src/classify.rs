//! First look at a received frame: is it UDP for one of our flows, for the
//! slow path (ARP, ICMP, Neighbor Discovery), or to be dropped, and why.
//! Headers are checked here once; later stages trust the offsets.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::flow::FlowKey;
use crate::stats::DropReason;
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{ipv6, udp};

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
    /// For the control core: ARP, ICMP, ICMPv6 (echo, Neighbor Discovery).
    SlowPath,
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
        ethertype::ARP => Class::SlowPath,
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
        protocol::ICMP => return Class::SlowPath,
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
        protocol::ICMPV6 => return Class::SlowPath,
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
