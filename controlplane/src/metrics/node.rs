//! The node's metrics: a snapshot the control loop takes (counters it
//! reads without stopping anything, and aggregates of the sessions: no
//! series per session), rendered as exposition text.

use mediafwd_dataplane::slowpath::{Reason, SlowPathStats};
use mediafwd_dataplane::stats::PortStats;
use mediafwd_dataplane::stats::{DropReason, Stage, WorkerStats};

use super::text::{Exposition, Kind};

/// One DPDK port.
#[derive(Debug, Clone, Default)]
pub struct PortSample {
    /// DPDK port id.
    pub id: u16,
    /// Device name (PCI address or virtual device).
    pub device: String,
    /// PMD.
    pub driver: String,
    /// Link state.
    pub link_up: bool,
    /// ethdev counters.
    pub stats: PortStats,
    /// The PMD's extended counters.
    pub xstats: Vec<(String, u64)>,
}

/// One worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerSample {
    /// Its lcore.
    pub lcore: u32,
    /// Its counters.
    pub stats: WorkerStats,
}

/// One interface's sessions and relay ports.
#[derive(Debug, Clone, Default)]
pub struct InterfaceSample {
    /// Interface name.
    pub name: String,
    /// Sessions with a leg on it.
    pub sessions: u64,
    /// Port pairs in use.
    pub ports_in_use: u64,
    /// Port pairs free now.
    pub ports_free: u64,
    /// Port pairs waiting out their quarantine.
    pub ports_quarantined: u64,
}

/// Everything `/metrics` shows about the node.
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    /// mediafwd's version.
    pub version: String,
    /// DPDK's version.
    pub dpdk_version: String,
    /// The SRTP crypto engine in use (`ipsec-mb` or `portable`).
    pub srtp_engine: String,
    /// What the engine runs on, such as `ipsec-mb 1.3.0 (avx512, sha-ni)`.
    pub srtp_engine_detail: String,
    /// Unix time the node started, seconds.
    pub start_time_seconds: f64,
    /// Seconds since the node started.
    pub uptime_seconds: f64,
    /// TSC ticks per second (worker cycle counters to seconds).
    pub tsc_hz: u64,
    /// Ports.
    pub ports: Vec<PortSample>,
    /// Workers, by index.
    pub workers: Vec<WorkerSample>,
    /// Slow-path counters.
    pub slow_path: SlowPathStats,
    /// Neighbor entries by state name.
    pub neighbors: Vec<(&'static str, u64)>,
    /// Sessions waiting for a remote.
    pub sessions_pending: u64,
    /// Sessions with both remotes known.
    pub sessions_active: u64,
    /// Flows installed in each worker's table.
    pub flows: u64,
    /// Flow table capacity per worker.
    pub max_flows: u64,
    /// Where the workers' flow tables are: `hugepages` or `heap`.
    pub table_memory: String,
    /// Packet buffers in use (queues, rings, caches, in flight).
    pub mbufs_in_use: u64,
    /// Log writes that failed since start.
    pub log_write_errors: u64,
    /// Interfaces.
    pub interfaces: Vec<InterfaceSample>,
    /// Sessions created since start.
    pub sessions_created: u64,
    /// Sessions ended since start, by reason.
    pub sessions_ended: Vec<(&'static str, u64)>,
    /// Legs that latched onto a new source since start.
    pub latched: u64,
    /// Refusing new sessions.
    pub draining: bool,
    /// The session store's writer, when sessions are kept (`[ha]`).
    pub store: Option<StoreSample>,
    /// The WebRTC legs' ICE and DTLS outcomes.
    pub webrtc: crate::webrtc::WebrtcCounters,
}

/// The session store's writer (docs/ha.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSample {
    /// Session states written.
    pub written: u64,
    /// Batches that failed.
    pub failures: u64,
    /// Session states dropped, the backlog full.
    pub dropped: u64,
    /// Sessions waiting to be written.
    pub backlog: u64,
    /// The store answered the last write.
    pub up: bool,
}

/// SRTP drop reasons, by name: the SRTP stage's reasons are named
/// `srtp_...` or `srtcp_...`; authentication failures contain `auth`, replays (an index
/// seen before or behind the window) `replay` or `old`. New reasons of
/// either kind are counted without a change here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpDrop {
    /// Authentication tag did not verify.
    AuthFailure,
    /// Replayed or too old an index.
    Replay,
}

