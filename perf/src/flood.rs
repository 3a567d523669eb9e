//! Floods for the slow-path protection test (`perf/flood.sh`): frames of
//! one kind from many spoofed sources, built once and sent round-robin by
//! `mfw-blast --flood`.
//!
//! Every source is made up: station MACs `02:…`, IPv4 sources in
//! 198.18.0.0/15 (ARP senders on the relay's /24, the gateway's address
//! among them, so that a flood also claims the live next hop), IPv6 sources
//! in 2001:db8::/64.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mediafwd_dataplane::craft::UdpFrame;
use mediafwd_dataplane::slowpath::{arp, nd, Interface, Ipv4Net, Ipv6Net};
use mediafwd_dataplane::wire::ethernet::{self, ethertype, MacAddr};
use mediafwd_dataplane::wire::{icmpv4, ipv4, protocol};

/// What a flood is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloodKind {
    /// Broadcast ARP requests for the relay's address.
    Arp,
    /// Neighbor Solicitations for the relay's IPv6 address.
    Ns,
    /// ICMP echo requests to the relay.
    Echo,
    /// UDP to a port no session uses.
    UdpClosed,
    /// UDP to the live calls' relay ports, from sources that are not theirs.
    UdpWrongSource,
}

/// Where a flood goes.
#[derive(Debug, Clone)]
pub struct FloodTarget {
    /// The relay's MAC.
    pub relay_mac: MacAddr,
    /// The relay's IPv4 address (a /24 of 198.18.0.0/15).
    pub relay_v4: Ipv4Addr,
    /// The relay's IPv6 address (a /64 of 2001:db8::/32).
    pub relay_v6: Ipv6Addr,
    /// The address of the live next hop (the gateway), claimed by some ARP.
    pub gateway_v4: Ipv4Addr,
    /// Relay ports the calls use, for [`FloodKind::UdpWrongSource`].
    pub live_ports: (u16, u16),
}

/// A small xorshift: the same flood on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn mac(&mut self) -> MacAddr {
        let b = self.next().to_le_bytes();
        MacAddr([0x02, b[0], b[1], b[2], b[3], b[4]])
    }
}

/// `n` frames of `kind` towards `t`, each from another spoofed source.
pub fn frames(kind: FloodKind, t: &FloodTarget, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x6d66_7764_666c_6f6f);
    let [a, b, c, _] = t.relay_v4.octets();
    (0..n)
        .map(|i| {
            let mut buf = vec![0u8; 256];
            let mac = rng.mac();
            let r = rng.next();
            let len = match kind {
                FloodKind::Arp => {
                    // One in 16 claims the gateway's address.
                    let host = if i.is_multiple_of(16) { t.gateway_v4.octets()[3] } else { 3 + (r % 250) as u8 };
                    let mut peer = Interface::new("flood", 0, None, mac);
                    peer.ipv4 = vec![Ipv4Net::new(Ipv4Addr::new(a, b, c, host), 24).expect("a /24")];
                    arp::request(&mut buf, &peer, t.relay_v4, None).expect("an IPv4 sender")
                }
                FloodKind::Ns => {
                    let mut peer = Interface::new("flood", 0, None, mac);
                    let mut src = t.relay_v6.octets();
                    src[8..].copy_from_slice(&r.to_be_bytes());
                    peer.ipv6 = vec![Ipv6Net::new(Ipv6Addr::from(src), 64).expect("a /64")];
                    nd::solicit(&mut buf, &peer, t.relay_v6, None)
                }
                FloodKind::Echo => {
                    let src = Ipv4Addr::new(198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8);
                    echo(&mut buf, mac, t.relay_mac, src, t.relay_v4, i as u16)
                }
                FloodKind::UdpClosed | FloodKind::UdpWrongSource => {
                    let src = Ipv4Addr::new(198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8);
                    let port = match kind {
                        FloodKind::UdpClosed => 9,
                        _ => {
                            let (lo, hi) = t.live_ports;
                            lo + ((r >> 24) % u64::from(hi.saturating_sub(lo).max(1) + 1)) as u16
                        }
                    };
                    let mut payload = [0u8; 172];
                    payload[0] = 0x80;
                    payload[4..8].copy_from_slice(&(i as u32).to_be_bytes());
                    UdpFrame {
                        src_mac: mac,
                        dst_mac: t.relay_mac,
                        vlan: None,
                        src: SocketAddr::new(IpAddr::V4(src), 20_000 + (r >> 40) as u16 % 20_000),
                        dst: SocketAddr::new(IpAddr::V4(t.relay_v4), port),
                    }
                    .emit(&mut buf, &payload)
                }
            };
            buf.truncate(len.max(60));
            buf
        })
        .collect()
}

