//! The node: DPDK started from the configuration, ports configured with one
//! queue pair per worker (plus a TX queue for the control side), workers
//! launched on their cores, static sessions programmed, and the control
//! loop that serves the slow path until told to stop.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::flow::Command;
use mediafwd_dataplane::slowpath::{self, NeighborConfig, SlowPath, SlowPathConfig};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::{Dataplane, DataplaneConfig, WorkerQueues};
use mediafwd_ffi::{ring, Eal, Mempool, Port, PortConfig, Ring, TxQueue};

use crate::config::{Device, Validated};
use crate::session::{IfaceInfo, LatchSetting, LegRequest, Resolver, SessionManager};

/// One DPDK port and the interfaces on it.
pub struct PortState {
    /// The DPDK port.
    pub port: Port,
    /// Its MAC.
    pub mac: MacAddr,
    /// Indexes into the configuration's interfaces.
    pub interfaces: Vec<usize>,
    /// The PMD and what RSS it gave.
    pub info: mediafwd_ffi::port::PortInfo,
}

/// A running node.
pub struct Node {
    /// The dataplane.
    pub dataplane: Dataplane,
    /// Ports by DPDK port id.
    pub ports: BTreeMap<u16, PortState>,
    /// ARP, ND and ping for our addresses, and the neighbor table.
    pub slow: SlowPath,
    /// The sessions.
    pub sessions: SessionManager,
    /// How often the counters are logged.
    pub stats_interval: Duration,
    /// Flow table capacity per worker.
    pub max_flows: usize,
    /// The packet buffer pool.
    pub pool: Mempool,
    eal: &'static Eal,
}

/// The EAL arguments for a configuration.
pub fn eal_args(config: &Validated) -> Vec<String> {
    let n = &config.raw.node;
    let mut cores = vec![n.control_cores[0]];
    cores.extend(&n.worker_cores);
    let list = cores.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let mut args = vec![
        "-l".to_string(),
        list,
        format!("--main-lcore={}", n.control_cores[0]),
        format!("--file-prefix={}", n.file_prefix),
        "--log-level=notice".to_string(),
    ];
    if n.hugepages {
        args.extend(["-m".to_string(), n.memory_mb.to_string()]);
    } else {
        args.extend(["--no-huge".to_string(), "-m".to_string(), n.memory_mb.to_string(), "--no-shconf".to_string()]);
    }
    let mut seen = Vec::new();
    let mut any_pci = false;
    for i in &config.interfaces {
        if seen.contains(&i.device.name()) {
            continue;
        }
        seen.push(i.device.name());
        any_pci |= matches!(i.device, Device::Pci(_));
        args.push(i.device.eal_arg());
    }
    if !any_pci {
        args.push("--no-pci".to_string());
    }
    args.extend(n.eal_args.iter().cloned());
    args
}

