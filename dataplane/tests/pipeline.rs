//! The per-packet pipeline on byte buffers, without DPDK: relay rewrites in
//! every address-family combination with checksums checked from scratch,
//! malformed input, latching, RTCP demultiplexing and statistics.

use core::net::{IpAddr, SocketAddr};

use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Command, Egress, Event, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict};
use mediafwd_dataplane::slowpath::police::{Kind, Punt};
use mediafwd_dataplane::stats::{DropReason, FlowDrop, FlowStatsArray};
use mediafwd_dataplane::wire::ethernet::{self, MacAddr};
use mediafwd_dataplane::wire::{ipv4, ipv6, rtp, udp};
use proptest::prelude::*;

const HEADROOM: usize = 128;
const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);
const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two ports: 0 faces the caller, 1 the callee. One session: leg A on port
/// 0 at `a_local`, leg B on port 1 at `b_local`.
struct Fixture {
    table: FlowTable,
    ports: Vec<PortContext>,
    stats: FlowStatsArray,
    a_local: SocketAddr,
    b_local: SocketAddr,
    caller: SocketAddr,
    callee: SocketAddr,
    vlan_b: Option<u16>,
}

impl Fixture {
    fn new(a_local: &str, caller: &str, b_local: &str, callee: &str) -> Self {
        Self::with(a_local, caller, b_local, callee, None, LatchMode::Off, false)
    }

    fn with(
        a_local: &str,
        caller: &str,
        b_local: &str,
        callee: &str,
        vlan_b: Option<u16>,
        latch: LatchMode,
        strict: bool,
    ) -> Self {
        let mut f = Fixture {
            table: FlowTable::with_capacity(64, 8),
            ports: vec![
                PortContext::new(MAC_A),
                PortContext::with_vlans(MAC_B, vlan_b.is_none(), &vlan_b.into_iter().collect::<Vec<_>>()),
            ],
            stats: FlowStatsArray::new(64),
            a_local: sa(a_local),
            b_local: sa(b_local),
            caller: sa(caller),
            callee: sa(callee),
            vlan_b,
        };
        let (a_to_b, b_to_a) = f.flows(latch, strict, false);
        f.table.apply(&Command::Upsert { key: f.key_a(), flow: a_to_b }).unwrap();
        f.table.apply(&Command::Upsert { key: f.key_b(), flow: b_to_a }).unwrap();
        f.table.apply(&Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) }).unwrap();
        f.table.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
        f
    }

    fn key_a(&self) -> FlowKey {
        FlowKey::new(0, self.a_local.ip(), self.a_local.port())
    }

    fn key_b(&self) -> FlowKey {
        FlowKey::new(1, self.b_local.ip(), self.b_local.port())
    }

    fn egress_b(&self) -> Egress {
        Egress { port_id: 1, vlan: self.vlan_b, src_mac: MAC_B, next_hop: 1, src: self.b_local, dst: Some(self.callee) }
    }

    fn egress_a(&self) -> Egress {
        Egress { port_id: 0, vlan: None, src_mac: MAC_A, next_hop: 0, src: self.a_local, dst: Some(self.caller) }
    }

    fn flows(&self, latch: LatchMode, strict: bool, mux: bool) -> (Flow, Flow) {
        let rtcp = |mut e: Egress| {
            e.src.set_port(e.src.port() + 1);
            e.dst = e.dst.map(|mut d| {
                d.set_port(d.port() + 1);
                d
            });
            e
        };
        let a_to_b = Flow {
            id: 1,
            media: Media::Rtp { rtcp_mux: mux },
            ingress: Ingress { vlan: None, remote: Some(self.caller), latch, strict_source: strict },
            egress: self.egress_b(),
            rtcp_egress: mux.then(|| rtcp(self.egress_b())),
            reverse: Some(2),
            clock_rate: 8000,
        };
        let b_to_a = Flow {
            id: 2,
            media: Media::Rtp { rtcp_mux: false },
            ingress: Ingress {
                vlan: self.vlan_b,
                remote: Some(self.callee),
                latch: LatchMode::Off,
                strict_source: false,
            },
            egress: self.egress_a(),
            rtcp_egress: None,
            reverse: Some(1),
            clock_rate: 8000,
        };
        (a_to_b, b_to_a)
    }

    /// Runs one frame received on `port`; returns the verdict, the frame
    /// bytes after processing, and events.
    fn run(&mut self, frame: &[u8], port: u16, now_us: u64) -> (Verdict, Vec<u8>, Vec<Event>) {
        self.run_at(frame, port, now_us, None)
    }

    fn run_stripped(&mut self, frame: &[u8], port: u16, vlan: Option<u16>) -> (Verdict, Vec<u8>, Vec<Event>) {
        self.run_at(frame, port, 0, vlan)
    }

    fn run_at(&mut self, frame: &[u8], port: u16, now_us: u64, vlan: Option<u16>) -> (Verdict, Vec<u8>, Vec<Event>) {
        let mut buf = vec![0u8; 2048];
        buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        let mut pkt = PacketBuf::new(&mut buf, HEADROOM, frame.len());
        let mut events = Vec::new();
        let mut p = Pipeline {
            worker: 0,
            table: &mut self.table,
            ports: &self.ports,
            flow_stats: &self.stats,
            now_tsc: now_us,
            now_us,
        };
        let v = p.process(&mut pkt, port, vlan, &mut |e| events.push(e));
        (v, pkt.data().to_vec(), events)
    }

    fn caller_frame(&self, payload: &[u8]) -> Vec<u8> {
        frame(CALLER_MAC, MAC_A, None, self.caller, self.a_local, payload)
    }
}

