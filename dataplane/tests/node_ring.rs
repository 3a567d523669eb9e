//! A whole node on ring ports, started from a [`NodeConfig`] as the control
//! plane starts it: the EAL, the pool, the ports, the worker, the slow path.
//! The test plays the peers on both wires through [`RingPort`] handles:
//! it answers the node's ARP requests, sends RTP in on one port and reads
//! the relayed frame on the other, then checks the flow, worker and port
//! counters, and shuts the node down.
//!
//! One node per process (the EAL starts once), so one test in this binary.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mediafwd_dataplane::craft::{arp_reply, rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Command, Egress, Flow, FlowKey, Ingress, LatchMode, Media};
use mediafwd_dataplane::node::{Device, EalConfig, InterfaceConfig, Node, NodeConfig, RingPort};
use mediafwd_dataplane::slowpath::{Ipv4Net, SlowPathConfig};
use mediafwd_dataplane::stats::DropReason;
use mediafwd_dataplane::wire::ethernet::{self, ethertype, MacAddr};
use mediafwd_dataplane::wire::{ipv4, rtp, udp};
use mediafwd_dataplane::DataplaneConfig;

const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);
const WAIT: Duration = Duration::from_secs(20);

fn interface(name: &str, label: &str, addr: Ipv4Addr) -> InterfaceConfig {
    InterfaceConfig {
        name: name.into(),
        device: Device::ring(label).unwrap(),
        vlan: None,
        mtu: 1500,
        ipv4: vec![Ipv4Net::new(addr, 24).unwrap()],
        ipv6: Vec::new(),
        gateway4: None,
        gateway6: None,
    }
}

fn config() -> NodeConfig {
    NodeConfig {
        eal: EalConfig {
            main_lcore: 0,
            worker_lcores: vec![1],
            file_prefix: format!("mfw-node-ring-{}", std::process::id()),
            hugepages: false,
            memory_mb: 512,
            extra_args: Vec::new(),
        },
        interfaces: vec![
            interface("public", "pub", Ipv4Addr::new(198, 18, 0, 1)),
            interface("private", "priv", Ipv4Addr::new(198, 19, 0, 1)),
        ],
        mbufs: 8191,
        mbuf_cache: 256,
        rx_desc: 1024,
        tx_desc: 1024,
        slow_path_ring: 1024,
        dataplane: DataplaneConfig { max_flows: 1024, max_next_hops: 64, ..DataplaneConfig::default() },
        slow_path: SlowPathConfig::default(),
    }
}

fn is_arp(frame: &[u8]) -> bool {
    ethernet::Frame::new_checked(frame).is_ok_and(|e| e.ethertype() == ethertype::ARP)
}

/// Whether `frame` is IPv4 UDP: media, not the node's ARP and ND.
fn is_udp(frame: &[u8]) -> bool {
    let Ok(e) = ethernet::Frame::new_checked(frame) else { return false };
    e.ethertype() == ethertype::IPV4 && ipv4::Packet::new_checked(e.payload()).is_ok_and(|ip| ip.protocol() == 17)
}

