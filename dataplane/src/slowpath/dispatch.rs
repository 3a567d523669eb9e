//! From a received frame to its handler: which interface it belongs to
//! (port and VLAN), then ARP, ICMP or ICMPv6, or ICE for UDP to a relay port.

use std::time::Instant;

use super::ice::{udp_of, IceLegs};
use super::interface::Interface;
use super::ratelimit::ReplyLimits;
use super::verdict::{Handled, Message, Reason, Verdict};
use super::{arp, icmp};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::WireError;

/// The index of the interface a frame with tag `vlan` to `dst` belongs to.
///
/// The port comes from the mbuf when the PMD recorded it. When it did not
/// (`port` is `None` or names a port without interfaces), the frame is
/// placed by its VLAN, and for unicast by our MAC; a group-addressed frame
/// that could belong to several ports is refused as
/// [`Reason::UnknownPort`].
pub fn find_interface(
    interfaces: &[Interface],
    port: Option<u16>,
    vlan: Option<u16>,
    dst: MacAddr,
) -> Result<usize, Reason> {
    if let Some(p) = port.filter(|&p| interfaces.iter().any(|i| i.port_id == p)) {
        return interfaces.iter().position(|i| i.port_id == p && i.vlan == vlan).ok_or(Reason::UnknownVlan);
    }
    let mut on_vlan = interfaces.iter().enumerate().filter(|(_, i)| i.vlan == vlan).peekable();
    if on_vlan.peek().is_none() {
        return Err(Reason::UnknownVlan);
    }
    let mut found = on_vlan.filter(|(_, i)| !dst.is_unicast() || i.mac == dst).map(|(idx, _)| idx);
    match (found.next(), found.next()) {
        (Some(idx), None) => Ok(idx),
        _ => Err(Reason::UnknownPort),
    }
}

