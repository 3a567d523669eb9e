use super::index::{FlowIndex, MAX_ADDRESSES};
use super::srtp::{FlowSrtp, SrtpStore, SrtpTransform};
use super::{Command, Flow, FlowKey, LatchMode, Media};
use crate::latch::LatchState;
use crate::relay::Prebuilt;
use crate::stats::rtp::RtpStream;
use crate::wire::ethernet::MacAddr;

/// A flow with the state its worker keeps for it, cache-line aligned. A
/// packet of the lean path writes the first line (latch and RTP state) and
/// reads the second (what it checks of the action, and the egress headers:
/// an IPv4 egress ends in it, an IPv6 one in the third line); the action as
/// the control side set it, read by the full path, comes after.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct FlowEntry {
    /// The remote learned from the traffic.
    pub latch: LatchState,
    /// Sequence/jitter accounting of the RTP stream (RFC 3550 A.1, A.8).
    pub rtp: RtpStream,
    /// What the lean path checks, derived from the action.
    pub lean: LeanFlow,
    /// The headers of the action's egress, built from it.
    pub egress: Prebuilt,
    /// Where the flow's SRTP contexts and stream states are, if it transforms.
    pub srtp: Option<Box<FlowSrtp>>,
    /// The action, as last set by the control side.
    pub flow: Flow,
}

/// What the lean path checks of a flow's action, beside its egress headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct LeanFlow {
    /// The VLAN the packets must arrive on.
    pub vlan: Option<u16>,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// A plain RTP flow (no SRTP transform) with egress headers: the lean
    /// path may relay its RTP packets.
    pub plain_rtp: bool,
    /// RTCP may arrive multiplexed on the port (it takes the full path).
    pub rtcp_mux: bool,
    /// Latching.
    pub latch: LatchMode,
    /// Strict source.
    pub strict_source: bool,
}

/// One worker's replica of the flow table and of the neighbor table.
///
/// Only its worker reads and writes it: the control side sends the same
/// [`Command`]s to every worker, which applies them between bursts, so
/// lookups take no lock. Entries live in an array indexed by flow id (the
/// same index as the flow's statistics slot), found through a compact
/// key -> id [`FlowIndex`]; all memory is reserved up front, so applying a
/// command never allocates on the hot core.
pub struct FlowTable {
    index: FlowIndex,
    entries: Box<[FlowEntry]>,
    neighbors: Vec<Option<MacAddr>>,
    srtp: SrtpStore,
}

/// Why a command could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The table holds its configured maximum of flows.
    #[error("the flow table is full ({0} flows); raise max_flows")]
    Full(usize),
    /// A flow id beyond the table.
    #[error("flow id {0} is beyond the table; raise max_flows")]
    IdOutOfRange(u32),
    /// A next-hop index beyond the neighbor table.
    #[error("next hop {0} is beyond the neighbor table")]
    NextHopOutOfRange(u32),
}

impl FlowTable {
    /// A table for flow ids `0..max_flows` and `max_next_hops` next hops.
    pub fn with_capacity(max_flows: usize, max_next_hops: usize) -> Self {
        Self::with_direct_addresses(max_flows, max_next_hops, MAX_ADDRESSES)
    }

