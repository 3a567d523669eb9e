//! Ethernet ports (`rte_ethdev`) and their queues.

use std::cell::Cell;
use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

use crate::cstr::to_cstring;
use crate::error::{DpdkError, Result};
use crate::mbuf::Burst;
use crate::mempool::Mempool;
use crate::ring::Ring;
use crate::sys;

// RTE_BIT64 macros that bindgen cannot evaluate (rte_ethdev.h, 22.11).
const RSS_IPV4: u64 = 1 << 2;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
const RSS_IPV6: u64 = 1 << 8;
const RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
const TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
const TX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// RX queues (one per worker).
    pub rx_queues: u16,
    /// TX queues (one per worker, plus one per control lcore that transmits).
    pub tx_queues: u16,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// MTU to set, if any.
    pub mtu: Option<u16>,
    /// Receive every frame, not only those for the port's MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { rx_queues: 1, tx_queues: 1, rx_desc: 1024, tx_desc: 1024, mtu: None, promiscuous: true }
    }
}

/// What the port can do, read once at configuration.
#[derive(Debug, Clone, Default)]
pub struct PortInfo {
    /// PMD name, e.g. `net_af_xdp`, `net_iavf`.
    pub driver: String,
    /// RSS hash functions applied (0: none; one queue or no RSS support).
    pub rss_hash: u64,
    /// Whether RSS on UDP ports is in use.
    pub rss_udp: bool,
    /// Whether the NIC can fill IPv4 and UDP checksums on transmit.
    pub tx_checksum_offload: bool,
    /// Maximum RX queues.
    pub max_rx_queues: u16,
    /// Maximum TX queues.
    pub max_tx_queues: u16,
}

/// Basic port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because RX queues were full.
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Packets that failed to transmit.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// A DPDK port, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Port {
    id: u16,
}

impl Port {
    /// The port with this id, if it exists.
    pub fn from_id(id: u16) -> Option<Port> {
        // SAFETY: validity check on an id.
        (unsafe { sys::rte_eth_dev_is_valid_port(id) } == 1).then_some(Port { id })
    }