fn frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    vlan: Option<u16>,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 1600];
    let n = UdpFrame { src_mac, dst_mac, vlan, src, dst }.emit(&mut buf, payload);
    buf.truncate(n);
    buf
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 200];
    let n = rtp_packet(&mut b, 0x1234_5678, seq, seq as u32 * 160, 0, 160, 0xd5);
    b.truncate(n);
    b
}

/// Parses a relayed frame and checks every checksum from scratch.
fn check_relayed(
    out: &[u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    vlan: Option<u16>,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) {
    let eth = ethernet::Frame::new_checked(out).expect("ethernet");
    assert_eq!((eth.src_addr(), eth.dst_addr(), eth.vlan_id()), (src_mac, dst_mac, vlan));
    let l3 = &out[eth.header_len()..];
    let udp_bytes = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = ipv4::Packet::new_checked(l3).expect("ipv4");
            assert!(ip.verify_checksum(), "IPv4 header checksum");
            assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (s, d, 64));
            assert_eq!(ip.total_len() as usize, l3.len());
            let u = udp::Datagram::new_checked(ip.payload()).expect("udp");
            assert!(u.checksum() == 0 || u.verify_checksum_v4(s, d), "UDP checksum over IPv4");
            ip.payload().to_vec()
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = ipv6::Packet::new_checked(l3).expect("ipv6");
            assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (s, d, 64));
            assert_eq!(ip.payload_len() as usize + ipv6::HEADER_LEN, l3.len());
            let u = udp::Datagram::new_checked(ip.payload()).expect("udp");
            assert_ne!(u.checksum(), 0, "IPv6 UDP checksum is mandatory");
            assert!(u.verify_checksum_v6(&s, &d), "UDP checksum over IPv6");
            ip.payload().to_vec()
        }
        _ => panic!("mixed families"),
    };
    let u = udp::Datagram::new_checked(&udp_bytes[..]).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (src.port(), dst.port()));
    assert_eq!(u.payload(), payload);
}

#[test]
fn ipv4_rtp_is_relayed_with_addresses_ports_macs_and_checksums_rewritten() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let payload = rtp(1);
    let (v, out, ev) = f.run(&f.caller_frame(&payload), 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    assert!(ev.is_empty());
    check_relayed(&out, MAC_B, CALLEE_MAC, None, f.b_local, f.callee, &payload);
    // And back.
    let back = frame(CALLEE_MAC, MAC_B, None, f.callee, f.b_local, &payload);
    let (v, out, _) = f.run(&back, 1, 0);
    assert_eq!(v, Verdict::Forward { port_id: 0 });
    check_relayed(&out, MAC_A, CALLER_MAC, None, f.a_local, f.caller, &payload);
}