    /// [`FlowTable::with_capacity`] with a direct index slot for the first
    /// `direct` local addresses only. With 0 every lookup is hashed and no
    /// packet takes the lean path: the full path alone, as a reference.
    pub fn with_direct_addresses(max_flows: usize, max_next_hops: usize, direct: usize) -> Self {
        let blank = FlowEntry::new(Flow::placeholder());
        FlowTable {
            index: FlowIndex::with_direct_addresses(max_flows, direct),
            entries: vec![blank; max_flows].into_boxed_slice(),
            neighbors: vec![None; max_next_hops],
            srtp: SrtpStore::new(),
        }
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No flows held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Flow ids the table can hold.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Applies one control-side change.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), TableError> {
        const PLAIN: &SrtpTransform = &SrtpTransform { unprotect: None, protect: None };
        match cmd {
            Command::Upsert { key, flow } => self.upsert(key, flow, PLAIN)?,
            Command::UpsertSrtp { key, flow, srtp } => self.upsert(key, flow, srtp)?,
            &Command::ResumeStream { key, ssrc, index } => {
                if let Some(id) = self.index.get(&key) {
                    let entry = &mut self.entries[id as usize];
                    entry.rtp = RtpStream::resume(ssrc, index);
                    if let Some(s) = entry.srtp.as_mut() {
                        s.resume(ssrc, index, &mut self.srtp.streams);
                    }
                }
            }
            Command::Remove { key } => {
                if let Some(id) = self.index.remove(key) {
                    let entry = &mut self.entries[id as usize];
                    self.srtp.release(&mut entry.srtp);
                    entry.derive();
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
        let id = flow.id;
        if id as usize >= self.entries.len() {
            return Err(TableError::IdOutOfRange(id));
        }
        match self.index.get(key) {
            Some(old) if old == id => {
                let entry = &mut self.entries[id as usize];
                entry.latch.on_update(&entry.flow.ingress, &flow.ingress);
                entry.set_flow(*flow);
            }
            existing => {
                if existing.is_none() && self.index.len() >= self.entries.len() {
                    return Err(TableError::Full(self.entries.len()));
                }
                // A new flow, or a new flow in an old one's place: its state starts afresh.
                if let Some(old) = existing {
                    self.srtp.release(&mut self.entries[old as usize].srtp);
                }
                self.srtp.release(&mut self.entries[id as usize].srtp);
                self.entries[id as usize] = FlowEntry::new(*flow);
                self.index.insert(*key, id);
            }
        }
        let entry = &mut self.entries[id as usize];
        self.srtp.install(&mut entry.srtp, srtp);
        entry.derive();
        Ok(())
    }

    /// The entry of flow `id`, and the SRTP store its state refers to.
    #[inline(always)]
    pub(crate) fn entry_and_srtp(&mut self, id: u32) -> (&mut FlowEntry, &mut SrtpStore) {
        (&mut self.entries[id as usize], &mut self.srtp)
    }

    /// The entry of flow `id`, and the neighbor table.
    #[inline(always)]
    pub(crate) fn entry_and_neighbors(&mut self, id: u32) -> (&mut FlowEntry, &[Option<MacAddr>]) {
        (&mut self.entries[id as usize], &self.neighbors)
    }

    /// The direct index slot of our address `addr` (as [`FlowKey::addr_bits`])
    /// on port `port_id`, if it has one.
    #[inline(always)]
    pub fn direct_slot(&self, port_id: u16, addr: u128) -> Option<u16> {
        self.index.slot(port_id, addr)
    }

    /// Starts loading the flow id of UDP port `udp_port` in direct slot `slot`.
    #[inline(always)]
    pub fn prefetch_direct(&self, slot: u16, udp_port: u16) {
        self.index.prefetch_at(slot, udp_port);
    }

    /// The flow id of UDP port `udp_port` in direct slot `slot`.
    #[inline(always)]
    pub fn find_direct(&self, slot: u16, udp_port: u16) -> Option<u32> {
        self.index.at(slot, udp_port)
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

    /// Starts loading where the lookup of `key` begins.
    #[inline(always)]
    pub fn prefetch_key(&self, key: &FlowKey) {
        self.index.prefetch(key);
    }

    /// The flow id of `key`.
    #[inline(always)]
    pub fn find(&self, key: &FlowKey) -> Option<u32> {
        self.index.get(key)
    }

    /// Starts loading the first `lines` cache lines of flow `id`'s entry.
    #[inline(always)]
    pub fn prefetch_entry(&self, id: u32, lines: usize) {
        let e = &self.entries[id as usize] as *const FlowEntry as *const u8;
        for l in 0..lines {
            crate::prefetch::prefetch(e.wrapping_add(l * 64));
        }
    }

    /// The entry of flow `id` (found with [`FlowTable::find`]).
    #[inline(always)]
    pub fn entry_mut(&mut self, id: u32) -> &mut FlowEntry {
        &mut self.entries[id as usize]
    }

    /// The entry for `key`.
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut FlowEntry> {
        let id = self.index.get(key)?;
        Some(&mut self.entries[id as usize])
    }

    /// The entry for `key`.
    pub fn get(&self, key: &FlowKey) -> Option<&FlowEntry> {
        self.index.get(key).map(|id| &self.entries[id as usize])
    }

    /// The MAC of next hop `id`, when resolved.
    #[inline(always)]
    pub fn neighbor(&self, id: u32) -> Option<MacAddr> {
        self.neighbors.get(id as usize).copied().flatten()
    }
}

impl FlowEntry {
    fn new(flow: Flow) -> Self {
        let mut e = FlowEntry {
            latch: LatchState::new(&flow.ingress),
            rtp: RtpStream::default(),
            lean: LeanFlow {
                vlan: None,
                clock_rate: 0,
                plain_rtp: false,
                rtcp_mux: false,
                latch: LatchMode::Off,
                strict_source: false,
            },
            egress: Prebuilt::NONE,
            srtp: None,
            flow,
        };
        e.derive();
        e
    }

    /// Replaces the action (its egress headers with it), keeping the state.
    pub fn set_flow(&mut self, flow: Flow) {
        self.flow = flow;
        self.derive();
    }

    /// Derives what the lean path reads from the action and the transform.
    fn derive(&mut self) {
        let f = &self.flow;
        self.egress = Prebuilt::new(&f.egress);
        let (rtp, rtcp_mux) = match f.media {
            Media::Rtp { rtcp_mux } => (true, rtcp_mux),
            Media::Rtcp => (false, false),
        };
        self.lean = LeanFlow {
            vlan: f.ingress.vlan,
            clock_rate: f.clock_rate,
            plain_rtp: rtp && self.srtp.is_none() && self.egress.is_some(),
            rtcp_mux,
            latch: f.ingress.latch,
            strict_source: f.ingress.strict_source,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_cache_aligned_and_small() {
        assert_eq!(std::mem::align_of::<FlowEntry>(), 64);
        // The lean path's state in the first line, its checks in the second.
        assert_eq!(std::mem::offset_of!(FlowEntry, lean), 64);
        assert!(std::mem::offset_of!(FlowEntry, egress) + 48 <= 128);
        assert!(std::mem::size_of::<FlowEntry>() <= 7 * 64, "{}", std::mem::size_of::<FlowEntry>());
    }
}
