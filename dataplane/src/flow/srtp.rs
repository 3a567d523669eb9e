//! SRTP on a flow: the transforms the control side installs, and the state each
//! worker keeps for them.
//!
//! A [`Context`] is immutable and built once on the control side; every worker
//! holds the same `Arc` of it. What changes per packet, a [`StreamState`] per
//! SSRC (rollover counter, replay windows, SRTCP index), belongs to one worker:
//! its [`SrtpStore`] keeps the flows' contexts and stream states in slabs
//! addressed by small integers, so a burst of packets from many flows can be
//! handed to the burst transforms with no lookup, and nothing is allocated or
//! freed per packet. Stream states are reserved when a transform is installed,
//! [`SSRCS_PER_FLOW`] per direction. A stream whose packets start arriving at
//! another worker takes its states there ([`super::handoff`]).

use core::ops::{Index, IndexMut};
use std::sync::Arc;

use super::handoff::{Claim, HandedStreams, Home, StreamBoard};
use super::FlowId;
use crate::srtp::{Context, StreamState, MAX_MASTER_KEYS};

/// SSRCs a flow keeps SRTP state for. A flow carries one RTP stream, or a
/// few (an SSRC change at a transfer, RTCP from a receive-only SSRC); packets
/// of a further SSRC are dropped (`srtp_ssrc_limit`). A stream's state is
/// never recycled for another SSRC: that would let an old index be accepted
/// again, or worse, protected again under the same key.
pub const SSRCS_PER_FLOW: usize = 4;

/// One direction's crypto context as installed on a flow.
#[derive(Clone, Debug)]
pub struct SrtpKeys {
    /// The session keys, shared read-only by every worker.
    pub context: Arc<Context>,
    /// For each master key slot of `context`: the slot of the context this one
    /// replaces on the flow whose master key it keeps, so that the key's usage
    /// (counted against its lifetime) carries over; `None` for a new key.
    pub carried: [Option<u8>; MAX_MASTER_KEYS],
}

impl SrtpKeys {
    /// `context` with new master keys only.
    pub fn new(context: Arc<Context>) -> Self {
        SrtpKeys { context, carried: [None; MAX_MASTER_KEYS] }
    }
}

impl PartialEq for SrtpKeys {
    /// The same context (the same `Arc`), not merely equal keys.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.context, &other.context) && self.carried == other.carried
    }
}

impl Eq for SrtpKeys {}

/// What a flow does to the RTP/RTCP payloads it relays (RFC 3711). Both
/// directions set: transcrypt; neither: relayed as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrtpTransform {
    /// Unprotect what arrives: the sending endpoint speaks SRTP.
    pub unprotect: Option<SrtpKeys>,
    /// Protect what leaves: the receiving endpoint speaks SRTP.
    pub protect: Option<SrtpKeys>,
}

impl SrtpTransform {
    /// Neither direction transforms.
    pub fn is_none(&self) -> bool {
        self.unprotect.is_none() && self.protect.is_none()
    }
}

/// Index of a stream state in a worker's [`StreamSlab`].
pub type StreamId = u32;
/// Index of a context in a worker's [`SrtpStore`].
pub type ContextId = u32;
const NO_STREAM: StreamId = StreamId::MAX;

/// The streams of one SSRC of a flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SsrcSlot {
    pub ssrc: u32,
    pub used: bool,
    /// This worker holds the stream's states; otherwise another worker has
    /// them (or had them when this worker last asked).
    pub here: bool,
    /// State for unprotecting, when the flow unprotects.
    pub rx: StreamId,
    /// State for protecting, when the flow protects.
    pub tx: StreamId,
    /// A resume ([`FlowSrtp::resume`]) that came while another worker held
    /// the stream: applied to the states when they come here.
    pub resume: Option<u64>,
}

/// A direction of a flow's transform, for the code that installs it.
#[derive(Clone, Copy)]
enum Dir {
    Unprotect,
    Protect,
}

impl SsrcSlot {
    const EMPTY: SsrcSlot = SsrcSlot { ssrc: 0, used: false, here: false, rx: NO_STREAM, tx: NO_STREAM, resume: None };

