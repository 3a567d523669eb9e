//! The neighbor table: the MAC address of each next hop, resolved with ARP
//! (RFC 826) and Neighbor Discovery (RFC 4861 §7.2), kept fresh by probes.
//!
//! Each entry owns a stable next-hop id, the index workers look MACs up by
//! ([`Command::SetNeighbor`]). Every change of an entry's MAC (resolved,
//! changed, lost) queues a `SetNeighbor` for the workers. Ids come from a
//! pool of `max_entries` and return to it only when their entry is removed,
//! oldest-freed first, so an id is not reused while a flow may still point
//! at it.
//!
//! ```text
//!  state        event                                     next
//!  -----------  ----------------------------------------  -------------------------------------------
//!  (none)       next_hop()                                INCOMPLETE: broadcast/multicast probe now
//!  INCOMPLETE   retrans_time passes, probes < max_probes  INCOMPLETE: probe again
//!  INCOMPLETE   max_probes unanswered                     FAILED
//!  no MAC       learn()                                   REACHABLE (SetNeighbor)
//!  MAC m        learn(m)                                  REACHABLE
//!  INCOMPLETE   learn(any)                                REACHABLE (SetNeighbor if it changed)
//!  REACH/STALE  learn(other than m)                       PROBE: unicast probes to m (MAC kept)
//!  REACHABLE    reachable_time passes                     STALE
//!  STALE        referenced                                PROBE: unicast probes to the known MAC
//!  STALE        unreferenced, reachable_time passes       removed (SetNeighbor None)
//!  PROBE        max_probes unanswered                     INCOMPLETE: broadcast probes, MAC kept in use
//!  INCOMPLETE   max_probes unanswered, had a MAC, refs    STALE, MAC kept; probed again after reachable_time
//!  INCOMPLETE   max_probes unanswered, had a MAC, no refs FAILED, MAC lost (SetNeighbor None)
//!  FAILED       next_hop(), retry()                       INCOMPLETE
//!  FAILED       unreferenced                              removed
//! ```
//!
//! A next hop that calls use keeps its last MAC while its answers are
//! missing: a peer too busy (or too flooded) to answer ARP for a few
//! seconds still takes its media, and a peer that is really gone loses
//! nothing more by it than by a dropped packet.
//!
//! Time is passed in, so the state machine runs in tests without a clock.

use core::net::IpAddr;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::flow::Command;
use crate::wire::ethernet::MacAddr;

/// Timers and size of a [`NeighborTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    /// Entries, and next-hop ids `0..max_entries`; at most the workers'
    /// `max_next_hops`.
    pub max_entries: u32,
    /// How long a confirmed MAC is trusted before it is probed again
    /// (RFC 4861 REACHABLE_TIME); also how long an unused entry is kept.
    pub reachable_time: Duration,
    /// Time between probes (RFC 4861 RETRANS_TIMER).
    pub retrans_time: Duration,
    /// Unanswered probes before an entry fails (RFC 4861
    /// MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT).
    pub max_probes: u8,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        NeighborConfig {
            max_entries: 1024,
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            max_probes: 3,
        }
    }
}

/// Where an entry stands (RFC 4861 §7.3.2, without DELAY: mediafwd does
/// not see the traffic it would wait for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// Being resolved: broadcast/multicast probes sent, no MAC yet.
    Incomplete,
    /// MAC confirmed less than `reachable_time` ago.
    Reachable,
    /// MAC not confirmed lately; still used. Referenced entries move on to
    /// [`NeighborState::Probe`], unreferenced ones are removed in time.
    Stale,
    /// Refreshing: unicast probes to the known MAC, which is still used.
    Probe,
    /// Probes went unanswered; no MAC. Retried on demand.
    Failed,
}

/// A probe the table wants sent: an ARP request for IPv4, a Neighbor
/// Solicitation for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probe {
    /// The entry's next-hop id.
    pub id: u32,
    /// Interface index to send on.
    pub iface: usize,
    /// The address to resolve.
    pub ip: IpAddr,
    /// Unicast to this MAC (refresh); `None`: broadcast, or multicast to
    /// the solicited-node group (resolution).
    pub unicast: Option<MacAddr>,
}