    /// The port with this device name: a PCI address (`0000:3b:02.0`) or a
    /// vdev name (`net_af_xdp0`).
    pub fn by_name(name: &str) -> Result<Port> {
        let c = to_cstring("port name", name)?;
        let mut id = 0u16;
        // SAFETY: NUL-terminated name; `id` is a valid out-pointer.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::InvalidArgument {
                what: "port",
                reason: format!("no DPDK port named {name:?} (check the PCI address or the --vdev argument)"),
            });
        }
        Ok(Port { id })
    }

    /// Creates a `net_ring` port whose queue `i` receives from `rx[i]` and
    /// transmits into `tx[i]`.
    pub fn from_rings(name: &str, rx: &[Ring], tx: &[Ring], socket: u32) -> Result<Port> {
        let c = to_cstring("port name", name)?;
        let rxp: Vec<*mut sys::rte_ring> = rx.iter().map(Ring::as_ptr).collect();
        let txp: Vec<*mut sys::rte_ring> = tx.iter().map(Ring::as_ptr).collect();
        // SAFETY: arrays of valid rings of the given lengths; the rings are
        // kept alive by their handles, which the caller keeps for the port's life.
        let ret = unsafe {
            sys::rte_eth_from_rings(c.as_ptr(), rxp.as_ptr(), rxp.len() as u32, txp.as_ptr(), txp.len() as u32, socket)
        };
        if ret < 0 {
            return Err(DpdkError::from_errno("rte_eth_from_rings"));
        }
        Ok(Port { id: ret as u16 })
    }

    /// Number of ports available.
    pub fn count() -> u16 {
        // SAFETY: reads the ethdev table.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name.
    pub fn name(&self) -> String {
        let mut buf = [0 as c_char; 64];
        // SAFETY: the buffer is RTE_ETH_NAME_MAX_LEN (64) bytes.
        let ret = unsafe { sys::rte_eth_dev_get_name_by_port(self.id, buf.as_mut_ptr()) };
        if ret != 0 {
            return format!("port{}", self.id);
        }
        // SAFETY: DPDK wrote a NUL-terminated string into `buf`.
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
    }

    /// The NUMA socket the device is attached to (-1: unknown).
    pub fn socket(&self) -> i32 {
        // SAFETY: any valid port id.
        unsafe { sys::rte_eth_dev_socket_id(self.id) }
    }

    /// The port's MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6]> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: `a` is a valid out-pointer.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_macaddr_get", ret));
        }
        Ok(a.addr_bytes)
    }

    fn info_raw(&self) -> Result<sys::rte_eth_dev_info> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: `info` is a valid out-pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(self.id, &mut info) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_info_get", ret));
        }
        Ok(info)
    }

    /// Configures the port and its queues, taking RX buffers from `pool`,
    /// and returns the queues for the lcores that will poll them. RSS on
    /// UDP ports is enabled when there is more than one RX queue and the PMD
    /// offers it.
    pub fn configure(&self, conf: &PortConfig, pool: &Mempool) -> Result<(PortInfo, Vec<RxQueue>, Vec<TxQueue>)> {
        let info = self.info_raw()?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the PMD's static driver name.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        for (what, requested, max) in
            [("rx queues", conf.rx_queues, info.max_rx_queues), ("tx queues", conf.tx_queues, info.max_tx_queues)]
        {
            if requested == 0 || requested > max {
                return Err(DpdkError::InvalidArgument {
                    what,
                    reason: format!("{requested} requested, port {} ({driver}) offers 1..={max}", self.id),
                });
            }
        }
        let mut eth_conf = sys::rte_eth_conf::default();
        let wanted = RSS_IPV4 | RSS_NONFRAG_IPV4_UDP | RSS_IPV6 | RSS_NONFRAG_IPV6_UDP;
        let rss_hash = if conf.rx_queues > 1 { info.flow_type_rss_offloads & wanted } else { 0 };
        if rss_hash != 0 {
            eth_conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            eth_conf.rx_adv_conf.rss_conf.rss_hf = rss_hash;
        }
        // SAFETY: eth_conf is a valid, fully initialised configuration.
        let ret = unsafe { sys::rte_eth_dev_configure(self.id, conf.rx_queues, conf.tx_queues, &eth_conf) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_configure", ret));
        }
        let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid out-pointers; adjusts to the PMD's limits.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        let socket = self.socket().max(0) as u32;
        let mut rxq = Vec::new();
        for q in 0..conf.rx_queues {
            // SAFETY: NULL rx_conf selects the PMD defaults; the pool outlives
            // the queue because RxQueue keeps a handle to it.
            let ret =
                unsafe { sys::rte_eth_rx_queue_setup(self.id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr()) };
            if ret != 0 {
                return Err(DpdkError::from_ret("rte_eth_rx_queue_setup", ret));
            }
            rxq.push(RxQueue { port: self.id, queue: q, _pool: pool.clone(), _not_sync: PhantomData });
        }
        let mut txq = Vec::new();
        for q in 0..conf.tx_queues {
            // SAFETY: NULL tx_conf selects the PMD defaults.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(self.id, q, tx_desc, socket, std::ptr::null()) };
            if ret != 0 {
                return Err(DpdkError::from_ret("rte_eth_tx_queue_setup", ret));
            }
            txq.push(TxQueue { port: self.id, queue: q, _not_sync: PhantomData });
        }
        if let Some(mtu) = conf.mtu {
            // SAFETY: plain call on a configured port.
            let ret = unsafe { sys::rte_eth_dev_set_mtu(self.id, mtu) };
            if ret != 0 && ret != -95
            /* ENOTSUP: the PMD keeps its MTU */
            {
                return Err(DpdkError::from_ret("rte_eth_dev_set_mtu", ret));
            }
        }
        if conf.promiscuous {
            // SAFETY: plain call; not every PMD supports it, which is fine.
            unsafe { sys::rte_eth_promiscuous_enable(self.id) };
            // SAFETY: as above.
            unsafe { sys::rte_eth_allmulticast_enable(self.id) };
        }
        let port_info = PortInfo {
            driver,
            rss_hash,
            rss_udp: rss_hash & (RSS_NONFRAG_IPV4_UDP | RSS_NONFRAG_IPV6_UDP) != 0,
            tx_checksum_offload: info.tx_offload_capa & (TX_OFFLOAD_IPV4_CKSUM | TX_OFFLOAD_UDP_CKSUM)
                == (TX_OFFLOAD_IPV4_CKSUM | TX_OFFLOAD_UDP_CKSUM),
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
        };
        Ok((port_info, rxq, txq))
    }

    /// Starts the port.
    pub fn start(&self) -> Result<()> {
        // SAFETY: plain call on a configured port.
        let ret = unsafe { sys::rte_eth_dev_start(self.id) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_start", ret));
        }
        Ok(())
    }

    /// Stops the port (no lcore may still poll it).
    pub fn stop(&self) -> Result<()> {
        // SAFETY: plain call.
        let ret = unsafe { sys::rte_eth_dev_stop(self.id) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_stop", ret));
        }
        Ok(())
    }

    /// Releases the port.
    pub fn close(&self) -> Result<()> {
        // SAFETY: plain call on a stopped port.
        let ret = unsafe { sys::rte_eth_dev_close(self.id) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_close", ret));
        }
        Ok(())
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut link) };
        ret == 0 && link.link_status() == 1
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out-pointer.
        let ret = unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_stats_get", ret));
        }
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// The PMD's extended counters, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        // SAFETY: a NULL array asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(DpdkError::from_ret("rte_eth_xstats_get_names", n));
        }
        let mut names = vec![sys::rte_eth_xstat_name::default(); n as usize];
        let mut values = vec![sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: arrays of `n` entries.
        let got = unsafe { sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        // SAFETY: arrays of `n` entries.
        let got_v = unsafe { sys::rte_eth_xstats_get(self.id, values.as_mut_ptr(), n as u32) };
        if got < 0 || got_v < 0 {
            return Err(DpdkError::from_ret("rte_eth_xstats_get", got.min(got_v)));
        }
        let count = (got.min(got_v)) as usize;
        Ok(values[..count]
            .iter()
            .map(|v| {
                let name = names.get(v.id as usize).map(|n| {
                    // SAFETY: DPDK writes NUL-terminated names within the array.
                    unsafe { CStr::from_ptr(n.name.as_ptr()) }.to_string_lossy().into_owned()
                });
                (name.unwrap_or_default(), v.value)
            })
            .collect())
    }
}

