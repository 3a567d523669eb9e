//! The key -> flow id index of a worker's flow table, direct.
//!
//! Every key is one of the relay's own (port, address, UDP port) triples:
//! the control side allocates the ports it receives on. So the index needs
//! no hashing of the port and no probing: each (DPDK port, local address)
//! pair gets a slot, found in a small open-addressed map of the relay's
//! addresses (a few cache lines, always hot), and each slot is a flat array
//! of 65,536 flow ids, one per UDP port (256 KiB per address). A lookup is
//! one short probe of the address map and one load of a `u32`.
//!
//! A slot's array is made on the control side when a flow of a new address
//! is added (a new relay address is rare: it comes with an interface), by
//! an [`IndexPlan`] that mirrors the workers' indexes, and sent to every
//! worker in a [`super::Command::IndexMemory`] ahead of the flow, as SRTP
//! contexts are: a worker never allocates. It is kept while the worker runs.
//! Beyond [`MAX_ADDRESSES`] addresses, keys of further addresses go to a
//! [`HashedIndex`], sent the same way when first needed.

use std::collections::HashSet;

use super::hashed::HashedIndex;
use super::FlowKey;
use crate::memory::{Place, PlaceError, Slab};

const EMPTY: u32 = u32::MAX;
const NO_SLOT: u16 = u16::MAX;

/// (port, address) pairs with a direct slot, at most; 256 KiB each, made
/// when first used. A million sessions take about 32 addresses a leg.
pub const MAX_ADDRESSES: usize = 256;
/// Buckets of the address map: a power of two, at least twice [`MAX_ADDRESSES`].
const ADDR_BUCKETS: usize = 512;
const _: () = assert!(ADDR_BUCKETS.is_power_of_two() && ADDR_BUCKETS >= 2 * MAX_ADDRESSES);

/// Flow ids of one address, by UDP port: 65,536 of them.
type PortArray = Slab<u32>;

/// Memory a worker's index needs for a new address, made on the control
/// side ([`IndexPlan`]) and moved into the index ([`FlowIndex::install`]).
#[derive(Clone)]
pub enum IndexMemory {
    /// The flow-id array of a new direct slot: (DPDK port, local address).
    Direct {
        /// The DPDK port.
        port_id: u16,
        /// The local address, as [`FlowKey::addr_bits`].
        addr: u128,
        /// 65,536 empty flow ids.
        ids: PortArray,
    },
    /// The hashed index for the addresses beyond the direct slots.
    Overflow(HashedIndex),
}

impl IndexMemory {
    fn direct(port_id: u16, addr: u128) -> Self {
        IndexMemory::Direct { port_id, addr, ids: Slab::heap(1 << 16, |_| EMPTY) }
    }

    /// The same memory made again in `place` (for a worker whose tables
    /// are in DPDK memory); the hashed overflow index stays on the heap.
    pub fn remade_in(&self, place: Place) -> Result<Self, PlaceError> {
        Ok(match self {
            IndexMemory::Direct { port_id, addr, .. } => {
                IndexMemory::Direct { port_id: *port_id, addr: *addr, ids: Slab::new_in(place, 1 << 16, |_| EMPTY)? }
            }
            IndexMemory::Overflow(h) => IndexMemory::Overflow(h.clone()),
        })
    }
}

impl core::fmt::Debug for IndexMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IndexMemory::Direct { port_id, addr, .. } => {
                f.debug_struct("Direct").field("port_id", port_id).field("addr", &format_args!("{addr:#x}")).finish()
            }
            IndexMemory::Overflow(h) => f.debug_struct("Overflow").field("bytes", &h.memory()).finish(),
        }
    }
}

/// Equal: for the same address, or both the overflow index of the same size.
impl PartialEq for IndexMemory {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (IndexMemory::Direct { port_id: p, addr: a, .. }, IndexMemory::Direct { port_id: q, addr: b, .. }) => {
                p == q && a == b
            }
            (IndexMemory::Overflow(a), IndexMemory::Overflow(b)) => a.memory() == b.memory(),
            _ => false,
        }
    }
}

impl Eq for IndexMemory {}

/// The control side's mirror of the workers' indexes: every worker applies
/// the same commands, so their direct slots are the same. Says which
/// [`IndexMemory`] a key needs before its flow can be added.
#[derive(Debug)]
pub struct IndexPlan {
    addrs: HashSet<(u16, u128)>,
    overflow: bool,
    max: usize,
    direct: usize,
}

