//! ARP (RFC 826): answering requests for our IPv4 addresses, learning
//! neighbors, and the requests mediafwd sends to resolve next hops and to
//! announce itself (RFC 5227 §3).

use core::net::{IpAddr, Ipv4Addr};

use super::interface::Interface;
use super::verdict::{pad, Handled, Learn, Message, Reason, Verdict};
use crate::wire::arp::{self, op};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::WireError;

/// Handles the ARP frame at `buf[..len]`, received on `iface`. A request
/// for one of our addresses is turned into the reply in place (the frame
/// keeps its VLAN tag); the sender is learned when it is on one of our
/// subnets: created when the packet targets us, else only updated (RFC
/// 826's merge rule), which is how gratuitous ARP moves a known neighbor.
pub fn handle(buf: &mut [u8], len: usize, iface: &Interface) -> Handled {
    let len = len.min(buf.len());
    let Ok(frame) = ethernet::Frame::new_checked(&buf[..len]) else {
        return Handled::drop(Message::Other, Reason::Malformed);
    };
    let l2 = frame.header_len();
    if frame.ethertype() != ethertype::ARP {
        return Handled::drop(Message::Other, Reason::Unsupported);
    }
    let req = match arp::Packet::new_checked(&buf[l2..len]).and_then(|p| arp::Repr::parse(&p)) {
        Ok(r) => r,
        Err(WireError::Unsupported) => return Handled::drop(Message::Other, Reason::Unsupported),
        Err(_) => return Handled::drop(Message::Other, Reason::Malformed),
    };
    let message = match req.operation {
        op::REQUEST => Message::ArpRequest,
        op::REPLY => Message::ArpReply,
        _ => return Handled::drop(Message::Other, Reason::Unsupported),
    };
    let drop = |reason| Handled::drop(message, reason);
    if req.sender_mac == iface.mac {
        return drop(Reason::Looped);
    }
    if !req.sender_mac.is_unicast() || req.sender_mac == MacAddr::default() {
        return drop(Reason::Malformed);
    }
    let sender = IpAddr::V4(req.sender_ip);
    if iface.owns(sender) {
        return drop(Reason::AddressConflict);
    }
    let for_us = iface.owns(IpAddr::V4(req.target_ip));
    // A sender of 0.0.0.0 is an RFC 5227 probe: answered, never learned.
    let learn =
        (!req.sender_ip.is_unspecified() && iface.on_link(sender)).then_some(Learn { ip: sender, mac: req.sender_mac });
    if message == Message::ArpRequest && for_us {
        let reply = arp::Repr {
            operation: op::REPLY,
            sender_mac: iface.mac,
            sender_ip: req.target_ip,
            target_mac: req.sender_mac,
            target_ip: req.sender_ip,
        };
        reply.emit(&mut buf[l2..]);
        let mut eth = ethernet::Frame::new_unchecked(&mut buf[..]);
        eth.set_dst_addr(req.sender_mac);
        eth.set_src_addr(iface.mac);
        let len = pad(buf, l2 + arp::LEN);
        return Handled { message, verdict: Verdict::Reply { len, learn } };
    }
    match learn {
        Some(l) => Handled { message, verdict: Verdict::Learn(l) },
        None => drop(Reason::NotOurAddress),
    }
}

/// Bytes a frame built here may need: a tagged Ethernet header and an ARP
/// packet, padded.
pub const FRAME_LEN: usize = 64;

/// Writes an ARP request for `target` from `iface` into `buf` (broadcast,
/// or unicast to `unicast` when refreshing a known neighbor); its length.
/// `None` when the interface has no IPv4 address to ask from.
///
/// # Panics
/// If `buf` is shorter than [`FRAME_LEN`].
pub fn request(buf: &mut [u8], iface: &Interface, target: Ipv4Addr, unicast: Option<MacAddr>) -> Option<usize> {
    let sender = iface.source_v4_for(target)?;
    Some(emit(buf, iface, unicast.unwrap_or(MacAddr::BROADCAST), sender, target))
}

/// Writes a gratuitous ARP announcing `addr` from `iface` into `buf`: a
/// broadcast request with sender and target address both `addr` (RFC 5227
/// §3), which updates the neighbors' caches; its length.
///
/// # Panics
/// If `buf` is shorter than [`FRAME_LEN`].
pub fn gratuitous(buf: &mut [u8], iface: &Interface, addr: Ipv4Addr) -> usize {
    emit(buf, iface, MacAddr::BROADCAST, addr, addr)
}

