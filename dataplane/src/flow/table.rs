use hashbrown::HashMap;

use super::srtp::{FlowSrtp, SrtpStore, SrtpTransform};
use super::{Command, Flow, FlowKey};
use crate::latch::LatchState;
use crate::stats::rtp::RtpStream;
use crate::wire::ethernet::MacAddr;

/// A flow with the state its worker keeps for it.
#[derive(Debug, Clone)]
pub struct FlowEntry {
    /// The action, as last set by the control side.
    pub flow: Flow,
    /// The remote learned from the traffic.
    pub latch: LatchState,
    /// Sequence/jitter accounting of the RTP stream (RFC 3550 A.1, A.8).
    pub rtp: RtpStream,
    /// Where the flow's SRTP contexts and stream states are, if it transforms.
    pub srtp: Option<FlowSrtp>,
}

/// One worker's replica of the flow table and of the neighbor table.
///
/// Only its worker reads and writes it: the control side sends the same
/// [`Command`]s to every worker, which applies them between bursts, so
/// lookups take no lock. Capacity is reserved up front so that applying a
/// command never reallocates on the hot core.
pub struct FlowTable {
    flows: HashMap<FlowKey, FlowEntry>,
    neighbors: Vec<Option<MacAddr>>,
    capacity: usize,
    srtp: SrtpStore,
}

/// Why a command could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The table holds its configured maximum of flows.
    #[error("the flow table is full ({0} flows); raise max_flows")]
    Full(usize),
    /// A next-hop index beyond the neighbor table.
    #[error("next hop {0} is beyond the neighbor table")]
    NextHopOutOfRange(u32),
}

impl FlowTable {
    /// A table for up to `max_flows` flows and `max_next_hops` next hops.
    pub fn with_capacity(max_flows: usize, max_next_hops: usize) -> Self {
        FlowTable {
            flows: HashMap::with_capacity(max_flows),
            neighbors: vec![None; max_next_hops],
            capacity: max_flows,
            srtp: SrtpStore::new(),
        }
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// No flows held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Applies one control-side change.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), TableError> {
        const PLAIN: &SrtpTransform = &SrtpTransform { unprotect: None, protect: None };
        match cmd {
            Command::Upsert { key, flow } => self.upsert(key, flow, PLAIN)?,
            Command::UpsertSrtp { key, flow, srtp } => self.upsert(key, flow, srtp)?,
            Command::Remove { key } => {
                if let Some(mut entry) = self.flows.remove(key) {
                    self.srtp.release(&mut entry.srtp);
                }
            }
            &Command::SetNeighbor { id, mac } => {
                let slot = self.neighbors.get_mut(id as usize).ok_or(TableError::NextHopOutOfRange(id))?;
                *slot = mac;
            }
        }
        Ok(())
    }

    fn upsert(&mut self, key: &FlowKey, flow: &Flow, srtp: &SrtpTransform) -> Result<(), TableError> {
        let entry = match self.flows.get_mut(key) {
            Some(entry) if entry.flow.id != flow.id => {
                // A new flow in an old flow's place: its state starts afresh.
                self.srtp.release(&mut entry.srtp);
                *entry = FlowEntry::new(*flow);
                entry
            }
            Some(entry) => {
                entry.latch.on_update(&entry.flow.ingress, &flow.ingress);
                entry.flow = *flow;
                entry
            }
            None => {
                if self.flows.len() >= self.capacity {
                    return Err(TableError::Full(self.capacity));
                }
                self.flows.entry(*key).or_insert(FlowEntry::new(*flow))
            }
        };
        self.srtp.install(&mut entry.srtp, srtp);
        Ok(())
    }

    /// The entry for `key`, and the SRTP store its state refers to.
    #[inline(always)]
    pub(crate) fn entry_and_srtp(&mut self, key: &FlowKey) -> (Option<&mut FlowEntry>, &mut SrtpStore) {
        (self.flows.get_mut(key), &mut self.srtp)
    }

    /// The worker's SRTP contexts and stream states.
    pub fn srtp(&self) -> &SrtpStore {
        &self.srtp
    }

    /// The worker's SRTP contexts and stream states, writable.
    #[inline(always)]
    pub(crate) fn srtp_mut(&mut self) -> &mut SrtpStore {
        &mut self.srtp
    }

    /// The entry for `key`.
    #[inline(always)]
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut FlowEntry> {
        self.flows.get_mut(key)
    }

    /// The entry for `key`.
    pub fn get(&self, key: &FlowKey) -> Option<&FlowEntry> {
        self.flows.get(key)
    }

    /// The MAC of next hop `id`, when resolved.
    #[inline(always)]
    pub fn neighbor(&self, id: u32) -> Option<MacAddr> {
        self.neighbors.get(id as usize).copied().flatten()
    }
}

impl FlowEntry {
    fn new(flow: Flow) -> Self {
        FlowEntry { latch: LatchState::new(&flow.ingress), rtp: RtpStream::default(), srtp: None, flow }
    }
}
