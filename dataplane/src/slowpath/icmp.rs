//! ICMP (RFC 792) and ICMPv6 (RFC 4443): echo requests to our addresses
//! are answered in place, within the interface's rate; every other message
//! is counted by kind and dropped. ICMPv6 Neighbor Discovery goes to
//! [`super::nd`].

use core::net::IpAddr;
use std::time::Instant;

use super::interface::Interface;
use super::nd;
use super::ratelimit::TokenBucket;
use super::verdict::{pad, Handled, Message, Reason, Verdict};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6, protocol};

/// TTL / hop limit of our echo replies.
const REPLY_HOP_LIMIT: u8 = 64;

/// Why an ICMP type is not answered (RFC 792, RFC 1256, RFC 950).
fn v4_reason(msg_type: u8) -> Reason {
    match msg_type {
        icmpv4::msg_type::DEST_UNREACHABLE | icmpv4::msg_type::TIME_EXCEEDED => Reason::IcmpError,
        4 | 12 => Reason::IcmpError, // source quench, parameter problem
        5 => Reason::Redirect,
        9 | 10 => Reason::RouterDiscovery,
        _ => Reason::OtherIcmp,
    }
}

/// Why an ICMPv6 type is not answered here (RFC 4443 §2.1, RFC 4861 §4).
fn v6_reason(msg_type: u8) -> Reason {
    match msg_type {
        0..=127 => Reason::IcmpError,
        icmpv6::msg_type::ROUTER_SOLICIT | icmpv6::msg_type::ROUTER_ADVERT => Reason::RouterDiscovery,
        icmpv6::msg_type::REDIRECT => Reason::Redirect,
        _ => Reason::OtherIcmp,
    }
}

/// Ethernet header length and source of `frame` if it carries `ether_type`.
fn l2_of(frame: &[u8], ether_type: u16) -> Result<(usize, MacAddr), Handled> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| Handled::drop(Message::Other, Reason::Malformed))?;
    if eth.ethertype() != ether_type {
        return Err(Handled::drop(Message::Other, Reason::Unsupported));
    }
    Ok((eth.header_len(), eth.src_addr()))
}

/// Whether an echo request from `eth_src` may be answered: not one of our
/// own frames come back, from a unicast sender, within the rate.
fn may_answer(eth_src: MacAddr, iface: &Interface, limit: &mut TokenBucket, now: Instant) -> Result<(), Reason> {
    if eth_src == iface.mac {
        return Err(Reason::Looped);
    }
    if !eth_src.is_unicast() {
        return Err(Reason::BadSource);
    }
    if !limit.try_take(now) {
        return Err(Reason::RateLimited);
    }
    Ok(())
}

/// Addresses the frame in `buf` from us back to `eth_src`.
fn back_to_sender(buf: &mut [u8], eth_src: MacAddr, iface: &Interface) {
    let mut eth = ethernet::Frame::new_unchecked(buf);
    eth.set_dst_addr(eth_src);
    eth.set_src_addr(iface.mac);
}