    fn stream_mut(&mut self, dir: Dir) -> &mut StreamId {
        match dir {
            Dir::Unprotect => &mut self.rx,
            Dir::Protect => &mut self.tx,
        }
    }
}

/// Where to find a packet's crypto: its context and its stream state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crypto {
    pub context: ContextId,
    pub stream: StreamId,
}

/// The SRTP state one worker keeps for one flow: which contexts, which
/// stream state per SSRC, and the authentication failures not yet reported.
#[derive(Debug, Clone)]
pub struct FlowSrtp {
    unprotect: Option<ContextId>,
    protect: Option<ContextId>,
    ssrcs: [SsrcSlot; SSRCS_PER_FLOW],
    /// Authentication failures since the last report to the control side.
    pub(crate) auth_failures: u64,
    /// When the last report went, in the pipeline's microseconds.
    pub(crate) last_report_us: Option<u64>,
    /// SRTCP protected on this flow starts at this index at least, for every
    /// SSRC: set when the flow is resumed from a checkpoint
    /// ([`FlowSrtp::resume_srtcp`]).
    srtcp_floor: u32,
}

/// Why a packet has no SSRC slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotError {
    /// A new SSRC, and every slot is taken.
    Full,
    /// Another worker holds the stream and was asked to hand it over.
    Moving,
}

/// A packet's SSRC slot on its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotFor {
    pub slot: usize,
    /// Taken by this packet: give it back if the packet fails to unprotect.
    pub claimed: bool,
}

impl FlowSrtp {
    fn new() -> Self {
        FlowSrtp {
            unprotect: None,
            protect: None,
            ssrcs: [SsrcSlot::EMPTY; SSRCS_PER_FLOW],
            auth_failures: 0,
            last_report_us: None,
            srtcp_floor: 0,
        }
    }

    /// The slot of `ssrc` on flow `flow`, taking a free one for a new SSRC
    /// (its stream states reset). A stream this worker does not hold is
    /// claimed on the board: started here, taken from the worker that handed
    /// it over, or asked for ([`SlotError::Moving`]).
    #[inline]
    pub(crate) fn slot_for(
        &mut self,
        flow: FlowId,
        ssrc: u32,
        streams: &mut StreamSlab,
        home: &Home,
    ) -> Result<SlotFor, SlotError> {
        if let Some(slot) = self.ssrcs.iter().position(|s| s.used && s.ssrc == ssrc) {
            if !self.ssrcs[slot].here {
                self.fetch(slot, flow, streams, home)?;
            }
            return Ok(SlotFor { slot, claimed: false });
        }
        let slot = self.ssrcs.iter().position(|s| !s.used).ok_or(SlotError::Full)?;
        let s = &mut self.ssrcs[slot];
        s.ssrc = ssrc;
        s.used = true;
        s.here = false;
        s.resume = None;
        for id in [s.rx, s.tx] {
            if id != NO_STREAM {
                streams[id as usize] = StreamState::new();
            }
        }
        if s.tx != NO_STREAM {
            streams[s.tx as usize].resume_srtcp_at(self.srtcp_floor);
        }
        self.fetch(slot, flow, streams, home)?;
        Ok(SlotFor { slot, claimed: true })
    }

    /// Claims the stream of `slot` on the board. The states it goes on with
    /// (its own, or ones handed over that left their worker before the flow
    /// was resumed) take the resume that came meanwhile, and protect SRTCP
    /// from the flow's floor on.
    #[cold]
    fn fetch(&mut self, slot: usize, flow: FlowId, streams: &mut StreamSlab, home: &Home) -> Result<(), SlotError> {
        let floor = self.srtcp_floor;
        let s = &mut self.ssrcs[slot];
        match home.board.claim(home.worker, flow, s.ssrc) {
            Claim::Owned => {}
            Claim::Handed(h) => {
                for (id, state) in [(s.rx, h.rx), (s.tx, h.tx)] {
                    if let (true, Some(state)) = (id != NO_STREAM, state) {
                        streams[id as usize] = state;
                    }
                }
            }
            Claim::Elsewhere => return Err(SlotError::Moving),
        }
        if s.tx != NO_STREAM {
            streams[s.tx as usize].resume_srtcp_at(floor);
        }
        s.here = true;
        if let Some(index) = s.resume.take() {
            self.resume_here(slot, index, streams);
        }
        Ok(())
    }

