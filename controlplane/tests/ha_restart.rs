//! Restart in place: the real binary keeps its sessions in a real Redis,
//! is killed with SIGKILL, starts again with the same configuration and,
//! before its API answers, has every session back on the same ports, with
//! its latches; media flows again.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::node::MediaFwd;
use common::topology::{stream, Topology, SERIAL};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use redis_server::RedisServer;

fn p(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(s: &str) -> pb::Endpoint {
    let a = p(s);
    pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 }
}

fn sock(e: &Option<pb::Endpoint>) -> SocketAddr {
    let e = e.as_ref().expect("endpoint");
    SocketAddr::new(e.address.parse().unwrap(), e.port as u16)
}

struct Api {
    rt: tokio::runtime::Runtime,
    client: MediaRelayClient<tonic::transport::Channel>,
}

impl Api {
    fn connect(node: &MediaFwd) -> Api {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(MediaRelayClient::connect(format!("http://{}", node.api_addr()))).unwrap();
        Api { rt, client }
    }

    fn create(&mut self, id: &str, caller: Option<&str>, latch: pb::LatchMode) -> pb::Session {
        let leg = |label: &str, iface: &str, remote: Option<&str>, latch: pb::LatchMode| pb::LegSpec {
            label: label.into(),
            interface: iface.into(),
            remote: remote.map(endpoint),
            latch: latch as i32,
            ..Default::default()
        };
        let req = pb::CreateSessionRequest {
            session_id: id.into(),
            legs: vec![
                leg("caller", "public", caller, latch),
                leg("callee", "private", Some("198.19.0.2:6000"), pb::LatchMode::Off),
            ],
            media_timeout_seconds: 0,
            max_lifetime_seconds: 0,
        };
        self.rt.block_on(self.client.create_session(req)).unwrap().into_inner()
    }

    fn list(&mut self) -> Vec<pb::Session> {
        let req = pb::ListSessionsRequest::default();
        let mut s = self.rt.block_on(self.client.list_sessions(req)).unwrap().into_inner().sessions;
        s.sort_by(|a, b| a.id.cmp(&b.id));
        s
    }
}

/// What must come back: id, local addresses, configured and latched remotes.
fn durable(s: &pb::Session) -> Vec<(String, SocketAddr, Option<SocketAddr>, Option<SocketAddr>)> {
    s.legs
        .iter()
        .map(|l| {
            let opt = |e: &Option<pb::Endpoint>| e.as_ref().filter(|e| !e.address.is_empty()).map(|_| sock(e));
            (s.id.clone(), sock(&l.local), opt(&l.remote), opt(&l.latched))
        })
        .collect()
}

#[test]
fn a_node_killed_and_restarted_has_its_sessions_and_relays_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let redis = RedisServer::start();
    let topo = Topology::new("ha", None);
    let group = format!("restart{}", std::process::id());
    let config = topo.config(None, &format!("[ha]\nredis_url = \"{}\"\ngroup = \"{group}\"\n", redis.url()));
    let node = MediaFwd::start(&config);
    let mut api = Api::connect(&node);

    // Some sessions, one of them latched to a NAT's port, some ended.
    for i in 0..20 {
        api.create(&format!("call-{i:02}"), Some("198.18.0.2:5000"), pb::LatchMode::Off);
    }
    let nat = api.create("nat", Some("198.18.0.2:5000"), pb::LatchMode::Follow);
    let (a, b) = (sock(&nat.legs[0].local), sock(&nat.legs[1].local));
    for i in 0..5 {
        let req = pb::DeleteSessionRequest { session_id: format!("call-{i:02}") };
        api.rt.block_on(api.client.delete_session(req)).unwrap();
    }
    let callee = topo.callee.udp_socket(p("198.19.0.2:6000"));
    let natted = topo.caller.udp_socket(p("198.18.0.2:40123"));
    stream(&node, &natted, a, &callee, b, 10);
    let before = api.list();
    assert_eq!(before.len(), 16);
    let latched = before.iter().find(|s| s.id == "nat").unwrap().legs[0].latched.clone();
    assert_eq!(sock(&latched), p("198.18.0.2:40123"));

    // Everything is in the store (written off the control loop: wait).
    let key = format!("mediafwd:{group}:session:nat");
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.cli(&["SCARD", &format!("mediafwd:{group}:sessions")]).as_deref() != Some("16")
        || !redis.cli(&["GET", &key]).unwrap_or_default().contains("40123")
    {
        assert!(Instant::now() < deadline, "the store did not catch up:\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }

    node.kill();
    let node = MediaFwd::start(&config);
    assert!(node.log_contains("sessions restored from the store"), "{}", node.log_text());
    let mut api = Api::connect(&node);
    // The first answer of the API already has them all.
    let after = api.list();
    assert_eq!(after.iter().map(durable).collect::<Vec<_>>(), before.iter().map(durable).collect::<Vec<_>>());

    // The latched leg's media reaches the NAT's port before the caller sends.
    stream(&node, &callee, b, &natted, a, 10);
    stream(&node, &natted, a, &callee, b, 10);
    // A plain call relays both ways on its old ports.
    let call = after.iter().find(|s| s.id == "call-07").unwrap();
    let (ca, cb) = (sock(&call.legs[0].local), sock(&call.legs[1].local));
    let caller = topo.caller.udp_socket(p("198.18.0.2:5000"));
    stream(&node, &caller, ca, &callee, cb, 10);
    stream(&node, &callee, cb, &caller, ca, 10);
    // And new sessions get ports the restored ones do not hold.
    let new = api.create("new", Some("198.18.0.2:5000"), pb::LatchMode::Off);
    let held: Vec<SocketAddr> = after.iter().flat_map(|s| s.legs.iter().map(|l| sock(&l.local))).collect();
    assert!(new.legs.iter().all(|l| !held.contains(&sock(&l.local))));
    assert!(node.stop().success());
}