#[test]
fn ipv6_to_ipv6_and_both_translations() {
    for (a, caller, b, callee) in [
        ("[2001:db8:1::1]:30000", "[2001:db8:1::2]:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000"),
        ("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000"),
        ("[2001:db8:1::1]:30000", "[2001:db8:1::2]:5000", "198.19.0.1:40000", "198.19.0.2:6000"),
    ] {
        let mut f = Fixture::new(a, caller, b, callee);
        let payload = rtp(7);
        let (v, out, _) = f.run(&f.caller_frame(&payload), 0, 0);
        assert_eq!(v, Verdict::Forward { port_id: 1 }, "{a} -> {b}");
        check_relayed(&out, MAC_B, CALLEE_MAC, None, f.b_local, f.callee, &payload);
        let back = frame(CALLEE_MAC, MAC_B, None, f.callee, f.b_local, &payload);
        let (v, out, _) = f.run(&back, 1, 0);
        assert_eq!(v, Verdict::Forward { port_id: 0 });
        check_relayed(&out, MAC_A, CALLER_MAC, None, f.a_local, f.caller, &payload);
    }
}

#[test]
fn ipv4_without_udp_checksum_gains_one_on_ipv6() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000");
    let payload = rtp(3);
    let mut input = f.caller_frame(&payload);
    // Zero the UDP checksum: "none" on IPv4.
    input[14 + 20 + 6] = 0;
    input[14 + 20 + 7] = 0;
    let (v, out, _) = f.run(&input, 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    check_relayed(&out, MAC_B, CALLEE_MAC, None, f.b_local, f.callee, &payload);
    // Over IPv4 it stays "none".
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let (v, out, _) = f.run(&input, 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    assert_eq!(&out[14 + 20 + 6..14 + 20 + 8], &[0, 0]);
}

#[test]
fn vlan_tags_are_added_and_accepted_per_interface() {
    let mut f = Fixture::with(
        "198.18.0.1:30000",
        "198.18.0.2:5000",
        "198.19.0.1:40000",
        "198.19.0.2:6000",
        Some(100),
        LatchMode::Off,
        false,
    );
    let payload = rtp(1);
    let (v, out, _) = f.run(&f.caller_frame(&payload), 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    check_relayed(&out, MAC_B, CALLEE_MAC, Some(100), f.b_local, f.callee, &payload);
    // Tagged in, untagged out.
    let back = frame(CALLEE_MAC, MAC_B, Some(100), f.callee, f.b_local, &payload);
    let (v, out, _) = f.run(&back, 1, 0);
    assert_eq!(v, Verdict::Forward { port_id: 0 });
    check_relayed(&out, MAC_A, CALLER_MAC, None, f.a_local, f.caller, &payload);
    // A VLAN the port does not carry, or none, is dropped.
    let wrong = frame(CALLEE_MAC, MAC_B, Some(101), f.callee, f.b_local, &payload);
    assert_eq!(f.run(&wrong, 1, 0).0, Verdict::Drop(DropReason::WrongVlan));
    let untagged = frame(CALLEE_MAC, MAC_B, None, f.callee, f.b_local, &payload);
    assert_eq!(f.run(&untagged, 1, 0).0, Verdict::Drop(DropReason::WrongVlan));
    // A tag the NIC stripped and reported beside the frame counts as the frame's.
    let (v, out, _) = f.run_stripped(&untagged, 1, Some(100));
    assert_eq!(v, Verdict::Forward { port_id: 0 });
    check_relayed(&out, MAC_A, CALLER_MAC, None, f.a_local, f.caller, &payload);
}

#[test]
fn rtcp_mux_is_demultiplexed_to_the_peer_rtcp_port() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let (a_to_b, _) = f.flows(LatchMode::Off, false, true);
    f.table.apply(&Command::Upsert { key: f.key_a(), flow: a_to_b }).unwrap();
    // An RTCP receiver report: V=2, PT=201, length 1 word after the header.
    let rr = [0x80, 201, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    let (v, out, _) = f.run(&f.caller_frame(&rr), 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    check_relayed(&out, MAC_B, CALLEE_MAC, None, sa("198.19.0.1:40001"), sa("198.19.0.2:6001"), &rr);
    // RTP on the same port still goes to the RTP port.
    let (_, out, _) = f.run(&f.caller_frame(&rtp(2)), 0, 0);
    check_relayed(&out, MAC_B, CALLEE_MAC, None, f.b_local, f.callee, &rtp(2));
    let s = f.stats.snapshot(1);
    assert_eq!((s.packets, s.rtcp_packets), (2, 1));
}

#[test]
fn rtp_version_other_than_2_is_dropped_and_counted_on_the_flow() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let mut p = rtp(1);
    p[0] = 0x40; // version 1
    assert_eq!(f.run(&f.caller_frame(&p), 0, 0).0, Verdict::Drop(DropReason::BadRtp));
    assert_eq!(f.stats.snapshot(1).dropped(FlowDrop::BadRtp), 1);
    assert_eq!(f.stats.snapshot(1).packets, 0);
}

#[test]
fn malformed_and_foreign_frames_are_dropped_with_their_reason() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let good = f.caller_frame(&rtp(1));
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        ("runt", good[..10].to_vec(), DropReason::Runt),
        (
            "other MAC",
            {
                let mut g = good.clone();
                g[5] = 0x77;
                g
            },
            DropReason::NotForUs,
        ),
        (
            "bad IHL",
            {
                let mut g = good.clone();
                g[14] = 0x44;
                g
            },
            DropReason::BadIpv4,
        ),
        (
            "wrong IP version",
            {
                let mut g = good.clone();
                g[14] = 0x65;
                g
            },
            DropReason::BadIpv4,
        ),
        (
            "IPv4 header checksum",
            {
                let mut g = good.clone();
                g[14 + 10] ^= 0xff;
                g
            },
            DropReason::BadIpv4,
        ),
        (
            "fragment",
            {
                let mut g = good.clone();
                g[14 + 6] = 0x20; // MF
                let mut ip = ipv4::Packet::new_unchecked(&mut g[14..]);
                ip.fill_checksum();
                g
            },
            DropReason::Fragment,
        ),
        (
            "TCP",
            {
                let mut g = good.clone();
                g[14 + 9] = 6;
                let mut ip = ipv4::Packet::new_unchecked(&mut g[14..]);
                ip.fill_checksum();
                g
            },
            DropReason::NotUdp,
        ),
        ("zero-length UDP", frame(CALLER_MAC, MAC_A, None, f.caller, f.a_local, &[]), DropReason::BadUdp),
        (
            "UDP length beyond the packet",
            {
                let mut g = good.clone();
                g[14 + 20 + 4] = 0xff;
                g
            },
            DropReason::BadUdp,
        ),
        ("IPv4 truncated below its total length", good[..good.len() - 1].to_vec(), DropReason::BadIpv4),
        (
            "unknown port",
            frame(CALLER_MAC, MAC_A, None, f.caller, sa("198.18.0.1:30002"), &rtp(1)),
            DropReason::UnknownFlow,
        ),
        (
            "802.1ad outer tag",
            {
                let mut g = good.clone();
                g.splice(12..12, [0x88, 0xa8, 0, 5]);
                g
            },
            DropReason::UnsupportedEtherType,
        ),
        (
            "ethertype",
            {
                let mut g = good.clone();
                g[12] = 0x88;
                g[13] = 0xcc;
                g
            },
            DropReason::UnsupportedEtherType,
        ),
    ];
    for (what, input, reason) in cases {
        assert_eq!(f.run(&input, 0, 0).0, Verdict::Drop(reason), "{what}");
    }
}

