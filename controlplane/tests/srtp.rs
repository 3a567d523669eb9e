//! SRTP end to end: the real binary, programmed over gRPC, between endpoints
//! in two namespaces whose SRTP is done by libsrtp. An SRTP caller relayed to a
//! plain RTP callee and back (RTP and RTCP), a rekey through UpdateLeg, SRTP to
//! SRTP with other keys and suites both ways, and a tampered packet counted,
//! reported and not forwarded. Each runs once per SRTP crypto engine the
//! build and CPU have (`dataplane.srtp_engine`), checked in the node stats.

#![allow(clippy::result_large_err)] // tonic::Status, the API's error type.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::node::MediaFwd;
use common::topology::{rtp, Topology, SERIAL};
use mediafwd_dataplane::srtp::{EngineKind, Suite};
use mediafwd_libsrtp::{Profile, Session};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use tonic::transport::Channel;
use tonic::Code;

const CALLER: &str = "198.18.0.2:5000";
const CALLEE: &str = "198.19.0.2:6000";

fn p(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(s: &str) -> pb::Endpoint {
    let a = p(s);
    pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 }
}

fn sock(e: &Option<pb::Endpoint>) -> SocketAddr {
    let e = e.as_ref().expect("endpoint");
    SocketAddr::new(e.address.parse().unwrap(), e.port as u16)
}

/// The caller's and the callee's RTP sockets, in their namespaces.
fn endpoints(topo: &Topology) -> (UdpSocket, UdpSocket) {
    (topo.caller.udp_socket(p(CALLER)), topo.callee.udp_socket(p(CALLEE)))
}

fn rtcp_of(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() + 1)
}

/// libsrtp's name for `suite`.
fn profile(suite: Suite) -> Profile {
    suite.to_string().parse().unwrap()
}

