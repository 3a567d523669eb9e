//! The exposition text the node and the gRPC layer write, read back with
//! the strict reader the end-to-end tests use; and that reader's own checks.

#[path = "common/prometheus.rs"]
mod prometheus;

use mediafwd_controlplane::metrics::grpc::GrpcMetrics;
use mediafwd_controlplane::metrics::node::{
    render, InterfaceSample, NodeSnapshot, PortSample, StoreSample, WorkerSample,
};
use mediafwd_controlplane::metrics::text::{Exposition, Kind};
use mediafwd_controlplane::webrtc::WebrtcCounters;
use mediafwd_dataplane::slowpath::{Reason, SlowPathStats};
use mediafwd_dataplane::stats::{DropReason, WorkerStats};
use prometheus::{parse, sum, value};
use tonic::Code;

#[test]
fn written_text_reads_back() {
    let mut e = Exposition::new();
    e.family("x_packets_total", Kind::Counter, "Packets.\nEvery one.")
        .int("x_packets_total", &[("port", "0"), ("device", "a \"b\" \\c\nd")], 7)
        .int("x_packets_total", &[("port", "1"), ("device", "e")], 0);
    e.family("x_ratio", Kind::Gauge, "A ratio.").float("x_ratio", &[], 0.25);
    e.family("x_seconds", Kind::Histogram, "Durations.");
    e.histogram("x_seconds", &[("method", "M")], &[(0.001, 1), (0.01, 3)], 0.0125, 4);
    let text = e.finish();
    let s = parse(&text).unwrap_or_else(|m| panic!("{m}\n{text}"));
    assert_eq!(s.len(), 2 + 1 + 3 + 2);
    assert_eq!(s[0].label("device"), Some("a \"b\" \\c\nd"));
    assert_eq!(value(&s, "x_packets_total", &[("port", "0")]), Some(7.0));
    assert_eq!(value(&s, "x_seconds_bucket", &[("le", "+Inf")]), Some(4.0));
    assert_eq!(value(&s, "x_seconds_bucket", &[("le", "0.001")]), Some(1.0));
    assert_eq!(sum(&s, "x_packets_total", &[]), 7.0);
}

#[test]
fn malformed_text_is_refused() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
    parse(ok).unwrap();
    for bad in [
        "a_total 1\n",
        "# HELP a A.\n# TYPE a counter\na 1\n",
        "# TYPE a_total counter\na_total 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=1} 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total one\n",
        "# HELP a_total A.\n# TYPE a_total counter\n# HELP b B.\n# TYPE b gauge\nb 1\na_total 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
    ] {
        assert!(parse(bad).is_err(), "accepted:\n{bad}");
    }
}

fn snapshot() -> NodeSnapshot {
    let mut w0 = WorkerStats {
        rx_packets: 100,
        tx_packets: 90,
        busy_cycles: 250,
        total_cycles: 1000,
        stage_cycles: [20, 60, 140, 5, 15, 10],
        ..Default::default()
    };
    w0.drops[DropReason::UnknownFlow as usize] = 7;
    w0.drops[DropReason::TxFull as usize] = 3;
    let w1 = WorkerStats { rx_packets: 5, total_cycles: 1000, ..Default::default() };
    let mut slow = SlowPathStats { arp_requests_in: 2, arp_replies_out: 2, ..Default::default() };
    slow.drops[Reason::RateLimited as usize] = 4;
    let mut port0 = PortSample {
        id: 0,
        device: "0000:3b:02.0".into(),
        driver: "net_iavf".into(),
        link_up: true,
        xstats: vec![("rx_good_packets".into(), 1000), ("rx_q0_errors".into(), 0), ("rx_good_packets".into(), 1)],
        ..Default::default()
    };
    (port0.stats.rx_packets, port0.stats.rx_missed) = (1000, 3);
    NodeSnapshot {
        version: "0.1.0".into(),
        dpdk_version: "DPDK 22.11.11".into(),
        srtp_engine: "ipsec-mb".into(),
        srtp_engine_detail: "ipsec-mb 1.3.0 (avx512, sha-ni)".into(),
        start_time_seconds: 1.7e9,
        uptime_seconds: 12.5,
        tsc_hz: 1000,
        ports: vec![
            port0,
            PortSample { id: 1, device: "net_af_packet1".into(), driver: "net_af_packet".into(), ..Default::default() },
        ],
        workers: vec![WorkerSample { lcore: 2, stats: w0 }, WorkerSample { lcore: 3, stats: w1 }],
        slow_path: slow,
        neighbors: vec![("reachable", 2), ("incomplete", 1)],
        sessions_pending: 1,
        sessions_active: 3,
        flows: 14,
        max_flows: 131072,
        table_memory: "hugepages".into(),
        mbufs_in_use: 4242,
        log_write_errors: 3,
        interfaces: vec![InterfaceSample {
            name: "public".into(),
            sessions: 4,
            ports_in_use: 4,
            ports_free: 4990,
            ports_quarantined: 6,
        }],
        sessions_created: 9,
        sessions_ended: vec![("deleted", 4), ("media_timeout", 1), ("max_lifetime", 0)],
        latched: 2,
        draining: true,
        store: Some(StoreSample { written: 40, failures: 2, dropped: 0, backlog: 3, up: false }),
        webrtc: WebrtcCounters { handshake_timeouts: 1, fingerprint_mismatches: 2, ..Default::default() },
    }
}

