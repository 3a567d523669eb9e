//! The session store against a real redis-server: writes reach it in
//! order, a store that is down or hung keeps nothing waiting but the
//! backlog, which is written when it answers again; restores read it back.

#[path = "common/redis.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mediafwd_controlplane::ha::store::{self, Keys};
use mediafwd_controlplane::ha::writer::{Writer, WriterConfig};
use nix::sys::signal::Signal;
use redis_server::{RedisSentinel, RedisServer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn writer(rt: &tokio::runtime::Runtime, url: String, backlog: usize) -> Writer {
    Writer::spawn(rt.handle(), WriterConfig { url, group: "test".into(), backlog })
}

fn record(id: &str, n: u32) -> String {
    format!(r#"{{"id":"{id}","n":{n}}}"#)
}

/// Waits until the writer has nothing waiting and the store answers.
fn caught_up(w: &Writer) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while w.stats().backlog.load(Ordering::Relaxed) != 0 || !w.stats().up.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "the writer did not catch up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The group's sessions as the store holds them: id -> record.
fn stored(redis: &RedisServer) -> BTreeMap<String, String> {
    let keys = Keys::new("test");
    let ids = redis.cli(&["SMEMBERS", &keys.sessions()]).unwrap();
    ids.lines()
        .filter(|l| !l.is_empty())
        .map(|id| (id.to_string(), redis.cli(&["GET", &keys.session(id)]).unwrap()))
        .collect()
}

/// Applies the same changes to a model: what the store must end with.
fn churn(w: &Writer, model: &mut BTreeMap<String, String>, round: u32) {
    for i in 0..300 {
        let id = format!("s{}", (i * 7 + round) % 200);
        if i % 5 == 4 {
            w.delete(&id);
            model.remove(&id);
        } else {
            let r = record(&id, round * 1000 + i);
            w.put(&id, r.clone());
            model.insert(id, r);
        }
    }
}

#[test]
fn the_store_ends_with_the_latest_state_of_every_session() {
    let redis = RedisServer::start();
    let rt = runtime();
    let w = writer(&rt, redis.url(), 10_000);
    let mut model = BTreeMap::new();
    for round in 0..5 {
        churn(&w, &mut model, round);
    }
    caught_up(&w);
    assert_eq!(stored(&redis), model);
    assert_eq!(w.stats().failures.load(Ordering::Relaxed), 0);
    assert_eq!(w.stats().dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn a_store_killed_then_back_gets_the_backlog() {
    let mut redis = RedisServer::start();
    let rt = runtime();
    let w = writer(&rt, redis.url(), 10_000);
    let mut model = BTreeMap::new();
    churn(&w, &mut model, 0);
    caught_up(&w);
    assert_eq!(stored(&redis), model);

    // Down: the changes go on and wait. The restarted store is empty, so it
    // ends with the sessions changed while it was down.
    redis.kill();
    let mut during = BTreeMap::new();
    for round in 1..4 {
        churn(&w, &mut during, round);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.stats().failures.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "no failure counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!w.stats().up.load(Ordering::Relaxed));
    assert!(w.stats().backlog.load(Ordering::Relaxed) > 0);
    redis.resume();
    caught_up(&w);
    assert_eq!(stored(&redis), during);
}

#[test]
fn a_hung_store_holds_nothing_but_the_backlog() {
    let redis = RedisServer::start();
    let rt = runtime();
    let w = writer(&rt, redis.url(), 10_000);
    let mut model = BTreeMap::new();
    churn(&w, &mut model, 0);
    caught_up(&w);
    // Stopped: connections are accepted by the kernel, nothing answers.
    redis.signal(Signal::SIGSTOP);
    churn(&w, &mut model, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.stats().failures.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "a hung store was not noticed");
        std::thread::sleep(Duration::from_millis(10));
    }
    churn(&w, &mut model, 2);
    redis.signal(Signal::SIGCONT);
    caught_up(&w);
    assert_eq!(stored(&redis), model);
}

#[test]
fn a_full_backlog_drops_and_counts_new_sessions_only() {
    let mut redis = RedisServer::start();
    let rt = runtime();
    let url = redis.url();
    redis.kill();
    let w = writer(&rt, url, 10);
    for i in 0..15 {
        w.put(&format!("s{i}"), record("x", i));
    }
    // Sessions already waiting still take their latest state.
    w.put("s3", record("s3", 99));
    assert_eq!(w.stats().dropped.load(Ordering::Relaxed), 5);
    redis.resume();
    caught_up(&w);
    let s = stored(&redis);
    assert_eq!(s.len(), 10);
    assert_eq!(s["s3"], record("s3", 99));
}

#[test]
fn a_restore_reads_what_was_written_and_reports_what_it_cannot_use() {
    use mediafwd_controlplane::ha::record::SessionRecord;
    let redis = RedisServer::start();
    let keys = Keys::new("test");
    // A record as a node writes it, from the record tests' JSON shape.
    let good = r#"{"version":1,"id":"a","media_timeout_ms":60000,"max_lifetime_ms":null,"legs":[
        {"label":"x","interface":"public","local":"198.18.0.1:30000","fixed_port":false,"prefer_v6":false,
         "remote":null,"remote_rtcp":null,"latched":null,"rtcp_mux":false,"latch":"off","strict_source":false,
         "hold":false,"clock_rate":8000,"srtp_inbound":null,"srtp_outbound":null},
        {"label":"y","interface":"public","local":"198.18.0.1:30002","fixed_port":false,"prefer_v6":false,
         "remote":null,"remote_rtcp":null,"latched":null,"rtcp_mux":true,"latch":"once","strict_source":false,
         "hold":false,"clock_rate":8000,"srtp_inbound":null,"srtp_outbound":null}]}"#;
    let rt = runtime();
    let w = writer(&rt, redis.url(), 100);
    w.put("a", good.replace('\n', ""));
    w.put("b", "not json".into());
    w.put("c", good.replace("\"id\":\"a\"", "\"id\":\"other\""));
    w.put("d", "{}".into());
    w.delete("d");
    caught_up(&w);
    let loaded = rt.block_on(async {
        let mut con = store::connect(&redis.url()).await.unwrap();
        store::load(&mut con, &keys).await.unwrap()
    });
    assert_eq!(loaded.records.len(), 1);
    let r: &SessionRecord = &loaded.records[0];
    assert_eq!((r.id.as_str(), r.legs[1].local.port(), r.legs[1].rtcp_mux), ("a", 30002, true));
    let refused: Vec<&str> = loaded.refused.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(refused, ["b", "c"]);
}

#[test]
fn through_sentinel_the_writes_follow_a_failover() {
    let mut master = RedisServer::start();
    let replica = RedisServer::replica_of(master.port);
    let sentinel = RedisSentinel::start(master.port);
    let rt = runtime();
    let w = writer(&rt, sentinel.url(), 10_000);
    let mut model = BTreeMap::new();
    churn(&w, &mut model, 0);
    caught_up(&w);
    assert_eq!(stored(&master), model);
    // Replication is asynchronous: what the master took and the replica did
    // not is lost in a failover. Let it catch up first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(&replica) != model {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The master dies; the sentinel promotes the replica, and the writer,
    // asking the sentinel again, writes there.
    master.kill();
    churn(&w, &mut model, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sentinel.master_port() != Some(replica.port) {
        assert!(Instant::now() < deadline, "no failover");
        std::thread::sleep(Duration::from_millis(50));
    }
    churn(&w, &mut model, 2);
    caught_up(&w);
    assert_eq!(stored(&replica), model);
    assert!(w.stats().failures.load(Ordering::Relaxed) > 0);
}
