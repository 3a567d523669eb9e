//! ICE checks to a WebRTC leg's relay port: the workers punt STUN here
//! (see [`crate::classify`]), the leg's credentials answer it
//! ([`crate::ice::answer`]), and the response leaves by the interface the
//! check came in on, from the leg's address to the checking one.
//!
//! [`IceLegs`] holds, per relay address, the leg's credentials and its
//! [`IceLeg`] state; a nomination or a loss of consent comes out as an
//! [`IceEvent`] for the control side, which owns the flows to latch or stop.
//! DTLS records to a leg are copied out as [`DtlsDatagram`]s for the
//! control side's DTLS endpoint, which answers through the slow path.

use core::net::SocketAddr;
use core::ops::Range;
use std::collections::HashMap;
use std::time::Instant;

use super::interface::Interface;
use super::verdict::{pad, Handled, Message, Reason, Verdict};
use crate::craft::UdpFrame;
use crate::ice::{answer, Answer, Credentials, IceEvent, IceLeg, MAX_RESPONSE_LEN};
use crate::wire::ethernet::{self, ethertype, MacAddr};
use crate::wire::{ipv4, ipv6, protocol, stun, udp};

/// A leg's ICE credentials, as the SDP gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// Our a=ice-ufrag.
    pub local_ufrag: String,
    /// Our a=ice-pwd.
    pub local_pwd: String,
    /// The peer's a=ice-ufrag, once known.
    pub remote_ufrag: Option<String>,
}

/// DTLS records waiting for the control side, at most: beyond, they are
/// dropped (a peer retransmits).
pub const MAX_DTLS_QUEUED: usize = 256;

/// A DTLS datagram between a leg and its peer, with the addressing of the
/// frame that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsDatagram {
    /// The leg's relay address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The peer's MAC (the previous hop of what arrived, the next of what leaves).
    pub peer_mac: MacAddr,
    /// The port of the interface.
    pub port_id: u16,
    /// The VLAN of the interface.
    pub vlan: Option<u16>,
    /// The DTLS record(s).
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    creds: IceCredentials,
    state: IceLeg,
    /// How the last verified check reached the leg: the way back to its peer.
    route: Option<DtlsDatagram>,
}

/// The ICE-lite legs served on this node, by relay address.
#[derive(Debug)]
pub struct IceLegs {
    legs: HashMap<SocketAddr, Entry>,
    events: Vec<(SocketAddr, IceEvent)>,
    dtls: Vec<DtlsDatagram>,
    epoch: Instant,
}

impl Default for IceLegs {
    fn default() -> Self {
        IceLegs { legs: HashMap::new(), events: Vec::new(), dtls: Vec::new(), epoch: Instant::now() }
    }
}

impl IceLegs {
    /// Serves ICE on relay address `local` with `creds`. New credentials
    /// (an ICE restart, RFC 8445 §9) forget the nomination; the same ones
    /// (a re-offer that keeps them, the peer's ufrag arriving) keep it.
    pub fn set(&mut self, local: SocketAddr, creds: IceCredentials) {
        let e = self.legs.entry(local).or_insert_with(|| Entry {
            creds: creds.clone(),
            state: IceLeg::default(),
            route: None,
        });
        if e.creds.local_ufrag != creds.local_ufrag || e.creds.local_pwd != creds.local_pwd {
            e.state = IceLeg::default();
            e.route = None;
        }
        e.creds = creds;
    }

    /// Stops serving ICE on `local`.
    pub fn remove(&mut self, local: &SocketAddr) {
        self.legs.remove(local);
    }

    /// The ICE state of the leg on `local`.
    pub fn state(&self, local: &SocketAddr) -> Option<&IceLeg> {
        self.legs.get(local).map(|e| &e.state)
    }