#[test]
fn the_node_renders_as_valid_exposition_text() {
    let mut e = Exposition::new();
    render(&snapshot(), &mut e);
    let text = e.finish();
    let s = parse(&text).unwrap_or_else(|m| panic!("{m}\n{text}"));
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&s, name, labels).unwrap_or_else(|| panic!("{name} {labels:?}\n{text}"))
    };
    assert_eq!(v("mediafwd_port_rx_packets_total", &[("port", "0"), ("device", "0000:3b:02.0")]), 1000.0);
    assert_eq!(v("mediafwd_port_rx_missed_packets_total", &[("port", "0")]), 3.0);
    assert_eq!(v("mediafwd_port_link_up", &[("port", "1")]), 0.0);
    assert_eq!(v("mediafwd_port_xstats_total", &[("port", "0"), ("name", "rx_good_packets")]), 1000.0);
    assert_eq!(v("mediafwd_worker_rx_packets_total", &[("worker", "0"), ("lcore", "2")]), 100.0);
    assert_eq!(v("mediafwd_worker_busy_ratio", &[("worker", "0")]), 0.25);
    assert_eq!(v("mediafwd_worker_busy_seconds_total", &[("worker", "0")]), 0.25);
    assert_eq!(v("mediafwd_worker_stage_seconds_total", &[("worker", "0"), ("stage", "srtp")]), 0.14);
    assert_eq!(v("mediafwd_worker_stage_seconds_total", &[("worker", "0"), ("stage", "receive")]), 0.02);
    // The stages add up to the busy time.
    assert!((sum(&s, "mediafwd_worker_stage_seconds_total", &[("worker", "0")]) - 0.25).abs() < 1e-12);
    assert_eq!(v("mediafwd_dropped_packets_total", &[("worker", "0"), ("reason", "unknown_flow")]), 7.0);
    assert_eq!(sum(&s, "mediafwd_dropped_packets_total", &[]), 10.0);
    assert_eq!(v("mediafwd_ha_written_total", &[]), 40.0);
    assert_eq!(v("mediafwd_ha_write_failures_total", &[]), 2.0);
    assert_eq!((v("mediafwd_ha_backlog", &[]), v("mediafwd_ha_store_up", &[])), (3.0, 0.0));
    // Every reason of every worker is there, zero or not: new reasons appear by themselves.
    let drops = s.iter().filter(|x| x.name == "mediafwd_dropped_packets_total").count();
    assert_eq!(drops, 2 * DropReason::COUNT);
    assert_eq!(v("mediafwd_srtp_auth_failures_total", &[("worker", "1")]), 0.0);
    assert_eq!(v("mediafwd_sessions", &[("state", "active")]), 3.0);
    assert_eq!(v("mediafwd_sessions_ended_total", &[("reason", "media_timeout")]), 1.0);
    assert_eq!(v("mediafwd_mbufs_in_use", &[]), 4242.0);
    assert_eq!(v("mediafwd_log_write_errors_total", &[]), 3.0);
    assert_eq!(v("mediafwd_interface_relay_port_pairs", &[("interface", "public"), ("state", "free")]), 4990.0);
    assert_eq!(v("mediafwd_neighbors", &[("state", "reachable")]), 2.0);
    assert_eq!(v("mediafwd_slowpath_messages_total", &[("direction", "out"), ("type", "arp_reply")]), 2.0);
    assert_eq!(v("mediafwd_slowpath_dropped_packets_total", &[("reason", Reason::RateLimited.name())]), 4.0);
    assert_eq!(v("mediafwd_draining", &[]), 1.0);
    assert_eq!(v("mediafwd_webrtc_dtls_handshakes_total", &[("outcome", "timeout")]), 1.0);
    assert_eq!(v("mediafwd_webrtc_dtls_handshakes_total", &[("outcome", "fingerprint_mismatch")]), 2.0);
    assert_eq!(v("mediafwd_build_info", &[("version", "0.1.0")]), 1.0);
    assert_eq!(v("mediafwd_srtp_engine_info", &[("engine", "ipsec-mb")]), 1.0);
    assert_eq!(v("mediafwd_table_memory_info", &[("memory", "hugepages")]), 1.0);
}

#[test]
fn calls_are_counted_by_method_and_code_with_latency_buckets() {
    let m = GrpcMetrics::new();
    m.record("mediafwd.v1.MediaRelay", "CreateSession", Code::Ok, 0.0004);
    m.record("mediafwd.v1.MediaRelay", "CreateSession", Code::Ok, 0.003);
    m.record("mediafwd.v1.MediaRelay", "CreateSession", Code::Unavailable, 20.0);
    m.record("grpc.health.v1.Health", "Check", Code::Ok, 0.0001);
    let mut e = Exposition::new();
    m.render(&mut e);
    let text = e.finish();
    let s = parse(&text).unwrap_or_else(|m| panic!("{m}\n{text}"));
    let create = [("service", "mediafwd.v1.MediaRelay"), ("method", "CreateSession")];
    let with = |extra: (&'static str, &'static str)| {
        let mut l = create.to_vec();
        l.push(extra);
        l
    };
    assert_eq!(value(&s, "mediafwd_grpc_requests_total", &with(("code", "OK"))), Some(2.0));
    assert_eq!(value(&s, "mediafwd_grpc_requests_total", &with(("code", "UNAVAILABLE"))), Some(1.0));
    assert_eq!(value(&s, "mediafwd_grpc_request_duration_seconds_bucket", &with(("le", "0.0005"))), Some(1.0));
    assert_eq!(value(&s, "mediafwd_grpc_request_duration_seconds_bucket", &with(("le", "10"))), Some(2.0));
    assert_eq!(value(&s, "mediafwd_grpc_request_duration_seconds_bucket", &with(("le", "+Inf"))), Some(3.0));
    assert_eq!(value(&s, "mediafwd_grpc_request_duration_seconds_count", &create), Some(3.0));
}
