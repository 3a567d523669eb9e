//! Failover between two real mediafwd nodes of one group on one L2 segment
//! (a bridge per side, made by the test) between a caller and a callee
//! namespace, both nodes with the same media addresses, on af_packet ports,
//! sharing a real redis-server. Calls of three kinds (plain RTP, SRTP to RTP,
//! SRTP to SRTP; libsrtp at the endpoints) stream both ways at 50 packets a
//! second, their streams past a sequence number wrap; the active is killed
//! with SIGKILL and every call must go on through the standby, both ways.
//! The receivers at both ends measure the gap, the packets lost and the SRTP
//! authentication failures. `scripts/failover.sh` runs that scenario
//! (`failover_scenario`, ignored by a plain `cargo test`) and prints, last,
//! `failover: calls=N continued=M max_gap_ms=G lost_packets=L srtp_auth_failures=F`;
//! the failover test runs the script and checks that line.

#![allow(clippy::result_large_err)] // tonic::Status, the API's error type.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::node::MediaFwd;
use common::topology::{Topology, SERIAL};
use mediafwd_dataplane::craft::rtp_packet;
use mediafwd_dataplane::srtp::Suite;
use mediafwd_libsrtp::{Profile, Session};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;

const SUITE: Suite = Suite::AesCm128HmacSha1_80;
/// SRTP calls' streams (both ways) start here: they wrap (rollover counter
/// 1) about three seconds in, before the failure.
const SRTP_FIRST_SEQ: u16 = 65_400;
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

/// caller (198.18.0.2) - bridge P - nodes a and b (198.18.0.1 | 198.19.0.1) - bridge Q - callee (198.19.0.2).
fn segment() -> Topology {
    Topology::bridged("f", &["a", "b"])
}

