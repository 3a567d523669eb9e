//! The slow path on a real EAL: one `net_ring` port whose TX queue is the
//! slow path's own. Crafted frames go into the slow-path ring, as a worker
//! would hand them over; what the slow path sends is read from the port's
//! TX ring.
//!
//! One EAL per process: the tests share one slow path and take turns
//! through a lock.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mediafwd_dataplane::craft::UdpFrame;
use mediafwd_dataplane::flow::Command;
use mediafwd_dataplane::ice::IceEvent;
use mediafwd_dataplane::slowpath::{self, IceCredentials, Interface, NeighborState, Reason, SlowPath, SlowPathConfig};
use mediafwd_dataplane::wire::arp::{self, op};
use mediafwd_dataplane::wire::ethernet::{self, ethertype, MacAddr};
use mediafwd_dataplane::wire::icmpv6::{self, NdRepr};
use mediafwd_dataplane::wire::{icmpv4, ipv4, ipv6, protocol, stun, udp};
use mediafwd_ffi::{ring, Burst, Eal, Mempool, Port, PortConfig, Ring};

const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const GW: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
const GW6: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfd]);

struct Harness {
    sp: SlowPath,
    pool: Mempool,
    /// Where workers hand slow-path frames.
    slow: Ring,
    /// What the slow path hands to the transmitting worker.
    wire: Ring,
    port_id: u16,
    mac: MacAddr,
    _rx: Ring,
}

fn harness() -> MutexGuard<'static, Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(start())).lock().unwrap_or_else(|e| e.into_inner())
}

fn start() -> Harness {
    let prefix = format!("--file-prefix=mfw-slow-{}", std::process::id());
    Eal::init(&["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "-l", "0", "--log-level=error", &prefix])
        .expect("EAL");
    let pool = Mempool::create("slow_test", 2047, 32, 2176, -1).unwrap();
    let flags = ring::flags::SP_ENQ | ring::flags::SC_DEQ;
    let rx = Ring::create("slow_port_rx", 1024, -1, flags).unwrap();
    let port_tx = Ring::create("slow_port_tx", 1024, -1, flags).unwrap();
    let wire = Ring::create("slow_inject", 1024, -1, flags).unwrap();
    let slow = Ring::create("slow_path_0", 1024, -1, flags).unwrap();
    let port = Port::from_rings("slow_port", std::slice::from_ref(&rx), std::slice::from_ref(&port_tx), 0).unwrap();
    let _queues = port.configure(&PortConfig::default(), &pool).unwrap();
    port.start().unwrap();
    let mac = MacAddr(port.mac_addr().unwrap());
    let mut iface = Interface::new("access", port.id(), None, mac);
    iface.ipv4 = vec!["198.18.0.1/24".parse().unwrap()];
    iface.ipv6 = vec!["2001:db8::1/64".parse().unwrap()];
    iface.gateway4 = Some("198.18.0.254".parse().unwrap());
    iface.gateway6 = Some("fe80::1".parse().unwrap());
    let sp =
        SlowPath::new(&SlowPathConfig::default(), vec![iface], vec![slow.clone()], wire.clone(), pool.clone()).unwrap();
    Harness { sp, pool, slow, wire, port_id: port.id(), mac, _rx: rx }
}

impl Harness {
    fn inject(&self, frame: &[u8]) {
        let mut m = self.pool.alloc().expect("mbuf");
        m.extend_from_slice(frame).unwrap();
        assert!(self.slow.enqueue(m).is_ok(), "slow-path ring full");
    }

    /// Polls until the ring is empty, all at one instant (rate limits do
    /// not refill between the polls of one call, however slow the machine);
    /// the commands for the workers.
    fn poll(&mut self) -> Vec<Command> {
        let mut commands = Vec::new();
        let now = Instant::now();
        while self.slow.count() > 0 {
            self.sp.poll(now, &mut commands);
        }
        self.sp.poll(now, &mut commands);
        commands
    }

    /// Every frame the slow path sent, each addressed to the port.
    fn sent(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut b = Burst::new();
        while self.wire.dequeue_burst(&mut b) > 0 {
            for m in b.drain() {
                assert_eq!(m.port(), self.port_id, "egress port stamped on the mbuf");
                out.push(m.data().to_vec());
            }
        }
        out
    }

    fn peer(&self, v4: &str, v6: &str) -> Interface {
        let mut p = Interface::new("peer", 0, None, PEER);
        p.ipv4 = vec![v4.parse().unwrap()];
        p.ipv6 = vec![v6.parse().unwrap()];
        p
    }

    fn assert_no_leak(&self) {
        assert_eq!(self.slow.count(), 0);
        assert_eq!(self.wire.count(), 0);
        assert_eq!(self.pool.in_use(), 0, "mbuf leak");
    }
}

fn parse_arp(frame: &[u8]) -> (ethernet::Repr, arp::Repr) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    let e = ethernet::Repr::parse(&eth).unwrap();
    (e, arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap())
}

fn parse_v6(frame: &[u8]) -> (ethernet::Repr, ipv6::Repr, Vec<u8>) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    let e = ethernet::Repr::parse(&eth).unwrap();
    let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
    let r = ipv6::Repr::parse(&ip).unwrap();
    let icmp = ip.payload().to_vec();
    assert!(icmpv6::Packet::new_checked(&icmp[..]).unwrap().verify_checksum(&r.src_addr, &r.dst_addr));
    (e, r, icmp)
}

