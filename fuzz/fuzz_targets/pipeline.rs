//! The burst pipeline on arbitrary frames against a seeded flow table: a
//! plain session between IPv4 and IPv6 legs, an SRTP session transcrypting
//! between two suites with rtcp-mux and a VLAN on one leg, and a session
//! with one SRTP leg and one plain leg. Frames are either raw bytes or built
//! towards one of the flows (from its endpoint or another source, with valid
//! checksums, and sealed with the flow's inbound keys as the endpoint holding
//! them would send), then optionally altered.
//!
//! Invariants: no panic; every frame is forwarded, handed to the slow path or
//! dropped with a reason; a forwarded frame parses again with every length
//! field consistent, leaves from its port's MAC with TTL 64, and carries a
//! valid UDP checksum when the received one was valid (a plain flow keeps a
//! bad one bad, so corruption stays detectable end to end, and its payload
//! as received); the flows' counters add up to the verdicts.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::UdpFrame;
use mediafwd_dataplane::flow::{
    Command, Egress, Event, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media, SrtpKeys, SrtpTransform,
};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict, MAX_BURST};
use mediafwd_dataplane::srtp::{Context, MasterKey, Policy, StreamState, Suite};
use mediafwd_dataplane::stats::{DropReason, FlowDrop, FlowStats, FlowStatsArray};
use mediafwd_dataplane::wire::ethernet::{self, ethertype, MacAddr};
use mediafwd_dataplane::wire::{ipv4, ipv6, protocol, rtcp, rtp, udp};

const HEADROOM: usize = 128;
const BUF: usize = 2048;
const PORT_MACS: [MacAddr; 2] = [MacAddr([2, 0, 0, 0, 0, 0xa]), MacAddr([2, 0, 0, 0, 0, 0xb])];
const CALLER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);
const SSRCS: [u32; 3] = [0x1234_5678, 0xcafe_f00d, 0];
const FLOWS: u32 = 16;

/// One flow as the target sees it: where its packets arrive and who sends them.
#[derive(Clone, Copy)]
struct Ingoing {
    key: FlowKey,
    /// The endpoint that sends to this flow.
    remote: SocketAddr,
    vlan: Option<u16>,
    /// RTCP (its own flow or multiplexed).
    rtcp: bool,
    /// The context the endpoint seals with.
    seal: Option<usize>,
    /// The flow relays payloads as they are.
    plain: bool,
}

struct Relay {
    table: FlowTable,
    ports: Vec<PortContext>,
    stats: FlowStatsArray,
    ingoing: Vec<Ingoing>,
    /// The endpoints' inbound contexts (what they seal with).
    contexts: Vec<Arc<Context>>,
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn context(suite: Suite, fill: u8) -> Arc<Context> {
    let key_salt: Vec<u8> = (0..suite.master_key_len() + suite.master_salt_len())
        .map(|i| fill.wrapping_add((i as u8).wrapping_mul(7)))
        .collect();
    let key = MasterKey::from_key_salt(suite, &key_salt).expect("key and salt of the suite's lengths");
    Arc::new(Context::new(&Policy::new(suite, key)).expect("a valid policy"))
}

fn keys(c: &Arc<Context>) -> Option<SrtpKeys> {
    Some(SrtpKeys::new(c.clone()))
}

/// A leg of a session: its port, local and remote addresses, VLAN, the MAC
/// of its next hop (by neighbor id) and its latching.
#[derive(Clone, Copy)]
struct Leg {
    port: u16,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    vlan: Option<u16>,
    hop: u32,
    latch: LatchMode,
    strict: bool,
}

fn plus1(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() + 1)
}

impl Leg {
    fn key(&self, rtcp: bool) -> FlowKey {
        let a = if rtcp { plus1(self.local) } else { self.local };
        FlowKey::new(self.port, a.ip(), a.port())
    }

    fn egress(&self, rtcp: bool, mux: bool) -> Egress {
        let own = rtcp && !mux;
        Egress {
            port_id: self.port,
            vlan: self.vlan,
            src_mac: PORT_MACS[usize::from(self.port)],
            next_hop: self.hop,
            src: if own { plus1(self.local) } else { self.local },
            dst: self.remote.map(|r| if own { plus1(r) } else { r }),
        }
    }
}

