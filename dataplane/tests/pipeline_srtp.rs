//! SRTP and SRTCP through the per-packet pipeline, on byte buffers: RTP to
//! SRTP and back, transcrypt between keys and suites, tampered, replayed and
//! unknown packets dropped and counted with nothing forwarded, a rekey across a
//! sequence number wrap, RTCP on its own port and multiplexed, and bursts that
//! mix it all.
//!
//! The endpoints are played by independent SRTP contexts on the test side:
//! what the relay sends an SRTP leg must unprotect with that leg's keys, and
//! what an SRTP leg sends is protected with them.

use core::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mediafwd_dataplane::buf::PacketBuf;
use mediafwd_dataplane::classify::PortContext;
use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{
    Command, Egress, Event, Flow, FlowKey, FlowTable, Ingress, LatchMode, Media, SrtpKeys, SrtpTransform, StreamBoard,
    SSRCS_PER_FLOW,
};
use mediafwd_dataplane::pipeline::{Pipeline, Verdict, MAX_BURST};
use mediafwd_dataplane::srtp::{Context, MasterKey, Mki, Policy, SrtpError, StreamState, Suite};
use mediafwd_dataplane::stats::{DropReason, FlowDrop, FlowStatsArray};
use mediafwd_dataplane::wire::ethernet::{self, MacAddr};
use mediafwd_dataplane::wire::{ipv4, udp};

const HEADROOM: usize = 128;
const BUF: usize = 2048;
const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);
const CALLER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const CALLEE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);
const SSRC: u32 = 0x1234_5678;
// Flow ids: A RTP, A RTCP, B RTP, B RTCP.
const A_RTP: u32 = 1;
const A_RTCP: u32 = 2;
const B_RTP: u32 = 3;
const B_RTCP: u32 = 4;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn context(suite: Suite, fill: u8) -> Arc<Context> {
    let key_salt: Vec<u8> =
        (0..suite.master_key_len() + suite.master_salt_len()).map(|i| fill.wrapping_add(i as u8 * 3)).collect();
    Arc::new(Context::new(&Policy::new(suite, MasterKey::from_key_salt(suite, &key_salt).unwrap())).unwrap())
}

fn keys(c: &Arc<Context>) -> Option<SrtpKeys> {
    Some(SrtpKeys::new(c.clone()))
}

/// An endpoint's view of one SRTP direction: a context and a stream state.
struct Peer {
    ctx: Arc<Context>,
    stream: StreamState,
}

impl Peer {
    fn new(ctx: &Arc<Context>) -> Self {
        Peer { ctx: ctx.clone(), stream: StreamState::new() }
    }

    fn protect(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut b = plain.to_vec();
        b.resize(plain.len() + self.ctx.srtcp_overhead(), 0);
        let n = self.ctx.protect_rtp(&mut self.stream, &mut b, plain.len()).unwrap();
        b.truncate(n);
        b
    }

    fn protect_rtcp(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut b = plain.to_vec();
        b.resize(plain.len() + self.ctx.srtcp_overhead(), 0);
        let n = self.ctx.protect_rtcp(&mut self.stream, &mut b, plain.len()).unwrap();
        b.truncate(n);
        b
    }

    fn unprotect(&mut self, sealed: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut b = sealed.to_vec();
        let n = self.ctx.unprotect_rtp(&mut self.stream, &mut b, sealed.len())?;
        b.truncate(n);
        Ok(b)
    }

    fn unprotect_rtcp(&mut self, sealed: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut b = sealed.to_vec();
        let n = self.ctx.unprotect_rtcp(&mut self.stream, &mut b, sealed.len())?;
        b.truncate(n);
        Ok(b)
    }
}

fn rtp_with(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 200];
    let n = rtp_packet(&mut b, ssrc, seq, u32::from(seq) * 160, 0, 160, seq as u8);
    b.truncate(n);
    b
}

fn rtp(seq: u16) -> Vec<u8> {
    rtp_with(SSRC, seq)
}

/// A receiver report from `SSRC` with one report block.
fn rtcp(n: u8) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..24).map(|i| i ^ n));
    p
}

/// Leg A on port 0 faces the caller, leg B on port 1 the callee; RTCP on
/// RTP + 1 unless multiplexed.
struct Relay {
    /// The worker this relay plays.
    worker: u16,
    table: FlowTable,
    ports: Vec<PortContext>,
    stats: FlowStatsArray,
    a_local: SocketAddr,
    b_local: SocketAddr,
    caller: SocketAddr,
    callee: SocketAddr,
    mux: bool,
    latch: LatchMode,
    /// Where the last forwarded packet went, and its UDP checksum.
    last_dst: Option<SocketAddr>,
    last_udp_checksum: u16,
}

