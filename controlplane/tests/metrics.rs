//! `/metrics` end to end: the real binary relaying RTP between kernel
//! sockets in two namespaces, a session made over gRPC, and two scrapes
//! between which the counters must move.

#![allow(clippy::result_large_err)] // tonic::Status, the API's error type.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::node::MediaFwd;
use common::prometheus::{parse, sum, value, Sample};
use common::topology::{stream, Topology, SERIAL};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

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

/// GET `path` over HTTP/1.1; (status line, content type, body).
fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
            .unwrap_or_default()
            .to_string()
    };
    let body = if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n").expect("chunk size");
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (head.lines().next().unwrap_or_default().to_string(), header("content-type"), body)
}

fn scrape(node: &MediaFwd) -> Vec<Sample> {
    let (status, ctype, body) = get(node.metrics_addr(), "/metrics");
    assert!(status.contains(" 200"), "{status}\n{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    parse(&body).unwrap_or_else(|e| panic!("invalid exposition text: {e}\n{body}"))
}

fn v(s: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(s, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}"))
}

#[test]
fn metrics_move_while_a_node_relays_a_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("m", None);
    let config = topo.config(None, "").replace("[api]\n", "[api]\nmetrics_listen = \"127.0.0.1:0\"\n");
    let node = MediaFwd::start(&config);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let channel = rt
        .block_on(tonic::transport::Endpoint::from_shared(format!("http://{}", node.api_addr())).unwrap().connect())
        .expect("connect to the API");
    let mut api = MediaRelayClient::new(channel.clone());
    let health = HealthClient::new(channel);

    let leg = |label: &str, iface: &str, remote: &str| pb::LegSpec {
        label: label.into(),
        interface: iface.into(),
        remote: Some(endpoint(remote)),
        ..Default::default()
    };
    let s = rt
        .block_on(api.create_session(pb::CreateSessionRequest {
            session_id: "metrics-call".into(),
            legs: vec![leg("caller", "public", "198.18.0.2:5000"), leg("callee", "private", "198.19.0.2:6000")],
            ..Default::default()
        }))
        .expect("create the session")
        .into_inner();
    let (a, b) = (sock(&s.legs[0].local), sock(&s.legs[1].local));

    let first = scrape(&node);
    check!(node, v(&first, "mediafwd_sessions", &[("state", "active")]) == 1.0, "one active session");
    check!(node, v(&first, "mediafwd_interface_sessions", &[("interface", "public")]) == 1.0, "public sessions");
    check!(
        node,
        v(&first, "mediafwd_interface_relay_port_pairs", &[("interface", "private"), ("state", "in_use")]) == 1.0,
        "a port pair in use"
    );
    let create = [("service", "mediafwd.v1.MediaRelay"), ("method", "CreateSession")];
    check!(
        node,
        v(&first, "mediafwd_grpc_requests_total", &[create[0], create[1], ("code", "OK")]) == 1.0,
        "CreateSession counted"
    );
    check!(node, v(&first, "mediafwd_draining", &[]) == 0.0, "not draining");
    check!(node, v(&first, "mediafwd_flows", &[]) == 4.0, "two legs, RTP and RTCP each");

    let caller = topo.caller.udp_socket(p("198.18.0.2:5000"));
    let callee = topo.callee.udp_socket(p("198.19.0.2:6000"));
    stream(&node, &caller, a, &callee, b, 100);
    stream(&node, &callee, b, &caller, a, 100);
    // A malformed request: counted with its code.
    let bad = rt.block_on(api.get_session(pb::GetSessionRequest { session_id: "nope".into() })).unwrap_err();
    assert_eq!(bad.code(), tonic::Code::NotFound);

    let second = scrape(&node);
    let moved = |name: &str, labels: &[(&str, &str)], at_least: f64| {
        let (x, y) = (sum(&first, name, labels), sum(&second, name, labels));
        check!(
            node,
            y - x >= at_least,
            "{name} {labels:?} moved by {} (from {x} to {y}), expected at least {at_least}",
            y - x
        );
    };
    moved("mediafwd_worker_rx_packets_total", &[("worker", "0")], 200.0);
    moved("mediafwd_worker_tx_packets_total", &[("worker", "0")], 200.0);
    moved("mediafwd_worker_tx_bytes_total", &[], 200.0 * 172.0);
    moved("mediafwd_worker_busy_polls_total", &[], 1.0);
    moved("mediafwd_worker_loop_seconds_total", &[], 0.001);
    moved("mediafwd_worker_stage_seconds_total", &[("stage", "receive")], 1e-9);
    moved("mediafwd_worker_stage_seconds_total", &[("stage", "pipeline")], 1e-9);
    moved("mediafwd_worker_stage_seconds_total", &[("stage", "transmit")], 1e-9);
    moved("mediafwd_port_rx_packets_total", &[], 200.0);
    moved("mediafwd_port_tx_packets_total", &[], 200.0);
    moved("mediafwd_port_rx_bytes_total", &[], 200.0 * 172.0);
    moved("mediafwd_uptime_seconds", &[], 0.001);
    moved("mediafwd_grpc_requests_total", &[("method", "GetSession"), ("code", "NOT_FOUND")], 1.0);
    moved("mediafwd_grpc_request_duration_seconds_count", &[("method", "GetSession")], 1.0);
    check!(node, sum(&second, "mediafwd_port_xstats_total", &[]) > 0.0, "xstats present");
    check!(node, v(&second, "mediafwd_neighbors", &[("state", "reachable")]) >= 2.0, "caller and callee resolved");
    check!(node, sum(&second, "mediafwd_slowpath_messages_total", &[("direction", "in")]) >= 2.0, "ARP or ND seen");
    let busy = v(&second, "mediafwd_worker_busy_ratio", &[("worker", "0")]);
    check!(node, (0.0..=1.0).contains(&busy), "busy ratio {busy}");

    // Drain: readiness goes NOT_SERVING, liveness stays SERVING, the gauge says so.
    // As a stop hook does it: drain and wait for zero sessions.
    let waiting = std::process::Command::new(env!("CARGO_BIN_EXE_mediafwdctl"))
        .args(["--server", &format!("http://{}", node.api_addr()), "drain", "--reason", "metrics test", "--wait"])
        .args(["--poll", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !node.log_contains("draining") {
        check!(node, std::time::Instant::now() < deadline, "no drain");
        std::thread::sleep(Duration::from_millis(50));
    }
    let check_health = |service: &str| {
        rt.block_on(HealthClient::check(&mut health.clone(), HealthCheckRequest { service: service.into() }))
            .unwrap()
            .into_inner()
            .status
    };
    assert_eq!(check_health(""), tonic_health::pb::health_check_response::ServingStatus::NotServing as i32);
    assert_eq!(check_health("liveness"), tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    rt.block_on(api.delete_session(pb::DeleteSessionRequest { session_id: "metrics-call".into() })).unwrap();
    let out = waiting.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("drained: no session left"), "{said}");
    let third = scrape(&node);
    check!(node, v(&third, "mediafwd_draining", &[]) == 1.0, "draining");
    check!(node, sum(&third, "mediafwd_sessions", &[]) == 0.0, "no session left");
    check!(node, v(&third, "mediafwd_sessions_ended_total", &[("reason", "deleted")]) == 1.0, "ended by delete");
    check!(node, v(&third, "mediafwd_sessions_created_total", &[]) == 1.0, "one created");

    // Every log line about the session carries its id.
    for what in ["session created", "session ended"] {
        let line = node.log.lock().unwrap().iter().find(|l| l.contains(what)).cloned().unwrap_or_default();
        check!(node, line.contains("session{id=metrics-call}"), "{what}: {line}");
    }
    let (status, _, _) = get(node.metrics_addr(), "/nothing");
    assert!(status.contains(" 404"), "{status}");
    drop(health);
    assert!(node.stop().success());
}
