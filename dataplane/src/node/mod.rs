//! The node's DPDK lifecycle, owned by the dataplane: the EAL started on
//! the configured lcores, the packet pool, every port configured with one
//! RX and one TX queue per worker, the slow-path rings (one per worker) and
//! the inject ring (control side to worker 0), the workers launched, the
//! slow path set up and its addresses announced; then, at the end, the same
//! in reverse. The control side gets Rust types only: the [`Dataplane`]
//! handle, the [`SlowPath`], and a [`NodeIo`] with the ports
//! ([`NodePort`]: id, device, driver, MAC, [`PortStats`], xstats, link),
//! the [`Tsc`] clock and [`dpdk_version`].
//!
//! ```text
//! NodeConfig ─> Node::start ─> EAL ─> pool ─> ports (+ ring ports) ─> rings ─> Dataplane::start ─> SlowPath
//!                  │
//!                  └─> Node { dataplane, slow, io }  ...  Node::shutdown: workers, slow path, ports, pool, EAL
//! ```
//!
//! # Ring ports: a real node in a test
//!
//! An interface whose device is [`Device::Ring`] (`ring:<label>` in the
//! configuration file) gets a `net_ring` port on in-memory rings, made by
//! the node after the EAL started. [`NodeIo::ring_port`] gives a
//! [`RingPort`] handle: [`RingPort::inject`] puts an Ethernet frame on the
//! port's receive side (worker 0 polls it), [`RingPort::collect`] and
//! [`RingPort::collect_until`] take the frames the workers transmitted on
//! it. Everything else is the production path: the same workers, flow
//! tables, SRTP, slow path and counters.
//!
//! ```no_run
//! # use mediafwd_dataplane::node::*;
//! # fn f(config: NodeConfig, frame: &[u8]) -> Result<(), NodeError> {
//! // config.interfaces[0].device = Device::ring("a")?, [1] = Device::ring("b")?
//! let node = Node::start(&config)?;
//! let (a, b) = (node.io.ring_port("a").unwrap(), node.io.ring_port("b").unwrap());
//! // ... program flows through node.dataplane ...
//! a.inject(frame).unwrap();
//! let relayed = b.collect_until(1, std::time::Duration::from_secs(5));
//! drop((a, b));
//! node.shutdown();
//! # Ok(()) }
//! ```
//!
//! The EAL starts once per process: one node per test process (share it
//! between the tests of a binary), with a `file_prefix` unique to the
//! process, `hugepages: false` where no hugepages are reserved.

mod clock;
mod config;
mod port;
mod ring_port;

use std::collections::BTreeMap;

use mediafwd_ffi::{ring, DpdkError, Eal, Mempool, Port, PortConfig, Ring, TxQueue};

pub use self::clock::{dpdk_version, Tsc};
pub use self::config::{Device, EalConfig, InterfaceConfig, NodeConfig, MAX_RING_LABEL};
pub use self::port::{NodePort, PortId};
pub use self::ring_port::{InjectError, RingPort};
pub use crate::stats::PortStats;

use crate::classify::PortContext;
use crate::engine::{Dataplane, StartError, WorkerQueues};
use crate::memory::TableMemory;
use crate::slowpath::{self, SlowPath, SlowPathError};
use crate::wire::ethernet::MacAddr;

/// Room of a packet buffer: a 2176-byte data room (a 2048-byte frame at the
/// default headroom) and 128 bytes to spare.
const MBUF_DATA_ROOM: u16 = 2176 + 128;