/// An ICMP echo request with 56 bytes of data.
fn echo(buf: &mut [u8], src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> usize {
    const DATA: usize = 56;
    ethernet::emit_header(buf, dst_mac, src_mac, None, ethertype::IPV4);
    ipv4::Repr { src_addr: src, dst_addr: dst, protocol: protocol::ICMP, payload_len: 8 + DATA, ttl: 64 }
        .emit(&mut buf[14..]);
    let mut icmp = icmpv4::Packet::new_unchecked(&mut buf[34..34 + 8 + DATA]);
    icmp.set_msg_type(icmpv4::msg_type::ECHO_REQUEST);
    icmp.set_echo_ident(0x666c);
    icmp.set_echo_seq(seq);
    icmp.payload_mut().fill(0xa5);
    icmp.fill_checksum();
    34 + 8 + DATA
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::slowpath::{handle_frame, Handled, IceLegs, Message, ReplyLimits, SlowPathConfig, Verdict};
    use std::time::Instant;

    fn target() -> FloodTarget {
        FloodTarget {
            relay_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
            relay_v4: "198.18.0.1".parse().unwrap(),
            relay_v6: "2001:db8::1".parse().unwrap(),
            gateway_v4: "198.18.0.2".parse().unwrap(),
            live_ports: (30000, 30010),
        }
    }

    /// The relay's interface as the slow path sees it.
    fn relay() -> Interface {
        let mut i = Interface::new("public", 0, None, target().relay_mac);
        i.ipv4 = vec![Ipv4Net::new("198.18.0.1".parse().unwrap(), 24).unwrap()];
        i.ipv6 = vec![Ipv6Net::new("2001:db8::1".parse().unwrap(), 64).unwrap()];
        i
    }

    fn handled(frame: &[u8]) -> Handled {
        let mut buf = frame.to_vec();
        buf.resize(512, 0);
        let mut limits: Vec<ReplyLimits> = vec![SlowPathConfig::default().reply_limits()];
        handle_frame(&mut buf, frame.len(), Some(0), &[relay()], &mut limits, &mut IceLegs::default(), Instant::now()).1
    }

    #[test]
    fn slow_path_floods_are_valid_requests_the_relay_answers() {
        for (kind, message) in [
            (FloodKind::Arp, Message::ArpRequest),
            (FloodKind::Ns, Message::NeighborSolicit),
            (FloodKind::Echo, Message::EchoRequest),
        ] {
            let f = frames(kind, &target(), 64);
            let distinct: std::collections::HashSet<_> = f.iter().collect();
            assert_eq!(distinct.len(), 64, "{kind:?}: every frame from another source");
            for frame in &f {
                let h = handled(frame);
                assert_eq!(h.message, message, "{kind:?}");
                assert!(matches!(h.verdict, Verdict::Reply { .. }), "{kind:?}: {h:?}");
            }
        }
        // Some ARP claims the gateway.
        let arp = frames(FloodKind::Arp, &target(), 16);
        assert_eq!(&arp[0][28..32], &[198, 18, 0, 2]);
    }

    #[test]
    fn udp_floods_go_where_asked() {
        let t = target();
        for f in frames(FloodKind::UdpClosed, &t, 32) {
            assert_eq!(u16::from_be_bytes([f[36], f[37]]), 9);
            assert!(ipv4::Packet::new_checked(&f[14..]).unwrap().verify_checksum());
        }
        for f in frames(FloodKind::UdpWrongSource, &t, 256) {
            let port = u16::from_be_bytes([f[36], f[37]]);
            assert!((30000..=30010).contains(&port));
            assert_eq!(f[26], 198);
        }
    }
}
