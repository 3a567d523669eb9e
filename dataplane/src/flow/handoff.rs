//! SRTP stream state that follows its stream from worker to worker.
//!
//! A stream's [`StreamState`] (rollover counter, replay windows, SRTCP index)
//! lives on the worker that receives the stream's packets. RSS hashes the
//! sender's address and port, so a NAT rebinding or a re-latch can send a
//! stream's packets to another worker. The new worker must not start the
//! stream afresh: unprotecting, it would guess ROC 0 and fail every packet
//! of a stream past its first wrap, and accept replays of indexes the old
//! worker saw; protecting, it would send ROC 0 and could protect an index
//! again under the same key.
//!
//! So every stream has one owner among the workers, recorded on a
//! [`StreamBoard`] that all workers of a process share. A worker that gets a
//! packet of a stream it does not hold asks the board:
//!
//! ```text
//! worker B (packet path)                 board                    worker A (between bursts)
//! claim(flow, ssrc) ---------------> nobody owns it: B owns it, starts afresh
//!                                    A owns it: wanted by B ----> hand_over: A's states
//!   packet dropped (srtp_moving)                                  into the board, A no longer
//! claim(flow, ssrc) ---------------> handed to B: B takes the     holds the stream
//!   states, goes on from them        states
//! ```
//!
//! The board is reached only when a stream is new to a worker or has moved:
//! a packet of a stream its worker holds never touches it. The lock it takes
//! is uncontended in steady state and never held by a worker's packet path
//! for more than a hash map operation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::FlowId;
use crate::srtp::StreamState;

/// The stream states of one SSRC of a flow, as handed from one worker to
/// another: for unprotecting and for protecting, where the flow does each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandedStreams {
    /// State for unprotecting.
    pub rx: Option<StreamState>,
    /// State for protecting.
    pub tx: Option<StreamState>,
}

/// What the board answers a worker that wants a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The worker owns the stream (nobody else had it): go on with what it holds.
    Owned,
    /// Another worker handed the stream over: go on from these states.
    Handed(Box<HandedStreams>),
    /// Another worker holds it and has been asked for it: drop the packet.
    Elsewhere,
}

#[derive(Debug)]
struct Owner {
    worker: u16,
    /// The worker that asked for the stream and has not got it yet.
    wanted_by: Option<u16>,
    /// States handed to `worker`, not taken yet.
    handed: Option<Box<HandedStreams>>,
}

#[derive(Debug, Default)]
struct Board {
    owners: HashMap<u64, Owner>,
    /// Per worker, the streams others asked it for.
    requests: Vec<Vec<u64>>,
    /// SRTP flows installed, summed over workers: the owners map is kept with
    /// room for [`SSRCS_PER_FLOW`](super::SSRCS_PER_FLOW) streams per flow.
    installed: usize,
}

/// Which worker owns each SRTP stream of a process, and the states in
/// transit between workers. One per dataplane, shared by its workers.
#[derive(Debug)]
pub struct StreamBoard {
    board: Mutex<Board>,
    /// Per worker: others asked it for a stream.
    asked: Box<[AtomicBool]>,
}

fn stream_key(flow: FlowId, ssrc: u32) -> u64 {
    (u64::from(flow) << 32) | u64::from(ssrc)
}

