//! A packet inside a larger buffer, with room to grow at both ends: what a
//! transform needs to add or remove headers (IPv4 <-> IPv6, VLAN tags) or
//! append an authentication tag, without knowing about mbufs.

/// `buf[off .. off + len]` is the packet; the rest is head- and tailroom.
#[derive(Debug)]
pub struct PacketBuf<'a> {
    buf: &'a mut [u8],
    off: usize,
    len: usize,
}

impl<'a> PacketBuf<'a> {
    /// The packet at `off .. off + len` of `buf`.
    ///
    /// # Panics
    /// If the window is outside `buf`.
    #[inline(always)]
    pub fn new(buf: &'a mut [u8], off: usize, len: usize) -> Self {
        assert!(off + len <= buf.len(), "packet window outside its buffer");
        PacketBuf { buf, off, len }
    }

    /// An empty packet with no buffer (a placeholder in burst arrays).
    #[inline(always)]
    pub fn empty() -> Self {
        PacketBuf { buf: Default::default(), off: 0, len: 0 }
    }

    /// The packet.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }

    /// The packet, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }

    /// Offset of the packet in the buffer.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.off
    }

    /// Packet length.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the packet is empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole buffer, for writes at absolute offsets.
    #[inline(always)]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    /// Bytes after the packet.
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.off - self.len
    }

    /// Moves the window to `off .. off + len` of the buffer.
    ///
    /// # Panics
    /// If the window is outside the buffer.
    #[inline(always)]
    pub fn set_window(&mut self, off: usize, len: usize) {
        assert!(off + len <= self.buf.len(), "packet window outside its buffer");
        self.off = off;
        self.len = len;
    }
}
