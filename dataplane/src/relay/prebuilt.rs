//! The egress headers of a flow, built once when the flow is set: the
//! rewrite of a lean-classified packet is then a fixed-size copy and a
//! checksum patch (RFC 1624), for every family combination and VLAN in or
//! out. The bytes it writes are those [`super::rewrite`] writes: over the same
//! family the packet keeps its IP header's other fields (DSCP, identification,
//! flow label) and only the addresses, ports and TTL change; across
//! families the new IP header is the template with its lengths filled in.

use core::net::{IpAddr, SocketAddr};

use super::TTL;
use crate::buf::PacketBuf;
use crate::classify::{sum_words, Family, Lean};
use crate::flow::Egress;
use crate::stats::DropReason;
use crate::wire::checksum::{fold, fold64};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::ipv4::{self, protocol};
use crate::wire::{ipv6, udp};

/// Longest Ethernet and IP headers: a tag and IPv6.
const MAX_HEADERS: usize = ethernet::VLAN_HEADER_LEN + ipv6::HEADER_LEN;

/// A flow's egress headers. Metadata first, then the header bytes: in a
/// flow entry, what the rewrite of an IPv4 packet leaving over IPv4 reads
/// (the metadata with the new addresses, the Ethernet header) lies in the
/// entry's second cache line ([`Prebuilt::V4_READ`]); the IP template,
/// read only across families or over IPv6, may reach into the third.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Prebuilt {
    /// Sum of the new source and destination addresses as native 32-bit
    /// words (see [`patch`]).
    addr_sum: u64,
    /// New IPv4 source and destination addresses (an IPv4 egress), as in
    /// the template: the rewrite of an IPv4 packet reads them here.
    v4_addrs: [u8; 8],
    /// Index of the next hop in the neighbor table.
    pub next_hop: u32,
    /// The egress DPDK port.
    pub port_id: u16,
    /// New UDP source and destination ports, big-endian.
    ports: [u8; 4],
    /// 14 or 18; 0: no headers (the egress has no remote yet).
    l2_len: u8,
    /// 20 or 40.
    l3_len: u8,
    /// Ethernet header (destination MAC left for the neighbor's), then the
    /// IP header with zero lengths (IPv4: its checksum over those).
    bytes: [u8; MAX_HEADERS],
}

impl Prebuilt {
    /// Bytes from the start of the headers that the rewrite of an IPv4
    /// packet leaving over IPv4 reads, tagged or not.
    pub const V4_READ: usize = core::mem::offset_of!(Prebuilt, bytes) + ethernet::VLAN_HEADER_LEN;

    /// No headers: the flow's packets take [`super::rewrite`].
    pub const NONE: Prebuilt = Prebuilt {
        addr_sum: 0,
        v4_addrs: [0; 8],
        next_hop: 0,
        port_id: 0,
        ports: [0; 4],
        l2_len: 0,
        l3_len: 0,
        bytes: [0; MAX_HEADERS],
    };

