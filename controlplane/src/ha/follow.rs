//! A standby following its active: the group's change stream
//! (`mediafwd:{group}:changes`, one entry per written change naming the
//! session) read live with `XREAD BLOCK`, each named session's record fetched
//! and handed to the control loop, which programs it through the same
//! [`replay`](super::restore::replay) as a restore.
//!
//! A stream rather than keyspace notifications: notifications are lost while
//! the standby is disconnected and need `notify-keyspace-events` set on the
//! server; a stream entry stays until trimmed, so a standby that reconnects
//! reads on from the last entry it saw. A standby further behind than the
//! stream keeps (or starting, or told to) loads the whole group again.
//!
//! A standby that claims the lease asks for a catch-up
//! ([`Follower::catch_up`]): the follower notes where the stream ends after
//! the claim, reads to there and says so ([`Followed::CaughtUp`]). What the
//! old active wrote before the claim and the standby had not read yet is
//! programmed then, not at the session's next change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::record::{LegCheckpoint, RecordError, SessionRecord};
use super::restore::replay;
use super::seal::Sealer;
use super::store::{self, Keys, Loaded};
use crate::node::{NeighborResolver, Node};

/// What the follower hands the control loop.
#[derive(Debug)]
pub enum Followed {
    /// Every session of the group: those not in it are gone.
    All(Loaded),
    /// Session `id` changed: its record now, `None` if it ended.
    Changed(String, Option<Result<Box<SessionRecord>, RecordError>>),
    /// Everything written before the last [`Follower::catch_up`] was handed over.
    CaughtUp,
}

/// The control loop's end of the follower task.
pub struct Follower {
    rx: crossbeam_channel::Receiver<Followed>,
    reload: Arc<AtomicBool>,
    catch_up: Arc<AtomicBool>,
}

impl Follower {
    /// Starts following the group of `url` on `rt`, with a full load first.
    pub fn spawn(rt: &tokio::runtime::Handle, url: String, group: &str) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let reload = Arc::new(AtomicBool::new(true));
        let catch_up = Arc::new(AtomicBool::new(false));
        rt.spawn(run(url, Keys::new(group), tx, Flags { reload: reload.clone(), catch_up: catch_up.clone() }));
        Follower { rx, reload, catch_up }
    }

    /// The changes read since last asked, at most `max`.
    pub fn changes(&self, max: usize) -> impl Iterator<Item = Followed> + '_ {
        self.rx.try_iter().take(max)
    }

    /// Asks for a whole load again (a node back from active to standby).
    pub fn reload(&self) {
        self.reload.store(true, Ordering::Relaxed);
    }

    /// Asks for everything written until now (a node that just claimed the
    /// lease), then [`Followed::CaughtUp`].
    pub fn catch_up(&self) {
        self.catch_up.store(true, Ordering::Relaxed);
    }
}

/// What the control loop asks of the follower task.
struct Flags {
    reload: Arc<AtomicBool>,
    catch_up: Arc<AtomicBool>,
}

/// Entries read per `XREAD`.
const BATCH: usize = 512;

type XRead = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;

async fn run(url: String, keys: Keys, tx: crossbeam_channel::Sender<Followed>, flags: Flags) {
    let mut last = String::from("0-0");
    // Where the stream ended when a catch-up was asked for.
    let mut target: Option<String> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut con = match store::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "follower: store unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if let Err(e) = follow(&mut con, &keys, &tx, &flags, &mut last, &mut target).await {
            tracing::warn!(error = %e, "following the active's sessions: store error, reconnecting");
            tokio::time::sleep(backoff).await;
        }
        if tx.is_full() {
            // The control loop is gone or far behind; the next round reloads.
            flags.reload.store(true, Ordering::Relaxed);
        }
    }
}

