//! The relay rewrite: a UDP packet that arrived at one leg's local address
//! leaves from the other leg's local address towards its remote. Addresses,
//! ports and MACs are rewritten in place; checksums are updated
//! incrementally (RFC 1624) so end-to-end corruption stays detectable. An
//! IPv4 leg relayed to an IPv6 leg (or back) swaps the IP header in the
//! headroom, anchored at the UDP header, which never moves.

use core::net::{IpAddr, SocketAddr};

use crate::buf::PacketBuf;
use crate::classify::{Family, UdpPacket};
use crate::flow::Egress;
use crate::stats::DropReason;
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{checksum, ipv6, udp};

mod prebuilt;
pub use prebuilt::Prebuilt;

/// TTL / hop limit of relayed packets: the relay is a UDP endpoint, so its
/// packets start a new path.
pub const TTL: u8 = 64;

/// Rewrites `pkt` (classified as `cls`) to leave by `eg` towards `dst` via
/// the next hop `dst_mac`.
#[inline]
pub fn rewrite(
    pkt: &mut PacketBuf<'_>,
    cls: &UdpPacket,
    eg: &Egress,
    dst: SocketAddr,
    dst_mac: MacAddr,
) -> Result<(), DropReason> {
    let base = pkt.offset();
    let l3_abs = base + cls.l3_off;
    let udp_abs = base + cls.udp_off;
    let udp_end = udp_abs + cls.udp_len;
    let in_l3_len = cls.udp_off - cls.l3_off;
    let (out_l3_len, out_type) = match (cls.family, dst) {
        (Family::V4, SocketAddr::V4(_)) => (in_l3_len, ethertype::IPV4),
        (Family::V6, SocketAddr::V6(_)) => (ipv6::HEADER_LEN, ethertype::IPV6),
        (_, SocketAddr::V4(_)) => (ipv4::HEADER_LEN, ethertype::IPV4),
        (_, SocketAddr::V6(_)) => (ipv6::HEADER_LEN, ethertype::IPV6),
    };
    let l2_len = if eg.vlan.is_some() { ethernet::VLAN_HEADER_LEN } else { ethernet::HEADER_LEN };
    let start = udp_abs.checked_sub(out_l3_len + l2_len).ok_or(DropReason::NoHeadroom)?;
    let buf = pkt.buffer_mut();

    match (cls.family, eg.src, dst) {
        (Family::V4, SocketAddr::V4(s), SocketAddr::V4(d)) => {
            let (ip, udp) = buf[l3_abs..udp_end].split_at_mut(in_l3_len);
            let mut ip = ipv4::Packet::new_unchecked(ip);
            let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
            let mut old = [0u8; 8];
            old[..4].copy_from_slice(&old_src.octets());
            old[4..].copy_from_slice(&old_dst.octets());
            let mut new = [0u8; 8];
            new[..4].copy_from_slice(&s.ip().octets());
            new[4..].copy_from_slice(&d.ip().octets());
            // The addresses are in both the IP header and the UDP pseudo-header: sum them once.
            let (old_sum, new_sum) = (checksum::sum(&old), checksum::sum(&new));
            let old_ttl_proto = u16::from_be_bytes([ip.ttl(), ip.protocol()]) as u32;
            let new_ttl_proto = u16::from_be_bytes([TTL, ip.protocol()]) as u32;
            let check = checksum::update_sum(ip.checksum(), old_sum + old_ttl_proto, new_sum + new_ttl_proto);
            ip.set_src_addr(*s.ip());
            ip.set_dst_addr(*d.ip());
            ip.set_ttl(TTL);
            ip.set_checksum(check);
            rewrite_udp(udp, old_sum, new_sum, s.port(), d.port(), UdpChecksum::Optional);
        }
        (Family::V6, SocketAddr::V6(s), SocketAddr::V6(d)) => {
            let (ip, udp) = buf[l3_abs..udp_end].split_at_mut(in_l3_len);
            let mut ip = ipv6::Packet::new_unchecked(ip);
            let mut old = [0u8; 32];
            old[..16].copy_from_slice(&ip.src_addr().octets());
            old[16..].copy_from_slice(&ip.dst_addr().octets());
            let mut new = [0u8; 32];
            new[..16].copy_from_slice(&s.ip().octets());
            new[16..].copy_from_slice(&d.ip().octets());
            ip.set_src_addr(*s.ip());
            ip.set_dst_addr(*d.ip());
            ip.set_hop_limit(TTL);
            rewrite_udp(udp, checksum::sum(&old), checksum::sum(&new), s.port(), d.port(), UdpChecksum::Mandatory);
        }
        (_, src, dst) if src.is_ipv4() == dst.is_ipv4() => {
            // Translation between families: the old header's pseudo-header
            // sum is replaced by the new one's.
            let old_pseudo = pseudo_header_sum(cls, &buf[l3_abs..udp_abs]);
            let new_pseudo = match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_header_v4(s, d, protocol::UDP, cls.udp_len as u16),
                (IpAddr::V6(s), IpAddr::V6(d)) => checksum::pseudo_header_v6(&s, &d, protocol::UDP, cls.udp_len as u32),
                _ => unreachable!("families checked above"),
            };
            let mode = if dst.is_ipv4() { UdpChecksum::Optional } else { UdpChecksum::Mandatory };
            translate_udp(&mut buf[udp_abs..udp_end], old_pseudo, new_pseudo, src.port(), dst.port(), mode);
            let l3 = &mut buf[udp_abs - out_l3_len..udp_abs];
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    ipv4::Repr { src_addr: s, dst_addr: d, protocol: protocol::UDP, payload_len: cls.udp_len, ttl: TTL }
                        .emit(l3)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => ipv6::Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: protocol::UDP,
                    payload_len: cls.udp_len,
                    hop_limit: TTL,
                }
                .emit(l3),
                _ => unreachable!("families checked above"),
            }
        }
        // An egress whose local and remote families differ is refused by the
        // control side; never send such a packet.
        _ => return Err(DropReason::NoRemote),
    }

    ethernet::emit_header(&mut buf[start..start + l2_len], dst_mac, eg.src_mac, eg.vlan, out_type);
    pkt.set_window(start, l2_len + out_l3_len + cls.udp_len);
    Ok(())
}

