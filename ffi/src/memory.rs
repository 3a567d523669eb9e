//! Typed arrays in DPDK memory (`rte_malloc_socket`): hugepages on a chosen
//! NUMA socket when the EAL runs on hugepages, so that a large table is
//! covered by a few hundred 2 MiB TLB entries instead of hundreds of
//! thousands of 4 KiB ones.
//!
//! DPDK's heap exists only after `rte_eal_init` (an [`crate::Eal`]), and
//! every array in it must be dropped before [`crate::Eal::cleanup`]. The same
//! type also holds arrays on the process heap (tests, tools, nodes without
//! hugepages), so that reading an element never asks where the array lives:
//! the fast path indexes a pointer and a length either way.

use core::fmt;
use core::mem::{align_of, size_of};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::alloc::{self, Layout};

use crate::error::{DpdkError, Result};
use crate::sys;

/// `n` values of `T` in DPDK memory on one NUMA socket or on the process
/// heap, owned: dropped in place, then the memory handed back to where it
/// came from (`rte_free` or the global allocator). 64-byte aligned at least.
pub struct TableArray<T> {
    ptr: NonNull<T>,
    len: usize,
    home: Home,
}

/// Where an array's memory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// `rte_malloc_socket` on this socket (`-1`: any).
    Dpdk(i32),
    /// The global allocator, with this layout (size 0: nothing allocated).
    Heap(Layout),
}

impl Home {
    /// Hands the memory at `ptr` back.
    ///
    /// # Safety
    /// `ptr` came from this home's allocation and is not used afterwards.
    unsafe fn free<T>(self, ptr: NonNull<T>) {
        match self {
            // SAFETY: per the caller, from rte_malloc_socket, freed once.
            Home::Dpdk(_) => unsafe { sys::rte_free(ptr.as_ptr().cast()) },
            Home::Heap(layout) if layout.size() == 0 => {}
            // SAFETY: per the caller, from `alloc::alloc(layout)`, freed once.
            Home::Heap(layout) => unsafe { alloc::dealloc(ptr.as_ptr().cast(), layout) },
        }
    }
}

// SAFETY: the array owns its elements as a `Box<[T]>` would; DPDK memory
// may be used and freed from any thread (rte_free takes the heap's lock).
unsafe impl<T: Send> Send for TableArray<T> {}
// SAFETY: shared access gives `&[T]` only, as for a `Box<[T]>`.
unsafe impl<T: Sync> Sync for TableArray<T> {}

impl<T> TableArray<T> {
    /// Allocates `len` elements on NUMA `socket` (`-1`: any) and sets
    /// element `i` to `init(i)`. Needs the EAL. Fails when DPDK has not
    /// the memory (more hugepages, or a larger `-m`, are the remedy).
    pub fn from_fn(len: usize, socket: i32, init: impl FnMut(usize) -> T) -> Result<Self> {
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
        Ok(Self::fill(ptr, len, Home::Dpdk(socket), init))
    }

    /// Allocates `len` elements on the process heap and sets element `i` to
    /// `init(i)`; no EAL needed. Aborts when the heap has no memory left, as
    /// a `Vec` does.
    ///
    /// # Panics
    /// When `len` elements of `T` exceed `isize::MAX` bytes.
    pub fn on_heap(len: usize, init: impl FnMut(usize) -> T) -> Self {
        let layout = Layout::array::<T>(len)
            .and_then(|l| l.align_to(64))
            .unwrap_or_else(|_| panic!("an array of {len} elements overflows"));
        let ptr = if layout.size() == 0 {
            // Nothing to allocate; any aligned non-null pointer will do.
            NonNull::<T>::dangling()
        } else {
            // SAFETY: `layout` has a non-zero size.
            let raw = unsafe { alloc::alloc(layout) };
            NonNull::new(raw.cast::<T>()).unwrap_or_else(|| alloc::handle_alloc_error(layout))
        };
        Self::fill(ptr, len, Home::Heap(layout), init)
    }

    /// Writes `init(i)` to each of the `len` places at `ptr`, which `home`
    /// allocated for them. If `init` panics, the elements already written
    /// are dropped and the memory freed.
    fn fill(ptr: NonNull<T>, len: usize, home: Home, mut init: impl FnMut(usize) -> T) -> Self {
        let mut guard = Partial { ptr, written: 0, home };
        for i in 0..len {
            let v = init(i);
            // SAFETY: `i < len`: inside the allocation, aligned for `T`, not
            // yet initialised (written once).
            unsafe { ptr.as_ptr().add(i).write(v) };
            guard.written = i + 1;
        }
        core::mem::forget(guard);
        TableArray { ptr, len, home }
    }

    /// The NUMA socket asked for (`-1`: any), or `None` on the process heap.
    pub fn socket(&self) -> Option<i32> {
        match self.home {
            Home::Dpdk(socket) => Some(socket),
            Home::Heap(_) => None,
        }
    }

    /// Bytes the elements take.
    pub fn bytes(&self) -> usize {
        self.len * size_of::<T>()
    }
}

/// Elements `0..written` of a half-built array, dropped and freed on unwind.
struct Partial<T> {
    ptr: NonNull<T>,
    written: usize,
    home: Home,
}

impl<T> Drop for Partial<T> {
    fn drop(&mut self) {
        // SAFETY: elements `0..written` were initialised and are dropped
        // once; the memory came from `home` and is freed once.
        unsafe {
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.written));
            self.home.free(self.ptr);
        }
    }
}

impl<T> Drop for TableArray<T> {
    fn drop(&mut self) {
        // Reuses the unwind path: all `len` elements are initialised.
        drop(Partial { ptr: self.ptr, written: self.len, home: self.home });
    }
}

impl<T> Deref for TableArray<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements, owned by `self`, live while it does.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for TableArray<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Clone> Clone for TableArray<T> {
    /// A copy in the same place. Panics when DPDK has no memory left, as
    /// cloning a `Vec` aborts when the process heap has none.
    fn clone(&self) -> Self {
        match self.home {
            Home::Dpdk(socket) => TableArray::from_fn(self.len, socket, |i| self[i].clone())
                .unwrap_or_else(|e| panic!("cloning a DPDK array of {} bytes: {e}", self.bytes())),
            Home::Heap(_) => TableArray::on_heap(self.len, |i| self[i].clone()),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for TableArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableArray").field("len", &self.len).field("home", &self.home).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn heap_arrays_own_their_elements_as_dpdk_ones_do() {
        let live = Rc::new(());
        {
            let mut a = TableArray::on_heap(1000, |i| (i as u64, live.clone()));
            assert_eq!((a.len(), a.bytes(), a.socket()), (1000, 1000 * 16, None));
            assert!(a.iter().enumerate().all(|(i, v)| v.0 == i as u64));
            assert_eq!(a.as_ptr() as usize % 64, 0);
            a[7].0 = 70;
            let b = a.clone();
            assert_eq!((b[7].0, b[8].0, b.socket()), (70, 8, None));
            assert_eq!(Rc::strong_count(&live), 2001);
        }
        assert_eq!(Rc::strong_count(&live), 1);
        assert!(TableArray::<u8>::on_heap(0, |_| 0).is_empty());
        assert_eq!(TableArray::<()>::on_heap(5, |_| ()).len(), 5);
    }

    #[test]
    fn a_panic_while_filling_drops_what_was_written() {
        let live = Rc::new(());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            TableArray::on_heap(10, |i| if i == 6 { panic!("element 6") } else { live.clone() })
        }));
        assert!(r.is_err());
        assert_eq!(Rc::strong_count(&live), 1);
    }
}
