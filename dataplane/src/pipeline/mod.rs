//! A burst of packets through the relay: classify, look up, check the source
//! and the payload, account, transform (SRTP), rewrite. Pure: byte buffers in,
//! verdicts out; the worker moves the mbufs accordingly.
//!
//! A burst goes through in two passes, so that the memory each packet needs
//! is loading while the others are worked on: the lean classification of
//! every packet, which starts loading its direct index cell; then one pass
//! that looks up the flow of the packet a few places ahead (its entry and
//! statistics slot start loading) and relays this one. Frames of another
//! shape are classified and looked up in place by the full path; the cases
//! the lean relay leaves (SRTP flows among them) go to the full relay with
//! the lean classification and lookup they have. Packets of flows with an
//! SRTP transform stop after their checks and are finished together at the
//! end of the burst ([`srtp`]), so that the HMACs of several packets are
//! computed side by side.

mod srtp;

use core::net::SocketAddr;

use crate::buf::PacketBuf;
use crate::classify::{classify, classify_lean, Class, Lean, PortContext, UdpPacket};
use crate::flow::{Egress, Event, FlowEntry, FlowId, FlowTable, Media};
use crate::latch::SourceVerdict;
use crate::relay;
use crate::slowpath::police::Punt;
use crate::stats::counters::{add, FlowCounters};
use crate::stats::{DropReason, FlowStatsArray};
use crate::wire::ethernet::MacAddr;
use crate::wire::{rtcp, rtp, udp};

/// The first pass's mark of a packet the lean classifier did not take.
const NOT_LEAN: u16 = u16::MAX;

/// Packets one call of [`Pipeline::process_burst`] takes at most.
pub const MAX_BURST: usize = 32;

/// Cache lines of a flow entry a relayed packet reads: state, then checks
/// and egress headers (an IPv6 egress ends in a third line, not prefetched:
/// most egresses are IPv4, and a needless prefetch costs a line of bandwidth).
const ENTRY_LINES: usize = 2;

/// How many packets ahead of the one relayed the lean path looks its flow
/// up, so that the entry is loading while the packets between are relayed.
const LOOKAHEAD: usize = 8;

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten; transmit on this port.
    Forward {
        /// Egress DPDK port.
        port_id: u16,
    },
    /// Hand to the slow path, through the policer, with what the
    /// classifier found the frame to be.
    SlowPath(Punt),
    /// Drop and count.
    Drop(DropReason),
}

/// What the relay pass did with a packet.
enum Relayed {
    /// Finished: what to do with it.
    Done(Verdict),
    /// Checked and left to the SRTP pass at the end of the burst, which
    /// writes its verdict.
    ToSrtpPass,
}

/// The per-worker state a packet is processed against.
pub struct Pipeline<'a> {
    /// This worker's id (for events).
    pub worker: u16,
    /// The worker's flow table replica.
    pub table: &'a mut FlowTable,
    /// The ports, by DPDK port id.
    pub ports: &'a [PortContext],
    /// The worker's flow counters.
    pub flow_stats: &'a FlowStatsArray,
    /// TSC at the start of the burst.
    pub now_tsc: u64,
    /// Microseconds at the start of the burst (for RTP arrival times).
    pub now_us: u64,
}

/// The RTP or RTCP packet a flow received, as far as the relay reads it.
#[derive(Debug, Clone, Copy)]
struct MediaHeader {
    is_rtcp: bool,
    /// RTP: SSRC, sequence number, timestamp.
    rtp: Option<(u32, u16, u32)>,
    /// The SSRC (RTCP: the first packet's sender).
    ssrc: u32,
}

/// Where a packet leaves.
#[derive(Debug, Clone, Copy)]
struct Route {
    eg: Egress,
    dst: SocketAddr,
    dst_mac: MacAddr,
}