/// [`rewrite`] for a packet whose UDP payload was replaced in place (SRTP
/// protect or unprotect): `cls.udp_len` is the new UDP length. The payload is
/// new, so nothing is updated incrementally: fresh IP and UDP headers are
/// written in front of it, with the UDP checksum computed over the new
/// payload, except over IPv4 when `authenticated`: an SRTP packet's tag
/// already lets its receiver detect any corruption, and IPv4 makes the UDP
/// checksum optional (RFC 768), so 0 ("none") spares summing the payload.
#[inline]
pub fn rewrite_resized(
    pkt: &mut PacketBuf<'_>,
    cls: &UdpPacket,
    eg: &Egress,
    dst: SocketAddr,
    dst_mac: MacAddr,
    authenticated: bool,
) -> Result<(), DropReason> {
    let udp_abs = pkt.offset() + cls.udp_off;
    let udp_end = udp_abs + cls.udp_len;
    let (out_l3_len, out_type) = match dst {
        SocketAddr::V4(_) => (ipv4::HEADER_LEN, ethertype::IPV4),
        SocketAddr::V6(_) => (ipv6::HEADER_LEN, ethertype::IPV6),
    };
    let l2_len = if eg.vlan.is_some() { ethernet::VLAN_HEADER_LEN } else { ethernet::HEADER_LEN };
    let start = udp_abs.checked_sub(out_l3_len + l2_len).ok_or(DropReason::NoHeadroom)?;
    let buf = pkt.buffer_mut();
    let header =
        udp::Repr { src_port: eg.src.port(), dst_port: dst.port(), payload_len: cls.udp_len - udp::HEADER_LEN };
    header.emit(&mut buf[udp_abs..udp_end]);
    let mut datagram = udp::Datagram::new_unchecked(&mut buf[udp_abs..udp_end]);
    match (eg.src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if !authenticated {
                datagram.fill_checksum_v4(s, d);
            }
            ipv4::Repr { src_addr: s, dst_addr: d, protocol: protocol::UDP, payload_len: cls.udp_len, ttl: TTL }
                .emit(&mut buf[udp_abs - out_l3_len..udp_abs]);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            datagram.fill_checksum_v6(&s, &d);
            ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: protocol::UDP,
                payload_len: cls.udp_len,
                hop_limit: TTL,
            }
            .emit(&mut buf[udp_abs - out_l3_len..udp_abs]);
        }
        // Refused by the control side, as in `rewrite`.
        _ => return Err(DropReason::NoRemote),
    }
    ethernet::emit_header(&mut buf[start..start + l2_len], dst_mac, eg.src_mac, eg.vlan, out_type);
    pkt.set_window(start, l2_len + out_l3_len + cls.udp_len);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UdpChecksum {
    /// IPv4: 0 means "no checksum" and stays 0.
    Optional,
    /// IPv6: a checksum is required (RFC 8200 §8.1).
    Mandatory,
}

