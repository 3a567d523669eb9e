//! The frames the generator sends: one template per stream, stamped per
//! packet with the next sequence number and timestamp and the probe, with
//! the UDP checksum updated from a precomputed base sum (no pass over the
//! payload). SRTP streams are protected after stamping and checksummed
//! over the protected datagram ([`TxStreams::finish_protected`]).

use std::net::{IpAddr, SocketAddr};

use mediafwd_dataplane::craft::{rtp_packet, UdpFrame};
use mediafwd_dataplane::wire::checksum;
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::wire::{protocol, rtp, udp};

use super::probe::{self, Probe};

/// µ-law silence: what the payload carries after the probe.
pub const PCMU_SILENCE: u8 = 0xff;

/// What one stream sends.
#[derive(Debug, Clone, Copy)]
pub struct TxSpec {
    /// Our port's MAC.
    pub src_mac: MacAddr,
    /// The relay's MAC.
    pub dst_mac: MacAddr,
    /// 802.1Q tag.
    pub vlan: Option<u16>,
    /// The endpoint we play.
    pub src: SocketAddr,
    /// The relay's address for it.
    pub dst: SocketAddr,
    /// RTP SSRC.
    pub ssrc: u32,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP payload bytes (at least [`probe::LEN`]).
    pub payload_len: usize,
    /// RTP timestamp step per packet (samples per packet time).
    pub ts_step: u32,
    /// Bytes SRTP adds (tag, MKI); 0 for plain RTP.
    pub srtp_overhead: usize,
}

/// Per-stream state beside its template.
#[derive(Debug, Clone, Copy)]
pub struct TxMeta {
    /// The generator port the stream leaves by.
    pub port: u8,
    /// Whether packets are SRTP-protected before sending.
    pub srtp: bool,
    /// Packets sent in the current measurement.
    pub sent: u64,
    plain_len: u16,
    wire_len: u16,
    udp_off: u16,
    rtp_off: u16,
    /// Plain: checksum sum of the template with seq, timestamp and probe
    /// zero. SRTP: the pseudo-header's sum.
    base_sum: u32,
    seq: u16,
    ts: u32,
    ts_step: u32,
}

impl TxMeta {
    /// Frame length on the wire.
    pub fn wire_len(&self) -> usize {
        usize::from(self.wire_len)
    }

    /// Where the RTP header starts.
    pub fn rtp_off(&self) -> usize {
        usize::from(self.rtp_off)
    }

    /// Length of the plain RTP packet.
    pub fn rtp_len(&self) -> usize {
        usize::from(self.plain_len - self.rtp_off)
    }

    /// The sequence number of the stream's next packet.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }
}

/// The templates of all streams, contiguous.
pub struct TxStreams {
    frames: Vec<u8>,
    stride: usize,
    /// Per-stream state, by stream index.
    pub meta: Vec<TxMeta>,
}

impl TxStreams {
    /// Room for streams whose frames are at most `max_wire_len` bytes.
    pub fn new(max_wire_len: usize) -> TxStreams {
        TxStreams { frames: Vec::new(), stride: max_wire_len.div_ceil(64) * 64, meta: Vec::new() }
    }