impl SrtpDrop {
    /// The kind of an SRTP drop reason, by its name.
    pub fn of(reason: &str) -> Option<SrtpDrop> {
        let r = reason.strip_prefix("srtcp").or_else(|| reason.strip_prefix("srtp"))?;
        if r.contains("auth") {
            Some(SrtpDrop::AuthFailure)
        } else if r.contains("replay") || r.contains("old") {
            Some(SrtpDrop::Replay)
        } else {
            None
        }
    }
}

/// Renders `s` into `e`.
pub fn render(s: &NodeSnapshot, e: &mut Exposition) {
    build(s, e);
    ports(s, e);
    workers(s, e);
    sessions(s, e);
    slow_path(s, e);
    store(s, e);
    webrtc(s, e);
}

fn webrtc(s: &NodeSnapshot, e: &mut Exposition) {
    let w = &s.webrtc;
    e.family("mediafwd_webrtc_ice_total", Kind::Counter, "ICE on WebRTC legs: nominations, losses of consent.");
    for (event, n) in [("nominated", w.nominations), ("consent_lost", w.consent_lost)] {
        e.int("mediafwd_webrtc_ice_total", &[("event", event)], n);
    }
    e.family(
        "mediafwd_webrtc_dtls_handshakes_total",
        Kind::Counter,
        "DTLS-SRTP handshakes of WebRTC legs, by outcome (started, completed, timeout, fingerprint_mismatch, failed).",
    );
    for (outcome, n) in [
        ("started", w.handshakes_started),
        ("completed", w.handshakes_completed),
        ("timeout", w.handshake_timeouts),
        ("fingerprint_mismatch", w.fingerprint_mismatches),
        ("failed", w.handshake_failures),
    ] {
        e.int("mediafwd_webrtc_dtls_handshakes_total", &[("outcome", outcome)], n);
    }
    e.family(
        "mediafwd_webrtc_dtls_unserved_total",
        Kind::Counter,
        "DTLS datagrams to a WebRTC leg with no handshake to take them (role not decided, or failed).",
    )
    .int("mediafwd_webrtc_dtls_unserved_total", &[], w.dtls_unserved);
}

fn store(s: &NodeSnapshot, e: &mut Exposition) {
    let Some(st) = &s.store else { return };
    e.family("mediafwd_ha_store_up", Kind::Gauge, "1 when the session store answered the last write.").int(
        "mediafwd_ha_store_up",
        &[],
        st.up.into(),
    );
    e.family("mediafwd_ha_written_total", Kind::Counter, "Session states written to the store.").int(
        "mediafwd_ha_written_total",
        &[],
        st.written,
    );
    e.family("mediafwd_ha_write_failures_total", Kind::Counter, "Batches the store did not take (retried).").int(
        "mediafwd_ha_write_failures_total",
        &[],
        st.failures,
    );
    e.family("mediafwd_ha_dropped_total", Kind::Counter, "Session states dropped, the backlog full (ha.backlog).").int(
        "mediafwd_ha_dropped_total",
        &[],
        st.dropped,
    );
    e.family("mediafwd_ha_backlog", Kind::Gauge, "Sessions waiting to be written to the store.").int(
        "mediafwd_ha_backlog",
        &[],
        st.backlog,
    );
}

fn build(s: &NodeSnapshot, e: &mut Exposition) {
    e.family("mediafwd_build_info", Kind::Gauge, "mediafwd's build: its version and DPDK's (always 1).").int(
        "mediafwd_build_info",
        &[("version", &s.version), ("dpdk_version", &s.dpdk_version)],
        1,
    );
    e.family("mediafwd_srtp_engine_info", Kind::Gauge, "The SRTP crypto engine in use and what it runs on (always 1).")
        .int("mediafwd_srtp_engine_info", &[("engine", &s.srtp_engine), ("detail", &s.srtp_engine_detail)], 1);
    e.family("mediafwd_start_time_seconds", Kind::Gauge, "When the node started, Unix time.").float(
        "mediafwd_start_time_seconds",
        &[],
        s.start_time_seconds,
    );
    e.family("mediafwd_uptime_seconds", Kind::Gauge, "Seconds since the node started.").float(
        "mediafwd_uptime_seconds",
        &[],
        s.uptime_seconds,
    );
    e.family("mediafwd_draining", Kind::Gauge, "1 while the node drains (refuses new sessions), else 0.").int(
        "mediafwd_draining",
        &[],
        s.draining as u64,
    );
}

