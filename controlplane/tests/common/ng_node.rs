//! A real node for the ng tests: the control core (`Control`) over the
//! dataplane's workers on two ring ports, interface `public` on `ring:pub`
//! and `private` on `ring:priv`, as `mediafwd` runs it but in the test
//! process. A peer thread plays the hosts on both wires: it answers the
//! node's ARP requests and files the UDP datagrams the node sends by their
//! destination, for the tests to take; tests send media with
//! [`TestNode::send`].
//!
//! The EAL starts once per process: one node per test binary, shared by its
//! tests (unique Call-IDs and media ports per test), started by the first
//! [`node`] call and left running until the process exits.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mediafwd_controlplane::config::{Config, Validated};
use mediafwd_controlplane::control::{self, Control, Event, Reply, Request, Serving, SessionView};
use mediafwd_controlplane::node::Node;
use mediafwd_dataplane::craft::{arp_reply, UdpFrame};
use mediafwd_dataplane::node::RingPort;
use mediafwd_dataplane::wire::ethernet::{self, ethertype, MacAddr};
use mediafwd_dataplane::wire::{arp, ipv4, udp};
use tokio::sync::{broadcast, oneshot};

/// The node's configuration; `{prefix}` is DPDK's file prefix.
const CONFIG: &str = r#"
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
memory_mb = 256
file_prefix = "{prefix}"
eal_args = ["--no-telemetry"]
[dataplane]
max_flows = 8192
mbufs = 4095
idle_sleep_us = 50
[ng]
listen = "127.0.0.1:0"
[sessions]
media_timeout = 3
[[interface]]
name = "public"
device = "ring:pub"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
rtp_ports = "30000-30999"
[[interface]]
name = "private"
device = "ring:priv"
addresses = ["198.19.0.1/24"]
rtp_ports = "40000-40999"
"#;

/// The MACs of the hosts on the public and the private wire.
const PEER_MACS: [MacAddr; 2] = [MacAddr([2, 0, 0, 0, 1, 1]), MacAddr([2, 0, 0, 0, 2, 2])];

/// How long a test waits for the node.
pub const WAIT: Duration = Duration::from_secs(10);

/// A UDP datagram the node sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Its source: the node's address.
    pub src: SocketAddr,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// The running node and the ways into it.
pub struct TestNode {
    /// Its configuration.
    pub config: Validated,
    /// The control core's request queue.
    pub control: Sender<Request>,
    /// The control core's events.
    pub events: broadcast::Sender<Event>,
    ports: [RingPort; 2],
    received: Arc<Mutex<HashMap<SocketAddr, Vec<Datagram>>>>,
}

/// This process's node, started on first use.
pub fn node() -> &'static TestNode {
    static NODE: OnceLock<TestNode> = OnceLock::new();
    NODE.get_or_init(start)
}

/// The configuration of this process's node.
pub fn validated() -> Validated {
    let prefix = format!("mfw-ngc{}", std::process::id());
    Config::parse(&CONFIG.replace("{prefix}", &prefix)).unwrap().validate().unwrap()
}

fn start() -> TestNode {
    let config = validated();
    let (requests, requests_rx) = crossbeam_channel::bounded(4096);
    let (events, _) = broadcast::channel(4096);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (c, ev) = (config.clone(), events.clone());
    // The EAL's main lcore is the thread that starts it: the control loop
    // runs there, as in `mediafwd`.
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let node = Node::start(&c).expect("a node on ring ports");
            let ports = ["pub", "priv"].map(|l| node.io.ring_port(l).expect("ring port"));
            started_tx.send(ports).unwrap();
            let (serving, _) = tokio::sync::watch::channel(Serving::Serving);
            Control::new(node, requests_rx, ev, serving, Arc::new(AtomicBool::new(false))).run();
        })
        .unwrap();
    let ports = started_rx.recv_timeout(Duration::from_secs(60)).expect("the node started");
    // Without hugepages and telemetry the EAL writes nothing in its runtime
    // directory; the node is never shut down, so nothing else would remove it.
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/{}", config.raw.node.file_prefix));
    let received = Arc::new(Mutex::new(HashMap::new()));
    let (p, r) = (ports.clone(), received.clone());
    std::thread::Builder::new().name("peers".into()).spawn(move || play_peers(p, r)).unwrap();
    TestNode { config, control: requests, events, ports, received }
}