    /// Adds a stream leaving by port `port`; returns its index.
    pub fn push(&mut self, port: u8, spec: &TxSpec) -> usize {
        assert!(spec.payload_len >= probe::LEN, "the payload must hold the probe");
        let frame =
            UdpFrame { src_mac: spec.src_mac, dst_mac: spec.dst_mac, vlan: spec.vlan, src: spec.src, dst: spec.dst };
        let hl = frame.header_len();
        let rtp_len = rtp::HEADER_LEN + spec.payload_len;
        let wire_len = hl + rtp_len + spec.srtp_overhead;
        assert!(wire_len <= self.stride, "frame of {wire_len} bytes in a {}-byte slot", self.stride);
        let start = self.frames.len();
        self.frames.resize(start + self.stride, 0);
        let buf = &mut self.frames[start..start + self.stride];
        let mut payload = vec![0u8; rtp_len + spec.srtp_overhead];
        rtp_packet(&mut payload, spec.ssrc, 0, 0, spec.payload_type, spec.payload_len, PCMU_SILENCE);
        Probe { trial: 0, sent_tsc: 0 }.write(&mut payload[rtp::HEADER_LEN..]);
        frame.emit(buf, &payload);
        let udp_off = hl - udp::HEADER_LEN;
        let udp_len = (wire_len - udp_off) as u16;
        buf[udp_off + 6..udp_off + 8].fill(0);
        let pseudo = match (spec.src.ip(), spec.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_header_v4(s, d, protocol::UDP, udp_len),
            (IpAddr::V6(s), IpAddr::V6(d)) => checksum::pseudo_header_v6(&s, &d, protocol::UDP, u32::from(udp_len)),
            _ => panic!("stream with mixed address families"),
        };
        let srtp = spec.srtp_overhead > 0;
        let base_sum = if srtp { pseudo } else { pseudo + checksum::sum(&buf[udp_off..wire_len]) };
        // Random-looking but reproducible starts (RFC 3550 §5.1).
        let seq = (spec.ssrc.wrapping_mul(0x9e37_79b9) >> 16) as u16;
        let ts = spec.ssrc.wrapping_mul(0x85eb_ca6b);
        self.meta.push(TxMeta {
            port,
            srtp,
            sent: 0,
            plain_len: (hl + rtp_len) as u16,
            wire_len: wire_len as u16,
            udp_off: udp_off as u16,
            rtp_off: hl as u16,
            base_sum,
            seq,
            ts,
            ts_step: spec.ts_step,
        });
        self.meta.len() - 1
    }

    /// Streams.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Writes stream `i`'s next packet into `out` with `probe`; returns
    /// its length: the wire length for plain RTP, the plain length for SRTP
    /// (protect it in place, then call [`TxStreams::finish_protected`]).
    #[inline]
    pub fn write_next(&mut self, i: usize, out: &mut [u8], probe: Probe) -> usize {
        let m = &mut self.meta[i];
        let len = usize::from(m.plain_len);
        let start = i * self.stride;
        out[..len].copy_from_slice(&self.frames[start..start + len]);
        let r = usize::from(m.rtp_off);
        let (seq, ts) = (m.seq, m.ts);
        out[r + 2..r + 4].copy_from_slice(&seq.to_be_bytes());
        out[r + 4..r + 8].copy_from_slice(&ts.to_be_bytes());
        probe.write(&mut out[r + rtp::HEADER_LEN..]);
        m.seq = seq.wrapping_add(1);
        m.ts = ts.wrapping_add(m.ts_step);
        m.sent += 1;
        if m.srtp {
            return len;
        }
        let sum = m.base_sum + u32::from(seq) + (ts >> 16) + (ts & 0xffff) + probe.word_sum();
        let c = usize::from(m.udp_off) + 6;
        out[c..c + 2].copy_from_slice(&nonzero(checksum::finish(sum)).to_be_bytes());
        len
    }

    /// Fills the UDP checksum of stream `i`'s packet in `out` after SRTP
    /// protected it to its wire length.
    #[inline]
    pub fn finish_protected(&self, i: usize, out: &mut [u8]) {
        let m = &self.meta[i];
        let (u, end) = (usize::from(m.udp_off), usize::from(m.wire_len));
        out[u + 6..u + 8].fill(0);
        let c = nonzero(checksum::finish(m.base_sum + checksum::sum(&out[u..end])));
        out[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
    }

    /// Starts a new measurement: packet counts go back to zero.
    pub fn reset_counts(&mut self) {
        for m in &mut self.meta {
            m.sent = 0;
        }
    }
}

/// A computed UDP checksum of 0 is sent as 0xffff (RFC 768).
#[inline]
fn nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mediafwd_dataplane::wire::{ethernet, ipv4, ipv6};

