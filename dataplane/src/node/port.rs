//! A started port as the control side sees it: what it is, and its
//! counters and link, read on demand.

use mediafwd_ffi::Port;

use crate::stats::PortStats;
use crate::wire::ethernet::MacAddr;

/// A DPDK port id (also the index of the workers' per-port tables).
pub type PortId = u16;

/// One started port and the interfaces on it.
#[derive(Debug, Clone)]
pub struct NodePort {
    pub(super) port: Port,
    /// DPDK's port id.
    pub id: PortId,
    /// DPDK's device name (PCI address, vdev name, `net_ring_<label>`).
    pub device: String,
    /// The PMD, e.g. `net_af_xdp`, `net_iavf`.
    pub driver: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Whether RSS spreads UDP flows over the workers' queues.
    pub rss_udp: bool,
    /// Indexes of the interfaces on it, into the node's configuration.
    pub interfaces: Vec<usize>,
}

impl NodePort {
    /// The NIC's basic counters (zero when the PMD cannot tell).
    pub fn stats(&self) -> PortStats {
        self.port
            .stats()
            .map(|s| PortStats {
                rx_packets: s.rx_packets,
                tx_packets: s.tx_packets,
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                rx_missed: s.rx_missed,
                rx_errors: s.rx_errors,
                tx_errors: s.tx_errors,
                rx_nombuf: s.rx_nombuf,
            })
            .unwrap_or_default()
    }

    /// The PMD's extended counters by name (none when it cannot tell).
    pub fn xstats(&self) -> Vec<(String, u64)> {
        self.port.xstats().unwrap_or_default()
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.port.link_up()
    }
}
