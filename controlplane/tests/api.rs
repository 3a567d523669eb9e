//! The gRPC API end to end: the real binary with DPDK ports on veths into
//! two namespaces, programmed over gRPC as a SIP tier would, with kernel
//! sockets as the caller and the callee; and mediafwdctl against it.

#![allow(clippy::result_large_err)] // tonic::Status, the API's error type.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::node::MediaFwd;
use common::topology::{rtp, stream, Topology, SERIAL};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use tonic::transport::Channel;
use tonic::Code;

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

fn leg(label: &str, iface: &str, remote: Option<&str>, latch: pb::LatchMode) -> pb::LegSpec {
    pb::LegSpec {
        label: label.into(),
        interface: iface.into(),
        remote: remote.map(endpoint),
        latch: latch as i32,
        ..Default::default()
    }
}

struct Api {
    rt: tokio::runtime::Runtime,
    client: MediaRelayClient<Channel>,
    addr: SocketAddr,
}

impl Api {
    fn connect(node: &MediaFwd) -> Api {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let addr = node.api_addr();
        let client = rt.block_on(MediaRelayClient::connect(format!("http://{addr}"))).expect("connect to the API");
        Api { rt, client, addr }
    }

    fn create(&mut self, req: pb::CreateSessionRequest) -> Result<pb::Session, tonic::Status> {
        self.rt.block_on(self.client.create_session(req)).map(|r| r.into_inner())
    }

    fn update(&mut self, req: pb::UpdateLegRequest) -> Result<pb::Session, tonic::Status> {
        self.rt.block_on(self.client.update_leg(req)).map(|r| r.into_inner())
    }

    fn get(&mut self, id: &str) -> Result<pb::Session, tonic::Status> {
        self.rt
            .block_on(self.client.get_session(pb::GetSessionRequest { session_id: id.into() }))
            .map(|r| r.into_inner())
    }

    fn delete(&mut self, id: &str) -> Result<pb::Session, tonic::Status> {
        self.rt
            .block_on(self.client.delete_session(pb::DeleteSessionRequest { session_id: id.into() }))
            .map(|r| r.into_inner())
    }

