//! Opening the tools' DPDK ports: one queue pair each, promiscuous, started,
//! and waiting for the link.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_ffi::{Mempool, Port, PortConfig, RxQueue, TxQueue};

/// A started port with its one queue pair.
pub struct Opened {
    /// The port.
    pub port: Port,
    /// Its RX queue.
    pub rx: RxQueue,
    /// Its TX queue.
    pub tx: TxQueue,
    /// Its MAC address.
    pub mac: MacAddr,
}

/// Configures port `name` (a vdev name or PCI address) with one queue pair
/// of `desc` descriptors each on `pool`, and starts it.
pub fn open(name: &str, pool: &Mempool, desc: u16) -> anyhow::Result<Opened> {
    let port = Port::by_name(name)?;
    let conf = PortConfig { rx_queues: 1, tx_queues: 1, rx_desc: desc, tx_desc: desc, mtu: None, promiscuous: true };
    let (_info, mut rxq, mut txq) = port.configure(&conf, pool).with_context(|| format!("configuring {name}"))?;
    let mac = MacAddr(port.mac_addr()?);
    port.start().with_context(|| format!("starting {name}"))?;
    Ok(Opened { port, rx: rxq.remove(0), tx: txq.remove(0), mac })
}

/// Waits until every port's link is up.
pub fn wait_links(ports: &[Port], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    for p in ports {
        while !p.link_up() {
            if Instant::now() > deadline {
                bail!("the link of {} did not come up within {:?}: is the other end running?", p.name(), timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}