impl Node {
    /// Starts DPDK, the ports and the workers, and programs static sessions.
    pub fn start(config: &Validated) -> anyhow::Result<Node> {
        let args = eal_args(config);
        tracing::info!(?args, "starting DPDK");
        let eal =
            Eal::init(&args).context("starting the DPDK EAL (are hugepages reserved? try node.hugepages = false)")?;
        let workers = eal.worker_lcores();
        if workers.len() != config.raw.node.worker_cores.len() {
            bail!(
                "the EAL gave {} worker lcores for node.worker_cores {:?}",
                workers.len(),
                config.raw.node.worker_cores
            );
        }
        let d = &config.raw.dataplane;
        let pool = Mempool::create("mediafwd_pkts", d.mbufs, d.mbuf_cache, 2176 + 128, -1)
            .context("creating the packet pool")?;

        let mut ports = BTreeMap::new();
        let mut rx_by_port = BTreeMap::new();
        let mut tx_by_port = BTreeMap::new();
        for (idx, iface) in config.interfaces.iter().enumerate() {
            let port = Port::by_name(iface.device.name()).with_context(|| {
                format!("interface[{idx}].device: {} (interface {:?}) is not a DPDK port", iface.device, iface.name)
            })?;
            if let Some(p) = ports.get_mut(&port.id()) {
                let p: &mut PortState = p;
                p.interfaces.push(idx);
                continue;
            }
            let mtu = config.interfaces.iter().filter(|i| i.device.name() == iface.device.name()).map(|i| i.mtu).max();
            let pc = PortConfig {
                rx_queues: workers.len() as u16,
                tx_queues: workers.len() as u16,
                rx_desc: d.rx_desc,
                tx_desc: d.tx_desc,
                mtu,
                promiscuous: true,
            };
            let (info, rxq, txq) = port
                .configure(&pc, &pool)
                .with_context(|| format!("configuring port {} ({})", iface.device, iface.name))?;
            port.start().with_context(|| format!("starting port {}", iface.device))?;
            let mac = MacAddr(port.mac_addr()?);
            tracing::info!(port = port.id(), device = %iface.device, %mac, driver = info.driver, rss_udp = info.rss_udp, "port up");
            rx_by_port.insert(port.id(), rxq);
            tx_by_port.insert(port.id(), txq);
            ports.insert(port.id(), PortState { port, mac, interfaces: vec![idx], info });
        }

        let max_port = *ports.keys().last().expect("at least one interface") as usize;
        let mut contexts = vec![PortContext::with_vlans(MacAddr::default(), false, &[]); max_port + 1];
        for (&id, p) in &ports {
            let untagged = p.interfaces.iter().any(|&i| config.interfaces[i].vlan.is_none());
            let vlans: Vec<u16> = p.interfaces.iter().filter_map(|&i| config.interfaces[i].vlan).collect();
            contexts[id as usize] = PortContext::with_vlans(p.mac, untagged, &vlans);
        }

        // Multi-producer: every control thread may send; worker 0 consumes.
        let inject = Ring::create("mediafwd_inject", d.slow_path_ring, -1, ring::flags::SC_DEQ)?;
        let mut slow_rings = Vec::new();
        let mut queues = Vec::new();
        for (w, &lcore) in workers.iter().enumerate() {
            let r = Ring::create(
                &format!("mediafwd_slow{w}"),
                d.slow_path_ring,
                -1,
                ring::flags::SP_ENQ | ring::flags::SC_DEQ,
            )?;
            slow_rings.push(r.clone());
            let mut rx = Vec::new();
            let mut tx: Vec<Option<TxQueue>> = (0..=max_port).map(|_| None).collect();
            for (&id, qs) in rx_by_port.iter_mut() {
                rx.push(qs.remove(0));
                tx[id as usize] = Some(tx_by_port.get_mut(&id).expect("tx queues").remove(0));
            }
            let inject = (w == 0).then(|| inject.clone());
            queues.push(WorkerQueues { lcore, rx, tx, slow_path: Some(r), inject });
        }
        let dp_config =
            DataplaneConfig { max_flows: d.max_flows, max_next_hops: d.max_neighbors, ..Default::default() };
        let dataplane = Dataplane::start(eal, &dp_config, contexts, queues)?;
        tracing::info!(workers = ?dataplane.lcores(), "workers running");

        // Frames the control side sends: worker 0 transmits them on its own
        // TX queues, so no TX queue is shared and no PMD needs an extra one.
        let mac_of = |idx: usize| ports.values().find(|p| p.interfaces.contains(&idx)).map(|p| (p.port.id(), p.mac));
        let mut slow_ifaces = Vec::new();
        let mut infos = Vec::new();
        for (idx, i) in config.interfaces.iter().enumerate() {
            let (port_id, mac) = mac_of(idx).expect("every interface has a port");
            let mut s = slowpath::Interface::new(i.name.clone(), port_id, i.vlan, mac);
            for a in &i.addresses {
                match a.addr() {
                    IpAddr::V4(v4) => s.ipv4.push(slowpath::Ipv4Net::new(v4, a.prefix()).expect("validated")),
                    IpAddr::V6(v6) => s.ipv6.push(slowpath::Ipv6Net::new(v6, a.prefix()).expect("validated")),
                }
            }
            s.gateway4 = i.gateway4;
            s.gateway6 = i.gateway6;
            s.mtu = i.mtu;
            slow_ifaces.push(s);
            infos.push(IfaceInfo { config: i.clone(), port_id, mac });
        }
        let slow_config = SlowPathConfig {
            neighbors: NeighborConfig { max_entries: d.max_neighbors as u32, ..NeighborConfig::default() },
            ..SlowPathConfig::default()
        };
        let mut slow = SlowPath::new(&slow_config, slow_ifaces, slow_rings, inject, pool.clone())?;
        let announced = slow.announce();
        tracing::info!(frames = announced, "announced our addresses");
        let sc = &config.raw.sessions;
        let mut sessions =
            SessionManager::with_quarantine(infos, d.max_flows, Duration::from_secs(sc.port_quarantine as u64));
        sessions.default_media_timeout = Duration::from_secs(sc.media_timeout as u64);
        sessions.default_max_lifetime = (sc.max_lifetime > 0).then(|| Duration::from_secs(sc.max_lifetime as u64));
        let stats_interval = Duration::from_secs(config.raw.node.stats_log_seconds.max(1) as u64);
        let max_flows = d.max_flows;
        let mut node = Node { dataplane, ports, slow, sessions, stats_interval, max_flows, pool, eal };
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
                    srtp_inbound: None,
                    srtp_outbound: None,
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

    /// Stops the workers and the ports.
    pub fn shutdown(self) {
        self.log_stats();
        let Node { dataplane, ports, slow, sessions, pool, eal, .. } = self;
        dataplane.stop();
        drop(slow);
        drop(sessions);
        for p in ports.values() {
            if let Err(e) = p.port.stop() {
                tracing::warn!(port = p.port.id(), error = %e, "stopping port");
            }
            let _ = p.port.close();
        }
        drop(pool);
        eal.cleanup();
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
