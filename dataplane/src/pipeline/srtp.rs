//! The SRTP pass: the packets of a burst whose flows transform them, finished
//! together once the first pass has seen every packet of the burst.
//!
//! ```text
//! unprotect  SRTP, then SRTCP, each a burst through the crypto engine
//! admit      authenticated packets only: source check, latching, RTP statistics, route
//! protect    SRTP, then SRTCP, each a burst through the crypto engine
//! rewrite    new headers around the new payload; count
//! ```
//!
//! Contexts and stream states are reached through the indexes the first pass
//! took from the flow entry, so the transforms run without hash lookups. A
//! packet's stream state changes only once it authenticated (the engine sees to
//! it); latching and statistics wait for authentication too, so a forged packet
//! moves nothing but its drop counter.

use std::sync::Arc;

use core::net::SocketAddr;

use super::{admit, count_drop, count_relayed, udp_checksum_ok, MediaHeader, Pipeline, Route, Verdict, MAX_BURST};
use crate::buf::PacketBuf;
use crate::classify::UdpPacket;
use crate::flow::srtp::{Crypto, FlowSrtp, SlotError, SlotFor, SrtpStore};
use crate::flow::{Event, FlowEntry, FlowId};
use crate::relay;
use crate::srtp::{
    protect_rtcp_burst, protect_rtp_burst, unprotect_rtcp_burst, unprotect_rtp_burst, BurstPacket, Context, SrtpError,
};
use crate::stats::counters::FlowCounters;
use crate::stats::DropReason;
use crate::wire::udp;

/// Authentication failures are reported at most this often per flow.
const REPORT_INTERVAL_US: u64 = 1_000_000;

/// A packet the first pass left for the SRTP pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deferred {
    /// Its classification; `udp_len` follows the transforms.
    u: UdpPacket,
    flow: FlowId,
    media: MediaHeader,
    /// Payload bytes as received.
    received: usize,
    slot: SlotFor,
    unprotect: Option<Crypto>,
    protect: Option<Crypto>,
    route: Option<Route>,
    dropped: Option<DropReason>,
}

/// The first pass's part for a packet of an SRTP flow, out of the plain
/// path's way: its SSRC slot, its record written in place at its place `i`
/// in `burst`, and for plain packets to protect (nothing to authenticate
/// first) the source check and statistics, whose result the caller routes
/// ([`Burst::settle`]).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn first_pass(
    entry: &mut FlowEntry,
    store: &mut SrtpStore,
    frame: &[u8],
    u: &UdpPacket,
    media: MediaHeader,
    slot: &FlowCounters,
    now_us: u64,
    (burst, i): (&mut Burst, usize),
) -> Result<Option<Result<Option<SocketAddr>, DropReason>>, DropReason> {
    let id = entry.id();
    let fs = entry.srtp.as_mut().expect("an SRTP flow");
    let ssrc_slot = fs.slot_for(id, media.ssrc, &mut store.streams, &store.home).map_err(|e| match e {
        SlotError::Full => DropReason::SrtpSsrcLimit,
        SlotError::Moving => DropReason::SrtpMoving,
    })?;
    if burst.defer(i, u, id, media, ssrc_slot, fs).unprotects() {
        return Ok(None);
    }
    // Plain in, SRTP out. The new UDP checksum (IPv6), or the tag, will cover
    // whatever the payload holds: check the old checksum first.
    let admitted =
        if udp_checksum_ok(frame, u) { admit(entry, u, media, slot, now_us) } else { Err(DropReason::BadUdp) };
    Ok(Some(admitted))
}

impl Deferred {
    /// Whether the packet is unprotected before anything else.
    fn unprotects(&self) -> bool {
        self.unprotect.is_some()
    }

    /// The packet is admitted and routed, or dropped.
    fn settle(&mut self, routed: Result<Route, DropReason>) {
        match routed {
            Ok(r) => self.route = Some(r),
            Err(r) => self.dropped = Some(r),
        }
    }

    fn live(&self) -> bool {
        self.dropped.is_none()
    }

    fn payload_len(&self) -> usize {
        self.u.udp_len - udp::HEADER_LEN
    }

    /// A transform's result: the new payload length, or the drop.
    fn transformed(&mut self, r: Result<usize, SrtpError>) {
        match r {
            Ok(len) => self.u.udp_len = udp::HEADER_LEN + len,
            Err(e) => self.dropped = Some(e.into()),
        }
    }
}

/// The deferred packets of a burst, by their place in it.
pub(super) struct Burst {
    items: [Option<Deferred>; MAX_BURST],
    /// Packets that each transform (by [`Step`], then SRTP or SRTCP) has to
    /// do: one that has none is skipped whole (no SRTCP in an RTP burst, no
    /// unprotect when plain RTP is protected).
    todo: [[u8; 2]; 2],
}

