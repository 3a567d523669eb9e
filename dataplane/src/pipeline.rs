//! One packet through the relay: classify, look up, check the source and
//! the payload, account, rewrite. Pure: byte buffers in, a verdict out; the
//! worker moves the mbufs accordingly.

use crate::buf::PacketBuf;
use crate::classify::{classify, Class, PortContext, UdpPacket};
use crate::flow::{Event, FlowTable, Media};
use crate::latch::SourceVerdict;
use crate::relay;
use crate::stats::counters::add;
use crate::stats::{DropReason, FlowStatsArray};
use crate::wire::{rtcp, rtp, udp};
use mediafwd_ffi::BURST_SIZE as BURST;

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten; transmit on this port.
    Forward {
        /// Egress DPDK port.
        port_id: u16,
    },
    /// Hand to the slow path.
    SlowPath,
    /// Drop and count.
    Drop(DropReason),
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

/// Cache lines of a flow entry a relayed packet reads.
const ENTRY_LINES: usize = 4;

impl Pipeline<'_> {
    /// Processes one received frame in place; `stripped_vlan` is a tag the
    /// NIC removed and reported beside the frame.
    #[inline]
    pub fn process(
        &mut self,
        pkt: &mut PacketBuf<'_>,
        rx_port: u16,
        stripped_vlan: Option<u16>,
        on_event: &mut impl FnMut(Event),
    ) -> Verdict {
        match self.classify(pkt, rx_port, stripped_vlan) {
            Class::Udp(u) => match self.table.find(&u.key) {
                Some(id) => self.relay(pkt, &u, id, on_event),
                None => Verdict::Drop(DropReason::UnknownFlow),
            },
            Class::SlowPath => Verdict::SlowPath,
            Class::Drop(r) => Verdict::Drop(r),
        }
    }

    /// Processes a burst in three passes, as DPDK's l3fwd does, so that the
    /// memory each packet needs is loading while the others are worked on:
    /// classify every packet and prefetch where its flow lookup starts; look
    /// every flow up and prefetch its entry and statistics slot; then relay.
    /// `pkts`, `stripped_vlan` and `verdicts` have the same length, at most
    /// [`BURST`].
    #[inline]
    pub fn process_burst(
        &mut self,
        pkts: &mut [PacketBuf<'_>],
        rx_port: u16,
        stripped_vlan: &[Option<u16>],
        verdicts: &mut [Verdict],
        on_event: &mut impl FnMut(Event),
    ) {
        let n = pkts.len().min(BURST);
        let mut classes = [Class::Drop(DropReason::Runt); BURST];
        for i in 0..n {
            classes[i] = self.classify(&pkts[i], rx_port, stripped_vlan[i]);
            if let Class::Udp(u) = &classes[i] {
                self.table.prefetch_key(&u.key);
            }
        }
        let mut ids = [None; BURST];
        for i in 0..n {
            if let Class::Udp(u) = &classes[i] {
                ids[i] = self.table.find(&u.key);
                if let Some(id) = ids[i] {
                    self.table.prefetch_entry(id, ENTRY_LINES);
                    mediafwd_ffi::prefetch(self.flow_stats.slot(id));
                }
            }
        }
        for i in 0..n {
            verdicts[i] = match (&classes[i], ids[i]) {
                (Class::Udp(u), Some(id)) => self.relay(&mut pkts[i], u, id, on_event),
                (Class::Udp(_), None) => Verdict::Drop(DropReason::UnknownFlow),
                (Class::SlowPath, _) => Verdict::SlowPath,
                (Class::Drop(r), _) => Verdict::Drop(*r),
            };
        }
    }

    #[inline(always)]
    fn classify(&self, pkt: &PacketBuf<'_>, rx_port: u16, stripped_vlan: Option<u16>) -> Class {
        match self.ports.get(rx_port as usize) {
            Some(port) => classify(pkt.data(), rx_port, port, stripped_vlan),
            None => Class::Drop(DropReason::NotForUs),
        }
    }

    /// The last pass for one packet of flow `id`: payload and source
    /// checks, accounting, rewrite.
    #[inline(always)]
    fn relay(&mut self, pkt: &mut PacketBuf<'_>, u: &UdpPacket, id: u32, on_event: &mut impl FnMut(Event)) -> Verdict {
        let entry = self.table.entry_mut(id);
        let flow = &entry.flow;
        let slot = self.flow_stats.slot(flow.id);
        slot.last_tsc.store(self.now_tsc, std::sync::atomic::Ordering::Relaxed);
        let drop = |r: DropReason| {
            if let Some(d) = r.flow_drop() {
                slot.drop_packet(d);
            }
            Verdict::Drop(r)
        };
        if flow.ingress.vlan != u.vlan {
            return drop(DropReason::WrongVlan);
        }

        let payload = &pkt.data()[u.udp_off + udp::HEADER_LEN..u.udp_off + u.udp_len];
        let mut rtp_fields = None;
        let is_rtcp = match flow.media {
            Media::Rtp { rtcp_mux } if rtcp_mux && rtcp::is_rtcp(payload) => true,
            Media::Rtp { .. } => match rtp::Packet::new_checked(payload) {
                Ok(p) => {
                    rtp_fields = Some((p.ssrc(), p.sequence_number(), p.timestamp()));
                    false
                }
                Err(_) => return drop(DropReason::BadRtp),
            },
            Media::Rtcp => true,
        };
        if is_rtcp && rtcp::Packet::new_checked(payload).is_err() {
            return drop(DropReason::BadRtp);
        }

        let mut latched = None;
        match entry.latch.check(&flow.ingress, u.src) {
            SourceVerdict::Accept => {}
            SourceVerdict::Reject => return drop(DropReason::SourceMismatch),
            SourceVerdict::Latched(remote) => {
                latched = Some(remote);
                on_event(Event::Latched { worker: self.worker, key: u.key, flow: flow.id, remote, src_mac: u.src_mac });
            }
        }
        if let Some((ssrc, seq, ts)) = rtp_fields {
            let arrival = (self.now_us.wrapping_mul(flow.clock_rate as u64) / 1_000_000) as u32;
            entry.rtp.update(ssrc, seq, ts, arrival);
            slot.publish_rtp(&entry.rtp);
        }
        let eg = if is_rtcp { flow.rtcp_egress.unwrap_or(flow.egress) } else { flow.egress };
        let (media, reverse) = (flow.media, flow.reverse);
        if let (Some(remote), Some(reverse)) = (latched, reverse) {
            self.follow_latch(reverse, media, remote);
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
        add(&slot.packets, 1);
        add(&slot.bytes, (u.udp_len - udp::HEADER_LEN) as u64);
        if is_rtcp {
            add(&slot.rtcp_packets, 1);
        }
        Verdict::Forward { port_id: eg.port_id }
    }

    /// Points the reverse flow at the remote this flow latched, until the
    /// control side confirms it with an update of both flows.
    #[cold]
    fn follow_latch(&mut self, reverse: crate::flow::FlowKey, media: Media, remote: core::net::SocketAddr) {
        let Some(rev) = self.table.get_mut(&reverse) else {
            return;
        };
        match (media, rev.flow.media) {
            // Our RTCP port latched; the peer multiplexes, so its RTCP egress follows.
            (Media::Rtcp, Media::Rtp { .. }) => {
                if let Some(eg) = rev.flow.rtcp_egress.as_mut() {
                    eg.dst = Some(remote);
                }
            }
            (Media::Rtp { rtcp_mux }, _) => {
                rev.flow.egress.dst = Some(remote);
                if rtcp_mux {
                    if let Some(eg) = rev.flow.rtcp_egress.as_mut() {
                        eg.dst = Some(remote);
                    }
                }
            }
            (Media::Rtcp, Media::Rtcp) => rev.flow.egress.dst = Some(remote),
        }
    }
}
