//! The hashed key -> flow id index, for keys whose address has no direct
//! slot ([`super::index`]): open addressing with linear probing and
//! backward-shift deletion over 24-byte slots, at most half full. Small
//! slots keep a 100k-flow index within a few MiB, and the slot a key starts
//! from is known from its hash alone, so lookups can be prefetched.

use super::FlowKey;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: FlowKey,
    value: u32,
}

/// Maps flow keys to flow ids.
#[derive(Clone)]
pub struct HashedIndex {
    slots: Box<[Slot]>,
    mask: usize,
    len: usize,
}

impl HashedIndex {
    /// An index for up to `max` keys (twice as many slots, a power of two).
    pub fn with_capacity(max: usize) -> Self {
        let n = (max.max(8) * 2).next_power_of_two();
        let empty = Slot { key: FlowKey::v4(0, core::net::Ipv4Addr::UNSPECIFIED, 0), value: EMPTY };
        HashedIndex { slots: vec![empty; n].into_boxed_slice(), mask: n - 1, len: 0 }
    }

    /// Bytes of memory the index holds.
    pub fn memory(&self) -> usize {
        self.slots.len() * core::mem::size_of::<Slot>()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No keys held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn home(&self, key: &FlowKey) -> usize {
        key.hash64() as usize & self.mask
    }

    /// Starts loading the slot where the search for `key` begins.
    #[inline(always)]
    pub fn prefetch(&self, key: &FlowKey) {
        crate::prefetch::prefetch(&self.slots[self.home(key)]);
    }

    /// The value of `key`.
    #[inline(always)]
    pub fn get(&self, key: &FlowKey) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.value == EMPTY {
                return None;
            }
            if s.key == *key {
                return Some(s.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Sets `key` to `value`; returns the previous value. The caller keeps
    /// the index at most half full (the capacity it was made for).
    pub fn insert(&mut self, key: FlowKey, value: u32) -> Option<u32> {
        debug_assert!(value != EMPTY);
        let mut i = self.home(&key);
        loop {
            let s = &mut self.slots[i];
            if s.value == EMPTY {
                *s = Slot { key, value };
                self.len += 1;
                return None;
            }
            if s.key == key {
                return Some(std::mem::replace(&mut s.value, value));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &FlowKey) -> Option<u32> {
        let mut hole = self.home(key);
        loop {
            let s = &self.slots[hole];
            if s.value == EMPTY {
                return None;
            }
            if s.key == *key {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let value = self.slots[hole].value;
        // Backward shift: pull later members of the run into the hole when
        // their home is at or before it (cyclically), so no tombstones.
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            if self.slots[j].value == EMPTY {
                break;
            }
            let home = self.home(&self.slots[j].key);
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            let dist_j = j.wrapping_sub(home) & self.mask;
            if dist_hole < dist_j {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole].value = EMPTY;
        self.len -= 1;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(n: u32) -> FlowKey {
        FlowKey::v4((n % 3) as u16, core::net::Ipv4Addr::from(0xc612_0000 | (n >> 8)), (n & 0xff) as u16 * 2)
    }

    #[test]
    fn insert_get_remove() {
        let mut ix = HashedIndex::with_capacity(100);
        for n in 0..100 {
            assert_eq!(ix.insert(key(n), n), None);
        }
        assert_eq!(ix.insert(key(7), 700), Some(7));
        assert_eq!(ix.len(), 100);
        for n in 0..100 {
            assert_eq!(ix.get(&key(n)), Some(if n == 7 { 700 } else { n }));
        }
        for n in (0..100).step_by(2) {
            assert!(ix.remove(&key(n)).is_some());
        }
        assert_eq!(ix.remove(&key(0)), None);
        for n in 0..100 {
            assert_eq!(ix.get(&key(n)).is_some(), n % 2 == 1, "{n}");
        }
        assert_eq!(ix.get(&key(1000)), None);
    }

    proptest! {
        /// Any sequence of inserts and removes agrees with a HashMap.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..200, any::<u32>()), 0..600)) {
            let mut ix = HashedIndex::with_capacity(200);
            let mut model = HashMap::new();
            for (insert, k, v) in ops {
                let v = v % 1_000_000;
                if insert {
                    prop_assert_eq!(ix.insert(key(k), v), model.insert(k, v));
                } else {
                    prop_assert_eq!(ix.remove(&key(k)), model.remove(&k));
                }
                prop_assert_eq!(ix.len(), model.len());
            }
            for k in 0..200 {
                prop_assert_eq!(ix.get(&key(k)), model.get(&k).copied());
            }
        }
    }
}