/// Installs a session between legs `a` and `b`: flow ids from `first_id`,
/// `a_to_b` transforms what a's endpoint sends, `b_to_a` what b's sends.
#[allow(clippy::too_many_arguments)]
fn session(
    r: &mut Relay,
    first_id: u32,
    a: Leg,
    b: Leg,
    mux: bool,
    a_to_b: SrtpTransform,
    b_to_a: SrtpTransform,
    seals: [Option<usize>; 2],
) {
    for (i, (from, to, srtp)) in [(a, b, a_to_b), (b, a, b_to_a)].into_iter().enumerate() {
        let ingress = |rtcp: bool| Ingress {
            vlan: from.vlan,
            remote: from.remote.map(|x| if rtcp && !mux { plus1(x) } else { x }),
            latch: from.latch,
            strict_source: from.strict,
        };
        let id = first_id + 2 * i as u32;
        // The other direction's flows: its RTP flow, then its RTCP flow.
        let back = first_id + 2 * (1 - i as u32);
        let rtp_flow = Flow {
            id,
            clock_rate: 8000,
            media: Media::Rtp { rtcp_mux: mux },
            ingress: ingress(false),
            egress: to.egress(false, mux),
            rtcp_egress: mux.then(|| to.egress(true, mux)),
            reverse: Some(back),
        };
        let mut cmds = vec![(from.key(false), rtp_flow)];
        if !mux {
            let rtcp_flow = Flow {
                id: id + 1,
                clock_rate: 8000,
                media: Media::Rtcp,
                ingress: ingress(true),
                egress: to.egress(true, mux),
                rtcp_egress: None,
                reverse: Some(back + 1),
            };
            cmds.push((from.key(true), rtcp_flow));
        }
        for (key, flow) in cmds {
            let plain = srtp.is_none();
            let cmd = if plain {
                Command::Upsert { key, flow }
            } else {
                Command::UpsertSrtp { key, flow, srtp: srtp.clone() }
            };
            r.table.apply(&cmd).expect("the table has room");
            let remote = from.remote.unwrap_or_else(|| sa("198.18.0.99:7000"));
            for rtcp in [false, true] {
                if rtcp == (flow.media == Media::Rtcp) || (mux && rtcp) {
                    let remote = if rtcp && !mux { plus1(remote) } else { remote };
                    r.ingoing.push(Ingoing { key, remote, vlan: from.vlan, rtcp, seal: seals[i], plain });
                }
            }
        }
    }
}

impl Relay {
    fn new(opt: &Options) -> Relay {
        let mut r = Relay {
            table: FlowTable::with_capacity(FLOWS as usize, 4),
            ports: vec![
                PortContext::with_vlans(PORT_MACS[0], true, &[100]),
                PortContext::with_vlans(PORT_MACS[1], true, &[200]),
            ],
            stats: FlowStatsArray::new(FLOWS as usize),
            ingoing: Vec::new(),
            contexts: Vec::new(),
        };
        r.table.apply(&Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) }).expect("a neighbor slot");
        let callee = (!opt.callee_unresolved).then_some(CALLEE_MAC);
        r.table.apply(&Command::SetNeighbor { id: 1, mac: callee }).expect("a neighbor slot");
        let latch = [LatchMode::Off, LatchMode::Once, LatchMode::Follow][usize::from(opt.latch % 3)];
        let leg = |port: u16, local: &str, remote: Option<&str>, vlan: Option<u16>| Leg {
            port,
            local: sa(local),
            remote: remote.map(sa),
            vlan,
            hop: u32::from(port),
            latch: if port == 0 { latch } else { LatchMode::Off },
            strict: port == 1 && opt.strict,
        };
        // Plain, IPv4 caller to IPv6 callee, RTCP on its own port; the
        // caller's remote unknown when asked (latching learns it).
        let caller_remote = (!opt.caller_unknown).then_some("198.18.0.2:5000");
        session(
            &mut r,
            0,
            leg(0, "198.18.0.1:30000", caller_remote, None),
            leg(1, "[2001:db8:1::1]:40000", Some("[2001:db8:1::2]:6000"), None),
            false,
            SrtpTransform::default(),
            SrtpTransform::default(),
            [None, None],
        );
        // SRTP both ways, transcrypting, rtcp-mux, the caller on VLAN 100.
        r.contexts = vec![
            context(Suite::AesCm128HmacSha1_80, 1),
            context(Suite::AeadAes128Gcm, 2),
            context(Suite::AesCm128HmacSha1_32, 3),
            context(Suite::AeadAes256Gcm, 4),
            context(Suite::NullHmacSha1_80, 5),
            context(Suite::Aes256CmHmacSha1_80, 6),
        ];
        let c = r.contexts.clone();
        session(
            &mut r,
            4,
            leg(0, "198.18.0.1:30010", Some("198.18.0.3:5010"), Some(100)),
            leg(1, "198.19.0.1:40010", Some("198.19.0.2:6010"), None),
            true,
            SrtpTransform { unprotect: keys(&c[0]), protect: keys(&c[3]) },
            SrtpTransform { unprotect: keys(&c[1]), protect: keys(&c[2]) },
            [Some(0), Some(1)],
        );
        // SRTP caller (unencrypted SRTP), plain callee on VLAN 200.
        session(
            &mut r,
            8,
            leg(0, "198.18.0.1:30020", Some("198.18.0.4:5020"), None),
            leg(1, "198.19.0.1:40020", Some("198.19.0.3:6020"), Some(200)),
            false,
            SrtpTransform { unprotect: keys(&c[4]), protect: None },
            SrtpTransform { unprotect: None, protect: keys(&c[5]) },
            [Some(4), None],
        );
        r
    }
}

