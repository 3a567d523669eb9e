//! mediafwd on a network: the real binary with DPDK ports (net_af_packet)
//! on veth pairs into two network namespaces, a caller and a callee, with
//! kernel UDP sockets as endpoints. No static neighbor entries anywhere:
//! the namespaces resolve mediafwd's addresses by ARP/ND, and mediafwd
//! resolves theirs.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::netns::Netns;
use common::node::MediaFwd;
use common::topology::{rtp, stream, Topology, SERIAL};

const SESSIONS: &str = r#"
[[static_session]]
id = "v4"
legs = [
  { interface = "public", local_port = 30000, remote = "198.18.0.2:5000" },
  { interface = "private", local_port = 30000, remote = "198.19.0.2:6000" },
]

[[static_session]]
id = "v6"
legs = [
  { interface = "public", local_port = 30002, remote = "[2001:db8:1::2]:5002" },
  { interface = "private", local_port = 30002, remote = "[2001:db8:2::2]:6002" },
]

[[static_session]]
id = "v4-to-v6"
legs = [
  { interface = "public", local_port = 30004, remote = "198.18.0.2:5004" },
  { interface = "private", local_port = 30004, remote = "[2001:db8:2::2]:6004" },
]
"#;

fn ping(ns: &Netns, addr: &str) -> bool {
    let v6 = addr.contains(':');
    let out = ns.try_exec(&["ping", if v6 { "-6" } else { "-4" }, "-c", "2", "-i", "0.2", "-W", "2", addr]);
    out.status.success()
}

#[test]
fn relays_ipv4_ipv6_and_ipv4_to_ipv6_with_arp_nd_and_ping() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("r", None);
    let node = MediaFwd::start(&topo.config(None, SESSIONS));

    // Ping mediafwd's addresses (answered by its slow path).
    check!(node, ping(&topo.caller, "198.18.0.1"), "IPv4 ping");
    check!(node, ping(&topo.caller, "2001:db8:1::1"), "IPv6 ping");

    for (caller_at, mf_a, mf_b, callee_at) in [
        ("198.18.0.2:5000", "198.18.0.1:30000", "198.19.0.1:30000", "198.19.0.2:6000"),
        ("[2001:db8:1::2]:5002", "[2001:db8:1::1]:30002", "[2001:db8:2::1]:30002", "[2001:db8:2::2]:6002"),
        ("198.18.0.2:5004", "198.18.0.1:30004", "[2001:db8:2::1]:30004", "[2001:db8:2::2]:6004"),
    ] {
        let p = |s: &str| s.parse::<SocketAddr>().unwrap();
        let caller = topo.caller.udp_socket(p(caller_at));
        let callee = topo.callee.udp_socket(p(callee_at));
        stream(&node, &caller, p(mf_a), &callee, p(mf_b), 100);
        stream(&node, &callee, p(mf_b), &caller, p(mf_a), 100);
    }
    let status = node.stop();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_vlan_tagged_interface_relays() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("v", Some(120));
    let node = MediaFwd::start(&topo.config(Some(120), SESSIONS));
    check!(node, ping(&topo.callee, "198.19.0.1"), "ping over the VLAN");
    let caller = topo.caller.udp_socket("198.18.0.2:5000".parse().unwrap());
    let callee = topo.callee.udp_socket("198.19.0.2:6000".parse().unwrap());
    stream(&node, &caller, "198.18.0.1:30000".parse().unwrap(), &callee, "198.19.0.1:30000".parse().unwrap(), 50);
    stream(&node, &callee, "198.19.0.1:30000".parse().unwrap(), &caller, "198.18.0.1:30000".parse().unwrap(), 50);
    assert!(node.stop().success());
}

#[test]
fn sigterm_while_forwarding_exits_cleanly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("t", None);
    let node = MediaFwd::start(&topo.config(None, SESSIONS));
    let caller = topo.caller.udp_socket("198.18.0.2:5000".parse().unwrap());
    let callee = topo.callee.udp_socket("198.19.0.2:6000".parse().unwrap());
    stream(&node, &caller, "198.18.0.1:30000".parse().unwrap(), &callee, "198.19.0.1:30000".parse().unwrap(), 10);
    // Keep sending from another thread while the node stops.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        let caller = caller.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut seq = 0u16;
            let until = Instant::now() + Duration::from_secs(10);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                let _ = caller.send_to(&rtp(seq), "198.18.0.1:30000".parse::<SocketAddr>().unwrap());
                seq = seq.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = node.stop();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopping took {:?}", started.elapsed());
    // The port is released: a new node can take the same veths at once.
    let again = MediaFwd::start(&topo.config(None, ""));
    assert!(again.stop().success());
}

#[test]
fn a_device_that_does_not_exist_fails_at_start_naming_the_field() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[node]
hugepages = false
file_prefix = "mfw-e2e-bad"
[[interface]]
name = "public"
device = "net_af_packet0,iface=mfw-nonexistent"
addresses = ["198.18.0.1/24"]
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mediafwd"))
        .args(["-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("interface[0].device") || err.contains("EAL"), "{err}");
}
