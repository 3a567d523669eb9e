//! The node as the control plane runs it: the dataplane's node (DPDK, the
//! ports, the workers and the slow path, see
//! [`mediafwd_dataplane::node`]) started from a configuration built out
//! of the TOML file, the session manager over its interfaces, the static
//! sessions programmed, and the counters logged.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use mediafwd_dataplane::flow::Command;
use mediafwd_dataplane::node::{self as dp, EalConfig, InterfaceConfig, NodeConfig, NodeError, NodeIo};
use mediafwd_dataplane::slowpath::{self, NeighborConfig, SlowPath, SlowPathConfig};
use mediafwd_dataplane::{Dataplane, DataplaneConfig};

use crate::config::Validated;
use crate::session::{IfaceInfo, LatchSetting, LegRequest, Resolver, SessionManager};

/// A running node.
pub struct Node {
    /// The dataplane.
    pub dataplane: Dataplane,
    /// ARP, ND and ping for our addresses, and the neighbor table.
    pub slow: SlowPath,
    /// DPDK's side: the ports, their counters, the ring ports.
    pub io: NodeIo,
    /// The sessions.
    pub sessions: SessionManager,
    /// How often the counters are logged.
    pub stats_interval: Duration,
    /// Flow table capacity per worker.
    pub max_flows: usize,
    /// WebRTC legs of sessions restored from the store, for the control loop.
    pub restored_webrtc: Vec<crate::webrtc::WebrtcSnapshot>,
}

/// The dataplane's node configuration for a validated configuration.
pub fn node_config(config: &Validated) -> NodeConfig {
    let n = &config.raw.node;
    let d = &config.raw.dataplane;
    let interfaces = config
        .interfaces
        .iter()
        .map(|i| {
            let (mut ipv4, mut ipv6) = (Vec::new(), Vec::new());
            for a in &i.addresses {
                match a.addr() {
                    IpAddr::V4(v4) => ipv4.push(slowpath::Ipv4Net::new(v4, a.prefix()).expect("validated")),
                    IpAddr::V6(v6) => ipv6.push(slowpath::Ipv6Net::new(v6, a.prefix()).expect("validated")),
                }
            }
            InterfaceConfig {
                name: i.name.clone(),
                device: i.device.clone(),
                vlan: i.vlan,
                mtu: i.mtu,
                ipv4,
                ipv6,
                gateway4: i.gateway4,
                gateway6: i.gateway6,
            }
        })
        .collect();
    NodeConfig {
        eal: EalConfig {
            main_lcore: n.control_cores[0],
            worker_lcores: n.worker_cores.clone(),
            file_prefix: n.file_prefix.clone(),
            hugepages: n.hugepages,
            memory_mb: n.memory_mb,
            extra_args: n.eal_args.clone(),
        },
        interfaces,
        mbufs: d.mbufs,
        mbuf_cache: d.mbuf_cache,
        rx_desc: d.rx_desc,
        tx_desc: d.tx_desc,
        slow_path_ring: d.slow_path_ring,
        dataplane: DataplaneConfig {
            max_flows: d.max_flows,
            max_next_hops: d.max_neighbors,
            idle_sleep_us: d.idle_sleep_us,
            police: d.police.to_config(),
            start_fenced: config.raw.ha.leased(),
            // Validated with the file.
            table_memory: d.table_memory.parse().unwrap_or_default(),
            ..Default::default()
        },
        slow_path: SlowPathConfig {
            neighbors: NeighborConfig { max_entries: d.max_neighbors as u32, ..NeighborConfig::default() },
            ..SlowPathConfig::default()
        },
    }
}

impl Node {
    /// Starts the dataplane's node and programs static sessions.
    pub fn start(config: &Validated) -> anyhow::Result<Node> {
        let wanted = match config.raw.dataplane.srtp_engine.as_str() {
            "auto" => None,
            name => Some(name.parse().context("dataplane.srtp_engine")?),
        };
        let engine = mediafwd_dataplane::srtp::engine::select(wanted).context("choosing the SRTP crypto engine")?;
        tracing::info!(engine = %engine, detail = %mediafwd_dataplane::srtp::engine::describe(engine), "SRTP crypto engine");
        let dp::Node { dataplane, slow, io } = match dp::Node::start(&node_config(config)) {
            Err(e @ NodeError::Eal(_)) => {
                return Err(
                    anyhow::Error::new(e).context("starting the node (no hugepages? try node.hugepages = false)")
                )
            }
            started => started?,
        };
        let infos = config
            .interfaces
            .iter()
            .enumerate()
            .map(|(idx, i)| {
                let port = io.interface_port(idx).expect("every interface has a port");
                IfaceInfo { config: i.clone(), port_id: port.id, mac: port.mac }
            })
            .collect();
        let d = &config.raw.dataplane;
        let sc = &config.raw.sessions;
        let mut sessions =
            SessionManager::with_quarantine(infos, d.max_flows, Duration::from_secs(sc.port_quarantine as u64));
        sessions.default_media_timeout = Duration::from_secs(sc.media_timeout as u64);
        sessions.default_max_lifetime = (sc.max_lifetime > 0).then(|| Duration::from_secs(sc.max_lifetime as u64));
        sessions.max_sessions = (sc.max_sessions > 0).then_some(sc.max_sessions);
        let stats_interval = Duration::from_secs(config.raw.node.stats_log_seconds.max(1) as u64);
        let max_flows = d.max_flows;
        let mut node = Node { dataplane, slow, io, sessions, stats_interval, max_flows, restored_webrtc: Vec::new() };
        node.start_static_sessions(config)?;
        Ok(node)
    }

