//! The ng protocol end to end: the real binary with DPDK ports on veths into
//! two namespaces, driven over ng as Kamailio's rtpengine module drives it,
//! with kernel sockets as caller and callee. The call is a session like any
//! other: the gRPC API, mediafwdctl and the event stream see it.

#![allow(clippy::result_large_err)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ng_client::{get, int, l, s, show, text, NgClient};
use common::node::MediaFwd;
use common::topology::{rtp, stream, Topology, SERIAL};
use mediafwd_controlplane::ng::sdp::Sdp;
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;

const NG: &str = "[ng]\nlisten = \"127.0.0.1:0\"\n";

fn sdp(owner: &str, addr: &str, port: u16, proto: &str, extra: &str) -> String {
    format!(
        "v=0\r\no={owner} 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n\
         m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{extra}a=sendrecv\r\n"
    )
}

fn endpoint_of(sdp_text: &str) -> SocketAddr {
    let sdp = Sdp::parse(sdp_text).unwrap();
    sdp.media[0].rtp_endpoint(&sdp).unwrap()
}

fn offer(call: &str, from: &str, body: &str) -> Vec<(&'static str, mediafwd_controlplane::ng::bencode::Value)> {
    vec![
        ("command", s("offer")),
        ("call-id", s(call)),
        ("from-tag", s(from)),
        ("sdp", s(body)),
        ("ICE", s("remove")),
        ("direction", l(&["public", "private"])),
        ("replace", l(&["origin", "session-connection"])),
        ("received-from", l(&["IP4", "127.0.0.1"])),
    ]
}

fn answer(
    call: &str,
    from: &str,
    to: &str,
    body: &str,
) -> Vec<(&'static str, mediafwd_controlplane::ng::bencode::Value)> {
    vec![
        ("command", s("answer")),
        ("call-id", s(call)),
        ("from-tag", s(from)),
        ("to-tag", s(to)),
        ("sdp", s(body)),
        ("replace", l(&["origin", "session-connection"])),
    ]
}