impl Relay {
    fn new(mux: bool) -> Self {
        let mut r = Relay {
            worker: 0,
            table: FlowTable::with_capacity(64, 8),
            ports: vec![PortContext::new(MAC_A), PortContext::new(MAC_B)],
            stats: FlowStatsArray::new(64),
            a_local: sa("198.18.0.1:30000"),
            b_local: sa("198.19.0.1:40000"),
            caller: sa("198.18.0.2:5000"),
            callee: sa("198.19.0.2:6000"),
            mux,
            latch: LatchMode::Off,
            last_dst: None,
            last_udp_checksum: 0,
        };
        r.table.apply(&Command::SetNeighbor { id: 0, mac: Some(CALLER_MAC) }).unwrap();
        r.table.apply(&Command::SetNeighbor { id: 1, mac: Some(CALLEE_MAC) }).unwrap();
        r
    }

    fn rtcp_of(&self, a: SocketAddr) -> SocketAddr {
        if self.mux {
            a
        } else {
            SocketAddr::new(a.ip(), a.port() + 1)
        }
    }

    fn key(port: u16, a: SocketAddr) -> FlowKey {
        FlowKey::new(port, a.ip(), a.port())
    }

    fn egress(&self, to_b: bool, rtcp: bool) -> Egress {
        let (port_id, mac, next_hop, local, remote) =
            if to_b { (1, MAC_B, 1, self.b_local, self.callee) } else { (0, MAC_A, 0, self.a_local, self.caller) };
        let (src, dst) = if rtcp { (self.rtcp_of(local), self.rtcp_of(remote)) } else { (local, remote) };
        Egress { port_id, vlan: None, src_mac: mac, next_hop, src, dst: Some(dst) }
    }

    /// Installs the session: `a_to_b` transforms what the caller sends,
    /// `b_to_a` what the callee sends.
    fn install(&mut self, a_to_b: &SrtpTransform, b_to_a: &SrtpTransform) {
        let mut cmds = Vec::new();
        for (to_b, srtp) in [(true, a_to_b), (false, b_to_a)] {
            let (port, local, remote, ids) = if to_b {
                (0, self.a_local, self.caller, (A_RTP, A_RTCP))
            } else {
                (1, self.b_local, self.callee, (B_RTP, B_RTCP))
            };
            let peer_ids = if to_b { (B_RTP, B_RTCP) } else { (A_RTP, A_RTCP) };
            let ingress =
                |r: SocketAddr| Ingress { vlan: None, remote: Some(r), latch: self.latch, strict_source: false };
            let flow = Flow {
                id: ids.0,
                media: Media::Rtp { rtcp_mux: self.mux },
                ingress: ingress(remote),
                egress: self.egress(to_b, false),
                rtcp_egress: self.mux.then(|| self.egress(to_b, true)),
                reverse: Some(peer_ids.0),
                clock_rate: 8000,
            };
            cmds.push(Command::UpsertSrtp { key: Self::key(port, local), flow, srtp: srtp.clone() });
            if !self.mux {
                let flow = Flow {
                    id: ids.1,
                    media: Media::Rtcp,
                    ingress: ingress(self.rtcp_of(remote)),
                    egress: self.egress(to_b, true),
                    rtcp_egress: None,
                    reverse: Some(peer_ids.1),
                    clock_rate: 8000,
                };
                cmds.push(Command::UpsertSrtp { key: Self::key(port, self.rtcp_of(local)), flow, srtp: srtp.clone() });
            }
        }
        for c in &cmds {
            self.table.apply(c).unwrap();
        }
    }

    fn frame_from(&self, caller: bool, rtcp: bool, payload: &[u8]) -> (Vec<u8>, u16) {
        let (src_mac, dst_mac, src, dst, port) = if caller {
            (CALLER_MAC, MAC_A, self.caller, self.a_local, 0)
        } else {
            (CALLEE_MAC, MAC_B, self.callee, self.b_local, 1)
        };
        let (src, dst) = if rtcp { (self.rtcp_of(src), self.rtcp_of(dst)) } else { (src, dst) };
        let mut buf = vec![0u8; 1600];
        let n = UdpFrame { src_mac, dst_mac, vlan: None, src, dst }.emit(&mut buf, payload);
        buf.truncate(n);
        (buf, port)
    }

