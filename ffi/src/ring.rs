//! Lock-free rings of mbufs (`rte_ring`), used for the slow-path hand-off and
//! as the backing of `net_ring` ports in tests.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::cstr::to_cstring;
use crate::error::{DpdkError, Result};
use crate::mbuf::{Burst, Mbuf};
use crate::sys;

struct Inner(NonNull<sys::rte_ring>);

// SAFETY: rte_ring is a concurrent queue; single-producer/consumer rings are
// only used from one producer and one consumer thread by construction (the
// flags are chosen by the creator and documented at each use).
unsafe impl Send for Inner {}
// SAFETY: see Send.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut burst = Burst::new();
        loop {
            let (p, room) = burst.raw_tail();
            // SAFETY: dequeues mbuf pointers owned by the ring into free slots.
            let n = unsafe { sys::mfw_ring_dequeue_burst(self.0.as_ptr(), p.cast(), room as u32) };
            burst.grow(n as usize);
            burst.free_all();
            if n == 0 {
                break;
            }
        }
        // SAFETY: the ring is empty and no handle is left.
        unsafe { sys::rte_ring_free(self.0.as_ptr()) }
    }
}

/// A ring of mbufs; cheap to clone. Dropping the last handle frees the
/// packets still queued.
#[derive(Clone)]
pub struct Ring(Arc<Inner>);

/// Flags for [`Ring::create`].
pub mod flags {
    /// Single producer.
    pub const SP_ENQ: u32 = 0x0001;
    /// Single consumer.
    pub const SC_DEQ: u32 = 0x0002;
    /// Exactly `count` usable slots (otherwise count - 1, count a power of two).
    pub const EXACT_SZ: u32 = 0x0004;
}

impl Ring {
    /// Creates a ring of `count` slots on NUMA `socket` (-1: any).
    pub fn create(name: &str, count: u32, socket: i32, flags: u32) -> Result<Self> {
        let cname = to_cstring("ring name", name)?;
        // SAFETY: the name is NUL-terminated and copied by DPDK.
        let p = unsafe { sys::rte_ring_create(cname.as_ptr(), count, socket, flags) };
        NonNull::new(p).map(|p| Ring(Arc::new(Inner(p)))).ok_or_else(|| DpdkError::from_errno("rte_ring_create"))
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_ring {
        self.0 .0.as_ptr()
    }

    /// Moves as many packets as fit from the front of `burst` into the ring;
    /// returns how many. The rest stay in `burst`.
    #[inline]
    pub fn enqueue_burst(&self, burst: &mut Burst) -> usize {
        let n = burst.len();
        // SAFETY: the first `n` slots are owned mbufs; those the ring accepts
        // become the ring's and are removed from the burst.
        let sent =
            unsafe { sys::mfw_ring_enqueue_burst(self.as_ptr(), burst.raw_head() as *const *mut c_void, n as u32) }
                as usize;
        burst.consume_front(sent);
        sent
    }

    /// Enqueues one packet; gives it back when the ring is full.
    pub fn enqueue(&self, m: Mbuf) -> std::result::Result<(), Mbuf> {
        let mut b = Burst::new();
        let _ = b.push(m);
        if self.enqueue_burst(&mut b) == 1 {
            Ok(())
        } else {
            Err(b.drain().next().expect("one packet"))
        }
    }

    /// Appends up to the free room of `burst` from the ring; returns how many.
    #[inline]
    pub fn dequeue_burst(&self, burst: &mut Burst) -> usize {
        let (p, room) = burst.raw_tail();
        // SAFETY: `room` free slots start at `p`; the ring's mbufs move into them.
        let n = unsafe { sys::mfw_ring_dequeue_burst(self.as_ptr(), p.cast(), room as u32) } as usize;
        burst.grow(n);
        n
    }

    /// Entries queued.
    pub fn count(&self) -> u32 {
        // SAFETY: reads the ring's indices.
        unsafe { sys::mfw_ring_count(self.as_ptr()) }
    }
}