/// How the flow table is seeded: the first byte of the input.
struct Options {
    latch: u8,
    strict: bool,
    caller_unknown: bool,
    callee_unresolved: bool,
}

impl Options {
    fn parse(b: u8) -> Options {
        Options { latch: b & 3, strict: b & 4 != 0, caller_unknown: b & 8 != 0, callee_unresolved: b & 16 != 0 }
    }
}

/// A frame of the input: received as is, or built towards a flow.
enum FrameSpec<'a> {
    Raw { frame: &'a [u8], stripped_vlan: Option<u16>, headroom: u8 },
    Built(Built<'a>),
}

/// A frame built towards one of the flows.
struct Built<'a> {
    /// Which flow (modulo their number).
    flow: u8,
    /// From another source port than the flow's endpoint's.
    spoof: Option<u16>,
    /// The tag, if not the one the flow expects (0xffff: none); in the frame or stripped by the NIC.
    vlan: Option<u16>,
    stripped: bool,
    marker: bool,
    /// Sealed with the flow's inbound keys.
    seal: bool,
    /// After sealing: xor this byte of the frame (offset modulo its length).
    alter: Option<(u16, u8)>,
    /// After altering: fill the IPv4 and UDP checksums again.
    fix_checksums: bool,
    rtcp_type: u8,
    payload_type: u8,
    ssrc: u8,
    seq: u16,
    timestamp: u32,
    headroom: u8,
    payload: &'a [u8],
}