    /// Gives up the states of `ssrc` to another worker: `None` if this worker
    /// does not hold that stream.
    pub(crate) fn hand_over(&mut self, ssrc: u32, streams: &StreamSlab) -> Option<HandedStreams> {
        let s = self.ssrcs.iter_mut().find(|s| s.used && s.here && s.ssrc == ssrc)?;
        s.here = false;
        let get = |id: StreamId| (id != NO_STREAM).then(|| streams[id as usize].clone());
        Some(HandedStreams { rx: get(s.rx), tx: get(s.tx) })
    }

    /// Sets the stream states of `ssrc` (taking a slot for it if needed) to
    /// continue at SRTP index `index`: a stream resumed from a checkpoint.
    /// Every worker gets the resume; the one that holds the stream (or
    /// claims it now) applies it, the others keep it in the slot and apply
    /// it if the states they take from the board later are still behind it
    /// ([`StreamBoard`]): states in transit between workers when the resume
    /// came, or handed on before their worker applied it, are not missed.
    pub(crate) fn resume(&mut self, flow: FlowId, ssrc: u32, index: u64, streams: &mut StreamSlab, home: &Home) {
        let slot = match self.slot_for(flow, ssrc, streams, home) {
            Ok(SlotFor { slot, .. }) => slot,
            Err(SlotError::Moving) => {
                let Some(slot) = self.ssrcs.iter().position(|s| s.used && s.ssrc == ssrc) else { return };
                self.ssrcs[slot].resume = Some(index);
                return;
            }
            Err(SlotError::Full) => return,
        };
        self.resume_here(slot, index, streams);
    }

    /// Resumes the states of `slot`, held here, at `index` unless they are
    /// already past it (a resume never takes a stream back).
    fn resume_here(&mut self, slot: usize, index: u64, streams: &mut StreamSlab) {
        let s = &self.ssrcs[slot];
        let behind = |id: StreamId| id != NO_STREAM && streams[id as usize].highest_index().is_none_or(|h| h < index);
        let (rx, tx) = (behind(s.rx), behind(s.tx));
        if rx {
            streams[s.rx as usize] = StreamState::resume_at(index);
        }
        if tx {
            // The SRTCP index protected so far stays: it belongs to the SSRC too.
            let sent = streams[s.tx as usize].next_srtcp_index();
            streams[s.tx as usize] = StreamState::resume_at(index);
            streams[s.tx as usize].resume_srtcp_at(sent.max(self.srtcp_floor));
        }
    }

    /// Protects SRTCP on this flow from index `next` on at least, for every
    /// SSRC: those this worker holds now, and those it starts or takes from
    /// another worker later. A flow resumed from a checkpoint: the node that
    /// had it may have protected SRTCP up to below `next` under the same keys,
    /// and an index protected twice reuses keystream (RFC 3711 §9.1).
    pub(crate) fn resume_srtcp(&mut self, next: u32, streams: &mut StreamSlab) {
        self.srtcp_floor = self.srtcp_floor.max(next);
        for s in self.ssrcs.iter().filter(|s| s.used && s.here && s.tx != NO_STREAM) {
            streams[s.tx as usize].resume_srtcp_at(next);
        }
    }

    /// Gives back a slot a dropped packet claimed, unless a packet was accepted
    /// or protected on it since: a forged packet with a new SSRC must not keep
    /// a slot, nor the stream on the board.
    pub(crate) fn unclaim(&mut self, slot: usize, flow: FlowId, streams: &StreamSlab, home: &Home) {
        let s = &mut self.ssrcs[slot];
        let fresh = |id: StreamId| id == NO_STREAM || streams[id as usize].is_fresh();
        if fresh(s.rx) && fresh(s.tx) {
            s.used = false;
            if s.here {
                home.board.forget(home.worker, flow, s.ssrc);
            }
        }
    }