impl IndexPlan {
    /// The mirror of [`FlowIndex::with_direct_addresses`]`(max, direct)`.
    pub fn new(max: usize, direct: usize) -> Self {
        IndexPlan { addrs: HashSet::new(), overflow: false, max, direct: direct.min(MAX_ADDRESSES) }
    }

    /// The memory the indexes need before `key` is inserted, the first time
    /// it is needed (to send to every worker ahead of the key's flow).
    pub fn memory_for(&mut self, key: &FlowKey) -> Option<IndexMemory> {
        let a = (key.port_id(), key.addr_bits());
        if self.addrs.contains(&a) || (self.overflow && self.addrs.len() >= self.direct) {
            return None;
        }
        if self.addrs.len() < self.direct {
            self.addrs.insert(a);
            return Some(IndexMemory::direct(a.0, a.1));
        }
        self.overflow = true;
        Some(IndexMemory::Overflow(HashedIndex::with_capacity(self.max)))
    }
}

/// A key has neither a direct slot nor the overflow index: the
/// [`IndexMemory`] it needs was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMemory;

#[derive(Clone, Copy)]
struct AddrBucket {
    addr: u128,
    port_id: u16,
    slot: u16,
}

/// Maps flow keys to flow ids.
pub struct FlowIndex {
    addrs: Box<[AddrBucket; ADDR_BUCKETS]>,
    slots: Vec<PortArray>,
    overflow: Option<HashedIndex>,
    /// Capacity of the overflow index, when made.
    max: usize,
    /// Addresses that get a direct slot.
    direct: usize,
    len: usize,
}

/// Where the flow id of a (port, address) pair lives.
#[inline(always)]
fn bucket_of(port_id: u16, addr: u128) -> usize {
    let x = (addr as u64) ^ ((addr >> 64) as u64).rotate_left(29) ^ ((port_id as u64) << 48);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - ADDR_BUCKETS.trailing_zeros())) as usize
}

impl FlowIndex {
    /// An index for up to `max` keys.
    pub fn with_capacity(max: usize) -> Self {
        Self::with_direct_addresses(max, MAX_ADDRESSES)
    }

