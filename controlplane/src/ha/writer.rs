//! The writes to the store, off the control loop's path. The loop hands
//! each change of a session to [`Writer::put`] or [`Writer::delete`], which
//! only takes a lock to note it in the backlog; a task on the control
//! plane's tokio runtime writes the backlog in pipelined batches.
//!
//! The backlog holds the latest state of each session, in the order the
//! sessions first changed: a change of a session already waiting replaces it
//! there (the latest state wins, a create then a delete leaves the delete),
//! so a session's writes stay in order and the backlog is bounded by the
//! sessions that changed, not by the changes. When the store is unreachable
//! the batch goes back in front of the backlog (unless a newer state of the
//! same session came meanwhile), a warning is logged (rate-limited), the
//! failure is counted, and the task tries again with back-off, up to 5 s
//! apart; the control loop never waits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use super::store::{self, Keys};
use crate::logging::RateLimit;
use crate::warn_limited;

/// One session's pending state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Its record's JSON.
    Put(String),
    /// It ended.
    Delete,
}

/// Sessions waiting to be written, in order, and those being written.
#[derive(Default)]
struct Backlog {
    ops: HashMap<String, Op>,
    order: VecDeque<String>,
    in_flight: HashSet<String>,
    limit: usize,
}

impl Backlog {
    /// Notes `op` for `id`; false when the backlog is full. A session
    /// waiting or being written always takes its new state.
    fn note(&mut self, id: &str, op: Op) -> bool {
        if let Some(o) = self.ops.get_mut(id) {
            *o = op;
            return true;
        }
        if self.ops.len() + self.in_flight.len() >= self.limit && !self.in_flight.contains(id) {
            return false;
        }
        self.ops.insert(id.to_string(), op);
        self.order.push_back(id.to_string());
        true
    }

    /// The first `n` sessions, now being written.
    fn take(&mut self, n: usize) -> Vec<(String, Op)> {
        let n = n.min(self.order.len());
        let batch: Vec<(String, Op)> =
            self.order.drain(..n).map(|id| (id.clone(), self.ops.remove(&id).expect("noted"))).collect();
        self.in_flight = batch.iter().map(|(id, _)| id.clone()).collect();
        batch
    }

    /// The batch being written was.
    fn written(&mut self) {
        self.in_flight.clear();
    }

    /// A batch that was not written goes back in front, but a newer state
    /// noted meanwhile stays.
    fn requeue(&mut self, batch: Vec<(String, Op)>) {
        self.in_flight.clear();
        for (id, op) in batch.into_iter().rev() {
            if !self.ops.contains_key(&id) {
                self.ops.insert(id.clone(), op);
                self.order.push_front(id);
            }
        }
    }
}

/// The writer's counters (`/metrics`: `mediafwd_ha_*`).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Session states written.
    pub written: AtomicU64,
    /// Batches that failed (store unreachable or refusing).
    pub failures: AtomicU64,
    /// Session states dropped because the backlog was full.
    pub dropped: AtomicU64,
    /// Sessions waiting to be written.
    pub backlog: AtomicU64,
    /// The last batch (or connection) succeeded.
    pub up: AtomicBool,
}

struct Shared {
    backlog: Mutex<Backlog>,
    wake: Notify,
    stats: WriterStats,
}

/// Settings of a writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The store's URL (`redis://host:port/db`).
    pub url: String,
    /// The group whose keys are written.
    pub group: String,
    /// At most this many sessions waiting (beyond: dropped and counted).
    pub backlog: usize,
}

/// Session states per pipelined batch.
const BATCH: usize = 512;
/// The first and the longest wait before writing again after a failure.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));