/// Key and salt of a test key, as libsrtp takes them.
fn key_salt(suite: Suite, fill: u8) -> Vec<u8> {
    (0..suite.master_key_len() + suite.master_salt_len()).map(|i| fill.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

/// A libsrtp endpoint protecting with the keys of `params(suite, fill)`.
fn libsrtp_sender(suite: Suite, fill: u8) -> Session {
    Session::sender(profile(suite), &key_salt(suite, fill))
}

/// A libsrtp endpoint unprotecting with the keys of `params(suite, fill)`.
fn libsrtp_receiver(suite: Suite, fill: u8) -> Session {
    Session::receiver(profile(suite), &key_salt(suite, fill))
}

fn params(suite: Suite, fill: u8) -> pb::SrtpParams {
    let ks = key_salt(suite, fill);
    let (key, salt) = ks.split_at(suite.master_key_len());
    pb::SrtpParams {
        suite: suite.sdes_name().into(),
        master_key: key.to_vec(),
        master_salt: salt.to_vec(),
        mki: Vec::new(),
        lifetime: 0,
    }
}

/// A receiver report from the RTP stream's SSRC (0xcafe).
fn rtcp(n: u8) -> Vec<u8> {
    let mut r = vec![0x81, 201, 0, 7, 0, 0, 0xca, 0xfe];
    r.extend((0..24).map(|i| i ^ n));
    r
}

struct Api {
    rt: tokio::runtime::Runtime,
    client: MediaRelayClient<Channel>,
}

impl Api {
    fn connect(node: &MediaFwd) -> Api {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client =
            rt.block_on(MediaRelayClient::connect(format!("http://{}", node.api_addr()))).expect("connect to the API");
        Api { rt, client }
    }

    fn create(&mut self, req: pb::CreateSessionRequest) -> Result<pb::Session, tonic::Status> {
        self.rt.block_on(self.client.create_session(req)).map(|r| r.into_inner())
    }

    fn update(&mut self, req: pb::UpdateLegRequest) -> Result<pb::Session, tonic::Status> {
        self.rt.block_on(self.client.update_leg(req)).map(|r| r.into_inner())
    }

    fn get(&mut self, id: &str) -> pb::Session {
        self.rt.block_on(self.client.get_session(pb::GetSessionRequest { session_id: id.into() })).unwrap().into_inner()
    }

    fn node_stats(&mut self) -> pb::NodeStats {
        self.rt.block_on(self.client.get_node_stats(pb::GetNodeStatsRequest {})).unwrap().into_inner()
    }

    /// A session between the caller and the callee, both remotes known.
    fn call(
        &mut self,
        id: &str,
        caller: (Option<pb::SrtpParams>, Option<pb::SrtpParams>),
        callee: (Option<pb::SrtpParams>, Option<pb::SrtpParams>),
    ) -> (SocketAddr, SocketAddr) {
        let s = self.create(request(id, caller, callee)).unwrap();
        (sock(&s.legs[0].local), sock(&s.legs[1].local))
    }
}

fn request(
    id: &str,
    caller: (Option<pb::SrtpParams>, Option<pb::SrtpParams>),
    callee: (Option<pb::SrtpParams>, Option<pb::SrtpParams>),
) -> pb::CreateSessionRequest {
    let leg = |label: &str, iface: &str, remote: &str, (srtp_inbound, srtp_outbound)| pb::LegSpec {
        label: label.into(),
        interface: iface.into(),
        remote: Some(endpoint(remote)),
        srtp_inbound,
        srtp_outbound,
        ..Default::default()
    };
    pb::CreateSessionRequest {
        session_id: id.into(),
        legs: vec![leg("caller", "public", CALLER, caller), leg("callee", "private", CALLEE, callee)],
        media_timeout_seconds: 0,
        max_lifetime_seconds: 0,
    }
}

fn setup(tag: &str, engine: EngineKind) -> (std::sync::MutexGuard<'static, ()>, Topology, MediaFwd, Api) {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new(&format!("{tag}{}", &engine.name()[..1]), None);
    let node = MediaFwd::start(&topo.config(None, &format!("[dataplane]\nsrtp_engine = \"{engine}\"\n")));
    let mut api = Api::connect(&node);
    assert_eq!(api.node_stats().srtp_engine, engine.name());
    (serial, topo, node, api)
}

/// A test per engine this build and CPU have.
macro_rules! per_engine {
    ($($name:ident,)*) => {$(
        #[test]
        fn $name() {
            for engine in EngineKind::available() {
                cases::$name(engine);
            }
        }
    )*};
}

per_engine! {
    an_srtp_caller_is_relayed_to_a_plain_callee_and_back_and_rekeys,
    srtp_to_srtp_with_other_keys_both_ways,
    a_tampered_packet_is_counted_reported_and_not_forwarded,
    a_static_session_takes_srtp_keys,
}

/// Sends `make(seq)` for rising `seq` from `tx` to `to` until something
/// arrives at `rx` (neighbors resolve meanwhile), then `count` more, every one
/// of which must arrive from `from` and pass `check`. Bounded in time.
#[allow(clippy::too_many_arguments)]
fn exchange(
    node: &MediaFwd,
    tx: &UdpSocket,
    to: SocketAddr,
    rx: &UdpSocket,
    from: SocketAddr,
    count: u16,
    seq: &mut u16,
    make: &mut dyn FnMut(u16) -> Vec<u8>,
    check: &mut dyn FnMut(&[u8]),
) {
    let mut buf = [0u8; 2048];
    rx.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tx.send_to(&make(*seq), to).unwrap();
        *seq = seq.wrapping_add(1);
        if let Ok((n, src)) = rx.recv_from(&mut buf) {
            check!(node, src == from, "first packet from {src}, expected {from}");
            check(&buf[..n]);
            break;
        }
        check!(node, Instant::now() < deadline, "nothing relayed from {} to {to}", tx.local_addr().unwrap());
    }
    while let Ok((n, _)) = rx.recv_from(&mut buf) {
        check(&buf[..n]);
    }
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..count {
        tx.send_to(&make(*seq), to).unwrap();
        *seq = seq.wrapping_add(1);
        let (n, src) = rx.recv_from(&mut buf).unwrap_or_else(|e| panic!("packet {i} lost: {e}\n{}", node.log_text()));
        check!(node, src == from, "packet {i} from {src}");
        check(&buf[..n]);
    }
}

/// The RTP packet that `rtp(seq)` made, for the sequence number in `packet`.
fn expected_rtp(packet: &[u8]) -> Vec<u8> {
    rtp(u16::from_be_bytes([packet[2], packet[3]]))
}

mod cases {
    use super::*;

    pub(super) fn an_srtp_caller_is_relayed_to_a_plain_callee_and_back_and_rekeys(engine: EngineKind) {
        let (_serial, topo, node, mut api) = setup("sp", engine);
        let (in_suite, out_suite) = (Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm);
        let s = api.create(request("srtp-1", (Some(params(in_suite, 1)), Some(params(out_suite, 2))), (None, None)));
        let s = s.unwrap();
        assert_eq!(
            (s.legs[0].srtp_inbound_suite.as_str(), s.legs[0].srtp_outbound_suite.as_str()),
            ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM")
        );
        assert_eq!((s.legs[1].srtp_inbound_suite.as_str(), s.legs[1].srtp_outbound_suite.as_str()), ("", ""));
        let (a, b) = (sock(&s.legs[0].local), sock(&s.legs[1].local));
        let (caller, callee) = endpoints(&topo);
        let (caller_rtcp, callee_rtcp) =
            (topo.caller.udp_socket(p("198.18.0.2:5001")), topo.callee.udp_socket(p("198.19.0.2:6001")));

        // Caller -> callee: libsrtp protects, the callee gets the RTP in clear.
        let mut caller_tx = libsrtp_sender(in_suite, 1);
        let mut seq = 100;
        exchange(
            &node,
            &caller,
            a,
            &callee,
            b,
            50,
            &mut seq,
            &mut |s| caller_tx.protect(&rtp(s)).unwrap(),
            &mut |got| assert_eq!(got, &expected_rtp(got)[..]),
        );
        // Callee -> caller: plain RTP in, SRTP (GCM) out, which libsrtp unprotects.
        let mut caller_rx = libsrtp_receiver(out_suite, 2);
        let mut back = 7000;
        exchange(&node, &callee, b, &caller, a, 50, &mut back, &mut |s| rtp(s), &mut |got| {
            assert_eq!(got.len(), 172 + 16, "GCM tag");
            let plain = caller_rx.unprotect(got).expect("libsrtp unprotects what mediafwd protected");
            assert_eq!(plain, expected_rtp(&plain));
        });
        // RTCP both ways on the RTCP ports.
        let mut n = 0u16;
        exchange(
            &node,
            &caller_rtcp,
            rtcp_of(a),
            &callee_rtcp,
            rtcp_of(b),
            5,
            &mut n,
            &mut |i| caller_tx.protect_rtcp(&rtcp(i as u8)).unwrap(),
            &mut |got| assert_eq!(got, &rtcp(got[8])[..]),
        );
        exchange(
            &node,
            &callee_rtcp,
            rtcp_of(b),
            &caller_rtcp,
            rtcp_of(a),
            5,
            &mut n,
            &mut |i| rtcp(i as u8),
            &mut |got| {
                let plain = caller_rx.unprotect_rtcp(got).expect("libsrtp unprotects mediafwd's SRTCP");
                assert_eq!(plain, rtcp(plain[8]));
            },
        );

        // A bad key is refused naming the field, and the session stays as it was.
        let mut bad = params(in_suite, 3);
        bad.master_salt.pop();
        let e = api
            .update(pb::UpdateLegRequest {
                session_id: "srtp-1".into(),
                leg: "caller".into(),
                srtp_inbound: Some(bad),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("srtp_inbound.master_salt"), "{}", e.message());
        // Rekey: the caller's next packets use the new key, and the stream goes on.
        let s = api
            .update(pb::UpdateLegRequest {
                session_id: "srtp-1".into(),
                leg: "caller".into(),
                srtp_inbound: Some(params(Suite::Aes256CmHmacSha1_80, 4)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(s.legs[0].srtp_inbound_suite, "AES_256_CM_HMAC_SHA1_80");
        let mut caller_tx = libsrtp_sender(Suite::Aes256CmHmacSha1_80, 4);
        exchange(
            &node,
            &caller,
            a,
            &callee,
            b,
            20,
            &mut seq,
            &mut |s| caller_tx.protect(&rtp(s)).unwrap(),
            &mut |got| assert_eq!(got, &expected_rtp(got)[..]),
        );
        let st = api.get("srtp-1").legs[0].stats.clone().unwrap();
        assert!(st.packets >= 75, "{st:?}");
        assert!(node.stop().success());
    }

    pub(super) fn srtp_to_srtp_with_other_keys_both_ways(engine: EngineKind) {
        let (_serial, topo, node, mut api) = setup("ss", engine);
        let suites =
            [Suite::AesCm128HmacSha1_80, Suite::AeadAes256Gcm, Suite::Aes256CmHmacSha1_32, Suite::AesCm128HmacSha1_32];
        let (a, b) = api.call(
            "srtp-2",
            (Some(params(suites[0], 1)), Some(params(suites[3], 4))),
            (Some(params(suites[2], 3)), Some(params(suites[1], 2))),
        );
        let (caller, callee) = endpoints(&topo);
        let mut caller_tx = libsrtp_sender(suites[0], 1);
        let mut callee_rx = libsrtp_receiver(suites[1], 2);
        let mut seq = 1;
        exchange(
            &node,
            &caller,
            a,
            &callee,
            b,
            50,
            &mut seq,
            &mut |s| caller_tx.protect(&rtp(s)).unwrap(),
            &mut |got| {
                let plain = callee_rx.unprotect(got).expect("the callee's keys");
                assert_eq!(plain, expected_rtp(&plain));
            },
        );
        let mut callee_tx = libsrtp_sender(suites[2], 3);
        let mut caller_rx = libsrtp_receiver(suites[3], 4);
        let mut seq = 60000;
        exchange(
            &node,
            &callee,
            b,
            &caller,
            a,
            50,
            &mut seq,
            &mut |s| callee_tx.protect(&rtp(s)).unwrap(),
            &mut |got| {
                assert_eq!(got.len(), 172 + 4, "32-bit tag");
                let plain = caller_rx.unprotect(got).expect("the caller's keys");
                assert_eq!(plain, expected_rtp(&plain));
            },
        );
        assert!(node.stop().success());
    }

    pub(super) fn a_tampered_packet_is_counted_reported_and_not_forwarded(engine: EngineKind) {
        let (_serial, topo, node, mut api) = setup("st", engine);
        let suite = Suite::AesCm128HmacSha1_80;
        let (a, b) = api.call("srtp-3", (Some(params(suite, 5)), None), (None, None));
        let mut events = api
            .rt
            .block_on(api.client.watch_events(pb::WatchEventsRequest { session_id: "srtp-3".into() }))
            .unwrap()
            .into_inner();
        let (caller, callee) = endpoints(&topo);
        let mut caller_tx = libsrtp_sender(suite, 5);
        let mut seq = 1;
        exchange(
            &node,
            &caller,
            a,
            &callee,
            b,
            10,
            &mut seq,
            &mut |s| caller_tx.protect(&rtp(s)).unwrap(),
            &mut |got| assert_eq!(got, &expected_rtp(got)[..]),
        );

        let mut forged = caller_tx.protect(&rtp(seq)).unwrap();
        forged[40] ^= 0x01;
        caller.send_to(&forged, a).unwrap();
        callee.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 2048];
        assert!(callee.recv_from(&mut buf).is_err(), "a tampered packet was forwarded");

        let deadline = Instant::now() + Duration::from_secs(10);
        let report = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = api
                .rt
                .block_on(async { tokio::time::timeout(left, events.message()).await })
                .expect("an SrtpAuthFailures event in time")
                .unwrap()
                .unwrap();
            if let Some(pb::event::Kind::SrtpAuthFailures(f)) = e.kind {
                break f;
            }
        };
        assert_eq!((report.leg.as_str(), report.count), ("caller", 1));
        let st = api.get("srtp-3").legs[0].stats.clone().unwrap();
        assert_eq!(st.drops.get("srtp_auth"), Some(&1), "{st:?}");
        let workers = api.node_stats().workers;
        assert_eq!(workers.iter().map(|w| w.drops.get("srtp_auth").copied().unwrap_or(0)).sum::<u64>(), 1);
        // The stream goes on.
        caller.send_to(&caller_tx.protect(&rtp(seq + 1)).unwrap(), a).unwrap();
        callee.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (n, _) = callee.recv_from(&mut buf).expect("the next genuine packet");
        assert_eq!(buf[..n], rtp(seq + 1)[..]);
        assert!(node.stop().success());
    }

    /// A static session from the config file with SRTP on the caller's leg:
    /// libsrtp's packets from the caller reach the plain callee in clear, and
    /// the callee's come back protected with the caller's other key.
    pub(super) fn a_static_session_takes_srtp_keys(engine: EngineKind) {
        let suites = [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm];
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let keys = |suite: Suite, fill: u8| {
            let ks = key_salt(suite, fill);
            let (k, s) = ks.split_at(suite.master_key_len());
            format!(
                "{{ suite = \"{}\", master_key = \"{}\", master_salt = \"{}\" }}",
                suite.sdes_name(),
                hex(k),
                hex(s)
            )
        };
        let sessions = format!(
            "[[static_session]]\nid = \"static-srtp\"\nlegs = [\n  {{ interface = \"public\", local_port = 30000, remote = \"{CALLER}\", srtp_inbound = {}, srtp_outbound = {} }},\n  {{ interface = \"private\", local_port = 30000, remote = \"{CALLEE}\" }},\n]\n[dataplane]\nsrtp_engine = \"{engine}\"\n",
            keys(suites[0], 7),
            keys(suites[1], 8),
        );
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let topo = Topology::new(&format!("sk{}", &engine.name()[..1]), None);
        let node = MediaFwd::start(&topo.config(None, &sessions));
        let a = p("198.18.0.1:30000");
        let b = p("198.19.0.1:30000");
        let (caller, callee) = endpoints(&topo);
        let mut caller_tx = libsrtp_sender(suites[0], 7);
        let mut caller_rx = libsrtp_receiver(suites[1], 8);
        let mut seq = 1;
        exchange(
            &node,
            &caller,
            a,
            &callee,
            b,
            30,
            &mut seq,
            &mut |s| caller_tx.protect(&rtp(s)).unwrap(),
            &mut |got| assert_eq!(got, &expected_rtp(got)[..]),
        );
        let mut seq = 500;
        exchange(&node, &callee, b, &caller, a, 30, &mut seq, &mut |s| rtp(s), &mut |got| {
            let plain = caller_rx.unprotect(got).expect("the caller's outbound keys");
            assert_eq!(plain, expected_rtp(&plain));
        });
        assert!(node.stop().success());
    }
}

#[test]
fn a_node_killed_and_restarted_from_redis_goes_on_with_the_same_keys_and_streams() {
    killed_and_restarted("sr", (100, 7000));
}

/// Both streams wrap their sequence numbers before the node is killed: the
/// restarted node resumes them at rollover counter 1 from the checkpoints
/// in the store, or libsrtp and mediafwd would fail each other's packets.
#[test]
fn a_node_killed_after_the_streams_wrapped_resumes_their_rollover_counters() {
    killed_and_restarted("sw", (65_520, 65_520));
}

/// The SRTCP index of an SRTCP packet protected with an AEAD suite and no
/// MKI: the last word, less the E flag (RFC 7714 §9.1).
fn srtcp_index(packet: &[u8]) -> u32 {
    u32::from_be_bytes(packet[packet.len() - 4..].try_into().unwrap()) & 0x7fff_ffff
}

/// Waits for the session record in `redis` to satisfy `ok`; returns it.
fn stored_record(redis: &redis_server::RedisServer, key: &str, node: &MediaFwd, ok: &dyn Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = redis.cli(&["GET", key]).unwrap_or_default();
        if ok(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "no record as expected in the store:\n{r}\n{}", node.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The SRTCP checkpoint of the callee leg (what mediafwd protects towards the caller).
fn callee_srtcp_checkpoint(record: &str) -> Option<u64> {
    let at = record.rfind(r#""srtcp_checkpoint":"#)? + r#""srtcp_checkpoint":"#.len();
    record[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// An SRTP-to-RTP session, its keys sealed in the store, killed with
/// SIGKILL and restarted twice: the same libsrtp endpoints go on with RTP
/// both ways and with the SRTCP mediafwd protects towards the caller. That
/// SRTCP never uses an index twice under the same keys (its keystream would
/// repeat): libsrtp's replay check counts none, and the indexes the caller
/// sees only rise, across both restarts, the second one after a restored
/// node that never checkpointed on its own.
fn killed_and_restarted(tag: &str, (mut seq, mut back): (u16, u16)) {
    let wraps = seq > 65_000;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let redis = redis_server::RedisServer::start();
    let topo = Topology::new(tag, None);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, "0f".repeat(32)).unwrap();
    let group = format!("srtp{}", std::process::id());
    let ha = format!("[ha]\nredis_url = \"{}\"\ngroup = \"{group}\"\nkey_file = {:?}\n", redis.url(), key_file);
    let config = topo.config(None, &ha);
    let node = MediaFwd::start(&config);
    let mut api = Api::connect(&node);
    let (in_suite, out_suite) = (Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm);
    let (a, b) = api.call("srtp-ha", (Some(params(in_suite, 1)), Some(params(out_suite, 2))), (None, None));
    let (caller, callee) = endpoints(&topo);
    let (caller_rtcp, callee_rtcp) =
        (topo.caller.udp_socket(p("198.18.0.2:5001")), topo.callee.udp_socket(p("198.19.0.2:6001")));
    let mut caller_tx = libsrtp_sender(in_suite, 1);
    let mut caller_rx = libsrtp_receiver(out_suite, 2);
    let (mut n, mut srtcp_failures, mut indexes) = (0u16, 0, Vec::new());
    let mut run = |node: &MediaFwd, seq: &mut u16, back: &mut u16, tx: &mut Session, rx: &mut Session| {
        exchange(node, &caller, a, &callee, b, 30, seq, &mut |s| tx.protect(&rtp(s)).unwrap(), &mut |got| {
            assert_eq!(got, &expected_rtp(got)[..])
        });
        exchange(node, &callee, b, &caller, a, 30, back, &mut |s| rtp(s), &mut |got| {
            let plain = rx.unprotect(got).expect("libsrtp unprotects what mediafwd protected");
            assert_eq!(plain, expected_rtp(&plain));
        });
        // Plain RTCP from the callee, SRTCP to the caller.
        exchange(
            node,
            &callee_rtcp,
            rtcp_of(b),
            &caller_rtcp,
            rtcp_of(a),
            10,
            &mut n,
            &mut |i| rtcp(i as u8),
            &mut |got| {
                indexes.push(srtcp_index(got));
                match rx.unprotect_rtcp(got) {
                    Ok(plain) => assert_eq!(plain, rtcp(plain[8])),
                    Err(_) => srtcp_failures += 1,
                }
            },
        );
    };
    run(&node, &mut seq, &mut back, &mut caller_tx, &mut caller_rx);

    // The keys are in the store, sealed: not in clear. After a wrap, both
    // legs' RTP streams are checkpointed (at rollover counter 1); the SRTCP
    // towards the caller is, from its first packet (and a record written for
    // it carries the RTP streams as they are).
    let record = format!("mediafwd:{group}:session:srtp-ha");
    let checkpoints = if wraps { 2 } else { 0 };
    let stored = stored_record(&redis, &record, &node, &|r| {
        r.contains("sealed")
            && r.matches(r#""rtp_checkpoint":{"#).count() >= checkpoints
            && callee_srtcp_checkpoint(r).is_some_and(|c| c > 0)
    });
    let hex: String = key_salt(in_suite, 1).iter().map(|b| format!("{b:02x}")).collect();
    assert!(!stored.contains(&hex) && !stored.contains("clear"), "{stored}");

    let first = callee_srtcp_checkpoint(&stored).unwrap();
    let mut node = node;
    for restart in 0..2 {
        node.kill();
        node = MediaFwd::start(&config);
        if restart == 0 {
            // Before any packet, the restored node writes where its SRTCP
            // goes on from: were it killed now, the next one would go on
            // past that, not past the first checkpoint again.
            stored_record(&redis, &record, &node, &|r| {
                callee_srtcp_checkpoint(r).is_some_and(|c| c >= first + (1 << 24))
            });
        }
        let mut api = Api::connect(&node);
        let s = api.get("srtp-ha");
        assert_eq!((sock(&s.legs[0].local), sock(&s.legs[1].local)), (a, b));
        assert_eq!(
            (s.legs[0].srtp_inbound_suite.as_str(), s.legs[0].srtp_outbound_suite.as_str()),
            ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM")
        );
        // The endpoints go on as if nothing happened: same keys, same streams.
        run(&node, &mut seq, &mut back, &mut caller_tx, &mut caller_rx);
        let auth_failures: u64 = api
            .node_stats()
            .workers
            .iter()
            .map(|w| w.drops.iter().filter(|(r, _)| r.starts_with("srtp")).map(|(_, n)| *n).sum::<u64>())
            .sum();
        assert_eq!(auth_failures, 0);
    }
    assert_eq!(srtcp_failures, 0, "libsrtp refused SRTCP from mediafwd (indexes {indexes:?})");
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "an SRTCP index protected twice: {indexes:?}");
    assert!(node.stop().success());
}