/// Same-family rewrite: `old_sum`/`new_sum` are the sums of the
/// pseudo-header's address bytes before and after.
#[inline(always)]
fn rewrite_udp(udp: &mut [u8], old_sum: u32, new_sum: u32, src_port: u16, dst_port: u16, mode: UdpChecksum) {
    let mut d = udp::Datagram::new_unchecked(udp);
    let check = d.checksum();
    let (old_sp, old_dp) = (d.src_port(), d.dst_port());
    d.set_src_port(src_port);
    d.set_dst_port(dst_port);
    if check == 0 && mode == UdpChecksum::Optional {
        return;
    }
    let c = checksum::update_sum(
        check,
        old_sum + old_sp as u32 + old_dp as u32,
        new_sum + src_port as u32 + dst_port as u32,
    );
    d.set_checksum(if c == 0 { 0xffff } else { c });
}

/// Cross-family rewrite of the UDP header.
fn translate_udp(udp: &mut [u8], old_pseudo: u32, new_pseudo: u32, src_port: u16, dst_port: u16, mode: UdpChecksum) {
    let mut d = udp::Datagram::new_unchecked(&mut *udp);
    let check = d.checksum();
    let old_ports = d.src_port() as u32 + d.dst_port() as u32;
    d.set_src_port(src_port);
    d.set_dst_port(dst_port);
    let c = if check == 0 {
        if mode == UdpChecksum::Optional {
            return;
        }
        // IPv4 without a checksum to IPv6, where one is mandatory.
        d.set_checksum(0);
        checksum::finish(new_pseudo + checksum::sum(d.into_inner()))
    } else {
        checksum::update_sum(check, old_pseudo + old_ports, new_pseudo + src_port as u32 + dst_port as u32)
    };
    let mut d = udp::Datagram::new_unchecked(udp);
    d.set_checksum(if c == 0 { 0xffff } else { c });
}

fn pseudo_header_sum(cls: &UdpPacket, l3: &[u8]) -> u32 {
    match cls.family {
        Family::V4 => {
            let ip = ipv4::Packet::new_unchecked(l3);
            checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), protocol::UDP, cls.udp_len as u16)
        }
        Family::V6 => {
            let ip = ipv6::Packet::new_unchecked(l3);
            checksum::pseudo_header_v6(&ip.src_addr(), &ip.dst_addr(), protocol::UDP, cls.udp_len as u32)
        }
    }
}
