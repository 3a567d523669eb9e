use core::net::SocketAddr;

use super::{Flow, FlowId, FlowKey};
use crate::wire::ethernet::MacAddr;

/// A change to the workers' flow tables and neighbor tables, sent by the
/// control side to every worker.
// Commands travel by value through a bounded channel: boxing the large
// variant would make each worker free heap memory on its core.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Adds a flow, or replaces its action keeping its state.
    Upsert {
        /// Where the flow's packets arrive.
        key: FlowKey,
        /// What to do with them.
        flow: Flow,
    },
    /// Removes a flow.
    Remove {
        /// The flow's key.
        key: FlowKey,
    },
    /// Sets (or clears) the MAC address of next hop `id`.
    SetNeighbor {
        /// Next-hop index.
        id: u32,
        /// Resolved MAC, `None` while unresolved.
        mac: Option<MacAddr>,
    },
}

/// A command with the sequence number the worker publishes once applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencedCommand {
    /// Monotonic per worker.
    pub seq: u64,
    /// The change.
    pub command: Command,
}

/// Something a worker tells the control side. Sent without blocking: when
/// the event queue is full the event is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A flow latched a (new) remote endpoint from its traffic.
    Latched {
        /// The worker that saw it.
        worker: u16,
        /// The flow that received the packet.
        key: FlowKey,
        /// Its statistics slot.
        flow: FlowId,
        /// The new remote.
        remote: SocketAddr,
        /// The frame's source MAC (the next hop towards the remote).
        src_mac: MacAddr,
    },
    /// A packet needed next hop `id`, which is not resolved.
    NeighborMissing {
        /// The worker.
        worker: u16,
        /// Next-hop index.
        next_hop: u32,
    },
}