    /// A session with both remotes known (caller 198.18.0.2:5000, callee
    /// 198.19.0.2:6000); our two local addresses.
    fn call(&mut self, id: &str, latch: pb::LatchMode) -> (SocketAddr, SocketAddr) {
        let mut req = offer(id, latch);
        req.legs[1].remote = Some(endpoint("198.19.0.2:6000"));
        let s = self.create(req).unwrap();
        (sock(&s.legs[0].local), sock(&s.legs[1].local))
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_mediafwdctl"))
            .args(["--server", &format!("http://{}", self.addr)])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "mediafwdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// One test's topology, node and API client; they drop node first, then
/// the namespaces, then the turn.
fn setup(tag: &str) -> (std::sync::MutexGuard<'static, ()>, Topology, MediaFwd, Api) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new(tag, None);
    let node = MediaFwd::start(&topo.config(None, ""));
    let api = Api::connect(&node);
    (serial, topo, node, api)
}

fn offer(id: &str, latch: pb::LatchMode) -> pb::CreateSessionRequest {
    pb::CreateSessionRequest {
        session_id: id.into(),
        legs: vec![
            leg("caller", "public", Some("198.18.0.2:5000"), latch),
            leg("callee", "private", None, pb::LatchMode::Off),
        ],
        media_timeout_seconds: 0,
        max_lifetime_seconds: 0,
    }
}

#[test]
fn a_call_set_up_moved_and_torn_down_over_grpc() {
    let (_serial, topo, node, mut api) = setup("g");

    // Offer: the caller's endpoint is known; mediafwd allocates both legs.
    let s = api.create(offer("call-1@example", pb::LatchMode::Off)).unwrap();
    assert_eq!(s.state, pb::SessionState::Pending as i32);
    let (a, b) = (sock(&s.legs[0].local), sock(&s.legs[1].local));
    assert_eq!(a.ip().to_string(), "198.18.0.1");
    assert_eq!(b.ip().to_string(), "198.19.0.1");
    assert_eq!(a.port() % 2, 0);
    assert_eq!(sock(&s.legs[0].local_rtcp).port(), a.port() + 1);
    // A retransmitted offer gets the same allocation.
    let again = api.create(offer("call-1@example", pb::LatchMode::Off)).unwrap();
    assert_eq!((sock(&again.legs[0].local), sock(&again.legs[1].local)), (a, b));

    // Answer: the callee's endpoint.
    let s = api
        .update(pb::UpdateLegRequest {
            session_id: "call-1@example".into(),
            leg: "callee".into(),
            remote: Some(endpoint("198.19.0.2:6000")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s.state, pb::SessionState::Active as i32);

    let caller = topo.caller.udp_socket(p("198.18.0.2:5000"));
    let callee = topo.callee.udp_socket(p("198.19.0.2:6000"));
    stream(&node, &caller, a, &callee, b, 50);
    stream(&node, &callee, b, &caller, a, 50);
    let s = api.get("call-1@example").unwrap();
    let st = s.legs[0].stats.clone().unwrap();
    assert!(st.packets >= 50 && st.bytes >= 50 * 160, "{st:?}");
    assert_eq!(st.rtp.unwrap().ssrc, 0xcafe);

    // mediafwdctl shows the session and the node.
    let listed = api.ctl(&["sessions", "list"]);
    assert!(listed.contains("call-1@example") && listed.contains("active"), "{listed}");
    let shown = api.ctl(&["sessions", "show", "call-1@example"]);
    assert!(shown.contains("caller") && shown.contains("198.19.0.2:6000"), "{shown}");
    let stats = api.ctl(&["stats"]);
    assert!(stats.contains("net_af_packet") && stats.contains("public"), "{stats}");
    let json: serde_json::Value =
        serde_json::from_str(&api.ctl(&["--json", "sessions", "show", "call-1@example"])).unwrap();
    assert_eq!(json["id"], "call-1@example");
    assert_eq!(api.ctl(&["health"]).trim(), "SERVING");

    // Re-INVITE: the callee moves to another port.
    let moved = topo.callee.udp_socket(p("198.19.0.2:6100"));
    api.update(pb::UpdateLegRequest {
        session_id: "call-1@example".into(),
        leg: "callee".into(),
        remote: Some(endpoint("198.19.0.2:6100")),
        ..Default::default()
    })
    .unwrap();
    stream(&node, &caller, a, &moved, b, 20);

    // Hold: nothing reaches the callee; unhold: media resumes.
    api.update(pb::UpdateLegRequest {
        session_id: "call-1@example".into(),
        leg: "callee".into(),
        hold: Some(true),
        ..Default::default()
    })
    .unwrap();
    moved.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 2048];
    while moved.recv_from(&mut buf).is_ok() {}
    caller.send_to(&rtp(1), a).unwrap();
    assert!(moved.recv_from(&mut buf).is_err(), "media reached a held leg");
    api.update(pb::UpdateLegRequest {
        session_id: "call-1@example".into(),
        leg: "callee".into(),
        hold: Some(false),
        ..Default::default()
    })
    .unwrap();
    stream(&node, &caller, a, &moved, b, 10);

    // BYE: final statistics, then nothing is relayed.
    let last = api.delete("call-1@example").unwrap();
    assert_eq!(last.state, pb::SessionState::Ended as i32);
    assert_eq!(last.end_reason, pb::EndReason::Deleted as i32);
    assert!(last.legs[0].stats.clone().unwrap().packets >= st.packets + 30);
    caller.send_to(&rtp(9), a).unwrap();
    assert!(moved.recv_from(&mut buf).is_err(), "a deleted session relayed");
    assert_eq!(api.get("call-1@example").unwrap_err().code(), Code::NotFound);
    assert!(node.stop().success());
}

#[test]
fn latching_follows_a_nat_port_change_and_reports_it() {
    let (_serial, topo, node, mut api) = setup("l");
    let (a, b) = api.call("nat", pb::LatchMode::Follow);
    let mut events = api
        .rt
        .block_on(api.client.watch_events(pb::WatchEventsRequest { session_id: "nat".into() }))
        .unwrap()
        .into_inner();

    let callee = topo.callee.udp_socket(p("198.19.0.2:6000"));
    // The caller's NAT picked another port than its SDP said.
    let natted = topo.caller.udp_socket(p("198.18.0.2:40123"));
    stream(&node, &natted, a, &callee, b, 10);
    // The callee's media now reaches the NAT's port.
    stream(&node, &callee, b, &natted, a, 10);
    let e = api
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), events.message()).await })
        .expect("event in time")
        .unwrap()
        .unwrap();
    match e.kind {
        Some(pb::event::Kind::Latched(l)) => {
            assert_eq!(l.leg, "caller");
            assert_eq!(sock(&l.remote), p("198.18.0.2:40123"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sock(&api.get("nat").unwrap().legs[0].latched), p("198.18.0.2:40123"));
    // It moves again, and the media follows.
    let moved = topo.caller.udp_socket(p("198.18.0.2:40999"));
    stream(&node, &moved, a, &callee, b, 5);
    stream(&node, &callee, b, &moved, a, 5);
    assert!(node.stop().success());
}

#[test]
fn an_idle_session_times_out_with_an_event() {
    let (_serial, _topo, node, mut api) = setup("i");
    let mut events = api.rt.block_on(api.client.watch_events(pb::WatchEventsRequest::default())).unwrap().into_inner();
    let mut req = offer("idle", pb::LatchMode::Off);
    req.media_timeout_seconds = 2;
    api.create(req).unwrap();
    let started = Instant::now();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let e = api
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), events.message()).await })
            .expect("timeout event in time")
            .unwrap()
            .unwrap();
        assert_eq!(e.session_id, "idle");
        kinds.push(e.kind.unwrap());
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(matches!(kinds[0], pb::event::Kind::MediaTimeout(_)), "{kinds:?}");
    match &kinds[1] {
        pb::event::Kind::SessionEnded(e) => assert_eq!(e.reason, pb::EndReason::MediaTimeout as i32),
        k => panic!("{k:?}"),
    }
    assert_eq!(api.get("idle").unwrap_err().code(), Code::NotFound);
    assert!(node.stop().success());
}

