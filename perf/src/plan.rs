//! The address plan of the end-to-end benchmark: a one-armed relay.
//!
//! Session `s` has leg A at [`a_local`] and leg B at [`b_local`], both on
//! the relay's one port. The generator plays both endpoints: it sends as the
//! caller ([`caller`]) to leg A; the relay sends the packet on from leg B to
//! the callee ([`callee`]), whose next hop is the generator's MAC, so every
//! relayed packet comes back to the generator. The reverse flow (callee to
//! leg B, relayed from leg A to the caller) is programmed too, as a real
//! session has it, so the table holds two flows per session.
//!
//! Every address is in 198.18.0.0/15 (RFC 2544's benchmarking range).

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::flow::{Egress, Flow, FlowKey, Ingress, LatchMode, Media};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::wire::rtp;

/// Sessions per local address (even UDP ports 10000..60000).
pub const SESSIONS_PER_ADDR: u32 = 25_000;
/// Most sessions the plan can address (254 local addresses per leg).
pub const MAX_SESSIONS: u32 = SESSIONS_PER_ADDR * 254;
/// G.711 at 20 ms: 160 bytes of payload.
pub const G711_PAYLOAD: usize = 160;
/// The frame the generator sends: Ethernet, IPv4, UDP, RTP, 160 B payload.
pub const FRAME_LEN: usize = 14 + 20 + 8 + rtp::HEADER_LEN + G711_PAYLOAD;
/// Offset of the RTP header in a frame.
pub const RTP_OFF: usize = 14 + 20 + 8;
/// Offset of the UDP checksum in a frame.
pub const UDP_CHECKSUM_OFF: usize = 14 + 20 + 6;
/// Next-hop index of the generator in the relay's neighbor table.
pub const GENERATOR_NEXT_HOP: u32 = 0;
/// RTP payload type of PCMU.
pub const PT_PCMU: u8 = 0;

fn local(leg: u8, s: u32) -> SocketAddr {
    assert!(s < MAX_SESSIONS, "session {s} beyond the plan's {MAX_SESSIONS}");
    let ip = Ipv4Addr::new(198, 18, leg, 1 + (s / SESSIONS_PER_ADDR) as u8);
    SocketAddr::V4(SocketAddrV4::new(ip, 10_000 + 2 * (s % SESSIONS_PER_ADDR) as u16))
}

fn remote(base: u16, s: u32) -> SocketAddr {
    let ip = Ipv4Addr::new(198, 19, (s >> 8) as u8, s as u8);
    SocketAddr::V4(SocketAddrV4::new(ip, base + 2 * (s >> 16) as u16))
}

/// Leg A's local address of session `s`: where the caller sends.
pub fn a_local(s: u32) -> SocketAddr {
    local(0, s)
}

/// Leg B's local address of session `s`: where relayed packets come from.
pub fn b_local(s: u32) -> SocketAddr {
    local(1, s)
}

/// The caller of session `s` (played by the generator).
pub fn caller(s: u32) -> SocketAddr {
    remote(20_000, s)
}

/// The callee of session `s` (played by the generator).
pub fn callee(s: u32) -> SocketAddr {
    remote(30_000, s)
}

/// The two flows of session `s` on the relay's port `port_id` whose MAC is
/// `relay_mac`: caller to callee (id `2s`), callee to caller (id `2s + 1`).
pub fn session_flows(s: u32, port_id: u16, relay_mac: MacAddr) -> [(FlowKey, Flow); 2] {
    let (a, b) = (a_local(s), b_local(s));
    let key_a = FlowKey::new(port_id, a.ip(), a.port());
    let key_b = FlowKey::new(port_id, b.ip(), b.port());
    let flow = |id, remote, src, dst, reverse| Flow {
        id,
        media: Media::Rtp { rtcp_mux: false },
        ingress: Ingress { vlan: None, remote: Some(remote), latch: LatchMode::Off, strict_source: true },
        egress: Egress { port_id, vlan: None, src_mac: relay_mac, next_hop: GENERATOR_NEXT_HOP, src, dst: Some(dst) },
        rtcp_egress: None,
        reverse: Some(reverse),
        clock_rate: 8000,
    };
    [(key_a, flow(2 * s, caller(s), b, callee(s), 2 * s + 1)), (key_b, flow(2 * s + 1, callee(s), a, caller(s), 2 * s))]
}

/// Writes the caller's RTP frame of session `s` with sequence number 0
/// into `buf` (at least [`FRAME_LEN`] bytes); returns its length.
pub fn caller_frame(buf: &mut [u8], s: u32, gen_mac: MacAddr, relay_mac: MacAddr) -> usize {
    let mut payload = [0u8; rtp::HEADER_LEN + G711_PAYLOAD];
    rtp_packet(&mut payload, 0x4d46_0000 | s, 0, 0, PT_PCMU, G711_PAYLOAD, 0xd5);
    UdpFrame { src_mac: gen_mac, dst_mac: relay_mac, vlan: None, src: caller(s), dst: a_local(s) }.emit(buf, &payload)
}