/// One entry, as [`NeighborTable::entries`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborInfo {
    /// Next-hop id.
    pub id: u32,
    /// Interface index.
    pub iface: usize,
    /// The neighbor's address.
    pub ip: IpAddr,
    /// State.
    pub state: NeighborState,
    /// MAC, when known.
    pub mac: Option<MacAddr>,
    /// Holders of the id ([`NeighborTable::next_hop`] minus [`NeighborTable::release`]).
    pub refs: u32,
    /// Time since the state last changed or the MAC was last confirmed.
    pub age: Duration,
    /// Probes sent in the current resolution or refresh.
    pub probes: u8,
}

/// Every next-hop id is held by an entry that is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the neighbor table is full ({0} next hops in use); release unused next hops or raise max_next_hops")]
pub struct Full(pub u32);

/// What [`NeighborTable::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The entry's MAC was set (it had none).
    Changed(u32),
    /// The entry's MAC was confirmed as it was.
    Confirmed(u32),
    /// The frame gave the entry another MAC than the one it has: not
    /// taken; the entry is probed at its MAC.
    Disputed(u32),
    /// Nothing: no entry for the address, or the MAC is not a station's.
    Ignored,
}

#[derive(Debug, Clone)]
struct Entry {
    iface: usize,
    ip: IpAddr,
    state: NeighborState,
    mac: Option<MacAddr>,
    refs: u32,
    since: Instant,
    probes: u8,
    next_probe: Instant,
}

/// Neighbors of every interface, keyed by (interface index, address).
#[derive(Debug)]
pub struct NeighborTable {
    config: NeighborConfig,
    slots: Vec<Option<Entry>>,
    index: HashMap<(usize, IpAddr), u32>,
    free: VecDeque<u32>,
    pending: Vec<Command>,
    wakeup: Option<Instant>,
}