/// Handles the frame at `buf[..len]` (`buf` beyond `len` is room for a
/// longer reply) that arrived on `port`, if known. Returns the index of
/// its interface, when found, and the handler's result. `limits` holds
/// each interface's reply budgets, by index: a request over them is
/// dropped as [`Reason::RateLimited`]; `ice` the ICE legs, which keep the
/// events they raise for [`IceLegs::drain_events`].
pub fn handle_frame(
    buf: &mut [u8],
    len: usize,
    port: Option<u16>,
    interfaces: &[Interface],
    limits: &mut [ReplyLimits],
    ice: &mut IceLegs,
    now: Instant,
) -> (Option<usize>, Handled) {
    let len = len.min(buf.len());
    let eth = match ethernet::Frame::new_checked(&buf[..len]) {
        Ok(f) => f,
        Err(WireError::Unsupported) => return (None, Handled::drop(Message::Other, Reason::Unsupported)),
        Err(_) => return (None, Handled::drop(Message::Other, Reason::Malformed)),
    };
    let idx = match find_interface(interfaces, port, eth.vlan_id(), eth.dst_addr()) {
        Ok(idx) => idx,
        Err(reason) => return (None, Handled::drop(Message::Other, reason)),
    };
    let iface = &interfaces[idx];
    let Some(limit) = limits.get_mut(idx) else {
        return (Some(idx), Handled::drop(Message::Other, Reason::RateLimited));
    };
    let mut handled = match eth.ethertype() {
        ethertype::ARP => arp::handle(buf, len, iface),
        ethertype::IPV4 | ethertype::IPV6 if udp_of(&buf[..len]).is_some() => ice.handle(buf, len, iface, now),
        ethertype::IPV4 => icmp::handle_v4(buf, len, iface, &mut limit.echo, now),
        ethertype::IPV6 => icmp::handle_v6(buf, len, iface, &mut limit.echo, now),
        _ => Handled::drop(Message::Other, Reason::Unsupported),
    };
    let neighbor_reply = matches!(handled.message, Message::ArpRequest | Message::NeighborSolicit);
    if neighbor_reply && matches!(handled.verdict, Verdict::Reply { .. }) && !limit.neighbor.try_take(now) {
        handled.verdict = Verdict::Drop(Reason::RateLimited);
    }
    (Some(idx), handled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slowpath::test_frames::Echo;
    use crate::slowpath::SlowPathConfig;
    use crate::slowpath::{arp as sarp, nd};
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const MAC0: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);
    const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

    /// Port 0: untagged and VLAN 100; port 1: VLAN 100.
    fn interfaces() -> Vec<Interface> {
        let mk = |name: &str, port, vlan, mac, v4: &str, v6: &str| {
            let mut i = Interface::new(name, port, vlan, mac);
            i.ipv4 = vec![v4.parse().unwrap()];
            i.ipv6 = vec![v6.parse().unwrap()];
            i
        };
        vec![
            mk("p0", 0, None, MAC0, "198.18.0.1/24", "2001:db8::1/64"),
            mk("p0.100", 0, Some(100), MAC0, "198.18.100.1/24", "2001:db8:100::1/64"),
            mk("p1.100", 1, Some(100), MAC1, "198.19.100.1/24", "2001:db8:200::1/64"),
        ]
    }

    fn limits() -> Vec<ReplyLimits> {
        (0..3).map(|_| SlowPathConfig::default().reply_limits()).collect()
    }

    fn peer(vlan: Option<u16>, v4: &str) -> Interface {
        let mut i = Interface::new("peer", 0, vlan, PEER);
        i.ipv4 = vec![v4.parse().unwrap()];
        i
    }

    #[test]
    fn interface_by_port_and_vlan() {
        let ifs = interfaces();
        assert_eq!(find_interface(&ifs, Some(0), None, MacAddr::BROADCAST), Ok(0));
        assert_eq!(find_interface(&ifs, Some(0), Some(100), MAC0), Ok(1));
        assert_eq!(find_interface(&ifs, Some(1), Some(100), MacAddr::BROADCAST), Ok(2));
        assert_eq!(find_interface(&ifs, Some(1), None, MAC1), Err(Reason::UnknownVlan));
        assert_eq!(find_interface(&ifs, Some(0), Some(200), MAC0), Err(Reason::UnknownVlan));
        // Without a port: by VLAN, then by MAC for unicast.
        for port in [None, Some(7), Some(u16::MAX)] {
            assert_eq!(find_interface(&ifs, port, None, MacAddr::BROADCAST), Ok(0));
            assert_eq!(find_interface(&ifs, port, Some(100), MAC1), Ok(2));
            assert_eq!(find_interface(&ifs, port, Some(100), MAC0), Ok(1));
            assert_eq!(find_interface(&ifs, port, Some(100), MacAddr::BROADCAST), Err(Reason::UnknownPort));
            assert_eq!(find_interface(&ifs, port, Some(100), PEER), Err(Reason::UnknownPort));
            assert_eq!(find_interface(&ifs, port, Some(300), MAC0), Err(Reason::UnknownVlan));
        }
    }

    #[test]
    fn frames_reach_their_handlers() {
        let ifs = interfaces();
        let now = Instant::now();
        let mut buf = [0u8; 256];
        // ARP on VLAN 100 of port 0.
        let n = sarp::request(&mut buf, &peer(Some(100), "198.18.100.2/24"), "198.18.100.1".parse().unwrap(), None)
            .unwrap();
        let (idx, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(idx, Some(1));
        assert!(matches!(h.verdict, Verdict::Reply { .. }) && h.message == Message::ArpRequest);
        // The same request on port 1's VLAN 100 asks for an address not ours there.
        let n = sarp::request(&mut buf, &peer(Some(100), "198.18.100.2/24"), "198.18.100.1".parse().unwrap(), None)
            .unwrap();
        let (idx, h) = handle_frame(&mut buf, n, Some(1), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!((idx, h.verdict), (Some(2), Verdict::Drop(Reason::NotOurAddress)));
        // On a VLAN no interface has.
        let n =
            sarp::request(&mut buf, &peer(Some(5), "198.18.100.2/24"), "198.18.100.1".parse().unwrap(), None).unwrap();
        let (idx, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!((idx, h.verdict), (None, Verdict::Drop(Reason::UnknownVlan)));
        // Ping v4 and v6, NS.
        let e4 = Echo::<Ipv4Addr> {
            src_mac: PEER,
            dst_mac: MAC1,
            vlan: Some(100),
            src: "198.19.100.9".parse().unwrap(),
            dst: "198.19.100.1".parse().unwrap(),
        };
        let n = e4.emit(&mut buf, b"ping");
        let (idx, h) = handle_frame(&mut buf, n, None, &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(idx, Some(2));
        assert_eq!(h.verdict, Verdict::Reply { len: 60, learn: None });
        let e6 = Echo::<Ipv6Addr> {
            src_mac: PEER,
            dst_mac: MAC0,
            vlan: None,
            src: "2001:db8::9".parse().unwrap(),
            dst: "2001:db8::1".parse().unwrap(),
        };
        let n = e6.emit(&mut buf, b"ping");
        let (_, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Reply { len: n, learn: None });
        let n = nd::solicit(&mut buf, &Interface::new("peer", 0, None, PEER), "2001:db8::1".parse().unwrap(), None);
        let (_, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.message, Message::NeighborSolicit);
        assert!(matches!(h.verdict, Verdict::Reply { .. }));
        // Other EtherTypes, stacked tags, runts.
        let n = ethernet::emit_header(&mut buf, MAC0, PEER, None, 0x88cc);
        let (_, h) = handle_frame(&mut buf, n + 46, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Drop(Reason::Unsupported));
        let n = ethernet::emit_header(&mut buf, MAC0, PEER, Some(100), ethertype::QINQ);
        let (_, h) = handle_frame(&mut buf, n + 46, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Drop(Reason::Unsupported));
        let (_, h) = handle_frame(&mut buf, 13, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Drop(Reason::Malformed));
        // A UDP packet (the workers' business) is not served here.
        let e4 = Echo::<Ipv4Addr> { vlan: None, dst_mac: MAC0, dst: "198.18.0.1".parse().unwrap(), ..e4 };
        let n = e4.emit(&mut buf, b"ping");
        buf[14 + 9] = crate::wire::protocol::UDP;
        crate::wire::ipv4::Packet::new_unchecked(&mut buf[14..n]).fill_checksum();
        let (_, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits(), &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Drop(Reason::Unsupported));
    }

    #[test]
    fn neighbor_replies_are_limited_per_interface() {
        let ifs = interfaces();
        let now = Instant::now();
        let mut limits = limits();
        let mut buf = [0u8; 256];
        let asker = peer(None, "198.18.0.2/24");
        let mut answered = 0;
        for _ in 0..1000 {
            let n = sarp::request(&mut buf, &asker, "198.18.0.1".parse().unwrap(), None).unwrap();
            let (_, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits, &mut IceLegs::default(), now);
            match h.verdict {
                Verdict::Reply { .. } => answered += 1,
                v => assert_eq!(v, Verdict::Drop(Reason::RateLimited)),
            }
        }
        assert_eq!(answered, 100, "the burst, then nothing within the same instant");
        // Solicitations share the budget; another interface has its own.
        let n = nd::solicit(&mut buf, &Interface::new("peer", 0, None, PEER), "2001:db8::1".parse().unwrap(), None);
        let (_, h) = handle_frame(&mut buf, n, Some(0), &ifs, &mut limits, &mut IceLegs::default(), now);
        assert_eq!(h.verdict, Verdict::Drop(Reason::RateLimited));
        let n = sarp::request(&mut buf, &peer(Some(100), "198.19.100.2/24"), "198.19.100.1".parse().unwrap(), None)
            .unwrap();
        let (idx, h) = handle_frame(&mut buf, n, Some(1), &ifs, &mut limits, &mut IceLegs::default(), now);
        assert_eq!(idx, Some(2));
        assert!(matches!(h.verdict, Verdict::Reply { .. }));
        // A millisecond later, one more.
        let n = sarp::request(&mut buf, &asker, "198.18.0.1".parse().unwrap(), None).unwrap();
        let later = now + std::time::Duration::from_millis(1);
        assert!(matches!(
            handle_frame(&mut buf, n, Some(0), &ifs, &mut limits, &mut IceLegs::default(), later).1.verdict,
            Verdict::Reply { .. }
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..220, port in any::<Option<u16>>(),
            ethertype in prop_oneof![Just(0x0806u16), Just(0x0800), Just(0x86dd), Just(0x8100), any::<u16>()],
        ) {
            let mut buf = data;
            if buf.len() >= 14 {
                buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
            }
            let _ = handle_frame(&mut buf, len, port.map(|p| p % 3), &interfaces(), &mut limits(), &mut IceLegs::default(), Instant::now());
            let _ = handle_frame(&mut buf, len, port, &interfaces(), &mut [], &mut IceLegs::default(), Instant::now());
        }
    }
}