impl Burst {
    pub(super) fn new() -> Self {
        Burst { items: [None; MAX_BURST], todo: [[0; 2]; 2] }
    }

    /// Writes the record of packet `i` of the burst in its place (no move
    /// of the record through the callers) and counts its transforms.
    #[inline(always)]
    fn defer(
        &mut self,
        i: usize,
        u: &UdpPacket,
        flow: FlowId,
        media: MediaHeader,
        slot: SlotFor,
        fs: &FlowSrtp,
    ) -> &Deferred {
        let (unprotect, protect) = (fs.unprotect(slot.slot), fs.protect(slot.slot));
        let kind = usize::from(media.is_rtcp);
        self.todo[Step::Unprotect as usize][kind] += u8::from(unprotect.is_some());
        self.todo[Step::Protect as usize][kind] += u8::from(protect.is_some());
        self.items[i].insert(Deferred {
            u: *u,
            flow,
            media,
            received: u.udp_len - udp::HEADER_LEN,
            slot,
            unprotect,
            protect,
            route: None,
            dropped: None,
        })
    }

    /// Packet `i`, deferred with nothing to unprotect, is admitted and routed, or dropped.
    pub(super) fn settle(&mut self, i: usize, routed: Result<Route, DropReason>) {
        if let Some(d) = self.items[i].as_mut() {
            d.settle(routed);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Unprotect,
    Protect,
}

impl Pipeline<'_> {
    /// Finishes the deferred packets of a burst: `verdicts[i]` for `pkts[i]`.
    // Once per burst, and kept out of the first pass's loop.
    #[inline(never)]
    pub(super) fn srtp_pass(
        &mut self,
        burst: &mut Burst,
        pkts: &mut [PacketBuf<'_>],
        verdicts: &mut [Verdict],
        on_event: &mut impl FnMut(Event),
    ) {
        self.transform(burst, pkts, Step::Unprotect);
        for d in burst.items.iter_mut().flatten().filter(|d| d.unprotects()) {
            match d.dropped {
                None => {
                    if let Err(r) = self.admit_and_route(&d.u, d.media, &mut d.route, on_event) {
                        d.dropped = Some(r);
                    }
                }
                Some(DropReason::SrtpAuth) => self.auth_failed(d, on_event),
                Some(_) => {}
            }
        }
        self.transform(burst, pkts, Step::Protect);

        for ((pkt, verdict), d) in pkts.iter_mut().zip(verdicts.iter_mut()).zip(&burst.items) {
            let Some(d) = d else { continue };
            if let (true, Some(c)) = (d.media.is_rtcp, d.protect) {
                // The control side checkpoints it (docs/ha.md).
                let next = self.table.srtp().streams[c.stream as usize].next_srtcp_index();
                self.flow_stats.note_srtcp_next(d.flow, next);
            }
            let slot = self.flow_stats.slot(d.flow);
            let result = match (d.dropped, d.route) {
                (None, Some(route)) => {
                    // Protected: the SRTP tag covers the payload.
                    let authenticated = d.protect.is_some();
                    relay::rewrite_resized(pkt, &d.u, &route.eg, route.dst, route.dst_mac, authenticated)
                        .map(|()| route.eg.port_id)
                }
                (Some(r), _) => Err(r),
                (None, None) => Err(DropReason::NoRemote),
            };
            *verdict = match result {
                Ok(port_id) => {
                    count_relayed(slot, d.received, d.media.is_rtcp);
                    Verdict::Forward { port_id }
                }
                Err(r) => {
                    if d.slot.claimed {
                        self.unclaim(d);
                    }
                    Verdict::Drop(count_drop(self.flow_stats, slot, r))
                }
            };
        }
    }

    /// Runs one transform over every live packet that needs it: the SRTP
    /// packets as one burst through the engine, then the SRTCP ones.
    fn transform(&mut self, burst: &mut Burst, pkts: &mut [PacketBuf<'_>], step: Step) {
        // SRTP, then SRTCP: each kind's packets go through the engine together,
        // in arrays sized to how many there are.
        for rtcp in [false, true] {
            match burst.todo[step as usize][usize::from(rtcp)] {
                0 => {}
                1..=4 => self.transform_kind::<4>(burst, pkts, step, rtcp),
                5..=8 => self.transform_kind::<8>(burst, pkts, step, rtcp),
                _ => self.transform_kind::<MAX_BURST>(burst, pkts, step, rtcp),
            }
        }
    }

    /// [`Pipeline::transform`] of one kind, whose packets are at most `N`.
    #[inline(always)]
    fn transform_kind<const N: usize>(
        &mut self,
        burst: &mut Burst,
        pkts: &mut [PacketBuf<'_>],
        step: Step,
        rtcp: bool,
    ) {
        let store = self.table.srtp_mut();
        let (contexts, streams) = (&store.contexts, &mut store.streams);
        let job = |d: &Deferred| match step {
            Step::Unprotect => d.unprotect,
            Step::Protect => d.protect,
        };
        // Which packet each burst slot holds.
        let mut which = [0u8; N];
        let mut n = 0;
        let mut jobs = pkts.iter_mut().zip(&burst.items).enumerate().filter_map(|(i, (pkt, d))| {
            let d = d.as_ref().filter(|d| d.live() && d.media.is_rtcp == rtcp)?;
            let c = job(d)?;
            which[n] = i as u8;
            n += 1;
            Some(BurstPacket {
                ctx: context(contexts, c),
                stream: c.stream as usize,
                buf: payload(pkt, &d.u, step),
                len: d.payload_len(),
            })
        });
        let mut results = [Ok(0); N];
        if let Some((mut packets, count)) = gather::<N>(&mut jobs) {
            // The burst counted its packets of each transform: there are no more.
            assert!(jobs.next().is_none(), "at most N packets to transform");
            let packets = &mut packets[..count];
            match (step, rtcp) {
                (Step::Unprotect, false) => unprotect_rtp_burst(packets, streams, &mut results),
                (Step::Protect, false) => protect_rtp_burst(packets, streams, &mut results),
                (Step::Unprotect, true) => unprotect_rtcp_burst(packets, streams, &mut results),
                (Step::Protect, true) => protect_rtcp_burst(packets, streams, &mut results),
            }
        }
        drop(jobs);
        for (k, r) in results[..n].iter().enumerate() {
            if let Some(d) = burst.items[which[k] as usize].as_mut() {
                d.transformed(*r);
            }
        }
    }

    /// Counts an authentication failure on the flow and reports the failures
    /// since the last report, at most once per [`REPORT_INTERVAL_US`].
    #[cold]
    fn auth_failed(&mut self, d: &Deferred, on_event: &mut impl FnMut(Event)) {
        let Some(fs) = self.table.get_mut(&d.u.key).and_then(|e| e.srtp.as_mut()) else { return };
        fs.auth_failures += 1;
        if fs.last_report_us.is_none_or(|t| self.now_us.saturating_sub(t) >= REPORT_INTERVAL_US) {
            on_event(Event::SrtpAuthFailures {
                worker: self.worker,
                key: d.u.key,
                flow: d.flow,
                count: fs.auth_failures,
            });
            fs.auth_failures = 0;
            fs.last_report_us = Some(self.now_us);
        }
    }

    /// Gives back the SSRC slot a dropped packet took, unless a packet of the
    /// same SSRC used it since.
    #[cold]
    fn unclaim(&mut self, d: &Deferred) {
        let (entry, store) = self.table.entry_and_srtp(d.flow);
        if let Some(fs) = entry.srtp.as_mut() {
            fs.unclaim(d.slot.slot, d.flow, &store.streams, &store.home);
        }
    }
}

#[inline(always)]
fn context(contexts: &[Option<Arc<Context>>], c: Crypto) -> &Context {
    contexts[c.context as usize].as_deref().expect("an installed context")
}

/// The packet's UDP payload in its buffer: exactly the payload to unprotect,
/// the payload and the tailroom after it to protect.
#[inline(always)]
fn payload<'a>(pkt: &'a mut PacketBuf<'_>, u: &UdpPacket, step: Step) -> &'a mut [u8] {
    let start = pkt.offset() + u.udp_off + udp::HEADER_LEN;
    let buf = pkt.buffer_mut();
    match step {
        Step::Unprotect => &mut buf[start..start + u.udp_len - udp::HEADER_LEN],
        Step::Protect => &mut buf[start..],
    }
}

/// The packets of `jobs` in a fixed array of `N` (the rest placeholders), and how many.
#[inline(always)]
fn gather<'a, const N: usize>(
    jobs: &mut impl Iterator<Item = BurstPacket<'a>>,
) -> Option<([BurstPacket<'a>; N], usize)> {
    let first = jobs.next()?;
    let ctx = first.ctx;
    let mut first = Some(first);
    let mut n = 0;
    let packets = core::array::from_fn(|_| match first.take().or_else(|| jobs.next()) {
        Some(p) => {
            n += 1;
            p
        }
        None => BurstPacket { ctx, stream: 0, buf: &mut [], len: 0 },
    });
    Some((packets, n))
}
