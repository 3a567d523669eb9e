//! Frames the slow-path tests send, and checks written independently of
//! the code under test (checksums summed from scratch, byte by byte).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::{ipv4, ipv6, protocol};

/// RFC 1071 by the book: 16-bit big-endian words summed in 64 bits, folded.
fn naive_sum(chunks: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let mut acc: u64 = 0;
    for pair in bytes.chunks(2) {
        acc += u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0));
    }
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

/// Whether the ICMPv6 message `icmp` from `src` to `dst` sums to all ones.
pub fn icmpv6_checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> bool {
    let len = (icmp.len() as u32).to_be_bytes();
    naive_sum(&[&src.octets(), &dst.octets(), &len, &[0, 0, 0, protocol::ICMPV6], icmp]) == 0xffff
}

/// Whether the bytes (an IPv4 header or an ICMP message) sum to all ones.
pub fn sums_to_ones(data: &[u8]) -> bool {
    naive_sum(&[data]) == 0xffff
}

/// Ethernet and IPv6 headers of `frame`, and its IPv6 payload.
pub fn ipv6_of(frame: &[u8]) -> (ethernet::Repr, ipv6::Repr, Vec<u8>) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    let e = ethernet::Repr::parse(&eth).unwrap();
    assert_eq!(e.ethertype, ethertype::IPV6);
    let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
    (e, ipv6::Repr::parse(&ip).unwrap(), ip.payload().to_vec())
}

/// Ethernet and IPv4 headers of `frame`, the raw IPv4 header, and its payload.
pub fn ipv4_of(frame: &[u8]) -> (ethernet::Repr, ipv4::Repr, Vec<u8>, Vec<u8>) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    let e = ethernet::Repr::parse(&eth).unwrap();
    assert_eq!(e.ethertype, ethertype::IPV4);
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    let header = eth.payload()[..ip.header_len()].to_vec();
    (e, ipv4::Repr::parse(&ip).unwrap(), header, ip.payload().to_vec())
}

/// Addressing of an echo request.
pub struct Echo<A> {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// 802.1Q tag.
    pub vlan: Option<u16>,
    /// IP source.
    pub src: A,
    /// IP destination.
    pub dst: A,
}

impl Echo<Ipv4Addr> {
    /// Writes an ICMP echo request (ident 0x1f2e, seq 3, `data`) into `buf`; its length.
    pub fn emit(&self, buf: &mut [u8], data: &[u8]) -> usize {
        let l2 = ethernet::emit_header(buf, self.dst_mac, self.src_mac, self.vlan, ethertype::IPV4);
        let icmp_len = 8 + data.len();
        let r = ipv4::Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            protocol: protocol::ICMP,
            payload_len: icmp_len,
            ttl: 57,
        };
        r.emit(&mut buf[l2..]);
        let icmp = &mut buf[l2 + 20..l2 + 20 + icmp_len];
        icmp[..8].copy_from_slice(&[8, 0, 0, 0, 0x1f, 0x2e, 0, 3]);
        icmp[8..].copy_from_slice(data);
        let c = !naive_sum(&[icmp]);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        l2 + 20 + icmp_len
    }
}

impl Echo<Ipv6Addr> {
    /// Writes an ICMPv6 echo request (ident 0x0a0b, seq 1, `data`) into `buf`; its length.
    pub fn emit(&self, buf: &mut [u8], data: &[u8]) -> usize {
        let l2 = ethernet::emit_header(buf, self.dst_mac, self.src_mac, self.vlan, ethertype::IPV6);
        let icmp_len = 8 + data.len();
        let r = ipv6::Repr {
            src_addr: self.src,
            dst_addr: self.dst,
            next_header: protocol::ICMPV6,
            payload_len: icmp_len,
            hop_limit: 61,
        };
        r.emit(&mut buf[l2..]);
        let icmp = &mut buf[l2 + 40..l2 + 40 + icmp_len];
        icmp[..8].copy_from_slice(&[128, 0, 0, 0, 0x0a, 0x0b, 0, 1]);
        icmp[8..].copy_from_slice(data);
        let len = (icmp_len as u32).to_be_bytes();
        let c = !naive_sum(&[&self.src.octets(), &self.dst.octets(), &len, &[0, 0, 0, protocol::ICMPV6], icmp]);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        l2 + 40 + icmp_len
    }
}