#[test]
fn max_sessions_refuses_the_session_beyond_it_with_resource_exhausted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("x", None);
    let node = MediaFwd::start(&topo.config(None, "[sessions]\nmax_sessions = 1\n"));
    let mut api = Api::connect(&node);
    api.create(offer("first", pb::LatchMode::Off)).unwrap();
    // A retransmission of the first is answered; a second session is not.
    api.create(offer("first", pb::LatchMode::Off)).unwrap();
    let e = api.create(offer("second", pb::LatchMode::Off)).unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("sessions.max_sessions"), "{}", e.message());
    assert_eq!(api.get("second").unwrap_err().code(), Code::NotFound);
    api.delete("first").unwrap();
    api.create(offer("second", pb::LatchMode::Off)).unwrap();
    assert!(node.stop().success());
}

#[test]
fn drain_refuses_new_sessions_and_keeps_relaying_the_existing_ones() {
    let (_serial, topo, node, mut api) = setup("d");
    let (a, b) = api.call("live", pb::LatchMode::Off);
    let out = api.ctl(&["drain", "--reason", "upgrade", "--exit-when-empty"]);
    assert!(out.contains("1 sessions remaining"), "{out}");
    let refused = api.create(offer("new", pb::LatchMode::Off)).unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(refused.message().contains("upgrade"), "{}", refused.message());
    assert_eq!(api.ctl(&["health"]).trim(), "NOT_SERVING");
    let caller = topo.caller.udp_socket(p("198.18.0.2:5000"));
    let callee = topo.callee.udp_socket(p("198.19.0.2:6000"));
    stream(&node, &caller, a, &callee, b, 20);
    // The last session ends: the node exits by itself.
    api.delete("live").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log_contains("drained") {
        assert!(Instant::now() < deadline, "node did not exit when drained\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(node.stop().success());
}

#[test]
fn bad_requests_get_the_right_status_and_change_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("b", None);
    let node = MediaFwd::start(&topo.config(None, "").replace(
        "addresses = [\"198.19.0.1/24\", \"2001:db8:2::1/64\"]",
        "addresses = [\"198.19.0.1/24\", \"2001:db8:2::1/64\"]\nrtp_ports = \"40000-40003\"",
    ));
    let mut api = Api::connect(&node);
    let bad = |f: &dyn Fn(&mut pb::CreateSessionRequest)| {
        let mut r = offer("bad", pb::LatchMode::Off);
        f(&mut r);
        r
    };
    let cases: Vec<(pb::CreateSessionRequest, Code, &str)> = vec![
        (bad(&|r| r.session_id.clear()), Code::InvalidArgument, "session_id"),
        (bad(&|r| r.legs.pop().map(|_| ()).unwrap()), Code::InvalidArgument, "legs"),
        (bad(&|r| r.legs[1].interface = "dmz".into()), Code::InvalidArgument, "legs[1].interface"),
        (
            bad(&|r| r.legs[0].remote = Some(pb::Endpoint { address: "198.18.0.300".into(), port: 5000 })),
            Code::InvalidArgument,
            "legs[0].remote.address",
        ),
        (
            bad(&|r| r.legs[0].remote = Some(pb::Endpoint { address: "198.18.0.2".into(), port: 70000 })),
            Code::InvalidArgument,
            "legs[0].remote.port",
        ),
        (bad(&|r| r.legs[0].latch = 42), Code::InvalidArgument, "legs[0].latch"),
        (
            bad(&|r| {
                r.legs[0].srtp_inbound = Some(pb::SrtpParams { suite: "NOT_A_SUITE".into(), ..Default::default() })
            }),
            Code::InvalidArgument,
            "legs[0].srtp_inbound.suite",
        ),
    ];
    for (req, code, field) in cases {
        let e = api.create(req).unwrap_err();
        assert_eq!(e.code(), code, "{field}: {}", e.message());
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    }
    // Conflicting retransmission.
    api.create(offer("x", pb::LatchMode::Off)).unwrap();
    let mut other = offer("x", pb::LatchMode::Off);
    other.legs[0].remote = Some(endpoint("198.18.0.2:5555"));
    assert_eq!(api.create(other).unwrap_err().code(), Code::AlreadyExists);
    // A failing update leaves the session as it was.
    let before = api.get("x").unwrap();
    let e = api
        .update(pb::UpdateLegRequest {
            session_id: "x".into(),
            leg: "callee".into(),
            remote: Some(endpoint("[2001:db8:9::9]:1")),
            rtcp_mux: Some(true),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let after = api.get("x").unwrap();
    assert_eq!(
        (after.legs[1].remote.clone(), after.legs[1].rtcp_mux),
        (before.legs[1].remote.clone(), before.legs[1].rtcp_mux)
    );
    assert_eq!(
        api.update(pb::UpdateLegRequest { session_id: "nope".into(), leg: "callee".into(), ..Default::default() })
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // The private interface has two port pairs: the third session exhausts it.
    api.create(offer("y", pb::LatchMode::Off)).unwrap();
    let e = api.create(offer("z", pb::LatchMode::Off)).unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("private"), "{}", e.message());
    assert!(node.stop().success());
}

#[test]
fn mutual_tls_rejects_a_client_without_a_certificate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = issue("localhost");
    let (client_cert, client_key) = issue("sip-proxy");
    let write = |n: &str, s: &str| {
        let path = dir.path().join(n);
        std::fs::write(&path, s).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (ca_pem, sc, sk, cc, ck) = (
        write("ca.pem", &ca.pem()),
        write("server.pem", &server_cert),
        write("server.key", &server_key),
        write("client.pem", &client_cert),
        write("client.key", &client_key),
    );
    let topo = Topology::new("s", None);
    let tls = format!("[api]\ntls_cert = \"{sc}\"\ntls_key = \"{sk}\"\ntls_client_ca = \"{ca_pem}\"\n");
    let node = MediaFwd::start(&topo.config(None, "").replace("[api]\n", &tls));
    let server = format!("https://localhost:{}", node.api_addr().port());
    let ctl = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mediafwdctl"))
            .args(["--server", &server, "--ca", &ca_pem])
            .args(extra)
            .arg("health")
            .output()
            .unwrap()
    };
    let refused = ctl(&[]);
    assert!(!refused.status.success(), "a client without a certificate was served");
    let served = ctl(&["--cert", &cc, "--key", &ck]);
    assert!(served.status.success(), "{}", String::from_utf8_lossy(&served.stderr));
    assert_eq!(String::from_utf8_lossy(&served.stdout).trim(), "SERVING");
    assert!(node.stop().success());
}
