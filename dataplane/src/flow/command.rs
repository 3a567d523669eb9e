use core::net::SocketAddr;

use super::{Flow, FlowId, FlowKey, IndexMemory, SrtpTransform};
use crate::wire::ethernet::MacAddr;

/// A change to the workers' flow tables and neighbor tables, sent by the
/// control side to every worker (each gets a clone: the SRTP contexts are
/// shared `Arc`s, everything else is plain data).
// Commands travel by value through a bounded channel: boxing the large
// variant would make each worker free heap memory on its core.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Adds a flow relaying payloads as they are, or replaces its action
    /// keeping its state (and removing any SRTP transform).
    Upsert {
        /// Where the flow's packets arrive.
        key: FlowKey,
        /// What to do with them.
        flow: Flow,
    },
    /// Adds a flow that unprotects and/or protects its packets (SRTP), or
    /// replaces its action and transform keeping its state: a new context in
    /// place of another (a rekey) keeps the SSRCs' rollover counters and replay
    /// windows.
    UpsertSrtp {
        /// Where the flow's packets arrive.
        key: FlowKey,
        /// What to do with them.
        flow: Flow,
        /// The SRTP transform.
        srtp: SrtpTransform,
    },
    /// Resumes an RTP stream of a flow where another node (or this one before
    /// a restart) left it: the flow's SRTP stream states for `ssrc` (both
    /// directions it transforms) continue at packet index `index`, and its RTP
    /// statistics at the same extended sequence number. Sent after the flow's
    /// upsert; a flow that is not there, or has no SSRC slot left, ignores it.
    ResumeStream {
        /// The flow's key.
        key: FlowKey,
        /// The stream's SSRC.
        ssrc: u32,
        /// Its highest index (`ROC << 16 | SEQ`, RFC 3711 §3.3.1).
        index: u64,
    },
    /// Resumes the SRTCP a flow protects where another node (or this one
    /// before a restart) may have left it: every SSRC's SRTCP index, now and
    /// for SSRCs that start later, goes on from `next_index` at least, so that
    /// no index is protected twice under the same keys. Sent after the flow's
    /// upsert; a flow that is not there, or does not protect, ignores it.
    ResumeSrtcp {
        /// The flow's key.
        key: FlowKey,
        /// The lowest SRTCP index (31 bits, RFC 3711 §3.4) to protect next.
        next_index: u32,
    },
    /// Removes a flow.
    Remove {
        /// The flow's key.
        key: FlowKey,
    },
    /// Index memory for a new local address, made on the control side
    /// ([`super::IndexPlan`]) and sent ahead of the address's first flow, so
    /// that a worker applying commands never allocates.
    IndexMemory(IndexMemory),
    /// Sets (or clears) the MAC address of next hop `id`.
    SetNeighbor {
        /// Next-hop index.
        id: u32,
        /// Resolved MAC, `None` while unresolved.
        mac: Option<MacAddr>,
    },
}

impl Command {
    /// The flow a command adds or changes.
    pub fn upserted(&self) -> Option<(&FlowKey, &Flow)> {
        match self {
            Command::Upsert { key, flow } | Command::UpsertSrtp { key, flow, .. } => Some((key, flow)),
            _ => None,
        }
    }
}

/// A command with the sequence number the worker publishes once applied.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// SRTP or SRTCP packets of a flow failed authentication. Reported at most
    /// once a second per flow and worker, with the failures since the last report.
    SrtpAuthFailures {
        /// The worker.
        worker: u16,
        /// The flow that received them.
        key: FlowKey,
        /// Its statistics slot.
        flow: FlowId,
        /// Failures since the last report.
        count: u64,
    },
    /// A packet needed next hop `id`, which is not resolved.
    NeighborMissing {
        /// The worker.
        worker: u16,
        /// Next-hop index.
        next_hop: u32,
    },
}