#[test]
fn arp_request_answered_on_the_wire() {
    let mut h = harness();
    let before = h.sp.stats();
    let mut frame = [0u8; 64];
    let n = slowpath::arp::request(
        &mut frame,
        &h.peer("198.18.0.2/24", "2001:db8::2/64"),
        "198.18.0.1".parse().unwrap(),
        None,
    )
    .unwrap();
    h.inject(&frame[..n]);
    let commands = h.poll();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (eth, a) = parse_arp(&sent[0]);
    assert_eq!((eth.dst_addr, eth.src_addr, eth.vlan_id, eth.ethertype), (PEER, h.mac, None, ethertype::ARP));
    let expect = arp::Repr {
        operation: op::REPLY,
        sender_mac: h.mac,
        sender_ip: "198.18.0.1".parse().unwrap(),
        target_mac: PEER,
        target_ip: "198.18.0.2".parse().unwrap(),
    };
    assert_eq!(a, expect);
    // The requester is not learned: neighbors are learned when asked for,
    // so spoofed requests neither fill the table nor reach the workers.
    assert_eq!(h.sp.neighbors().lookup(0, "198.18.0.2".parse().unwrap()), None);
    assert!(commands.is_empty());
    let after = h.sp.stats();
    assert_eq!(after.arp_requests_in - before.arp_requests_in, 1);
    assert_eq!(after.arp_replies_out - before.arp_replies_out, 1);
    assert_eq!(after.tx_packets - before.tx_packets, 1);
    h.assert_no_leak();
}

#[test]
fn neighbor_solicitation_answered() {
    let mut h = harness();
    let mut frame = [0u8; 128];
    let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let n = slowpath::nd::solicit(&mut frame, &h.peer("198.18.0.3/24", "2001:db8::3/64"), target, None);
    h.inject(&frame[..n]);
    h.poll();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (eth, ip, icmp) = parse_v6(&sent[0]);
    assert_eq!((eth.dst_addr, eth.src_addr), (PEER, h.mac));
    assert_eq!((ip.src_addr, ip.dst_addr, ip.hop_limit), (target, "2001:db8::3".parse().unwrap(), 255));
    let nd = NdRepr::parse(&icmpv6::Packet::new_checked(&icmp[..]).unwrap()).unwrap();
    let expect = NdRepr::Advert {
        router_flag: false,
        solicited_flag: true,
        override_flag: true,
        target,
        target_mac: Some(h.mac),
    };
    assert_eq!(nd, expect);
    h.assert_no_leak();
}

fn echo_v4(dst_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 14 + 20 + 8 + data.len()];
    ethernet::emit_header(&mut b, dst_mac, GW, None, ethertype::IPV4);
    ipv4::Repr { src_addr: src, dst_addr: dst, protocol: protocol::ICMP, payload_len: 8 + data.len(), ttl: 60 }
        .emit(&mut b[14..]);
    let mut icmp = icmpv4::Packet::new_unchecked(&mut b[34..]);
    icmp.set_msg_type(icmpv4::msg_type::ECHO_REQUEST);
    icmp.set_echo_ident(0x4242);
    icmp.set_echo_seq(7);
    icmp.payload_mut().copy_from_slice(data);
    icmp.fill_checksum();
    b
}

fn echo_v6(dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 14 + 40 + 8 + data.len()];
    ethernet::emit_header(&mut b, dst_mac, GW, None, ethertype::IPV6);
    ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol::ICMPV6,
        payload_len: 8 + data.len(),
        hop_limit: 60,
    }
    .emit(&mut b[14..]);
    let mut icmp = icmpv6::Packet::new_unchecked(&mut b[54..]);
    icmp.set_msg_type(icmpv6::msg_type::ECHO_REQUEST);
    icmp.set_echo_ident(0x4242);
    icmp.set_echo_seq(7);
    icmp.payload_mut().copy_from_slice(data);
    icmp.fill_checksum(&src, &dst);
    b
}