    /// Unprotecting, with the stream of `slot`.
    #[inline]
    pub(crate) fn unprotect(&self, slot: usize) -> Option<Crypto> {
        self.unprotect.map(|context| Crypto { context, stream: self.ssrcs[slot].rx })
    }

    /// Protecting, with the stream of `slot`.
    #[inline]
    pub(crate) fn protect(&self, slot: usize) -> Option<Crypto> {
        self.protect.map(|context| Crypto { context, stream: self.ssrcs[slot].tx })
    }

    /// The SSRCs with state, and their unprotect and protect stream states.
    pub fn streams<'a>(
        &'a self,
        store: &'a SrtpStore,
    ) -> impl Iterator<Item = (u32, Option<&'a StreamState>, Option<&'a StreamState>)> + 'a {
        let get = |id: StreamId| (id != NO_STREAM).then(|| &store.streams[id as usize]);
        self.ssrcs.iter().filter(|s| s.used).map(move |s| (s.ssrc, get(s.rx), get(s.tx)))
    }
}

/// Stream states in chunks that never move, so that the slab grows (when a
/// transform is installed) without copying what is there.
pub struct StreamSlab {
    chunks: Vec<Box<[StreamState]>>,
    free: Vec<StreamId>,
}

const CHUNK: usize = 256;

impl StreamSlab {
    fn new() -> Self {
        StreamSlab { chunks: Vec::new(), free: Vec::new() }
    }

    fn alloc(&mut self) -> StreamId {
        if self.free.is_empty() {
            let base = (self.chunks.len() * CHUNK) as StreamId;
            self.chunks.push(vec![StreamState::new(); CHUNK].into_boxed_slice());
            // Room for every id, so that `release` never reallocates.
            self.free.reserve(CHUNK);
            self.free.extend((base..base + CHUNK as StreamId).rev());
        }
        let id = self.free.pop().expect("a free stream state");
        self[id as usize] = StreamState::new();
        id
    }

    fn release(&mut self, id: StreamId) {
        self.free.push(id);
    }

    /// Stream states in use.
    pub fn in_use(&self) -> usize {
        self.chunks.len() * CHUNK - self.free.len()
    }
}

impl Index<usize> for StreamSlab {
    type Output = StreamState;