    /// An index for up to `max` keys whose first `direct` addresses (at most
    /// [`MAX_ADDRESSES`]) get a direct slot; 0: every key is hashed.
    pub fn with_direct_addresses(max: usize, direct: usize) -> Self {
        let empty = AddrBucket { addr: 0, port_id: 0, slot: NO_SLOT };
        let direct = direct.min(MAX_ADDRESSES);
        FlowIndex {
            addrs: Box::new([empty; ADDR_BUCKETS]),
            // Room for every slot: installing one never reallocates.
            slots: Vec::with_capacity(direct),
            overflow: None,
            max,
            direct,
            len: 0,
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No keys held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the index holds.
    pub fn memory(&self) -> usize {
        core::mem::size_of::<[AddrBucket; ADDR_BUCKETS]>()
            + self.slots.len() * core::mem::size_of::<[u32; 1 << 16]>()
            + self.overflow.as_ref().map_or(0, HashedIndex::memory)
    }

    /// The direct slot of local address `addr` (IPv4-mapped for IPv4, as
    /// [`FlowKey::addr_bits`]) on DPDK port `port_id`.
    #[inline(always)]
    pub fn slot(&self, port_id: u16, addr: u128) -> Option<u16> {
        let mut i = bucket_of(port_id, addr);
        loop {
            let b = &self.addrs[i];
            if b.slot == NO_SLOT {
                return None;
            }
            if b.addr == addr && b.port_id == port_id {
                return Some(b.slot);
            }
            i = (i + 1) & (ADDR_BUCKETS - 1);
        }
    }

    /// The flow id at UDP port `udp_port` of direct slot `slot`.
    #[inline(always)]
    pub fn at(&self, slot: u16, udp_port: u16) -> Option<u32> {
        let id = self.slots[slot as usize][udp_port as usize];
        (id != EMPTY).then_some(id)
    }

    /// Starts loading the flow id at UDP port `udp_port` of direct slot `slot`.
    #[inline(always)]
    pub fn prefetch_at(&self, slot: u16, udp_port: u16) {
        crate::prefetch::prefetch(&self.slots[slot as usize][udp_port as usize]);
    }

    /// Starts loading where the lookup of `key` ends.
    #[inline(always)]
    pub fn prefetch(&self, key: &FlowKey) {
        match self.slot(key.port_id(), key.addr_bits()) {
            Some(s) => self.prefetch_at(s, key.udp_port()),
            None => {
                if let Some(o) = &self.overflow {
                    o.prefetch(key)
                }
            }
        }
    }

    /// The value of `key`.
    #[inline(always)]
    pub fn get(&self, key: &FlowKey) -> Option<u32> {
        match self.slot(key.port_id(), key.addr_bits()) {
            Some(s) => self.at(s, key.udp_port()),
            None => self.overflow.as_ref()?.get(key),
        }
    }

    /// The memory `key` needs that this index lacks, made here: for
    /// indexes off the worker cores (tests, tools), which have no [`IndexPlan`].
    pub fn memory_for(&self, key: &FlowKey) -> Option<IndexMemory> {
        let (port_id, addr) = (key.port_id(), key.addr_bits());
        if self.slot(port_id, addr).is_some() {
            return None;
        }
        if self.slots.len() < self.direct {
            return Some(IndexMemory::direct(port_id, addr));
        }
        self.overflow.is_none().then(|| IndexMemory::Overflow(HashedIndex::with_capacity(self.max)))
    }

    /// Takes memory made for this index (by an [`IndexPlan`] that saw the
    /// same keys, or by [`FlowIndex::memory_for`]). Allocates nothing; memory
    /// the index already has is handed back, to be freed elsewhere.
    pub fn install(&mut self, mem: IndexMemory) -> Option<IndexMemory> {
        match mem {
            IndexMemory::Direct { port_id, addr, ids } => {
                if self.slots.len() >= self.direct || self.slot(port_id, addr).is_some() {
                    return Some(IndexMemory::Direct { port_id, addr, ids });
                }
                let slot = self.slots.len() as u16;
                self.slots.push(ids);
                let mut i = bucket_of(port_id, addr);
                while self.addrs[i].slot != NO_SLOT {
                    i = (i + 1) & (ADDR_BUCKETS - 1);
                }
                self.addrs[i] = AddrBucket { addr, port_id, slot };
                None
            }
            IndexMemory::Overflow(h) => match self.overflow {
                Some(_) => Some(IndexMemory::Overflow(h)),
                None => {
                    self.overflow = Some(h);
                    None
                }
            },
        }
    }

    /// Whether `key` can be inserted: its address has a direct slot, or the
    /// overflow index is there.
    pub fn has_memory_for(&self, key: &FlowKey) -> bool {
        self.overflow.is_some() || self.slot(key.port_id(), key.addr_bits()).is_some()
    }

    /// Sets `key` to `value`; returns the previous value. The caller keeps
    /// the index within the capacity it was made for. Allocates nothing:
    /// [`NoMemory`] when the memory the key needs was not installed.
    pub fn insert(&mut self, key: FlowKey, value: u32) -> Result<Option<u32>, NoMemory> {
        debug_assert!(value != EMPTY);
        let old = match self.slot(key.port_id(), key.addr_bits()) {
            Some(s) => {
                let old = core::mem::replace(&mut self.slots[s as usize][key.udp_port() as usize], value);
                (old != EMPTY).then_some(old)
            }
            None => self.overflow.as_mut().ok_or(NoMemory)?.insert(key, value),
        };
        if old.is_none() {
            self.len += 1;
        }
        Ok(old)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &FlowKey) -> Option<u32> {
        let old = match self.slot(key.port_id(), key.addr_bits()) {
            Some(s) => {
                let old = core::mem::replace(&mut self.slots[s as usize][key.udp_port() as usize], EMPTY);
                (old != EMPTY).then_some(old)
            }
            None => self.overflow.as_mut()?.remove(key),
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Keys over `addrs` addresses (half IPv4, half IPv6) on three ports.
    fn key(n: u32, addrs: u32) -> FlowKey {
        let a = (n >> 8) % addrs;
        let port = (n % 3) as u16;
        let udp = (n & 0xff) as u16 * 2;
        if a.is_multiple_of(2) {
            FlowKey::v4(port, Ipv4Addr::from(0xc612_0000 | a), udp)
        } else {
            FlowKey::v6(port, Ipv6Addr::from(0x2001_0db8_u128 << 96 | a as u128), udp)
        }
    }

    /// Inserts `key`, with the memory it needs made first (off a worker core).
    fn put(ix: &mut FlowIndex, key: FlowKey, v: u32) -> Option<u32> {
        if let Some(mem) = ix.memory_for(&key) {
            assert!(ix.install(mem).is_none());
        }
        ix.insert(key, v).expect("memory installed")
    }

    #[test]
    fn insert_needs_the_memory_made_for_it() {
        let mut ix = FlowIndex::with_direct_addresses(1000, 2);
        let mut plan = IndexPlan::new(1000, 2);
        let k = |a: u32, udp: u16| FlowKey::v4(0, Ipv4Addr::from(0xc612_0000 | a), udp);
        assert_eq!(ix.insert(k(0, 7), 1), Err(NoMemory));
        for a in 0..4 {
            let mem = plan.memory_for(&k(a, 7));
            assert_eq!(mem, ix.memory_for(&k(a, 7)), "the plan mirrors the index");
            match a {
                0 | 1 => assert!(matches!(mem, Some(IndexMemory::Direct { .. }))),
                2 => assert!(matches!(mem, Some(IndexMemory::Overflow(_)))),
                _ => assert!(mem.is_none()),
            }
            if let Some(mem) = mem {
                assert!(ix.install(mem).is_none());
            }
            assert!(plan.memory_for(&k(a, 9)).is_none(), "made once per address");
            assert_eq!(ix.insert(k(a, 7), a), Ok(None));
        }
        assert!(ix.overflow.is_some());
        assert!(ix.install(IndexMemory::direct(0, 1)).is_some(), "no slot left: handed back");
        for a in 0..4 {
            assert_eq!(ix.get(&k(a, 7)), Some(a));
        }
    }

    #[test]
    fn insert_get_remove() {
        let mut ix = FlowIndex::with_capacity(100);
        for n in 0..100 {
            assert_eq!(put(&mut ix, key(n, 4), n), None);
        }
        assert_eq!(put(&mut ix, key(7, 4), 700), Some(7));
        assert_eq!(ix.len(), 100);
        for n in 0..100 {
            assert_eq!(ix.get(&key(n, 4)), Some(if n == 7 { 700 } else { n }));
        }
        for n in (0..100).step_by(2) {
            assert!(ix.remove(&key(n, 4)).is_some());
        }
        assert_eq!(ix.remove(&key(0, 4)), None);
        for n in 0..100 {
            assert_eq!(ix.get(&key(n, 4)).is_some(), n % 2 == 1, "{n}");
        }
        assert_eq!(ix.get(&key(1000, 4)), None);
    }

    #[test]
    fn addresses_beyond_the_direct_slots_use_the_hashed_index() {
        let mut ix = FlowIndex::with_capacity(1000);
        let k = |a: u32, udp: u16| FlowKey::v4(0, Ipv4Addr::from(0xc612_0000 | a), udp);
        for a in 0..(MAX_ADDRESSES as u32 + 10) {
            assert_eq!(put(&mut ix, k(a, 7), a), None);
        }
        assert!(ix.overflow.is_some());
        for a in 0..(MAX_ADDRESSES as u32 + 10) {
            assert_eq!(ix.get(&k(a, 7)), Some(a));
            assert_eq!(ix.get(&k(a, 9)), None);
        }
        assert_eq!(ix.remove(&k(MAX_ADDRESSES as u32 + 3, 7)), Some(MAX_ADDRESSES as u32 + 3));
        assert_eq!(ix.get(&k(MAX_ADDRESSES as u32 + 3, 7)), None);
        assert_eq!(ix.len(), MAX_ADDRESSES + 9);
    }

    proptest! {
        /// Any sequence of inserts and removes agrees with a HashMap, with
        /// few addresses (all direct) and with more than the direct slots.
        #[test]
        fn behaves_like_a_map(
            addrs in prop_oneof![Just(3u32), Just(MAX_ADDRESSES as u32 + 20)],
            ops in proptest::collection::vec((any::<bool>(), 0u32..40_000, any::<u32>()), 0..600),
        ) {
            let mut ix = FlowIndex::with_capacity(40_000);
            let mut model = HashMap::new();
            for (insert, k, v) in ops {
                let v = v % 1_000_000;
                if insert {
                    prop_assert_eq!(put(&mut ix, key(k, addrs), v), model.insert(key(k, addrs), v));
                } else {
                    prop_assert_eq!(ix.remove(&key(k, addrs)), model.remove(&key(k, addrs)));
                }
                prop_assert_eq!(ix.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(ix.get(k), Some(*v));
            }
        }
    }
}