#[test]
fn ping_answered_v4_and_v6() {
    let mut h = harness();
    let before = h.sp.stats();
    let data = [0xa5u8; 56];
    let (remote4, ours4): (Ipv4Addr, Ipv4Addr) = ("198.19.5.5".parse().unwrap(), "198.18.0.1".parse().unwrap());
    let (remote6, ours6): (Ipv6Addr, Ipv6Addr) = ("2001:db8:5::5".parse().unwrap(), "2001:db8::1".parse().unwrap());
    h.inject(&echo_v4(h.mac, remote4, ours4, &data));
    h.inject(&echo_v6(h.mac, remote6, ours6, &data));
    h.poll();
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    let eth = ethernet::Frame::new_checked(&sent[0][..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (GW, h.mac));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (ours4, remote4));
    let icmp = icmpv4::Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq()), (icmpv4::msg_type::ECHO_REPLY, 0x4242, 7));
    assert_eq!(icmp.payload(), &data[..]);
    let (eth, ip, icmp) = parse_v6(&sent[1]);
    assert_eq!((eth.dst_addr, ip.src_addr, ip.dst_addr), (GW, ours6, remote6));
    let icmp = icmpv6::Packet::new_checked(&icmp[..]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.echo_seq()), (icmpv6::msg_type::ECHO_REPLY, 7));
    assert_eq!(icmp.payload(), &data[..]);
    let after = h.sp.stats();
    assert_eq!(after.echo_requests_in - before.echo_requests_in, 2);
    assert_eq!(after.echo_replies_out - before.echo_replies_out, 2);
    h.assert_no_leak();
}

#[test]
fn probes_resolve_next_hops_into_set_neighbor() {
    let mut h = harness();
    // IPv4: a remote behind the gateway.
    let id4 = h.sp.resolve(0, "198.19.7.7".parse().unwrap()).unwrap();
    assert_eq!(h.sp.resolve(0, "198.19.8.8".parse().unwrap()).unwrap(), id4, "same gateway, same next hop");
    let id6 = h.sp.resolve(0, "2001:db8:7::7".parse().unwrap()).unwrap();
    assert_ne!(id4, id6);
    assert!(h.poll().is_empty(), "nothing resolved yet");
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "one ARP request and one NS");
    let (eth, a) = parse_arp(&sent[0]);
    assert_eq!((eth.dst_addr, eth.src_addr), (MacAddr::BROADCAST, h.mac));
    assert_eq!((a.operation, a.sender_mac), (op::REQUEST, h.mac));
    assert_eq!((a.sender_ip, a.target_ip), ("198.18.0.1".parse().unwrap(), "198.18.0.254".parse().unwrap()));
    let (eth, ip, icmp) = parse_v6(&sent[1]);
    let gw6: Ipv6Addr = "fe80::1".parse().unwrap();
    assert_eq!(eth.dst_addr, MacAddr([0x33, 0x33, 0xff, 0, 0, 1]));
    assert_eq!((ip.src_addr, ip.dst_addr), (h.sp.interfaces()[0].link_local(), "ff02::1:ff00:1".parse().unwrap()));
    assert_eq!(
        NdRepr::parse(&icmpv6::Packet::new_checked(&icmp[..]).unwrap()).unwrap(),
        NdRepr::Solicit { target: gw6, source_mac: Some(h.mac) }
    );

    // The answers.
    let mut reply = [0u8; 60];
    let l2 = ethernet::emit_header(&mut reply, h.mac, GW, None, ethertype::ARP);
    arp::Repr {
        operation: op::REPLY,
        sender_mac: GW,
        sender_ip: "198.18.0.254".parse().unwrap(),
        target_mac: h.mac,
        target_ip: "198.18.0.1".parse().unwrap(),
    }
    .emit(&mut reply[l2..]);
    h.inject(&reply);
    let mut na = [0u8; 86];
    let l2 = ethernet::emit_header(&mut na, h.mac, GW6, None, ethertype::IPV6);
    let advert = NdRepr::Advert {
        router_flag: true,
        solicited_flag: true,
        override_flag: true,
        target: gw6,
        target_mac: Some(GW6),
    };
    let ll = h.sp.interfaces()[0].link_local();
    ipv6::Repr { src_addr: gw6, dst_addr: ll, next_header: protocol::ICMPV6, payload_len: 32, hop_limit: 255 }
        .emit(&mut na[l2..]);
    advert.emit(&mut na[l2 + 40..]);
    icmpv6::Packet::new_unchecked(&mut na[l2 + 40..]).fill_checksum(&gw6, &ll);
    h.inject(&na);
    let commands = h.poll();
    assert_eq!(
        commands,
        vec![Command::SetNeighbor { id: id4, mac: Some(GW) }, Command::SetNeighbor { id: id6, mac: Some(GW6) }]
    );
    let now = Instant::now();
    assert_eq!(h.sp.neighbors().get(id4, now).unwrap().state, NeighborState::Reachable);
    assert_eq!(h.sp.neighbors().get(id6, now).unwrap().mac, Some(GW6));
    assert!(h.sent().is_empty(), "answers are not answered");
    assert!(h.sp.release(id4) && h.sp.release(id4) && h.sp.release(id6));
    assert!(h.sp.resolve(0, IpAddr::V4(Ipv4Addr::BROADCAST)).is_err());
    h.assert_no_leak();
}