/// The hosts on both wires, for the life of the process: ARP answered,
/// UDP filed by destination, anything else (ND, the node's gratuitous ARP)
/// left unanswered.
fn play_peers(ports: [RingPort; 2], received: Arc<Mutex<HashMap<SocketAddr, Vec<Datagram>>>>) {
    loop {
        let mut idle = true;
        for (port, mac) in ports.iter().zip(PEER_MACS) {
            for frame in port.collect() {
                idle = false;
                if is_arp_request_for_a_peer(&frame) {
                    if let Some(reply) = arp_reply(&frame, mac) {
                        let _ = port.inject(&reply);
                    }
                } else if let Some((dst, d)) = udp_of(&frame) {
                    received.lock().unwrap().entry(dst).or_default().push(d);
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn is_arp_request_for_a_peer(frame: &[u8]) -> bool {
    let Ok(e) = ethernet::Frame::new_checked(frame) else { return false };
    if e.ethertype() != ethertype::ARP {
        return false;
    }
    let Ok(a) = arp::Packet::new_checked(e.payload()) else { return false };
    arp::Repr::parse(&a).is_ok_and(|r| r.operation == arp::op::REQUEST && r.sender_ip != r.target_ip)
}

/// The destination and the datagram of an IPv4 UDP frame.
fn udp_of(frame: &[u8]) -> Option<(SocketAddr, Datagram)> {
    let e = ethernet::Frame::new_checked(frame).ok()?;
    if e.ethertype() != ethertype::IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(e.payload()).ok()?;
    if ip.protocol() != 17 {
        return None;
    }
    let u = udp::Datagram::new_checked(ip.payload()).ok()?;
    let src = SocketAddr::new(IpAddr::from(ip.src_addr()), u.src_port());
    let dst = SocketAddr::new(IpAddr::from(ip.dst_addr()), u.dst_port());
    Some((dst, Datagram { src, payload: u.payload().to_vec() }))
}

impl TestNode {
    /// Asks the control core and waits for its answer.
    pub fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, control::Error> {
        let (tx, rx) = oneshot::channel();
        self.control.send(make(tx)).expect("the control loop runs");
        rx.blocking_recv().expect("the control loop answers")
    }

    /// A session, as the core shows it.
    pub fn session(&self, id: &str) -> Option<SessionView> {
        self.ask(|tx| Request::Get(id.to_string(), tx)).ok()
    }

    /// Sends `payload` from the host at `from` to the node's address `to`,
    /// on the wire of `to`'s interface (198.18/24: public, else private).
    pub fn send(&self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        let i = usize::from(!matches!(to.ip(), IpAddr::V4(a) if a.octets()[..3] == [198, 18, 0]));
        let port = &self.ports[i];
        let mut frame = vec![0u8; 64 + payload.len()];
        let len = UdpFrame { src_mac: PEER_MACS[i], dst_mac: port.mac(), vlan: None, src: from, dst: to }
            .emit(&mut frame, payload);
        port.inject(&frame[..len]).expect("the port takes the frame");
    }

    /// Takes the datagrams the node sent to `to` so far.
    pub fn take(&self, to: SocketAddr) -> Vec<Datagram> {
        self.received.lock().unwrap().remove(&to).unwrap_or_default()
    }

    /// Waits (at most [`WAIT`]) until the node sent `n` datagrams to `to`,
    /// and takes them.
    pub fn take_n(&self, to: SocketAddr, n: usize) -> Vec<Datagram> {
        let deadline = Instant::now() + WAIT;
        loop {
            {
                let mut r = self.received.lock().unwrap();
                if r.get(&to).is_some_and(|d| d.len() >= n) {
                    return r.remove(&to).unwrap_or_default();
                }
            }
            let have = self.received.lock().unwrap().get(&to).map_or(0, Vec::len);
            assert!(Instant::now() < deadline, "{have} of {n} datagrams to {to} in {WAIT:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `packet(i)` for i = 0, 1, ... from `from` to the node's `to`,
    /// one every 20 ms, until the node relays one to `at` (the first packets
    /// may wait on the node's ARP); the first datagram relayed, and how many
    /// packets it took.
    pub fn relay_first(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        at: SocketAddr,
        mut packet: impl FnMut(u16) -> Vec<u8>,
    ) -> (Datagram, u16) {
        let deadline = Instant::now() + WAIT;
        for i in 0.. {
            self.send(from, to, &packet(i));
            let until = Instant::now() + Duration::from_millis(20);
            while Instant::now() < until {
                if let Some(d) = self.take(at).into_iter().next() {
                    return (d, i + 1);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(Instant::now() < deadline, "nothing from {from} via {to} reached {at} in {WAIT:?}");
        }
        unreachable!("the deadline ends the loop")
    }
}
