//! Failover between two real mediafwd nodes of one group on one L2 segment
//! (a bridge per side, made by the test) between a caller and a callee
//! namespace, both nodes with the same media addresses, on af_packet ports,
//! sharing a real redis-server. Calls of three kinds (plain RTP, SRTP to RTP,
//! SRTP to SRTP; libsrtp at the endpoints) stream at 50 packets a second,
//! their SRTP streams past a sequence number wrap; the active is killed with
//! SIGKILL and every call must go on through the standby. The receivers
//! measure the gap, the packets lost and the SRTP authentication failures;
//! the test prints
//! `failover: calls=N continued=M max_gap_ms=G lost_packets=L srtp_auth_failures=F`.

#![allow(clippy::result_large_err)] // tonic::Status, the API's error type.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::netns::{run, Netns, Veth};
use common::node::MediaFwd;
use common::topology::SERIAL;
use mediafwd_dataplane::craft::rtp_packet;
use mediafwd_dataplane::srtp::Suite;
use mediafwd_libsrtp::{Profile, Session};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;

const SUITE: Suite = Suite::AesCm128HmacSha1_80;
/// SRTP streams start here: they wrap (rollover counter 1) about three
/// seconds in, before the failure.
const SRTP_FIRST_SEQ: u16 = 65_400;
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

/// A bridge in the root namespace, without addresses; deleted on drop.
struct Bridge(String);