#[test]
fn junk_and_floods_are_counted_and_leak_nothing() {
    let mut h = harness();
    let before = h.sp.stats();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    // 150 pings in a burst: 100 answered, the rest over the rate.
    for _ in 0..150 {
        frames.push(echo_v4(h.mac, "198.19.5.5".parse().unwrap(), "198.18.0.1".parse().unwrap(), b"flood"));
    }
    // Runts, an unknown VLAN, another EtherType, ICMP for someone else.
    frames.push(vec![0u8; 10]);
    let mut tagged = [0u8; 64];
    let n = slowpath::arp::request(
        &mut tagged,
        &Interface { vlan: Some(999), ..h.peer("198.18.0.2/24", "2001:db8::2/64") },
        "198.18.0.1".parse().unwrap(),
        None,
    )
    .unwrap();
    frames.push(tagged[..n].to_vec());
    let mut lldp = vec![0u8; 60];
    ethernet::emit_header(&mut lldp, MacAddr([0x01, 0x80, 0xc2, 0, 0, 0x0e]), PEER, None, 0x88cc);
    frames.push(lldp);
    frames.push(echo_v4(h.mac, "198.19.5.5".parse().unwrap(), "198.18.0.9".parse().unwrap(), b"x"));
    for f in &frames {
        h.inject(f);
    }
    h.poll();
    let sent = h.sent();
    let after = h.sp.stats();
    let d = |r: Reason| after.dropped(r) - before.dropped(r);
    assert!((95..=110).contains(&sent.len()), "{} sent", sent.len());
    assert_eq!(d(Reason::RateLimited) as usize, 150 - sent.len());
    assert_eq!((d(Reason::Malformed), d(Reason::UnknownVlan), d(Reason::Unsupported)), (1, 1, 1));
    assert_eq!(d(Reason::NotOurAddress), 1);
    assert_eq!(after.rx_packets - before.rx_packets, frames.len() as u64);
    h.assert_no_leak();
    // Let the bucket refill for whichever test runs next.
    std::thread::sleep(Duration::from_millis(150));
}

#[test]
fn announcements_cover_every_address() {
    let mut h = harness();
    assert_eq!(h.sp.announce(), 3, "one IPv4, the link-local and one global IPv6 address");
    let sent = h.sent();
    assert_eq!(sent.len(), 3);
    let (eth, a) = parse_arp(&sent[0]);
    assert!(eth.dst_addr.is_broadcast());
    assert_eq!((a.sender_ip, a.target_ip), ("198.18.0.1".parse().unwrap(), "198.18.0.1".parse().unwrap()));
    for f in &sent[1..] {
        let (eth, ip, icmp) = parse_v6(f);
        assert_eq!((eth.dst_addr, ip.dst_addr), (MacAddr([0x33, 0x33, 0, 0, 0, 1]), "ff02::1".parse().unwrap()));
        let NdRepr::Advert { override_flag: true, solicited_flag: false, target, .. } =
            NdRepr::parse(&icmpv6::Packet::new_checked(&icmp[..]).unwrap()).unwrap()
        else {
            panic!("not an unsolicited advertisement");
        };
        assert_eq!(target, ip.src_addr);
    }
    h.poll();
    h.assert_no_leak();
}