    /// Runs a burst of `(from caller?, rtcp?, payload)`; returns each verdict
    /// with the relayed UDP payload (checked: headers, lengths, checksums).
    fn burst(&mut self, packets: &[(bool, bool, Vec<u8>)], now_us: u64) -> (Vec<(Verdict, Vec<u8>)>, Vec<Event>) {
        assert!(packets.len() <= MAX_BURST);
        let port = self.frame_from(packets[0].0, false, &[0x80]).1;
        let frames: Vec<Vec<u8>> = packets
            .iter()
            .map(|(caller, rtcp, p)| {
                let (f, p) = self.frame_from(*caller, *rtcp, p);
                assert_eq!(p, port, "one burst, one port");
                f
            })
            .collect();
        let mut bufs: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut b = vec![0u8; BUF];
                b[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
                b
            })
            .collect();
        let mut pkts: Vec<PacketBuf<'_>> =
            bufs.iter_mut().zip(&frames).map(|(b, f)| PacketBuf::new(b, HEADROOM, f.len())).collect();
        let mut verdicts = vec![Verdict::Drop(DropReason::Runt); pkts.len()];
        let mut events = Vec::new();
        let mut p = Pipeline {
            worker: self.worker,
            table: &mut self.table,
            ports: &self.ports,
            flow_stats: &self.stats,
            now_tsc: now_us + 1,
            now_us,
        };
        let stripped = vec![None; pkts.len()];
        p.process_burst(&mut pkts, port, &stripped, &mut verdicts, &mut |e| events.push(e));
        let mut out = Vec::new();
        for (pkt, v) in pkts.iter().zip(verdicts) {
            match v {
                Verdict::Forward { port_id } => {
                    let (payload, dst) = relayed(pkt.data(), port_id);
                    self.last_dst = Some(dst);
                    self.last_udp_checksum = u16::from_be_bytes([pkt.data()[40], pkt.data()[41]]);
                    out.push((v, payload));
                }
                _ => out.push((v, Vec::new())),
            }
        }
        (out, events)
    }

    /// One packet from the caller (or the callee).
    fn send(&mut self, caller: bool, rtcp: bool, payload: &[u8]) -> (Verdict, Vec<u8>) {
        self.burst(&[(caller, rtcp, payload.to_vec())], 0).0.remove(0)
    }

    fn drops(&self, id: u32, d: FlowDrop) -> u64 {
        self.stats.snapshot(id).dropped(d)
    }
}

/// The UDP payload of a relayed frame and where it goes, after checking that
/// its headers and checksums hold and that it goes out of the right leg.
fn relayed(out: &[u8], port_id: u16) -> (Vec<u8>, SocketAddr) {
    let eth = ethernet::Frame::new_checked(out).expect("ethernet");
    let expected_dst = if port_id == 1 { CALLEE_MAC } else { CALLER_MAC };
    assert_eq!(eth.dst_addr(), expected_dst);
    let l3 = &out[eth.header_len()..];
    let ip = ipv4::Packet::new_checked(l3).expect("ipv4");
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    assert_eq!(ip.total_len() as usize, l3.len(), "IP length is the new length");
    let u = udp::Datagram::new_checked(ip.payload()).expect("udp");
    assert_eq!(u.len() as usize, ip.payload().len(), "UDP length is the new length");
    // 0 ("none") for SRTP out over IPv4: its tag covers the payload.
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()), "UDP checksum over the new payload");
    (u.payload().to_vec(), SocketAddr::new(IpAddr::V4(ip.dst_addr()), u.dst_port()))
}

fn forwarded(v: &(Verdict, Vec<u8>)) -> &[u8] {
    assert!(matches!(v.0, Verdict::Forward { .. }), "{:?}", v.0);
    &v.1
}

/// Leg B speaks SRTP with `b_in` (what the callee sends) and `b_out` (what it
/// receives); leg A plain RTP.
fn srtp_callee(mux: bool, b_in: &Arc<Context>, b_out: &Arc<Context>) -> Relay {
    let mut r = Relay::new(mux);
    r.install(
        &SrtpTransform { unprotect: None, protect: keys(b_out) },
        &SrtpTransform { unprotect: keys(b_in), protect: None },
    );
    r
}

#[test]
fn rtp_to_srtp_and_srtp_to_rtp_give_back_the_original() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 1), context(Suite::AesCm128HmacSha1_80, 2));
    let mut r = srtp_callee(false, &b_in, &b_out);
    let (mut callee_rx, mut callee_tx) = (Peer::new(&b_out), Peer::new(&b_in));
    for seq in [100u16, 101, 103, 102] {
        let plain = rtp(seq);
        // Caller -> callee: protected with the callee's keys.
        let out = r.send(true, false, &plain);
        let sealed = forwarded(&out);
        assert_eq!(sealed.len(), plain.len() + 10);
        assert_eq!(r.last_udp_checksum, 0, "SRTP over IPv4: the tag covers the payload");
        assert_eq!(callee_rx.unprotect(sealed).unwrap(), plain);
        // Callee -> caller: what the callee protected arrives in clear, with a
        // UDP checksum over the clear payload.
        let out = r.send(false, false, &callee_tx.protect(&plain));
        assert_eq!(forwarded(&out), &plain[..]);
        assert_ne!(r.last_udp_checksum, 0);
    }
    let a = r.stats.snapshot(A_RTP);
    let b = r.stats.snapshot(B_RTP);
    assert_eq!((a.packets, a.bytes, b.packets, b.bytes), (4, 4 * 172, 4, 4 * 182));
    assert_eq!((b.rtp_received, b.ssrc), (4, SSRC));

    // Protect then unprotect through the relay itself: a callee echoing what it
    // received gets the caller's packet back in clear.
    let mut r = srtp_callee(false, &b_out, &b_out);
    let plain = rtp(7);
    let out = r.send(true, false, &plain);
    let echoed = forwarded(&out).to_vec();
    assert_eq!(forwarded(&r.send(false, false, &echoed)), &plain[..]);
}

