//! Typed arrays in DPDK memory (`rte_malloc_socket`): hugepages on a chosen
//! NUMA socket when the EAL runs on hugepages, so that a large table is
//! covered by a few hundred 2 MiB TLB entries instead of hundreds of
//! thousands of 4 KiB ones.
//!
//! DPDK's heap exists only after `rte_eal_init` (an [`crate::Eal`]), and
//! every array must be dropped before [`crate::Eal::cleanup`].

use core::fmt;
use core::mem::{align_of, size_of};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::error::{DpdkError, Result};
use crate::sys;

/// `n` values of `T` in DPDK memory on one NUMA socket, owned: dropped in
/// place, then the memory handed back with `rte_free`.
pub struct DpdkArray<T> {
    ptr: NonNull<T>,
    len: usize,
    socket: i32,
}

// SAFETY: the array owns its elements as a `Box<[T]>` would; DPDK memory
// may be used and freed from any thread (rte_free takes the heap's lock).
unsafe impl<T: Send> Send for DpdkArray<T> {}
// SAFETY: shared access gives `&[T]` only, as for a `Box<[T]>`.
unsafe impl<T: Sync> Sync for DpdkArray<T> {}

impl<T> DpdkArray<T> {
    /// Allocates `len` elements on NUMA `socket` (`-1`: any) and sets
    /// element `i` to `init(i)`. Needs the EAL. Fails when DPDK has not
    /// the memory (more hugepages, or a larger `-m`, are the remedy).
    pub fn from_fn(len: usize, socket: i32, mut init: impl FnMut(usize) -> T) -> Result<Self> {
        let bytes = len.checked_mul(size_of::<T>()).filter(|b| *b <= isize::MAX as usize).ok_or_else(|| {
            DpdkError::InvalidArgument { what: "array length", reason: format!("{len} elements overflow") }
        })?;
        // Zero-sized requests still get a distinct allocation from DPDK.
        let align = align_of::<T>().max(64) as u32;
        // SAFETY: no pointer argument; the type name may be null; `align`
        // is a power of two. The result is checked for null below.
        let raw = unsafe { sys::rte_malloc_socket(core::ptr::null(), bytes.max(1), align, socket) };
        let ptr = NonNull::new(raw.cast::<T>()).ok_or_else(|| DpdkError::Call {
            op: "rte_malloc_socket",
            code: 12, // ENOMEM
            message: format!("no {bytes} bytes of DPDK memory on socket {socket}"),
        })?;
        // Elements are written one by one; if `init` panics, those already
        // written are dropped and the memory freed.
        let mut guard = Partial { ptr, written: 0 };
        for i in 0..len {
            let v = init(i);
            // SAFETY: `i < len`: inside the allocation, aligned for `T`, not
            // yet initialised (written once).
            unsafe { ptr.as_ptr().add(i).write(v) };
            guard.written = i + 1;
        }
        core::mem::forget(guard);
        Ok(DpdkArray { ptr, len, socket })
    }

    /// The NUMA socket asked for (`-1`: any).
    pub fn socket(&self) -> i32 {
        self.socket
    }

    /// Bytes taken from DPDK's heap.
    pub fn bytes(&self) -> usize {
        self.len * size_of::<T>()
    }
}

/// Elements `0..written` of a half-built array, dropped and freed on unwind.
struct Partial<T> {
    ptr: NonNull<T>,
    written: usize,
}

impl<T> Drop for Partial<T> {
    fn drop(&mut self) {
        // SAFETY: elements `0..written` were initialised and are dropped
        // once; the memory came from rte_malloc_socket and is freed once.
        unsafe {
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.written));
            sys::rte_free(self.ptr.as_ptr().cast());
        }
    }
}

impl<T> Drop for DpdkArray<T> {
    fn drop(&mut self) {
        // Reuses the unwind path: all `len` elements are initialised.
        drop(Partial { ptr: self.ptr, written: self.len });
    }
}

impl<T> Deref for DpdkArray<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements, owned by `self`, live while it does.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for DpdkArray<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Clone> Clone for DpdkArray<T> {
    /// A copy on the same socket. Panics when DPDK has no memory left, as
    /// cloning a `Vec` aborts when the process heap has none.
    fn clone(&self) -> Self {
        DpdkArray::from_fn(self.len, self.socket, |i| self[i].clone())
            .unwrap_or_else(|e| panic!("cloning a DPDK array of {} bytes: {e}", self.bytes()))
    }
}

impl<T: fmt::Debug> fmt::Debug for DpdkArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpdkArray").field("len", &self.len).field("socket", &self.socket).finish()
    }
}