impl Pipeline<'_> {
    /// Processes one received frame in place; `stripped_vlan` is a tag the
    /// NIC removed and reported beside it. A burst of one.
    #[inline]
    pub fn process(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        rx_port: u16,
        stripped_vlan: Option<u16>,
        on_event: &mut impl FnMut(Event),
    ) -> Verdict {
        let mut verdict = [Verdict::Drop(DropReason::Runt)];
        self.process_burst(core::slice::from_mut(pkt), rx_port, &[stripped_vlan], &mut verdict, on_event);
        verdict[0]
    }

    /// Processes up to [`MAX_BURST`] frames received on `rx_port` in place:
    /// `verdicts[i]` says what to do with `pkts[i]`, whose window the rewrite
    /// moved; `stripped_vlans[i]` is a tag the NIC removed from it.
    ///
    /// # Panics
    /// With more than [`MAX_BURST`] packets, or fewer VLANs or verdicts than packets.
    #[inline]
    pub fn process_burst(
        &mut self,
        pkts: &mut [PacketBuf<'_>],
        rx_port: u16,
        stripped_vlans: &[Option<u16>],
        verdicts: &mut [Verdict],
        on_event: &mut impl FnMut(Event),
    ) {
        self.process_burst_marked(pkts, rx_port, stripped_vlans, verdicts, on_event, || {});
    }

    /// [`Pipeline::process_burst`], calling `before_srtp` between the first
    /// pass and the SRTP pass when the burst has one (the worker times the two).
    #[inline]
    pub fn process_burst_marked(
        &mut self,
        pkts: &mut [PacketBuf<'_>],
        rx_port: u16,
        stripped_vlans: &[Option<u16>],
        verdicts: &mut [Verdict],
        on_event: &mut impl FnMut(Event),
        before_srtp: impl FnOnce(),
    ) {
        assert!(pkts.len() <= MAX_BURST, "at most MAX_BURST packets");
        let n = pkts.len();
        let (stripped_vlans, verdicts) = (&stripped_vlans[..n], &mut verdicts[..n]);
        let Some(port) = self.ports.get(rx_port as usize) else {
            verdicts.fill(Verdict::Drop(DropReason::NotForUs));
            return;
        };
        // Frames of the common shape to one of our addresses, with its
        // direct slot; the index cell each needs starts loading.
        let mut leans = [(Lean::NONE, NOT_LEAN); MAX_BURST];
        for i in 0..n {
            if let Some((l, dst)) = classify_lean(pkts[i].data(), port, stripped_vlans[i]) {
                if let Some(slot) = self.table.direct_slot(rx_port, dst) {
                    self.table.prefetch_direct(slot, l.dst_port);
                    leans[i] = (l, slot);
                }
            }
        }
        // Then one pass: the lookup of the lean packet LOOKAHEAD places
        // ahead (its entry and statistics slot start loading), and this
        // packet relayed. The others are classified and looked up in place.
        let mut ids = [None; MAX_BURST];
        for (id, lean) in ids.iter_mut().zip(&leans).take(n.min(LOOKAHEAD)) {
            *id = self.find_lean(lean);
        }
        // Made at the first SRTP packet: a plain burst never pays for it.
        let mut deferred: Option<srtp::Burst> = None;
        let mut clock = BurstClock::new(self.now_us);
        for (i, pkt) in pkts.iter_mut().enumerate() {
            if let Some(ahead) = leans.get(i + LOOKAHEAD) {
                ids[i + LOOKAHEAD] = self.find_lean(ahead);
            }
            let (l, slot) = &leans[i];
            if *slot != NOT_LEAN {
                let Some(id) = ids[i] else {
                    verdicts[i] = Verdict::Drop(DropReason::UnknownFlow);
                    continue;
                };
                if let Some(v) = self.relay_lean(pkt, l, id, &mut clock) {
                    verdicts[i] = v;
                    continue;
                }
            }
            let found = (*slot != NOT_LEAN).then(|| (l, ids[i]));
            if let Some(v) =
                self.relay_full(pkt, (port, rx_port, stripped_vlans[i]), found, (&mut deferred, i), on_event)
            {
                verdicts[i] = v;
            }
        }
        if let Some(deferred) = deferred.as_mut() {
            before_srtp();
            self.srtp_pass(deferred, pkts, verdicts, on_event);
        }
    }

    /// The flow id of a lean packet (`None` for another), whose entry and
    /// statistics slot then start loading.
    #[inline(always)]
    fn find_lean(&self, (l, slot): &(Lean, u16)) -> Option<u32> {
        if *slot == NOT_LEAN {
            return None;
        }
        let id = self.table.find_direct(*slot, l.dst_port)?;
        self.table.prefetch_entry(id, ENTRY_LINES);
        self.flow_stats.prefetch(id);
        Some(id)
    }

    /// The relay of a lean-classified packet of flow `id`, when its
    /// flow is plain RTP, the packet RTP, its source changes nothing (no
    /// latching) and the flow has egress headers: the verdict, with the
    /// drops and counts [`Pipeline::relay`] would make. `None`, before any
    /// change to the flow's state: the full path decides.
    #[inline(always)]
    fn relay_lean(&mut self, pkt: &mut PacketBuf<'_>, l: &Lean, id: u32, clock: &mut BurstClock) -> Option<Verdict> {
        let (entry, neighbors) = self.table.entry_and_neighbors(id);
        let lean = &entry.lean;
        if !lean.plain_rtp {
            return None;
        }
        let slot = self.flow_stats.slot(id);
        slot.last_tsc.store(self.now_tsc, std::sync::atomic::Ordering::Relaxed);
        let stats = self.flow_stats;
        let drop = |r: DropReason| Some(Verdict::Drop(count_drop(stats, slot, r)));
        if lean.vlan != l.vlan {
            return drop(DropReason::WrongVlan);
        }
        let frame = pkt.data();
        // The sender, UDP and RTP headers at fixed offsets, one bounds check.
        let (src, h) = l.headers(frame)?;
        let rtp_first = h[udp::HEADER_LEN];
        if lean.rtcp_mux && rtp_first >> 6 == 2 && (192..=223).contains(&h[udp::HEADER_LEN + 1]) {
            return None;
        }
        // Version 2 without padding, extension or CSRCs: the common header
        // is valid as it is; any other first byte takes the checked view.
        if rtp_first != 0x80 {
            let udp_off = l.udp_off();
            let payload = &frame[udp_off + udp::HEADER_LEN..udp_off + l.udp_len as usize];
            if rtp::Packet::new_checked(payload).is_err() {
                return drop(DropReason::BadRtp);
            }
        }
        let eg = &entry.egress;
        if eg.needs_full_checksum(u16::from_ne_bytes([h[6], h[7]]), l) {
            return None;
        }
        match entry.latch.check_unchanged(lean.latch, lean.strict_source, &src) {
            None => return None,
            Some(false) => return drop(DropReason::SourceMismatch),
            Some(true) => {}
        }
        let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let (seq, ts, ssrc) = (u16::from_be_bytes([h[10], h[11]]), be32(12), be32(16));
        let change = entry.rtp.update(ssrc, seq, ts, clock.arrival(lean.clock_rate));
        slot.publish_rtp(&entry.rtp, change);
        let Some(Some(dst_mac)) = neighbors.get(eg.next_hop as usize).copied() else {
            return drop(DropReason::NeighborUnresolved);
        };
        if let Err(r) = eg.rewrite(pkt, l, dst_mac) {
            return drop(r);
        }
        count_relayed(slot, l.udp_len as usize - udp::HEADER_LEN, false);
        Some(Verdict::Forward { port_id: eg.port_id })
    }

    /// A packet the lean relay did not finish: classified, unless the lean
    /// classifier took it (`lean`, with its flow if it has one), then
    /// relayed by the full path. `None`: left to the SRTP pass, which writes
    /// its verdict. Out of line, so that the lean relay's loop keeps its
    /// registers.
    #[inline(never)]
    fn relay_full(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        (port, rx_port, stripped_vlan): (&PortContext, u16, Option<u16>),
        lean: Option<(&Lean, Option<FlowId>)>,
        deferred: (&mut Option<srtp::Burst>, usize),
        on_event: &mut impl FnMut(Event),
    ) -> Option<Verdict> {
        let relayed = match lean {
            // A case the lean relay leaves to the full one (an SRTP flow,
            // latching, rtcp-mux): the lean classification holds what the
            // full classifier would find. Built where the relay reads it.
            Some((_, None)) => return Some(Verdict::Drop(DropReason::UnknownFlow)),
            Some((l, Some(id))) => self.relay(pkt, &l.udp_packet(pkt.data(), rx_port), id, deferred, on_event),
            // A frame of another shape.
            None => match classify(pkt.data(), rx_port, port, stripped_vlan) {
                Class::Udp(u) => match self.table.find(&u.key) {
                    Some(id) => self.relay(pkt, &u, id, deferred, on_event),
                    None => return Some(Verdict::Drop(DropReason::UnknownFlow)),
                },
                Class::SlowPath(p) => return Some(Verdict::SlowPath(p)),
                Class::Drop(r) => return Some(Verdict::Drop(r)),
            },
        };
        match relayed {
            Relayed::Done(v) => Some(v),
            Relayed::ToSrtpPass => None,
        }
    }

    /// The full path's relay of a packet of flow `id`: everything for a plain
    /// flow; the checks, for an SRTP one, which is then left in `deferred`
    /// (at its place `i` in the burst) for the SRTP pass.
    #[inline(always)]
    fn relay(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        u: &UdpPacket,
        id: u32,
        (deferred, i): (&mut Option<srtp::Burst>, usize),
        on_event: &mut impl FnMut(Event),
    ) -> Relayed {
        let (entry, store) = self.table.entry_and_srtp(id);
        let slot = self.flow_stats.slot(id);
        slot.last_tsc.store(self.now_tsc, std::sync::atomic::Ordering::Relaxed);
        let stats = self.flow_stats;
        let drop = |r: DropReason| Relayed::Done(Verdict::Drop(count_drop(stats, slot, r)));
        if entry.lean.vlan != u.vlan {
            return drop(DropReason::WrongVlan);
        }
        let payload = &pkt.data()[u.udp_off + udp::HEADER_LEN..u.udp_off + u.udp_len];
        let media = match read_media(entry.media(), payload) {
            Ok(m) => m,
            Err(r) => return drop(r),
        };

        if entry.srtp.is_some() {
            let burst = deferred.get_or_insert_with(srtp::Burst::new);
            let admitted = match srtp::first_pass(entry, store, pkt.data(), u, media, slot, self.now_us, (burst, i)) {
                Ok(a) => a,
                Err(r) => return drop(r),
            };
            if let Some(admitted) = admitted {
                burst.settle(i, admitted.and_then(|latched| self.route(u, id, media.is_rtcp, latched, on_event)));
            }
            return Relayed::ToSrtpPass;
        }

        let latched = match admit(entry, u, media, slot, self.now_us) {
            Ok(l) => l,
            Err(r) => return drop(r),
        };
        let eg = entry.egress_for(media.is_rtcp);
        if let Some(remote) = latched {
            self.latched(u, id, remote, on_event);
        }
        let Some(dst) = eg.dst else {
            return drop(DropReason::NoRemote);
        };
        let Some(dst_mac) = self.table.neighbor(eg.next_hop) else {
            return drop(DropReason::NeighborUnresolved);
        };
        if let Err(r) = relay::rewrite(pkt, u, &eg, dst, dst_mac) {
            return drop(r);
        }
        count_relayed(slot, u.udp_len - udp::HEADER_LEN, media.is_rtcp);
        Relayed::Done(Verdict::Forward { port_id: eg.port_id })
    }

    /// The source check and the RTP statistics of a packet that passed its
    /// payload checks (and authentication), then its route, written in
    /// `route` (the packet's deferred record, not moved through a return).
    fn admit_and_route(
        &mut self,
        u: &UdpPacket,
        media: MediaHeader,
        route: &mut Option<Route>,
        on_event: &mut impl FnMut(Event),
    ) -> Result<(), DropReason> {
        let Some(id) = self.table.find(&u.key) else {
            return Err(DropReason::UnknownFlow);
        };
        let latched = admit(self.table.entry_mut(id), u, media, self.flow_stats.slot(id), self.now_us)?;
        *route = Some(self.route(u, id, media.is_rtcp, latched, on_event)?);
        Ok(())
    }

    /// Where the packet goes; a new latched source is reported and the
    /// reverse flow follows it.
    #[inline(always)]
    fn route(
        &mut self,
        u: &UdpPacket,
        id: FlowId,
        is_rtcp: bool,
        latched: Option<SocketAddr>,
        on_event: &mut impl FnMut(Event),
    ) -> Result<Route, DropReason> {
        // Read before the reverse flow follows a latch (as the flow was when the packet came).
        let eg = self.table.entry_mut(id).egress_for(is_rtcp);
        if let Some(remote) = latched {
            self.latched(u, id, remote, on_event);
        }
        let dst = eg.dst.ok_or(DropReason::NoRemote)?;
        let dst_mac = self.table.neighbor(eg.next_hop).ok_or(DropReason::NeighborUnresolved)?;
        Ok(Route { eg, dst, dst_mac })
    }

    /// Reports a newly latched remote; the reverse flow follows it.
    #[cold]
    fn latched(&mut self, u: &UdpPacket, id: FlowId, remote: SocketAddr, on_event: &mut impl FnMut(Event)) {
        on_event(Event::Latched { worker: self.worker, key: u.key, flow: id, remote, src_mac: u.src_mac });
        let flow = self.table.entry_mut(id).flow();
        if let Some(reverse) = flow.reverse {
            self.follow_latch(reverse, flow.media, remote);
        }
    }

    /// Points the reverse flow at the remote this flow latched, until the
    /// control side confirms it with an update of both flows.
    #[cold]
    fn follow_latch(&mut self, reverse: FlowId, media: Media, remote: SocketAddr) {
        if reverse as usize >= self.table.capacity() {
            return;
        }
        let entry = self.table.entry_mut(reverse);
        let mut rev = entry.flow();
        match (media, rev.media) {
            // Our RTCP port latched; the peer multiplexes, so its RTCP egress follows.
            (Media::Rtcp, Media::Rtp { .. }) => {
                if let Some(eg) = rev.rtcp_egress.as_mut() {
                    eg.dst = Some(remote);
                }
            }
            (Media::Rtp { rtcp_mux }, _) => {
                rev.egress.dst = Some(remote);
                if rtcp_mux {
                    if let Some(eg) = rev.rtcp_egress.as_mut() {
                        eg.dst = Some(remote);
                    }
                }
            }
            (Media::Rtcp, Media::Rtcp) => rev.egress.dst = Some(remote),
        }
        entry.set_flow(rev);
    }
}

/// The burst's arrival time in RTP timestamp units, computed once per burst
/// and clock rate (the flows of a burst mostly share one: 8 kHz for G.711).
struct BurstClock {
    now_us: u64,
    rate: u32,
    arrival: u32,
}

impl BurstClock {
    fn new(now_us: u64) -> Self {
        BurstClock { now_us, rate: 0, arrival: 0 }
    }

    #[inline(always)]
    fn arrival(&mut self, rate: u32) -> u32 {
        if rate != self.rate {
            self.rate = rate;
            self.arrival = arrival(self.now_us, rate);
        }
        self.arrival
    }
}

/// `now_us` in the units of an RTP clock of `rate` Hz.
#[inline(always)]
fn arrival(now_us: u64, rate: u32) -> u32 {
    (now_us.wrapping_mul(rate as u64) / 1_000_000) as u32
}

/// Whether the payload is the RTP or RTCP the flow carries, and what of it the
/// relay reads. SRTP and SRTCP keep these headers in clear (RFC 3711 §3.1, §3.4).
#[inline(always)]
fn read_media(media: Media, payload: &[u8]) -> Result<MediaHeader, DropReason> {
    let is_rtcp = match media {
        Media::Rtp { rtcp_mux } => rtcp_mux && rtcp::is_rtcp(payload),
        Media::Rtcp => true,
    };
    if is_rtcp {
        let p = rtcp::Packet::new_checked(payload).map_err(|_| DropReason::BadRtp)?;
        return Ok(MediaHeader { is_rtcp, rtp: None, ssrc: p.sender_ssrc() });
    }
    let p = rtp::Packet::new_checked(payload).map_err(|_| DropReason::BadRtp)?;
    let ssrc = p.ssrc();
    Ok(MediaHeader { is_rtcp, rtp: Some((ssrc, p.sequence_number(), p.timestamp())), ssrc })
}

/// The source check (latching) and the RTP statistics, on the flow's entry.
/// `Ok(Some(remote))`: the flow latched a new remote.
#[inline(always)]
fn admit(
    entry: &mut FlowEntry,
    u: &UdpPacket,
    media: MediaHeader,
    slot: &FlowCounters,
    now_us: u64,
) -> Result<Option<SocketAddr>, DropReason> {
    let lean = &entry.lean;
    let latched = match entry.latch.check_source(lean.latch, lean.strict_source, u.src) {
        SourceVerdict::Accept => None,
        SourceVerdict::Reject => return Err(DropReason::SourceMismatch),
        SourceVerdict::Latched(remote) => Some(remote),
    };
    if let Some((ssrc, seq, ts)) = media.rtp {
        let change = entry.rtp.update(ssrc, seq, ts, arrival(now_us, entry.lean.clock_rate));
        slot.publish_rtp(&entry.rtp, change);
    }
    Ok(latched)
}

/// Counts a drop on its flow (its statistics slot `slot`) too, when the
/// reason has a flow counter.
#[inline(always)]
fn count_drop(stats: &FlowStatsArray, slot: &FlowCounters, r: DropReason) -> DropReason {
    if let Some(d) = r.flow_drop() {
        stats.drop_packet(slot, d);
    }
    r
}

/// Counts a relayed packet of `payload` bytes as received.
#[inline(always)]
fn count_relayed(slot: &FlowCounters, payload: usize, is_rtcp: bool) {
    add(&slot.packets, 1);
    add(&slot.bytes, payload as u64);
    if is_rtcp {
        add(&slot.rtcp_packets, 1);
    }
}

/// Whether the received UDP checksum holds (0 over IPv4: none was sent).
fn udp_checksum_ok(frame: &[u8], u: &UdpPacket) -> bool {
    let d = udp::Datagram::new_unchecked(&frame[u.udp_off..u.udp_off + u.udp_len]);
    match (u.src.ip(), u.key.addr()) {
        (core::net::IpAddr::V4(s), core::net::IpAddr::V4(l)) => d.verify_checksum_v4(s, l),
        (core::net::IpAddr::V6(s), core::net::IpAddr::V6(l)) => d.verify_checksum_v6(&s, &l),
        _ => false,
    }
}
