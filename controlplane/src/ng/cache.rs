//! Replies by cookie. SIP proxies retransmit an ng request over UDP when its
//! reply is late or lost; the retransmission carries the same cookie and must
//! get the same reply without running the command twice. A request still
//! being worked on is remembered too, so its retransmissions are dropped
//! (the reply is on its way). Entries live [`TTL`]; at most `capacity` are
//! kept, the oldest going first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a reply is kept.
pub const TTL: Duration = Duration::from_secs(30);

/// What the cache knows of a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Never seen (now marked as in progress).
    New,
    /// Being worked on: drop the retransmission.
    InProgress,
    /// Answered: send this again.
    Done(Arc<Vec<u8>>),
}

type Key = (SocketAddr, Vec<u8>);
/// When a request arrived, and its reply once there is one.
type Entry = (Instant, Option<Arc<Vec<u8>>>);

/// The cache: keyed by the client's address and the cookie (two proxies may
/// well pick the same cookie).
#[derive(Debug)]
pub struct ReplyCache {
    entries: HashMap<Key, Entry>,
    order: VecDeque<(Instant, Key)>,
    capacity: usize,
    ttl: Duration,
}

impl ReplyCache {
    /// A cache of at most `capacity` entries kept [`TTL`].
    pub fn new(capacity: usize) -> Self {
        Self::with_ttl(capacity, TTL)
    }

    /// The same with another lifetime.
    pub fn with_ttl(capacity: usize, ttl: Duration) -> Self {
        ReplyCache { entries: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1), ttl }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entry held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < self.ttl && self.entries.len() < self.capacity {
                break;
            }
            let (t, key) = self.order.pop_front().expect("checked");
            // The key may have been inserted again later; remove only this insertion.
            if self.entries.get(&key).is_some_and(|(at, _)| *at == t) {
                self.entries.remove(&key);
            }
        }
    }

    /// Looks `cookie` from `peer` up; a new one is marked in progress.
    pub fn begin(&mut self, peer: SocketAddr, cookie: &[u8], now: Instant) -> Lookup {
        self.expire(now);
        let key = (peer, cookie.to_vec());
        match self.entries.get(&key) {
            Some((_, Some(reply))) => Lookup::Done(reply.clone()),
            Some((_, None)) => Lookup::InProgress,
            None => {
                self.entries.insert(key.clone(), (now, None));
                self.order.push_back((now, key));
                Lookup::New
            }
        }
    }

    /// Stores the reply to a request marked by [`ReplyCache::begin`].
    pub fn finish(&mut self, peer: SocketAddr, cookie: &[u8], reply: Arc<Vec<u8>>) {
        if let Some(e) = self.entries.get_mut(&(peer, cookie.to_vec())) {
            e.1 = Some(reply);
        }
    }

    /// Forgets a request that got no reply (so a retransmission is served).
    pub fn abandon(&mut self, peer: SocketAddr, cookie: &[u8]) {
        let key = (peer, cookie.to_vec());
        if matches!(self.entries.get(&key), Some((_, None))) {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_retransmission_gets_the_same_reply() {
        let mut c = ReplyCache::new(16);
        let t = Instant::now();
        assert_eq!(c.begin(peer(1), b"1_1", t), Lookup::New);
        assert_eq!(c.begin(peer(1), b"1_1", t), Lookup::InProgress);
        let reply = Arc::new(b"1_1 d6:result2:oke".to_vec());
        c.finish(peer(1), b"1_1", reply.clone());
        assert_eq!(c.begin(peer(1), b"1_1", t + Duration::from_secs(29)), Lookup::Done(reply));
        // Another client with the same cookie is another request.
        assert_eq!(c.begin(peer(2), b"1_1", t), Lookup::New);
        // After the lifetime, the cookie is new again.
        assert_eq!(c.begin(peer(1), b"1_1", t + Duration::from_secs(31)), Lookup::New);
    }

    #[test]
    fn bounded() {
        let mut c = ReplyCache::new(100);
        let t = Instant::now();
        for i in 0..1000u32 {
            assert_eq!(c.begin(peer(1), i.to_string().as_bytes(), t), Lookup::New);
            c.finish(peer(1), i.to_string().as_bytes(), Arc::new(vec![]));
            assert!(c.len() <= 100);
        }
        // The newest are kept.
        assert!(matches!(c.begin(peer(1), b"999", t), Lookup::Done(_)));
        assert_eq!(c.begin(peer(1), b"0", t), Lookup::New);
    }

    #[test]
    fn abandoned_requests_are_served_again() {
        let mut c = ReplyCache::new(4);
        let t = Instant::now();
        assert_eq!(c.begin(peer(1), b"x", t), Lookup::New);
        c.abandon(peer(1), b"x");
        assert_eq!(c.begin(peer(1), b"x", t), Lookup::New);
    }
}