#[test]
fn transcrypt_between_suites_and_keys() {
    let a_in = context(Suite::AesCm128HmacSha1_80, 3);
    let b_out = context(Suite::AeadAes128Gcm, 4);
    let b_in = context(Suite::Aes256CmHmacSha1_32, 5);
    let a_out = context(Suite::AesCm128HmacSha1_32, 6);
    let mut r = Relay::new(false);
    r.install(
        &SrtpTransform { unprotect: keys(&a_in), protect: keys(&b_out) },
        &SrtpTransform { unprotect: keys(&b_in), protect: keys(&a_out) },
    );
    let (mut caller_tx, mut caller_rx) = (Peer::new(&a_in), Peer::new(&a_out));
    let (mut callee_tx, mut callee_rx) = (Peer::new(&b_in), Peer::new(&b_out));
    for seq in 0..20u16 {
        let plain = rtp(seq);
        let out = r.send(true, false, &caller_tx.protect(&plain));
        assert_eq!(forwarded(&out).len(), plain.len() + 16, "GCM tag");
        assert_eq!(callee_rx.unprotect(forwarded(&out)).unwrap(), plain);
        let out = r.send(false, false, &callee_tx.protect(&plain));
        assert_eq!(caller_rx.unprotect(forwarded(&out)).unwrap(), plain);
        let n = rtcp(seq as u8);
        let out = r.send(true, true, &caller_tx.protect_rtcp(&n));
        assert_eq!(callee_rx.unprotect_rtcp(forwarded(&out)).unwrap(), n);
        let out = r.send(false, true, &callee_tx.protect_rtcp(&n));
        assert_eq!(caller_rx.unprotect_rtcp(forwarded(&out)).unwrap(), n);
    }
    assert_eq!(r.stats.snapshot(A_RTCP).rtcp_packets, 20);
    assert_eq!(r.stats.snapshot(B_RTCP).packets, 20);
}

#[test]
fn tampered_packets_are_dropped_counted_and_reported_once_a_second() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 7), context(Suite::AesCm128HmacSha1_80, 8));
    let mut r = Relay::new(false);
    r.latch = LatchMode::Follow;
    r.install(
        &SrtpTransform { unprotect: None, protect: keys(&b_out) },
        &SrtpTransform { unprotect: keys(&b_in), protect: None },
    );
    let mut callee = Peer::new(&b_in);
    let good = callee.protect(&rtp(1));
    let mut forged = good.clone();
    forged[40] ^= 0x20;

    let (out, events) = r.burst(&[(false, false, forged.clone())], 1_000);
    assert_eq!(out[0].0, Verdict::Drop(DropReason::SrtpAuth));
    match events[..] {
        [Event::SrtpAuthFailures { flow, count, .. }] => assert_eq!((flow, count), (B_RTP, 1)),
        ref e => panic!("{e:?}"),
    }
    // Within the second: counted, not reported.
    let (out, events) = r.burst(&[(false, false, forged.clone()), (false, false, forged.clone())], 500_000);
    assert!(out.iter().all(|o| o.0 == Verdict::Drop(DropReason::SrtpAuth)));
    assert!(events.is_empty(), "{events:?}");
    // The genuine packet still authenticates: the failures moved nothing.
    let (out, _) = r.burst(&[(false, false, good.clone())], 600_000);
    assert_eq!(forwarded(&out[0]), &rtp(1)[..]);
    // A second later, the next failure reports the three since the last report
    // (a later index: the first one is taken now, and replays are refused first).
    let mut forged = callee.protect(&rtp(2));
    forged[40] ^= 0x20;
    let (_, events) = r.burst(&[(false, false, forged)], 1_001_000);
    assert!(matches!(events[..], [Event::SrtpAuthFailures { count: 3, .. }]), "{events:?}");
    assert_eq!(r.drops(B_RTP, FlowDrop::SrtpAuth), 4);
    assert_eq!(r.stats.snapshot(B_RTP).packets, 1);

    // A forged packet from another address does not move the latching leg.
    let callee_addr = r.callee;
    r.callee = sa("198.19.0.9:7777");
    let mut stray = callee.protect(&rtp(3));
    stray[30] ^= 1;
    let (out, events) = r.burst(&[(false, false, stray)], 3_000_000);
    assert_eq!(out[0].0, Verdict::Drop(DropReason::SrtpAuth));
    assert!(!events.iter().any(|e| matches!(e, Event::Latched { .. })), "{events:?}");
    r.callee = callee_addr;
    forwarded(&r.send(true, false, &rtp(9)));
    assert_eq!(r.last_dst, Some(callee_addr), "the caller's media still goes to the callee");
}

