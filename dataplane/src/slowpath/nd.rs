//! Neighbor Discovery (RFC 4861 §7): answering solicitations for our IPv6
//! addresses (global and link-local), learning neighbors from
//! solicitations and advertisements, and the solicitations and
//! unsolicited advertisements mediafwd sends.

use core::net::{IpAddr, Ipv6Addr};

use super::interface::Interface;
use super::verdict::{pad, Handled, Learn, Message, Reason, Verdict};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::icmpv6::{self, msg_type, multicast_mac, solicited_node_multicast, NdRepr};
use crate::wire::{ipv6, protocol};

/// The all-nodes multicast group (RFC 4291 §2.7.1), where unsolicited
/// advertisements and answers to duplicate address detection go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Hop limit of every ND message; a received one with less was forwarded
/// by a router and is not from the link (RFC 4861 §7.1).
const ND_HOP_LIMIT: u8 = 255;

/// Bytes a frame built here may need: a tagged Ethernet header, IPv6 and an
/// NS or NA with a link-layer address option.
pub const FRAME_LEN: usize = ethernet::VLAN_HEADER_LEN + ipv6::HEADER_LEN + 32;

/// The fields of a received NS or NA the handler works with.
struct Received {
    l2: usize,
    eth_src: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nd: NdRepr,
}

/// Parses and validates (RFC 4861 §7.1.1, §7.1.2) the NS or NA at `frame`.
fn parse(frame: &[u8]) -> Result<(Message, Received), Handled> {
    let other = |reason| Handled::drop(Message::Other, reason);
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| other(Reason::Malformed))?;
    if eth.ethertype() != ethertype::IPV6 {
        return Err(other(Reason::Unsupported));
    }
    let l2 = eth.header_len();
    let ip = ipv6::Packet::new_checked(eth.payload()).map_err(|_| other(Reason::Malformed))?;
    if ip.next_header() != protocol::ICMPV6 {
        return Err(other(Reason::Unsupported));
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = icmpv6::Packet::new_checked(ip.payload()).map_err(|_| other(Reason::Malformed))?;
    let message = match icmp.msg_type() {
        msg_type::NEIGHBOR_SOLICIT => Message::NeighborSolicit,
        msg_type::NEIGHBOR_ADVERT => Message::NeighborAdvert,
        _ => return Err(other(Reason::Unsupported)),
    };
    let drop = |reason| Handled::drop(message, reason);
    if !icmp.verify_checksum(&src, &dst) || !eth.src_addr().is_unicast() {
        return Err(drop(Reason::Malformed));
    }
    if ip.hop_limit() != ND_HOP_LIMIT {
        return Err(drop(Reason::BadNd));
    }
    let nd = NdRepr::parse(&icmp).map_err(|_| drop(Reason::BadNd))?;
    Ok((message, Received { l2, eth_src: eth.src_addr(), src, dst, nd }))
}

fn is_solicited_node(a: Ipv6Addr) -> bool {
    let s = a.segments();
    s[..6] == [0xff02, 0, 0, 0, 0, 1] && s[6] & 0xff00 == 0xff00
}

/// Handles the NS or NA at `buf[..len]`, received on `iface`.
///
/// A solicitation for one of our addresses (global or link-local) is
/// turned into the advertisement in place: solicited and override, with
/// our link-layer address, back to the solicitor (RFC 4861 §7.2.4). A
/// duplicate address detection probe (from `::`) is answered to all nodes
/// and its sender is not learned. The solicitor's source link-layer
/// address is learned; an advertisement's target is learned if known.
/// The reply may be 8 bytes longer than the solicitation: `buf` beyond
/// `len` is room for it.
pub fn handle(buf: &mut [u8], len: usize, iface: &Interface) -> Handled {
    let len = len.min(buf.len());
    let (message, rx) = match parse(&buf[..len]) {
        Ok(p) => p,
        Err(h) => return h,
    };
    if rx.eth_src == iface.mac {
        return Handled::drop(message, Reason::Looped);
    }
    match rx.nd {
        NdRepr::Solicit { target, source_mac } => answer(buf, iface, &rx, target, source_mac),
        NdRepr::Advert { solicited_flag, target, target_mac, .. } => {
            Handled { message, verdict: advertised(iface, &rx, solicited_flag, target, target_mac) }
        }
    }
}