/// Advances the RTP sequence number (by one) and timestamp (by 160, 20 ms
/// of G.711) of a frame built by [`caller_frame`], keeping its UDP
/// checksum right (RFC 1624).
#[inline]
pub fn next_packet(frame: &mut [u8]) {
    use mediafwd_dataplane::wire::checksum::update16;
    let r = RTP_OFF;
    let seq = u16::from_be_bytes([frame[r + 2], frame[r + 3]]);
    let ts_hi = u16::from_be_bytes([frame[r + 4], frame[r + 5]]);
    let ts_lo = u16::from_be_bytes([frame[r + 6], frame[r + 7]]);
    let ts = ((ts_hi as u32) << 16 | ts_lo as u32).wrapping_add(160);
    let (nseq, nhi, nlo) = (seq.wrapping_add(1), (ts >> 16) as u16, ts as u16);
    let c = UDP_CHECKSUM_OFF;
    let mut check = u16::from_be_bytes([frame[c], frame[c + 1]]);
    check = update16(check, seq, nseq);
    check = update16(check, ts_hi, nhi);
    check = update16(check, ts_lo, nlo);
    // A computed UDP checksum of 0 is sent as 0xffff (RFC 768).
    let check = if check == 0 { 0xffff } else { check };
    frame[c..c + 2].copy_from_slice(&check.to_be_bytes());
    frame[r + 2..r + 4].copy_from_slice(&nseq.to_be_bytes());
    frame[r + 4..r + 6].copy_from_slice(&nhi.to_be_bytes());
    frame[r + 6..r + 8].copy_from_slice(&nlo.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::buf::PacketBuf;
    use mediafwd_dataplane::classify::PortContext;
    use mediafwd_dataplane::flow::{Command, FlowTable};
    use mediafwd_dataplane::pipeline::{Pipeline, Verdict};
    use mediafwd_dataplane::stats::FlowStatsArray;
    use mediafwd_dataplane::wire::{ethernet, ipv4, udp};

    const GEN: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const RELAY: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn addresses_are_unique_and_in_the_benchmark_range() {
        let sample: std::collections::BTreeSet<u32> =
            (0..MAX_SESSIONS).step_by(997).chain([1, 255, 256, 24_999, 25_000, 65_536, MAX_SESSIONS - 1]).collect();
        let mut seen = std::collections::HashSet::new();
        for s in sample {
            for a in [a_local(s), b_local(s), caller(s), callee(s)] {
                assert!(crate::is_benchmark_addr(a), "{a}");
                assert!(seen.insert(a), "session {s} reuses {a}");
            }
        }
    }

    #[test]
    fn generator_frames_are_relayed_back_to_the_generator() {
        let sessions = 300;
        let mut table = FlowTable::with_capacity(2 * sessions as usize, 4);
        table.apply(&Command::SetNeighbor { id: GENERATOR_NEXT_HOP, mac: Some(GEN) }).unwrap();
        for s in 0..sessions {
            for (key, flow) in session_flows(s, 0, RELAY) {
                table.apply(&Command::Upsert { key, flow }).unwrap();
            }
        }
        let stats = FlowStatsArray::new(2 * sessions as usize);
        let ports = [PortContext::new(RELAY)];
        for s in [0, 17, sessions - 1] {
            let mut buf = [0u8; 512];
            let n = caller_frame(&mut buf[128..], s, GEN, RELAY);
            assert_eq!(n, FRAME_LEN);
            for _ in 0..3 {
                next_packet(&mut buf[128..128 + n]);
            }
            let mut pkt = PacketBuf::new(&mut buf, 128, n);
            let mut p =
                Pipeline { worker: 0, table: &mut table, ports: &ports, flow_stats: &stats, now_tsc: 1, now_us: 1 };
            assert_eq!(p.process(&mut pkt, 0, None, &mut |_| {}), Verdict::Forward { port_id: 0 });
            let out = pkt.data();
            let eth = ethernet::Frame::new_checked(out).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr()), (RELAY, GEN));
            let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
            assert!(ip.verify_checksum());
            let (SocketAddr::V4(b), SocketAddr::V4(c)) = (b_local(s), callee(s)) else { unreachable!() };
            assert_eq!((ip.src_addr(), ip.dst_addr()), (*b.ip(), *c.ip()));
            let u = udp::Datagram::new_checked(ip.payload()).unwrap();
            assert!(u.verify_checksum_v4(*b.ip(), *c.ip()), "UDP checksum after three sequence steps and the relay");
            assert_eq!((u.src_port(), u.dst_port()), (b.port(), c.port()));
            let r = rtp::Packet::new_checked(u.payload()).unwrap();
            assert_eq!((r.sequence_number(), r.timestamp()), (3, 480));
        }
        assert_eq!(stats.snapshot(0).packets, 1);
    }
}