#[test]
fn every_truncation_of_a_valid_frame_is_dropped_never_forwarded() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000");
    let good = f.caller_frame(&rtp(1));
    for len in 0..good.len() {
        let (v, _, _) = f.run(&good[..len], 0, 0);
        assert!(matches!(v, Verdict::Drop(_)), "length {len}: {v:?}");
    }
    assert_eq!(f.run(&good, 0, 0).0, Verdict::Forward { port_id: 1 });
}

#[test]
fn arp_and_icmp_go_to_the_slow_path() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&CALLER_MAC.0);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    // Broadcast; named by the ARP sender's address (0.0.0.0 here).
    assert_eq!(f.run(&arp, 0, 0).0, Verdict::SlowPath(Punt::new(Kind::ArpBroadcast, &[0, 0, 0, 0])));
    // Cut before the sender's address: named by the source MAC.
    assert_eq!(f.run(&arp[..14 + 10], 0, 0).0, Verdict::SlowPath(Punt::new(Kind::ArpBroadcast, &CALLER_MAC.0)));
    let mut icmp = f.caller_frame(&rtp(1));
    icmp[14 + 9] = 1;
    ipv4::Packet::new_unchecked(&mut icmp[14..]).fill_checksum();
    assert_eq!(f.run(&icmp, 0, 0).0, Verdict::SlowPath(Punt::new(Kind::Icmp, &[198, 18, 0, 2])));
}

