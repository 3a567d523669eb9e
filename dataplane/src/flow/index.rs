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
//! A slot's array is allocated the first time a flow of its address is
//! added (a new relay address is rare: it comes with an interface) and kept
//! while the worker runs. Beyond [`MAX_ADDRESSES`] addresses, keys of further
//! addresses go to a [`HashedIndex`], made when first needed.

use super::hashed::HashedIndex;
use super::FlowKey;

const EMPTY: u32 = u32::MAX;
const NO_SLOT: u16 = u16::MAX;

/// (port, address) pairs with a direct slot, at most; 256 KiB each, made
/// when first used. A million sessions take about 32 addresses a leg.
pub const MAX_ADDRESSES: usize = 256;
/// Buckets of the address map: a power of two, at least twice [`MAX_ADDRESSES`].
const ADDR_BUCKETS: usize = 512;
const _: () = assert!(ADDR_BUCKETS.is_power_of_two() && ADDR_BUCKETS >= 2 * MAX_ADDRESSES);

/// Flow ids of one address, by UDP port.
type PortArray = Box<[u32; 1 << 16]>;

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
        FlowIndex { addrs: Box::new([empty; ADDR_BUCKETS]), slots: Vec::new(), overflow: None, max, direct, len: 0 }
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

    /// The direct slot of `key`'s address, made if there is room.
    fn slot_or_new(&mut self, key: &FlowKey) -> Option<u16> {
        let (port_id, addr) = (key.port_id(), key.addr_bits());
        if let Some(s) = self.slot(port_id, addr) {
            return Some(s);
        }
        if self.slots.len() >= self.direct {
            return None;
        }
        let slot = self.slots.len() as u16;
        let ids: PortArray = vec![EMPTY; 1 << 16].into_boxed_slice().try_into().expect("65,536 ids");
        self.slots.push(ids);
        let mut i = bucket_of(port_id, addr);
        while self.addrs[i].slot != NO_SLOT {
            i = (i + 1) & (ADDR_BUCKETS - 1);
        }
        self.addrs[i] = AddrBucket { addr, port_id, slot };
        Some(slot)
    }

    /// Sets `key` to `value`; returns the previous value. The caller keeps
    /// the index within the capacity it was made for.
    pub fn insert(&mut self, key: FlowKey, value: u32) -> Option<u32> {
        debug_assert!(value != EMPTY);
        let old = match self.slot_or_new(&key) {
            Some(s) => {
                let old = core::mem::replace(&mut self.slots[s as usize][key.udp_port() as usize], value);
                (old != EMPTY).then_some(old)
            }
            None => self.overflow.get_or_insert_with(|| HashedIndex::with_capacity(self.max)).insert(key, value),
        };
        if old.is_none() {
            self.len += 1;
        }
        old
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

    #[test]
    fn insert_get_remove() {
        let mut ix = FlowIndex::with_capacity(100);
        for n in 0..100 {
            assert_eq!(ix.insert(key(n, 4), n), None);
        }
        assert_eq!(ix.insert(key(7, 4), 700), Some(7));
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
            assert_eq!(ix.insert(k(a, 7), a), None);
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
                    prop_assert_eq!(ix.insert(key(k, addrs), v), model.insert(key(k, addrs), v));
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
