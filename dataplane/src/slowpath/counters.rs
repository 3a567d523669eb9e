//! The slow path's counters: written by the control core that runs it,
//! read by anyone (metrics, the API) without a lock.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::verdict::{Message, Reason};
use crate::stats::counters::add;

/// What the slow path received, sent and dropped.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct SlowPathCounters {
    /// Frames taken from the workers' rings.
    pub rx_packets: AtomicU64,
    /// Frames transmitted (replies, probes, announcements).
    pub tx_packets: AtomicU64,
    /// ARP requests received.
    pub arp_requests_in: AtomicU64,
    /// ARP replies received.
    pub arp_replies_in: AtomicU64,
    /// ARP requests sent to resolve or refresh neighbors.
    pub arp_requests_out: AtomicU64,
    /// ARP replies sent.
    pub arp_replies_out: AtomicU64,
    /// Neighbor Solicitations received.
    pub ns_in: AtomicU64,
    /// Neighbor Advertisements received.
    pub na_in: AtomicU64,
    /// Neighbor Solicitations sent to resolve or refresh neighbors.
    pub ns_out: AtomicU64,
    /// Neighbor Advertisements sent in answer.
    pub na_out: AtomicU64,
    /// Echo requests (ICMP and ICMPv6) received.
    pub echo_requests_in: AtomicU64,
    /// Echo replies sent.
    pub echo_replies_out: AtomicU64,
    /// ICE checks (STUN Binding requests) received and verified.
    pub stun_requests_in: AtomicU64,
    /// ICE checks refused with an error response (wrong ufrag or ice-pwd,
    /// role conflict, unknown attribute).
    pub stun_refused_in: AtomicU64,
    /// STUN responses sent (success and error).
    pub stun_responses_out: AtomicU64,
    /// DTLS records handed to the control side.
    pub dtls_in: AtomicU64,
    /// DTLS records sent for the control side.
    pub dtls_out: AtomicU64,
    /// Gratuitous ARPs and unsolicited NAs sent.
    pub announcements_out: AtomicU64,
    /// Neighbor entries given their MAC from received frames.
    pub neighbors_learned: AtomicU64,
    /// Frames dropped, by [`Reason`] (requests refused a reply by the rate limits included).
    pub drops: [AtomicU64; Reason::COUNT],
}

/// A copy of [`SlowPathCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowPathStats {
    /// Frames taken from the workers' rings.
    pub rx_packets: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// ARP requests received.
    pub arp_requests_in: u64,
    /// ARP replies received.
    pub arp_replies_in: u64,
    /// ARP requests sent.
    pub arp_requests_out: u64,
    /// ARP replies sent.
    pub arp_replies_out: u64,
    /// Neighbor Solicitations received.
    pub ns_in: u64,
    /// Neighbor Advertisements received.
    pub na_in: u64,
    /// Neighbor Solicitations sent.
    pub ns_out: u64,
    /// Neighbor Advertisements sent.
    pub na_out: u64,
    /// Echo requests received.
    pub echo_requests_in: u64,
    /// Echo replies sent.
    pub echo_replies_out: u64,
    /// ICE checks received and verified.
    pub stun_requests_in: u64,
    /// ICE checks refused with an error response.
    pub stun_refused_in: u64,
    /// STUN responses sent.
    pub stun_responses_out: u64,
    /// DTLS records handed to the control side.
    pub dtls_in: u64,
    /// DTLS records sent for the control side.
    pub dtls_out: u64,
    /// Announcements sent.
    pub announcements_out: u64,
    /// Neighbor entries learned.
    pub neighbors_learned: u64,
    /// Drops by reason, in [`Reason::ALL`] order.
    pub drops: [u64; Reason::COUNT],
}

impl SlowPathStats {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: Reason) -> u64 {
        self.drops[reason as usize]
    }

    /// Echo requests refused by the rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.dropped(Reason::RateLimited)
    }
}