fn ctl(api: SocketAddr, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mediafwdctl"))
        .args(["--server", &format!("http://{api}")])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "mediafwdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_call_over_ng_is_a_session_like_any_other() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("ng", None);
    let node = MediaFwd::start(&topo.config(None, NG));
    let mut ng = NgClient::new(node.ng_addr());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut grpc = rt.block_on(MediaRelayClient::connect(format!("http://{}", node.api_addr()))).unwrap();
    let mut events =
        rt.block_on(grpc.watch_events(pb::WatchEventsRequest { session_id: "ng-call-1".into() })).unwrap().into_inner();

    assert_eq!(text(&ng.ask(&[("command", s("ping"))]), "result"), "pong");

    // The caller's INVITE: its SDP, rewritten towards the callee.
    let d = ng.ask(&offer("ng-call-1", "tag-a", &sdp("alice", "198.18.0.2", 5000, "RTP/AVP", "")));
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    let to_callee = endpoint_of(text(&d, "sdp"));
    assert_eq!(to_callee.ip().to_string(), "198.19.0.1");
    // The callee's 200 OK.
    let d = ng.ask(&answer("ng-call-1", "tag-a", "tag-b", &sdp("bob", "198.19.0.2", 6000, "RTP/AVP", "")));
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    let to_caller = endpoint_of(text(&d, "sdp"));
    assert_eq!(to_caller.ip().to_string(), "198.18.0.1");
    assert!(!text(&d, "sdp").contains("198.19"), "{}", show(&d));

    // Media both ways through mediafwd.
    let caller = topo.caller.udp_socket("198.18.0.2:5000".parse().unwrap());
    let callee = topo.callee.udp_socket("198.19.0.2:6000".parse().unwrap());
    stream(&node, &caller, to_caller, &callee, to_callee, 50);
    stream(&node, &callee, to_callee, &caller, to_caller, 50);

    // query: rtpengine's totals.
    let d = ng.ask(&[("command", s("query")), ("call-id", s("ng-call-1"))]);
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    assert!(int(&d, "totals.RTP.packets") >= 100, "{}", show(&d));
    assert!(int(&d, "totals.RTP.bytes") >= 100 * 172, "{}", show(&d));
    assert_eq!(text(&d, "tags.tag-a.in dialogue with"), "tag-b");
    assert_eq!(int(&d, "tags.tag-b.medias.0.streams.0.local port"), i64::from(to_callee.port()));

    // The same session through gRPC and mediafwdctl, legs named by the SIP tags.
    let session =
        rt.block_on(grpc.get_session(pb::GetSessionRequest { session_id: "ng-call-1".into() })).unwrap().into_inner();
    assert_eq!(session.state, pb::SessionState::Active as i32);
    assert_eq!((session.legs[0].label.as_str(), session.legs[1].label.as_str()), ("tag-a", "tag-b"));
    assert_eq!(session.legs[0].interface, "public");
    let shown = ctl(node.api_addr(), &["sessions", "show", "ng-call-1"]);
    assert!(shown.contains("tag-a") && shown.contains("198.19.0.2:6000"), "{shown}");
    let d = ng.ask(&[("command", s("list"))]);
    assert_eq!(get(&d, "calls"), &l(&["ng-call-1"]));
    let d = ng.ask(&[("command", s("statistics"))]);
    assert_eq!(int(&d, "statistics.currentstatistics.sessionstotal"), 1);
    assert!(int(&d, "statistics.totalstatistics.relayedpackets") >= 100, "{}", show(&d));

    // BYE: delete returns the final totals, the event stream tells the end.
    let d = ng.ask(&[("command", s("delete")), ("call-id", s("ng-call-1")), ("from-tag", s("tag-b"))]);
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    assert!(int(&d, "totals.RTP.packets") >= 100, "{}", show(&d));
    let ended = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let ev = events.message().await.unwrap().unwrap();
                if let Some(pb::event::Kind::SessionEnded(e)) = ev.kind {
                    return e;
                }
            }
        })
        .await
        .expect("a session-ended event")
    });
    assert_eq!(ended.reason, pb::EndReason::Deleted as i32);
    let err = rt.block_on(grpc.get_session(pb::GetSessionRequest { session_id: "ng-call-1".into() })).unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let mut buf = [0u8; 2048];
    callee.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    caller.send_to(&rtp(9), to_caller).unwrap();
    assert!(callee.recv_from(&mut buf).is_err(), "media after delete");

    // Draining: a new call is refused as Kamailio understands it (it tries
    // another node); rtpengine's load-limit answer for clients that support it.
    rt.block_on(grpc.drain(pb::DrainRequest { reason: "test".into(), exit_when_empty: false })).unwrap();
    let d = ng.ask(&offer("ng-call-2", "tag-c", &sdp("carol", "198.18.0.2", 5002, "RTP/AVP", "")));
    assert_eq!((text(&d, "result"), text(&d, "error-reason")), ("error", "Parallel session limit reached"));
    let mut o = offer("ng-call-2", "tag-c", &sdp("carol", "198.18.0.2", 5002, "RTP/AVP", ""));
    o.push(("supports", l(&["load limit"])));
    assert_eq!(text(&ng.ask(&o), "result"), "load limit");
    check!(node, node.log_contains("ng listening"), "no ng log line");
    drop(topo);
}