fn ports(s: &NodeSnapshot, e: &mut Exposition) {
    let ids: Vec<String> = s.ports.iter().map(|p| p.id.to_string()).collect();
    let labels = |i: usize| [("port", ids[i].as_str()), ("device", s.ports[i].device.as_str())];
    e.family("mediafwd_port_info", Kind::Gauge, "A DPDK port: its device and PMD (always 1).");
    for (i, p) in s.ports.iter().enumerate() {
        let [a, b] = labels(i);
        e.int("mediafwd_port_info", &[a, b, ("driver", &p.driver)], 1);
    }
    e.family("mediafwd_port_link_up", Kind::Gauge, "1 when the port's link is up.");
    for (i, p) in s.ports.iter().enumerate() {
        e.int("mediafwd_port_link_up", &labels(i), p.link_up as u64);
    }
    type Get = fn(&PortStats) -> u64;
    let families: [(&str, &str, Get); 8] = [
        ("mediafwd_port_rx_packets_total", "Packets the port received (ethdev).", |p| p.rx_packets),
        ("mediafwd_port_tx_packets_total", "Packets the port sent (ethdev).", |p| p.tx_packets),
        ("mediafwd_port_rx_bytes_total", "Bytes the port received (ethdev).", |p| p.rx_bytes),
        ("mediafwd_port_tx_bytes_total", "Bytes the port sent (ethdev).", |p| p.tx_bytes),
        (
            "mediafwd_port_rx_missed_packets_total",
            "Packets the NIC dropped because the RX queues were full: workers too slow or too few.",
            |p| p.rx_missed,
        ),
        ("mediafwd_port_rx_errors_total", "Erroneous packets received.", |p| p.rx_errors),
        ("mediafwd_port_tx_errors_total", "Packets that failed to transmit.", |p| p.tx_errors),
        (
            "mediafwd_port_rx_nombuf_total",
            "RX buffer allocation failures: the packet pool ran dry (raise dataplane.mbufs).",
            |p| p.rx_nombuf,
        ),
    ];
    for (name, help, get) in families {
        e.family(name, Kind::Counter, help);
        for (i, p) in s.ports.iter().enumerate() {
            e.int(name, &labels(i), get(&p.stats));
        }
    }
    e.family("mediafwd_port_xstats_total", Kind::Counter, "The PMD's extended statistics, by xstat name.");
    for (i, p) in s.ports.iter().enumerate() {
        let [a, b] = labels(i);
        let mut seen = std::collections::HashSet::new();
        for (name, v) in &p.xstats {
            // A PMD that repeats a name would make a duplicate series.
            if seen.insert(name.as_str()) {
                e.int("mediafwd_port_xstats_total", &[a, b, ("name", name)], *v);
            }
        }
    }
}