#[test]
fn replayed_and_too_old_packets_are_dropped() {
    let (b_in, b_out) = (context(Suite::AeadAes256Gcm, 9), context(Suite::AeadAes256Gcm, 10));
    let mut r = srtp_callee(false, &b_in, &b_out);
    let mut callee = Peer::new(&b_in);
    let first = callee.protect(&rtp(1000));
    assert_eq!(forwarded(&r.send(false, false, &first)), &rtp(1000)[..]);
    assert_eq!(r.send(false, false, &first).0, Verdict::Drop(DropReason::SrtpReplay));
    for seq in 1001..1200 {
        forwarded(&r.send(false, false, &callee.protect(&rtp(seq))));
    }
    let mut late = Peer::new(&b_in);
    assert_eq!(r.send(false, false, &late.protect(&rtp(1001))).0, Verdict::Drop(DropReason::SrtpTooOld));
    assert_eq!((r.drops(B_RTP, FlowDrop::SrtpReplay), r.drops(B_RTP, FlowDrop::SrtpTooOld)), (1, 1));

    // SRTCP replays too.
    let sr = callee.protect_rtcp(&rtcp(1));
    forwarded(&r.send(false, true, &sr));
    assert_eq!(r.send(false, true, &sr).0, Verdict::Drop(DropReason::SrtpReplay));
    assert_eq!(r.drops(B_RTCP, FlowDrop::SrtpReplay), 1);

    // A duplicate of plain RTP is not protected twice under the same index.
    assert_eq!(forwarded(&r.send(true, false, &rtp(5))).len(), 172 + 16);
    assert_eq!(r.send(true, false, &rtp(5)).0, Verdict::Drop(DropReason::SrtpReplay));
}

#[test]
fn a_rekey_mid_stream_keeps_the_rollover_counter_across_the_wrap() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (in1, out1) = (context(suite, 11), context(suite, 12));
    let mut r = srtp_callee(false, &in1, &out1);
    let (mut callee_tx, mut callee_rx) = (Peer::new(&in1), Peer::new(&out1));
    let mut seq = 65530u16;
    fn step(r: &mut Relay, callee_tx: &mut Peer, callee_rx: &mut Peer, seq: &mut u16) {
        let plain = rtp(*seq);
        assert_eq!(forwarded(&r.send(false, false, &callee_tx.protect(&plain))), &plain[..], "seq {seq}");
        assert_eq!(callee_rx.unprotect(forwarded(&r.send(true, false, &plain))).unwrap(), plain, "seq {seq}");
        *seq = seq.wrapping_add(1);
    }
    for _ in 0..3 {
        step(&mut r, &mut callee_tx, &mut callee_rx, &mut seq);
    }
    // New keys both ways (an UpdateLeg); the endpoint keeps its rollover counters.
    let (in2, out2) = (context(suite, 13), context(suite, 14));
    r.install(
        &SrtpTransform { unprotect: None, protect: keys(&out2) },
        &SrtpTransform { unprotect: keys(&in2), protect: None },
    );
    callee_tx.ctx = in2.clone();
    callee_rx.ctx = out2.clone();
    for _ in 0..10 {
        step(&mut r, &mut callee_tx, &mut callee_rx, &mut seq);
    }
    assert_eq!((callee_tx.stream.roc(), callee_rx.stream.roc()), (1, 1));
    // Packets still under the old key fail now.
    let mut old = Peer::new(&in1);
    old.stream = callee_tx.stream.clone();
    assert_eq!(r.send(false, false, &old.protect(&rtp(seq))).0, Verdict::Drop(DropReason::SrtpAuth));
    let entry = r.table.get(&FlowKey::new(1, r.b_local.ip(), r.b_local.port())).unwrap();
    let (ssrc, rx, _) = entry.srtp.as_ref().unwrap().streams(r.table.srtp()).next().unwrap();
    assert_eq!((ssrc, rx.unwrap().roc()), (SSRC, 1));
}