/// A call may ring longer than the media timeout: the offer keeps it.
#[test]
fn a_call_rings_longer_than_the_media_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("nr", None);
    let node = MediaFwd::start(&topo.config(None, &format!("[sessions]\nmedia_timeout = 2\n{NG}")));
    let mut ng = NgClient::new(node.ng_addr());
    let d = ng.ask(&offer("ringing", "tag-a", &sdp("alice", "198.18.0.2", 5000, "RTP/AVP", "")));
    let to_callee = endpoint_of(text(&d, "sdp"));
    std::thread::sleep(Duration::from_millis(3500));
    let d = ng.ask(&answer("ringing", "tag-a", "tag-b", &sdp("bob", "198.19.0.2", 6000, "RTP/AVP", "")));
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    let to_caller = endpoint_of(text(&d, "sdp"));
    let caller = topo.caller.udp_socket("198.18.0.2:5000".parse().unwrap());
    let callee = topo.callee.udp_socket("198.19.0.2:6000".parse().unwrap());
    stream(&node, &caller, to_caller, &callee, to_callee, 20);
    stream(&node, &callee, to_callee, &caller, to_caller, 20);
    // Answered and silent, it ends with the media timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    while text(&ng.ask(&[("command", s("query")), ("call-id", s("ringing"))]), "result") == "ok" {
        check!(node, Instant::now() < deadline, "an idle answered call did not time out");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SDES on the caller's side, plain RTP on the callee's: mediafwd decrypts
/// what the caller sends with the caller's key and encrypts what it sends the
/// caller with its own.
#[test]
fn sdes_caller_to_plain_callee_over_ng() {
    use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
    use mediafwd_dataplane::srtp::{Context, StreamState, Suite};

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::new("ns", None);
    let node = MediaFwd::start(&topo.config(None, NG));
    let mut ng = NgClient::new(node.ng_addr());
    let caller_key = mediafwd_controlplane::ng::sdes::generate(1, Suite::AesCm128HmacSha1_80);
    let body = sdp("alice", "198.18.0.2", 5000, "RTP/SAVP", &format!("{caller_key}\r\n"));
    let mut o = offer("ng-srtp", "tag-a", &body);
    o.push(("transport-protocol", s("RTP/AVP")));
    let d = ng.ask(&o);
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    assert!(text(&d, "sdp").contains("RTP/AVP") && !text(&d, "sdp").contains("crypto"));
    let to_callee = endpoint_of(text(&d, "sdp"));
    let d = ng.ask(&answer("ng-srtp", "tag-a", "tag-b", &sdp("bob", "198.19.0.2", 6000, "RTP/AVP", "")));
    assert_eq!(text(&d, "result"), "ok", "{}", show(&d));
    let back = Sdp::parse(text(&d, "sdp")).unwrap();
    let ours = CryptoAttribute::parse(back.media[0].crypto_lines().next().expect("mediafwd's key")).unwrap();
    let to_caller = back.media[0].rtp_endpoint(&back).unwrap();

    let caller = topo.caller.udp_socket("198.18.0.2:5000".parse().unwrap());
    let callee = topo.callee.udp_socket("198.19.0.2:6000".parse().unwrap());
    let tx = Context::new(&caller_key.to_policy()).unwrap();
    let rx = Context::new(&ours.to_policy()).unwrap();
    let (mut tx_stream, mut rx_stream) = (StreamState::new(), StreamState::new());
    callee.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    caller.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0u16;
    // Caller -> callee: SRTP in, RTP out.
    loop {
        let mut pkt = [0u8; 2048];
        let clear = rtp(seq);
        pkt[..clear.len()].copy_from_slice(&clear);
        let n = tx.protect_rtp(&mut tx_stream, &mut pkt, clear.len()).unwrap();
        caller.send_to(&pkt[..n], to_caller).unwrap();
        if let Ok((n, _)) = callee.recv_from(&mut buf) {
            assert_eq!(&buf[..n], &clear[..], "decrypted by mediafwd");
            break;
        }
        seq += 1;
        check!(node, Instant::now() < deadline, "no SRTP relayed to the callee");
    }
    // Callee -> caller: RTP in, SRTP out under mediafwd's key.
    loop {
        callee.send_to(&rtp(seq), to_callee).unwrap();
        if let Ok((n, _)) = caller.recv_from(&mut buf) {
            let n = rx.unprotect_rtp(&mut rx_stream, &mut buf, n).expect("authenticated with mediafwd's key");
            assert_eq!(&buf[..n], &rtp(seq)[..]);
            break;
        }
        seq += 1;
        check!(node, Instant::now() < deadline, "no SRTP relayed to the caller");
    }
}