/// The input, after its options byte: records of a header byte (bit 7: a
/// built frame, else raw; bit 6: the last frame of its burst; bits 0-1: the
/// burst's receiving port, modulo 3, read from its first record), a
/// big-endian 16-bit length and that many bytes:
///
/// ```text
/// raw:   headroom, stripped VLAN (2 bytes, bit 15: present), the frame
/// built: flow, flags (1 spoof, 2 VLAN, 4 stripped, 8 marker, 16 seal, 32 alter,
///        64 fix checksums), spoof port (2), VLAN (2), RTCP type, payload type,
///        SSRC (index), sequence (2), timestamp (4), alter offset (2), alter xor,
///        headroom, the payload
/// ```
fn bursts(mut data: &[u8]) -> Vec<(u16, Vec<FrameSpec<'_>>)> {
    let mut out: Vec<(u16, Vec<FrameSpec<'_>>)> = Vec::new();
    let mut open = false;
    while data.len() >= 3 && out.len() <= 8 {
        let h = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(data.len() - 3);
        let rec = &data[3..3 + len];
        data = &data[3 + len..];
        if !open {
            out.push((u16::from(h & 3) % 3, Vec::new()));
            open = true;
        }
        let frames = &mut out.last_mut().expect("a burst is open").1;
        let spec = if h & 0x80 == 0 {
            let Some((head, frame)) = rec.split_at_checked(3) else { continue };
            let tag = u16::from_be_bytes([head[1], head[2]]);
            FrameSpec::Raw { frame, stripped_vlan: (tag & 0x8000 != 0).then_some(tag & 0x0fff), headroom: head[0] }
        } else {
            let Some((b, payload)) = rec.split_at_checked(19) else { continue };
            let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
            let f = b[1];
            FrameSpec::Built(Built {
                flow: b[0],
                spoof: (f & 1 != 0).then(|| u16_at(2)),
                vlan: (f & 2 != 0).then(|| u16_at(4)),
                stripped: f & 4 != 0,
                marker: f & 8 != 0,
                seal: f & 16 != 0,
                alter: (f & 32 != 0).then(|| (u16_at(15), b[17])),
                fix_checksums: f & 64 != 0,
                rtcp_type: b[6],
                payload_type: b[7],
                ssrc: b[8],
                seq: u16_at(9),
                timestamp: u32::from_be_bytes([b[11], b[12], b[13], b[14]]),
                headroom: b[18],
                payload,
            })
        };
        if frames.len() < MAX_BURST {
            frames.push(spec);
        }
        open = h & 0x40 == 0 && frames.len() < MAX_BURST;
    }
    out
}

/// The media payload of a built frame: an RTP or RTCP packet, sealed with the
/// flow's inbound keys when asked and the flow has them.
fn media(
    b: &Built,
    flow: &Ingoing,
    contexts: &[Arc<Context>],
    peers: &mut HashMap<(usize, u32), StreamState>,
) -> Vec<u8> {
    let ssrc = SSRCS[usize::from(b.ssrc) % SSRCS.len()];
    let body = &b.payload[..b.payload.len().min(1200)];
    let mut p = if flow.rtcp {
        let words = body.len() / 4;
        let mut p = vec![0x81, 200 + b.rtcp_type % 7, 0, 0];
        p[2..4].copy_from_slice(&((words + 1) as u16).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&body[..words * 4]);
        p
    } else {
        let mut p = vec![0u8; rtp::HEADER_LEN];
        let pt = b.payload_type & 0x7f;
        // On an rtcp-mux port, RTP payload types 64-95 with the marker read as RTCP.
        let pt = if (64..96).contains(&pt) { pt - 64 } else { pt };
        rtp::Repr { marker: b.marker, payload_type: pt, sequence_number: b.seq, timestamp: b.timestamp, ssrc }
            .emit(&mut p);
        p.extend_from_slice(body);
        p
    };
    if let (true, Some(c)) = (b.seal, flow.seal) {
        let ctx = &contexts[c];
        let stream = peers.entry((c, ssrc)).or_default();
        let len = p.len();
        p.resize(len + ctx.srtcp_overhead().max(ctx.srtp_overhead()), 0);
        let sealed =
            if flow.rtcp { ctx.protect_rtcp(stream, &mut p, len) } else { ctx.protect_rtp(stream, &mut p, len) };
        p.truncate(sealed.unwrap_or(len));
    }
    p
}

/// Offsets of the IP and UDP headers of an Ethernet frame carrying UDP.
fn udp_at(frame: &[u8]) -> Option<(usize, usize, bool)> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let l3 = eth.header_len();
    match eth.ethertype() {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(&frame[l3..]).ok()?;
            (ip.protocol() == protocol::UDP).then(|| (l3, l3 + ip.header_len(), true))
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(&frame[l3..]).ok()?;
            (ip.next_header() == protocol::UDP).then_some((l3, l3 + ipv6::HEADER_LEN, false))
        }
        _ => None,
    }
}

/// The UDP checksum of a frame: `Some(true)` valid (or none sent over
/// IPv4), `Some(false)` invalid, `None` not a UDP frame.
fn udp_checksum(frame: &[u8]) -> Option<(bool, u16)> {
    let (l3, l4, v4) = udp_at(frame)?;
    let d = udp::Datagram::new_checked(&frame[l4..]).ok()?;
    let ok = if v4 {
        let ip = ipv4::Packet::new_unchecked(&frame[l3..]);
        let d = udp::Datagram::new_checked(&ip.payload()[..]).ok()?;
        d.verify_checksum_v4(ip.src_addr(), ip.dst_addr())
    } else {
        let ip = ipv6::Packet::new_unchecked(&frame[l3..]);
        let d = udp::Datagram::new_checked(ip.payload()).ok()?;
        d.verify_checksum_v6(&ip.src_addr(), &ip.dst_addr())
    };
    Some((ok, d.checksum()))
}

/// Fills the IPv4 header checksum and the UDP checksum of `frame` again.
fn fix_checksums(frame: &mut [u8]) {
    let Some((l3, l4, v4)) = udp_at(frame) else { return };
    let Ok(len) = udp::Datagram::new_checked(&frame[l4..]).map(|d| usize::from(d.len())) else { return };
    let (head, rest) = frame.split_at_mut(l4);
    let mut d = udp::Datagram::new_unchecked(&mut rest[..len]);
    if v4 {
        let mut ip = ipv4::Packet::new_unchecked(&mut head[l3..]);
        ip.fill_checksum();
        d.fill_checksum_v4(ip.src_addr(), ip.dst_addr());
    } else {
        let ip = ipv6::Packet::new_unchecked(&head[l3..]);
        d.fill_checksum_v6(&ip.src_addr(), &ip.dst_addr());
    }
}