impl NeighborTable {
    /// An empty table.
    pub fn new(config: NeighborConfig) -> Self {
        let n = config.max_entries;
        NeighborTable {
            slots: (0..n).map(|_| None).collect(),
            index: HashMap::with_capacity(n as usize),
            free: (0..n).collect(),
            pending: Vec::new(),
            wakeup: None,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NeighborConfig {
        &self.config
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The id of the entry for `ip` on interface `iface`.
    pub fn lookup(&self, iface: usize, ip: IpAddr) -> Option<u32> {
        self.index.get(&(iface, ip)).copied()
    }

    /// The next-hop id for `ip` on interface `iface`, creating the entry
    /// (and starting its resolution) when there is none, or restarting the
    /// resolution of a failed one. Each call holds a reference until
    /// [`NeighborTable::release`]. When every id is taken, the oldest
    /// unreferenced entry makes room.
    pub fn next_hop(&mut self, iface: usize, ip: IpAddr, now: Instant) -> Result<u32, Full> {
        if let Some(id) = self.lookup(iface, ip) {
            let e = self.slots[id as usize].as_mut().expect("indexed entry");
            e.refs += 1;
            if e.state == NeighborState::Failed {
                restart(e, now);
            }
            let at = deadline(e, &self.config);
            self.wake(at);
            return Ok(id);
        }
        let id = match self.free.pop_front() {
            Some(id) => id,
            None => self.evict().ok_or(Full(self.config.max_entries))?,
        };
        let e = Entry {
            iface,
            ip,
            state: NeighborState::Incomplete,
            mac: None,
            refs: 1,
            since: now,
            probes: 0,
            next_probe: now,
        };
        self.slots[id as usize] = Some(e);
        self.index.insert((iface, ip), id);
        self.wake(Some(now));
        Ok(id)
    }

    /// Drops one reference to next hop `id`; false when it holds none.
    /// An unreferenced entry stays as a cache until it ages out.
    pub fn release(&mut self, id: u32) -> bool {
        let Some(e) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if e.refs == 0 {
            return false;
        }
        e.refs -= 1;
        let at = deadline(e, &self.config);
        self.wake(at);
        true
    }

    /// Restarts the resolution of next hop `id` if it failed (a worker
    /// reported it missing); false otherwise.
    pub fn retry(&mut self, id: u32, now: Instant) -> bool {
        let Some(e) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if e.state != NeighborState::Failed {
            return false;
        }
        restart(e, now);
        self.wake(Some(now));
        true
    }

    /// Resolves every entry without a MAC (INCOMPLETE or FAILED) again from
    /// its first probe, now: a node whose probes could not go out (a
    /// standby, fenced) that starts transmitting. Returns how many.
    pub fn restart_unresolved(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for e in self.slots.iter_mut().flatten() {
            if matches!(e.state, NeighborState::Incomplete | NeighborState::Failed) {
                restart(e, now);
                n += 1;
            }
        }
        if n > 0 {
            self.wake(Some(now));
        }
        n
    }

    /// Records that `ip` on interface `iface` is at `mac`, from an ARP
    /// packet or a Neighbor Discovery message carrying a link-layer
    /// address. Only what the table resolves is learned: a frame never
    /// creates an entry, so a flood of spoofed requests neither fills the
    /// table nor sends the workers a `SetNeighbor` per spoofed sender. An
    /// entry without a MAC (INCOMPLETE, FAILED) takes it; an entry whose
    /// MAC the frame repeats is confirmed reachable. An entry with another
    /// MAC keeps it ([`Learned::Disputed`]): a live next hop is not moved
    /// by an unsolicited ARP or NA; a reachable or stale one is probed at
    /// the MAC it has (PROBE), and if that MAC no longer answers, the entry
    /// is resolved anew by broadcast (INCOMPLETE, keeping its MAC in use
    /// until an answer names one).
    pub fn learn(&mut self, iface: usize, ip: IpAddr, mac: MacAddr, now: Instant) -> Learned {
        if !mac.is_unicast() || mac == MacAddr::default() {
            return Learned::Ignored;
        }
        let Some(id) = self.lookup(iface, ip) else {
            return Learned::Ignored;
        };
        let e = self.slots[id as usize].as_mut().expect("indexed entry");
        if e.state != NeighborState::Incomplete && e.mac.is_some_and(|known| known != mac) {
            if matches!(e.state, NeighborState::Reachable | NeighborState::Stale) {
                e.state = NeighborState::Probe;
                e.probes = 0;
                e.next_probe = now;
                self.wake(Some(now));
            }
            return Learned::Disputed(id);
        }
        let changed = set_mac(&mut self.pending, id, e, Some(mac));
        e.state = NeighborState::Reachable;
        e.since = now;
        e.probes = 0;
        let at = deadline(e, &self.config);
        self.wake(at);
        if changed {
            Learned::Changed(id)
        } else {
            Learned::Confirmed(id)
        }
    }

    /// Runs the timers: returns the probes to send now, moves entries
    /// between states, removes expired unreferenced ones. Cheap when no
    /// timer is due.
    pub fn poll(&mut self, now: Instant) -> Vec<Probe> {
        let mut probes = Vec::new();
        match self.wakeup {
            Some(at) if now >= at => {}
            _ => return probes,
        }
        let mut next: Option<Instant> = None;
        for id in 0..self.slots.len() {
            let Some(e) = self.slots[id].as_mut() else {
                continue;
            };
            if step(e, id as u32, now, &self.config, &mut probes, &mut self.pending) {
                next = earliest(next, deadline(e, &self.config));
            } else {
                self.remove_id(id as u32);
            }
        }
        self.wakeup = next;
        probes
    }

    /// Removes the entry for `ip` on `iface` if nothing references it;
    /// false otherwise. Its id returns to the pool.
    pub fn remove(&mut self, iface: usize, ip: IpAddr) -> bool {
        match self.lookup(iface, ip) {
            Some(id) if self.slots[id as usize].as_ref().is_some_and(|e| e.refs == 0) => {
                self.remove_id(id);
                true
            }
            _ => false,
        }
    }

    /// Moves the pending `SetNeighbor` commands to `out`, oldest first.
    pub fn drain_commands(&mut self, out: &mut Vec<Command>) {
        out.append(&mut self.pending);
    }

    /// Every entry, for statistics and metrics.
    pub fn entries(&self, now: Instant) -> impl Iterator<Item = NeighborInfo> + '_ {
        self.slots.iter().enumerate().filter_map(move |(id, e)| e.as_ref().map(|e| info(id as u32, e, now)))
    }

    /// The entry of next hop `id`.
    pub fn get(&self, id: u32, now: Instant) -> Option<NeighborInfo> {
        self.slots.get(id as usize)?.as_ref().map(|e| info(id, e, now))
    }

    fn remove_id(&mut self, id: u32) {
        if let Some(e) = self.slots[id as usize].take() {
            self.index.remove(&(e.iface, e.ip));
            self.free.push_back(id);
            if e.mac.is_some() {
                self.pending.push(Command::SetNeighbor { id, mac: None });
            }
        }
    }

    /// Removes the unreferenced entry confirmed longest ago; its id.
    fn evict(&mut self) -> Option<u32> {
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(id, e)| e.as_ref().filter(|e| e.refs == 0).map(|e| (e.since, id as u32)))
            .min()?
            .1;
        self.remove_id(victim);
        self.free.pop_back()
    }

    fn wake(&mut self, at: Option<Instant>) {
        self.wakeup = earliest(self.wakeup, at);
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn info(id: u32, e: &Entry, now: Instant) -> NeighborInfo {
    NeighborInfo {
        id,
        iface: e.iface,
        ip: e.ip,
        state: e.state,
        mac: e.mac,
        refs: e.refs,
        age: now.saturating_duration_since(e.since),
        probes: e.probes,
    }
}

fn restart(e: &mut Entry, now: Instant) {
    e.state = NeighborState::Incomplete;
    e.since = now;
    e.probes = 0;
    e.next_probe = now;
}

/// Sets the entry's MAC, queueing a `SetNeighbor` when it changes; whether it did.
fn set_mac(pending: &mut Vec<Command>, id: u32, e: &mut Entry, mac: Option<MacAddr>) -> bool {
    if e.mac == mac {
        return false;
    }
    e.mac = mac;
    pending.push(Command::SetNeighbor { id, mac });
    true
}

/// When the entry next needs attention.
fn deadline(e: &Entry, c: &NeighborConfig) -> Option<Instant> {
    match e.state {
        NeighborState::Incomplete | NeighborState::Probe => Some(e.next_probe),
        NeighborState::Reachable => Some(e.since + c.reachable_time),
        NeighborState::Stale if e.refs > 0 => Some(e.next_probe),
        NeighborState::Stale => Some(e.since + c.reachable_time),
        NeighborState::Failed if e.refs == 0 => Some(e.since),
        NeighborState::Failed => None,
    }
}

/// Advances one entry to `now`; false when it is to be removed.
fn step(
    e: &mut Entry,
    id: u32,
    now: Instant,
    c: &NeighborConfig,
    probes: &mut Vec<Probe>,
    pending: &mut Vec<Command>,
) -> bool {
    loop {
        match e.state {
            NeighborState::Incomplete | NeighborState::Probe => {
                if now < e.next_probe {
                    return true;
                }
                if e.probes < c.max_probes {
                    let unicast = if e.state == NeighborState::Probe { e.mac } else { None };
                    probes.push(Probe { id, iface: e.iface, ip: e.ip, unicast });
                    e.probes += 1;
                    e.next_probe = now + c.retrans_time;
                    return true;
                }
                if e.state == NeighborState::Probe {
                    // The known MAC does not answer: resolve anew, by
                    // broadcast, still forwarding to it meanwhile (answers
                    // lost to a flood must not pause a call).
                    restart(e, now);
                    continue;
                }
                if e.mac.is_some() && e.refs > 0 {
                    // Calls use it: keep forwarding to the MAC it had, and
                    // ask again later rather than every second.
                    e.state = NeighborState::Stale;
                    e.since = now;
                    e.next_probe = now + c.reachable_time;
                    return true;
                }
                set_mac(pending, id, e, None);
                e.state = NeighborState::Failed;
                e.since = now;
            }
            NeighborState::Reachable => {
                if now < e.since + c.reachable_time {
                    return true;
                }
                e.state = NeighborState::Stale;
                e.since = now;
                e.next_probe = now;
            }
            NeighborState::Stale if e.refs > 0 => {
                if now < e.next_probe {
                    return true;
                }
                e.state = NeighborState::Probe;
                e.probes = 0;
                e.next_probe = now;
            }
            NeighborState::Stale => return now < e.since + c.reachable_time,
            NeighborState::Failed => return e.refs > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GW: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
    const GW2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xfd]);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    fn commands(t: &mut NeighborTable) -> Vec<Command> {
        let mut out = Vec::new();
        t.drain_commands(&mut out);
        out
    }

    fn state(t: &NeighborTable, id: u32, now: Instant) -> NeighborState {
        t.get(id, now).unwrap().state
    }

    #[test]
    fn resolution_probes_then_reply_sets_neighbor() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let id = t.next_hop(0, ip("198.18.0.254"), t0).unwrap();
        assert_eq!(t.next_hop(0, ip("198.18.0.254"), t0), Ok(id), "same neighbor, same id");
        assert_eq!(t.get(id, t0).unwrap().refs, 2);
        let p = t.poll(t0);
        assert_eq!(p, vec![Probe { id, iface: 0, ip: ip("198.18.0.254"), unicast: None }]);
        assert!(t.poll(secs(t0, 0.5)).is_empty(), "retry waits retrans_time");
        assert_eq!(t.poll(secs(t0, 1.0)).len(), 1);
        assert_eq!(state(&t, id, t0), NeighborState::Incomplete);
        assert!(commands(&mut t).is_empty(), "nothing to tell workers while unresolved");
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW, secs(t0, 1.2)), Learned::Changed(id));
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: Some(GW) }]);
        assert_eq!(state(&t, id, secs(t0, 1.2)), NeighborState::Reachable);
        assert!(t.poll(secs(t0, 2.0)).is_empty(), "resolved: no more probes");
        // The same MAC again confirms without a command.
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW, secs(t0, 3.0)), Learned::Confirmed(id));
        assert!(commands(&mut t).is_empty());
    }

    #[test]
    fn three_unanswered_probes_fail_and_demand_retries() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let id = t.next_hop(0, ip("2001:db8::99"), t0).unwrap();
        let mut sent = 0;
        for ms in (0..=5000).step_by(100) {
            sent += t.poll(t0 + Duration::from_millis(ms)).len();
        }
        assert_eq!(sent, 3, "three probes, one per second");
        assert_eq!(state(&t, id, t0), NeighborState::Failed);
        assert!(commands(&mut t).is_empty(), "it never had a MAC");
        // Failed entries stay quiet until asked again.
        assert!(t.poll(secs(t0, 60.0)).is_empty());
        assert!(t.retry(id, secs(t0, 61.0)));
        assert!(!t.retry(id, secs(t0, 61.0)), "already resolving");
        assert_eq!(t.poll(secs(t0, 61.0)).len(), 1);
        for s in [62.0, 63.0, 64.0] {
            t.poll(secs(t0, s));
        }
        assert_eq!(state(&t, id, secs(t0, 64.0)), NeighborState::Failed);
        // next_hop on a failed entry restarts it as well.
        assert_eq!(t.next_hop(0, ip("2001:db8::99"), secs(t0, 70.0)), Ok(id));
        assert_eq!(state(&t, id, secs(t0, 70.0)), NeighborState::Incomplete);
        assert_eq!(t.poll(secs(t0, 70.0)).len(), 1);
    }

    #[test]
    fn unresolved_entries_are_probed_again_at_once_when_asked() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let failed = t.next_hop(0, ip("198.18.0.7"), t0).unwrap();
        for s in [0.0, 1.0, 2.0, 3.0] {
            t.poll(secs(t0, s));
        }
        let probing = t.next_hop(0, ip("198.18.0.8"), secs(t0, 3.5)).unwrap();
        t.poll(secs(t0, 3.5));
        let known = t.next_hop(0, ip("198.18.0.9"), secs(t0, 3.5)).unwrap();
        t.learn(0, ip("198.18.0.9"), GW, secs(t0, 3.6));
        assert_eq!(state(&t, failed, secs(t0, 3.6)), NeighborState::Failed);
        assert!(t.poll(secs(t0, 3.7)).is_empty(), "the next probe is a second after the last");
        assert_eq!(t.restart_unresolved(secs(t0, 3.7)), 2);
        let mut probed: Vec<u32> = t.poll(secs(t0, 3.7)).iter().map(|p| p.id).collect();
        probed.sort();
        assert_eq!(probed, vec![failed, probing]);
        assert_eq!(state(&t, known, secs(t0, 3.7)), NeighborState::Reachable);
    }

    /// A table with 198.18.0.254 asked for, answered by `GW` at `t0`, and
    /// the commands of that drained.
    fn gateway_learned(t0: Instant) -> (NeighborTable, u32) {
        let mut t = NeighborTable::new(NeighborConfig::default());
        let id = t.next_hop(0, ip("198.18.0.254"), t0).unwrap();
        t.poll(t0);
        t.learn(0, ip("198.18.0.254"), GW, t0);
        commands(&mut t);
        (t, id)
    }

    #[test]
    fn reachable_entry_is_refreshed_by_unicast_probe() {
        let t0 = Instant::now();
        let (mut t, id) = gateway_learned(t0);
        assert!(t.poll(secs(t0, 29.9)).is_empty());
        let p = t.poll(secs(t0, 30.0));
        assert_eq!(p, vec![Probe { id, iface: 0, ip: ip("198.18.0.254"), unicast: Some(GW) }]);
        assert_eq!(state(&t, id, secs(t0, 30.0)), NeighborState::Probe);
        assert!(commands(&mut t).is_empty(), "the MAC stays in use while refreshing");
        // The answer makes it reachable again for another 30 s.
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW, secs(t0, 30.5)), Learned::Confirmed(id));
        assert_eq!(state(&t, id, secs(t0, 30.5)), NeighborState::Reachable);
        assert!(t.poll(secs(t0, 60.0)).is_empty());
        assert_eq!(t.poll(secs(t0, 60.5)).len(), 1);
        // Unanswered this time: three unicast probes, then the MAC is lost.
        t.poll(secs(t0, 61.5));
        t.poll(secs(t0, 62.5));
        assert!(commands(&mut t).is_empty());
        // The neighbor is resolved anew, by broadcast, its MAC still in use.
        let p = t.poll(secs(t0, 63.5));
        assert_eq!(p, vec![Probe { id, iface: 0, ip: ip("198.18.0.254"), unicast: None }]);
        assert_eq!(state(&t, id, secs(t0, 63.5)), NeighborState::Incomplete);
        assert!(commands(&mut t).is_empty());
        // Whoever answers now is taken.
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW2, secs(t0, 64.0)), Learned::Changed(id));
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: Some(GW2) }]);
        // Nobody answers at all: while calls use it, the MAC stays in use
        // and the neighbor is asked again after reachable_time.
        for s in [94.5, 95.5, 96.5, 97.5, 98.5, 99.5, 100.5] {
            t.poll(secs(t0, s));
        }
        assert_eq!(state(&t, id, secs(t0, 100.5)), NeighborState::Stale);
        assert!(commands(&mut t).is_empty(), "the MAC stays in use");
        assert!(t.poll(secs(t0, 130.0)).is_empty());
        let p = t.poll(secs(t0, 130.5));
        assert_eq!(p, vec![Probe { id, iface: 0, ip: ip("198.18.0.254"), unicast: Some(GW2) }]);
        // An answer then makes it reachable again.
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW2, secs(t0, 131.0)), Learned::Confirmed(id));
        assert_eq!(state(&t, id, secs(t0, 131.0)), NeighborState::Reachable);
        // Once no call uses it, it ages out and its MAC goes with it.
        assert!(t.release(id));
        assert!(t.poll(secs(t0, 161.0)).is_empty());
        assert_eq!(state(&t, id, secs(t0, 161.0)), NeighborState::Stale);
        assert!(t.poll(secs(t0, 191.5)).is_empty());
        assert!(t.get(id, secs(t0, 191.5)).is_none());
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: None }]);
    }

    #[test]
    fn a_used_neighbor_that_stops_answering_keeps_its_mac() {
        let t0 = Instant::now();
        let (mut t, id) = gateway_learned(t0);
        // Six unanswered probes (three unicast, three broadcast), from 30 s on.
        let mut sent = 0;
        for i in 0..=40 {
            sent += t.poll(secs(t0, 30.0 + f64::from(i) * 0.5)).len();
        }
        assert_eq!(sent, 6);
        assert!(commands(&mut t).is_empty(), "no SetNeighbor None while a call uses it");
        assert_eq!(t.get(id, secs(t0, 50.0)).unwrap().mac, Some(GW));
        // A session released, a new one asks: the known MAC is still given.
        assert_eq!(t.next_hop(0, ip("198.18.0.254"), secs(t0, 50.0)), Ok(id));
        assert_eq!(t.get(id, secs(t0, 50.0)).unwrap().mac, Some(GW));
    }

    #[test]
    fn another_mac_is_confirmed_before_it_is_taken() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let id = t.next_hop(1, ip("198.18.0.254"), t0).unwrap();
        t.learn(1, ip("198.18.0.254"), GW, t0);
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: Some(GW) }]);
        // Spoofed ARP or NA naming another MAC: the entry keeps its MAC and
        // probes it, once however many frames come.
        for i in 0..1000 {
            assert_eq!(t.learn(1, ip("198.18.0.254"), GW2, secs(t0, 5.0 + i as f64 * 1e-4)), Learned::Disputed(id));
        }
        assert!(commands(&mut t).is_empty(), "the workers hear nothing of it");
        assert_eq!(state(&t, id, secs(t0, 5.1)), NeighborState::Probe);
        let p = t.poll(secs(t0, 5.1));
        assert_eq!(p, vec![Probe { id, iface: 1, ip: ip("198.18.0.254"), unicast: Some(GW) }]);
        // The neighbor answers from its MAC: nothing changed.
        assert_eq!(t.learn(1, ip("198.18.0.254"), GW, secs(t0, 5.2)), Learned::Confirmed(id));
        assert_eq!(state(&t, id, secs(t0, 5.2)), NeighborState::Reachable);
        assert!(commands(&mut t).is_empty());
        // A real move (VRRP failover): the old MAC stops answering, the
        // entry resolves anew and takes the new MAC.
        assert_eq!(t.learn(1, ip("198.18.0.254"), GW2, secs(t0, 10.0)), Learned::Disputed(id));
        for s in [10.0, 11.0, 12.0, 13.0] {
            t.poll(secs(t0, s));
        }
        assert_eq!(state(&t, id, secs(t0, 13.0)), NeighborState::Incomplete);
        assert!(commands(&mut t).is_empty(), "the old MAC stays in use meanwhile");
        assert_eq!(t.learn(1, ip("198.18.0.254"), GW2, secs(t0, 13.1)), Learned::Changed(id));
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: Some(GW2) }]);
        // Same address on another interface is another neighbor.
        assert_eq!(t.learn(0, ip("198.18.0.254"), GW, t0), Learned::Ignored);
        assert_eq!(t.lookup(0, ip("198.18.0.254")), None);
    }

    #[test]
    fn frames_never_create_entries() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        for i in 0..=255u8 {
            assert_eq!(t.learn(0, ip(&format!("198.18.0.{i}")), GW, t0), Learned::Ignored);
        }
        assert!(t.is_empty());
        assert!(commands(&mut t).is_empty());
        // Group and zero addresses are never learned, even for a tracked neighbor.
        t.next_hop(0, ip("198.18.0.8"), t0).unwrap();
        assert_eq!(t.learn(0, ip("198.18.0.8"), MacAddr::BROADCAST, t0), Learned::Ignored);
        assert_eq!(t.learn(0, ip("198.18.0.8"), MacAddr([0x33, 0x33, 0, 0, 0, 1]), t0), Learned::Ignored);
        assert_eq!(t.learn(0, ip("198.18.0.8"), MacAddr::default(), t0), Learned::Ignored);
    }

    /// A resolved entry no flow refers to any more.
    fn resolved_unreferenced(t: &mut NeighborTable, addr: &str, mac: MacAddr, now: Instant) -> u32 {
        let id = t.next_hop(0, ip(addr), now).unwrap();
        assert_eq!(t.learn(0, ip(addr), mac, now), Learned::Changed(id));
        assert!(t.release(id));
        id
    }

    #[test]
    fn unreferenced_entries_age_out_and_free_their_ids() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let id = resolved_unreferenced(&mut t, "198.18.0.7", GW, t0);
        commands(&mut t);
        assert!(t.poll(secs(t0, 30.0)).is_empty(), "unreferenced entries are not probed");
        assert_eq!(state(&t, id, secs(t0, 30.0)), NeighborState::Stale);
        t.poll(secs(t0, 60.0));
        assert!(t.get(id, secs(t0, 60.0)).is_none());
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id, mac: None }]);
        // A released entry that never resolved is removed once it fails.
        let id = t.next_hop(0, ip("198.18.0.9"), t0).unwrap();
        assert!(t.release(id));
        assert!(!t.release(id), "no reference left");
        for s in 0..=3 {
            t.poll(secs(t0, s as f64));
        }
        assert!(t.is_empty());
        assert!(commands(&mut t).is_empty());
    }

    #[test]
    fn ids_reused_only_after_removal() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig { max_entries: 2, ..NeighborConfig::default() });
        let a = t.next_hop(0, ip("198.18.0.1"), t0).unwrap();
        let b = t.next_hop(0, ip("198.18.0.2"), t0).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.next_hop(0, ip("198.18.0.3"), t0), Err(Full(2)), "every id referenced");
        assert!(!t.remove(0, ip("198.18.0.1")), "still referenced");
        t.learn(0, ip("198.18.0.1"), GW, t0);
        assert!(t.release(a));
        assert!(t.remove(0, ip("198.18.0.1")));
        assert!(!t.remove(0, ip("198.18.0.1")));
        assert_eq!(
            commands(&mut t),
            vec![Command::SetNeighbor { id: a, mac: Some(GW) }, Command::SetNeighbor { id: a, mac: None }]
        );
        assert_eq!(t.next_hop(0, ip("198.18.0.3"), t0), Ok(a), "the freed id");
        // Freed ids are reused oldest-freed first.
        let mut t = NeighborTable::new(NeighborConfig { max_entries: 3, ..NeighborConfig::default() });
        let ids: Vec<u32> = (1..=3).map(|i| t.next_hop(0, ip(&format!("198.18.0.{i}")), t0).unwrap()).collect();
        for (i, id) in ids.iter().enumerate().rev() {
            t.release(*id);
            assert!(t.remove(0, ip(&format!("198.18.0.{}", i + 1))));
        }
        assert_eq!(t.next_hop(0, ip("198.18.1.1"), t0), Ok(ids[2]));
        assert_eq!(t.next_hop(0, ip("198.18.1.2"), t0), Ok(ids[1]));
    }

    #[test]
    fn full_table_evicts_oldest_unreferenced_entry() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig { max_entries: 2, ..NeighborConfig::default() });
        let old = resolved_unreferenced(&mut t, "198.18.0.1", GW, t0);
        let new = resolved_unreferenced(&mut t, "198.18.0.2", GW2, secs(t0, 1.0));
        commands(&mut t);
        assert_eq!(t.next_hop(0, ip("198.18.0.4"), secs(t0, 2.0)), Ok(old));
        assert_eq!(commands(&mut t), vec![Command::SetNeighbor { id: old, mac: None }]);
        assert_eq!(t.lookup(0, ip("198.18.0.1")), None);
        assert_eq!(t.lookup(0, ip("198.18.0.2")), Some(new));
    }

    #[test]
    fn entries_report_state_mac_and_age() {
        let t0 = Instant::now();
        let mut t = NeighborTable::new(NeighborConfig::default());
        let a = t.next_hop(0, ip("198.18.0.254"), t0).unwrap();
        let b = t.next_hop(0, ip("fe80::1"), t0).unwrap();
        t.poll(t0);
        t.learn(0, ip("fe80::1"), GW, secs(t0, 2.0));
        let mut e: Vec<NeighborInfo> = t.entries(secs(t0, 5.0)).collect();
        e.sort_by_key(|i| i.id);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].id, e[0].state, e[0].mac, e[0].probes), (a, NeighborState::Incomplete, None, 1));
        assert_eq!(
            (e[1].id, e[1].state, e[1].mac, e[1].age),
            (b, NeighborState::Reachable, Some(GW), Duration::from_secs(3))
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        NextHop(u8),
        Release(u8),
        Learn(u8, u8),
        Remove(u8),
        Retry(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12).prop_map(Op::NextHop),
            (0u8..12).prop_map(Op::Release),
            (0u8..12, 0u8..3).prop_map(|(a, m)| Op::Learn(a, m)),
            (0u8..12).prop_map(Op::Remove),
            (0u8..12).prop_map(Op::Retry),
            (0u16..40_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Whatever happens, the workers' view (the SetNeighbor commands
        /// replayed) matches the table, ids stay in range and unique.
        #[test]
        fn workers_view_matches_table(ops in proptest::collection::vec(op(), 0..200)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut t = NeighborTable::new(NeighborConfig { max_entries: 8, ..NeighborConfig::default() });
            let mut workers: Vec<Option<MacAddr>> = vec![None; 8];
            let addr = |a: u8| -> IpAddr { IpAddr::V4([198, 18, 0, a].into()) };
            let macs = [GW, GW2, MacAddr([0x02, 0, 0, 0, 0, 0xfc])];
            for op in ops {
                match op {
                    Op::NextHop(a) => { let _ = t.next_hop(0, addr(a), now); }
                    Op::Release(a) => { if let Some(id) = t.lookup(0, addr(a)) { t.release(id); } }
                    Op::Learn(a, m) => { t.learn(0, addr(a), macs[m as usize], now); }
                    Op::Remove(a) => { t.remove(0, addr(a)); }
                    Op::Retry(a) => { if let Some(id) = t.lookup(0, addr(a)) { t.retry(id, now); } }
                    Op::Advance(ms) => { now += Duration::from_millis(u64::from(ms)); t.poll(now); }
                }
                let mut out = Vec::new();
                t.drain_commands(&mut out);
                for c in out {
                    let Command::SetNeighbor { id, mac } = c else { panic!("only neighbor commands") };
                    workers[id as usize] = mac;
                }
                let mut seen = std::collections::HashSet::new();
                for e in t.entries(now) {
                    prop_assert!(e.id < 8 && seen.insert(e.id));
                    prop_assert_eq!(workers[e.id as usize], e.mac);
                    prop_assert_eq!(t.lookup(e.iface, e.ip), Some(e.id));
                }
                for (id, mac) in workers.iter().enumerate() {
                    if !seen.contains(&(id as u32)) {
                        prop_assert_eq!(*mac, None, "a free id holds no MAC in the workers");
                    }
                }
            }
        }
    }
}