/// The node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `rte_eal_init` failed.
    #[error("starting the DPDK EAL (are hugepages reserved? or start without them): {0}")]
    Eal(#[source] DpdkError),
    /// The EAL gave other worker lcores than asked for.
    #[error("the EAL gave {got} worker lcores for the {wanted:?} asked for")]
    Lcores {
        /// How many it gave.
        got: usize,
        /// The CPUs asked for.
        wanted: Vec<usize>,
    },
    /// The configuration names no interface.
    #[error("the node has no interface: give at least one")]
    NoInterface,
    /// An interface's device is no DPDK port.
    #[error("interface[{index}].device: {device} (interface {name:?}) is not a DPDK port: {source}")]
    NoSuchPort {
        /// The interface's index.
        index: usize,
        /// Its name.
        name: String,
        /// Its device, as written.
        device: String,
        /// DPDK's answer.
        source: DpdkError,
    },
    /// A DPDK call failed.
    #[error("{what}: {source}")]
    Dpdk {
        /// What the node was doing.
        what: String,
        /// DPDK's error.
        source: DpdkError,
    },
    /// The workers did not start.
    #[error(transparent)]
    Workers(#[from] StartError),
    /// The slow path refused the interfaces.
    #[error(transparent)]
    SlowPath(#[from] SlowPathError),
}

fn dpdk(what: impl Into<String>) -> impl FnOnce(DpdkError) -> NodeError {
    let what = what.into();
    move |source| NodeError::Dpdk { what, source }
}

/// A running node: the workers, the slow path and the DPDK resources.
pub struct Node {
    /// The workers' handle: commands in, events and counters out.
    pub dataplane: Dataplane,
    /// ARP, ND and ping for the node's addresses, and its neighbor table.
    pub slow: SlowPath,
    /// The EAL, the pool and the ports.
    pub io: NodeIo,
}

/// What the node holds of DPDK: the EAL, the packet pool, the ports and the
/// ring ports' handles. Its ports are read by the control side; the rest is
/// released by [`Node::shutdown`].
pub struct NodeIo {
    eal: &'static Eal,
    pool: Mempool,
    ports: BTreeMap<PortId, NodePort>,
    ring_ports: Vec<RingPort>,
    interfaces: Vec<PortId>,
}

impl NodeIo {
    /// The ports, by id.
    pub fn ports(&self) -> impl Iterator<Item = &NodePort> {
        self.ports.values()
    }

    /// The port interface `index` is on.
    pub fn interface_port(&self, index: usize) -> Option<&NodePort> {
        self.ports.get(self.interfaces.get(index)?)
    }

    /// A handle on the ring port labelled `label`.
    pub fn ring_port(&self, label: &str) -> Option<RingPort> {
        self.ring_ports.iter().find(|r| r.label() == label).cloned()
    }

    /// The packet buffers in use (in queues, rings, per-lcore caches and in
    /// flight): a leak shows as a count that keeps rising.
    pub fn mbufs_in_use(&self) -> u32 {
        self.pool.in_use()
    }
}

impl Node {
    /// Starts DPDK, the ports, the workers and the slow path, and announces
    /// the node's addresses. The EAL starts once per process.
    pub fn start(config: &NodeConfig) -> Result<Node, NodeError> {
        if config.interfaces.is_empty() {
            return Err(NodeError::NoInterface);
        }
        let args = config.eal_args();
        tracing::info!(?args, "starting DPDK");
        let eal = Eal::init(&args).map_err(NodeError::Eal)?;
        let workers = eal.worker_lcores();
        if workers.len() != config.eal.worker_lcores.len() {
            return Err(NodeError::Lcores { got: workers.len(), wanted: config.eal.worker_lcores.clone() });
        }
        let pool = Mempool::create("mediafwd_pkts", config.mbufs, config.mbuf_cache, MBUF_DATA_ROOM, -1)
            .map_err(dpdk("creating the packet pool"))?;

        let mut ports: BTreeMap<PortId, NodePort> = BTreeMap::new();
        let mut ring_ports = Vec::new();
        let mut interfaces = Vec::new();
        let mut rx_by_port = BTreeMap::new();
        let mut tx_by_port = BTreeMap::new();
        for (idx, iface) in config.interfaces.iter().enumerate() {
            if let Some(p) = ports.values_mut().find(|p| config.interfaces[p.interfaces[0]].device == iface.device) {
                p.interfaces.push(idx);
                interfaces.push(p.id);
                continue;
            }
            let port = match &iface.device {
                Device::Ring { label, .. } => {
                    let (handle, port) = RingPort::create(label, workers.len(), &pool)
                        .map_err(dpdk(format!("making ring port {}", iface.device)))?;
                    ring_ports.push(handle);
                    port
                }
                _ => Port::by_name(iface.device.name()).map_err(|source| NodeError::NoSuchPort {
                    index: idx,
                    name: iface.name.clone(),
                    device: iface.device.to_string(),
                    source,
                })?,
            };
            let mtu = config.interfaces.iter().filter(|i| i.device == iface.device).map(|i| i.mtu).max();
            let pc = PortConfig {
                rx_queues: workers.len() as u16,
                tx_queues: workers.len() as u16,
                rx_desc: config.rx_desc,
                tx_desc: config.tx_desc,
                mtu,
                promiscuous: true,
            };
            let (info, rxq, txq) = port
                .configure(&pc, &pool)
                .map_err(dpdk(format!("configuring port {} ({})", iface.device, iface.name)))?;
            port.start().map_err(dpdk(format!("starting port {}", iface.device)))?;
            let mac = MacAddr(port.mac_addr().map_err(dpdk(format!("reading the MAC of {}", iface.device)))?);
            tracing::info!(port = port.id(), device = %iface.device, %mac, driver = info.driver, rss_udp = info.rss_udp, "port up");
            rx_by_port.insert(port.id(), rxq);
            tx_by_port.insert(port.id(), txq);
            interfaces.push(port.id());
            ports.insert(
                port.id(),
                NodePort {
                    port,
                    id: port.id(),
                    device: port.name(),
                    driver: info.driver,
                    mac,
                    rss_udp: info.rss_udp,
                    interfaces: vec![idx],
                },
            );
        }
        let max_port = *ports.keys().last().expect("at least one interface") as usize;

        let mut contexts = vec![PortContext::with_vlans(MacAddr::default(), false, &[]); max_port + 1];
        for (&id, p) in &ports {
            let untagged = p.interfaces.iter().any(|&i| config.interfaces[i].vlan.is_none());
            let vlans: Vec<u16> = p.interfaces.iter().filter_map(|&i| config.interfaces[i].vlan).collect();
            contexts[id as usize] = PortContext::with_vlans(p.mac, untagged, &vlans);
        }

        // Multi-producer: every control thread may send; worker 0 consumes.
        let inject = Ring::create("mediafwd_inject", config.slow_path_ring, -1, ring::flags::SC_DEQ)
            .map_err(dpdk("creating the inject ring"))?;
        let mut slow_rings = Vec::new();
        let mut queues = Vec::new();
        for (w, &lcore) in workers.iter().enumerate() {
            let r = Ring::create(
                &format!("mediafwd_slow{w}"),
                config.slow_path_ring,
                -1,
                ring::flags::SP_ENQ | ring::flags::SC_DEQ,
            )
            .map_err(dpdk("creating a slow-path ring"))?;
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
        let mut dc = config.dataplane.clone();
        if !config.eal.hugepages {
            // Without hugepages DPDK's memory is ordinary pages out of `-m`: no TLB to gain.
            dc.table_memory = TableMemory::Heap;
        }
        let dataplane = Dataplane::start(eal, &dc, contexts, queues)?;
        tracing::info!(workers = ?dataplane.lcores(), table_memory = dataplane.table_memory().name(), "workers running");

        // Frames the control side sends: worker 0 transmits them on its own
        // TX queues, so no TX queue is shared and no PMD needs an extra one.
        let slow_ifaces = config
            .interfaces
            .iter()
            .zip(&interfaces)
            .map(|(i, id)| {
                let mut s = slowpath::Interface::new(i.name.clone(), *id, i.vlan, ports[id].mac);
                s.ipv4 = i.ipv4.clone();
                s.ipv6 = i.ipv6.clone();
                s.gateway4 = i.gateway4;
                s.gateway6 = i.gateway6;
                s.mtu = i.mtu;
                s
            })
            .collect();
        let mut slow = SlowPath::new(&config.slow_path, slow_ifaces, slow_rings, inject, pool.clone())?;
        if !config.dataplane.start_fenced {
            let announced = slow.announce();
            tracing::info!(frames = announced, "announced our addresses");
        }
        let io = NodeIo { eal, pool, ports, ring_ports, interfaces };
        Ok(Node { dataplane, slow, io })
    }

    /// Stops the workers, the slow path and the ports, and releases DPDK.
    /// No DPDK call may follow in this process. While a [`RingPort`] handle
    /// is still held elsewhere, DPDK's memory is left as it is (the handle
    /// points into it) and a warning says so.
    pub fn shutdown(self) {
        let Node { dataplane, slow, io } = self;
        let NodeIo { eal, pool, ports, ring_ports, .. } = io;
        dataplane.stop();
        drop(slow);
        for p in ports.values() {
            if let Err(e) = p.port.stop() {
                tracing::warn!(port = p.id, error = %e, "stopping port");
            }
            let _ = p.port.close();
        }
        let held = ring_ports.iter().filter(|r| !r.is_unique()).count();
        drop(ring_ports);
        drop(pool);
        if held > 0 {
            tracing::warn!(held, "ring port handles are still held: DPDK's memory is left in place");
            return;
        }
        eal.cleanup();
    }
}
