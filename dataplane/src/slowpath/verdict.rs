//! What a slow-path handler decided about a frame: reply, learn, or drop
//! and why.

use core::net::IpAddr;

use crate::stats::reasons::reasons;
use crate::wire::ethernet::MacAddr;

reasons! {
    /// Why the slow path dropped a frame (or could not send one).
    pub enum Reason {
        /// A header failed its length, layout or checksum checks.
        Malformed = "malformed",
        /// Valid, but nothing the slow path serves: another EtherType or IP
        /// protocol, an IPv4 fragment, an IPv6 extension header, an ARP
        /// operation other than request and reply.
        Unsupported = "unsupported",
        /// No interface on the port carries the frame's VLAN (or untagged frames).
        UnknownVlan = "unknown_vlan",
        /// The port the frame arrived on could not be told.
        UnknownPort = "unknown_port",
        /// For an address that is not ours, or from a neighbor not tracked.
        NotOurAddress = "not_our_address",
        /// A source no reply may go to (multicast, broadcast, unspecified).
        BadSource = "bad_source",
        /// Another station claims one of our addresses.
        AddressConflict = "address_conflict",
        /// One of our own frames came back.
        Looped = "looped",
        /// A Neighbor Solicitation or Advertisement failing RFC 4861 §7.1.
        BadNd = "bad_nd",
        /// An ICMP or ICMPv6 error message.
        IcmpError = "icmp_error",
        /// Router solicitation or advertisement.
        RouterDiscovery = "router_discovery",
        /// ICMP or ICMPv6 redirect.
        Redirect = "redirect",
        /// Any other ICMP or ICMPv6 type (echo replies, MLD, timestamps...).
        OtherIcmp = "other_icmp",
        /// A request (echo, ARP, Neighbor Solicitation) over the
        /// interface's reply rate.
        RateLimited = "rate_limited",
        /// The reply does not fit in the packet's buffer.
        NoRoom = "no_room",
        /// A chained (multi-segment) mbuf.
        MultiSegment = "multi_segment",
        /// The port's TX queue stayed full.
        TxFull = "tx_full",
        /// No mbuf for a frame the slow path originates.
        NoMbuf = "no_mbuf",
        /// ARP or ND naming a neighbor the table does not resolve: neighbors
        /// are learned only when asked for.
        Untracked = "untracked",
        /// ARP or ND giving a tracked neighbor another MAC than the one it
        /// has: not taken; the known MAC is probed.
        Disputed = "disputed",
        /// STUN to a relay address with no ICE leg.
        UnknownIceLeg = "unknown_ice_leg",
        /// STUN that is not an ICE check: malformed, no valid FINGERPRINT,
        /// an indication or a response.
        BadStun = "bad_stun",
        /// A DTLS record to a relay port with no WebRTC leg, or beyond what
        /// the control side has yet to take.
        DtlsUnserved = "dtls_unserved",
    }
}

/// The kind of message received, for the in-counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// ARP request.
    ArpRequest,
    /// ARP reply.
    ArpReply,
    /// Neighbor Solicitation.
    NeighborSolicit,
    /// Neighbor Advertisement.
    NeighborAdvert,
    /// ICMP or ICMPv6 echo request.
    EchoRequest,
    /// A STUN Binding request to an ICE leg, answered with success (or
    /// dropped, with its reason).
    StunRequest,
    /// A STUN Binding request refused with an error response (401, 487...).
    StunRefused,
    /// A DTLS record to a WebRTC leg, handed to the control side.
    DtlsRecord,
    /// Anything else, or not recognised.
    Other,
}

/// A neighbor's link-layer address, seen in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Learn {
    /// The neighbor's IP address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The buffer's first `len` bytes now hold a reply: transmit it on the
    /// port the frame arrived on; learn the sender too.
    Reply {
        /// Length of the reply frame.
        len: usize,
        /// The sender's address, when the request carried it.
        learn: Option<Learn>,
    },
    /// No reply; the sender's (or target's) address to learn.
    Learn(Learn),
    /// Taken for the control side (a DTLS record, copied out): free the frame.
    Consumed,
    /// Nothing to do: free the frame and count the reason.
    Drop(Reason),
}

/// A handler's result: what arrived and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// The kind of message received.
    pub message: Message,
    /// What to do.
    pub verdict: Verdict,
}

impl Handled {
    /// A dropped `message`.
    pub const fn drop(message: Message, reason: Reason) -> Self {
        Handled { message, verdict: Verdict::Drop(reason) }
    }

    /// The address to learn, from a reply or a learn verdict.
    pub fn learn(&self) -> Option<Learn> {
        match self.verdict {
            Verdict::Reply { learn, .. } => learn,
            Verdict::Learn(l) => Some(l),
            Verdict::Drop(_) | Verdict::Consumed => None,
        }
    }
}

/// Shortest Ethernet frame without its FCS (IEEE 802.3 §4.2.3.3).
pub(crate) const MIN_FRAME: usize = 60;

/// Zero-pads the frame at `buf[..len]` to [`MIN_FRAME`] bytes where the
/// buffer allows; returns the new length.
pub(crate) fn pad(buf: &mut [u8], len: usize) -> usize {
    let end = len.max(MIN_FRAME).min(buf.len()).max(len);
    buf[len..end].fill(0);
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_counter_order_with_unique_names() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::COUNT);
    }

    #[test]
    fn padding() {
        let mut b = [0xEEu8; 80];
        assert_eq!(pad(&mut b, 42), 60);
        assert!(b[42..60].iter().all(|&x| x == 0) && b[60] == 0xEE);
        assert_eq!(pad(&mut b, 70), 70);
        let mut short = [0xEEu8; 50];
        assert_eq!(pad(&mut short, 42), 50);
        assert_eq!(pad(&mut short, 50), 50);
    }
}