/// The control loop's handle on the writer task.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer task on `rt`.
    pub fn spawn(rt: &tokio::runtime::Handle, config: WriterConfig) -> Self {
        let shared = Arc::new(Shared {
            backlog: Mutex::new(Backlog { limit: config.backlog, ..Backlog::default() }),
            wake: Notify::new(),
            stats: WriterStats::default(),
        });
        rt.spawn(run(shared.clone(), config));
        Writer { shared }
    }

    /// Notes session `id`'s new record (its JSON).
    pub fn put(&self, id: &str, record_json: String) {
        self.note(id, Op::Put(record_json));
    }

    /// Notes that session `id` ended.
    pub fn delete(&self, id: &str) {
        self.note(id, Op::Delete);
    }

    fn note(&self, id: &str, op: Op) {
        let mut b = self.shared.backlog.lock().expect("backlog lock");
        if b.note(id, op) {
            self.shared.stats.backlog.store(b.ops.len() as u64, Ordering::Relaxed);
            drop(b);
            self.shared.wake.notify_one();
        } else {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &WriterStats {
        &self.shared.stats
    }
}

async fn run(shared: Arc<Shared>, config: WriterConfig) {
    let keys = Keys::new(&config.group);
    let mut con: Option<ConnectionManager> = None;
    let mut backoff = BACKOFF.0;
    let mut limit = RateLimit::new(3, Duration::from_secs(60));
    loop {
        let batch = {
            let mut b = shared.backlog.lock().expect("backlog lock");
            b.take(BATCH)
        };
        if batch.is_empty() {
            // Dropping the writer's last handle leaves the task parked here
            // until the runtime ends.
            shared.wake.notified().await;
            continue;
        }
        let result = match &mut con {
            Some(c) => write(c, &keys, &batch).await,
            None => match store::connect(&config.url).await {
                Ok(mut c) => {
                    let r = write(&mut c, &keys, &batch).await;
                    con = Some(c);
                    r
                }
                Err(e) => Err(e),
            },
        };
        let stats = &shared.stats;
        match result {
            Ok(()) => {
                if !stats.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(url = config.url, "session store reachable");
                }
                stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                let mut b = shared.backlog.lock().expect("backlog lock");
                b.written();
                stats.backlog.store(b.ops.len() as u64, Ordering::Relaxed);
                backoff = BACKOFF.0;
            }
            Err(e) => {
                stats.up.store(false, Ordering::Relaxed);
                stats.failures.fetch_add(1, Ordering::Relaxed);
                let waiting = {
                    let mut b = shared.backlog.lock().expect("backlog lock");
                    b.requeue(batch);
                    b.ops.len()
                };
                stats.backlog.store(waiting as u64, Ordering::Relaxed);
                warn_limited!(
                    limit,
                    url = config.url,
                    error = %e,
                    waiting,
                    retry_ms = backoff.as_millis() as u64,
                    "session store unreachable; sessions are kept and written when it answers"
                );
                // A fresh connection next time: the old one may be stuck.
                con = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// Entries the change stream keeps (about: trimmed with `~`). A standby
/// further behind than this loads the whole group again.
pub const CHANGES_KEPT: usize = 100_000;

/// One pipelined round trip: each session's record, its membership of the
/// group's set, and an entry naming it in the change stream a standby follows.
async fn write(con: &mut ConnectionManager, keys: &Keys, batch: &[(String, Op)]) -> redis::RedisResult<()> {
    let mut p = redis::pipe();
    let changes = keys.changes();
    for (id, op) in batch {
        match op {
            Op::Put(json) => p.set(keys.session(id), json).ignore().sadd(keys.sessions(), id).ignore(),
            Op::Delete => p.del(keys.session(id)).ignore().srem(keys.sessions(), id).ignore(),
        };
        p.cmd("XADD").arg(&changes).arg("MAXLEN").arg("~").arg(CHANGES_KEPT).arg("*").arg("id").arg(id).ignore();
    }
    p.query_async(con).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(limit: usize) -> Backlog {
        Backlog { limit, ..Backlog::default() }
    }

    #[test]
    fn the_latest_state_of_a_session_wins_in_its_first_place() {
        let mut b = backlog(3);
        assert!(b.note("a", Op::Put("1".into())));
        assert!(b.note("b", Op::Put("1".into())));
        assert!(b.note("a", Op::Put("2".into())));
        assert!(b.note("c", Op::Delete));
        assert!(!b.note("d", Op::Delete), "full");
        assert!(b.note("b", Op::Delete), "a session waiting is replaced even when full");
        assert_eq!(
            b.take(10),
            vec![("a".into(), Op::Put("2".into())), ("b".into(), Op::Delete), ("c".into(), Op::Delete)]
        );
        assert!(b.take(10).is_empty());
    }

    #[test]
    fn sessions_being_written_count_against_the_limit_but_take_new_states() {
        let mut b = backlog(2);
        b.note("a", Op::Put("1".into()));
        b.note("b", Op::Put("1".into()));
        let batch = b.take(10);
        assert!(!b.note("c", Op::Delete), "full while a and b are written");
        assert!(b.note("a", Op::Put("2".into())));
        b.requeue(batch);
        assert_eq!(b.take(10), vec![("b".into(), Op::Put("1".into())), ("a".into(), Op::Put("2".into()))]);
        b.written();
        assert!(b.note("c", Op::Delete));
    }

    #[test]
    fn a_failed_batch_goes_back_in_front_unless_newer_came() {
        let mut b = backlog(10);
        for id in ["a", "b", "c"] {
            b.note(id, Op::Put("1".into()));
        }
        let batch = b.take(2);
        b.note("b", Op::Delete);
        b.note("d", Op::Put("1".into()));
        b.requeue(batch);
        assert_eq!(
            b.take(10),
            vec![
                ("a".into(), Op::Put("1".into())),
                ("c".into(), Op::Put("1".into())),
                ("b".into(), Op::Delete),
                ("d".into(), Op::Put("1".into())),
            ]
        );
    }
}