fn answer(buf: &mut [u8], iface: &Interface, rx: &Received, target: Ipv6Addr, source_mac: Option<MacAddr>) -> Handled {
    let drop = |reason| Handled::drop(Message::NeighborSolicit, reason);
    if target.is_multicast() {
        return drop(Reason::BadNd);
    }
    let dad = rx.src.is_unspecified();
    if dad && (!is_solicited_node(rx.dst) || source_mac.is_some()) {
        return drop(Reason::BadNd);
    }
    if !iface.owns(IpAddr::V6(target)) {
        return drop(Reason::NotOurAddress);
    }
    if iface.owns(IpAddr::V6(rx.src)) {
        return drop(Reason::AddressConflict);
    }
    let learn = match source_mac {
        Some(mac) if !dad && mac.is_unicast() && iface.on_link(IpAddr::V6(rx.src)) => {
            Some(Learn { ip: IpAddr::V6(rx.src), mac })
        }
        _ => None,
    };
    let (dst, dst_mac) =
        if dad { (ALL_NODES, multicast_mac(ALL_NODES)) } else { (rx.src, source_mac.unwrap_or(rx.eth_src)) };
    let advert = NdRepr::Advert {
        router_flag: false,
        solicited_flag: !dad,
        override_flag: true,
        target,
        target_mac: Some(iface.mac),
    };
    let total = rx.l2 + ipv6::HEADER_LEN + advert.buffer_len();
    if buf.len() < total {
        return drop(Reason::NoRoom);
    }
    let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
    eth.set_dst_addr(dst_mac);
    eth.set_src_addr(iface.mac);
    emit_l3(&mut buf[rx.l2..total], target, dst, &advert);
    Handled { message: Message::NeighborSolicit, verdict: Verdict::Reply { len: total, learn } }
}

fn advertised(
    iface: &Interface,
    rx: &Received,
    solicited_flag: bool,
    target: Ipv6Addr,
    target_mac: Option<MacAddr>,
) -> Verdict {
    if target.is_multicast() || (rx.dst.is_multicast() && solicited_flag) {
        return Verdict::Drop(Reason::BadNd);
    }
    if iface.owns(IpAddr::V6(target)) {
        return Verdict::Drop(Reason::AddressConflict);
    }
    if !iface.on_link(IpAddr::V6(target)) {
        return Verdict::Drop(Reason::NotOurAddress);
    }
    // Without the option (allowed in answer to a unicast NS), the frame's
    // source is the advertising neighbor.
    let mac = target_mac.unwrap_or(rx.eth_src);
    Verdict::Learn(Learn { ip: IpAddr::V6(target), mac })
}

/// Writes the IPv6 header and `nd` into `l3` (exactly their length), with
/// the ICMPv6 checksum.
fn emit_l3(l3: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, nd: &NdRepr) {
    let len = nd.buffer_len();
    ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol::ICMPV6,
        payload_len: len,
        hop_limit: ND_HOP_LIMIT,
    }
    .emit(l3);
    let icmp = &mut l3[ipv6::HEADER_LEN..ipv6::HEADER_LEN + len];
    nd.emit(icmp);
    icmpv6::Packet::new_unchecked(icmp).fill_checksum(&src, &dst);
}

fn emit(buf: &mut [u8], iface: &Interface, dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, nd: &NdRepr) -> usize {
    let buf = &mut buf[..FRAME_LEN];
    let l2 = ethernet::emit_header(buf, dst_mac, iface.mac, iface.vlan, ethertype::IPV6);
    let end = l2 + ipv6::HEADER_LEN + nd.buffer_len();
    emit_l3(&mut buf[l2..end], src, dst, nd);
    pad(buf, end)
}

/// Writes a Neighbor Solicitation for `target` from `iface` into `buf`:
/// to the target's solicited-node group to resolve it, or unicast to
/// `unicast` to confirm a known neighbor (RFC 4861 §7.2.2, §7.3.3); with
/// our link-layer address. Its length.
///
/// # Panics
/// If `buf` is shorter than [`FRAME_LEN`].
pub fn solicit(buf: &mut [u8], iface: &Interface, target: Ipv6Addr, unicast: Option<MacAddr>) -> usize {
    let (dst, dst_mac) = match unicast {
        Some(mac) => (target, mac),
        None => {
            let group = solicited_node_multicast(target);
            (group, multicast_mac(group))
        }
    };
    let nd = NdRepr::Solicit { target, source_mac: Some(iface.mac) };
    emit(buf, iface, dst_mac, iface.source_v6_for(target), dst, &nd)
}

