//! DTLS-SRTP on a WebRTC leg: mediafwd's endpoint (`mediafwd-dtls`, on
//! OpenSSL) handshaking with a peer endpoint over a path the input controls.
//! Datagrams in flight are delivered, dropped, duplicated, reordered, cut
//! or altered, arbitrary datagrams are injected into mediafwd's side, and
//! time passes. Invariants: no panic; every datagram mediafwd sends fits the
//! endpoint's 1200-byte MTU; when both sides finish, they hold the same
//! suite and mirrored keys; a peer that expects another certificate never
//! finishes, and neither does mediafwd's side.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mediafwd_dtls::{Endpoint, Identity, Role};
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What a datagram may meet on its way.
#[derive(Debug, Arbitrary)]
enum Op {
    /// The next datagram towards mediafwd (`true`) or the peer arrives.
    Deliver(bool),
    /// The next datagram is lost.
    Drop(bool),
    /// The next datagram arrives twice.
    Duplicate(bool),
    /// The next datagram is queued again behind the others.
    Reorder(bool),
    /// The next datagram arrives with this bit flipped.
    Flip(bool, u16),
    /// The next datagram arrives cut to this length.
    Truncate(bool, u16),
    /// Someone else's datagram reaches mediafwd.
    Inject(Vec<u8>),
    /// Milliseconds pass; both sides run their timers.
    Tick(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// mediafwd is the DTLS client (`a=setup:active`).
    client: bool,
    /// The peer expects mediafwd's real certificate.
    peer_knows_us: bool,
    ops: Vec<Op>,
}

fn identities() -> &'static (Identity, Identity, Identity) {
    static IDS: OnceLock<(Identity, Identity, Identity)> = OnceLock::new();
    IDS.get_or_init(|| {
        let id = |cn| Identity::generate(cn).expect("a certificate");
        (id("mediafwd"), id("peer"), id("stranger"))
    })
}

/// One side and the datagrams in flight towards it.
struct Side {
    endpoint: Endpoint,
    inbound: VecDeque<Vec<u8>>,
    failed: bool,
}

impl Side {
    fn receive(&mut self, datagram: &[u8], now: Instant) {
        if self.endpoint.receive(datagram, now).is_err() {
            self.failed = true;
        }
    }
}

const MTU: usize = 1200;

fuzz_target!(|input: Input| {
    let (ours_id, peer_id, stranger) = identities();
    let start = Instant::now();
    let (ours_role, peer_role) = if input.client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
    let expected_by_peer = if input.peer_knows_us { ours_id.fingerprint() } else { stranger.fingerprint() };
    let mut ours = Side {
        endpoint: Endpoint::new(ours_id, ours_role, peer_id.fingerprint(), start).expect("an endpoint"),
        inbound: VecDeque::new(),
        failed: false,
    };
    let mut peer = Side {
        endpoint: Endpoint::new(peer_id, peer_role, expected_by_peer, start).expect("an endpoint"),
        inbound: VecDeque::new(),
        failed: false,
    };
    let mut now = start;
    exchange(&mut ours, &mut peer);
    for op in input.ops.iter().take(64) {
        match op {
            Op::Deliver(to_ours) => {
                let (to, _) = pick(&mut ours, &mut peer, *to_ours);
                if let Some(d) = to.inbound.pop_front() {
                    to.receive(&d, now);
                }
            }
            Op::Drop(to_ours) => {
                pick(&mut ours, &mut peer, *to_ours).0.inbound.pop_front();
            }
            Op::Duplicate(to_ours) => {
                let (to, _) = pick(&mut ours, &mut peer, *to_ours);
                if let Some(d) = to.inbound.front().cloned() {
                    to.receive(&d, now);
                }
            }
            Op::Reorder(to_ours) => {
                let (to, _) = pick(&mut ours, &mut peer, *to_ours);
                if let Some(d) = to.inbound.pop_front() {
                    to.inbound.push_back(d);
                }
            }
            Op::Flip(to_ours, bit) => {
                let (to, _) = pick(&mut ours, &mut peer, *to_ours);
                if let Some(mut d) = to.inbound.pop_front().filter(|d| !d.is_empty()) {
                    let bit = usize::from(*bit) % (d.len() * 8);
                    d[bit / 8] ^= 1 << (bit % 8);
                    to.receive(&d, now);
                }
            }
            Op::Truncate(to_ours, len) => {
                let (to, _) = pick(&mut ours, &mut peer, *to_ours);
                if let Some(mut d) = to.inbound.pop_front() {
                    d.truncate(usize::from(*len) % (d.len() + 1));
                    to.receive(&d, now);
                }
            }
            Op::Inject(bytes) => ours.receive(bytes, now),
            Op::Tick(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                ours.failed |= ours.endpoint.poll(now).is_err();
                peer.failed |= peer.endpoint.poll(now).is_err();
            }
        }
        exchange(&mut ours, &mut peer);
    }
    // Then the path heals: what is in flight arrives, in order, for a while.
    for _ in 0..16 {
        let mut moved = false;
        while let Some(d) = ours.inbound.pop_front() {
            ours.receive(&d, now);
            moved = true;
        }
        while let Some(d) = peer.inbound.pop_front() {
            peer.receive(&d, now);
            moved = true;
        }
        exchange(&mut ours, &mut peer);
        if !moved {
            break;
        }
    }
    match (ours.endpoint.keys(), peer.endpoint.keys()) {
        (Some(a), Some(b)) => {
            assert!(input.peer_knows_us, "the peer finished with a certificate it did not expect");
            assert_eq!(a.suite, b.suite);
            assert_eq!(a.local.key_salt(), b.remote.key_salt());
            assert_eq!(a.remote.key_salt(), b.local.key_salt());
        }
        (Some(_), None) => assert!(input.peer_knows_us, "mediafwd finished with a peer that refused it"),
        (None, Some(_)) => assert!(input.peer_knows_us),
        (None, None) => {}
    }
    std::hint::black_box((ours.failed, peer.failed));
});

fn pick<'a>(ours: &'a mut Side, peer: &'a mut Side, to_ours: bool) -> (&'a mut Side, &'a mut Side) {
    if to_ours {
        (ours, peer)
    } else {
        (peer, ours)
    }
}

/// Moves what each side sent into the other's inbound queue.
fn exchange(ours: &mut Side, peer: &mut Side) {
    for d in ours.endpoint.take_outgoing() {
        assert!(d.len() <= MTU, "mediafwd sent a {}-byte datagram", d.len());
        peer.inbound.push_back(d);
    }
    for d in peer.endpoint.take_outgoing() {
        ours.inbound.push_back(d);
    }
}