async fn follow(
    con: &mut ConnectionManager,
    keys: &Keys,
    tx: &crossbeam_channel::Sender<Followed>,
    flags: &Flags,
    last: &mut String,
    target: &mut Option<String>,
) -> redis::RedisResult<()> {
    let changes = keys.changes();
    loop {
        if flags.catch_up.swap(false, Ordering::Relaxed) {
            *target = Some(stream_end(con, &changes).await?);
        }
        let first: Vec<(String, Vec<String>)> =
            redis::cmd("XRANGE").arg(&changes).arg("-").arg("+").arg("COUNT").arg(1).query_async(con).await?;
        let trimmed = first.first().is_some_and(|(id, _)| stream_id(id) > stream_id(last)) && last != "0-0";
        if flags.reload.swap(false, Ordering::Relaxed) || trimmed {
            // The stream's end before the load: nothing written after it is missed.
            let end = stream_end(con, &changes).await?;
            let loaded = store::load(con, keys).await?;
            *last = end;
            if tx.send(Followed::All(loaded)).is_err() {
                return Ok(());
            }
        }
        if target.as_ref().is_some_and(|t| stream_id(last) >= stream_id(t)) {
            *target = None;
            if tx.send(Followed::CaughtUp).is_err() {
                return Ok(());
            }
        }
        let read: XRead = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS")
            .arg(&changes)
            .arg(&*last)
            .query_async(con)
            .await?;
        let entries = read.into_iter().flatten().flat_map(|(_, e)| e);
        let mut ids: Vec<String> = Vec::new();
        for (entry, fields) in entries {
            *last = entry;
            if let [_, id] = &fields[..] {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        for chunk in ids.chunks(BATCH) {
            let names: Vec<String> = chunk.iter().map(|id| keys.session(id)).collect();
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&names).query_async(con).await?;
            for (id, v) in chunk.iter().zip(values) {
                let record = v.map(|v| SessionRecord::from_json(&v).map(Box::new));
                if tx.send(Followed::Changed(id.clone(), record)).is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// The id of the stream's last entry (`0-0` for an empty stream).
async fn stream_end(con: &mut ConnectionManager, changes: &str) -> redis::RedisResult<String> {
    let end: Vec<(String, Vec<String>)> =
        redis::cmd("XREVRANGE").arg(changes).arg("+").arg("-").arg("COUNT").arg(1).query_async(con).await?;
    Ok(end.first().map_or_else(|| "0-0".to_string(), |(id, _)| id.clone()))
}

/// A stream entry id `ms-seq`, comparable.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// What a standby keeps of the sessions it follows: their streams'
/// checkpoints, for the store's writer when it becomes active.
pub type Checkpoints = HashMap<String, [LegCheckpoint; 2]>;

/// Programs one followed change into a standby `node`: a session that
/// changed is withdrawn (its flows removed, its ports kept) and replayed
/// from its record; one that ended is withdrawn. Returns the sessions
/// programmed.
pub fn apply(node: &mut Node, sealer: Option<&Sealer>, change: Followed, checkpoints: &mut Checkpoints) -> usize {
    match change {
        Followed::All(loaded) => {
            for (id, e) in &loaded.refused {
                tracing::error!(session = id, error = %e, "followed session not programmed");
            }
            let keep: std::collections::HashSet<&str> = loaded.records.iter().map(|r| r.id.as_str()).collect();
            let gone: Vec<String> =
                node.sessions.sessions().map(|s| s.id.clone()).filter(|id| !keep.contains(id.as_str())).collect();
            for id in gone {
                withdraw(node, &id, checkpoints);
            }
            let n = loaded.records.len();
            for r in loaded.records {
                program(node, sealer, &r, checkpoints);
            }
            tracing::info!(sessions = n, "followed the active's sessions (whole group)");
            n
        }
        Followed::Changed(id, None) => {
            withdraw(node, &id, checkpoints);
            0
        }
        Followed::Changed(id, Some(Err(e))) => {
            tracing::error!(session = id, error = %e, "followed session not programmed");
            0
        }
        Followed::Changed(_, Some(Ok(r))) => {
            program(node, sealer, &r, checkpoints);
            1
        }
        Followed::CaughtUp => 0,
    }
}

/// How long a standby waits for its workers to drop a withdrawn session's
/// flows before giving its flow ids back.
const APPLIED_WAIT: Duration = Duration::from_secs(1);

fn withdraw(node: &mut Node, id: &str, checkpoints: &mut Checkpoints) {
    checkpoints.remove(id);
    let Ok((session, commands)) = node.sessions.withdraw(id) else { return };
    let mut seq = node.dataplane.last_seq();
    for c in commands {
        seq = node.send(c);
    }
    if !node.dataplane.wait_applied(seq, APPLIED_WAIT) {
        tracing::warn!(session = id, "workers slow to remove a followed session's flows");
    }
    node.sessions.release_ids(&session);
}

fn program(node: &mut Node, sealer: Option<&Sealer>, r: &SessionRecord, checkpoints: &mut Checkpoints) {
    let _s = crate::logging::session_span(&r.id).entered();
    withdraw(node, &r.id, checkpoints);
    match replay(&mut node.sessions, r, sealer, &mut NeighborResolver(&mut node.slow), Instant::now()) {
        Ok((_, commands)) => {
            for c in commands {
                node.send(c);
            }
            let c = r.checkpoints();
            if c != <[LegCheckpoint; 2]>::default() {
                checkpoints.insert(r.id.clone(), c);
            }
        }
        Err(e) => tracing::error!(error = %e, "followed session not programmed"),
    }
}