/// A WebRTC peer's ICE check and DTLS handshake share the leg's port with
/// RTP (RFC 7983); both leave the workers for the slow path, over either
/// family, without touching the flow's latch or counters.
#[test]
fn stun_and_dtls_to_a_relay_port_go_to_the_slow_path() {
    use mediafwd_dataplane::wire::stun::{attr, msg_type, Writer};
    let mut buf = [0u8; 128];
    let mut w = Writer::new(&mut buf, msg_type::BINDING_REQUEST, &[3; 12]).unwrap();
    w.attribute(attr::USERNAME, b"mfwd:web1").unwrap();
    w.integrity(b"pwd").unwrap();
    w.fingerprint().unwrap();
    let n = w.finish();
    let stun = buf[..n].to_vec();
    // A DTLS 1.2 handshake record header and the start of a ClientHello.
    let dtls = [0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0, 0, 0x14];
    for (a_local, caller) in [("198.18.0.1:30000", "198.18.0.2:5000"), ("[2001:db8::1]:30000", "[2001:db8::2]:5000")] {
        let mut f = Fixture::new(a_local, caller, "198.19.0.1:40000", "198.19.0.2:6000");
        let caller_ip = caller.parse::<SocketAddr>().unwrap().ip();
        let source = match caller_ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        for payload in [&stun[..], &dtls[..]] {
            let punt = Punt::new(Kind::IceDtls, &source);
            assert_eq!(f.run(&f.caller_frame(payload), 0, 0).0, Verdict::SlowPath(punt));
        }
        // A STUN-looking payload without the magic cookie is not STUN: it
        // reaches the relay, which refuses it as RTP.
        let mut no_cookie = stun.clone();
        no_cookie[4] = 0;
        assert_eq!(f.run(&f.caller_frame(&no_cookie), 0, 0).0, Verdict::Drop(DropReason::BadRtp));
        assert_eq!(f.stats.snapshot(1).packets, 0);
        assert_eq!(f.run(&f.caller_frame(&rtp(1)), 0, 0).0, Verdict::Forward { port_id: 1 });
    }
}

#[test]
fn strict_source_drops_other_senders() {
    let mut f = Fixture::with(
        "198.18.0.1:30000",
        "198.18.0.2:5000",
        "198.19.0.1:40000",
        "198.19.0.2:6000",
        None,
        LatchMode::Off,
        true,
    );
    let spoofed = frame(CALLER_MAC, MAC_A, None, sa("198.18.0.66:5000"), f.a_local, &rtp(1));
    assert_eq!(f.run(&spoofed, 0, 0).0, Verdict::Drop(DropReason::SourceMismatch));
    assert_eq!(f.stats.snapshot(1).dropped(FlowDrop::SourceMismatch), 1);
    assert_eq!(f.run(&f.caller_frame(&rtp(1)), 0, 0).0, Verdict::Forward { port_id: 1 });
}

