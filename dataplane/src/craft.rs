//! Building frames from scratch: the traffic generator's packets, and the
//! packets tests and benchmarks feed the dataplane.

use core::net::{IpAddr, SocketAddr};

use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::{arp, ipv4, ipv6, protocol, rtp, udp};

/// The addressing of a UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrame {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// 802.1Q tag.
    pub vlan: Option<u16>,
    /// IP source and UDP source port.
    pub src: SocketAddr,
    /// IP destination and UDP destination port (same family as `src`).
    pub dst: SocketAddr,
}

impl UdpFrame {
    /// Bytes of headers before the UDP payload.
    pub fn header_len(&self) -> usize {
        let l2 = if self.vlan.is_some() { ethernet::VLAN_HEADER_LEN } else { ethernet::HEADER_LEN };
        let l3 = if self.src.is_ipv4() { ipv4::HEADER_LEN } else { ipv6::HEADER_LEN };
        l2 + l3 + udp::HEADER_LEN
    }

    /// Writes the frame with `payload` into `buf` (checksums filled) and
    /// returns its length.
    ///
    /// # Panics
    /// If `buf` is too short or the families of `src` and `dst` differ.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8]) -> usize {
        let hl = self.header_len();
        buf[hl..hl + payload.len()].copy_from_slice(payload);
        self.emit_headers(buf, payload.len());
        hl + payload.len()
    }

    /// Writes the headers for a payload already at `buf[header_len()..]`.
    pub fn emit_headers(&self, buf: &mut [u8], payload_len: usize) -> usize {
        let udp_len = udp::HEADER_LEN + payload_len;
        let et = if self.src.is_ipv4() { ethertype::IPV4 } else { ethertype::IPV6 };
        let l2 = ethernet::emit_header(buf, self.dst_mac, self.src_mac, self.vlan, et);
        let (l3_len, udp_off) = match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                ipv4::Repr { src_addr: s, dst_addr: d, protocol: protocol::UDP, payload_len: udp_len, ttl: 64 }
                    .emit(&mut buf[l2..]);
                (ipv4::HEADER_LEN, l2 + ipv4::HEADER_LEN)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                ipv6::Repr {
                    src_addr: s,
                    dst_addr: d,
                    next_header: protocol::UDP,
                    payload_len: udp_len,
                    hop_limit: 64,
                }
                .emit(&mut buf[l2..]);
                (ipv6::HEADER_LEN, l2 + ipv6::HEADER_LEN)
            }
            _ => panic!("UDP frame with mixed address families"),
        };
        udp::Repr { src_port: self.src.port(), dst_port: self.dst.port(), payload_len }.emit(&mut buf[udp_off..]);
        let mut d = udp::Datagram::new_unchecked(&mut buf[udp_off..udp_off + udp_len]);
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(dst)) => d.fill_checksum_v4(s, dst),
            (IpAddr::V6(s), IpAddr::V6(dst)) => d.fill_checksum_v6(&s, &dst),
            _ => unreachable!(),
        }
        l2 + l3_len + udp_len
    }
}

/// Writes an RTP packet (12-byte header, then `payload_len` bytes of
/// `fill`) into `buf`; returns its length.
pub fn rtp_packet(
    buf: &mut [u8],
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    payload_type: u8,
    payload_len: usize,
    fill: u8,
) -> usize {
    rtp::Repr { marker: false, payload_type, sequence_number: seq, timestamp, ssrc }.emit(buf);
    buf[rtp::HEADER_LEN..rtp::HEADER_LEN + payload_len].fill(fill);
    rtp::HEADER_LEN + payload_len
}

/// The reply a host with `mac` sends to `request`, when `request` is an ARP
/// request (untagged or VLAN-tagged): what a peer on the wire answers the
/// node's next-hop resolution with. `None` for any other frame.
pub fn arp_reply(request: &[u8], mac: MacAddr) -> Option<Vec<u8>> {
    let eth = ethernet::Frame::new_checked(request).ok()?;
    if eth.ethertype() != ethertype::ARP {
        return None;
    }
    let req = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).ok()?).ok()?;
    if req.operation != arp::op::REQUEST {
        return None;
    }
    let mut out = vec![0u8; eth.header_len() + arp::LEN];
    let l2 = ethernet::emit_header(&mut out, req.sender_mac, mac, eth.vlan_id(), ethertype::ARP);
    arp::Repr {
        operation: arp::op::REPLY,
        sender_mac: mac,
        sender_ip: req.target_ip,
        target_mac: req.sender_mac,
        target_ip: req.sender_ip,
    }
    .emit(&mut out[l2..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn an_arp_request_gets_the_reply_a_peer_would_send() {
        let (node, peer) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let (node_ip, peer_ip) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        for vlan in [None, Some(7)] {
            let mut req = [0u8; 64];
            let l2 = ethernet::emit_header(&mut req, MacAddr([0xff; 6]), node, vlan, ethertype::ARP);
            arp::Repr {
                operation: arp::op::REQUEST,
                sender_mac: node,
                sender_ip: node_ip,
                target_mac: MacAddr::default(),
                target_ip: peer_ip,
            }
            .emit(&mut req[l2..]);
            let reply = arp_reply(&req[..l2 + arp::LEN], peer).unwrap();
            let eth = ethernet::Frame::new_checked(&reply[..]).unwrap();
            assert_eq!((eth.dst_addr(), eth.src_addr(), eth.vlan_id()), (node, peer, vlan));
            let r = arp::Repr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap();
            assert_eq!(
                r,
                arp::Repr {
                    operation: arp::op::REPLY,
                    sender_mac: peer,
                    sender_ip: peer_ip,
                    target_mac: node,
                    target_ip: node_ip
                }
            );
            assert_eq!(arp_reply(&reply, node), None, "a reply is not answered");
        }
        let mut udp = [0u8; 64];
        let n = UdpFrame {
            src_mac: peer,
            dst_mac: node,
            vlan: None,
            src: "198.18.0.2:5000".parse().unwrap(),
            dst: "198.18.0.1:6000".parse().unwrap(),
        }
        .emit(&mut udp, &[0; 8]);
        assert_eq!(arp_reply(&udp[..n], peer), None);
    }
}
