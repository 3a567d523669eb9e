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

/// `call`'s answer; a call not answered in 10 s is a hang (the control
/// loop waiting for something it must not wait for), not slowness.
async fn within<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call).await.expect("the API did not answer in 10 s")
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
        let answer = self.rt.block_on(within(self.client.create_session(req)));
        answer.unwrap().into_inner()
    }

    fn delete(&mut self, id: &str) {
        let req = pb::DeleteSessionRequest { session_id: id.into() };
        self.rt.block_on(within(self.client.delete_session(req))).unwrap();
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
        api.delete(&format!("call-{i:02}"));
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

/// A scrape of `/metrics`: the value of an unlabelled series.
fn metric(node: &MediaFwd, name: &str) -> f64 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(node.metrics_addr()).unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    c.read_to_string(&mut body).unwrap();
    let line = body.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line[name.len() + 1..].trim().parse().unwrap()
}

#[test]
fn a_hung_store_holds_neither_the_api_nor_the_sessions_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let redis = RedisServer::start();
    let topo = Topology::new("hb", None);
    let group = format!("hung{}", std::process::id());
    let config = topo
        .config(None, &format!("[ha]\nredis_url = \"{}\"\ngroup = \"{group}\"\n", redis.url()))
        .replace("[api]\n", "[api]\nmetrics_listen = \"127.0.0.1:0\"\n");
    let node = MediaFwd::start(&config);
    let mut api = Api::connect(&node);
    for i in 0..10 {
        api.create(&format!("before-{i}"), Some("198.18.0.2:5000"), pb::LatchMode::Off);
    }
    let stored = |redis: &RedisServer| {
        let mut ids: Vec<String> = redis
            .cli(&["SMEMBERS", &format!("mediafwd:{group}:sessions")])
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .filter(|l| !l.is_empty())
            .collect();
        ids.sort();
        ids
    };
    let wait_for = |redis: &RedisServer, want: &[String]| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while stored(redis) != want {
            assert!(Instant::now() < deadline, "store {:?}, node {want:?}:\n{}", stored(redis), node.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let ids = |api: &mut Api| api.list().into_iter().map(|s| s.id).collect::<Vec<_>>();
    wait_for(&redis, &ids(&mut api));

    // Redis stops answering (SIGSTOP); calls come and go meanwhile. A call
    // that waited for Redis would never be answered while it is stopped.
    redis.signal(nix::sys::signal::Signal::SIGSTOP);
    for n in 0..60 {
        api.create(&format!("during-{n}"), Some("198.18.0.2:5000"), pb::LatchMode::Off);
        if n % 3 == 0 {
            api.delete(&format!("during-{n}"));
        }
        if n % 6 == 0 {
            api.delete(&format!("before-{}", n / 6));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&node, "mediafwd_ha_store_up"), 0.0);
    assert!(metric(&node, "mediafwd_ha_write_failures_total") > 0.0);
    assert!(metric(&node, "mediafwd_ha_backlog") > 0.0);
    assert!(node.log_contains("session store unreachable"), "{}", node.log_text());
    redis.signal(nix::sys::signal::Signal::SIGCONT);
    // Caught up: the store holds exactly the node's sessions.
    wait_for(&redis, &ids(&mut api));
    assert_eq!(metric(&node, "mediafwd_ha_backlog"), 0.0);
    assert_eq!(metric(&node, "mediafwd_ha_store_up"), 1.0);
    assert!(node.stop().success());
}