#[test]
fn latching_learns_the_nat_address_and_the_reverse_direction_follows() {
    let mut f = Fixture::with(
        "198.18.0.1:30000",
        "198.18.0.2:5000",
        "198.19.0.1:40000",
        "198.19.0.2:6000",
        None,
        LatchMode::Follow,
        false,
    );
    let natted = sa("198.18.0.2:61000");
    let input = frame(CALLER_MAC, MAC_A, None, natted, f.a_local, &rtp(1));
    let (v, _, ev) = f.run(&input, 0, 0);
    assert_eq!(v, Verdict::Forward { port_id: 1 });
    assert_eq!(ev, vec![Event::Latched { worker: 0, key: f.key_a(), flow: 1, remote: natted, src_mac: CALLER_MAC }]);
    // The callee's packets now go to the NAT's port.
    let back = frame(CALLEE_MAC, MAC_B, None, f.callee, f.b_local, &rtp(1));
    let (v, out, _) = f.run(&back, 1, 0);
    assert_eq!(v, Verdict::Forward { port_id: 0 });
    check_relayed(&out, MAC_A, CALLER_MAC, None, f.a_local, natted, &rtp(1));
    // No new event while the source stays.
    assert!(f.run(&input, 0, 0).2.is_empty());
}

#[test]
fn unknown_remote_and_unresolved_neighbor_are_counted() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    f.table.apply(&Command::SetNeighbor { id: 1, mac: None }).unwrap();
    assert_eq!(f.run(&f.caller_frame(&rtp(1)), 0, 0).0, Verdict::Drop(DropReason::NeighborUnresolved));
    let (mut a_to_b, _) = f.flows(LatchMode::Off, false, false);
    a_to_b.egress.dst = None;
    f.table.apply(&Command::Upsert { key: f.key_a(), flow: a_to_b }).unwrap();
    assert_eq!(f.run(&f.caller_frame(&rtp(1)), 0, 0).0, Verdict::Drop(DropReason::NoRemote));
    let s = f.stats.snapshot(1);
    assert_eq!((s.dropped(FlowDrop::NeighborUnresolved), s.dropped(FlowDrop::NoRemote)), (1, 1));
}

#[test]
fn flow_statistics_count_packets_bytes_loss_and_jitter() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    // 100 packets, 20 ms apart, two lost, one arriving 5 ms late.
    for seq in 0..100u16 {
        if seq == 10 || seq == 50 {
            continue;
        }
        let late = if seq == 98 { 5_000 } else { 0 };
        let (v, _, _) = f.run(&f.caller_frame(&rtp(seq)), 0, seq as u64 * 20_000 + late);
        assert_eq!(v, Verdict::Forward { port_id: 1 });
    }
    let s = f.stats.snapshot(1);
    assert_eq!(s.packets, 98);
    assert_eq!(s.bytes, 98 * 172);
    assert_eq!((s.rtp_received, s.rtp_expected, s.rtp_lost), (98, 100, 2));
    assert_eq!(s.ssrc, 0x1234_5678);
    // A single 5 ms (40-unit) excursion leaves some jitter, below 40.
    assert!(s.jitter > 0 && s.jitter < 40, "{}", s.jitter);
}

#[test]
fn an_update_keeps_state_and_a_remove_forgets_the_flow() {
    let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
    f.run(&f.caller_frame(&rtp(1)), 0, 0);
    // Re-INVITE: the callee moved to another port.
    let (mut a_to_b, _) = f.flows(LatchMode::Off, false, false);
    a_to_b.egress.dst = Some(sa("198.19.0.2:7000"));
    f.table.apply(&Command::Upsert { key: f.key_a(), flow: a_to_b }).unwrap();
    let (_, out, _) = f.run(&f.caller_frame(&rtp(2)), 0, 20_000);
    check_relayed(&out, MAC_B, CALLEE_MAC, None, f.b_local, sa("198.19.0.2:7000"), &rtp(2));
    assert_eq!(f.table.get(&f.key_a()).unwrap().rtp.received(), 2);
    f.table.apply(&Command::Remove { key: f.key_a() }).unwrap();
    assert_eq!(f.run(&f.caller_frame(&rtp(3)), 0, 0).0, Verdict::Drop(DropReason::UnknownFlow));
}

fn any_v4() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 4]>(), 1u16..).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p))
}

fn any_v6() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), 1u16..).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p))
}