    fn start_static_sessions(&mut self, config: &Validated) -> anyhow::Result<()> {
        let now = Instant::now();
        for s in &config.raw.static_sessions {
            let _s = crate::logging::session_span(&s.id).entered();
            let mut legs = Vec::new();
            for (j, l) in s.legs.iter().enumerate() {
                let remote = l.remote.as_deref().map(str::parse).transpose().expect("validated");
                legs.push(LegRequest {
                    label: ["a", "b"][j].to_string(),
                    interface: l.interface.clone(),
                    local_port: Some(l.local_port),
                    local_address: l.local_address.as_deref().map(str::parse).transpose().expect("validated"),
                    prefer_v6: false,
                    remote,
                    remote_rtcp: None,
                    rtcp_mux: l.rtcp_mux,
                    latch: LatchSetting::parse(&l.latch).expect("validated").0,
                    strict_source: l.strict_source,
                    clock_rate: 8000,
                    srtp_inbound: l.srtp_inbound.as_ref().map(|k| k.policy("srtp_inbound")).transpose()?,
                    srtp_outbound: l.srtp_outbound.as_ref().map(|k| k.policy("srtp_outbound")).transpose()?,
                });
            }
            let legs: [LegRequest; 2] = legs.try_into().expect("validated: two legs");
            let (session, commands) = self
                .sessions
                .create(&s.id, legs, None, None, &mut NeighborResolver(&mut self.slow), now)
                .with_context(|| format!("static_session {:?}", s.id))?;
            for c in commands {
                self.dataplane.send(c);
            }
            tracing::info!(a = %session.legs[0].local, b = %session.legs[1].local, "static session");
        }
        Ok(())
    }

    /// Logs the dataplane's counters, drops by reason included.
    pub fn log_stats(&self) {
        let s = self.dataplane.worker_stats();
        let drops: Vec<String> = mediafwd_dataplane::stats::DropReason::ALL
            .iter()
            .map(|r| (r.name(), s.iter().map(|w| w.dropped(*r)).sum::<u64>()))
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        let slow = self.slow.stats();
        tracing::info!(
            rx = s.iter().map(|w| w.rx_packets).sum::<u64>(),
            tx = s.iter().map(|w| w.tx_packets).sum::<u64>(),
            slow_path = s.iter().map(|w| w.slow_path).sum::<u64>(),
            drops = drops.join(" "),
            neighbors = self.slow.neighbors().len(),
            slow_tx = slow.tx_packets,
            "dataplane"
        );
    }

    /// Sends a command to every worker.
    pub fn send(&mut self, cmd: Command) -> u64 {
        self.dataplane.send(cmd)
    }

    /// Stops the workers and the ports, and releases DPDK.
    pub fn shutdown(self) {
        self.log_stats();
        let Node { dataplane, slow, io, sessions, .. } = self;
        drop(sessions);
        dp::Node { dataplane, slow, io }.shutdown();
        tracing::info!("stopped");
    }
}

/// The neighbor table, as the session manager sees it.
pub(crate) struct NeighborResolver<'a>(pub(crate) &'a mut SlowPath);

impl Resolver for NeighborResolver<'_> {
    fn next_hop(&mut self, iface: usize, dst: IpAddr) -> Result<u32, String> {
        self.0.resolve(iface, dst).map_err(|e| e.to_string())
    }

    fn default_next_hop(&mut self, iface: usize, family_v4: bool) -> Option<u32> {
        let i = self.0.interfaces().get(iface)?;
        let gw = if family_v4 { i.gateway4.map(IpAddr::V4) } else { i.gateway6.map(IpAddr::V6) }?;
        self.0.resolve(iface, gw).ok()
    }
}
