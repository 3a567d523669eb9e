//! Packet buffers (`rte_mbuf`) and bursts of them.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::error::{DpdkError, Result};
use crate::sys;

/// Packets moved per rx/tx call: DPDK's customary burst.
pub const BURST_SIZE: usize = 32;

/// An owned single packet buffer; freed back to its pool when dropped.
///
/// `repr(transparent)` over a non-null pointer: a `[Mbuf]` has the layout of
/// the `struct rte_mbuf **` arrays that rx/tx burst take.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf has a single owner at a time (this handle); DPDK hands
// mbufs between lcores through rings and queues by design.
unsafe impl Send for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it is not used after this.
        unsafe { sys::mfw_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Mbuf {
    pub(crate) fn from_nonnull(p: NonNull<sys::rte_mbuf>) -> Self {
        Mbuf(p)
    }

    /// Takes ownership of a raw mbuf pointer (from a ring or a C API).
    ///
    /// # Safety
    /// `ptr` must be a valid mbuf that nothing else owns or frees.
    pub unsafe fn from_raw(ptr: *mut sys::rte_mbuf) -> Option<Self> {
        NonNull::new(ptr).map(Mbuf)
    }

    /// Gives up ownership; the caller must free or hand on the pointer.
    pub fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline(always)]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for the lifetime of `self`.
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn raw_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: we own a valid mbuf, and `&mut self` makes this access unique.
        unsafe { self.0.as_mut() }
    }

    /// The packet's length in this (first) segment.
    #[inline(always)]
    pub fn data_len(&self) -> usize {
        self.raw().data_len as usize
    }

    /// Whether the packet lives in one segment (the only kind the dataplane
    /// rewrites; chained jumbo frames are dropped and counted).
    #[inline(always)]
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// The port the packet was received on.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// Sets the port field: for packets handed to a worker to transmit, the
    /// egress port.
    #[inline(always)]
    pub fn set_port(&mut self, port: u16) {
        self.raw_mut().port = port;
    }

    /// The packet bytes of the first segment.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the buffer the
        // mbuf owns, and `&self` keeps it borrowed.
        unsafe { std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), m.data_len as usize) }
    }

    /// The packet bytes of the first segment, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw_mut();
        // SAFETY: as in `data`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut((m.buf_addr as *mut u8).add(m.data_off as usize), m.data_len as usize) }
    }

    /// The whole buffer (headroom, data, tailroom) and where the data sits in
    /// it, for transforms that grow or shrink a packet at either end.
    #[inline(always)]
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize, usize) {
        let m = self.raw_mut();
        let (off, len) = (m.data_off as usize, m.data_len as usize);
        // SAFETY: buf_addr .. + buf_len is the buffer this mbuf owns.
        let buf = unsafe { std::slice::from_raw_parts_mut(m.buf_addr as *mut u8, m.buf_len as usize) };
        (buf, off, len)
    }

    /// Moves the data window to `off .. off + len` of the buffer returned by
    /// [`Mbuf::buffer_mut`]. Only for single-segment packets.
    #[inline(always)]
    pub fn set_data_window(&mut self, off: usize, len: usize) -> Result<()> {
        let m = self.raw_mut();
        if m.nb_segs != 1 || off + len > m.buf_len as usize {
            return Err(DpdkError::InvalidArgument {
                what: "mbuf data window",
                reason: format!("{off}+{len} outside a {}-byte buffer", m.buf_len),
            });
        }
        m.data_off = off as u16;
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        Ok(())
    }

    /// Appends `bytes` at the end of the packet.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<()> {
        let len = u16::try_from(bytes.len()).map_err(|_| DpdkError::InvalidArgument {
            what: "mbuf append",
            reason: format!("{} bytes", bytes.len()),
        })?;
        // SAFETY: we own the mbuf; append returns NULL when tailroom is short.
        let dst = unsafe { sys::mfw_pktmbuf_append(self.0.as_ptr(), len) };
        if dst.is_null() {
            return Err(DpdkError::InvalidArgument {
                what: "mbuf append",
                reason: format!("{} bytes exceed the tailroom {}", bytes.len(), self.tailroom()),
            });
        }
        // SAFETY: append reserved `len` writable bytes at `dst`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast(), bytes.len()) };
        Ok(())
    }

    /// Free bytes before the data.
    pub fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    /// Free bytes after the data (first segment).
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        m.buf_len as usize - m.data_off as usize - m.data_len as usize
    }

    /// Starts loading the packet's first cache line.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        let m = self.raw();
        crate::prefetch((m.buf_addr as *const u8).wrapping_add(m.data_off as usize));
    }

    /// VLAN TCI that the NIC stripped on receive, if any.
    #[inline(always)]
    pub fn rx_vlan_stripped(&self) -> Option<u16> {
        const RTE_MBUF_F_RX_VLAN_STRIPPED: u64 = 1 << 6;
        let m = self.raw();
        (m.ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED != 0).then_some(m.vlan_tci)
    }
}