/// Node `node`'s configuration: one worker core, a 300 ms lease.
fn config(seg: &Topology, node: &str, role: &str, redis: &str, group: &str) -> String {
    seg.node_config(
        node,
        &format!(
            r#"
[dataplane]
idle_sleep_us = 50

[ha]
role = "{role}"
redis_url = "{redis}"
group = "{group}"
lease_ms = 300
node_id = "{node}"
"#
        ),
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    SrtpToRtp,
    SrtpToSrtp,
}

fn kind(i: usize) -> Kind {
    [Kind::Plain, Kind::SrtpToRtp, Kind::SrtpToSrtp][i % 3]
}

fn key_salt(fill: u8) -> Vec<u8> {
    (0..30).map(|i| fill.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

fn params(fill: u8) -> pb::SrtpParams {
    let ks = key_salt(fill);
    pb::SrtpParams {
        suite: SUITE.sdes_name().into(),
        master_key: ks[..16].to_vec(),
        master_salt: ks[16..].to_vec(),
        mki: Vec::new(),
        lifetime: 0,
    }
}

fn profile() -> Profile {
    SUITE.to_string().parse().unwrap()
}

fn caller_addr(i: usize) -> SocketAddr {
    SocketAddr::new([198, 18, 0, 2].into(), 5000 + 2 * i as u16)
}

fn callee_addr(i: usize) -> SocketAddr {
    SocketAddr::new([198, 19, 0, 2].into(), 6000 + 2 * i as u16)
}

/// The key fills of call `i`'s SRTP, one per endpoint and direction:
/// what the caller sends and receives, what the callee sends and receives
/// (`None`: plain RTP).
struct Keys {
    caller_tx: Option<u8>,
    caller_rx: Option<u8>,
    callee_tx: Option<u8>,
    callee_rx: Option<u8>,
}

fn keys(i: usize) -> Keys {
    let k = kind(i);
    let (caller, callee) = (k != Kind::Plain, k == Kind::SrtpToSrtp);
    let i = i as u8;
    Keys {
        caller_tx: caller.then(|| i.wrapping_add(1)),
        caller_rx: caller.then(|| i.wrapping_add(51)),
        callee_tx: callee.then(|| i.wrapping_add(151)),
        callee_rx: callee.then(|| i.wrapping_add(101)),
    }
}

/// Creates call `i`: the node's caller-side and callee-side addresses.
fn create(api: &mut Api, i: usize) -> (SocketAddr, SocketAddr) {
    let s = api.0.block_on(api.1.create_session(create_request(i))).unwrap_or_else(|e| panic!("create call-{i}: {e}"));
    let s = s.into_inner();
    let local = |l: &pb::Leg| {
        let l = l.local.as_ref().unwrap();
        SocketAddr::new(l.address.parse().unwrap(), l.port as u16)
    };
    (local(&s.legs[0]), local(&s.legs[1]))
}

fn create_request(i: usize) -> pb::CreateSessionRequest {
    let endpoint = |a: SocketAddr| pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 };
    let k = keys(i);
    pb::CreateSessionRequest {
        session_id: format!("call-{i}"),
        legs: vec![
            pb::LegSpec {
                label: "caller".into(),
                interface: "public".into(),
                remote: Some(endpoint(caller_addr(i))),
                srtp_inbound: k.caller_tx.map(params),
                srtp_outbound: k.caller_rx.map(params),
                ..Default::default()
            },
            pb::LegSpec {
                label: "callee".into(),
                interface: "private".into(),
                remote: Some(endpoint(callee_addr(i))),
                srtp_inbound: k.callee_tx.map(params),
                srtp_outbound: k.callee_rx.map(params),
                ..Default::default()
            },
        ],
        media_timeout_seconds: 0,
        max_lifetime_seconds: 0,
    }
}

/// What an endpoint received of one call.
#[derive(Default, Clone)]
struct Seen {
    /// Packet counters received (each carries its own in the payload).
    counters: Vec<u32>,
    /// When each arrived, in the same order.
    arrivals: Vec<Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
    max_gap: Duration,
    auth_failures: u64,
}

/// Sends packet `n` of every call every 20 ms until `stop`, protected with
/// the key fills `keys` (SSRCs from `ssrc_base`).
fn send_all(
    sockets: Vec<UdpSocket>,
    to: Vec<SocketAddr>,
    keys: Vec<Option<u8>>,
    ssrc_base: u32,
    stop: Arc<AtomicBool>,
) -> Vec<u32> {
    let mut tx: Vec<Option<Session>> =
        keys.iter().map(|k| k.map(|k| Session::sender(profile(), &key_salt(k)))).collect();
    let mut sent = vec![0u32; to.len()];
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..to.len() {
            let n = sent[i];
            let first = if kind(i) == Kind::Plain { 0 } else { SRTP_FIRST_SEQ };
            let seq = first.wrapping_add(n as u16);
            let mut p = vec![0u8; 172];
            rtp_packet(&mut p, ssrc_base + i as u32, seq, n.wrapping_mul(160), 0, 160, 0);
            p[12..16].copy_from_slice(&n.to_be_bytes());
            let p = match &mut tx[i] {
                Some(s) => s.protect(&p).expect("libsrtp protects"),
                None => p,
            };
            let _ = sockets[i].send_to(&p, to[i]);
            sent[i] += 1;
        }
        next += PACKET_INTERVAL;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    sent
}

/// Receives every call's packets until `stop`, unprotected with the key
/// fills `keys`.
fn receive_all(sockets: Vec<UdpSocket>, keys: Vec<Option<u8>>, stop: Arc<AtomicBool>) -> Vec<Seen> {
    let mut rx: Vec<Option<Session>> =
        keys.iter().map(|k| k.map(|k| Session::receiver(profile(), &key_salt(k)))).collect();
    let mut seen = vec![Seen::default(); sockets.len()];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let mut any = false;
        for (i, s) in sockets.iter().enumerate() {
            while let Ok(n) = s.recv(&mut buf) {
                any = true;
                let now = Instant::now();
                let plain = match &mut rx[i] {
                    Some(r) => match r.unprotect(&buf[..n]) {
                        Ok(p) => p,
                        Err(_) => {
                            seen[i].auth_failures += 1;
                            continue;
                        }
                    },
                    None => buf[..n].to_vec(),
                };
                let c = u32::from_be_bytes(plain[12..16].try_into().unwrap());
                let v = &mut seen[i];
                if let Some(last) = v.last {
                    v.max_gap = v.max_gap.max(now - last);
                }
                v.first.get_or_insert(now);
                v.last = Some(now);
                v.counters.push(c);
                v.arrivals.push(now);
            }
        }
        if !any {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    seen
}

fn wait_for(what: &str, node: &MediaFwd, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not in time\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two nodes of one group and their redis-server; node a active.
struct Pair {
    a: Option<MediaFwd>,
    b: MediaFwd,
    seg: Topology,
    group: String,
    redis: redis_server::RedisServer,
}

type Api = (tokio::runtime::Runtime, MediaRelayClient<tonic::transport::Channel>);

impl Pair {
    fn start() -> Pair {
        let redis = redis_server::RedisServer::start();
        let seg = segment();
        let group = format!("failover{}", std::process::id());
        let a = MediaFwd::start(&config(&seg, "a", "active", &redis.url(), &group));
        wait_for("node a claims the lease", &a, Duration::from_secs(10), || a.log_contains("lease claimed"));
        let b = MediaFwd::start(&config(&seg, "b", "standby", &redis.url(), &group));
        wait_for("node b loads the group", &b, Duration::from_secs(10), || {
            b.log_contains("followed the active's sessions")
        });
        Pair { a: Some(a), b, seg, group, redis }
    }

    fn a(&self) -> &MediaFwd {
        self.a.as_ref().expect("node a")
    }

    fn api(node: &MediaFwd) -> Api {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(MediaRelayClient::connect(format!("http://{}", node.api_addr()))).expect("API");
        (rt, client)
    }

    fn stored_ids(&self) -> Vec<String> {
        let ids = self.redis.cli(&["SMEMBERS", &format!("mediafwd:{}:sessions", self.group)]).unwrap_or_default();
        let mut ids: Vec<String> = ids.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        ids.sort();
        ids
    }
}

/// The endpoints' streams, one per call and direction: caller to callee,
/// callee to caller, each from and to the endpoint's one socket.
struct Media {
    stop_tx: Arc<AtomicBool>,
    stop_rx: Arc<AtomicBool>,
    senders: [std::thread::JoinHandle<Vec<u32>>; 2],
    receivers: [std::thread::JoinHandle<Vec<Seen>>; 2],
}

/// What each direction's senders sent, and what its receivers saw.
type Directions = [(Vec<u32>, Vec<Seen>); 2];

impl Media {
    /// `targets`: per call, the node's caller-side and callee-side addresses.
    fn start(seg: &Topology, targets: Vec<(SocketAddr, SocketAddr)>) -> Media {
        let calls = targets.len();
        let stop_tx = Arc::new(AtomicBool::new(false));
        let stop_rx = Arc::new(AtomicBool::new(false));
        let caller: Vec<UdpSocket> = (0..calls).map(|i| seg.caller.udp_socket(caller_addr(i))).collect();
        let callee: Vec<UdpSocket> = (0..calls).map(|i| seg.callee.udp_socket(callee_addr(i))).collect();
        let clone = |v: &[UdpSocket]| -> Vec<UdpSocket> {
            v.iter()
                .map(|s| {
                    let s = s.try_clone().unwrap();
                    s.set_nonblocking(true).unwrap();
                    s
                })
                .collect()
        };
        let fills = |f: fn(&Keys) -> Option<u8>| (0..calls).map(|i| f(&keys(i))).collect::<Vec<_>>();
        let receivers = [(clone(&callee), fills(|k| k.callee_rx)), (clone(&caller), fills(|k| k.caller_rx))].map(
            |(socks, keys)| {
                let stop = stop_rx.clone();
                std::thread::spawn(move || receive_all(socks, keys, stop))
            },
        );
        let (to_caller_side, to_callee_side): (Vec<_>, Vec<_>) = targets.into_iter().unzip();
        let senders = [
            (caller, to_caller_side, fills(|k| k.caller_tx), 0x1000),
            (callee, to_callee_side, fills(|k| k.callee_tx), 0x2000),
        ]
        .map(|(socks, to, keys, ssrc)| {
            let stop = stop_tx.clone();
            std::thread::spawn(move || send_all(socks, to, keys, ssrc, stop))
        });
        Media { stop_tx, stop_rx, senders, receivers }
    }

    /// Both directions: caller to callee, then callee to caller.
    fn finish(self) -> Directions {
        self.stop_tx.store(true, Ordering::Relaxed);
        let sent = self.senders.map(|s| s.join().expect("sender"));
        std::thread::sleep(Duration::from_millis(500));
        self.stop_rx.store(true, Ordering::Relaxed);
        let seen = self.receivers.map(|r| r.join().expect("receiver"));
        let [s0, s1] = sent;
        let [r0, r1] = seen;
        [(s0, r0), (s1, r1)]
    }
}

/// The figures of a run over both directions: calls still receiving `after`
/// the event at both ends, the largest gap, the packets lost from each
/// stream's first packet on, the SRTP authentication failures.
fn figures(dirs: &Directions, after: Instant) -> (usize, Duration, u64, u64) {
    let calls = dirs[0].1.len();
    let continued =
        (0..calls).filter(|&i| dirs.iter().all(|(_, seen)| seen[i].last.is_some_and(|l| l > after))).count();
    let mut lost = 0u64;
    let mut max_gap = Duration::ZERO;
    let mut auth = 0;
    for (sent, seen) in dirs {
        for (sent, v) in sent.iter().zip(seen) {
            let first = v.counters.iter().min().copied().unwrap_or(0);
            let mut got = v.counters.clone();
            got.sort();
            got.dedup();
            lost += u64::from(sent - first).saturating_sub(got.len() as u64);
            max_gap = max_gap.max(v.max_gap);
            auth += v.auth_failures;
        }
    }
    (continued, max_gap, lost, auth)
}

/// The indexes of the RTP checkpoints in a stored record.
fn checkpointed_indexes(record: &str) -> Vec<u64> {
    record
        .split(r#""rtp_checkpoint":{"#)
        .skip(1)
        .filter_map(|c| c.split(r#""index":"#).nth(1)?.split(|ch: char| !ch.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

fn calls_from_env(default: usize) -> usize {
    std::env::var("FAILOVER_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The figures of a `failover: ...` line, by name.
fn failover_figures(line: &str) -> std::collections::HashMap<&str, u64> {
    let fields = line.strip_prefix("failover: ").unwrap_or_else(|| panic!("not a failover line: {line:?}"));
    fields
        .split_whitespace()
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or_else(|| panic!("{f:?} in {line:?}"));
            (k, v.parse().unwrap_or_else(|_| panic!("{f:?} in {line:?}")))
        })
        .collect()
}

#[test]
fn the_standby_takes_over_every_call_when_the_active_is_killed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The script runs the scenario with this test binary (no cargo inside cargo).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/failover.sh");
    let out = Command::new(script)
        .env("FAILOVER_RUNNER", std::env::current_exe().unwrap())
        .output()
        .expect("scripts/failover.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!("{stdout}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/failover.sh failed:\n{context}");
    let line = stdout.lines().last().unwrap_or_default();
    println!("{line}");
    let f = failover_figures(line);
    assert!(f["calls"] > 0, "{context}");
    assert_eq!(f["continued"], f["calls"], "{context}");
    assert_eq!(f["srtp_auth_failures"], 0, "{context}");
    assert!(f["max_gap_ms"] <= 1000, "{context}");
}

/// The failover itself, run by `scripts/failover.sh` (as root) through
/// this binary: `FAILOVER_CALLS` calls (50 by default), the active killed.
#[test]
#[ignore = "run by scripts/failover.sh"]
fn failover_scenario() {
    let calls = calls_from_env(50);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut pair = Pair::start();
    let mut api = Pair::api(pair.a());
    let targets: Vec<_> = (0..calls).map(|i| create(&mut api, i)).collect();
    let media = Media::start(&pair.seg, targets);

    // Every SRTP call's streams, both ways, have wrapped and their
    // checkpoints are in the store.
    let srtp_calls: Vec<usize> = (0..calls).filter(|i| kind(*i) != Kind::Plain).collect();
    wait_for("checkpoints past the wrap", pair.a(), Duration::from_secs(30), || {
        srtp_calls.iter().all(|i| {
            pair.redis
                .cli(&["GET", &format!("mediafwd:{}:session:call-{i}", pair.group)])
                .is_some_and(|r| checkpointed_indexes(&r).iter().filter(|&&n| n >= 1 << 16).count() == 2)
        })
    });
    // The standby reads the last checkpoints, then the active dies.
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    pair.a.take().unwrap().kill();
    let b = &pair.b;
    wait_for("node b takes over", b, Duration::from_secs(10), || b.log_contains("lease claimed"));
    std::thread::sleep(Duration::from_secs(5));
    let dirs = media.finish();
    let (continued, max_gap, lost, auth) = figures(&dirs, killed + Duration::from_secs(3));
    let line = format!(
        "failover: calls={calls} continued={continued} max_gap_ms={} lost_packets={lost} srtp_auth_failures={auth}",
        max_gap.as_millis()
    );
    println!("{line}");
    assert_eq!(continued, calls, "{line}\n--- node b ---\n{}", b.log_text());
    assert_eq!(auth, 0, "{line}");
    assert!(max_gap <= Duration::from_millis(1000), "{line}");
    assert!(pair.b.stop().success());
}

#[test]
fn an_active_frozen_past_its_lease_transmits_nothing_when_it_wakes() {
    let calls = calls_from_env(50).min(15);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start();
    let mut api = Pair::api(pair.a());
    let targets: Vec<_> = (0..calls).map(|i| create(&mut api, i)).collect();
    let media = Media::start(&pair.seg, targets);
    std::thread::sleep(Duration::from_secs(3));

    let a_pid = nix::unistd::Pid::from_raw(pair.a().pid() as i32);
    nix::sys::signal::kill(a_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let stopped = Instant::now();
    let b = &pair.b;
    wait_for("node b takes over", b, Duration::from_secs(10), || b.log_contains("lease claimed"));
    std::thread::sleep(Duration::from_millis(1000));
    let resumed = Instant::now();
    nix::sys::signal::kill(a_pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let a = pair.a();
    wait_for("node a stands by", a, Duration::from_secs(10), || a.log_contains("lease lost"));
    std::thread::sleep(Duration::from_secs(3));
    let dirs = media.finish();

    // A packet older than one already received, arriving after the wake-up,
    // is one the frozen node had queued and sent anyway.
    let mut stale = 0;
    for v in dirs.iter().flat_map(|(_, seen)| seen) {
        let before = v.arrivals.iter().zip(&v.counters).filter(|(t, _)| **t < resumed).map(|(_, c)| *c).max();
        stale += v
            .arrivals
            .iter()
            .zip(&v.counters)
            .filter(|(t, c)| **t >= resumed && before.is_some_and(|b| **c < b))
            .count();
    }
    let stats = api.0.block_on(api.1.get_node_stats(pb::GetNodeStatsRequest {})).expect("stats of a").into_inner();
    let fenced: u64 = stats.workers.iter().filter_map(|w| w.drops.get("fenced")).sum();
    let refused = api.0.block_on(api.1.create_session(create_request(calls)));
    let (continued, max_gap, lost, auth) = figures(&dirs, stopped + Duration::from_secs(2));
    let line = format!(
        "split-brain: calls={calls} continued={continued} stale_after_wake={stale} fenced_drops={fenced} \
         max_gap_ms={} lost_packets={lost} srtp_auth_failures={auth}",
        max_gap.as_millis()
    );
    println!("{line}");
    assert_eq!(stale, 0, "{line}\n--- node a ---\n{}", a.log_text());
    assert!(fenced > 0, "the frozen node had nothing queued to fence: {line}");
    assert_eq!(refused.map_err(|s| s.code()).unwrap_err(), tonic::Code::Unavailable, "a standby refuses changes");
    assert_eq!(continued, calls, "{line}");
    assert_eq!(auth, 0, "{line}");
}

#[test]
fn with_redis_stopped_for_ten_seconds_the_api_answers_and_the_store_catches_up() {
    let calls = 10;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start();
    let mut api = Pair::api(pair.a());
    let targets: Vec<_> = (0..calls).map(|i| create(&mut api, i)).collect();
    let media = Media::start(&pair.seg, targets);
    std::thread::sleep(Duration::from_secs(2));

    pair.redis.signal(nix::sys::signal::Signal::SIGSTOP);
    let stopped = Instant::now();
    // Calls created and deleted while the store does not answer.
    let mut slowest = Duration::ZERO;
    for i in calls..calls + 10 {
        let t = Instant::now();
        create(&mut api, i);
        eprintln!("create call-{i} while the store is stopped: {} ms", t.elapsed().as_millis());
        slowest = slowest.max(t.elapsed());
    }
    for i in 0..5 {
        let t = Instant::now();
        api.0
            .block_on(api.1.delete_session(pb::DeleteSessionRequest { session_id: format!("call-{i}") }))
            .expect("delete while the store is down");
        eprintln!("delete call-{i} while the store is stopped: {} ms", t.elapsed().as_millis());
        slowest = slowest.max(t.elapsed());
    }
    let left = Duration::from_secs(10).saturating_sub(stopped.elapsed());
    std::thread::sleep(left);
    pair.redis.signal(nix::sys::signal::Signal::SIGCONT);
    let back = Instant::now();

    let mut want: Vec<String> = (5..calls + 10).map(|i| format!("call-{i}")).collect();
    want.sort();
    let a = pair.a();
    wait_for("the store catches up", a, Duration::from_secs(15), || pair.stored_ids() == want);
    let caught_up = back.elapsed();
    let mut b_api = Pair::api(&pair.b);
    let b = &pair.b;
    wait_for("the standby follows", b, Duration::from_secs(15), || {
        let page = b_api.0.block_on(b_api.1.list_sessions(pb::ListSessionsRequest::default()));
        page.is_ok_and(|p| p.into_inner().sessions.len() == want.len())
    });
    std::thread::sleep(Duration::from_secs(2));
    let dirs = media.finish();
    // Media of the calls still up flows again, both ways, once the lease is renewed.
    let again = |i: usize| dirs.iter().all(|(_, seen)| seen[i].last.is_some_and(|l| l > back + Duration::from_secs(1)));
    let flowing = (5..calls).filter(|&i| again(i)).count();
    let ha = api
        .0
        .block_on(async {
            let mut c =
                pb::high_availability_client::HighAvailabilityClient::connect(format!("http://{}", a.api_addr()))
                    .await
                    .expect("HA API");
            c.get_ha_state(pb::GetHaStateRequest {}).await
        })
        .expect("ha state")
        .into_inner();
    let line = format!(
        "redis-outage: api_max_ms={} created=10 deleted=5 store_caught_up_ms={} standby_sessions={} \
         calls_flowing_after={flowing}/{} a_active={} a_epoch={}",
        slowest.as_millis(),
        caught_up.as_millis(),
        want.len(),
        calls - 5,
        ha.active,
        ha.epoch
    );
    println!("{line}");
    assert!(slowest < Duration::from_secs(1), "{line}");
    assert!(ha.active, "the active keeps the lease after the outage: {line}\n{}", a.log_text());
    assert_eq!(flowing, calls - 5, "{line}");
}
