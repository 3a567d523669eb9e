//! The slow path's I/O edge, on a control core: frames from the workers'
//! rings through the handlers, replies and probes handed to a worker to
//! transmit (through the inject ring, with the egress port in the mbuf),
//! neighbor changes out as commands for the workers. The only part of the
//! slow path that touches mbufs and rings; it never touches a TX queue.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mediafwd_ffi::{Burst, Mbuf, Mempool, Ring, BURST_SIZE};

use super::config::{ResolveError, SlowPathConfig, SlowPathError};
use super::counters::{SlowPathCounters, SlowPathStats};
use super::dispatch::handle_frame;
use super::ice::{DtlsDatagram, IceCredentials, IceLegs};
use super::interface::Interface;
use super::neighbor::{Learned, NeighborTable};
use super::ratelimit::ReplyLimits;
use super::verdict::{Reason, Verdict};
use super::{arp, nd};
use crate::craft::UdpFrame;
use crate::flow::Command;
use crate::ice::IceEvent;
use crate::stats::counters::add;

/// `rte_mbuf.port` of a packet no port stamped (`RTE_MBUF_PORT_INVALID`).
const PORT_INVALID: u16 = u16::MAX;
/// Room for any frame the slow path originates (a DTLS flight's datagram
/// is at most 1200 bytes).
const FRAME_ROOM: usize = 1400;

/// ARP, Neighbor Discovery and ping for mediafwd's addresses, on a control
/// core. Call [`SlowPath::poll`] in a loop; send the commands it returns
/// to the workers.
pub struct SlowPath {
    interfaces: Vec<Interface>,
    limits: Vec<ReplyLimits>,
    neighbors: NeighborTable,
    ice: IceLegs,
    rings: Vec<Ring>,
    inject: Ring,
    out: Burst,
    pool: Mempool,
    counters: Arc<SlowPathCounters>,
    bursts_per_ring: usize,
}

impl SlowPath {
    /// A slow path serving `interfaces` (indexed from 0 in this order),
    /// taking frames from the workers' `rings`, handing what it sends to
    /// the worker that serves `inject`, and originating frames from `pool`.
    pub fn new(
        config: &SlowPathConfig,
        interfaces: Vec<Interface>,
        rings: Vec<Ring>,
        inject: Ring,
        pool: Mempool,
    ) -> Result<Self, SlowPathError> {
        for (i, a) in interfaces.iter().enumerate() {
            for b in interfaces[..i].iter().filter(|b| b.port_id == a.port_id) {
                if b.vlan == a.vlan {
                    return Err(SlowPathError::DuplicateInterface {
                        first: b.name.clone(),
                        second: a.name.clone(),
                        port_id: a.port_id,
                        vlan: a.vlan,
                    });
                }
                if b.mac != a.mac {
                    return Err(SlowPathError::MacMismatch { port_id: a.port_id });
                }
            }
        }
        Ok(SlowPath {
            limits: interfaces.iter().map(|_| config.reply_limits()).collect(),
            interfaces,
            neighbors: NeighborTable::new(config.neighbors.clone()),
            ice: IceLegs::default(),
            rings,
            inject,
            out: Burst::new(),
            pool,
            counters: Arc::default(),
            bursts_per_ring: config.bursts_per_ring.max(1),
        })
    }

    /// One round: serves the frames waiting in the rings (answering in
    /// place and transmitting, freeing the rest), runs the neighbor timers
    /// (sending probes), and appends to `commands` the `SetNeighbor`
    /// changes to send to every worker. Returns the frames taken.
    pub fn poll(&mut self, now: Instant, commands: &mut Vec<Command>) -> usize {
        let mut taken = 0;
        let mut done = Burst::new();
        for r in 0..self.rings.len() {
            for _ in 0..self.bursts_per_ring {
                let mut rx = Burst::new();
                let n = self.rings[r].dequeue_burst(&mut rx);
                taken += n;
                for m in rx.drain() {
                    if let Some(m) = self.handle(m, now) {
                        if done.is_full() {
                            done.free_all();
                        }
                        let _ = done.push(m);
                    }
                }
                if n < BURST_SIZE {
                    break;
                }
            }
        }
        done.free_all();
        add(&self.counters.rx_packets, taken as u64);
        self.run_timers(now);
        self.ice.poll(now);
        self.flush();
        self.neighbors.drain_commands(commands);
        taken
    }