    /// The headers of packets leaving by `eg`, or [`Prebuilt::NONE`] while
    /// its remote is unknown or its families differ (refused by the control side).
    pub fn new(eg: &Egress) -> Prebuilt {
        let Some(dst) = eg.dst else { return Prebuilt::NONE };
        let mut p = Prebuilt { next_hop: eg.next_hop, port_id: eg.port_id, ..Prebuilt::NONE };
        let ty = if dst.is_ipv4() { ethertype::IPV4 } else { ethertype::IPV6 };
        let l2 = ethernet::emit_header(&mut p.bytes, MacAddr::default(), eg.src_mac, eg.vlan, ty);
        let l3 = &mut p.bytes[l2..];
        let (addr_sum, l3_len) = match (eg.src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let r = ipv4::Repr { src_addr: s, dst_addr: d, protocol: protocol::UDP, payload_len: 0, ttl: TTL };
                r.emit(l3);
                // Total length 0, and the checksum over that: the rewrite adds the length to both.
                let h: &mut [u8; 20] = (&mut l3[..20]).try_into().expect("20 bytes");
                h[2..4].fill(0);
                h[10..12].fill(0);
                let check = crate::wire::checksum::finish(sum_words(h));
                h[10..12].copy_from_slice(&check.to_be_bytes());
                (ne_sum::<8>(h[12..20].try_into().expect("8 bytes")), ipv4::HEADER_LEN)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let r =
                    ipv6::Repr { src_addr: s, dst_addr: d, next_header: protocol::UDP, payload_len: 0, hop_limit: TTL };
                r.emit(l3);
                (ne_sum::<32>(l3[8..40].try_into().expect("32 bytes")), ipv6::HEADER_LEN)
            }
            _ => return Prebuilt::NONE,
        };
        p.addr_sum = addr_sum;
        p.ports[..2].copy_from_slice(&eg.src.port().to_be_bytes());
        p.ports[2..].copy_from_slice(&dst.port().to_be_bytes());
        if l3_len == ipv4::HEADER_LEN {
            p.v4_addrs.copy_from_slice(&p.bytes[l2 + 12..l2 + 20]);
        }
        p.l2_len = l2 as u8;
        p.l3_len = l3_len as u8;
        p
    }

    /// Whether there are headers.
    #[inline(always)]
    pub fn is_some(&self) -> bool {
        self.l2_len != 0
    }

    /// Whether the packets leave over IPv4.
    #[inline(always)]
    pub fn is_v4(&self) -> bool {
        self.l3_len as usize == ipv4::HEADER_LEN
    }

    /// Where the packet would go, as the full rewrite's route gives it.
    pub fn dst(&self) -> Option<SocketAddr> {
        if !self.is_some() {
            return None;
        }
        let l3 = &self.bytes[self.l2_len as usize..];
        let port = u16::from_be_bytes([self.ports[2], self.ports[3]]);
        Some(if self.is_v4() {
            SocketAddr::from((<[u8; 4]>::try_from(&l3[16..20]).expect("4 bytes"), port))
        } else {
            SocketAddr::from((<[u8; 16]>::try_from(&l3[24..40]).expect("16 bytes"), port))
        })
    }

    /// Rewrites the lean-classified packet `pkt` to leave with these headers
    /// towards next hop `dst_mac`. The caller has checked [`Prebuilt::is_some`],
    /// and that an IPv4 packet without a UDP checksum does not go out over
    /// IPv6 (where one is needed: [`Prebuilt::needs_full_checksum`]).
    #[inline(always)]
    pub fn rewrite(&self, pkt: &mut PacketBuf<'_>, l: &Lean, dst_mac: MacAddr) -> Result<(), DropReason> {
        let (l2_len, l3_len) = (self.l2_len as usize, self.l3_len as usize);
        let in_l3 = pkt.offset() + l.l3_off as usize;
        let udp_at = pkt.offset() + l.udp_off();
        let udp_len = l.udp_len as usize;
        let start = udp_at.checked_sub(l3_len + l2_len).ok_or(DropReason::NoHeadroom)?;
        let buf = pkt.buffer_mut();

        // The old addresses, summed once for the IP and the UDP checksums.
        let (old_addr_sum, old_ttl) = match l.family {
            Family::V4 => {
                let h: &[u8; 20] = buf[in_l3..in_l3 + 20].try_into().expect("20 bytes");
                (ne_sum::<8>(h[12..20].try_into().expect("8 bytes")), h[8])
            }
            Family::V6 => {
                let h: &[u8; 40] = buf[in_l3..in_l3 + 40].try_into().expect("40 bytes");
                (ne_sum::<32>(h[8..40].try_into().expect("32 bytes")), h[7])
            }
        };
        let out_l3 = udp_at - l3_len;
        let tpl = &self.bytes[l2_len..l2_len + l3_len];
        match (l.family, self.is_v4()) {
            (Family::V4, true) => {
                // In place (no options, so the header does not move): addresses,
                // TTL, and the header checksum patched for both.
                let h: &mut [u8; 20] = (&mut buf[out_l3..out_l3 + 20]).try_into().expect("20 bytes");
                let check = u16::from_ne_bytes([h[10], h[11]]);
                let old = old_addr_sum + u16::from_ne_bytes([old_ttl, protocol::UDP]) as u64;
                let new = self.addr_sum + u16::from_ne_bytes([TTL, protocol::UDP]) as u64;
                h[12..20].copy_from_slice(&self.v4_addrs);
                h[8] = TTL;
                h[10..12].copy_from_slice(&patch(check, old, new).to_ne_bytes());
            }
            (Family::V6, false) => {
                let h: &mut [u8; 40] = (&mut buf[out_l3..out_l3 + 40]).try_into().expect("40 bytes");
                h[8..40].copy_from_slice(&tpl[8..40]);
                h[7] = TTL;
            }
            (_, true) => {
                let h: &mut [u8; 20] = (&mut buf[out_l3..out_l3 + 20]).try_into().expect("20 bytes");
                h.copy_from_slice(tpl);
                let total = (ipv4::HEADER_LEN + udp_len) as u16;
                let check = !fold(!u16::from_be_bytes([tpl[10], tpl[11]]) as u32 + total as u32);
                h[2..4].copy_from_slice(&total.to_be_bytes());
                h[10..12].copy_from_slice(&check.to_be_bytes());
            }
            (_, false) => {
                let h: &mut [u8; 40] = (&mut buf[out_l3..out_l3 + 40]).try_into().expect("40 bytes");
                h.copy_from_slice(tpl);
                h[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
            }
        }

        // UDP: new ports; the checksum follows the addresses and ports (the
        // pseudo-header's protocol and length are the same on both sides).
        let u: &mut [u8; udp::HEADER_LEN] = (&mut buf[udp_at..udp_at + 8]).try_into().expect("8 bytes");
        let check = u16::from_ne_bytes([u[6], u[7]]);
        let old_ports = u32::from_ne_bytes([u[0], u[1], u[2], u[3]]) as u64;
        u[..4].copy_from_slice(&self.ports);
        if check != 0 || !self.is_v4() {
            let new = self.addr_sum + u32::from_ne_bytes(self.ports) as u64;
            let c = patch(check, old_addr_sum + old_ports, new);
            u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_ne_bytes());
        }

        let l2 = &mut buf[start..start + l2_len];
        l2.copy_from_slice(&self.bytes[..l2_len]);
        l2[..6].copy_from_slice(&dst_mac.0);
        pkt.set_window(start, l2_len + l3_len + udp_len);
        Ok(())
    }

    /// An IPv4 packet sent without a UDP checksum that leaves over IPv6,
    /// where the checksum is mandatory: it must be computed over the payload,
    /// which [`super::rewrite`] does.
    #[inline(always)]
    pub fn needs_full_checksum(&self, udp_checksum: u16, l: &Lean) -> bool {
        !self.is_v4() && l.family == Family::V4 && udp_checksum == 0
    }
}