    #[inline(always)]
    fn index(&self, i: usize) -> &StreamState {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl IndexMut<usize> for StreamSlab {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut StreamState {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// A worker's SRTP contexts and stream states.
///
/// A context replaced or removed here is only released (an `Arc` count
/// decremented): the control side keeps its own reference until every worker
/// has applied the change, so the memory is freed on the control side.
pub struct SrtpStore {
    pub(crate) contexts: Vec<Option<Arc<Context>>>,
    free_contexts: Vec<ContextId>,
    pub(crate) streams: StreamSlab,
    /// Where the workers' streams are recorded.
    pub(crate) home: Home,
}

impl Default for SrtpStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SrtpStore {
    /// An empty store.
    pub fn new() -> Self {
        SrtpStore { contexts: Vec::new(), free_contexts: Vec::new(), streams: StreamSlab::new(), home: Home::default() }
    }

    /// Contexts held.
    pub fn contexts(&self) -> usize {
        self.contexts.len() - self.free_contexts.len()
    }

    /// Stream states reserved.
    pub fn streams(&self) -> &StreamSlab {
        &self.streams
    }

    /// Brings a flow's SRTP state to `want`. A context replaced by another keeps
    /// the flow's stream states (rekey: the rollover counters continue), with
    /// their key usage moved as `carried` says.
    /// The state lives boxed so that plain flows' entries stay small; the box
    /// is made when a flow first gets keys, never per packet.
    pub(crate) fn install(&mut self, flow: FlowId, state: &mut Option<Box<FlowSrtp>>, want: &SrtpTransform) {
        if want.is_none() {
            self.release(flow, state);
            return;
        }
        if state.is_none() {
            self.home.board.flow_installed(true);
        }
        let s = state.get_or_insert_with(|| Box::new(FlowSrtp::new()));
        let FlowSrtp { unprotect, protect, ssrcs, .. } = &mut **s;
        self.install_dir(unprotect, ssrcs, Dir::Unprotect, want.unprotect.as_ref());
        self.install_dir(protect, ssrcs, Dir::Protect, want.protect.as_ref());
    }

    fn install_dir(
        &mut self,
        current: &mut Option<ContextId>,
        ssrcs: &mut [SsrcSlot; SSRCS_PER_FLOW],
        dir: Dir,
        want: Option<&SrtpKeys>,
    ) {
        match (*current, want) {
            (None, None) => {}
            (None, Some(keys)) => {
                *current = Some(self.add_context(keys.context.clone()));
                for s in ssrcs.iter_mut() {
                    *s.stream_mut(dir) = self.streams.alloc();
                }
            }
            (Some(id), Some(keys)) => {
                let slot = &mut self.contexts[id as usize];
                if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &keys.context)) {
                    return;
                }
                *slot = Some(keys.context.clone());
                let carried = keys.carried.map(|c| c.map(usize::from));
                for s in ssrcs.iter_mut().filter(|s| s.used) {
                    self.streams[*s.stream_mut(dir) as usize].rekey(carried);
                }
            }
            (Some(id), None) => {
                self.remove_context(id);
                *current = None;
                for s in ssrcs.iter_mut() {
                    self.streams.release(core::mem::replace(s.stream_mut(dir), NO_STREAM));
                }
            }
        }
    }

    /// Frees a flow's contexts and stream states, and its streams' places on
    /// the board.
    pub(crate) fn release(&mut self, flow: FlowId, state: &mut Option<Box<FlowSrtp>>) {
        let Some(s) = state.take() else { return };
        self.home.board.flow_installed(false);
        for id in [s.unprotect, s.protect].into_iter().flatten() {
            self.remove_context(id);
        }
        for slot in s.ssrcs {
            if slot.used {
                self.home.board.forget(self.home.worker, flow, slot.ssrc);
            }
            for id in [slot.rx, slot.tx] {
                if id != NO_STREAM {
                    self.streams.release(id);
                }
            }
        }
    }

    /// Records this worker's streams on `board`, shared with the other
    /// workers, as worker `worker`. Set it before any flow is installed.
    pub(crate) fn share(&mut self, board: Arc<StreamBoard>, worker: u16) {
        self.home = Home { board, worker };
    }

    fn add_context(&mut self, c: Arc<Context>) -> ContextId {
        match self.free_contexts.pop() {
            Some(id) => {
                self.contexts[id as usize] = Some(c);
                id
            }
            None => {
                self.contexts.push(Some(c));
                if self.free_contexts.capacity() < self.contexts.len() {
                    // So that `remove_context` never reallocates.
                    self.free_contexts.reserve(self.contexts.len());
                }
                (self.contexts.len() - 1) as ContextId
            }
        }
    }

    fn remove_context(&mut self, id: ContextId) {
        self.contexts[id as usize] = None;
        self.free_contexts.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::{MasterKey, Policy, Suite};

    fn keys(fill: u8) -> SrtpKeys {
        let suite = Suite::AesCm128HmacSha1_80;
        let key = MasterKey::from_key_salt(suite, &[fill; 30]).unwrap();
        SrtpKeys::new(Arc::new(Context::new(&Policy::new(suite, key)).unwrap()))
    }

    #[test]
    fn install_rekey_and_release_keep_the_slabs_balanced() {
        let mut store = SrtpStore::new();
        let mut state = None;
        let (a, b) = (keys(1), keys(2));
        store.install(1, &mut state, &SrtpTransform { unprotect: Some(a.clone()), protect: None });
        assert_eq!((store.contexts(), store.streams.in_use()), (1, SSRCS_PER_FLOW));
        let s = state.as_mut().unwrap();
        let got = s.slot_for(1, 7, &mut store.streams, &store.home).unwrap();
        assert_eq!(got, SlotFor { slot: 0, claimed: true });
        assert_eq!(s.slot_for(1, 7, &mut store.streams, &store.home).unwrap(), SlotFor { slot: 0, claimed: false });
        let rx = s.unprotect(0).unwrap();

        // Transcrypt now: the unprotect side keeps its streams, the protect side gets its own.
        store.install(1, &mut state, &SrtpTransform { unprotect: Some(a.clone()), protect: Some(b.clone()) });
        assert_eq!((store.contexts(), store.streams.in_use()), (2, 2 * SSRCS_PER_FLOW));
        assert_eq!(state.as_ref().unwrap().unprotect(0), Some(rx));
        // A rekey replaces the context in place.
        store.install(1, &mut state, &SrtpTransform { unprotect: Some(keys(3)), protect: Some(b) });
        assert_eq!((store.contexts(), store.streams.in_use()), (2, 2 * SSRCS_PER_FLOW));
        assert_eq!(state.as_ref().unwrap().unprotect(0), Some(rx));
        assert!(!Arc::ptr_eq(&store.contexts[rx.context as usize].clone().unwrap(), &a.context));

        store.install(1, &mut state, &SrtpTransform::default());
        assert!(state.is_none());
        assert_eq!((store.contexts(), store.streams.in_use()), (0, 0));
    }

    #[test]
    fn slots_run_out_and_a_failed_claim_is_given_back() {
        let mut store = SrtpStore::new();
        let mut state = None;
        store.install(1, &mut state, &SrtpTransform { unprotect: Some(keys(1)), protect: None });
        let s = state.as_mut().unwrap();
        for ssrc in 0..SSRCS_PER_FLOW as u32 {
            assert!(s.slot_for(1, ssrc, &mut store.streams, &store.home).unwrap().claimed);
        }
        assert_eq!(s.slot_for(1, 99, &mut store.streams, &store.home), Err(SlotError::Full));
        // Nothing was accepted on slot 3: giving it back frees it.
        s.unclaim(3, 1, &store.streams, &store.home);
        assert_eq!(s.slot_for(1, 99, &mut store.streams, &store.home), Ok(SlotFor { slot: 3, claimed: true }));
    }

    /// Two workers' stores on one board, with the same transcrypting flow 1.
    fn two_workers() -> [(SrtpStore, Option<Box<FlowSrtp>>); 2] {
        let board = StreamBoard::new(2);
        let both = SrtpTransform { unprotect: Some(keys(1)), protect: Some(keys(2)) };
        [0, 1].map(|w| {
            let mut store = SrtpStore::new();
            store.share(board.clone(), w);
            let mut state = None;
            store.install(1, &mut state, &both);
            (store, state)
        })
    }

    /// The highest SRTP index and the next SRTCP index of a worker's states
    /// for `ssrc`, if it holds the stream.
    fn held(store: &SrtpStore, fs: &FlowSrtp, ssrc: u32) -> Option<(Option<u64>, Option<u64>, u32)> {
        let slot = fs.ssrcs.iter().find(|s| s.used && s.here && s.ssrc == ssrc)?;
        let (rx, tx) = (&store.streams[slot.rx as usize], &store.streams[slot.tx as usize]);
        Some((rx.highest_index(), tx.highest_index(), tx.next_srtcp_index()))
    }

    const SSRC: u32 = 0xabc;

    #[test]
    fn a_resume_that_comes_while_the_stream_moves_between_workers_is_not_lost() {
        let [(mut s0, mut f0), (mut s1, mut f1)] = two_workers();
        let (f0, f1) = (f0.as_mut().unwrap(), f1.as_mut().unwrap());
        // Worker 0 holds the stream, with states from before the resume.
        let slot = f0.slot_for(1, SSRC, &mut s0.streams, &s0.home).unwrap().slot;
        s0.streams[f0.ssrcs[slot].rx as usize].srtp.accept(100);
        s0.streams[f0.ssrcs[slot].tx as usize].srtp.accept(100);
        // RSS brings a packet of it to worker 1, which asks for it.
        assert_eq!(f1.slot_for(1, SSRC, &mut s1.streams, &s1.home), Err(SlotError::Moving));
        // The resume (and an SRTCP floor) reach worker 1 first: the stream is not there.
        f1.resume(1, SSRC, 70_000, &mut s1.streams, &s1.home);
        f1.resume_srtcp(1 << 24, &mut s1.streams);
        assert_eq!(held(&s1, f1, SSRC), None);
        // Worker 0 hands the stream over between bursts, then gets the commands:
        // the board says worker 1 has the stream now.
        let board = s0.home.board.clone();
        assert_eq!(board.hand_over(0, |_, ssrc| f0.hand_over(ssrc, &s0.streams)), 1);
        f0.resume(1, SSRC, 70_000, &mut s0.streams, &s0.home);
        f0.resume_srtcp(1 << 24, &mut s0.streams);
        assert_eq!(held(&s0, f0, SSRC), None);
        // Worker 1 takes the states handed over, from before the resume: the
        // resume it kept applies to them, and the SRTCP floor.
        assert!(f1.slot_for(1, SSRC, &mut s1.streams, &s1.home).is_ok());
        assert_eq!(held(&s1, f1, SSRC), Some((Some(70_000), Some(70_000), 1 << 24)));

        // The stream goes on at worker 1, then back to worker 0: the resume
        // worker 0 kept does not take it back.
        let slot = f1.ssrcs.iter().position(|s| s.ssrc == SSRC).unwrap();
        s1.streams[f1.ssrcs[slot].rx as usize].srtp.accept(70_010);
        assert_eq!(f0.slot_for(1, SSRC, &mut s0.streams, &s0.home), Err(SlotError::Moving));
        assert_eq!(board.hand_over(1, |_, ssrc| f1.hand_over(ssrc, &s1.streams)), 1);
        assert!(f0.slot_for(1, SSRC, &mut s0.streams, &s0.home).is_ok());
        assert_eq!(held(&s0, f0, SSRC), Some((Some(70_010), Some(70_000), 1 << 24)));
    }

    #[test]
    fn a_resume_at_the_worker_that_holds_the_stream_applies_there_and_moves_with_it() {
        let [(mut s0, mut f0), (mut s1, mut f1)] = two_workers();
        let (f0, f1) = (f0.as_mut().unwrap(), f1.as_mut().unwrap());
        // Nobody holds the stream: the first worker to get the resume takes it.
        f0.resume(1, SSRC, 131_072, &mut s0.streams, &s0.home);
        f1.resume(1, SSRC, 131_072, &mut s1.streams, &s1.home);
        assert_eq!(held(&s0, f0, SSRC), Some((Some(131_072), Some(131_072), 0)));
        assert_eq!(held(&s1, f1, SSRC), None);
        // Worker 1 asked when its resume came: worker 0 hands the resumed states over.
        let board = s0.home.board.clone();
        assert_eq!(board.hand_over(0, |_, ssrc| f0.hand_over(ssrc, &s0.streams)), 1);
        assert!(f1.slot_for(1, SSRC, &mut s1.streams, &s1.home).is_ok());
        assert_eq!(held(&s1, f1, SSRC), Some((Some(131_072), Some(131_072), 0)));
    }

    #[test]
    fn an_srtcp_floor_applies_to_new_ssrcs_which_stay_fresh_until_they_send() {
        let mut store = SrtpStore::new();
        let mut state = None;
        store.install(1, &mut state, &SrtpTransform { unprotect: Some(keys(1)), protect: Some(keys(2)) });
        let s = state.as_mut().unwrap();
        let first = s.slot_for(1, 7, &mut store.streams, &store.home).unwrap();
        let tx = s.ssrcs[first.slot].tx as usize;
        store.streams[tx].srtcp_next = 40;
        s.resume_srtcp(1 << 24, &mut store.streams);
        assert_eq!(store.streams[tx].next_srtcp_index(), 1 << 24, "an SSRC held");
        let new = s.slot_for(1, 8, &mut store.streams, &store.home).unwrap();
        let tx = s.ssrcs[new.slot].tx as usize;
        assert_eq!(store.streams[tx].next_srtcp_index(), 1 << 24, "a new SSRC");
        // A packet that failed gives its slot back: nothing was protected on it.
        s.unclaim(new.slot, 1, &store.streams, &store.home);
        assert!(!s.ssrcs[new.slot].used);
    }
}
