//! What the control loop tells about the node: the metrics snapshot, and
//! warnings when a trouble counter rises (rate-limited, never per packet).

use std::time::Instant;

use mediafwd_dataplane::node::dpdk_version;
use mediafwd_dataplane::slowpath::NeighborState;
use mediafwd_dataplane::stats::{DropReason, WorkerStats};

use super::view::{self, EndReason, SessionState};
use super::Control;
use crate::metrics::node::{InterfaceSample, PortSample, WorkerSample};
use crate::metrics::NodeSnapshot;

impl Control {
    /// The node's counters and aggregates: one pass over the sessions, no
    /// per-session series.
    pub(super) fn snapshot(&mut self) -> NodeSnapshot {
        let now = Instant::now();
        let ports = self
            .node
            .io
            .ports()
            .map(|p| PortSample {
                id: p.id,
                device: p.device.clone(),
                driver: p.driver.clone(),
                link_up: p.link_up(),
                stats: p.stats(),
                xstats: p.xstats(),
            })
            .collect();
        let workers = self
            .node
            .dataplane
            .worker_stats()
            .into_iter()
            .zip(self.node.dataplane.lcores())
            .map(|(stats, lcore)| WorkerSample { lcore, stats })
            .collect();
        let mut neighbors = [("incomplete", 0), ("reachable", 0), ("stale", 0), ("probe", 0), ("failed", 0)];
        for n in self.node.slow.neighbors().entries(now) {
            let i = match n.state {
                NeighborState::Incomplete => 0,
                NeighborState::Reachable => 1,
                NeighborState::Stale => 2,
                NeighborState::Probe => 3,
                NeighborState::Failed => 4,
            };
            neighbors[i].1 += 1;
        }
        let n_ifaces = self.node.sessions.interfaces().len();
        let mut per_iface = vec![0u64; n_ifaces];
        let (mut pending, mut active, mut flows) = (0, 0, 0);
        for s in self.node.sessions.sessions() {
            if view::state(s) == SessionState::Active {
                active += 1;
            } else {
                pending += 1;
            }
            flows += s.legs.iter().map(|l| if l.request.rtcp_mux { 1 } else { 2 }).sum::<u64>();
            per_iface[s.legs[0].iface] += 1;
            if s.legs[1].iface != s.legs[0].iface {
                per_iface[s.legs[1].iface] += 1;
            }
        }
        let interfaces = (0..n_ifaces)
            .map(|i| {
                let (in_use, free) = self.node.sessions.port_usage(i, now);
                let info = &self.node.sessions.interfaces()[i];
                let total = info.config.rtp_ports.pairs() as u64;
                InterfaceSample {
                    name: info.config.name.clone(),
                    sessions: per_iface[i],
                    ports_in_use: in_use as u64,
                    ports_free: free as u64,
                    ports_quarantined: total.saturating_sub(in_use as u64 + free as u64),
                }
            })
            .collect();
        NodeSnapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            dpdk_version: dpdk_version(),
            srtp_engine: mediafwd_dataplane::srtp::engine::current().name().to_string(),
            srtp_engine_detail: mediafwd_dataplane::srtp::engine::describe(mediafwd_dataplane::srtp::engine::current()),
            start_time_seconds: self.started_unix,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            tsc_hz: self.tsc_hz,
            ports,
            workers,
            slow_path: self.node.slow.stats(),
            neighbors: neighbors.to_vec(),
            sessions_pending: pending,
            sessions_active: active,
            flows,
            max_flows: self.node.max_flows as u64,
            table_memory: self.node.dataplane.table_memory().name().to_string(),
            mbufs_in_use: u64::from(self.node.io.mbufs_in_use()),
            log_write_errors: crate::logging::log_write_errors(),
            interfaces,
            sessions_created: self.tally.created,
            sessions_ended: EndReason::ALL.iter().zip(self.tally.ended).map(|(r, n)| (r.name(), n)).collect(),
            latched: self.tally.latched,
            draining: self.drain.is_some(),
            store: self.keeper.as_ref().map(|k| k.sample()),
            webrtc: self.webrtc.counters(),
        }
    }

    /// Warns (rate-limited) when a counter that means trouble rose.
    pub(super) fn watch_counters(&mut self) {
        let workers = self.node.dataplane.worker_stats();
        let sum = |f: &dyn Fn(&WorkerStats) -> u64| workers.iter().map(f).sum::<u64>();
        let checks = [
            (
                "command_errors",
                sum(&|w| w.command_errors),
                "workers refused flow commands: the flow table is full (raise dataplane.max_flows)",
            ),
            ("events_dropped", sum(&|w| w.events_dropped), "worker events were lost: the control loop is behind"),
            (
                "tx_full",
                sum(&|w| w.dropped(DropReason::TxFull)),
                "TX queues stayed full: packets dropped (link saturated, or tx_desc too small)",
            ),
            (
                "slow_path_full",
                sum(&|w| w.dropped(DropReason::SlowPathFull)),
                "the slow-path ring was full: ARP, ND or ICMP frames dropped",
            ),
        ];
        for (key, n, what) in checks {
            self.watch.check(key.to_string(), n, what);
        }
        let ports: Vec<_> = self.node.io.ports().map(|p| (p.id, p.stats())).collect();
        for (id, s) in ports {
            self.watch.check(
                format!("port{id}.rx_missed"),
                s.rx_missed,
                "the NIC dropped packets, its RX queues full: workers too slow or too few",
            );
            self.watch.check(
                format!("port{id}.rx_nombuf"),
                s.rx_nombuf,
                "the packet pool ran dry: RX allocation failed (raise dataplane.mbufs)",
            );
        }
    }
}
