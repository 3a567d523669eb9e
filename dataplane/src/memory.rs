//! Where a worker's tables live: flow entries, statistics slots and the
//! direct index's per-address arrays.
//!
//! On a node they are in DPDK memory on the worker's NUMA socket: with
//! 2 MiB hugepages a million flows span a few hundred pages, all in the
//! TLB, where 4 KiB pages would cost a page walk per table per packet.
//! Tests, benchmarks and tools without an EAL keep them on the heap.

use core::fmt;
use core::ops::{Deref, DerefMut};

#[cfg(feature = "dpdk")]
use mediafwd_ffi::TableArray;

/// Where a node's workers keep their tables (`dataplane.table_memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableMemory {
    /// DPDK memory on the worker's socket: hugepages when the node runs on them.
    #[default]
    Hugepages,
    /// The process heap (4 KiB pages, or transparent hugepages where enabled).
    Heap,
}

impl core::str::FromStr for TableMemory {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hugepages" => Ok(TableMemory::Hugepages),
            "heap" => Ok(TableMemory::Heap),
            _ => Err(format!("{s:?}: \"hugepages\" or \"heap\"")),
        }
    }
}

impl TableMemory {
    /// The configuration's word for it.
    pub fn name(self) -> &'static str {
        match self {
            TableMemory::Hugepages => "hugepages",
            TableMemory::Heap => "heap",
        }
    }
}

/// Where one table is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The process heap.
    Heap,
    /// DPDK memory on a NUMA socket (`-1`: any).
    #[cfg(feature = "dpdk")]
    Dpdk {
        /// The socket.
        socket: i32,
    },
}

/// A table could not be allocated where it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot allocate a table of {bytes} bytes in DPDK memory: {reason}")]
pub struct PlaceError {
    /// The size asked for.
    pub bytes: usize,
    /// DPDK's explanation.
    pub reason: String,
}

/// A fixed-size array of `T`, on the heap or in DPDK memory; read and
/// written as a slice. Where it lives is decided once, when it is made:
/// reading an element is the same pointer and length either way, no branch.
pub struct Slab<T>(#[cfg(feature = "dpdk")] TableArray<T>, #[cfg(not(feature = "dpdk"))] Box<[T]>);

impl<T> Slab<T> {
    /// `len` elements on the heap, element `i` set to `init(i)`.
    pub fn heap(len: usize, init: impl FnMut(usize) -> T) -> Self {
        #[cfg(feature = "dpdk")]
        return Slab(TableArray::on_heap(len, init));
        #[cfg(not(feature = "dpdk"))]
        return Slab((0..len).map(init).collect());
    }

    /// `len` elements in `place`, element `i` set to `init(i)`.
    pub fn new_in(place: Place, len: usize, init: impl FnMut(usize) -> T) -> Result<Self, PlaceError> {
        match place {
            Place::Heap => Ok(Slab::heap(len, init)),
            #[cfg(feature = "dpdk")]
            Place::Dpdk { socket } => TableArray::from_fn(len, socket, init)
                .map(Slab)
                .map_err(|e| PlaceError { bytes: len * core::mem::size_of::<T>(), reason: e.to_string() }),
        }
    }

    /// Where it is.
    pub fn place(&self) -> Place {
        #[cfg(feature = "dpdk")]
        return self.0.socket().map_or(Place::Heap, |socket| Place::Dpdk { socket });
        #[cfg(not(feature = "dpdk"))]
        return Place::Heap;
    }
}

impl<T> Deref for Slab<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Slab<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T: Clone> Clone for Slab<T> {
    fn clone(&self) -> Self {
        Slab(self.0.clone())
    }
}

impl<T> fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab").field("len", &self.len()).field("place", &self.place()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heap_slab_is_a_slice_made_in_order() {
        let mut s = Slab::new_in(Place::Heap, 4, |i| i * 10).unwrap();
        s[3] += 1;
        assert_eq!((&*s, s.place()), (&[0, 10, 20, 31][..], Place::Heap));
        assert_eq!(&*s.clone(), &*s);
        assert_eq!(TableMemory::default().name(), "hugepages");
        for m in [TableMemory::Heap, TableMemory::Hugepages] {
            assert_eq!(m.name().parse(), Ok(m));
        }
        assert!("huge".parse::<TableMemory>().is_err());
    }
}