/// Issue: RSS after a NAT rebinding moves a stream to another worker. The
/// stream's states (the one it is unprotected with and the one it is
/// protected with) go along: past a sequence number wrap, the new worker
/// authenticates and decrypts with the right rollover counter, sends it, and
/// refuses what the old worker accepted or protected; and back again.
#[test]
fn a_stream_moved_to_another_worker_keeps_its_rollover_counter_and_replay_windows() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (b_in, b_out) = (context(suite, 21), context(suite, 22));
    let board = StreamBoard::new(2);
    let [mut a, mut b] = [0u16, 1].map(|worker| {
        let mut r = Relay::new(false);
        r.worker = worker;
        r.table.share_srtp_streams(board.clone(), worker);
        r.install(
            &SrtpTransform { unprotect: None, protect: keys(&b_out) },
            &SrtpTransform { unprotect: keys(&b_in), protect: None },
        );
        r
    });
    let (mut callee_tx, mut callee_rx) = (Peer::new(&b_in), Peer::new(&b_out));
    // Both directions through one worker: SRTP from the callee, RTP protected to it.
    let step = |r: &mut Relay, callee_tx: &mut Peer, callee_rx: &mut Peer, seq: u16| -> Vec<u8> {
        let plain = rtp(seq);
        let sealed = callee_tx.protect(&plain);
        assert_eq!(forwarded(&r.send(false, false, &sealed)), &plain[..], "worker {} seq {seq}", r.worker);
        let out = r.send(true, false, &plain);
        assert_eq!(callee_rx.unprotect(forwarded(&out)).unwrap(), plain, "worker {} seq {seq}", r.worker);
        sealed
    };

    // Worker A carries the stream across the wrap.
    let mut seq = 65530u16;
    let mut on_a = Vec::new();
    for _ in 0..10 {
        on_a.push((seq, step(&mut a, &mut callee_tx, &mut callee_rx, seq)));
        seq = seq.wrapping_add(1);
    }
    assert_eq!((callee_tx.stream.roc(), callee_rx.stream.roc()), (1, 1));

    // The packets now arrive at worker B, which asks A for the stream: the
    // first ones are dropped until A hands it over between its bursts.
    let sealed = callee_tx.protect(&rtp(seq));
    assert_eq!(b.send(false, false, &sealed).0, Verdict::Drop(DropReason::SrtpMoving));
    assert_eq!(b.send(true, false, &rtp(seq)).0, Verdict::Drop(DropReason::SrtpMoving));
    assert_eq!(b.table.hand_over_streams(), 0);
    // One stream per flow: the callee's SRTP in, and the RTP protected for it.
    assert_eq!(a.table.hand_over_streams(), 2);
    assert_eq!(forwarded(&b.send(false, false, &sealed)), &rtp(seq)[..]);
    assert_eq!(callee_rx.unprotect(forwarded(&b.send(true, false, &rtp(seq)))).unwrap(), rtp(seq));
    seq += 1;
    for _ in 0..5 {
        step(&mut b, &mut callee_tx, &mut callee_rx, seq);
        seq += 1;
    }
    assert_eq!((callee_tx.stream.roc(), callee_rx.stream.roc()), (1, 1));
    // What A accepted is a replay on B, and B does not protect again an index A protected.
    for (old_seq, old) in &on_a[on_a.len() - 3..] {
        assert_eq!(b.send(false, false, old).0, Verdict::Drop(DropReason::SrtpReplay), "seq {old_seq}");
        assert_eq!(b.send(true, false, &rtp(*old_seq)).0, Verdict::Drop(DropReason::SrtpReplay), "seq {old_seq}");
    }
    assert_eq!((b.drops(B_RTP, FlowDrop::SrtpAuth), a.drops(B_RTP, FlowDrop::SrtpAuth)), (0, 0));

    // And back to A, which takes the states B moved on.
    let sealed = callee_tx.protect(&rtp(seq));
    assert_eq!(a.send(false, false, &sealed).0, Verdict::Drop(DropReason::SrtpMoving));
    assert_eq!(b.table.hand_over_streams(), 1);
    assert_eq!(forwarded(&a.send(false, false, &sealed)), &rtp(seq)[..]);
    assert_eq!(a.send(false, false, &sealed).0, Verdict::Drop(DropReason::SrtpReplay));
    seq += 1;
    // The protecting stream follows at its own first packet.
    assert_eq!(a.send(true, false, &rtp(seq)).0, Verdict::Drop(DropReason::SrtpMoving));
    assert_eq!(b.table.hand_over_streams(), 1);
    step(&mut a, &mut callee_tx, &mut callee_rx, seq);
    assert_eq!(board.streams(), 2);
}