fn emit(buf: &mut [u8], iface: &Interface, dst: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> usize {
    let buf = &mut buf[..FRAME_LEN];
    let l2 = ethernet::emit_header(buf, dst, iface.mac, iface.vlan, ethertype::ARP);
    arp::Repr {
        operation: op::REQUEST,
        sender_mac: iface.mac,
        sender_ip: sender,
        target_mac: MacAddr::default(),
        target_ip: target,
    }
    .emit(&mut buf[l2..]);
    pad(buf, l2 + arp::LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const PEER: MacAddr = MacAddr([0x00, 0x16, 0x3e, 0x1a, 0x2b, 0x3c]);

    fn ours(vlan: Option<u16>) -> Interface {
        let mut i = Interface::new("access", 0, vlan, OURS);
        i.ipv4 = vec!["198.18.0.1/24".parse().unwrap()];
        i
    }

    /// The peer, as an interface, so the builders craft its frames.
    fn peer(vlan: Option<u16>, addr: &str) -> Interface {
        let mut i = Interface::new("peer", 0, vlan, PEER);
        i.ipv4 = vec![format!("{addr}/24").parse().unwrap()];
        i
    }

    fn parse(frame: &[u8]) -> (ethernet::Repr, arp::Repr) {
        let eth = ethernet::Frame::new_checked(frame).unwrap();
        let r = ethernet::Repr::parse(&eth).unwrap();
        let a = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap();
        (r, a)
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn request_for_us_is_answered_in_place_and_sender_learned() {
        for vlan in [None, Some(100)] {
            let mut buf = [0u8; 128];
            let n = request(&mut buf, &peer(vlan, "198.18.0.2"), v4("198.18.0.1"), None).unwrap();
            assert_eq!(n, 60);
            let h = handle(&mut buf, n, &ours(vlan));
            let learn = Some(Learn { ip: "198.18.0.2".parse().unwrap(), mac: PEER });
            assert_eq!(h, Handled { message: Message::ArpRequest, verdict: Verdict::Reply { len: 60, learn } });
            let (eth, a) = parse(&buf[..60]);
            assert_eq!(
                eth,
                ethernet::Repr { dst_addr: PEER, src_addr: OURS, vlan_id: vlan, ethertype: ethertype::ARP }
            );
            let expect = arp::Repr {
                operation: op::REPLY,
                sender_mac: OURS,
                sender_ip: v4("198.18.0.1"),
                target_mac: PEER,
                target_ip: v4("198.18.0.2"),
            };
            assert_eq!(a, expect);
            let l2 = eth.header_len();
            assert!(buf[l2 + arp::LEN..60].iter().all(|&b| b == 0), "padding zeroed");
        }
    }

    #[test]
    fn request_wire_bytes() {
        // Who has 198.18.0.1? Tell 198.18.0.2: RFC 826 field order, padded to 60 bytes.
        let mut buf = [0xEEu8; 128];
        let n = request(&mut buf, &peer(None, "198.18.0.2"), v4("198.18.0.1"), None).unwrap();
        let expect = crate::wire::test_util::hex(
            "ffffffffffff 00163e1a2b3c 0806 0001 0800 06 04 0001 00163e1a2b3c c6120002 000000000000 c6120001
             000000000000000000000000000000000000",
        );
        assert_eq!(&buf[..n], &expect[..]);
    }

    #[test]
    fn request_for_another_host_only_updates_known_sender() {
        let mut buf = [0u8; 128];
        let n = request(&mut buf, &peer(None, "198.18.0.2"), v4("198.18.0.3"), None).unwrap();
        let h = handle(&mut buf, n, &ours(None));
        let learn = Learn { ip: "198.18.0.2".parse().unwrap(), mac: PEER };
        assert_eq!(h.verdict, Verdict::Learn(learn));
        // From off our subnet there is nothing to learn.
        let n = request(&mut buf, &peer(None, "198.19.0.2"), v4("198.19.0.3"), None).unwrap();
        assert_eq!(handle(&mut buf, n, &ours(None)).verdict, Verdict::Drop(Reason::NotOurAddress));
    }

    #[test]
    fn reply_is_learned() {
        let mut buf = [0u8; 128];
        let n = request(&mut buf, &peer(None, "198.18.0.254"), v4("198.18.0.1"), Some(OURS)).unwrap();
        arp::Packet::new_unchecked(&mut buf[14..42]).set_operation(op::REPLY);
        let h = handle(&mut buf, n, &ours(None));
        let learn = Learn { ip: "198.18.0.254".parse().unwrap(), mac: PEER };
        assert_eq!(h, Handled { message: Message::ArpReply, verdict: Verdict::Learn(learn) });
    }

    #[test]
    fn gratuitous_from_neighbor_updates_and_ours_conflicts() {
        let mut buf = [0u8; 128];
        let n = gratuitous(&mut buf, &peer(None, "198.18.0.254"), v4("198.18.0.254"));
        let (eth, a) = parse(&buf[..n]);
        assert!(eth.dst_addr.is_broadcast());
        assert_eq!((a.operation, a.sender_ip, a.target_ip), (op::REQUEST, v4("198.18.0.254"), v4("198.18.0.254")));
        let learn = Learn { ip: "198.18.0.254".parse().unwrap(), mac: PEER };
        assert_eq!(handle(&mut buf, n, &ours(None)).verdict, Verdict::Learn(learn));
        // Someone else announcing our address.
        let n = gratuitous(&mut buf, &peer(None, "198.18.0.1"), v4("198.18.0.1"));
        assert_eq!(handle(&mut buf, n, &ours(None)).verdict, Verdict::Drop(Reason::AddressConflict));
        // Our own announcement coming back.
        let n = gratuitous(&mut buf, &ours(None), v4("198.18.0.1"));
        assert_eq!(handle(&mut buf, n, &ours(None)).verdict, Verdict::Drop(Reason::Looped));
    }

    #[test]
    fn probe_from_zero_is_answered_not_learned() {
        let mut buf = [0u8; 128];
        let mut p = peer(None, "198.18.0.2");
        p.ipv4[0].addr = Ipv4Addr::UNSPECIFIED;
        let n = request(&mut buf, &p, v4("198.18.0.1"), None).unwrap();
        let h = handle(&mut buf, n, &ours(None));
        assert_eq!(h.verdict, Verdict::Reply { len: 60, learn: None });
        let (_, a) = parse(&buf[..60]);
        assert_eq!((a.target_mac, a.target_ip), (PEER, Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn unicast_probe_and_bad_input() {
        let mut buf = [0u8; 128];
        let n = request(&mut buf, &ours(Some(7)), v4("198.18.0.254"), Some(PEER)).unwrap();
        let (eth, a) = parse(&buf[..n]);
        assert_eq!((eth.dst_addr, eth.vlan_id), (PEER, Some(7)));
        assert_eq!((a.sender_ip, a.target_ip), (v4("198.18.0.1"), v4("198.18.0.254")));
        assert!(request(&mut buf, &Interface::new("bare", 0, None, OURS), v4("198.18.0.1"), None).is_none());
        let mut buf = [0u8; 128];
        let n = request(&mut buf, &peer(None, "198.18.0.2"), v4("198.18.0.1"), None).unwrap();
        let mut other_op = buf;
        arp::Packet::new_unchecked(&mut other_op[14..42]).set_operation(3);
        assert_eq!(handle(&mut other_op, n, &ours(None)).verdict, Verdict::Drop(Reason::Unsupported));
        let mut group_sender = buf;
        arp::Packet::new_unchecked(&mut group_sender[14..42]).set_sender_hardware_addr(MacAddr::BROADCAST);
        assert_eq!(handle(&mut group_sender, n, &ours(None)).verdict, Verdict::Drop(Reason::Malformed));
        let mut not_ethernet = buf;
        not_ethernet[15] = 6;
        assert_eq!(handle(&mut not_ethernet, n, &ours(None)).verdict, Verdict::Drop(Reason::Unsupported));
        assert_eq!(handle(&mut buf.clone(), 41, &ours(None)).verdict, Verdict::Drop(Reason::Malformed));
        assert_eq!(handle(&mut buf.clone(), 10, &ours(None)).verdict, Verdict::Drop(Reason::Malformed));
        // A length beyond the buffer is clamped, not trusted.
        assert_eq!(handle(&mut buf[..30], 60, &ours(None)).verdict, Verdict::Drop(Reason::Malformed));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100), len in 0usize..120) {
            let mut buf = data.clone();
            let _ = handle(&mut buf, len, &ours(None));
        }

        #[test]
        fn mutated_requests_never_panic(at in 0usize..60, byte in any::<u8>(), cut in 0usize..64, vlan in any::<bool>()) {
            let vlan = vlan.then_some(100);
            let mut buf = [0u8; 64];
            let n = request(&mut buf, &peer(vlan, "198.18.0.2"), v4("198.18.0.1"), None).unwrap();
            buf[at % n] = byte;
            let h = handle(&mut buf, cut.min(n), &ours(vlan));
            if let Verdict::Reply { len, .. } = h.verdict {
                prop_assert!(len <= buf.len());
                let (_, a) = parse(&buf[..len]);
                prop_assert_eq!(a.operation, op::REPLY);
                prop_assert_eq!(a.sender_mac, OURS);
            }
        }
    }
}