    pub(crate) fn spec(src: &str, dst: &str, vlan: Option<u16>, srtp_overhead: usize) -> TxSpec {
        TxSpec {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            vlan,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            ssrc: 0x1234_5678,
            payload_type: 0,
            payload_len: 160,
            ts_step: 160,
            srtp_overhead,
        }
    }

    fn check_udp(frame: &[u8]) -> (u16, u32, Probe) {
        let eth = ethernet::Frame::new_checked(frame).unwrap();
        let (ip_payload, ok) = if eth.ethertype() == ethernet::ethertype::IPV4 {
            let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            let u = udp::Datagram::new_checked(ip.payload()).unwrap();
            let ok = u.verify_checksum_v4(ip.src_addr(), ip.dst_addr());
            (ip.payload().to_vec(), ok)
        } else {
            let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
            let u = udp::Datagram::new_checked(ip.payload()).unwrap();
            let ok = u.verify_checksum_v6(&ip.src_addr(), &ip.dst_addr());
            (ip.payload().to_vec(), ok)
        };
        assert!(ok, "UDP checksum");
        let u = udp::Datagram::new_checked(&ip_payload[..]).unwrap();
        let r = rtp::Packet::new_checked(u.payload()).unwrap();
        (r.sequence_number(), r.timestamp(), Probe::read(r.payload()).unwrap())
    }

    #[test]
    fn packets_carry_consecutive_numbers_and_valid_checksums() {
        for (src, dst, vlan) in [
            ("198.18.64.1:20000", "198.18.0.1:30000", None),
            ("198.18.64.1:20000", "198.18.0.1:30000", Some(101)),
            ("[2001:db8:1::10]:20000", "[2001:db8:1::1]:30000", None),
        ] {
            let mut t = TxStreams::new(256);
            let i = t.push(1, &spec(src, dst, vlan, 0));
            let mut out = [0u8; 256];
            let mut first = None;
            for k in 0..70_000u32 {
                let p = Probe { trial: k / 1000, sent_tsc: 0xfedc_ba98_7654_3210 ^ (u64::from(k) * 7919) };
                let len = t.write_next(i, &mut out, p);
                assert_eq!(len, t.meta[i].wire_len());
                // Checking each packet fully is slow; check a spread of them.
                if k % 997 == 0 || k < 3 || (65_530..65_540).contains(&k) {
                    let (seq, ts, probe) = check_udp(&out[..len]);
                    let (s0, t0) = *first.get_or_insert((seq.wrapping_sub(k as u16), ts.wrapping_sub(160 * k)));
                    assert_eq!(seq, s0.wrapping_add(k as u16));
                    assert_eq!(ts, t0.wrapping_add(160 * k));
                    assert_eq!(probe, p);
                }
            }
            assert_eq!(t.meta[i].sent, 70_000);
            t.reset_counts();
            assert_eq!(t.meta[i].sent, 0);
        }
    }

    #[test]
    fn protected_packets_get_their_checksum_after_the_transform() {
        let mut t = TxStreams::new(256);
        let i = t.push(0, &spec("198.18.64.1:20000", "198.18.0.1:30000", None, 10));
        let mut out = [0u8; 256];
        let len = t.write_next(i, &mut out, Probe { trial: 1, sent_tsc: 5 });
        assert_eq!(len + 10, t.meta[i].wire_len());
        // Stand in for SRTP: scramble the payload and append a tag.
        let m = t.meta[i];
        for b in &mut out[m.rtp_off() + 12..m.wire_len()] {
            *b ^= 0x5a;
        }
        t.finish_protected(i, &mut out);
        let eth = ethernet::Frame::new_checked(&out[..m.wire_len()]).unwrap();
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(usize::from(ip.total_len()), m.wire_len() - 14);
        let u = udp::Datagram::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    }
}