fn any_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![any_v4(), any_v6()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the addresses, families, VLAN and payload, the relayed
    /// frame's checksums verify when computed from scratch.
    #[test]
    fn relayed_checksums_always_verify(
        pair_a in any_addr().prop_flat_map(|a| (Just(a), if a.is_ipv4() { any_v4().boxed() } else { any_v6().boxed() })),
        pair_b in any_addr().prop_flat_map(|a| (Just(a), if a.is_ipv4() { any_v4().boxed() } else { any_v6().boxed() })),
        vlan in proptest::option::of(1u16..4095),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        seq in any::<u16>(),
    ) {
        let ((a_local, caller), (b_local, callee)) = (pair_a, pair_b);
        prop_assume!(a_local != caller && b_local != callee);
        let mut f = Fixture::with(&a_local.to_string(), &caller.to_string(), &b_local.to_string(), &callee.to_string(), vlan, LatchMode::Off, false);
        let mut payload = rtp(seq);
        payload.truncate(rtp::HEADER_LEN);
        payload.extend_from_slice(&body);
        let (v, out, _) = f.run(&f.caller_frame(&payload), 0, 0);
        prop_assert_eq!(v, Verdict::Forward { port_id: 1 });
        check_relayed(&out, MAC_B, CALLEE_MAC, vlan, b_local, callee, &payload);
    }

    /// Arbitrary bytes never crash the pipeline and are never forwarded
    /// unless they are a well-formed packet of a flow.
    #[test]
    fn arbitrary_frames_never_crash(mut bytes in proptest::collection::vec(any::<u8>(), 0..400), to_us in any::<bool>()) {
        let mut f = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "198.19.0.1:40000", "198.19.0.2:6000");
        if to_us && bytes.len() >= 6 {
            bytes[..6].copy_from_slice(&MAC_A.0);
        }
        let (v, _, _) = f.run(&bytes, 0, 0);
        let forwarded = matches!(v, Verdict::Forward { .. });
        prop_assert!(!forwarded, "forwarded: {:?}", v);
    }
}

impl Fixture {
    /// Runs frames as one burst received on `port`.
    fn run_burst(&mut self, frames: &[Vec<u8>], port: u16) -> Vec<(Verdict, Vec<u8>)> {
        let mut bufs: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut b = vec![0u8; 2048];
                b[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
                b
            })
            .collect();
        let mut pkts: Vec<PacketBuf<'_>> =
            bufs.iter_mut().zip(frames).map(|(b, f)| PacketBuf::new(b, HEADROOM, f.len())).collect();
        let mut verdicts = vec![Verdict::Drop(DropReason::Runt); frames.len()];
        let mut p = Pipeline {
            worker: 0,
            table: &mut self.table,
            ports: &self.ports,
            flow_stats: &self.stats,
            now_tsc: 0,
            now_us: 0,
        };
        p.process_burst(&mut pkts, port, &vec![None; frames.len()], &mut verdicts, &mut |_| {});
        verdicts.into_iter().zip(pkts.iter().map(|p| p.data().to_vec())).collect()
    }
}

proptest! {
    /// The three-pass burst path gives every packet the verdict and bytes
    /// the one-packet path gives it.
    #[test]
    fn a_burst_is_processed_as_its_packets_one_by_one(
        picks in proptest::collection::vec((0u8..4, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80)), 1..=32),
    ) {
        let mut one = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000");
        let mut many = Fixture::new("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000");
        let frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|(kind, seq, junk)| match kind {
                0 | 1 => one.caller_frame(&rtp(*seq)),
                2 => frame(CALLER_MAC, MAC_A, None, one.caller, sa("198.18.0.1:30002"), &rtp(*seq)),
                _ => junk.clone(),
            })
            .collect();
        let expected: Vec<(Verdict, Vec<u8>)> = frames.iter().map(|f| {
            let (v, out, _) = one.run(f, 0, 0);
            (v, out)
        }).collect();
        let got = many.run_burst(&frames, 0);
        for (i, ((ev, eo), (gv, go))) in expected.iter().zip(&got).enumerate() {
            prop_assert_eq!(ev, gv, "packet {}", i);
            if let Verdict::Forward { .. } = ev {
                prop_assert_eq!(eo, go, "packet {}", i);
            }
        }
    }
}