impl StreamBoard {
    /// A board for workers `0..workers`.
    pub fn new(workers: usize) -> Arc<Self> {
        let workers = workers.max(1);
        Arc::new(StreamBoard {
            board: Mutex::new(Board { requests: vec![Vec::with_capacity(64); workers], ..Board::default() }),
            asked: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        // A worker that panicked holding the lock left the map consistent:
        // every change under it is a single map operation.
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `worker` wants the stream of `ssrc` on `flow`.
    pub(crate) fn claim(&self, worker: u16, flow: FlowId, ssrc: u32) -> Claim {
        let key = stream_key(flow, ssrc);
        let mut b = self.lock();
        let b = &mut *b;
        let owner = b.owners.entry(key).or_insert(Owner { worker, wanted_by: None, handed: None });
        if owner.worker == worker {
            return owner.handed.take().map_or(Claim::Owned, Claim::Handed);
        }
        if owner.wanted_by != Some(worker) {
            owner.wanted_by = Some(worker);
            if let (Some(list), Some(flag)) =
                (b.requests.get_mut(usize::from(owner.worker)), self.asked.get(usize::from(owner.worker)))
            {
                list.push(key);
                flag.store(true, Ordering::Release);
            }
        }
        Claim::Elsewhere
    }

    /// `worker` no longer holds the stream (its flow went, or the first
    /// packet that claimed it failed): forgets it if `worker` owns it.
    pub(crate) fn forget(&self, worker: u16, flow: FlowId, ssrc: u32) {
        let mut b = self.lock();
        let key = stream_key(flow, ssrc);
        if b.owners.get(&key).is_some_and(|o| o.worker == worker) {
            b.owners.remove(&key);
        }
    }

    /// Hands the streams others asked `worker` for: `take(flow, ssrc)`
    /// gives up the worker's states of that stream (`None` if it has none,
    /// and the stream is forgotten so that the asker starts it afresh).
    /// Cheap when nobody asked: one atomic load.
    pub(crate) fn hand_over(&self, worker: u16, mut take: impl FnMut(FlowId, u32) -> Option<HandedStreams>) -> usize {
        let Some(flag) = self.asked.get(usize::from(worker)) else { return 0 };
        if !flag.load(Ordering::Acquire) {
            return 0;
        }
        let mut b = self.lock();
        flag.store(false, Ordering::Relaxed);
        let b = &mut *b;
        let mut handed = 0;
        for key in b.requests[usize::from(worker)].drain(..) {
            let Some(owner) = b.owners.get_mut(&key).filter(|o| o.worker == worker) else { continue };
            let Some(to) = owner.wanted_by.take() else { continue };
            if owner.handed.is_some() {
                // Handed to this worker, which never took it: pass it on as it is.
                owner.worker = to;
                handed += 1;
                continue;
            }
            match take((key >> 32) as FlowId, key as u32) {
                Some(states) => {
                    owner.worker = to;
                    owner.handed = Some(Box::new(states));
                    handed += 1;
                }
                None => {
                    b.owners.remove(&key);
                }
            }
        }
        handed
    }

    /// An SRTP flow was installed on a worker (`added`) or removed: keeps
    /// room for its streams, so that a new stream seldom grows the map on
    /// a packet's path.
    pub(crate) fn flow_installed(&self, added: bool) {
        let mut b = self.lock();
        if added {
            b.installed += 1;
            let want = super::SSRCS_PER_FLOW * b.installed.div_ceil(self.asked.len());
            let len = b.owners.len();
            if b.owners.capacity() < want {
                b.owners.reserve(want - len);
            }
        } else {
            b.installed = b.installed.saturating_sub(1);
        }
    }

    /// Streams with an owner.
    pub fn streams(&self) -> usize {
        self.lock().owners.len()
    }
}

/// A worker's place on the board.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    pub board: Arc<StreamBoard>,
    pub worker: u16,
}

impl Default for Home {
    /// A board of its own: one worker, whose streams never move.
    fn default() -> Self {
        Home { board: StreamBoard::new(1), worker: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: u64) -> HandedStreams {
        let mut s = StreamState::new();
        s.srtp.accept(index);
        HandedStreams { rx: Some(s), tx: None }
    }

    #[test]
    fn a_stream_moves_when_its_owner_hands_it_over() {
        let board = StreamBoard::new(2);
        assert_eq!(board.claim(0, 7, 0xabc), Claim::Owned);
        assert_eq!(board.claim(0, 7, 0xabc), Claim::Owned);
        // Worker 1 asks, twice; worker 0 is asked once.
        assert_eq!(board.claim(1, 7, 0xabc), Claim::Elsewhere);
        assert_eq!(board.claim(1, 7, 0xabc), Claim::Elsewhere);
        assert_eq!(board.hand_over(1, |_, _| panic!("nobody asked worker 1")), 0);
        let mut asked = Vec::new();
        assert_eq!(
            board.hand_over(0, |f, s| {
                asked.push((f, s));
                Some(at(70_000))
            }),
            1
        );
        assert_eq!(asked, [(7, 0xabc)]);
        assert_eq!(board.claim(1, 7, 0xabc), Claim::Handed(Box::new(at(70_000))));
        assert_eq!(board.claim(1, 7, 0xabc), Claim::Owned);
        // And back.
        assert_eq!(board.claim(0, 7, 0xabc), Claim::Elsewhere);
        assert_eq!(board.hand_over(0, |_, _| unreachable!()), 0);
        assert_eq!(board.hand_over(1, |_, _| Some(at(70_001))), 1);
        assert_eq!(board.claim(0, 7, 0xabc), Claim::Handed(Box::new(at(70_001))));
        assert_eq!(board.streams(), 1);
    }

    #[test]
    fn states_handed_but_not_taken_are_passed_on_whole() {
        let board = StreamBoard::new(3);
        assert_eq!(board.claim(0, 2, 9), Claim::Owned);
        assert_eq!(board.claim(1, 2, 9), Claim::Elsewhere);
        assert_eq!(board.hand_over(0, |_, _| Some(at(131_072))), 1);
        // Worker 1 has not claimed them yet when worker 2 asks for the stream.
        assert_eq!(board.claim(2, 2, 9), Claim::Elsewhere);
        assert_eq!(board.hand_over(1, |_, _| panic!("worker 1 holds no state of it")), 1);
        assert_eq!(board.claim(2, 2, 9), Claim::Handed(Box::new(at(131_072))));
        assert_eq!(board.claim(1, 2, 9), Claim::Elsewhere);
    }

    #[test]
    fn a_stream_its_owner_no_longer_has_starts_afresh() {
        let board = StreamBoard::new(2);
        assert_eq!(board.claim(0, 1, 5), Claim::Owned);
        assert_eq!(board.claim(1, 1, 5), Claim::Elsewhere);
        assert_eq!(board.hand_over(0, |_, _| None), 0);
        assert_eq!(board.claim(1, 1, 5), Claim::Owned);
        // Forgotten only by its owner.
        board.forget(0, 1, 5);
        assert_eq!(board.streams(), 1);
        board.forget(1, 1, 5);
        assert_eq!(board.streams(), 0);
    }
}
