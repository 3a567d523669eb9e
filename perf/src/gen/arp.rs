//! ARP for the generator's ports: it answers for the addresses it owns
//! (the relay's gateway on each side) and asks for the relay's MAC.

use std::net::Ipv4Addr;

use mediafwd_dataplane::wire::arp::{self, op, Repr};
use mediafwd_dataplane::wire::ethernet::{emit_header, ethertype, MacAddr};

/// Ethernet's minimum frame (without FCS).
const MIN_FRAME: usize = 60;

fn frame(dst: MacAddr, src: MacAddr, vlan: Option<u16>, a: &Repr) -> Vec<u8> {
    let mut buf = vec![0u8; MIN_FRAME.max(18 + arp::LEN)];
    let l2 = emit_header(&mut buf, dst, src, vlan, ethertype::ARP);
    a.emit(&mut buf[l2..]);
    buf.truncate(MIN_FRAME.max(l2 + arp::LEN));
    buf
}

/// A broadcast request for `target` from `(our_mac, our_ip)`.
pub fn request(our_mac: MacAddr, our_ip: Ipv4Addr, target: Ipv4Addr, vlan: Option<u16>) -> Vec<u8> {
    let a = Repr {
        operation: op::REQUEST,
        sender_mac: our_mac,
        sender_ip: our_ip,
        target_mac: MacAddr([0; 6]),
        target_ip: target,
    };
    frame(MacAddr::BROADCAST, our_mac, vlan, &a)
}

/// The ARP packet at `off` in a frame.
pub fn read(frame: &[u8], off: usize) -> Option<Repr> {
    Repr::parse(&arp::Packet::new_checked(frame.get(off..)?).ok()?).ok()
}

/// The reply to `a` (received with tag `vlan`) if it asks for one of our
/// addresses.
pub fn answer(a: &Repr, vlan: Option<u16>, our_mac: MacAddr, ours: impl Fn(Ipv4Addr) -> bool) -> Option<Vec<u8>> {
    if a.operation != op::REQUEST || !ours(a.target_ip) {
        return None;
    }
    let r = Repr {
        operation: op::REPLY,
        sender_mac: our_mac,
        sender_ip: a.target_ip,
        target_mac: a.sender_mac,
        target_ip: a.sender_ip,
    };
    Some(frame(a.sender_mac, our_mac, vlan, &r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::rx::{parse, Received};

    const GEN: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const RELAY: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn request_answer_and_learning() {
        let gw = Ipv4Addr::new(198, 18, 0, 2);
        let relay = Ipv4Addr::new(198, 18, 0, 1);
        for vlan in [None, Some(101)] {
            // The relay asks for its gateway (us).
            let q = request(RELAY, relay, gw, vlan);
            assert_eq!(q.len(), 60);
            let Received::Arp { off, vlan: tag } = parse(&q, None) else { panic!() };
            assert_eq!(tag, vlan);
            let a = read(&q, off).unwrap();
            let reply = answer(&a, tag, GEN, |ip| ip == gw).unwrap();
            let Received::Arp { off, vlan: tag } = parse(&reply, None) else { panic!() };
            assert_eq!(tag, vlan);
            let r = read(&reply, off).unwrap();
            assert_eq!(
                (r.operation, r.sender_mac, r.sender_ip, r.target_mac, r.target_ip),
                (op::REPLY, GEN, gw, RELAY, relay)
            );
            // Not ours, or not a request: no answer.
            assert!(answer(&a, tag, GEN, |_| false).is_none());
            assert!(answer(&r, tag, GEN, |_| true).is_none());
        }
    }
}