proptest! {
    /// The same over both legs (IPv4 in, IPv6 out with a VLAN; IPv6 in on a
    /// VLAN, IPv4 out), every latching mode and strict source, with packets
    /// from the remote, from another source (latching, or a drop), RTCP and
    /// junk: the burst, the one-packet path and the full path alone (a
    /// table without a direct index, so no lean path) agree packet by
    /// packet, verdicts, bytes and flow counters.
    #[test]
    fn a_burst_over_every_path_is_processed_as_its_packets_one_by_one(
        side in 0u16..2,
        latch in prop_oneof![Just(LatchMode::Off), Just(LatchMode::Once), Just(LatchMode::Follow)],
        strict in any::<bool>(),
        vlan_b in proptest::option::of(1u16..4095),
        picks in proptest::collection::vec((0u8..6, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 1..=32),
    ) {
        let fixture = || Fixture::with("198.18.0.1:30000", "198.18.0.2:5000", "[2001:db8:2::1]:40000", "[2001:db8:2::2]:6000", vlan_b, latch, strict);
        let (mut one, mut many, mut full) = (fixture(), fixture(), fixture());
        // The reference takes the full path only: no direct index, so no lean path.
        full.table = FlowTable::with_direct_addresses(64, 8, 0);
        let (a_to_b, b_to_a) = full.flows(latch, strict, false);
        full.table.apply(&Command::Upsert { key: full.key_a(), flow: a_to_b }).unwrap();
        full.table.apply(&Command::Upsert { key: full.key_b(), flow: b_to_a }).unwrap();
        full.table.apply(&Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) }).unwrap();
        full.table.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
        let (src_mac, dst_mac, vlan, remote, local, other) = if side == 0 {
            (CALLER_MAC, MAC_A, None, one.caller, one.a_local, sa("198.18.0.9:7000"))
        } else {
            (CALLEE_MAC, MAC_B, vlan_b, one.callee, one.b_local, sa("[2001:db8:2::9]:7000"))
        };
        let frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|(kind, seq, junk)| match kind {
                0 => frame(src_mac, dst_mac, vlan, remote, local, &rtp(*seq)),
                1 => frame(src_mac, dst_mac, vlan, other, local, &rtp(*seq)),
                2 => frame(src_mac, dst_mac, vlan, remote, local, &[0x80, 200, 0, 1, 0, 0, 0, 7]),
                3 => junk.clone(),
                4 => frame(src_mac, dst_mac, vlan, remote, SocketAddr::new(local.ip(), 1), &rtp(*seq)),
                // RTP with another first byte (padding, extension, CSRCs,
                // another version), cut anywhere: the lean relay's checks.
                _ => {
                    let mut p = rtp(*seq);
                    p[0] = match junk.first() {
                        Some(b) if b & 1 == 0 => 0x80 | (b & 0x3f),
                        Some(b) => *b,
                        None => 0x80,
                    };
                    p.truncate(1 + junk.len() * p.len() / 40);
                    frame(src_mac, dst_mac, vlan, remote, local, &p)
                }
            })
            .collect();
        let expected: Vec<(Verdict, Vec<u8>)> = frames.iter().map(|f| {
            let (v, out, _) = one.run(f, side, 0);
            (v, out)
        }).collect();
        let reference: Vec<(Verdict, Vec<u8>)> = frames.iter().map(|f| {
            let (v, out, _) = full.run(f, side, 0);
            (v, out)
        }).collect();
        let got = many.run_burst(&frames, side);
        for (i, (((ev, eo), (gv, go)), (rv, ro))) in expected.iter().zip(&got).zip(&reference).enumerate() {
            prop_assert_eq!(ev, gv, "packet {}", i);
            prop_assert_eq!(ev, rv, "packet {} (full path)", i);
            if let Verdict::Forward { .. } = ev {
                prop_assert_eq!(eo, go, "packet {}", i);
                prop_assert_eq!(eo, ro, "packet {} (full path)", i);
            }
        }
        for id in 0..2 {
            prop_assert_eq!(one.stats.snapshot(id), many.stats.snapshot(id), "flow {}", id);
            prop_assert_eq!(one.stats.snapshot(id), full.stats.snapshot(id), "flow {} (full path)", id);
        }
    }
}