    /// Answers ICE checks to relay address `local` with `creds` (see
    /// [`IceLegs::set`]).
    pub fn set_ice_leg(&mut self, local: SocketAddr, creds: IceCredentials) {
        self.ice.set(local, creds);
    }

    /// Stops answering ICE checks to `local`.
    pub fn remove_ice_leg(&mut self, local: &SocketAddr) {
        self.ice.remove(local);
    }

    /// Moves the ICE events raised since the last call (a nomination to
    /// latch the leg to, a loss of consent) to `out`.
    pub fn drain_ice_events(&mut self, out: &mut Vec<(SocketAddr, IceEvent)>) {
        self.ice.drain_events(out);
    }

    /// The way to the peer that nominated the leg on `local` (see
    /// [`IceLegs::route`]).
    pub fn ice_route(&self, local: &SocketAddr) -> Option<DtlsDatagram> {
        self.ice.route(local)
    }

    /// Moves the DTLS datagrams received for WebRTC legs to `out`, for the
    /// control side's DTLS endpoints.
    pub fn drain_dtls(&mut self, out: &mut Vec<DtlsDatagram>) {
        self.ice.drain_dtls(out);
    }

    /// Sends `d.payload` from the leg to its peer, addressed as `d` says (a
    /// datagram from [`SlowPath::drain_dtls`] with the answer as payload);
    /// whether it was queued.
    pub fn send_dtls(&mut self, d: &DtlsDatagram) -> bool {
        let Some(idx) = self.interfaces.iter().position(|i| i.port_id == d.port_id && i.vlan == d.vlan) else {
            self.counters.drop_n(Reason::UnknownPort, 1);
            return false;
        };
        let sent = self.originate(idx, |buf, iface| {
            let frame =
                UdpFrame { src_mac: iface.mac, dst_mac: d.peer_mac, vlan: iface.vlan, src: d.local, dst: d.remote };
            (frame.header_len() + d.payload.len() <= buf.len()).then(|| frame.emit(buf, &d.payload))
        });
        if sent {
            add(&self.counters.dtls_out, 1);
        }
        sent
    }

    /// Handles one frame; gives it back when it is to be freed.
    fn handle(&mut self, mut m: Mbuf, now: Instant) -> Option<Mbuf> {
        if !m.is_contiguous() {
            self.counters.drop_n(Reason::MultiSegment, 1);
            return Some(m);
        }
        let port = Some(m.port()).filter(|&p| p != PORT_INVALID);
        let (buf, off, len) = m.buffer_mut();
        let (iface, handled) =
            handle_frame(&mut buf[off..], len, port, &self.interfaces, &mut self.limits, &mut self.ice, now);
        self.counters.received(handled.message);
        if let (Some(idx), Some(l)) = (iface, handled.learn()) {
            let refused = match self.neighbors.learn(idx, l.ip, l.mac, now) {
                Learned::Changed(_) => {
                    add(&self.counters.neighbors_learned, 1);
                    None
                }
                Learned::Confirmed(_) => None,
                Learned::Disputed(_) => Some(Reason::Disputed),
                Learned::Ignored => Some(Reason::Untracked),
            };
            // A reply still goes out; a frame that was only there to be
            // learned from is dropped for the reason it was not.
            if let (Some(reason), Verdict::Learn(_)) = (refused, handled.verdict) {
                self.counters.drop_n(reason, 1);
            }
        }
        match (iface, handled.verdict) {
            (Some(idx), Verdict::Reply { len, .. }) => {
                if m.set_data_window(off, len).is_err() {
                    self.counters.drop_n(Reason::NoRoom, 1);
                    return Some(m);
                }
                self.counters.replied(handled.message);
                self.transmit(self.interfaces[idx].port_id, m);
                None
            }
            (_, Verdict::Drop(reason)) => {
                self.counters.drop_n(reason, 1);
                Some(m)
            }
            _ => Some(m),
        }
    }

    /// Queues `m` to leave by `port`, handing the burst over first when full.
    fn transmit(&mut self, port: u16, mut m: Mbuf) {
        m.set_port(port);
        if self.out.is_full() {
            self.flush();
        }
        if let Err(m) = self.out.push(m) {
            self.counters.drop_n(Reason::TxFull, 1);
            drop(m);
        }
    }