fn workers(s: &NodeSnapshot, e: &mut Exposition) {
    let ids: Vec<(String, String)> =
        s.workers.iter().enumerate().map(|(i, w)| (i.to_string(), w.lcore.to_string())).collect();
    let labels = |i: usize| [("worker", ids[i].0.as_str()), ("lcore", ids[i].1.as_str())];
    type Get = fn(&WorkerStats) -> u64;
    let families: [(&str, &str, Get); 10] = [
        ("mediafwd_worker_rx_packets_total", "Packets the worker received.", |w| w.rx_packets),
        ("mediafwd_worker_rx_bytes_total", "Bytes the worker received.", |w| w.rx_bytes),
        ("mediafwd_worker_tx_packets_total", "Packets the worker relayed.", |w| w.tx_packets),
        ("mediafwd_worker_tx_bytes_total", "Bytes the worker relayed.", |w| w.tx_bytes),
        ("mediafwd_worker_slow_path_packets_total", "Packets handed to the slow path (ARP, ND, ICMP).", |w| {
            w.slow_path
        }),
        ("mediafwd_worker_busy_polls_total", "Polls that received packets.", |w| w.busy_polls),
        ("mediafwd_worker_idle_polls_total", "Polls that received nothing.", |w| w.idle_polls),
        ("mediafwd_worker_idle_sleeps_total", "Sleeps taken while idle (dataplane.idle_sleep_us).", |w| w.idle_sleeps),
        ("mediafwd_worker_command_errors_total", "Flow commands the worker could not apply (table full).", |w| {
            w.command_errors
        }),
        ("mediafwd_worker_events_dropped_total", "Events (latching) lost because the event queue was full.", |w| {
            w.events_dropped
        }),
    ];
    for (name, help, get) in families {
        e.family(name, Kind::Counter, help);
        for (i, w) in s.workers.iter().enumerate() {
            e.int(name, &labels(i), get(&w.stats));
        }
    }
    let hz = s.tsc_hz.max(1) as f64;
    e.family(
        "mediafwd_worker_busy_seconds_total",
        Kind::Counter,
        "Time spent in polls that received packets; rate() over mediafwd_worker_loop_seconds_total's is the current load.",
    );
    for (i, w) in s.workers.iter().enumerate() {
        e.float("mediafwd_worker_busy_seconds_total", &labels(i), w.stats.busy_cycles as f64 / hz);
    }
    e.family("mediafwd_worker_loop_seconds_total", Kind::Counter, "Time spent in the poll loop.");
    for (i, w) in s.workers.iter().enumerate() {
        e.float("mediafwd_worker_loop_seconds_total", &labels(i), w.stats.total_cycles as f64 / hz);
    }
    e.family(
        "mediafwd_worker_stage_seconds_total",
        Kind::Counter,
        "Time of polls that received packets by stage of the burst (receive, pipeline, srtp, sort, transmit; \
         stalled: polls over 100 us, most likely stopped by the kernel, not split); \
         the stages add up to mediafwd_worker_busy_seconds_total.",
    );
    for (i, w) in s.workers.iter().enumerate() {
        let [a, b] = labels(i);
        for stage in Stage::ALL {
            let cycles = w.stats.stage_cycles[stage as usize];
            e.float("mediafwd_worker_stage_seconds_total", &[a, b, ("stage", stage.name())], cycles as f64 / hz);
        }
    }
    e.family(
        "mediafwd_worker_busy_ratio",
        Kind::Gauge,
        "Share of the loop's cycles spent in polls that received packets, since start (0-1).",
    );
    for (i, w) in s.workers.iter().enumerate() {
        let r = w.stats.busy_cycles as f64 / w.stats.total_cycles.max(1) as f64;
        e.float("mediafwd_worker_busy_ratio", &labels(i), r);
    }
    e.family("mediafwd_dropped_packets_total", Kind::Counter, "Packets the workers dropped, by reason.");
    for (i, w) in s.workers.iter().enumerate() {
        let [a, _] = labels(i);
        for r in DropReason::ALL {
            e.int("mediafwd_dropped_packets_total", &[a, ("reason", r.name())], w.stats.dropped(r));
        }
    }
    for (kind, name, help) in [
        (
            SrtpDrop::AuthFailure,
            "mediafwd_srtp_auth_failures_total",
            "SRTP/SRTCP packets whose authentication tag did not verify (dropped).",
        ),
        (
            SrtpDrop::Replay,
            "mediafwd_srtp_replayed_packets_total",
            "SRTP/SRTCP packets refused as replays or behind the replay window (dropped).",
        ),
    ] {
        e.family(name, Kind::Counter, help);
        for (i, w) in s.workers.iter().enumerate() {
            let [a, _] = labels(i);
            let n: u64 = DropReason::ALL
                .iter()
                .filter(|r| SrtpDrop::of(r.name()) == Some(kind))
                .map(|r| w.stats.dropped(*r))
                .sum();
            e.int(name, &[a], n);
        }
    }
}

fn sessions(s: &NodeSnapshot, e: &mut Exposition) {
    e.family("mediafwd_sessions", Kind::Gauge, "Sessions, by state: pending (a remote unknown) or active.")
        .int("mediafwd_sessions", &[("state", "pending")], s.sessions_pending)
        .int("mediafwd_sessions", &[("state", "active")], s.sessions_active);
    e.family("mediafwd_sessions_created_total", Kind::Counter, "Sessions created since start (static ones included).")
        .int("mediafwd_sessions_created_total", &[], s.sessions_created);
    e.family("mediafwd_sessions_ended_total", Kind::Counter, "Sessions ended since start, by reason.");
    for (reason, n) in &s.sessions_ended {
        e.int("mediafwd_sessions_ended_total", &[("reason", reason)], *n);
    }
    e.family("mediafwd_latched_total", Kind::Counter, "Legs that latched onto a new source (symmetric RTP).").int(
        "mediafwd_latched_total",
        &[],
        s.latched,
    );
    e.family("mediafwd_flows", Kind::Gauge, "Flows in each worker's table (RTP and RTCP of every leg).").int(
        "mediafwd_flows",
        &[],
        s.flows,
    );
    e.family("mediafwd_flows_max", Kind::Gauge, "Flow table capacity per worker (dataplane.max_flows).").int(
        "mediafwd_flows_max",
        &[],
        s.max_flows,
    );
    e.family(
        "mediafwd_table_memory_info",
        Kind::Gauge,
        "Where the workers' flow tables are: DPDK hugepage memory or the heap (dataplane.table_memory; always 1).",
    )
    .int("mediafwd_table_memory_info", &[("memory", &s.table_memory)], 1);
    e.family(
        "mediafwd_mbufs_in_use",
        Kind::Gauge,
        "Packet buffers of the pool in use (descriptor rings, rings, per-core caches, in flight); a leak keeps it rising.",
    )
    .int("mediafwd_mbufs_in_use", &[], s.mbufs_in_use);
    e.family(
        "mediafwd_log_write_errors_total",
        Kind::Counter,
        "Log lines that could not be written (a full disk, a closed pipe); the node carries on without them.",
    )
    .int("mediafwd_log_write_errors_total", &[], s.log_write_errors);
    e.family("mediafwd_interface_sessions", Kind::Gauge, "Sessions with a leg on the interface.");
    for i in &s.interfaces {
        e.int("mediafwd_interface_sessions", &[("interface", &i.name)], i.sessions);
    }
    e.family(
        "mediafwd_interface_relay_port_pairs",
        Kind::Gauge,
        "Relay port pairs (RTP even, RTCP odd) of the interface's rtp_ports, by state: in_use, free, quarantined.",
    );
    for i in &s.interfaces {
        for (state, n) in [("in_use", i.ports_in_use), ("free", i.ports_free), ("quarantined", i.ports_quarantined)] {
            e.int("mediafwd_interface_relay_port_pairs", &[("interface", &i.name), ("state", state)], n);
        }
    }
}

