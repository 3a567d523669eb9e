//! In-memory ports for tests: a `net_ring` port (`rte_eth_from_rings`) per
//! [`Device::Ring`](super::Device::Ring), one pair of rings per worker
//! queue. A [`RingPort`] handle puts frames on the rings the port receives
//! from and takes what the workers sent off the rings it transmits into, so
//! that a test in any crate drives a real node with byte slices.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_ffi::{Burst, DpdkError, Mempool, Port, Ring};

use super::port::PortId;
use crate::wire::ethernet::MacAddr;

/// Slots of each of a ring port's rings.
const RING_SLOTS: u32 = 4096;

struct Inner {
    label: String,
    port_id: PortId,
    mac: MacAddr,
    /// Per queue: the ring the port receives from.
    rx: Vec<Ring>,
    /// Per queue: the ring the port transmits into.
    tx: Vec<Ring>,
    pool: Mempool,
}

/// A handle on a ring port of a running node: cheap to clone, `Send` and
/// `Sync`, usable from any thread. Get it with
/// [`NodeIo::ring_port`](super::NodeIo::ring_port). Drop every handle before
/// [`Node::shutdown`](super::Node::shutdown): while one is left, the node
/// keeps DPDK's memory rather than free what the handle still points into.
#[derive(Clone)]
pub struct RingPort(Arc<Inner>);

/// A frame could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The node's packet pool is empty.
    #[error("no packet buffer left in the node's pool")]
    NoBuffer,
    /// The frame does not fit one buffer.
    #[error("the frame does not fit a packet buffer: {0}")]
    TooLong(DpdkError),
    /// The queue has no such index.
    #[error("ring port {label:?} has {queues} queues; there is no queue {queue}")]
    NoQueue {
        /// The port's label.
        label: String,
        /// The queue asked for.
        queue: usize,
        /// Queues the port has.
        queues: usize,
    },
    /// The port's receive ring is full: the worker is not polling.
    #[error("the receive ring of queue {0} is full")]
    Full(usize),
}

impl RingPort {
    /// Makes the rings and the port (`net_ring_<label>`), with `queues` RX
    /// and TX queues, drawing injected frames' buffers from `pool`.
    pub(super) fn create(label: &str, queues: usize, pool: &Mempool) -> Result<(RingPort, Port), DpdkError> {
        // Ring names are process-wide and at most 29 characters.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for q in 0..queues {
            // Multi-producer and -consumer: test threads inject and collect.
            rx.push(Ring::create(&format!("mfw_rp{n}_rx{q}"), RING_SLOTS, -1, 0)?);
            tx.push(Ring::create(&format!("mfw_rp{n}_tx{q}"), RING_SLOTS, -1, 0)?);
        }
        let port = Port::from_rings(label, &rx, &tx, 0)?;
        let mac = MacAddr(port.mac_addr()?);
        let inner = Inner { label: label.into(), port_id: port.id(), mac, rx, tx, pool: pool.clone() };
        Ok((RingPort(Arc::new(inner)), port))
    }

    /// The label (`ring:<label>` in the configuration).
    pub fn label(&self) -> &str {
        &self.0.label
    }

    /// The port's id.
    pub fn port_id(&self) -> PortId {
        self.0.port_id
    }

    /// The port's MAC: the destination of frames sent to the node.
    pub fn mac(&self) -> MacAddr {
        self.0.mac
    }

    /// RX (and TX) queues: one per worker.
    pub fn queues(&self) -> usize {
        self.0.rx.len()
    }

    /// Hands `frame` to the port as if received from the wire, on queue 0
    /// (polled by worker 0).
    pub fn inject(&self, frame: &[u8]) -> Result<(), InjectError> {
        self.inject_on(0, frame)
    }

    /// Hands `frame` to the port on RX queue `queue` (polled by worker `queue`).
    pub fn inject_on(&self, queue: usize, frame: &[u8]) -> Result<(), InjectError> {
        let ring = self.0.rx.get(queue).ok_or_else(|| InjectError::NoQueue {
            label: self.0.label.clone(),
            queue,
            queues: self.0.rx.len(),
        })?;
        let mut m = self.0.pool.alloc().ok_or(InjectError::NoBuffer)?;
        m.extend_from_slice(frame).map_err(InjectError::TooLong)?;
        ring.enqueue(m).map_err(|_| InjectError::Full(queue))
    }

    /// Every frame the port sent since the last call, from all queues.
    pub fn collect(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for ring in &self.0.tx {
            let mut b = Burst::new();
            while ring.dequeue_burst(&mut b) > 0 {
                out.extend(b.drain().map(|m| m.data().to_vec()));
            }
        }
        out
    }

    /// Collects until at least `count` frames arrived or `timeout` passed;
    /// returns what arrived (compare its length with `count`).
    pub fn collect_until(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = self.collect();
        while out.len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            out.extend(self.collect());
        }
        out
    }

    /// Whether this is the only handle left.
    pub(super) fn is_unique(&self) -> bool {
        Arc::strong_count(&self.0) == 1
    }
}

impl std::fmt::Debug for RingPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingPort").field("label", &self.0.label).field("port_id", &self.0.port_id).finish()
    }
}
