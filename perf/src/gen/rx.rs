//! What arrives at the generator: RTP (over IPv4 or IPv6, tagged or not),
//! ARP, or anything else, read straight from the frame's bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mediafwd_dataplane::wire::ethernet::ethertype;

/// An RTP packet in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpIn {
    /// The 802.1Q tag, in the frame or stripped by the port.
    pub vlan: Option<u16>,
    /// IP source and UDP source port.
    pub src: SocketAddr,
    /// IP destination and UDP destination port.
    pub dst: SocketAddr,
    /// Offset of the RTP header in the frame.
    pub rtp_off: usize,
    /// Length of the RTP packet (the UDP payload).
    pub rtp_len: usize,
    /// RTP SSRC.
    pub ssrc: u32,
    /// RTP sequence number.
    pub seq: u16,
}

/// A received frame, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// RTP (version 2, at least a full header).
    Rtp(RtpIn),
    /// ARP, with its offset in the frame and its tag.
    Arp {
        /// Offset of the ARP packet.
        off: usize,
        /// The 802.1Q tag.
        vlan: Option<u16>,
    },
    /// Anything else.
    Other,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Classifies `frame`; `stripped_vlan` is a tag the port removed.
#[inline]
pub fn parse(frame: &[u8], stripped_vlan: Option<u16>) -> Received {
    if frame.len() < 14 {
        return Received::Other;
    }
    let (mut et, mut l3, mut vlan) = (be16(frame, 12), 14, stripped_vlan.map(|t| t & 0x0fff));
    if et == ethertype::VLAN {
        if frame.len() < 18 {
            return Received::Other;
        }
        vlan = Some(be16(frame, 14) & 0x0fff);
        et = be16(frame, 16);
        l3 = 18;
    }
    let (src_ip, dst_ip, udp) = match et {
        ethertype::ARP => return Received::Arp { off: l3, vlan },
        ethertype::IPV4 => {
            let ip = &frame[l3..];
            if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 || be16(ip, 6) & 0x3fff != 0 {
                return Received::Other;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2));
            if ihl < 20 || total < ihl || total > ip.len() {
                return Received::Other;
            }
            let s = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
            let d = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
            (s, d, (l3 + ihl, l3 + total))
        }
        ethertype::IPV6 => {
            let ip = &frame[l3..];
            if ip.len() < 40 || ip[0] >> 4 != 6 || ip[6] != 17 {
                return Received::Other;
            }
            let end = 40 + usize::from(be16(ip, 4));
            if end > ip.len() {
                return Received::Other;
            }
            let a = |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[o..o + 16]).expect("16 bytes")));
            (a(8), a(24), (l3 + 40, l3 + end))
        }
        _ => return Received::Other,
    };
    let (u, end) = udp;
    if end < u + 8 {
        return Received::Other;
    }
    let udp_len = usize::from(be16(frame, u + 4));
    if udp_len < 8 + 12 || u + udp_len > end {
        return Received::Other;
    }
    let r = u + 8;
    if frame[r] >> 6 != 2 {
        return Received::Other;
    }
    Received::Rtp(RtpIn {
        vlan,
        src: SocketAddr::new(src_ip, be16(frame, u)),
        dst: SocketAddr::new(dst_ip, be16(frame, u + 2)),
        rtp_off: r,
        rtp_len: udp_len - 8,
        ssrc: u32::from_be_bytes([frame[r + 8], frame[r + 9], frame[r + 10], frame[r + 11]]),
        seq: be16(frame, r + 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::probe::Probe;
    use crate::gen::tx::TxStreams;

    #[test]
    fn reads_what_the_generator_writes() {
        for (src, dst, vlan) in [
            ("198.18.64.1:20000", "198.18.0.1:30000", None),
            ("198.18.64.1:20000", "198.18.0.1:30000", Some(3000)),
            ("[2001:db8:1::10]:20000", "[2001:db8:1::1]:30000", None),
        ] {
            let mut t = TxStreams::new(256);
            let spec = crate::gen::tx::tests::spec(src, dst, vlan, 0);
            t.push(0, &spec);
            let mut out = [0u8; 256];
            let len = t.write_next(0, &mut out, Probe { trial: 1, sent_tsc: 2 });
            let Received::Rtp(r) = parse(&out[..len], None) else { panic!("not RTP") };
            assert_eq!((r.src, r.dst, r.vlan, r.ssrc), (spec.src, spec.dst, vlan, spec.ssrc));
            assert_eq!(r.rtp_len, 172);
            assert_eq!(r.rtp_off + r.rtp_len, len);
            assert_eq!(Probe::read(&out[r.rtp_off + 12..len]), Some(Probe { trial: 1, sent_tsc: 2 }));
        }
    }

    #[test]
    fn a_stripped_tag_counts() {
        let mut t = TxStreams::new(256);
        t.push(0, &crate::gen::tx::tests::spec("198.18.64.1:20000", "198.18.0.1:30000", None, 0));
        let mut out = [0u8; 256];
        let len = t.write_next(0, &mut out, Probe { trial: 1, sent_tsc: 2 });
        let Received::Rtp(r) = parse(&out[..len], Some(0x2000 | 42)) else { panic!() };
        assert_eq!(r.vlan, Some(42));
    }

    #[test]
    fn arp_and_others() {
        let mut arp = [0u8; 60];
        arp[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
        assert_eq!(parse(&arp, None), Received::Arp { off: 14, vlan: None });
        assert_eq!(parse(&arp[..10], None), Received::Other);
        let mut t = TxStreams::new(256);
        t.push(0, &crate::gen::tx::tests::spec("198.18.64.1:20000", "198.18.0.1:30000", None, 0));
        let mut out = [0u8; 256];
        let len = t.write_next(0, &mut out, Probe { trial: 1, sent_tsc: 2 });
        // Truncated, fragmented, not UDP, not RTP version 2.
        assert_eq!(parse(&out[..len - 1], None), Received::Other);
        let mut frag = out;
        frag[14 + 6] = 0x20;
        assert_eq!(parse(&frag[..len], None), Received::Other);
        let mut tcp = out;
        tcp[14 + 9] = 6;
        assert_eq!(parse(&tcp[..len], None), Received::Other);
        let mut v1 = out;
        v1[42] = 0x40;
        assert_eq!(parse(&v1[..len], None), Received::Other);
    }
}