fn build(b: &Built, r: &Relay, peers: &mut HashMap<(usize, u32), StreamState>) -> (Vec<u8>, Option<u16>, usize) {
    let flow = r.ingoing[usize::from(b.flow) % r.ingoing.len()];
    let payload = media(b, &flow, &r.contexts, peers);
    let mut src = flow.remote;
    if let Some(s) = b.spoof {
        src.set_port(s);
    }
    let dst = SocketAddr::new(flow.key.addr(), flow.key.udp_port());
    let src = match (src.ip(), dst.ip()) {
        (IpAddr::V4(_), IpAddr::V6(_)) => sa("[2001:db8:1::9]:6000"),
        (IpAddr::V6(_), IpAddr::V4(_)) => sa("198.18.0.9:5000"),
        _ => src,
    };
    let vlan = match b.vlan {
        Some(0xffff) => None,
        Some(v) => Some(v & 0x0fff),
        None => flow.vlan,
    };
    let port = usize::from(flow.key.port_id()) % PORT_MACS.len();
    let f = UdpFrame { src_mac: CALLER_MAC, dst_mac: PORT_MACS[port], vlan: vlan.filter(|_| !b.stripped), src, dst };
    let mut frame = vec![0u8; f.header_len() + payload.len()];
    f.emit(&mut frame, &payload);
    if let Some((at, x)) = b.alter {
        let at = usize::from(at) % frame.len();
        frame[at] ^= x;
    }
    if b.fix_checksums {
        fix_checksums(&mut frame);
    }
    (frame, vlan.filter(|_| b.stripped), usize::from(b.headroom) % (HEADROOM + 1))
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, data)) = data.split_first() else { return };
    let mut r = Relay::new(&Options::parse(options));
    let mut peers = HashMap::new();
    for (n, (rx_port, specs)) in bursts(data).into_iter().enumerate() {
        let mut frames = Vec::new();
        for spec in &specs {
            frames.push(match spec {
                FrameSpec::Raw { frame, stripped_vlan, headroom } => {
                    (frame[..frame.len().min(1600)].to_vec(), *stripped_vlan, usize::from(*headroom) % (HEADROOM + 1))
                }
                FrameSpec::Built(b) => build(b, &r, &mut peers),
            });
        }
        let received: Vec<Vec<u8>> = frames.iter().map(|f| f.0.clone()).collect();
        let mut bufs: Vec<Vec<u8>> = frames
            .iter()
            .map(|(f, _, headroom)| {
                let mut b = vec![0u8; BUF];
                b[*headroom..*headroom + f.len()].copy_from_slice(f);
                b
            })
            .collect();
        let mut pkts: Vec<PacketBuf<'_>> =
            bufs.iter_mut().zip(&frames).map(|(b, (f, _, h))| PacketBuf::new(b, *h, f.len())).collect();
        let stripped: Vec<Option<u16>> = frames.iter().map(|f| f.1).collect();
        let before: Vec<FlowStats> = (0..FLOWS).map(|id| r.stats.snapshot(id)).collect();
        let mut verdicts = vec![Verdict::Drop(DropReason::Runt); pkts.len()];
        let mut events = Vec::new();
        let now_us = 20_000 * n as u64;
        let mut p = Pipeline {
            worker: 0,
            table: &mut r.table,
            ports: &r.ports,
            flow_stats: &r.stats,
            now_tsc: now_us * 3,
            now_us,
        };
        p.process_burst(&mut pkts, rx_port, &stripped, &mut verdicts, &mut |e| events.push(e));
        if verbose() {
            eprintln!("burst {n} on port {rx_port}: {verdicts:?}");
        }

        for e in &events {
            let Event::Latched { flow, .. } = e else { continue };
            assert!(*flow < FLOWS, "an event names a flow that does not exist: {e:?}");
        }
        let mut forwarded = 0u64;
        let mut dropped = [0u64; FlowDrop::COUNT];
        let mut wrong_vlan = 0u64;
        for ((pkt, v), received) in pkts.iter().zip(&verdicts).zip(&received) {
            match *v {
                Verdict::Forward { port_id } => {
                    forwarded += 1;
                    check_forwarded(pkt.data(), port_id, received, &r);
                }
                Verdict::Drop(reason) => {
                    if let Some(d) = reason.flow_drop() {
                        dropped[d as usize] += 1;
                    }
                    wrong_vlan += u64::from(reason == DropReason::WrongVlan);
                }
                Verdict::SlowPath(punt) => {
                    // The policer's view of the frame is the classifier's: a
                    // sender named by 1 to 16 bytes.
                    assert!(!punt.source().is_empty() && punt.source().len() <= 16, "{punt:?}");
                }
            }
        }
        // The flows' counters moved by what the verdicts say.
        let after: Vec<FlowStats> = (0..FLOWS).map(|id| r.stats.snapshot(id)).collect();
        let delta =
            |f: &dyn Fn(&FlowStats) -> u64| -> u64 { before.iter().zip(&after).map(|(b, a)| f(a) - f(b)).sum() };
        assert_eq!(delta(&|s| s.packets), forwarded, "packets counted on flows vs forwarded: {verdicts:?}");
        assert!(delta(&|s| s.rtcp_packets) <= forwarded);
        for d in FlowDrop::ALL {
            let counted = delta(&|s| s.dropped(d));
            if d == FlowDrop::WrongVlan {
                // A tag the port does not carry is dropped before any flow is known.
                assert!(counted <= wrong_vlan, "{d:?}: {counted} counted, {wrong_vlan} dropped: {verdicts:?}");
            } else {
                assert_eq!(counted, dropped[d as usize], "{d:?} counted on flows vs dropped: {verdicts:?}");
            }
        }
    }
});

