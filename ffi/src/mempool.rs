//! Packet-buffer pools.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::cstr::to_cstring;
use crate::error::{DpdkError, Result};
use crate::mbuf::Mbuf;
use crate::sys;

struct Inner(NonNull<sys::rte_mempool>);

// SAFETY: a DPDK mempool is a multi-producer multi-consumer object designed
// to be shared between lcores; the pointer itself is never mutated.
unsafe impl Send for Inner {}
// SAFETY: see Send.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone; ports that used the pool keep a
        // handle in their queues, so none can still refer to it.
        unsafe { sys::rte_mempool_free(self.0.as_ptr()) }
    }
}

/// A pool of packet buffers (`rte_pktmbuf_pool_create`); cheap to clone.
#[derive(Clone)]
pub struct Mempool(Arc<Inner>);

impl Mempool {
    /// Creates a pool of `size` mbufs with a per-lcore cache of `cache` and a
    /// data room of `data_room` bytes (headroom included) on NUMA `socket`
    /// (`-1`: any).
    pub fn create(name: &str, size: u32, cache: u32, data_room: u16, socket: i32) -> Result<Self> {
        if cache > sys::RTE_MEMPOOL_CACHE_MAX_SIZE {
            return Err(DpdkError::InvalidArgument {
                what: "mempool cache size",
                reason: format!("{cache} exceeds {}", sys::RTE_MEMPOOL_CACHE_MAX_SIZE),
            });
        }
        let cname = to_cstring("mempool name", name)?;
        // SAFETY: the name is NUL-terminated; DPDK copies it.
        let ptr = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), size, cache, 0, data_room, socket) };
        NonNull::new(ptr)
            .map(|p| Mempool(Arc::new(Inner(p))))
            .ok_or_else(|| DpdkError::from_errno("rte_pktmbuf_pool_create"))
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.0 .0.as_ptr()
    }

    /// Takes one buffer (empty, data at the default headroom).
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid while `self` lives.
        let m = unsafe { sys::mfw_pktmbuf_alloc(self.as_ptr()) };
        NonNull::new(m).map(Mbuf::from_nonnull)
    }

    /// Buffers currently taken from the pool (per-lcore caches count as taken).
    pub fn in_use(&self) -> u32 {
        // SAFETY: reads the pool's counters.
        unsafe { sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// Buffers available in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: reads the pool's counters.
        unsafe { sys::rte_mempool_avail_count(self.as_ptr()) }
    }
}
