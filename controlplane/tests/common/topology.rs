//! The two-namespace topology of the end-to-end tests, and RTP streams
//! through it.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mediafwd_dataplane::craft::rtp_packet;

use super::netns::{Bridge, Netns, NodePort, Veth, VlanEndpoint};
use super::node::MediaFwd;

/// One topology at a time: each test runs its own mediafwd on the same cores.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Bridges between the endpoints' veths and several nodes' ports.
// Fields drop in order: ports before their bridges.
struct Segment {
    _ports: Vec<NodePort>,
    _bridges: (Bridge, Bridge),
}

// Fields drop in order: the tagger stops before its namespace goes.
pub struct Topology {
    _segment: Option<Segment>,
    _vlan: Option<VlanEndpoint>,
    _veths: (Veth, Veth),
    pub caller: Netns,
    pub callee: Netns,
    pub tag: String,
}

impl Topology {
    /// caller (198.18.0.2, 2001:db8:1::2) <-> mediafwd "public" |
    /// mediafwd "private" <-> callee (198.19.0.2, 2001:db8:2::2), the
    /// callee side optionally on a VLAN.
    pub fn new(test: &str, callee_vlan: Option<u16>) -> Topology {
        let tag = format!("{}{}", test, std::process::id() % 10000);
        let caller = Netns::new(&format!("mfw-{tag}-caller"));
        let callee = Netns::new(&format!("mfw-{tag}-callee"));
        let callee_addrs = ["198.19.0.2/24", "2001:db8:2::2/64"];
        let a = Veth::new(&format!("m{tag}a"), "eth0", &caller, &["198.18.0.2/24", "2001:db8:1::2/64"]);
        let (b, vlan) = match callee_vlan {
            None => (Veth::new(&format!("m{tag}b"), "eth0", &callee, &callee_addrs), None),
            Some(vid) => {
                let b = Veth::new(&format!("m{tag}b"), "eth0", &callee, &[]);
                (b, Some(VlanEndpoint::new(&callee, "eth0", vid, &callee_addrs)))
            }
        };
        Topology { caller, callee, _veths: (a, b), _vlan: vlan, tag, _segment: None }
    }

    /// The same endpoints on one L2 segment with several nodes: the caller's
    /// and the callee's veths on a bridge each (`{tag}p`, `{tag}q`), and for
    /// each of `nodes` a port on each bridge (`{tag}{node}p`, `{tag}{node}q`,
    /// see [`Topology::node_config`]).
    pub fn bridged(test: &str, nodes: &[&str]) -> Topology {
        let mut t = Topology::new(test, None);
        let tag = &t.tag;
        let (p, q) = (Bridge::new(&format!("{tag}p")), Bridge::new(&format!("{tag}q")));
        p.attach(&format!("m{tag}a"));
        q.attach(&format!("m{tag}b"));
        let ports = nodes
            .iter()
            .flat_map(|n| [NodePort::new(&format!("{tag}{n}p"), &p), NodePort::new(&format!("{tag}{n}q"), &q)])
            .collect();
        t._segment = Some(Segment { _ports: ports, _bridges: (p, q) });
        t
    }

    pub fn config(&self, callee_vlan: Option<u16>, sessions: &str) -> String {
        let tag = &self.tag;
        self.config_on(&format!("mfw-e2e-{tag}"), [format!("m{tag}a"), format!("m{tag}b")], callee_vlan, sessions)
    }

    /// The configuration of node `node` of a [`Topology::bridged`] segment.
    pub fn node_config(&self, node: &str, rest: &str) -> String {
        let tag = &self.tag;
        self.config_on(&format!("mfw-ha-{tag}{node}"), [format!("{tag}{node}p"), format!("{tag}{node}q")], None, rest)
    }

    fn config_on(&self, prefix: &str, [a, b]: [String; 2], callee_vlan: Option<u16>, sessions: &str) -> String {
        let vlan = callee_vlan.map(|v| format!("vlan = {v}\n")).unwrap_or_default();
        format!(
            r#"
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "{prefix}"
stats_log_seconds = 1

[api]
listen = "127.0.0.1:0"

[[interface]]
name = "public"
device = "net_af_packet0,iface={a},framecnt=4096"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]

[[interface]]
name = "private"
device = "net_af_packet1,iface={b},framecnt=4096"
addresses = ["198.19.0.1/24", "2001:db8:2::1/64"]
{vlan}
{sessions}
"#
        )
    }
}

pub fn rtp(seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 172];
    rtp_packet(&mut b, 0xcafe, seq, seq as u32 * 160, 0, 160, seq as u8);
    b
}

/// Sends RTP from `tx` to `to` until the first packet arrives at `rx`
/// (neighbors resolve meanwhile), then `count` more, all of which must
/// arrive from `expect_from`.
pub fn stream(node: &MediaFwd, tx: &UdpSocket, to: SocketAddr, rx: &UdpSocket, expect_from: SocketAddr, count: u16) {
    rx.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0u16;
    loop {
        tx.send_to(&rtp(seq), to).unwrap();
        seq += 1;
        if let Ok((n, from)) = rx.recv_from(&mut buf) {
            check!(node, from == expect_from, "first packet from {from}, expected {expect_from}");
            check!(node, n == 172, "length {n}");
            break;
        }
        check!(node, Instant::now() < deadline, "nothing relayed from {} to {to}", tx.local_addr().unwrap());
    }
    // Drain stragglers of the warm-up.
    while rx.recv_from(&mut buf).is_ok() {}
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..count {
        let s = seq.wrapping_add(i);
        tx.send_to(&rtp(s), to).unwrap();
        let (n, from) = rx.recv_from(&mut buf).unwrap_or_else(|e| panic!("packet {i} lost: {e}\n{}", node.log_text()));
        check!(node, from == expect_from && n == 172 && buf[..n] == rtp(s)[..], "packet {i} from {from}");
    }
}