    /// Hands the queued frames to the transmitting worker; what its ring
    /// cannot take is freed and counted.
    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let sent = self.inject.enqueue_burst(&mut self.out);
        add(&self.counters.tx_packets, sent as u64);
        if !self.out.is_empty() {
            self.counters.drop_n(Reason::TxFull, self.out.len() as u64);
            self.out.free_all();
        }
    }

    /// Builds a frame with `build` for interface `idx` in a fresh mbuf and
    /// queues it; whether it was.
    fn originate(&mut self, idx: usize, build: impl FnOnce(&mut [u8], &Interface) -> Option<usize>) -> bool {
        let Some(iface) = self.interfaces.get(idx) else {
            return false;
        };
        let mut frame = [0u8; FRAME_ROOM];
        let Some(n) = build(&mut frame, iface) else {
            return false;
        };
        let port = iface.port_id;
        let Some(mut m) = self.pool.alloc() else {
            self.counters.drop_n(Reason::NoMbuf, 1);
            return false;
        };
        if m.extend_from_slice(&frame[..n]).is_err() {
            self.counters.drop_n(Reason::NoRoom, 1);
            return false;
        }
        self.transmit(port, m);
        true
    }

    fn run_timers(&mut self, now: Instant) {
        for p in self.neighbors.poll(now) {
            match p.ip {
                IpAddr::V4(target) => {
                    if self.originate(p.iface, |b, i| arp::request(b, i, target, p.unicast)) {
                        add(&self.counters.arp_requests_out, 1);
                    }
                }
                IpAddr::V6(target) => {
                    if self.originate(p.iface, |b, i| Some(nd::solicit(b, i, target, p.unicast))) {
                        add(&self.counters.ns_out, 1);
                    }
                }
            }
        }
    }

    /// Sends a gratuitous ARP for every IPv4 address and an unsolicited NA
    /// for every IPv6 address (link-local included), so that neighbors
    /// learn or update our MAC at start-up. Returns the frames sent.
    pub fn announce(&mut self) -> usize {
        let mut sent = 0;
        for idx in 0..self.interfaces.len() {
            let iface = &self.interfaces[idx];
            let v4: Vec<Ipv4Addr> = iface.ipv4.iter().map(|n| n.addr).collect();
            let v6: Vec<Ipv6Addr> =
                core::iter::once(iface.link_local()).chain(iface.ipv6.iter().map(|n| n.addr)).collect();
            for a in v4 {
                sent += usize::from(self.originate(idx, |b, i| Some(arp::gratuitous(b, i, a))));
            }
            for a in v6 {
                sent += usize::from(self.originate(idx, |b, i| Some(nd::unsolicited_advert(b, i, a))));
            }
        }
        add(&self.counters.announcements_out, sent as u64);
        self.flush();
        sent
    }

    /// Resolves every unresolved next hop again at once (a standby taking
    /// over, whose probes were fenced); how many.
    pub fn resolve_unresolved(&mut self) -> usize {
        self.neighbors.restart_unresolved(Instant::now())
    }

    /// The next-hop id the workers use to reach `dst` from interface
    /// `iface`: `dst` itself when on link, else the gateway. Resolution
    /// starts at the next [`SlowPath::poll`]; its `SetNeighbor` command
    /// follows the answer. Holds a reference until [`SlowPath::release`].
    pub fn resolve(&mut self, iface: usize, dst: IpAddr) -> Result<u32, ResolveError> {
        let i = self.interfaces.get(iface).ok_or(ResolveError::UnknownInterface(iface))?;
        let hop = i.next_hop_for(dst).ok_or_else(|| ResolveError::NoRoute { dst, iface: i.name.clone() })?;
        Ok(self.neighbors.next_hop(iface, hop, Instant::now())?)
    }

    /// Drops a reference taken by [`SlowPath::resolve`].
    pub fn release(&mut self, id: u32) -> bool {
        self.neighbors.release(id)
    }

    /// Resolves next hop `id` again if it failed (a worker reported it
    /// missing); whether it did.
    pub fn retry(&mut self, id: u32) -> bool {
        self.neighbors.retry(id, Instant::now())
    }

    /// The interfaces, by index.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The neighbor table, for statistics.
    pub fn neighbors(&self) -> &NeighborTable {
        &self.neighbors
    }

    /// The counters, to read from other threads.
    pub fn counters(&self) -> Arc<SlowPathCounters> {
        self.counters.clone()
    }

    /// A copy of the counters.
    pub fn stats(&self) -> SlowPathStats {
        self.counters.snapshot()
    }
}