/// `FUZZ_VERBOSE=1` in the environment: print every burst's verdicts
/// (to see what a seed or a crashing input does).
fn verbose() -> bool {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some())
}

/// A forwarded frame parses again with consistent lengths and valid
/// checksums, and leaves as a relay sends it.
fn check_forwarded(out: &[u8], port_id: u16, received: &[u8], r: &Relay) {
    let eth = ethernet::Frame::new_checked(out).expect("a forwarded frame is Ethernet");
    let port = r.ports.get(usize::from(port_id)).expect("forwarded on a port that exists");
    assert_eq!(eth.src_addr(), port.mac, "leaves from its port's MAC");
    assert!(eth.dst_addr() == CALLER_MAC || eth.dst_addr() == CALLEE_MAC, "to a resolved neighbor");
    let l3 = eth.payload();
    let (v4, udp_bytes) = match eth.ethertype() {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(l3).expect("IPv4 header");
            assert!(ip.verify_checksum(), "IPv4 header checksum");
            assert_eq!(usize::from(ip.total_len()), l3.len(), "IPv4 total length is the frame's");
            assert_eq!((ip.ttl(), ip.protocol(), ip.is_fragment()), (64, protocol::UDP, false));
            (true, &l3[ip.header_len()..])
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(l3).expect("IPv6 header");
            assert_eq!(usize::from(ip.payload_len()) + ipv6::HEADER_LEN, l3.len(), "IPv6 payload length");
            assert_eq!((ip.hop_limit(), ip.next_header()), (64, protocol::UDP));
            (false, &l3[ipv6::HEADER_LEN..])
        }
        t => panic!("forwarded with ethertype {t:#06x}"),
    };
    let d = udp::Datagram::new_checked(udp_bytes).expect("UDP header");
    assert_eq!(usize::from(d.len()), udp_bytes.len(), "UDP length is the IP payload's");
    let (out_ok, out_sum) = udp_checksum(out).expect("a UDP frame");
    if !v4 {
        assert_ne!(out_sum, 0, "a UDP checksum is mandatory over IPv6");
    }
    let (in_ok, in_sum) = udp_checksum(received).expect("only UDP is forwarded");
    if in_ok {
        assert!(out_ok, "a valid UDP checksum ({in_sum:#06x}) became invalid ({out_sum:#06x})");
    }
    // A plain flow: the payload as received, and a bad checksum stays bad.
    let (_, l4, _) = udp_at(received).expect("only UDP is forwarded");
    let rd = udp::Datagram::new_checked(&received[l4..]).expect("a UDP header");
    let plain = r.ingoing.iter().find(|f| f.plain && udp_at(received).is_some() && f.key.udp_port() == rd.dst_port());
    if plain.is_some() {
        assert_eq!(d.payload(), rd.payload(), "a plain flow relays the payload as received");
        if !in_ok {
            assert!(!out_ok, "a bad UDP checksum was made good by the relay");
        }
    }
    if let Ok(p) = rtcp::Packet::new_checked(d.payload()) {
        let _ = p.sender_ssrc();
    }
}