/// Up to [`BURST_SIZE`] owned mbufs; whatever is left is freed in bulk on drop.
pub struct Burst {
    slots: [MaybeUninit<Mbuf>; BURST_SIZE],
    len: usize,
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    /// An empty burst.
    pub const fn new() -> Self {
        Burst { slots: [const { MaybeUninit::uninit() }; BURST_SIZE], len: 0 }
    }

    /// Packets held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No packets held.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// No room for another packet.
    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// Adds a packet; gives it back when the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> std::result::Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// The `i`-th packet.
    #[inline(always)]
    pub fn get_mut(&mut self, i: usize) -> &mut Mbuf {
        assert!(i < self.len);
        // SAFETY: slots 0..len are initialised.
        unsafe { self.slots[i].assume_init_mut() }
    }

    /// The packets, writable together.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: slots 0..len are initialised Mbufs (MaybeUninit<Mbuf> has
        // Mbuf's layout), and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// The `i`-th packet.
    #[inline(always)]
    pub fn get(&self, i: usize) -> &Mbuf {
        assert!(i < self.len);
        // SAFETY: slots 0..len are initialised.
        unsafe { self.slots[i].assume_init_ref() }
    }

    #[inline(always)]
    pub(crate) fn raw_tail(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        // SAFETY: slots..len is inside the array (len <= BURST_SIZE); Mbuf is
        // repr(transparent) over a pointer, so the array is a pointer array.
        let p = unsafe { self.slots.as_mut_ptr().add(self.len) } as *mut *mut sys::rte_mbuf;
        (p, (BURST_SIZE - self.len) as u16)
    }

    /// Records that `n` more slots after `len` were filled by DPDK.
    #[inline(always)]
    pub(crate) fn grow(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_SIZE);
        self.len += n;
    }

    /// Removes the first `n` packets (already handed to DPDK), moving the
    /// rest to the front.
    #[inline(always)]
    pub(crate) fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        if n > 0 && n < self.len {
            // SAFETY: moves the still-owned mbufs n..len to 0..len-n; the
            // regions may overlap, which `copy` allows. Slots 0..n were given
            // away, so nothing is duplicated.
            unsafe {
                let base = self.slots.as_mut_ptr();
                std::ptr::copy(base.add(n), base, self.len - n);
            }
        }
        self.len -= n;
    }

    #[inline(always)]
    pub(crate) fn raw_head(&mut self) -> *mut *mut sys::rte_mbuf {
        self.slots.as_mut_ptr() as *mut *mut sys::rte_mbuf
    }

    /// Takes every packet out, in order; `prefetch_ahead` on the iterator
    /// starts loading a later packet while the current one is processed.
    #[inline(always)]
    pub fn drain(&mut self) -> Drain<'_> {
        let end = self.len;
        self.len = 0;
        Drain { burst: self, pos: 0, end }
    }

    /// Frees every packet held, in one bulk call.
    #[inline]
    pub fn free_all(&mut self) {
        if self.len > 0 {
            // SAFETY: slots 0..len are owned mbufs; after the call they are
            // gone, and len = 0 forgets them.
            unsafe { sys::rte_pktmbuf_free_bulk(self.raw_head(), self.len as u32) };
            self.len = 0;
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// Iterator over the packets of a [`Burst`], by value.
pub struct Drain<'a> {
    burst: &'a mut Burst,
    pos: usize,
    end: usize,
}

impl Drain<'_> {
    /// Prefetches the data of the packet `ahead` places after the next one.
    #[inline(always)]
    pub fn prefetch_ahead(&self, ahead: usize) {
        let i = self.pos + ahead;
        if i < self.end {
            // SAFETY: pos..end are initialised and not yet taken.
            unsafe { self.burst.slots[i].assume_init_ref() }.prefetch_data();
        }
    }

    /// Packets not yet taken.
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.pos == self.end {
            return None;
        }
        // SAFETY: pos < end, the slot is initialised and read exactly once.
        let m = unsafe { self.burst.slots[self.pos].assume_init_read() };
        self.pos += 1;
        Some(m)
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for m in self.by_ref() {
            drop(m);
        }
    }
}