#[test]
fn a_stream_resumed_at_its_checkpoint_goes_on_past_a_wrap_and_a_fresh_one_fails() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (b_in, b_out) = (context(suite, 21), context(suite, 22));
    // The endpoints are at rollover counter 2, as a node that went down left them.
    let at = (2u64 << 16) | 60_000;
    let mut callee_tx = Peer { ctx: b_in.clone(), stream: StreamState::resume_at(at) };
    let mut callee_rx = Peer { ctx: b_out.clone(), stream: StreamState::resume_at(at) };
    let step = |r: &mut Relay, tx: &mut Peer, rx: &mut Peer, seq: u16| -> bool {
        let plain = rtp(seq);
        let back = r.send(false, false, &tx.protect(&plain));
        let ok = back.0 != Verdict::Drop(DropReason::SrtpAuth);
        let out = r.send(true, false, &plain);
        ok && rx.unprotect(forwarded(&out)).is_ok()
    };

    // A node that takes the session over without the checkpoint starts both
    // streams at rollover counter 0: the callee's packets fail authentication.
    let mut fresh = srtp_callee(false, &b_in, &b_out);
    let (mut tx, mut rx) = (Peer { ctx: b_in.clone(), stream: callee_tx.stream.clone() }, Peer::new(&b_out));
    rx.stream = callee_rx.stream.clone();
    assert!(!step(&mut fresh, &mut tx, &mut rx, 60_010));

    // With the checkpoint, both directions go on, across the next wrap.
    let mut r = srtp_callee(false, &b_in, &b_out);
    for key in [Relay::key(0, r.a_local), Relay::key(1, r.b_local)] {
        r.table.apply(&Command::ResumeStream { key, ssrc: SSRC, index: at }).unwrap();
    }
    let mut seq = 60_010u16;
    for _ in 0..6000 {
        assert!(step(&mut r, &mut callee_tx, &mut callee_rx, seq), "seq {seq}");
        seq = seq.wrapping_add(1);
    }
    assert_eq!((callee_tx.stream.roc(), callee_rx.stream.roc()), (3, 3));
    let b = r.stats.snapshot(B_RTP);
    assert_eq!((b.rtp_received, b.rtp_ext_max), (6000, (3 << 16) | u64::from(seq.wrapping_sub(1))));
    assert_eq!(r.drops(B_RTP, FlowDrop::SrtpAuth), 0);
}

#[test]
fn an_mki_selects_the_key_and_an_unknown_one_is_dropped() {
    let suite = Suite::AesCm128HmacSha1_80;
    let key =
        |fill: u8, mki: u64| MasterKey::from_key_salt(suite, &[fill; 30]).unwrap().with_mki(Mki::new(mki, 2).unwrap());
    let both = Arc::new(
        Context::new(&Policy { suite, master_keys: vec![key(1, 1), key(2, 2)], tx_key: 0, window_size: 128 }).unwrap(),
    );
    let second =
        Arc::new(Context::new(&Policy { suite, master_keys: vec![key(2, 2)], tx_key: 0, window_size: 128 }).unwrap());
    let stranger =
        Arc::new(Context::new(&Policy { suite, master_keys: vec![key(3, 3)], tx_key: 0, window_size: 128 }).unwrap());
    let mut r = srtp_callee(false, &both, &both);
    let mut callee = Peer::new(&second);
    forwarded(&r.send(false, false, &callee.protect(&rtp(1))));
    callee.ctx = stranger;
    assert_eq!(r.send(false, false, &callee.protect(&rtp(2))).0, Verdict::Drop(DropReason::SrtpUnknownMki));
    assert_eq!(r.drops(B_RTP, FlowDrop::SrtpUnknownMki), 1);
}

#[test]
fn rtcp_mux_carries_srtp_and_srtcp_on_one_port() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_32, 15), context(Suite::AesCm128HmacSha1_32, 16));
    let mut r = srtp_callee(true, &b_in, &b_out);
    let (mut callee_tx, mut callee_rx) = (Peer::new(&b_in), Peer::new(&b_out));
    for n in 0..5u8 {
        let report = rtcp(n);
        let out = r.send(true, true, &report);
        assert_eq!(forwarded(&out).len(), report.len() + 4 + 10, "E+index, 80-bit SRTCP tag");
        assert_eq!(callee_rx.unprotect_rtcp(forwarded(&out)).unwrap(), report);
        let out = r.send(false, true, &callee_tx.protect_rtcp(&report));
        assert_eq!(forwarded(&out), &report[..]);
        let plain = rtp(u16::from(n));
        assert_eq!(callee_rx.unprotect(forwarded(&r.send(true, false, &plain))).unwrap(), plain);
        assert_eq!(forwarded(&r.send(false, false, &callee_tx.protect(&plain))), &plain[..]);
    }
    let b = r.stats.snapshot(B_RTP);
    assert_eq!((b.packets, b.rtcp_packets), (10, 5));
    let mut forged = callee_tx.protect_rtcp(&rtcp(9));
    forged[12] ^= 4;
    assert_eq!(r.send(false, true, &forged).0, Verdict::Drop(DropReason::SrtpAuth));
}