// The counting side is used by the I/O edge (`service`, feature `dpdk`).
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
impl SlowPathCounters {
    /// Counts `n` drops for `reason`.
    pub(crate) fn drop_n(&self, reason: Reason, n: u64) {
        add(&self.drops[reason as usize], n);
    }

    /// Counts a received message by kind.
    pub(crate) fn received(&self, m: Message) {
        let c = match m {
            Message::ArpRequest => &self.arp_requests_in,
            Message::ArpReply => &self.arp_replies_in,
            Message::NeighborSolicit => &self.ns_in,
            Message::NeighborAdvert => &self.na_in,
            Message::EchoRequest => &self.echo_requests_in,
            Message::StunRequest => &self.stun_requests_in,
            Message::StunRefused => &self.stun_refused_in,
            Message::DtlsRecord => &self.dtls_in,
            Message::Other => return,
        };
        add(c, 1);
    }

    /// Counts the reply sent to a message of kind `m`.
    pub(crate) fn replied(&self, m: Message) {
        let c = match m {
            Message::ArpRequest => &self.arp_replies_out,
            Message::NeighborSolicit => &self.na_out,
            Message::EchoRequest => &self.echo_replies_out,
            Message::StunRequest | Message::StunRefused => &self.stun_responses_out,
            _ => return,
        };
        add(c, 1);
    }

    /// A consistent-enough copy (each counter read once, relaxed).
    pub fn snapshot(&self) -> SlowPathStats {
        SlowPathStats {
            rx_packets: self.rx_packets.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            arp_requests_in: self.arp_requests_in.load(Relaxed),
            arp_replies_in: self.arp_replies_in.load(Relaxed),
            arp_requests_out: self.arp_requests_out.load(Relaxed),
            arp_replies_out: self.arp_replies_out.load(Relaxed),
            ns_in: self.ns_in.load(Relaxed),
            na_in: self.na_in.load(Relaxed),
            ns_out: self.ns_out.load(Relaxed),
            na_out: self.na_out.load(Relaxed),
            echo_requests_in: self.echo_requests_in.load(Relaxed),
            echo_replies_out: self.echo_replies_out.load(Relaxed),
            stun_requests_in: self.stun_requests_in.load(Relaxed),
            stun_refused_in: self.stun_refused_in.load(Relaxed),
            stun_responses_out: self.stun_responses_out.load(Relaxed),
            dtls_in: self.dtls_in.load(Relaxed),
            dtls_out: self.dtls_out.load(Relaxed),
            announcements_out: self.announcements_out.load(Relaxed),
            neighbors_learned: self.neighbors_learned.load(Relaxed),
            drops: core::array::from_fn(|i| self.drops[i].load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_reason() {
        let c = SlowPathCounters::default();
        for m in [Message::ArpRequest, Message::NeighborSolicit, Message::EchoRequest, Message::Other] {
            c.received(m);
            c.replied(m);
        }
        c.received(Message::ArpReply);
        c.received(Message::NeighborAdvert);
        c.replied(Message::ArpReply);
        c.received(Message::StunRequest);
        c.replied(Message::StunRequest);
        c.received(Message::StunRefused);
        c.replied(Message::StunRefused);
        c.drop_n(Reason::RateLimited, 3);
        let s = c.snapshot();
        assert_eq!((s.arp_requests_in, s.arp_replies_in, s.arp_replies_out), (1, 1, 1));
        assert_eq!((s.ns_in, s.na_in, s.na_out, s.echo_requests_in, s.echo_replies_out), (1, 1, 1, 1, 1));
        assert_eq!((s.stun_requests_in, s.stun_refused_in, s.stun_responses_out), (1, 1, 2));
        assert_eq!((s.rate_limited(), s.dropped(Reason::Malformed)), (3, 0));
        assert_eq!(core::mem::align_of::<SlowPathCounters>(), 64);
    }
}