impl Bridge {
    fn new(name: &str) -> Bridge {
        let _ = Command::new("ip").args(["link", "del", name]).output();
        run(&["ip", "link", "add", "name", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
        let _ = Command::new("sysctl").args(["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")]).output();
        run(&["ip", "link", "set", name, "up"]);
        Bridge(name.into())
    }

    fn attach(&self, port: &str) {
        run(&["ip", "link", "set", port, "master", &self.0]);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// A veth pair in the root namespace: `dpdk` for a node's af_packet port,
/// `bridged` on a bridge. Deleted on drop.
struct NodePort(String);

impl NodePort {
    fn new(dpdk: &str, bridge: &Bridge) -> NodePort {
        let bridged = format!("{dpdk}x");
        let _ = Command::new("ip").args(["link", "del", dpdk]).output();
        run(&["ip", "link", "add", dpdk, "type", "veth", "peer", "name", &bridged]);
        for dev in [dpdk, bridged.as_str()] {
            let _ = Command::new("sysctl").args(["-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")]).output();
            run(&["ip", "link", "set", dev, "up"]);
        }
        bridge.attach(&bridged);
        NodePort(dpdk.into())
    }
}

impl Drop for NodePort {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// caller (198.18.0.2) - bridge P - nodes A and B (198.18.0.1 | 198.19.0.1) - bridge Q - callee (198.19.0.2).
// Fields drop in order: ports and veths before their bridges.
struct Segment {
    _ports: Vec<NodePort>,
    _veths: (Veth, Veth),
    _bridges: (Bridge, Bridge),
    caller: Netns,
    callee: Netns,
    tag: String,
}

impl Segment {
    fn new() -> Segment {
        let tag = format!("f{}", std::process::id() % 100_000);
        let caller = Netns::new(&format!("mfw-{tag}-caller"));
        let callee = Netns::new(&format!("mfw-{tag}-callee"));
        let (p, q) = (Bridge::new(&format!("{tag}p")), Bridge::new(&format!("{tag}q")));
        let c = Veth::new(&format!("{tag}c"), "eth0", &caller, &["198.18.0.2/24"]);
        let d = Veth::new(&format!("{tag}d"), "eth0", &callee, &["198.19.0.2/24"]);
        p.attach(&c.host);
        q.attach(&d.host);
        let ports = ["ap", "aq", "bp", "bq"]
            .iter()
            .map(|n| NodePort::new(&format!("{tag}{n}"), if n.ends_with('p') { &p } else { &q }))
            .collect();
        Segment { _ports: ports, _veths: (c, d), _bridges: (p, q), caller, callee, tag }
    }

    fn config(&self, node: &str, role: &str, redis: &str, group: &str) -> String {
        format!(
            r#"
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "mfw-ha-{tag}{node}"
stats_log_seconds = 1

[dataplane]
idle_sleep_us = 50

[api]
listen = "127.0.0.1:0"

[ha]
role = "{role}"
redis_url = "{redis}"
group = "{group}"
lease_ms = 300
node_id = "{node}"

[[interface]]
name = "public"
device = "net_af_packet0,iface={tag}{node}p,framecnt=4096"
addresses = ["198.18.0.1/24"]

[[interface]]
name = "private"
device = "net_af_packet1,iface={tag}{node}q,framecnt=4096"
addresses = ["198.19.0.1/24"]
"#,
            tag = self.tag
        )
    }
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

fn create(api: &mut Api, i: usize) -> SocketAddr {
    let s = api.0.block_on(api.1.create_session(create_request(i))).unwrap_or_else(|e| panic!("create call-{i}: {e}"));
    let s = s.into_inner();
    let l = s.legs[0].local.as_ref().unwrap();
    SocketAddr::new(l.address.parse().unwrap(), l.port as u16)
}

fn create_request(i: usize) -> pb::CreateSessionRequest {
    let endpoint = |a: SocketAddr| pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 };
    let k = kind(i);
    let srtp_in = (k != Kind::Plain).then(|| params(1 + i as u8));
    let srtp_out = (k == Kind::SrtpToSrtp).then(|| params(101 + i as u8));
    pb::CreateSessionRequest {
        session_id: format!("call-{i}"),
        legs: vec![
            pb::LegSpec {
                label: "caller".into(),
                interface: "public".into(),
                remote: Some(endpoint(caller_addr(i))),
                srtp_inbound: srtp_in,
                ..Default::default()
            },
            pb::LegSpec {
                label: "callee".into(),
                interface: "private".into(),
                remote: Some(endpoint(callee_addr(i))),
                srtp_outbound: srtp_out,
                ..Default::default()
            },
        ],
        media_timeout_seconds: 0,
        max_lifetime_seconds: 0,
    }
}

/// What a callee saw of one call.
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

/// Sends packet `n` of every call every 20 ms until `stop`.
fn send_all(sockets: Vec<UdpSocket>, to: Vec<SocketAddr>, stop: Arc<AtomicBool>) -> Vec<u32> {
    let mut tx: Vec<Option<Session>> = (0..to.len())
        .map(|i| (kind(i) != Kind::Plain).then(|| Session::sender(profile(), &key_salt(1 + i as u8))))
        .collect();
    let mut sent = vec![0u32; to.len()];
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for i in 0..to.len() {
            let n = sent[i];
            let first = if kind(i) == Kind::Plain { 0 } else { SRTP_FIRST_SEQ };
            let seq = first.wrapping_add(n as u16);
            let mut p = vec![0u8; 172];
            rtp_packet(&mut p, 0x1000 + i as u32, seq, n.wrapping_mul(160), 0, 160, 0);
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

/// Receives every call's packets until `stop`.
fn receive_all(sockets: Vec<UdpSocket>, stop: Arc<AtomicBool>) -> Vec<Seen> {
    let mut rx: Vec<Option<Session>> = (0..sockets.len())
        .map(|i| (kind(i) == Kind::SrtpToSrtp).then(|| Session::receiver(profile(), &key_salt(101 + i as u8))))
        .collect();
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
    seg: Segment,
    group: String,
    redis: redis_server::RedisServer,
}

type Api = (tokio::runtime::Runtime, MediaRelayClient<tonic::transport::Channel>);

impl Pair {
    fn start() -> Pair {
        let redis = redis_server::RedisServer::start();
        let seg = Segment::new();
        let group = format!("failover{}", std::process::id());
        let a = MediaFwd::start(&seg.config("a", "active", &redis.url(), &group));
        wait_for("node a claims the lease", &a, Duration::from_secs(10), || a.log_contains("lease claimed"));
        let b = MediaFwd::start(&seg.config("b", "standby", &redis.url(), &group));
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

/// The endpoints' streams, one per call, caller to callee.
struct Media {
    stop_tx: Arc<AtomicBool>,
    stop_rx: Arc<AtomicBool>,
    sender: std::thread::JoinHandle<Vec<u32>>,
    receiver: std::thread::JoinHandle<Vec<Seen>>,
}

impl Media {
    fn start(seg: &Segment, targets: Vec<SocketAddr>) -> Media {
        let calls = targets.len();
        let stop_tx = Arc::new(AtomicBool::new(false));
        let stop_rx = Arc::new(AtomicBool::new(false));
        let tx_socks: Vec<UdpSocket> = (0..calls).map(|i| seg.caller.udp_socket(caller_addr(i))).collect();
        let rx_socks: Vec<UdpSocket> = (0..calls).map(|i| seg.callee.udp_socket(callee_addr(i))).collect();
        for s in &rx_socks {
            s.set_nonblocking(true).unwrap();
        }
        let receiver = {
            let stop = stop_rx.clone();
            std::thread::spawn(move || receive_all(rx_socks, stop))
        };
        let sender = {
            let stop = stop_tx.clone();
            std::thread::spawn(move || send_all(tx_socks, targets, stop))
        };
        Media { stop_tx, stop_rx, sender, receiver }
    }

    fn finish(self) -> (Vec<u32>, Vec<Seen>) {
        self.stop_tx.store(true, Ordering::Relaxed);
        let sent = self.sender.join().expect("sender");
        std::thread::sleep(Duration::from_millis(500));
        self.stop_rx.store(true, Ordering::Relaxed);
        (sent, self.receiver.join().expect("receiver"))
    }
}

/// The figures of a run: calls still receiving `after` the event, the
/// largest gap, the packets lost from each call's first packet on, the
/// SRTP authentication failures.
fn figures(sent: &[u32], seen: &[Seen], after: Instant) -> (usize, Duration, u64, u64) {
    let mut continued = 0;
    let mut lost = 0u64;
    let mut max_gap = Duration::ZERO;
    let mut auth = 0;
    for (i, v) in seen.iter().enumerate() {
        continued += usize::from(v.last.is_some_and(|l| l > after));
        let first = v.counters.iter().min().copied().unwrap_or(0);
        let mut got = v.counters.clone();
        got.sort();
        got.dedup();
        lost += u64::from(sent[i] - first).saturating_sub(got.len() as u64);
        max_gap = max_gap.max(v.max_gap);
        auth += v.auth_failures;
    }
    (continued, max_gap, lost, auth)
}

fn calls_from_env(default: usize) -> usize {
    std::env::var("FAILOVER_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn the_standby_takes_over_every_call_when_the_active_is_killed() {
    let calls = calls_from_env(50);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut pair = Pair::start();
    let mut api = Pair::api(pair.a());
    let targets: Vec<SocketAddr> = (0..calls).map(|i| create(&mut api, i)).collect();
    let media = Media::start(&pair.seg, targets);

    // Every SRTP stream has wrapped and its checkpoint is in the store.
    let srtp_calls: Vec<usize> = (0..calls).filter(|i| kind(*i) != Kind::Plain).collect();
    wait_for("checkpoints past the wrap", pair.a(), Duration::from_secs(30), || {
        srtp_calls.iter().all(|i| {
            pair.redis
                .cli(&["GET", &format!("mediafwd:{}:session:call-{i}", pair.group)])
                .is_some_and(|r| r.contains(r#""rtp_checkpoint":{"#))
        })
    });
    // The standby reads the last checkpoints, then the active dies.
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    pair.a.take().unwrap().kill();
    let b = &pair.b;
    wait_for("node b takes over", b, Duration::from_secs(10), || b.log_contains("lease claimed"));
    std::thread::sleep(Duration::from_secs(5));
    let (sent, seen) = media.finish();
    let (continued, max_gap, lost, auth) = figures(&sent, &seen, killed + Duration::from_secs(3));
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
    let targets: Vec<SocketAddr> = (0..calls).map(|i| create(&mut api, i)).collect();
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
    let (sent, seen) = media.finish();

    // A packet older than one already received, arriving after the wake-up,
    // is one the frozen node had queued and sent anyway.
    let mut stale = 0;
    for v in &seen {
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
    let (continued, max_gap, lost, auth) = figures(&sent, &seen, stopped + Duration::from_secs(2));
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
    let targets: Vec<SocketAddr> = (0..calls).map(|i| create(&mut api, i)).collect();
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
    let (_, seen) = media.finish();
    // Media of the calls still up flows again once the lease is renewed.
    let flowing = seen[5..].iter().filter(|v| v.last.is_some_and(|l| l > back + Duration::from_secs(1))).count();
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