fn slow_path(s: &NodeSnapshot, e: &mut Exposition) {
    e.family("mediafwd_neighbors", Kind::Gauge, "Neighbor (next-hop) entries, by state.");
    for (state, n) in &s.neighbors {
        e.int("mediafwd_neighbors", &[("state", state)], *n);
    }
    let p = &s.slow_path;
    e.family("mediafwd_slowpath_rx_packets_total", Kind::Counter, "Frames the slow path took from the workers.").int(
        "mediafwd_slowpath_rx_packets_total",
        &[],
        p.rx_packets,
    );
    e.family("mediafwd_slowpath_tx_packets_total", Kind::Counter, "Frames the slow path sent.").int(
        "mediafwd_slowpath_tx_packets_total",
        &[],
        p.tx_packets,
    );
    e.family(
        "mediafwd_slowpath_messages_total",
        Kind::Counter,
        "ARP, Neighbor Discovery, echo, ICE (STUN) and DTLS messages, by direction and type.",
    );
    for (dir, kind, n) in [
        ("in", "arp_request", p.arp_requests_in),
        ("in", "arp_reply", p.arp_replies_in),
        ("in", "neighbor_solicitation", p.ns_in),
        ("in", "neighbor_advertisement", p.na_in),
        ("in", "echo_request", p.echo_requests_in),
        ("in", "stun_request", p.stun_requests_in),
        ("in", "stun_request_refused", p.stun_refused_in),
        ("in", "dtls", p.dtls_in),
        ("out", "arp_request", p.arp_requests_out),
        ("out", "arp_reply", p.arp_replies_out),
        ("out", "neighbor_solicitation", p.ns_out),
        ("out", "neighbor_advertisement", p.na_out),
        ("out", "echo_reply", p.echo_replies_out),
        ("out", "stun_response", p.stun_responses_out),
        ("out", "dtls", p.dtls_out),
        ("out", "announcement", p.announcements_out),
    ] {
        e.int("mediafwd_slowpath_messages_total", &[("direction", dir), ("type", kind)], n);
    }
    e.family(
        "mediafwd_slowpath_neighbors_learned_total",
        Kind::Counter,
        "Neighbor entries created or updated from frames.",
    )
    .int("mediafwd_slowpath_neighbors_learned_total", &[], p.neighbors_learned);
    e.family("mediafwd_slowpath_dropped_packets_total", Kind::Counter, "Frames the slow path dropped, by reason.");
    for r in Reason::ALL {
        e.int("mediafwd_slowpath_dropped_packets_total", &[("reason", r.name())], p.dropped(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srtp_drop_reasons_are_recognised_by_name() {
        assert_eq!(SrtpDrop::of("srtp_auth"), Some(SrtpDrop::AuthFailure));
        assert_eq!(SrtpDrop::of("srtp_auth_failed"), Some(SrtpDrop::AuthFailure));
        assert_eq!(SrtpDrop::of("srtcp_auth"), Some(SrtpDrop::AuthFailure));
        assert_eq!(SrtpDrop::of("srtp_replayed"), Some(SrtpDrop::Replay));
        assert_eq!(SrtpDrop::of("srtp_too_old"), Some(SrtpDrop::Replay));
        assert_eq!(SrtpDrop::of("srtp_malformed"), None);
        for r in DropReason::ALL {
            if !r.name().starts_with("srtp") {
                assert_eq!(SrtpDrop::of(r.name()), None, "{}", r.name());
            }
        }
    }
}