/// Writes an unsolicited Neighbor Advertisement of `addr` from `iface`
/// into `buf`: to all nodes, override set, so neighbors update their
/// caches (RFC 4861 §7.2.6). Its length.
///
/// # Panics
/// If `buf` is shorter than [`FRAME_LEN`].
pub fn unsolicited_advert(buf: &mut [u8], iface: &Interface, addr: Ipv6Addr) -> usize {
    let nd = NdRepr::Advert {
        router_flag: false,
        solicited_flag: false,
        override_flag: true,
        target: addr,
        target_mac: Some(iface.mac),
    };
    emit(buf, iface, multicast_mac(ALL_NODES), addr, ALL_NODES, &nd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slowpath::test_frames::{icmpv6_checksum_ok, ipv6_of};
    use crate::wire::test_util::{hex, NA, NS};
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([0x3c, 0x22, 0xfb, 0x11, 0x22, 0x33]);
    const PEER: MacAddr = MacAddr([0x00, 0x16, 0x3e, 0x1a, 0x2b, 0x3c]);

    fn ours(vlan: Option<u16>) -> Interface {
        let mut i = Interface::new("access", 0, vlan, OURS);
        i.ipv6 = vec!["2001:db8::1/64".parse().unwrap()];
        i
    }

    fn peer(vlan: Option<u16>, addr: &str) -> Interface {
        let mut i = Interface::new("peer", 0, vlan, PEER);
        i.ipv6 = vec![format!("{addr}/64").parse().unwrap()];
        i
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// (Ethernet, IPv6 header, parsed ND message) of a frame, with its
    /// checksum verified from scratch.
    fn parse_nd(frame: &[u8]) -> (ethernet::Repr, ipv6::Repr, NdRepr) {
        let (eth, ip, icmp) = ipv6_of(frame);
        assert!(icmpv6_checksum_ok(ip.src_addr, ip.dst_addr, &icmp), "ICMPv6 checksum");
        assert_eq!(ip.hop_limit, 255);
        let nd = NdRepr::parse(&icmpv6::Packet::new_checked(&icmp[..]).unwrap()).unwrap();
        (eth, ip, nd)
    }

    #[test]
    fn capture_ns_answered_with_capture_na() {
        // The NS and NA of wire::test_util are a question and its answer.
        let mut buf = hex(NS);
        let n = buf.len();
        let h = handle(&mut buf, n, &ours(None));
        let learn = Some(Learn { ip: "fe80::216:3eff:fe1a:2b3c".parse().unwrap(), mac: PEER });
        assert_eq!(h, Handled { message: Message::NeighborSolicit, verdict: Verdict::Reply { len: n, learn } });
        assert_eq!(buf, hex(NA));
    }

    #[test]
    fn ns_for_global_and_link_local_answered_with_vlan() {
        for vlan in [None, Some(100)] {
            let us = ours(vlan);
            for target in [v6("2001:db8::1"), us.link_local()] {
                let mut buf = [0u8; 128];
                let n = solicit(&mut buf, &peer(vlan, "2001:db8::2"), target, None);
                let h = handle(&mut buf, n, &us);
                let Verdict::Reply { len, learn } = h.verdict else { panic!("{h:?}") };
                let src =
                    if target == us.link_local() { peer(None, "2001:db8::2").link_local() } else { v6("2001:db8::2") };
                assert_eq!(learn, Some(Learn { ip: IpAddr::V6(src), mac: PEER }));
                let (eth, ip, nd) = parse_nd(&buf[..len]);
                assert_eq!((eth.dst_addr, eth.src_addr, eth.vlan_id), (PEER, OURS, vlan));
                assert_eq!((ip.src_addr, ip.dst_addr), (target, src));
                let expect = NdRepr::Advert {
                    router_flag: false,
                    solicited_flag: true,
                    override_flag: true,
                    target,
                    target_mac: Some(OURS),
                };
                assert_eq!(nd, expect);
            }
        }
    }

    #[test]
    fn dad_probe_answered_to_all_nodes_not_learned() {
        let mut buf = [0u8; 128];
        let target = v6("2001:db8::1");
        let mut p = peer(None, "2001:db8::2");
        p.ipv6.clear();
        let n = solicit(&mut buf, &p, target, None);
        // Rewrite as a DAD probe: from ::, without the source link-layer option.
        rewrite_ns(&mut buf, n, Ipv6Addr::UNSPECIFIED, None);
        let n = n - 8;
        let h = handle(&mut buf, n, &ours(None));
        let Verdict::Reply { len, learn: None } = h.verdict else { panic!("{h:?}") };
        let (eth, ip, nd) = parse_nd(&buf[..len]);
        assert_eq!(eth.dst_addr, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!((ip.src_addr, ip.dst_addr), (target, ALL_NODES));
        let NdRepr::Advert { solicited_flag: false, override_flag: true, target_mac: Some(OURS), .. } = nd else {
            panic!("{nd:?}")
        };
        // A DAD probe with a source link-layer option is invalid.
        let n = solicit(&mut buf, &p, target, None);
        rewrite_ns(&mut buf, n, Ipv6Addr::UNSPECIFIED, Some(PEER));
        assert_eq!(handle(&mut buf, n, &ours(None)).verdict, Verdict::Drop(Reason::BadNd));
    }

    /// Sets the NS source address and option, fixing lengths and checksum.
    fn rewrite_ns(buf: &mut [u8], n: usize, src: Ipv6Addr, sll: Option<MacAddr>) {
        let ip = ipv6::Packet::new_checked(&buf[14..n]).unwrap();
        let (dst, target) = (ip.dst_addr(), icmpv6::Packet::new_checked(ip.payload()).unwrap().nd_target());
        let nd = NdRepr::Solicit { target, source_mac: sll };
        emit_l3(&mut buf[14..14 + 40 + nd.buffer_len()], src, dst, &nd);
    }

    #[test]
    fn unicast_ns_without_option_goes_to_frame_source_and_needs_room() {
        let mut buf = [0u8; 128];
        let n = solicit(&mut buf, &peer(None, "2001:db8::2"), v6("2001:db8::1"), Some(OURS));
        rewrite_ns(&mut buf, n, v6("2001:db8::2"), None);
        let n = n - 8;
        let frame = buf;
        let h = handle(&mut buf, n, &ours(None));
        assert_eq!(h.verdict, Verdict::Reply { len: n + 8, learn: None });
        let (eth, ip, _) = parse_nd(&buf[..n + 8]);
        assert_eq!((eth.dst_addr, ip.dst_addr), (PEER, v6("2001:db8::2")));
        let mut exact = frame[..n].to_vec();
        assert_eq!(handle(&mut exact, n, &ours(None)).verdict, Verdict::Drop(Reason::NoRoom));
    }

    #[test]
    fn invalid_solicitations_dropped() {
        let fresh = || {
            let mut buf = [0u8; 128];
            let n = solicit(&mut buf, &peer(None, "2001:db8::2"), v6("2001:db8::1"), None);
            (buf, n)
        };
        let (mut b, n) = fresh();
        b[14 + 7] = 64; // hop limit: forwarded by a router
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::BadNd));
        let (mut b, n) = fresh();
        b[14 + 40 + 2] ^= 1; // checksum
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::Malformed));
        let (mut b, n) = fresh();
        b[14 + 40 + 1] = 1; // code
        let c = crate::wire::checksum::update16(u16::from_be_bytes([b[56], b[57]]), 0x8700, 0x8701);
        b[56..58].copy_from_slice(&c.to_be_bytes());
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::BadNd));
        let mut b = [0u8; 128];
        let n = solicit(&mut b, &peer(None, "2001:db8::2"), v6("2001:db8::3"), None);
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::NotOurAddress));
        let n = solicit(&mut b, &peer(None, "2001:db8::1"), v6("2001:db8::1"), None);
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::AddressConflict));
        let n = solicit(&mut b, &ours(None), v6("2001:db8::1"), None);
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::Looped));
        let n = solicit(&mut b, &peer(None, "2001:db8::2"), v6("ff02::1"), None);
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::BadNd));
    }

    #[test]
    fn advertisements_learned_or_flagged() {
        // The capture NA, seen by a neighbor of 2001:db8::1.
        let mut buf = hex(NA);
        let n = buf.len();
        let h = handle(&mut buf, n, &peer(None, "2001:db8::2"));
        let learn = Learn { ip: "2001:db8::1".parse().unwrap(), mac: OURS };
        assert_eq!(h, Handled { message: Message::NeighborAdvert, verdict: Verdict::Learn(learn) });
        // Someone else advertising our address.
        let mut b = [0u8; 128];
        let n = unsolicited_advert(&mut b, &peer(None, "2001:db8::1"), v6("2001:db8::1"));
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::AddressConflict));
        // An unsolicited NA from a neighbor updates it.
        let n = unsolicited_advert(&mut b, &peer(None, "2001:db8::2"), v6("2001:db8::2"));
        let learn = Learn { ip: "2001:db8::2".parse().unwrap(), mac: PEER };
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Learn(learn));
        // Off link: nothing to learn.
        let n = unsolicited_advert(&mut b, &peer(None, "2001:db8:9::2"), v6("2001:db8:9::2"));
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::NotOurAddress));
        // A solicited advertisement to a multicast group is invalid.
        let n = unsolicited_advert(&mut b, &peer(None, "2001:db8::2"), v6("2001:db8::2"));
        icmpv6::Packet::new_unchecked(&mut b[54..n]).set_solicited_flag(true);
        icmpv6::Packet::new_unchecked(&mut b[54..n]).fill_checksum(&v6("2001:db8::2"), &ALL_NODES);
        assert_eq!(handle(&mut b, n, &ours(None)).verdict, Verdict::Drop(Reason::BadNd));
    }

    #[test]
    fn builders() {
        let us = ours(Some(42));
        let mut b = [0xEEu8; 128];
        let n = solicit(&mut b, &us, v6("2001:db8::99"), None);
        assert_eq!(n, 18 + 40 + 32);
        let (eth, ip, nd) = parse_nd(&b[..n]);
        assert_eq!((eth.dst_addr, eth.vlan_id), (MacAddr([0x33, 0x33, 0xff, 0, 0, 0x99]), Some(42)));
        assert_eq!((ip.src_addr, ip.dst_addr), (v6("2001:db8::1"), v6("ff02::1:ff00:99")));
        assert_eq!(nd, NdRepr::Solicit { target: v6("2001:db8::99"), source_mac: Some(OURS) });
        let n = solicit(&mut b, &us, v6("fe80::1"), Some(PEER));
        let (eth, ip, _) = parse_nd(&b[..n]);
        assert_eq!((eth.dst_addr, ip.src_addr, ip.dst_addr), (PEER, us.link_local(), v6("fe80::1")));
        let n = unsolicited_advert(&mut b, &us, us.link_local());
        let (eth, ip, nd) = parse_nd(&b[..n]);
        assert_eq!(
            (eth.dst_addr, ip.src_addr, ip.dst_addr),
            (MacAddr([0x33, 0x33, 0, 0, 0, 1]), us.link_local(), ALL_NODES)
        );
        let expect = NdRepr::Advert {
            router_flag: false,
            solicited_flag: false,
            override_flag: true,
            target: us.link_local(),
            target_mac: Some(OURS),
        };
        assert_eq!(nd, expect);
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..140), len in 0usize..160) {
            let mut buf = data.clone();
            let _ = handle(&mut buf, len, &ours(None));
        }

        #[test]
        fn mutated_nd_never_panics(
            advert in any::<bool>(), at in 0usize..100, byte in any::<u8>(), cut in 0usize..100, room in 0usize..16,
        ) {
            let mut buf = [0u8; 128];
            let n = if advert {
                unsolicited_advert(&mut buf, &peer(None, "2001:db8::2"), v6("2001:db8::2"))
            } else {
                solicit(&mut buf, &peer(None, "2001:db8::2"), v6("2001:db8::1"), None)
            };
            buf[at % n] = byte;
            let len = cut.min(n);
            let mut b = buf[..len + room].to_vec();
            if let Verdict::Reply { len, .. } = handle(&mut b, len, &ours(None)).verdict {
                prop_assert!(len <= b.len());
                let (_, ip, nd) = parse_nd(&b[..len]);
                let advertises_us = matches!(nd, NdRepr::Advert { target_mac: Some(OURS), .. });
                prop_assert!(advertises_us);
                prop_assert!(ours(None).owns(IpAddr::V6(ip.src_addr)));
            }
        }
    }
}