/// Serves the slow path and plays the peers until every next hop in
/// `hops` has a MAC in the workers; returns the UDP frames seen meanwhile
/// (the node's ARP and its IPv6 link-local announcements are left out).
fn resolve(node: &mut Node, ports: &[(&RingPort, MacAddr)], hops: &[u32]) -> Vec<Vec<u8>> {
    let mut resolved = Vec::new();
    let mut other = Vec::new();
    let deadline = Instant::now() + WAIT;
    while hops.iter().any(|h| !resolved.contains(h)) {
        assert!(Instant::now() < deadline, "next hops {hops:?} not resolved (got {resolved:?})");
        let mut commands = Vec::new();
        node.slow.poll(Instant::now(), &mut commands);
        for c in commands {
            if let Command::SetNeighbor { id, mac: Some(_) } = c {
                resolved.push(id);
            }
            let seq = node.dataplane.send(c);
            assert!(node.dataplane.wait_applied(seq, WAIT));
        }
        for (port, peer) in ports {
            for f in port.collect() {
                match arp_reply(&f, *peer) {
                    Some(reply) => port.inject(&reply).unwrap(),
                    None if is_udp(&f) => other.push(f),
                    None => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    other
}

#[test]
fn a_node_on_ring_ports_resolves_its_peers_relays_rtp_and_counts_it() {
    let mut node = Node::start(&config()).expect("node");
    let a = node.io.ring_port("pub").expect("ring port pub");
    let b = node.io.ring_port("priv").expect("ring port priv");
    assert_eq!(node.io.ring_port("nope").map(|r| r.port_id()), None);
    assert_eq!((a.queues(), b.queues()), (1, 1), "one queue per worker");
    assert_eq!(node.io.interface_port(0).map(|p| (p.id, p.mac)), Some((a.port_id(), a.mac())));
    assert_eq!(node.io.interface_port(1).map(|p| (p.id, p.mac)), Some((b.port_id(), b.mac())));

    // The node announced its addresses: worker 0 sent them for the slow path.
    let announced = a.collect_until(1, WAIT);
    assert!(announced.iter().any(|f| is_arp(f)), "no gratuitous ARP on the public port");

    let a_local: SocketAddr = "198.18.0.1:30000".parse().unwrap();
    let caller: SocketAddr = "198.18.0.2:5004".parse().unwrap();
    let b_local: SocketAddr = "198.19.0.1:40000".parse().unwrap();
    let callee: SocketAddr = "198.19.0.2:6004".parse().unwrap();
    let hop_a = node.slow.resolve(0, caller.ip()).unwrap();
    let hop_b = node.slow.resolve(1, callee.ip()).unwrap();
    let stray = resolve(&mut node, &[(&a, CALLER_MAC), (&b, CALLEE_MAC)], &[hop_a, hop_b]);
    assert!(stray.is_empty(), "{} UDP frames before any flow", stray.len());

    let key_a = FlowKey::new(a.port_id(), a_local.ip(), a_local.port());
    let key_b = FlowKey::new(b.port_id(), b_local.ip(), b_local.port());
    let flow = |id, remote, port: &RingPort, hop, src, dst, reverse| Flow {
        id,
        media: Media::Rtp { rtcp_mux: true },
        ingress: Ingress { vlan: None, remote: Some(remote), latch: LatchMode::Off, strict_source: false },
        egress: Egress { port_id: port.port_id(), vlan: None, src_mac: port.mac(), next_hop: hop, src, dst: Some(dst) },
        rtcp_egress: None,
        reverse: Some(reverse),
        clock_rate: 8000,
    };
    node.dataplane.send(Command::Upsert { key: key_a, flow: flow(0, caller, &b, hop_b, b_local, callee, 1) });
    let seq = node.dataplane.send(Command::Upsert { key: key_b, flow: flow(1, callee, &a, hop_a, a_local, caller, 0) });
    assert!(node.dataplane.wait_applied(seq, WAIT));

    let mut payload = [0u8; 172];
    let n = rtp_packet(&mut payload, 0x1234_5678, 7, 7 * 160, 0, 160, 0xd5);
    let mut frame = [0u8; 256];
    let len = UdpFrame { src_mac: CALLER_MAC, dst_mac: a.mac(), vlan: None, src: caller, dst: a_local }
        .emit(&mut frame, &payload[..n]);
    a.inject(&frame[..len]).unwrap();

    let out = b.collect_until(1, WAIT);
    assert_eq!(out.len(), 1, "one frame relayed");
    let eth = ethernet::Frame::new_checked(&out[0][..]).unwrap();
    assert_eq!((eth.src_addr(), eth.dst_addr()), (b.mac(), CALLEE_MAC));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((IpAddr::from(ip.src_addr()), IpAddr::from(ip.dst_addr())), (b_local.ip(), callee.ip()));
    let u = udp::Datagram::new_checked(ip.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (b_local.port(), callee.port()));
    let r = rtp::Packet::new_checked(u.payload()).unwrap();
    assert_eq!((r.ssrc(), r.sequence_number()), (0x1234_5678, 7));

    let st = node.dataplane.flow_stats(0);
    assert_eq!((st.packets, st.rtp_received), (1, 1));
    assert_eq!(node.dataplane.flow_stats(1).packets, 0);
    let w = &node.dataplane.worker_stats()[0];
    assert!(w.rx_packets >= 1 && w.tx_packets >= 1, "{w:?}");
    let port = |id| node.io.ports().find(|p| p.id == id).unwrap();
    assert!(port(a.port_id()).stats().rx_packets >= 1);
    assert!(port(b.port_id()).stats().tx_packets >= 1);
    assert!(port(a.port_id()).link_up());
    assert_eq!(port(a.port_id()).driver, "net_ring");

    flood_while_streaming(&mut node, &a, &b, &frame[..len], hop_a);

    drop((a, b));
    node.shutdown();
}

/// A flood of spoofed ARP requests, some claiming the caller's address
/// with another MAC, while the call streams: every RTP frame is relayed,
/// the flood is policed on the worker, the replies stay within their
/// budget, and the caller's neighbor entry keeps its MAC.
fn flood_while_streaming(node: &mut Node, a: &RingPort, b: &RingPort, rtp_frame: &[u8], hop_a: u32) {
    const ROUNDS: usize = 40;
    const ARP_PER_ROUND: usize = 200;
    let before = node.dataplane.worker_stats()[0].clone();
    let slow_before = node.slow.stats();
    let mut relayed = 0;
    let mut rtp = rtp_frame.to_vec();
    let started = Instant::now();
    let mut told = Vec::new();
    for round in 0..ROUNDS {
        for i in 0..ARP_PER_ROUND {
            let n = (round * ARP_PER_ROUND + i) as u32;
            // One in 16 claims the caller's address.
            let sender = if n.is_multiple_of(16) {
                Ipv4Addr::new(198, 18, 0, 2)
            } else {
                Ipv4Addr::new(198, 18, 0, 3 + (n % 250) as u8)
            };
            let spoofed = MacAddr([0x02, 0x66, (n >> 16) as u8, (n >> 8) as u8, n as u8, 0x01]);
            let mut f = [0u8; 64];
            let mut peer = mediafwd_dataplane::slowpath::Interface::new("flood", 0, None, spoofed);
            peer.ipv4 = vec![Ipv4Net::new(sender, 24).unwrap()];
            let len =
                mediafwd_dataplane::slowpath::arp::request(&mut f, &peer, Ipv4Addr::new(198, 18, 0, 1), None).unwrap();
            while a.inject(&f[..len]).is_err() {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        // One call packet per round, with the next sequence number.
        rtp[14 + 20 + 8 + 3] = rtp[14 + 20 + 8 + 3].wrapping_add(1);
        let u = 14 + 20;
        rtp[u + 6..u + 8].fill(0);
        a.inject(&rtp).unwrap();
        let mut commands = Vec::new();
        node.slow.poll(Instant::now(), &mut commands);
        for c in commands {
            node.dataplane.send(c.clone());
            told.push(c);
        }
        // The node confirms the caller at its MAC: the caller answers.
        for f in a.collect() {
            if let Some(reply) = arp_reply(&f, CALLER_MAC).filter(|_| f[..6] == CALLER_MAC.0) {
                a.inject(&reply).unwrap();
            }
        }
        relayed += b.collect().iter().filter(|f| is_udp(f)).count();
    }
    let deadline = Instant::now() + WAIT;
    while relayed < ROUNDS && Instant::now() < deadline {
        relayed += b.collect().iter().filter(|f| is_udp(f)).count();
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed().as_secs_f64();
    node.slow.poll(Instant::now(), &mut told);
    assert!(told.is_empty(), "the flood reached the workers: {told:?}");
    assert_eq!(relayed, ROUNDS, "every call packet relayed through the flood");
    let w = &node.dataplane.worker_stats()[0];
    let policed = [DropReason::PolicedArp, DropReason::PolicedSource]
        .map(|r| w.dropped(r) - before.dropped(r))
        .iter()
        .sum::<u64>();
    let punted = w.slow_path - before.slow_path;
    let sent = (ROUNDS * ARP_PER_ROUND) as u64;
    // The worker's budget for broadcast ARP: its burst and its rate over
    // the time taken; besides, the caller's answers to the node's probes.
    let budget = 100 + (1000.0 * elapsed) as u64 + 1;
    assert!(punted <= budget + ROUNDS as u64, "{punted} punted in {elapsed} s");
    assert!(policed + punted >= sent, "{policed} policed and {punted} punted of {sent}");
    let slow = node.slow.stats();
    let replies = slow.arp_replies_out - slow_before.arp_replies_out;
    assert!(replies <= budget, "{replies} ARP replies in {elapsed} s");
    let info = node.slow.neighbors().get(hop_a, Instant::now()).expect("the caller's entry");
    assert_eq!(info.mac, Some(CALLER_MAC), "the caller keeps its MAC");
}