/// The sum of `b` as native-endian 32-bit words.
#[inline(always)]
fn ne_sum<const N: usize>(b: &[u8; N]) -> u64 {
    let mut s = 0u64;
    let mut i = 0;
    while i + 4 <= N {
        s += u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
        i += 4;
    }
    s
}

/// RFC 1624 Eq. 3, `HC' = ~(~HC + ~m + m')`, on a checksum read in native
/// byte order and the sums `old` (m) and `new` (m') of native 32-bit words:
/// the one's complement sum is the same in either byte order, byte-swapped,
/// and a 32-bit word is its two 16-bit halves modulo 0xFFFF. `~m` is `-m`
/// modulo 0xFFFF; adding 0xFFFF << 40 (a multiple of it, above any `old`)
/// keeps the difference positive, and a positive sum folds to the same
/// nonzero representative as Eq. 3's, so the bytes written are those of
/// [`crate::wire::checksum::update_sum`].
#[inline(always)]
fn patch(check: u16, old: u64, new: u64) -> u16 {
    !fold64(u64::from(!check) + new + (0xFFFF_u64 << 40) - old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify, classify_lean, Class, PortContext};
    use crate::craft::UdpFrame;
    use crate::wire::checksum;
    use proptest::prelude::*;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
    const NEXT: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);
    const HEADROOM: usize = 64;

    fn addr(v6: bool, host: u8, port: u16) -> SocketAddr {
        if v6 {
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, host as u16], port))
        } else {
            SocketAddr::from(([198, 18, 0, host], port))
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// For every family combination, VLAN in and out, and UDP checksum
        /// present or not, the prebuilt headers give the bytes of the full rewrite.
        #[test]
        fn the_prebuilt_rewrite_writes_what_the_full_rewrite_writes(
            (in_v6, out_v6) in (any::<bool>(), any::<bool>()),
            (vlan_in, vlan_out) in (proptest::option::of(1u16..4095), proptest::option::of(1u16..4095)),
            (tos, ident, ttl, flow_label) in (any::<u8>(), any::<u16>(), 1u8.., any::<u32>()),
            no_checksum in any::<bool>(),
            ports in any::<[u16; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 1..200),
        ) {
            // RTP's first byte: STUN and DTLS (below 64) are not of the common shape.
            let mut payload = payload;
            payload[0] |= 0x80;
            let f = UdpFrame { src_mac: PEER, dst_mac: OURS, vlan: vlan_in, src: addr(in_v6, 2, ports[0]), dst: addr(in_v6, 1, ports[1]) };
            let mut frame = vec![0u8; f.header_len() + payload.len()];
            f.emit(&mut frame, &payload);
            let l3 = if vlan_in.is_some() { 18 } else { 14 };
            if in_v6 {
                let v = (6u32 << 28) | (tos as u32) << 20 | (flow_label & 0xf_ffff);
                frame[l3..l3 + 4].copy_from_slice(&v.to_be_bytes());
                frame[l3 + 7] = ttl;
            } else {
                frame[l3 + 1] = tos;
                frame[l3 + 4..l3 + 6].copy_from_slice(&ident.to_be_bytes());
                frame[l3 + 8] = ttl;
                frame[l3 + 10..l3 + 12].fill(0);
                let c = checksum::finish(checksum::sum(&frame[l3..l3 + 20]));
                frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
                if no_checksum {
                    frame[l3 + 26..l3 + 28].fill(0);
                }
            }
            let port = PortContext::with_vlans(OURS, true, &vlan_in.into_iter().collect::<Vec<_>>());
            let (lean, _) = classify_lean(&frame, &port, None).expect("the common shape");
            let Class::Udp(u) = classify(&frame, 0, &port, None) else { panic!("not UDP") };
            let eg = Egress {
                port_id: 1,
                vlan: vlan_out,
                src_mac: OURS,
                next_hop: 0,
                src: addr(out_v6, 3, ports[2]),
                dst: Some(addr(out_v6, 4, ports[3])),
            };
            let pb = Prebuilt::new(&eg);
            prop_assert_eq!(pb.dst(), eg.dst);
            let mut full_buf = vec![0u8; HEADROOM + frame.len() + 64];
            full_buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(&frame);
            let mut lean_buf = full_buf.clone();
            let mut full = PacketBuf::new(&mut full_buf, HEADROOM, frame.len());
            let mut leaned = PacketBuf::new(&mut lean_buf, HEADROOM, frame.len());
            super::super::rewrite(&mut full, &u, &eg, eg.dst.unwrap(), NEXT).unwrap();
            prop_assert_eq!(pb.needs_full_checksum(u16::from_ne_bytes([frame[lean.udp_off() + 6], frame[lean.udp_off() + 7]]), &lean), !in_v6 && out_v6 && no_checksum);
            if !pb.needs_full_checksum(u16::from_ne_bytes([frame[lean.udp_off() + 6], frame[lean.udp_off() + 7]]), &lean) {
                pb.rewrite(&mut leaned, &lean, NEXT).unwrap();
                prop_assert_eq!(full.data(), leaned.data());
            }
        }
    }

    #[test]
    fn no_remote_no_headers() {
        let any = SocketAddr::from(([198, 18, 0, 1], 1));
        let eg = Egress { port_id: 0, vlan: None, src_mac: OURS, next_hop: 0, src: any, dst: None };
        assert!(!Prebuilt::new(&eg).is_some());
        let mixed = Egress { dst: Some(addr(true, 1, 1)), ..eg };
        assert!(!Prebuilt::new(&mixed).is_some());
    }
}