/// Handles the IPv4 ICMP frame at `buf[..len]`, received on `iface`. An
/// echo request to one of our addresses becomes the echo reply in place
/// (addresses swapped, back to the frame's source MAC, same VLAN, data
/// echoed, Ethernet padding trimmed) when `limit` has a token at `now`.
pub fn handle_v4(buf: &mut [u8], len: usize, iface: &Interface, limit: &mut TokenBucket, now: Instant) -> Handled {
    let len = len.min(buf.len());
    let (l2, eth_src) = match l2_of(&buf[..len], ethertype::IPV4) {
        Ok(x) => x,
        Err(h) => return h,
    };
    let other = |reason| Handled::drop(Message::Other, reason);
    let Ok(ip) = ipv4::Packet::new_checked(&buf[l2..len]) else {
        return other(Reason::Malformed);
    };
    if !ip.verify_checksum() {
        return other(Reason::Malformed);
    }
    if ip.is_fragment() || ip.protocol() != protocol::ICMP {
        return other(Reason::Unsupported);
    }
    let Ok(icmp) = icmpv4::Packet::new_checked(ip.payload()) else {
        return other(Reason::Malformed);
    };
    if !icmp.verify_checksum() {
        return other(Reason::Malformed);
    }
    if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST {
        return other(v4_reason(icmp.msg_type()));
    }
    let drop = |reason| Handled::drop(Message::EchoRequest, reason);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if !iface.owns(IpAddr::V4(dst)) {
        return drop(Reason::NotOurAddress);
    }
    if src.is_multicast()
        || src.is_broadcast()
        || src.is_unspecified()
        || iface.owns(IpAddr::V4(src))
        || iface.is_subnet_broadcast(src)
    {
        return drop(Reason::BadSource);
    }
    if let Err(reason) = may_answer(eth_src, iface, limit, now) {
        return drop(reason);
    }
    let ip_len = usize::from(ip.total_len());
    back_to_sender(buf, eth_src, iface);
    let mut ip = ipv4::Packet::new_unchecked(&mut buf[l2..l2 + ip_len]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(REPLY_HOP_LIMIT);
    ip.fill_checksum();
    let mut icmp = icmpv4::Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(icmpv4::msg_type::ECHO_REPLY);
    icmp.set_code(0);
    icmp.fill_checksum();
    let len = pad(buf, l2 + ip_len);
    Handled { message: Message::EchoRequest, verdict: Verdict::Reply { len, learn: None } }
}

/// Handles the ICMPv6 frame at `buf[..len]`, received on `iface`: Neighbor
/// Solicitations and Advertisements go to [`nd::handle`]; an echo request
/// to one of our addresses (global or link-local) becomes the echo reply
/// in place, as for IPv4.
pub fn handle_v6(buf: &mut [u8], len: usize, iface: &Interface, limit: &mut TokenBucket, now: Instant) -> Handled {
    let len = len.min(buf.len());
    let (l2, eth_src) = match l2_of(&buf[..len], ethertype::IPV6) {
        Ok(x) => x,
        Err(h) => return h,
    };
    let other = |reason| Handled::drop(Message::Other, reason);
    let Ok(ip) = ipv6::Packet::new_checked(&buf[l2..len]) else {
        return other(Reason::Malformed);
    };
    if ip.next_header() != protocol::ICMPV6 {
        return other(Reason::Unsupported);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let Ok(icmp) = icmpv6::Packet::new_checked(ip.payload()) else {
        return other(Reason::Malformed);
    };
    match icmp.msg_type() {
        icmpv6::msg_type::NEIGHBOR_SOLICIT | icmpv6::msg_type::NEIGHBOR_ADVERT => return nd::handle(buf, len, iface),
        icmpv6::msg_type::ECHO_REQUEST => {}
        t => return other(v6_reason(t)),
    }
    let drop = |reason| Handled::drop(Message::EchoRequest, reason);
    if !icmp.verify_checksum(&src, &dst) {
        return drop(Reason::Malformed);
    }
    if !iface.owns(IpAddr::V6(dst)) {
        return drop(Reason::NotOurAddress);
    }
    if src.is_multicast() || src.is_unspecified() || iface.owns(IpAddr::V6(src)) {
        return drop(Reason::BadSource);
    }
    if let Err(reason) = may_answer(eth_src, iface, limit, now) {
        return drop(reason);
    }
    let ip_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    back_to_sender(buf, eth_src, iface);
    let mut ip = ipv6::Packet::new_unchecked(&mut buf[l2..l2 + ip_len]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    let mut icmp = icmpv6::Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(icmpv6::msg_type::ECHO_REPLY);
    icmp.set_code(0);
    icmp.fill_checksum(&dst, &src);
    let len = pad(buf, l2 + ip_len);
    Handled { message: Message::EchoRequest, verdict: Verdict::Reply { len, learn: None } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slowpath::test_frames::{icmpv6_checksum_ok, ipv4_of, ipv6_of, sums_to_ones, Echo};
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const GW: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
    const DATA: &[u8] = b"abcdefghijklmnopqrstuvwabcdefghi";

    fn ours(vlan: Option<u16>) -> Interface {
        let mut i = Interface::new("access", 0, vlan, OURS);
        i.ipv4 = vec!["198.18.0.1/24".parse().unwrap()];
        i.ipv6 = vec!["2001:db8::1/64".parse().unwrap()];
        i
    }

    fn bucket() -> TokenBucket {
        TokenBucket::new(1000, 100)
    }

    fn ping4(vlan: Option<u16>, src: &str, dst: &str) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        let e =
            Echo::<Ipv4Addr> { src_mac: GW, dst_mac: OURS, vlan, src: src.parse().unwrap(), dst: dst.parse().unwrap() };
        let n = e.emit(&mut buf, DATA);
        (buf, n)
    }

    fn ping6(vlan: Option<u16>, src: &str, dst: Ipv6Addr) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        let e = Echo::<Ipv6Addr> { src_mac: GW, dst_mac: OURS, vlan, src: src.parse().unwrap(), dst };
        let n = e.emit(&mut buf, DATA);
        (buf, n)
    }

    #[test]
    fn echo_v4_answered_with_checksums_verified_from_scratch() {
        for vlan in [None, Some(100)] {
            let (mut buf, n) = ping4(vlan, "198.19.5.5", "198.18.0.1");
            // Ethernet padding after the IP packet is trimmed from the reply.
            let h = handle_v4(&mut buf, n + 6, &ours(vlan), &mut bucket(), Instant::now());
            assert_eq!(h, Handled { message: Message::EchoRequest, verdict: Verdict::Reply { len: n, learn: None } });
            let (eth, ip, header, icmp) = ipv4_of(&buf[..n]);
            assert_eq!((eth.dst_addr, eth.src_addr, eth.vlan_id), (GW, OURS, vlan));
            assert_eq!(
                (ip.src_addr, ip.dst_addr, ip.ttl),
                ("198.18.0.1".parse().unwrap(), "198.19.5.5".parse().unwrap(), 64)
            );
            assert!(sums_to_ones(&header), "IPv4 header checksum");
            assert!(sums_to_ones(&icmp), "ICMP checksum");
            assert_eq!(&icmp[..2], &[0, 0], "echo reply, code 0");
            assert_eq!(&icmp[4..8], &[0x1f, 0x2e, 0, 3], "identifier and sequence kept");
            assert_eq!(&icmp[8..], DATA);
        }
    }

    #[test]
    fn echo_v6_to_global_and_link_local_answered() {
        let us = ours(Some(7));
        for dst in ["2001:db8::1".parse().unwrap(), us.link_local()] {
            let (mut buf, n) = ping6(Some(7), "2001:db8:5::5", dst);
            let h = handle_v6(&mut buf, n, &us, &mut bucket(), Instant::now());
            assert_eq!(h.verdict, Verdict::Reply { len: n, learn: None });
            let (eth, ip, icmp) = ipv6_of(&buf[..n]);
            assert_eq!((eth.dst_addr, eth.src_addr, eth.vlan_id), (GW, OURS, Some(7)));
            assert_eq!((ip.src_addr, ip.dst_addr, ip.hop_limit), (dst, "2001:db8:5::5".parse().unwrap(), 64));
            assert!(icmpv6_checksum_ok(ip.src_addr, ip.dst_addr, &icmp));
            assert_eq!(&icmp[..2], &[129, 0]);
            assert_eq!(&icmp[4..8], &[0x0a, 0x0b, 0, 1]);
            assert_eq!(&icmp[8..], DATA);
        }
    }

    #[test]
    fn not_ours_and_bad_sources_dropped() {
        let cases4 = [
            ("198.19.5.5", "198.18.0.2", Reason::NotOurAddress),
            ("198.19.5.5", "198.18.0.255", Reason::NotOurAddress),
            ("0.0.0.0", "198.18.0.1", Reason::BadSource),
            ("224.0.0.1", "198.18.0.1", Reason::BadSource),
            ("198.18.0.1", "198.18.0.1", Reason::BadSource),
            ("198.18.0.255", "198.18.0.1", Reason::BadSource),
        ];
        for (src, dst, reason) in cases4 {
            let (mut buf, n) = ping4(None, src, dst);
            let h = handle_v4(&mut buf, n, &ours(None), &mut bucket(), Instant::now());
            assert_eq!(h, Handled::drop(Message::EchoRequest, reason), "{src} -> {dst}");
        }
        for (src, dst, reason) in [
            ("2001:db8::5", "ff02::1", Reason::NotOurAddress),
            ("2001:db8::5", "2001:db8::2", Reason::NotOurAddress),
            ("::", "2001:db8::1", Reason::BadSource),
            ("ff02::1", "2001:db8::1", Reason::BadSource),
        ] {
            let (mut buf, n) = ping6(None, src, dst.parse().unwrap());
            let h = handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now());
            assert_eq!(h, Handled::drop(Message::EchoRequest, reason), "{src} -> {dst}");
        }
    }

    #[test]
    fn other_icmp_counted_by_kind() {
        for (t, reason) in [
            (0, Reason::OtherIcmp),
            (3, Reason::IcmpError),
            (11, Reason::IcmpError),
            (5, Reason::Redirect),
            (9, Reason::RouterDiscovery),
            (13, Reason::OtherIcmp),
        ] {
            let (mut buf, n) = ping4(None, "198.19.5.5", "198.18.0.1");
            let icmp = &mut buf[34..n];
            let c = crate::wire::checksum::update16(u16::from_be_bytes([icmp[2], icmp[3]]), 0x0800, u16::from(t) << 8);
            icmp[0] = t;
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let h = handle_v4(&mut buf, n, &ours(None), &mut bucket(), Instant::now());
            assert_eq!(h, Handled::drop(Message::Other, reason), "type {t}");
        }
        for (t, reason) in [
            (1, Reason::IcmpError),
            (2, Reason::IcmpError),
            (129, Reason::OtherIcmp),
            (133, Reason::RouterDiscovery),
            (134, Reason::RouterDiscovery),
            (137, Reason::Redirect),
            (143, Reason::OtherIcmp),
        ] {
            // Router discovery and redirects carry options; keep them well formed.
            let data: &[u8] = match t {
                133 => &[],
                134 => &[0; 8],
                137 => &[0; 32],
                _ => DATA,
            };
            let mut buf = [0u8; 256];
            let e = Echo::<Ipv6Addr> {
                src_mac: GW,
                dst_mac: OURS,
                vlan: None,
                src: "2001:db8::5".parse().unwrap(),
                dst: "2001:db8::1".parse().unwrap(),
            };
            let n = e.emit(&mut buf, data);
            buf[54] = t;
            let h = handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now());
            assert_eq!(h, Handled::drop(Message::Other, reason), "type {t}");
        }
        // Neighbor Discovery goes to its handler.
        let mut buf = [0u8; 128];
        let n = nd::solicit(&mut buf, &Interface { mac: GW, ..ours(None) }, "2001:db8::1".parse().unwrap(), None);
        let h = handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now());
        assert_eq!(h, Handled::drop(Message::NeighborSolicit, Reason::AddressConflict));
    }

    #[test]
    fn corrupt_and_unsupported_dropped() {
        let (mut buf, n) = ping4(None, "198.19.5.5", "198.18.0.1");
        buf[40] ^= 0xff;
        assert_eq!(
            handle_v4(&mut buf, n, &ours(None), &mut bucket(), Instant::now()).verdict,
            Verdict::Drop(Reason::Malformed)
        );
        let (mut buf, n) = ping4(None, "198.19.5.5", "198.18.0.1");
        buf[24] ^= 0xff; // IPv4 header checksum
        assert_eq!(
            handle_v4(&mut buf, n, &ours(None), &mut bucket(), Instant::now()).verdict,
            Verdict::Drop(Reason::Malformed)
        );
        let (mut buf, n) = ping6(None, "2001:db8::5", "2001:db8::1".parse().unwrap());
        buf[70] ^= 0xff;
        assert_eq!(
            handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now()).verdict,
            Verdict::Drop(Reason::Malformed)
        );
        let (mut buf, n) = ping6(None, "2001:db8::5", "2001:db8::1".parse().unwrap());
        buf[20] = 0; // hop-by-hop extension header
        assert_eq!(
            handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now()).verdict,
            Verdict::Drop(Reason::Unsupported)
        );
        let (mut buf, n) = ping4(None, "198.19.5.5", "198.18.0.1");
        assert_eq!(
            handle_v6(&mut buf, n, &ours(None), &mut bucket(), Instant::now()).verdict,
            Verdict::Drop(Reason::Unsupported)
        );
    }

    #[test]
    fn rate_limited_beyond_burst_and_refilled() {
        let t0 = Instant::now();
        let mut limit = TokenBucket::new(1000, 100);
        let mut replies = 0;
        let mut limited = 0;
        for _ in 0..150 {
            let (mut buf, n) = ping4(None, "198.19.5.5", "198.18.0.1");
            match handle_v4(&mut buf, n, &ours(None), &mut limit, t0).verdict {
                Verdict::Reply { .. } => replies += 1,
                Verdict::Drop(Reason::RateLimited) => limited += 1,
                v => panic!("{v:?}"),
            }
        }
        assert_eq!((replies, limited), (100, 50));
        // IPv6 shares the interface's bucket; 10 ms later there are 10 tokens.
        let later = t0 + std::time::Duration::from_millis(10);
        let ok = (0..20)
            .filter(|_| {
                let (mut buf, n) = ping6(None, "2001:db8::5", "2001:db8::1".parse().unwrap());
                matches!(handle_v6(&mut buf, n, &ours(None), &mut limit, later).verdict, Verdict::Reply { .. })
            })
            .count();
        assert_eq!(ok, 10);
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..160), len in 0usize..200) {
            let mut buf = data.clone();
            let _ = handle_v4(&mut buf, len, &ours(None), &mut bucket(), Instant::now());
            let mut buf = data;
            let _ = handle_v6(&mut buf, len, &ours(None), &mut bucket(), Instant::now());
        }

        #[test]
        fn mutated_pings_never_panic(v6 in any::<bool>(), at in 0usize..100, byte in any::<u8>(), cut in 0usize..120) {
            let (mut buf, n) = if v6 {
                ping6(None, "2001:db8::5", "2001:db8::1".parse().unwrap())
            } else {
                ping4(None, "198.19.5.5", "198.18.0.1")
            };
            buf[at % n] = byte;
            let len = cut.min(n);
            let h = if v6 {
                handle_v6(&mut buf, len, &ours(None), &mut bucket(), Instant::now())
            } else {
                handle_v4(&mut buf, len, &ours(None), &mut bucket(), Instant::now())
            };
            if let Verdict::Reply { len, .. } = h.verdict {
                prop_assert!(len <= buf.len());
                if v6 && h.message == Message::EchoRequest {
                    let (_, ip, icmp) = ipv6_of(&buf[..len]);
                    prop_assert!(icmpv6_checksum_ok(ip.src_addr, ip.dst_addr, &icmp));
                } else if !v6 {
                    let (_, _, header, icmp) = ipv4_of(&buf[..len]);
                    prop_assert!(sums_to_ones(&header) && sums_to_ones(&icmp));
                }
            }
        }
    }
}