    /// The addressing of the leg's nominated peer (a datagram with no
    /// payload), learned from the verified check that nominated it: where a
    /// DTLS client on the leg sends its first flight.
    pub fn route(&self, local: &SocketAddr) -> Option<DtlsDatagram> {
        let e = self.legs.get(local)?;
        e.route.clone().filter(|r| Some(r.remote) == e.state.nominated)
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Checks every leg's consent at `now`, keeping each loss as an event.
    pub fn poll(&mut self, now: Instant) {
        let ms = self.ms(now);
        for (local, e) in &mut self.legs {
            self.events.extend(e.state.poll(ms).map(|ev| (*local, ev)));
        }
    }

    /// Moves the DTLS datagrams received since the last call to `out`.
    pub fn drain_dtls(&mut self, out: &mut Vec<DtlsDatagram>) {
        out.append(&mut self.dtls);
    }

    /// Moves the events raised since the last call (nominations, losses of
    /// consent), each with its leg's relay address, to `out`.
    pub fn drain_events(&mut self, out: &mut Vec<(SocketAddr, IceEvent)>) {
        out.append(&mut self.events);
    }

    /// Handles the UDP frame at `buf[..len]` that arrived on `iface`:
    /// answers a check in place (the buffer beyond `len` is room for the
    /// response) and keeps a nomination of the leg it reached as an event.
    pub fn handle(&mut self, buf: &mut [u8], len: usize, iface: &Interface, now: Instant) -> Handled {
        let Some((from, local, payload)) = udp_of(&buf[..len.min(buf.len())]) else {
            return Handled::drop(Message::Other, Reason::Malformed);
        };
        let p = &buf[payload];
        if stun::is_dtls(p) {
            if !self.legs.contains_key(&local) || self.dtls.len() >= MAX_DTLS_QUEUED {
                return Handled::drop(Message::DtlsRecord, Reason::DtlsUnserved);
            }
            let peer_mac = ethernet::Frame::new_unchecked(&buf[..]).src_addr();
            let (port_id, vlan) = (iface.port_id, iface.vlan);
            self.dtls.push(DtlsDatagram { local, remote: from, peer_mac, port_id, vlan, payload: p.to_vec() });
            return Handled { message: Message::DtlsRecord, verdict: Verdict::Consumed };
        }
        if !stun::is_stun(p) {
            return Handled::drop(Message::Other, Reason::Unsupported);
        }
        let ms = self.ms(now);
        let Some(e) = self.legs.get_mut(&local) else {
            return Handled::drop(Message::StunRequest, Reason::UnknownIceLeg);
        };
        let creds = Credentials {
            local_ufrag: e.creds.local_ufrag.as_bytes(),
            local_pwd: e.creds.local_pwd.as_bytes(),
            remote_ufrag: e.creds.remote_ufrag.as_ref().map(|r| r.as_bytes()),
        };
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let (n, message, event) = match answer(p, from, &creds, &mut out) {
            Answer::Success { len, check } => (len, Message::StunRequest, e.state.on_check(ms, from, &check)),
            Answer::Error { len, .. } => (len, Message::StunRefused, None),
            Answer::Drop(_) => return Handled::drop(Message::StunRequest, Reason::BadStun),
        };
        let reply = UdpFrame {
            src_mac: iface.mac,
            dst_mac: ethernet::Frame::new_unchecked(&buf[..]).src_addr(),
            vlan: iface.vlan,
            src: local,
            dst: from,
        };
        if reply.header_len() + n > buf.len() {
            return Handled::drop(message, Reason::NoRoom);
        }
        self.events.extend(event.map(|ev| (local, ev)));
        if let Some(IceEvent::Nominated(remote)) = event {
            let (port_id, vlan, peer_mac) = (iface.port_id, iface.vlan, reply.dst_mac);
            e.route = Some(DtlsDatagram { local, remote, peer_mac, port_id, vlan, payload: Vec::new() });
        }
        let n = reply.emit(buf, &out[..n]);
        let len = pad(buf, n);
        Handled { message, verdict: Verdict::Reply { len, learn: None } }
    }
}

/// The sender, the destination and the payload's range of a UDP frame.
pub(crate) fn udp_of(frame: &[u8]) -> Option<(SocketAddr, SocketAddr, Range<usize>)> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let l3 = eth.header_len();
    let (src, dst, l4) = match eth.ethertype() {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(&frame[l3..]).ok()?;
            if ip.protocol() != protocol::UDP || ip.is_fragment() {
                return None;
            }
            (ip.src_addr().into(), ip.dst_addr().into(), l3 + ip.header_len())
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(&frame[l3..]).ok()?;
            if ip.next_header() != protocol::UDP {
                return None;
            }
            (ip.src_addr().into(), ip.dst_addr().into(), l3 + ipv6::HEADER_LEN)
        }
        _ => return None,
    };
    let u = udp::Datagram::new_checked(&frame[l4..]).ok()?;
    let payload = l4 + udp::HEADER_LEN..l4 + usize::from(u.len());
    Some((SocketAddr::new(src, u.src_port()), SocketAddr::new(dst, u.dst_port()), payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::check::tests::{request, CREDS};
    use crate::ice::CONSENT_TIMEOUT_MS;
    use crate::wire::ethernet::MacAddr;
    use crate::wire::stun::{attr, msg_type};
    use std::time::Duration;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);
    const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

    fn iface(vlan: Option<u16>) -> Interface {
        Interface::new("p0", 0, vlan, OURS)
    }

    fn legs(local: SocketAddr) -> IceLegs {
        let mut l = IceLegs::default();
        let creds = IceCredentials {
            local_ufrag: "mfwd".into(),
            local_pwd: core::str::from_utf8(CREDS.local_pwd).unwrap().into(),
            remote_ufrag: Some("web1".into()),
        };
        l.set(local, creds);
        l
    }

    fn frame(vlan: Option<u16>, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> ([u8; 512], usize) {
        let mut buf = [0u8; 512];
        let n = UdpFrame { src_mac: PEER, dst_mac: OURS, vlan, src: from, dst: to }.emit(&mut buf, payload);
        (buf, n)
    }

    fn check(pwd: &[u8], nominate: bool) -> Vec<u8> {
        request(b"mfwd:web1", pwd, attr::ICE_CONTROLLING, nominate, &[])
    }

    #[test]
    fn a_check_is_answered_from_the_leg_and_nomination_latches() {
        for (local, from, vlan) in
            [("198.18.0.1:30000", "198.18.0.2:5000", None), ("[2001:db8::1]:30000", "[2001:db8::2]:5000", Some(100))]
        {
            let (local, from): (SocketAddr, SocketAddr) = (local.parse().unwrap(), from.parse().unwrap());
            let mut l = legs(local);
            let now = Instant::now();
            let (mut buf, n) = frame(vlan, from, local, &check(CREDS.local_pwd, true));
            let h = l.handle(&mut buf, n, &iface(vlan), now);
            let mut events = Vec::new();
            l.drain_events(&mut events);
            assert_eq!(events, [(local, IceEvent::Nominated(from))]);
            let Verdict::Reply { len, .. } = h.verdict else { panic!("{h:?}") };
            assert_eq!(h.message, Message::StunRequest);
            // The response goes from the leg to the sender, with checksums that verify.
            let eth = ethernet::Frame::new_checked(&buf[..len]).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr(), eth.vlan_id()), (OURS, PEER, vlan));
            let (src, dst, payload) = udp_of(&buf[..len]).unwrap();
            assert_eq!((src, dst), (local, from));
            let l3 = &buf[eth.header_len()..len];
            let udp_ok = match (local, from) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    let ip = ipv4::Packet::new_checked(l3).unwrap();
                    ip.verify_checksum()
                        && udp::Datagram::new_checked(ip.payload()).unwrap().verify_checksum_v4(*s.ip(), *d.ip())
                }
                (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                    let ip = ipv6::Packet::new_checked(l3).unwrap();
                    udp::Datagram::new_checked(ip.payload()).unwrap().verify_checksum_v6(s.ip(), d.ip())
                }
                _ => unreachable!(),
            };
            assert!(udp_ok);
            let m = stun::Message::new_checked(&buf[payload]).unwrap();
            assert_eq!(m.msg_type(), msg_type::BINDING_SUCCESS);
            assert!(m.verify_integrity(CREDS.local_pwd));
            let xma = m.find(attr::XOR_MAPPED_ADDRESS).unwrap();
            assert_eq!(stun::decode_xor_address(xma.value, &m.transaction_id()), Some(from));
            assert_eq!(l.state(&local).unwrap().nominated, Some(from));
            let route = l.route(&local).unwrap();
            assert_eq!((route.remote, route.peer_mac, route.vlan), (from, PEER, vlan));
            // Consent runs out without further checks, once.
            events.clear();
            l.poll(now + Duration::from_millis(CONSENT_TIMEOUT_MS + 1000));
            l.poll(now + Duration::from_millis(CONSENT_TIMEOUT_MS + 2000));
            l.drain_events(&mut events);
            assert_eq!(events, [(local, IceEvent::ConsentLost(from))]);
        }
    }

    #[test]
    fn refused_unknown_and_other_traffic() {
        let (local, from): (SocketAddr, SocketAddr) =
            ("198.18.0.1:30000".parse().unwrap(), "198.18.0.2:5000".parse().unwrap());
        let mut l = legs(local);
        let now = Instant::now();
        // A wrong ice-pwd: answered 401, no nomination.
        let (mut buf, n) = frame(None, from, local, &check(b"wrong", true));
        let h = l.handle(&mut buf, n, &iface(None), now);
        assert_eq!(h.message, Message::StunRefused);
        assert!(matches!(h.verdict, Verdict::Reply { .. }));
        assert_eq!(l.state(&local).unwrap().nominated, None);
        let mut events = Vec::new();
        l.drain_events(&mut events);
        assert!(events.is_empty());
        // To a port with no ICE leg.
        let other: SocketAddr = "198.18.0.1:30002".parse().unwrap();
        let (mut buf, n) = frame(None, from, other, &check(CREDS.local_pwd, true));
        assert_eq!(l.handle(&mut buf, n, &iface(None), now).verdict, Verdict::Drop(Reason::UnknownIceLeg));
        // A corrupted check, DTLS, and a UDP payload that is neither.
        let mut bad = check(CREDS.local_pwd, true);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        for (payload, reason) in [(&bad[..], Reason::BadStun), (&[0x80, 0, 0, 1][..], Reason::Unsupported)] {
            let (mut buf, n) = frame(None, from, local, payload);
            assert_eq!(l.handle(&mut buf, n, &iface(None), now).verdict, Verdict::Drop(reason));
        }
        assert_eq!(l.handle(&mut [0u8; 20], 20, &iface(None), now).verdict, Verdict::Drop(Reason::Malformed));
        // DTLS to the leg is handed over with its addressing; to another port, dropped.
        let record = [0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        let (mut buf, n) = frame(Some(7), from, local, &record);
        let h = l.handle(&mut buf, n, &iface(Some(7)), now);
        assert_eq!((h.message, h.verdict), (Message::DtlsRecord, Verdict::Consumed));
        let (mut buf, n) = frame(None, from, other, &record);
        assert_eq!(l.handle(&mut buf, n, &iface(None), now).verdict, Verdict::Drop(Reason::DtlsUnserved));
        let mut dtls = Vec::new();
        l.drain_dtls(&mut dtls);
        let want =
            DtlsDatagram { local, remote: from, peer_mac: PEER, port_id: 0, vlan: Some(7), payload: record.to_vec() };
        assert_eq!(dtls, [want]);
        for _ in 0..MAX_DTLS_QUEUED + 3 {
            let (mut buf, n) = frame(None, from, local, &record);
            l.handle(&mut buf, n, &iface(None), now);
        }
        l.drain_dtls(&mut dtls);
        assert_eq!(dtls.len(), 1 + MAX_DTLS_QUEUED, "bounded");
        // An ICE restart forgets the nomination; the same credentials keep it.
        let (mut buf, n) = frame(None, from, local, &check(CREDS.local_pwd, true));
        l.handle(&mut buf, n, &iface(None), now);
        let mut creds = IceCredentials {
            local_ufrag: "mfwd".into(),
            local_pwd: core::str::from_utf8(CREDS.local_pwd).unwrap().into(),
            remote_ufrag: None,
        };
        l.set(local, creds.clone());
        assert_eq!(l.state(&local).unwrap().nominated, Some(from));
        creds.local_ufrag = "new1".into();
        l.set(local, creds);
        assert_eq!(l.state(&local).unwrap().nominated, None);
        l.remove(&local);
        assert!(l.state(&local).is_none());
    }
}