#[test]
fn a_burst_mixing_flows_ssrcs_rtcp_and_failures_matches_one_by_one() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 17), context(Suite::AeadAes128Gcm, 18));
    let mut callee = [Peer::new(&b_in), Peer::new(&b_in)];
    let mut packets = Vec::new();
    let mut expected = Vec::new();
    for i in 0..MAX_BURST as u16 {
        let which = usize::from(i % 3 == 0);
        let ssrc = SSRC + which as u32;
        let mut plain = rtp_with(ssrc, 500 + i);
        let is_rtcp = i % 7 == 3;
        if is_rtcp {
            plain = rtcp(i as u8);
            plain[4..8].copy_from_slice(&ssrc.to_be_bytes());
        }
        let mut sealed = if is_rtcp { callee[which].protect_rtcp(&plain) } else { callee[which].protect(&plain) };
        let verdict = match i {
            5 | 17 => {
                sealed[25] ^= 0x80;
                Verdict::Drop(DropReason::SrtpAuth)
            }
            _ => Verdict::Forward { port_id: 0 },
        };
        packets.push((false, is_rtcp, sealed));
        expected.push((verdict, plain));
    }
    // A replay of packet 2 at the end.
    let replayed = packets[2].clone();
    packets[MAX_BURST - 1] = replayed;
    expected[MAX_BURST - 1] = (Verdict::Drop(DropReason::SrtpReplay), Vec::new());

    let mut burst = srtp_callee(true, &b_in, &b_out);
    let (out, _) = burst.burst(&packets, 0);
    let mut single = srtp_callee(true, &b_in, &b_out);
    for (i, ((v, payload), (want_v, want))) in out.iter().zip(&expected).enumerate() {
        assert_eq!(*v, *want_v, "packet {i}");
        if let Verdict::Forward { .. } = v {
            assert_eq!(payload, want, "packet {i}");
        }
        let one = single.burst(&packets[i..=i], 0).0.remove(0);
        assert_eq!(one, (*v, payload.clone()), "packet {i} alone");
    }
    assert_eq!(burst.stats.snapshot(B_RTP), single.stats.snapshot(B_RTP));
}

#[test]
fn new_ssrcs_beyond_the_limit_are_dropped_and_forged_ones_take_no_slot() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 19), context(Suite::AesCm128HmacSha1_80, 20));
    let mut r = srtp_callee(false, &b_in, &b_out);
    // One stream state per SSRC on the callee's side too.
    let sealed = |ssrc: u32| Peer::new(&b_in).protect(&rtp_with(ssrc, 1));
    // Forged packets with new SSRCs, many more than the slots.
    for ssrc in 100..120u32 {
        let mut f = sealed(ssrc);
        f[30] ^= 1;
        assert_eq!(r.send(false, false, &f).0, Verdict::Drop(DropReason::SrtpAuth));
    }
    // Every slot is still there for genuine streams.
    for ssrc in 0..SSRCS_PER_FLOW as u32 {
        forwarded(&r.send(false, false, &sealed(ssrc)));
    }
    let extra = sealed(77);
    assert_eq!(r.send(false, false, &extra).0, Verdict::Drop(DropReason::SrtpSsrcLimit));
    assert_eq!(r.drops(B_RTP, FlowDrop::SrtpSsrcLimit), 1);
}

#[test]
fn without_tailroom_for_the_tag_a_packet_is_dropped() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 21), context(Suite::AesCm128HmacSha1_80, 22));
    let mut r = srtp_callee(false, &b_in, &b_out);
    let (frame, _) = r.frame_from(true, false, &rtp(1));
    let mut buf = vec![0u8; HEADROOM + frame.len() + 9];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(&frame);
    let mut pkt = PacketBuf::new(&mut buf, HEADROOM, frame.len());
    let mut p =
        Pipeline { worker: 0, table: &mut r.table, ports: &r.ports, flow_stats: &r.stats, now_tsc: 1, now_us: 0 };
    assert_eq!(p.process(&mut pkt, 0, None, &mut |_| {}), Verdict::Drop(DropReason::SrtpNoTailroom));
    assert_eq!(r.drops(A_RTP, FlowDrop::SrtpNoTailroom), 1);
}

#[test]
fn plain_rtp_with_a_bad_udp_checksum_is_not_protected() {
    let (b_in, b_out) = (context(Suite::AesCm128HmacSha1_80, 23), context(Suite::AesCm128HmacSha1_80, 24));
    let mut r = srtp_callee(false, &b_in, &b_out);
    let (mut frame, _) = r.frame_from(true, false, &rtp(1));
    let last = frame.len() - 1;
    frame[last] ^= 0xff;
    let mut buf = vec![0u8; BUF];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(&frame);
    let mut pkt = PacketBuf::new(&mut buf, HEADROOM, frame.len());
    let mut p =
        Pipeline { worker: 0, table: &mut r.table, ports: &r.ports, flow_stats: &r.stats, now_tsc: 1, now_us: 0 };
    assert_eq!(p.process(&mut pkt, 0, None, &mut |_| {}), Verdict::Drop(DropReason::BadUdp));
}