/// A controlling peer's ICE check (USERNAME, ICE-CONTROLLING, PRIORITY,
/// USE-CANDIDATE, MESSAGE-INTEGRITY with `pwd`, FINGERPRINT) from `from`
/// to the relay address `to`, as a frame to the port.
fn ice_check(mac: MacAddr, from: SocketAddr, to: SocketAddr, pwd: &[u8]) -> Vec<u8> {
    let mut msg = [0u8; 160];
    let mut w = stun::Writer::new(&mut msg, stun::msg_type::BINDING_REQUEST, &[0x5a; 12]).unwrap();
    w.attribute(stun::attr::USERNAME, b"relay1:webrtc1").unwrap();
    w.attribute(stun::attr::ICE_CONTROLLING, &7u64.to_be_bytes()).unwrap();
    w.attribute(stun::attr::PRIORITY, &0x6e00_1eff_u32.to_be_bytes()).unwrap();
    w.attribute(stun::attr::USE_CANDIDATE, &[]).unwrap();
    w.integrity(pwd).unwrap();
    w.fingerprint().unwrap();
    let n = w.finish();
    let mut frame = vec![0u8; 256];
    let len = UdpFrame { src_mac: PEER, dst_mac: mac, vlan: None, src: from, dst: to }.emit(&mut frame, &msg[..n]);
    frame.truncate(len);
    frame
}

#[test]
fn ice_checks_answered_and_nomination_reported() {
    let mut h = harness();
    let before = h.sp.stats();
    let local: SocketAddr = "198.18.0.1:30000".parse().unwrap();
    let from: SocketAddr = "198.18.0.2:50000".parse().unwrap();
    let pwd = "relaypwd-relaypwd-relaypwd";
    let creds = IceCredentials { local_ufrag: "relay1".into(), local_pwd: pwd.into(), remote_ufrag: None };
    h.sp.set_ice_leg(local, creds);
    let mac = h.mac;
    h.inject(&ice_check(mac, from, local, pwd.as_bytes()));
    h.inject(&ice_check(mac, from, local, b"not-the-ice-pwd"));
    h.inject(&ice_check(mac, from, "198.18.0.1:30002".parse().unwrap(), pwd.as_bytes()));
    h.poll();
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "a success and a 401; nothing for the port without a leg");
    let mut types = Vec::new();
    for frame in &sent {
        let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
        assert_eq!((eth.src_addr(), eth.dst_addr()), (mac, PEER));
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()));
        let u = udp::Datagram::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
        assert_eq!((u.src_port(), u.dst_port()), (30000, 50000));
        let m = stun::Message::new_checked(u.payload()).unwrap();
        assert_eq!(m.verify_fingerprint(), Some(true));
        types.push(m.msg_type());
        if m.msg_type() == stun::msg_type::BINDING_SUCCESS {
            assert!(m.verify_integrity(pwd.as_bytes()));
        }
    }
    assert_eq!(types, [stun::msg_type::BINDING_SUCCESS, stun::msg_type::BINDING_ERROR]);
    let mut events = Vec::new();
    h.sp.drain_ice_events(&mut events);
    assert_eq!(events, [(local, IceEvent::Nominated(from))]);
    let after = h.sp.stats();
    assert_eq!(after.stun_requests_in - before.stun_requests_in, 2, "the success and the unknown leg");
    assert_eq!(after.stun_refused_in - before.stun_refused_in, 1);
    assert_eq!(after.stun_responses_out - before.stun_responses_out, 2);
    assert_eq!(after.dropped(Reason::UnknownIceLeg) - before.dropped(Reason::UnknownIceLeg), 1);
    // A DTLS record to the leg goes to the control side, whose answer
    // leaves from the leg to the peer.
    let record = [0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3];
    let mut frame = vec![0u8; 128];
    let n = UdpFrame { src_mac: PEER, dst_mac: mac, vlan: None, src: from, dst: local }.emit(&mut frame, &record);
    h.inject(&frame[..n]);
    h.poll();
    let mut dtls = Vec::new();
    h.sp.drain_dtls(&mut dtls);
    assert_eq!(dtls.len(), 1);
    assert_eq!((dtls[0].local, dtls[0].remote, dtls[0].peer_mac), (local, from, PEER));
    assert_eq!(dtls[0].payload, record);
    let mut answer = dtls.remove(0);
    answer.payload = vec![0x16, 0xfe, 0xfd, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0];
    assert!(h.sp.send_dtls(&answer));
    h.poll();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let eth = ethernet::Frame::new_checked(&sent[0][..]).unwrap();
    assert_eq!((eth.src_addr(), eth.dst_addr()), (mac, PEER));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    let u = udp::Datagram::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    assert_eq!((u.src_port(), u.dst_port(), u.payload()), (30000, 50000, &answer.payload[..]));
    let last = h.sp.stats();
    assert_eq!((last.dtls_in - after.dtls_in, last.dtls_out - after.dtls_out), (1, 1));
    h.sp.remove_ice_leg(&local);
    h.assert_no_leak();
}
