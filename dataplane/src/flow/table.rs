use std::sync::Arc;

use super::handoff::StreamBoard;
use super::index::{FlowIndex, IndexMemory, MAX_ADDRESSES};
use super::packed::PackedFlow;
use super::srtp::{FlowSrtp, SrtpStore, SrtpTransform};
use super::{Command, Egress, Flow, FlowId, FlowKey, Ingress, LatchMode, Media};
use crate::latch::LatchState;
use crate::memory::{Place, PlaceError, Slab};
use crate::relay::Prebuilt;
use crate::stats::rtp::RtpStream;
use crate::wire::ethernet::MacAddr;

/// A flow with the state its worker keeps for it, cache-line aligned, five
/// lines. A packet of the lean path writes the first line (latch and RTP
/// state) and reads the second (what it checks of the action, and the egress
/// headers: an IPv4 egress ends in it, an IPv6 one in the third line); the
/// action as the control side set it, packed ([`PackedFlow`]) and read by
/// the full path as a [`Flow`] ([`FlowEntry::flow`]), comes after.
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
    /// The action, as last set by the control side, less what `lean` holds.
    action: PackedFlow,
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
/// key -> id [`FlowIndex`]; entries are reserved up front and index memory
/// for a new address arrives in a [`Command::IndexMemory`], so applying a
/// command ([`FlowTable::apply_prepared`]) never allocates on the hot core.
pub struct FlowTable {
    index: FlowIndex,
    entries: Slab<FlowEntry>,
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
    /// A flow of a new address came without the index memory for it.
    #[error("no index memory for the flow's address: send commands through the dataplane")]
    NoIndexMemory,
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
        Self::build(Slab::heap(max_flows, |_| FlowEntry::new(Flow::placeholder())), max_next_hops, direct)
    }

    /// [`FlowTable::with_capacity`] with its entries in `place` (a worker's
    /// table: DPDK memory on its socket).
    pub fn with_capacity_in(place: Place, max_flows: usize, max_next_hops: usize) -> Result<Self, PlaceError> {
        let entries = Slab::new_in(place, max_flows, |_| FlowEntry::new(Flow::placeholder()))?;
        Ok(Self::build(entries, max_next_hops, MAX_ADDRESSES))
    }

    fn build(entries: Slab<FlowEntry>, max_next_hops: usize, direct: usize) -> Self {
        FlowTable {
            index: FlowIndex::with_direct_addresses(entries.len(), direct),
            entries,
            neighbors: vec![None; max_next_hops],
            srtp: SrtpStore::new(),
        }
    }

    /// Where the entries are.
    pub fn place(&self) -> Place {
        self.entries.place()
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

    /// Applies one control-side change, making the index memory it needs
    /// first: for tables off the worker cores (tests, benchmarks, tools).
    /// Workers take [`FlowTable::apply_prepared`].
    pub fn apply(&mut self, cmd: &Command) -> Result<(), TableError> {
        if let Some((key, _)) = cmd.upserted() {
            if let Some(mem) = self.index.memory_for(key) {
                self.index.install(mem);
            }
        }
        self.apply_prepared(cmd.clone()).map(drop)
    }

    /// Applies one control-side change as a worker does, allocating and
    /// freeing nothing: a flow of a new address needs its index memory in
    /// an earlier [`Command::IndexMemory`] ([`crate::flow::IndexPlan`]).
    /// Index memory the table already has is returned, for the caller to
    /// free off the hot core (not expected: the plan mirrors the table).
    pub fn apply_prepared(&mut self, cmd: Command) -> Result<Option<IndexMemory>, TableError> {
        const PLAIN: &SrtpTransform = &SrtpTransform { unprotect: None, protect: None };
        match cmd {
            Command::Upsert { key, flow } => self.upsert(&key, &flow, PLAIN)?,
            Command::UpsertSrtp { key, flow, srtp } => self.upsert(&key, &flow, &srtp)?,
            Command::ResumeStream { key, ssrc, index } => {
                if let Some(id) = self.index.get(&key) {
                    let entry = &mut self.entries[id as usize];
                    entry.rtp = RtpStream::resume(ssrc, index);
                    if let Some(s) = entry.srtp.as_mut() {
                        s.resume(id, ssrc, index, &mut self.srtp.streams, &self.srtp.home);
                    }
                }
            }
            Command::ResumeSrtcp { key, next_index } => {
                if let Some(s) = self.index.get(&key).and_then(|id| self.entries[id as usize].srtp.as_mut()) {
                    s.resume_srtcp(next_index, &mut self.srtp.streams);
                }
            }
            Command::Remove { key } => {
                if let Some(id) = self.index.remove(&key) {
                    let entry = &mut self.entries[id as usize];
                    self.srtp.release(id, &mut entry.srtp);
                    entry.derive();
                }
            }
            Command::SetNeighbor { id, mac } => {
                let slot = self.neighbors.get_mut(id as usize).ok_or(TableError::NextHopOutOfRange(id))?;
                *slot = mac;
            }
            Command::IndexMemory(mem) => return Ok(self.index.install(mem)),
        }
        Ok(None)
    }

    fn upsert(&mut self, key: &FlowKey, flow: &Flow, srtp: &SrtpTransform) -> Result<(), TableError> {
        let id = flow.id;
        if id as usize >= self.entries.len() {
            return Err(TableError::IdOutOfRange(id));
        }
        match self.index.get(key) {
            Some(old) if old == id => {
                let entry = &mut self.entries[id as usize];
                entry.latch.on_update(&entry.ingress(), &flow.ingress);
                entry.set_flow(*flow);
            }
            existing => {
                if existing.is_none() && self.index.len() >= self.entries.len() {
                    return Err(TableError::Full(self.entries.len()));
                }
                if !self.index.has_memory_for(key) {
                    return Err(TableError::NoIndexMemory);
                }
                // A new flow, or a new flow in an old one's place: its state starts afresh.
                if let Some(old) = existing {
                    self.srtp.release(old, &mut self.entries[old as usize].srtp);
                }
                self.srtp.release(id, &mut self.entries[id as usize].srtp);
                self.entries[id as usize] = FlowEntry::new(*flow);
                self.index.insert(*key, id).map_err(|_| TableError::NoIndexMemory)?;
            }
        }
        let entry = &mut self.entries[id as usize];
        self.srtp.install(id, &mut entry.srtp, srtp);
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

    /// Makes this table worker `worker`'s among those sharing `board`, so
    /// that an SRTP stream whose packets move to another worker takes its
    /// rollover counter and replay window along ([`super::handoff`]). Call it
    /// before any flow is installed; a table on its own keeps every stream.
    pub fn share_srtp_streams(&mut self, board: Arc<StreamBoard>, worker: u16) {
        self.srtp.share(board, worker);
    }

    /// Hands the SRTP streams other workers asked for over to them; call it
    /// between bursts. One atomic load when nobody asked. Returns the streams
    /// handed over.
    pub fn hand_over_streams(&mut self) -> usize {
        let (entries, store) = (&mut self.entries, &mut self.srtp);
        store.home.board.hand_over(store.home.worker, |flow, ssrc| {
            entries.get_mut(flow as usize)?.srtp.as_mut()?.hand_over(ssrc, &store.streams)
        })
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
        // No bounds check: a prefetch of any address is harmless.
        let e = self.entries.as_ptr().wrapping_add(id as usize) as *const u8;
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

impl LeanFlow {
    /// The checks of `f`, with `plain_rtp` as given.
    pub(super) fn of(f: &Flow, plain_rtp: bool) -> Self {
        LeanFlow {
            vlan: f.ingress.vlan,
            clock_rate: f.clock_rate,
            plain_rtp,
            rtcp_mux: f.media == Media::Rtp { rtcp_mux: true },
            latch: f.ingress.latch,
            strict_source: f.ingress.strict_source,
        }
    }
}

impl FlowEntry {
    fn new(flow: Flow) -> Self {
        let mut e = FlowEntry {
            latch: LatchState::new(&flow.ingress),
            rtp: RtpStream::default(),
            lean: LeanFlow::of(&flow, false),
            egress: Prebuilt::NONE,
            srtp: None,
            action: PackedFlow::of(&flow),
        };
        e.derive();
        e
    }

    /// The action, as last set by the control side.
    pub fn flow(&self) -> Flow {
        self.action.get(&self.lean)
    }

    /// The flow's id ([`Flow::id`]).
    #[inline(always)]
    pub fn id(&self) -> FlowId {
        self.action.id()
    }

    /// What the flow accepts ([`Flow::ingress`]).
    pub fn ingress(&self) -> Ingress {
        let l = &self.lean;
        Ingress { vlan: l.vlan, remote: self.action.remote(), latch: l.latch, strict_source: l.strict_source }
    }

    /// RTP or RTCP ([`Flow::media`]).
    #[inline(always)]
    pub fn media(&self) -> Media {
        self.action.media()
    }

    /// Where RTCP (`is_rtcp`) or RTP goes: [`Flow::rtcp_egress`], if any, or [`Flow::egress`].
    #[inline]
    pub fn egress_for(&self, is_rtcp: bool) -> Egress {
        self.action.egress_for(is_rtcp)
    }

    /// Replaces the action (its egress headers with it), keeping the state.
    pub fn set_flow(&mut self, flow: Flow) {
        self.action = PackedFlow::of(&flow);
        self.lean = LeanFlow::of(&flow, false);
        self.derive();
    }

    /// Derives what the lean path reads from the action and the transform.
    fn derive(&mut self) {
        self.egress = Prebuilt::new(&self.action.egress());
        let rtp = matches!(self.action.media(), Media::Rtp { .. });
        self.lean.plain_rtp = rtp && self.srtp.is_none() && self.egress.is_some();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_takes_index_memory_from_the_control_side() {
        let mut table = FlowTable::with_capacity(4, 1);
        let mut plan = crate::flow::IndexPlan::new(4, MAX_ADDRESSES);
        let key = FlowKey::v4(0, core::net::Ipv4Addr::new(198, 18, 0, 1), 10_000);
        let upsert = Command::Upsert { key, flow: Flow { id: 1, ..Flow::placeholder() } };
        assert_eq!(table.apply_prepared(upsert.clone()), Err(TableError::NoIndexMemory));
        assert!(table.get(&key).is_none());
        let mem = plan.memory_for(&key).expect("a new address");
        assert_eq!(table.apply_prepared(Command::IndexMemory(mem)), Ok(None));
        assert_eq!(table.apply_prepared(upsert), Ok(None));
        assert_eq!(table.get(&key).map(|e| e.id()), Some(1));
        assert!(plan.memory_for(&FlowKey::v4(0, core::net::Ipv4Addr::new(198, 18, 0, 1), 10_002)).is_none());
    }

    #[test]
    fn entries_are_cache_aligned_and_small() {
        assert_eq!(std::mem::align_of::<FlowEntry>(), 64);
        // The lean path's state in the first line, its checks in the second.
        assert_eq!(std::mem::offset_of!(FlowEntry, lean), 64);
        // What the rewrite of an IPv4 packet leaving over IPv4 reads: the second line too.
        assert!(std::mem::offset_of!(FlowEntry, egress) + Prebuilt::V4_READ <= 128);
        // The packed action fills the fifth line.
        assert_eq!(std::mem::offset_of!(FlowEntry, action) + std::mem::size_of::<PackedFlow>(), 5 * 64);
        // docs/performance.md's memory per session counts these 320 bytes.
        assert_eq!(std::mem::size_of::<FlowEntry>(), 5 * 64);
    }
}