/// An RX queue, owned by the one lcore that polls it (`Send`, not `Sync`).
pub struct RxQueue {
    port: u16,
    queue: u16,
    _pool: Mempool,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    /// The port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Appends up to the free room of `burst`; returns how many arrived.
    #[inline(always)]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        let (p, room) = burst.raw_tail();
        // SAFETY: `room` free slots start at `p`; this handle is the queue's
        // only user (not Sync, not Clone).
        let n = unsafe { sys::mfw_eth_rx_burst(self.port, self.queue, p, room) } as usize;
        burst.grow(n);
        n
    }
}

/// A TX queue, owned by the one lcore that sends on it (`Send`, not `Sync`):
/// DPDK TX queues are not thread-safe.
pub struct TxQueue {
    port: u16,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl TxQueue {
    /// The port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Hands the packets at the front of `burst` to the NIC; returns how many
    /// it took. Those it did not take stay in `burst`.
    #[inline(always)]
    pub fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let n = burst.len() as u16;
        if n == 0 {
            return 0;
        }
        // SAFETY: the first `n` slots are owned mbufs; the PMD takes ownership
        // of those it accepts, which are then removed from the burst.
        let sent = unsafe { sys::mfw_eth_tx_burst(self.port, self.queue, burst.raw_head(), n) } as usize;
        burst.consume_front(sent);
        sent
    }
}
