//! Network namespaces and veth pairs made by a test, removed when dropped
//! (also when the test fails). Addresses come from 198.18.0.0/15 and
//! 2001:db8::/32 only.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Command, Output};

/// Runs a command, panicking with its output when it fails.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        run(&["ip", "netns", "add", name]);
        let ns = Netns { name: name.to_string() };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Like `exec`, returning the output whatever the exit status.
    pub fn try_exec(&self, args: &[&str]) -> Output {
        Command::new("ip").args(["netns", "exec", &self.name]).args(args).output().expect("ip netns exec")
    }

    /// A UDP socket bound to `addr` inside the namespace.
    pub fn udp_socket(&self, addr: SocketAddr) -> UdpSocket {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                // setns changes the namespace of this thread only; the socket
                // keeps the namespace it was created in.
                let f = std::fs::File::open(&path).expect("netns file");
                nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in {}: {e}", self.name))
            })
            .join()
            .expect("socket thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A veth pair: `host` stays in the root namespace (for a DPDK port, with no
/// address and IPv6 off), `peer` moves into a namespace with addresses.
pub struct Veth {
    pub host: String,
}

impl Veth {
    /// `addresses` go on `peer`. The peer's checksum offload is turned off:
    /// over veth the kernel would leave UDP checksums partial (the wire
    /// never sees such frames), and af_packet hands them to DPDK as they are.
    pub fn new(host: &str, peer: &str, ns: &Netns, addresses: &[&str]) -> Veth {
        let _ = Command::new("ip").args(["link", "del", host]).output();
        run(&["ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", &ns.name]);
        let veth = Veth { host: host.to_string() };
        let _ = Command::new("sysctl").args(["-qw", &format!("net.ipv6.conf.{host}.disable_ipv6=1")]).output();
        run(&["ip", "link", "set", host, "up"]);
        ns.exec(&["ip", "link", "set", peer, "up"]);
        ns.exec(&["ethtool", "-K", peer, "tx", "off"]);
        let dev = peer;
        for a in addresses {
            // nodad: the address is usable at once.
            if a.contains(':') {
                ns.exec(&["ip", "addr", "add", a, "dev", dev, "nodad"]);
            } else {
                ns.exec(&["ip", "addr", "add", a, "dev", dev]);
            }
        }
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host]).output();
    }
}

/// A bridge in the root namespace, without addresses; deleted on drop.
pub struct Bridge(pub String);

impl Bridge {
    pub fn new(name: &str) -> Bridge {
        let _ = Command::new("ip").args(["link", "del", name]).output();
        run(&["ip", "link", "add", "name", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
        let _ = Command::new("sysctl").args(["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")]).output();
        run(&["ip", "link", "set", name, "up"]);
        Bridge(name.into())
    }

    pub fn attach(&self, port: &str) {
        run(&["ip", "link", "set", port, "master", &self.0]);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// A veth pair in the root namespace: `dpdk` for a node's af_packet port,
/// `{dpdk}x` on a bridge. Deleted on drop.
pub struct NodePort(pub String);

impl NodePort {
    pub fn new(dpdk: &str, bridge: &Bridge) -> NodePort {
        let bridged = format!("{dpdk}x");
        let _ = Command::new("ip").args(["link", "del", dpdk]).output();
        run(&["ip", "link", "add", dpdk, "type", "veth", "peer", "name", &bridged]);
        for dev in [dpdk, bridged.as_str()] {
            let _ = Command::new("sysctl").args(["-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")]).output();
            run(&["ip", "link", "set", dev, "up"]);
        }
        bridge.attach(&bridged);
        NodePort(dpdk.into())
    }
}

impl Drop for NodePort {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// A VLAN-tagged endpoint inside `ns` on a kernel without 802.1Q support:
/// `trunk` (the veth towards mediafwd) carries VLAN `vid`, which a small
/// user-space tagger bridges to an inner veth pair whose far end `inner`
/// holds `addresses`. Stopped (by PID) on drop.
pub struct VlanEndpoint {
    tagger: std::process::Child,
}

impl VlanEndpoint {
    pub fn new(ns: &Netns, trunk: &str, vid: u16, addresses: &[&str]) -> VlanEndpoint {
        ns.exec(&["ip", "link", "add", "acc0", "type", "veth", "peer", "name", "inner"]);
        for dev in ["acc0", "inner"] {
            ns.exec(&["ip", "link", "set", dev, "up"]);
            ns.exec(&["ethtool", "-K", dev, "tx", "off"]);
        }
        let _ = ns.try_exec(&["sysctl", "-qw", "net.ipv6.conf.acc0.disable_ipv6=1"]);
        for a in addresses {
            let mut args = vec!["ip", "addr", "add", a, "dev", "inner"];
            if a.contains(':') {
                args.push("nodad");
            }
            ns.exec(&args);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vlan_tagger.py");
        let mut tagger = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", script, trunk, "acc0", &vid.to_string(), "120"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the VLAN tagger");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(tagger.stdout.as_mut().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "VLAN tagger did not start");
        VlanEndpoint { tagger }
    }
}

impl Drop for VlanEndpoint {
    fn drop(&mut self) {
        let _ = self.tagger.kill();
        let _ = self.tagger.wait();
    }
}
