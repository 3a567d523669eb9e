//! The ng protocol, request by reply, over a real UDP (and TCP) listener:
//! bencode edge cases, retransmissions served from the cookie cache, every
//! command, malformed requests answered with errors, arbitrary input never
//! crashing. Behind the listener runs the real ng engine and the real control
//! core over a real dataplane, its workers on ring ports (`common/ng_node.rs`):
//! offered SRTP keys are checked by sending media sealed with them, the
//! statistics by counting what was relayed.
//!
//! The node is shared by the tests of this process: each test has its own
//! Call-IDs and media ports, and a test that drains runs in a process of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use mediafwd_controlplane::control::{self, CreateSession, Request};
use mediafwd_controlplane::ng::bencode::{self, Dict, Value};
use mediafwd_controlplane::ng::sdp::Sdp;
use mediafwd_controlplane::ng::{self, Engine};
use mediafwd_controlplane::session::LegRequest;
use mediafwd_dataplane::craft::rtp_packet;
use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::{Context, Policy, StreamState, Suite};
use mediafwd_dataplane::wire::rtp;
use proptest::prelude::*;

#[path = "common/ng_node.rs"]
mod ng_node;

use ng_node::{node, Datagram};

struct Harness {
    _rt: tokio::runtime::Runtime,
    sock: UdpSocket,
    ng: ng::NgListening,
    seq: u32,
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let n = node();
        let ng = ng::serve(&n.config, rt.handle(), n.control.clone(), &n.events).unwrap().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Harness { _rt: rt, sock, ng, seq: 0 }
    }

    /// Sends raw bytes; the reply, if one comes within `wait`.
    fn raw(&self, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        self.sock.send_to(bytes, self.ng.udp).unwrap();
        let mut buf = vec![0u8; 65536];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// A request with a fresh cookie; the reply dictionary.
    fn ask(&mut self, req: &[(&str, Value)]) -> Dict {
        self.seq += 1;
        let cookie = format!("{}_{}", std::process::id(), self.seq);
        self.ask_with(&cookie, req)
    }

    fn ask_with(&self, cookie: &str, req: &[(&str, Value)]) -> Dict {
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend(dict(req).encode());
        let reply = self.raw(&msg, Duration::from_secs(3)).expect("a reply");
        let (c, body) = reply.split_at(cookie.len() + 1);
        assert_eq!(c, format!("{cookie} ").as_bytes(), "the cookie is echoed");
        match bencode::decode(body).expect("a bencoded reply") {
            Value::Dict(d) => d,
            other => panic!("not a dictionary: {other:?}"),
        }
    }

    fn session(&self, id: &str) -> Option<control::SessionView> {
        node().session(id)
    }
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn l(items: &[&str]) -> Value {
    Value::List(items.iter().map(Value::str).collect())
}

fn dict(pairs: &[(&str, Value)]) -> Value {
    Value::Dict(pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect())
}

fn get<'a>(d: &'a Dict, path: &str) -> &'a Value {
    let mut v = d.get(path.split('.').next().unwrap().as_bytes()).unwrap_or_else(|| panic!("no {path} in {d:?}"));
    for k in path.split('.').skip(1) {
        v = match v {
            Value::Dict(d) => d.get(k.as_bytes()).unwrap_or_else(|| panic!("no {k} of {path}")),
            Value::List(l) => &l[k.parse::<usize>().unwrap()],
            _ => panic!("{path}: {k} of a scalar"),
        };
    }
    v
}

fn text<'a>(d: &'a Dict, path: &str) -> &'a str {
    get(d, path).as_str().unwrap_or_else(|| panic!("{path} is not text"))
}

fn int(d: &Dict, path: &str) -> i64 {
    get(d, path).as_int().unwrap_or_else(|| panic!("{path} is not an integer"))
}

fn result(d: &Dict) -> &str {
    text(d, "result")
}

fn caller_sdp(port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=alice 100 100 IN IP4 198.18.0.2\r\ns=talk\r\nc=IN IP4 198.18.0.2\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n{extra}a=sendrecv\r\n"
    )
}

fn callee_sdp(port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=bob 200 200 IN IP4 198.19.0.2\r\ns=talk\r\nc=IN IP4 198.19.0.2\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{extra}a=sendrecv\r\n"
    )
}

/// What Kamailio 5.6 sends for `rtpengine_offer("replace-origin
/// replace-session-connection ICE=remove direction=public direction=private")`.
fn kamailio_offer(call: &str, from: &str, sdp: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("sdp", s(sdp)),
        ("ICE", s("remove")),
        ("direction", l(&["public", "private"])),
        ("replace", l(&["origin", "session-connection"])),
        ("call-id", s(call)),
        ("received-from", l(&["IP4", "198.18.100.2"])),
        ("from-tag", s(from)),
        ("command", s("offer")),
    ]
}

fn kamailio_answer(call: &str, from: &str, to: &str, sdp: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("sdp", s(sdp)),
        ("call-id", s(call)),
        ("received-from", l(&["IP4", "198.19.100.2"])),
        ("from-tag", s(from)),
        ("to-tag", s(to)),
        ("command", s("answer")),
    ]
}

fn media(sdp_text: &str, index: usize) -> (SocketAddr, Sdp) {
    let sdp = Sdp::parse(sdp_text).unwrap();
    let ep = sdp.media[index].rtp_endpoint(&sdp).unwrap();
    (ep, sdp)
}

#[test]
fn ping_pong_with_the_cookie_echoed() {
    let h = Harness::new();
    let reply = h.raw(b"5323_1 d7:command4:pinge", Duration::from_secs(3)).unwrap();
    assert_eq!(reply, b"5323_1 d6:result4:ponge");
    // Key spelling does not matter.
    let d = h.ask_with("x", &[("COMMAND", s("ping"))]);
    assert_eq!(result(&d), "pong");
}

#[test]
fn malformed_messages_are_answered_with_errors_and_never_crash() {
    let h = Harness::new();
    let cases: &[(&[u8], &str)] = &[
        (b"1 d7:command4:ping", "truncated"),
        (b"2 li1ee", "not a bencoded dictionary"),
        (b"3 d7:commandi1ee", "command"),
        (b"4 d1:xi1e1:xi2ee", "duplicate"),
        (b"5 d7:command4:pinge trailing", "after the value"),
        (b"6 de", "No command"),
        (b"7 d7:command6:danceee", "Unrecognized command"),
        (b"8 d7:command5:offere", "No call-id"),
        (b"9 d7:command5:offer7:call-id1:ce", "No from-tag"),
        (b"10 d7:command5:offer7:call-id1:c8:from-tag1:fe", "No SDP body"),
        (b"11 d7:command5:offer7:call-id1:c8:from-tag1:f3:sdp5:helloe", "SDP line 1"),
        (b"12 d7:command6:answer7:call-id1:c8:from-tag1:f6:to-tag1:t3:sdp4:v=0 e", "Unknown call-ID"),
        (b"13 d7:command5:query7:call-id7:nobody e", "Unknown call-ID"),
        (b"14 d7:command4:list5:limiti0ee", "limit"),
        (b"15 d7:command4:ping7:call-idd1:ai1eee", "call id"),
        (b"16 i42e", "not a bencoded dictionary"),
    ];
    for (msg, why) in cases {
        let reply = h.raw(msg, Duration::from_secs(3)).unwrap_or_else(|| panic!("no reply to {msg:?}"));
        let cookie_len = msg.iter().position(|b| *b == b' ').unwrap() + 1;
        assert_eq!(&reply[..cookie_len], &msg[..cookie_len]);
        let d = bencode::decode(&reply[cookie_len..]).unwrap();
        let d = d.as_dict().unwrap();
        assert_eq!(result(d), "error", "{msg:?}");
        assert!(text(d, "error-reason").contains(why), "{msg:?}: {:?}", text(d, "error-reason"));
        assert_eq!(d.len(), 2, "an error reply has result and error-reason only: {d:?}");
    }
    // Without a cookie nothing can be answered.
    assert_eq!(h.raw(b"d7:command4:pinge", Duration::from_millis(300)), None);
    assert_eq!(h.raw(b"", Duration::from_millis(300)), None);
    // And the listener still serves.
    assert_eq!(h.raw(b"a d7:command4:pinge", Duration::from_secs(3)).unwrap(), b"a d6:result4:ponge");
}

#[test]
fn offer_and_answer_as_kamailio_sends_them() {
    let mut h = Harness::new();
    let offer = caller_sdp(16000, "a=ice-ufrag:x\r\na=candidate:1 1 UDP 1 198.18.0.2 16000 typ host\r\n");
    let d = h.ask(&kamailio_offer("call-1@uac", "tag-a", &offer));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert!(!d.contains_key(&b"warning"[..]), "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    // Towards the callee: mediafwd's private side, everywhere.
    let (ep, sdp) = media(out, 0);
    assert_eq!(ep.ip().to_string(), "198.19.0.1");
    assert!((40000..41000).contains(&ep.port()) && ep.port() % 2 == 0);
    assert_eq!(sdp.media[0].rtcp().unwrap(), Some((ep.port() + 1, None)));
    assert!(out.contains("o=alice 100 100 IN IP4 198.19.0.1\r\n"), "{out}");
    assert!(out.contains("c=IN IP4 198.19.0.1\r\n"));
    assert!(!out.contains("198.18.0.2") && !out.contains("ice-ufrag") && !out.contains("candidate"));
    let codecs = format!("m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n", ep.port());
    assert!(out.contains(&codecs), "codecs untouched: {out}");
    let session = h.session("call-1@uac").expect("the session is the Call-ID");
    assert_eq!(session.legs[0].label, "tag-a");
    assert_eq!(session.legs[0].interface, "public");
    assert_eq!(session.legs[0].remote, Some("198.18.0.2:16000".parse().unwrap()));
    assert_eq!(session.legs[1].interface, "private");
    assert_eq!(session.legs[1].local, ep);

    let d = h.ask(&kamailio_answer("call-1@uac", "tag-a", "tag-b", &callee_sdp(26000, "")));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    let (ep, _) = media(out, 0);
    assert_eq!(ep, session.legs[0].local, "towards the caller: mediafwd's public side");
    assert!(!out.lines().any(|l| l.starts_with("c=") && l.contains("198.19")), "{out}");
    let session = h.session("call-1@uac").unwrap();
    assert_eq!(session.legs[1].label, "tag-b", "the leg is named by the to-tag once answered");
    assert_eq!(session.legs[1].remote, Some("198.19.0.2:26000".parse().unwrap()));
    assert_eq!(session.legs[1].remote_rtcp, Some("198.19.0.2:26001".parse().unwrap()));

    // A re-INVITE from the callee: its SDP moves its leg, the caller sees the same ports.
    let mut reoffer = kamailio_offer("call-1@uac", "tag-b", &callee_sdp(26100, ""));
    reoffer.push(("to-tag", s("tag-a")));
    let d = h.ask(&reoffer);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert!(text(&d, "warning").contains("direction ignored"), "{}", Value::Dict(d.clone()));
    let (ep, _) = media(text(&d, "sdp"), 0);
    assert_eq!(ep, session.legs[0].local);
    let moved = h.session("call-1@uac").unwrap();
    assert_eq!(moved.legs[1].remote, Some("198.19.0.2:26100".parse().unwrap()));
    // A session made anew would have other ports: the old ones wait out their quarantine.
    assert_eq!(moved.legs[1].local, session.legs[1].local, "updated in place");
    let d = h.ask(&kamailio_answer("call-1@uac", "tag-b", "tag-a", &caller_sdp(16002, "")));
    assert_eq!(result(&d), "ok");
    assert_eq!(media(text(&d, "sdp"), 0).0, session.legs[1].local);
    let moved = h.session("call-1@uac").unwrap();
    assert_eq!(moved.legs[0].remote, Some("198.18.0.2:16002".parse().unwrap()));
    assert_eq!(moved.legs.each_ref().map(|l| l.local), session.legs.each_ref().map(|l| l.local));

    // Hold: a zero address stops media towards that side.
    let d = h.ask(&kamailio_offer(
        "call-1@uac",
        "tag-a",
        &caller_sdp(16002, "").replace("c=IN IP4 198.18.0.2", "c=IN IP4 0.0.0.0"),
    ));
    assert_eq!(result(&d), "ok");
    assert!(h.session("call-1@uac").unwrap().legs[0].hold);
    h.ask(&kamailio_offer("call-1@uac", "tag-a", &caller_sdp(16002, "")));
    assert!(!h.session("call-1@uac").unwrap().legs[0].hold);

    // rtpengine_delete(): from-tag only (here the callee hangs up).
    let d = h.ask(&[("command", s("delete")), ("call-id", s("call-1@uac")), ("from-tag", s("tag-b"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert!(h.session("call-1@uac").is_none());
}

#[test]
fn a_retransmission_gets_the_same_reply_without_running_twice() {
    let mut h = Harness::new();
    let offer = kamailio_offer("rtx", "a", &caller_sdp(16000, ""));
    let mut msg = b"777_1 ".to_vec();
    msg.extend(dict(&offer).encode());
    let first = h.raw(&msg, Duration::from_secs(3)).unwrap();
    let again = h.raw(&msg, Duration::from_secs(3)).unwrap();
    assert_eq!(first, again);
    let d = h.ask(&[("command", s("statistics"))]);
    assert_eq!(int(&d, "statistics.controlstatistics.totaloffercount"), 1, "the engine ran the offer once");
    // A delete retransmitted after it ran: the same ok, not "not found".
    let del = [("command", s("delete")), ("call-id", s("rtx")), ("from-tag", s("a"))];
    let d1 = h.ask_with("778_1", &del);
    let d2 = h.ask_with("778_1", &del);
    assert_eq!(d1, d2);
    assert!(!d1.contains_key(&b"warning"[..]));
    // A new delete (new cookie) finds nothing.
    let d3 = h.ask(&del);
    assert_eq!(result(&d3), "ok");
    assert!(text(&d3, "warning").contains("not found"));
    let d4 = h.ask(&[("command", s("delete")), ("call-id", s("rtx")), ("flags", l(&["fatal"]))]);
    assert_eq!(result(&d4), "error");
}

#[test]
fn rtcp_mux_offered_and_accepted() {
    let mut h = Harness::new();
    let d = h.ask(&kamailio_offer("mux", "a", &caller_sdp(16000, "a=rtcp-mux\r\n")));
    let out = text(&d, "sdp");
    assert!(out.contains("a=rtcp-mux\r\n"), "{out}");
    let (ep, sdp) = media(out, 0);
    assert_eq!(sdp.media[0].rtcp().unwrap(), Some((ep.port() + 1, None)), "RTCP fallback port offered");
    let d = h.ask(&kamailio_answer("mux", "a", "b", &callee_sdp(26000, "a=rtcp-mux\r\n")));
    let out = text(&d, "sdp");
    let (ep, sdp) = media(out, 0);
    assert!(sdp.media[0].rtcp_mux());
    assert_eq!(sdp.media[0].rtcp().unwrap(), Some((ep.port(), None)));
    let session = h.session("mux").unwrap();
    assert!(session.legs[0].rtcp_mux && session.legs[1].rtcp_mux);

    // The callee does not mux: neither side does.
    h.ask(&kamailio_offer("nomux", "a", &caller_sdp(16000, "a=rtcp-mux\r\n")));
    let d = h.ask(&kamailio_answer("nomux", "a", "b", &callee_sdp(26000, "")));
    let (ep, sdp) = media(text(&d, "sdp"), 0);
    assert!(!sdp.media[0].rtcp_mux());
    assert_eq!(sdp.media[0].rtcp().unwrap(), Some((ep.port() + 1, None)));
    let session = h.session("nomux").unwrap();
    assert!(!session.legs[0].rtcp_mux && !session.legs[1].rtcp_mux);

    // rtcp-mux demux: the caller keeps muxing, the callee is offered none.
    let mut offer = kamailio_offer("demux", "a", &caller_sdp(16000, "a=rtcp-mux\r\n"));
    offer.push(("rtcp-mux", l(&["demux"])));
    let d = h.ask(&offer);
    assert!(!text(&d, "sdp").contains("rtcp-mux"));
    let d = h.ask(&kamailio_answer("demux", "a", "b", &callee_sdp(26000, "")));
    assert!(text(&d, "sdp").contains("a=rtcp-mux"));
    let session = h.session("demux").unwrap();
    assert!(session.legs[0].rtcp_mux && !session.legs[1].rtcp_mux);
}

fn crypto_line(tag: u32, suite: Suite) -> String {
    mediafwd_controlplane::ng::sdes::generate(tag, suite).to_string()
}

fn addr(a: &str) -> SocketAddr {
    a.parse().unwrap()
}

/// An RTP packet of `ssrc` with sequence number `seq` and 160 bytes of `fill`.
fn rtp(ssrc: u32, seq: u16, fill: u8) -> Vec<u8> {
    let mut b = vec![0u8; 172];
    let n = rtp_packet(&mut b, ssrc, seq, u32::from(seq) * 160, 0, 160, fill);
    b.truncate(n);
    b
}

/// Whether `payload` is plain RTP of `ssrc` carrying 160 bytes of `fill`.
fn is_rtp(payload: &[u8], ssrc: u32, fill: u8) -> bool {
    rtp::Packet::new_checked(payload).is_ok_and(|p| p.ssrc() == ssrc && p.payload() == [fill; 160])
}

/// One direction of SRTP keyed as an SDES line keys it: what an endpoint
/// seals with or opens with.
struct Srtp {
    context: Context,
    stream: StreamState,
}

impl Srtp {
    fn new(a: &CryptoAttribute) -> Srtp {
        Srtp { context: Context::new(&Policy::new(a.suite, a.keys[0].clone())).unwrap(), stream: StreamState::new() }
    }

    fn seal(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut b = packet.to_vec();
        b.resize(packet.len() + 32, 0);
        let n = self.context.protect_rtp(&mut self.stream, &mut b, packet.len()).unwrap();
        b.truncate(n);
        b
    }

    fn open(&mut self, packet: &[u8]) -> Option<Vec<u8>> {
        let mut b = packet.to_vec();
        let n = self.context.unprotect_rtp(&mut self.stream, &mut b, packet.len()).ok()?;
        b.truncate(n);
        Some(b)
    }
}

/// Relays RTP of `ssrc` from `from` through the node's `to` until it reaches
/// `at`; `seal` turns what is sent into what goes on the wire.
fn relay(
    from: SocketAddr,
    to: SocketAddr,
    at: SocketAddr,
    ssrc: u32,
    mut seal: impl FnMut(&[u8]) -> Vec<u8>,
) -> Datagram {
    let fill = ssrc as u8;
    node().relay_first(from, to, at, |i| seal(&rtp(ssrc, 1000 + i, fill))).0
}

#[test]
fn sdes_savp_caller_to_avp_callee() {
    let mut h = Harness::new();
    let (caller, callee) = (addr("198.18.0.2:16300"), addr("198.19.0.2:26300"));
    let theirs = crypto_line(1, Suite::AesCm128HmacSha1_80);
    let offer = caller_sdp(16300, &format!("{theirs}\r\n{}\r\n", crypto_line(2, Suite::AesCm128HmacSha1_32)))
        .replace("RTP/AVP", "RTP/SAVP");
    let mut req = kamailio_offer("srtp-1", "a", &offer);
    req.push(("transport-protocol", s("RTP/AVP")));
    let d = h.ask(&req);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    let (b_local, _) = media(out, 0);
    assert!(out.contains(&format!("m=audio {} RTP/AVP 0 101", b_local.port())), "{out}");
    assert!(!out.contains("a=crypto"), "{out}");
    let d = h.ask(&kamailio_answer("srtp-1", "a", "b", &callee_sdp(26300, "")));
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/SAVP 0"), "back to the caller in its own protocol: {out}");
    let (a_local, sdp) = media(out, 0);
    let lines: Vec<&str> = sdp.media[0].crypto_lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let ours = CryptoAttribute::parse(lines[0]).unwrap();
    let offered = CryptoAttribute::parse(&theirs).unwrap();
    assert_eq!((ours.tag, ours.suite), (1, Suite::AesCm128HmacSha1_80));
    assert_ne!(ours.keys[0].key_salt(), offered.keys[0].key_salt(), "mediafwd answers with its own key");

    // The keys reached the workers: what the caller seals with its key
    // reaches the callee plain, and what the callee sends reaches the
    // caller sealed with mediafwd's key.
    let mut caller_key = Srtp::new(&offered);
    let d = relay(caller, a_local, callee, 0x5e1, |p| caller_key.seal(p));
    assert_eq!(d.src, b_local);
    assert!(is_rtp(&d.payload, 0x5e1, 0xe1), "opened with the caller's key: {:?}", d.payload);
    let d = relay(callee, b_local, caller, 0x5e2, |p| p.to_vec());
    assert_eq!(d.src, a_local);
    let opened = Srtp::new(&ours).open(&d.payload).expect("sealed with the key mediafwd answered");
    assert!(is_rtp(&opened, 0x5e2, 0xe2));

    // A re-offer with a new key rekeys the caller's leg on the workers.
    let rekeyed = crypto_line(1, Suite::AesCm128HmacSha1_80);
    let offer = caller_sdp(16300, &format!("{rekeyed}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let mut req = kamailio_offer("srtp-1", "a", &offer);
    req.push(("to-tag", s("b")));
    req.push(("transport-protocol", s("RTP/AVP")));
    let d = h.ask(&req);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let mut new_key = Srtp::new(&CryptoAttribute::parse(&rekeyed).unwrap());
    let d = relay(caller, a_local, callee, 0x5e7, |p| new_key.seal(p));
    assert!(is_rtp(&d.payload, 0x5e7, 0xe7), "opened with the caller's new key");
}

#[test]
fn sdes_avp_caller_to_savp_callee_and_savp_on_both_sides() {
    let mut h = Harness::new();
    let (caller, callee) = (addr("198.18.0.2:16400"), addr("198.19.0.2:26400"));
    let mut req = kamailio_offer("srtp-2", "a", &caller_sdp(16400, ""));
    req.push(("transport-protocol", s("RTP/SAVP")));
    let d = h.ask(&req);
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/SAVP 0 101"), "{out}");
    let (b_local, sdp) = media(out, 0);
    let offered: Vec<CryptoAttribute> =
        sdp.media[0].crypto_lines().map(|l| CryptoAttribute::parse(l).unwrap()).collect();
    assert!(offered.len() >= 2);
    assert_eq!((offered[0].tag, offered[0].suite), (1, Suite::AesCm128HmacSha1_80));
    // The callee picks tag 2.
    let answer_line = crypto_line(2, offered[1].suite);
    let answer = callee_sdp(26400, &format!("{answer_line}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-2", "a", "b", &answer));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/AVP 0\r\n") && !out.contains("crypto"), "{out}");
    let (a_local, _) = media(out, 0);
    // The callee's leg opens with the callee's key and seals with the one it picked.
    let mut callee_key = Srtp::new(&CryptoAttribute::parse(&answer_line).unwrap());
    let d = relay(callee, b_local, caller, 0x5e3, |p| callee_key.seal(p));
    assert!(is_rtp(&d.payload, 0x5e3, 0xe3), "opened with the callee's key");
    let d = relay(caller, a_local, callee, 0x5e4, |p| p.to_vec());
    let opened = Srtp::new(&offered[1]).open(&d.payload).expect("sealed with the key of tag 2");
    assert!(is_rtp(&opened, 0x5e4, 0xe4));
    // An answer whose a=crypto matches nothing offered is an error.
    let bad = callee_sdp(26400, &format!("{}\r\n", crypto_line(9, Suite::AesCm128HmacSha1_80)))
        .replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-2", "a", "b", &bad));
    assert_eq!(result(&d), "error");

    // SAVP to SAVP: a key for each side, none passed through.
    let (caller, callee) = (addr("198.18.0.2:16500"), addr("198.19.0.2:26500"));
    let caller_line = crypto_line(1, Suite::AesCm128HmacSha1_80);
    let offer = caller_sdp(16500, &format!("{caller_line}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_offer("srtp-3", "a", &offer));
    let out = text(&d, "sdp").to_string();
    assert!(!out.contains(caller_line.split("inline:").nth(1).unwrap()), "the caller's key stays with mediafwd");
    let (b_local, sdp) = media(&out, 0);
    let to_callee = CryptoAttribute::parse(sdp.media[0].crypto_lines().next().unwrap()).unwrap();
    let callee_line = crypto_line(1, to_callee.suite);
    let answer = callee_sdp(26500, &format!("{callee_line}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-3", "a", "b", &answer));
    let (a_local, sdp) = media(text(&d, "sdp"), 0);
    let to_caller = CryptoAttribute::parse(sdp.media[0].crypto_lines().next().unwrap()).unwrap();
    assert_ne!(to_caller.keys[0].key_salt(), to_callee.keys[0].key_salt(), "independent keys");
    // Opened with one side's key, sealed with the key mediafwd gave the other.
    let mut caller_key = Srtp::new(&CryptoAttribute::parse(&caller_line).unwrap());
    let d = relay(caller, a_local, callee, 0x5e5, |p| caller_key.seal(p));
    let opened = Srtp::new(&to_callee).open(&d.payload).expect("sealed with the key offered to the callee");
    assert!(is_rtp(&opened, 0x5e5, 0xe5));
    let mut callee_key = Srtp::new(&CryptoAttribute::parse(&callee_line).unwrap());
    let d = relay(callee, b_local, caller, 0x5e6, |p| callee_key.seal(p));
    let opened = Srtp::new(&to_caller).open(&d.payload).expect("sealed with the key answered to the caller");
    assert!(is_rtp(&opened, 0x5e6, 0xe6));
}

#[test]
fn several_media_sections_are_several_sessions() {
    let mut h = Harness::new();
    let offer =
        caller_sdp(16000, "") + "m=video 16002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=image 16004 udptl t38\r\n";
    let d = h.ask(&kamailio_offer("av", "a", &offer));
    assert_eq!(result(&d), "ok");
    assert!(text(&d, "warning").contains("udptl"), "{}", Value::Dict(d.clone()));
    let (_, sdp) = media(text(&d, "sdp"), 1);
    assert_eq!(sdp.media[2].line.port, 0, "what mediafwd does not relay is disabled");
    assert!(h.session("av").is_some() && h.session("av/2").is_some());
    assert_eq!(h.session("av/2").unwrap().legs[0].clock_rate, 90000);
    // list shows the call once.
    let d = h.ask(&[("command", s("list")), ("limit", Value::Int(1000))]);
    let Value::List(calls) = get(&d, "calls") else { panic!("calls is a list") };
    assert!(calls.contains(&s("av")) && !calls.contains(&s("av/2")), "{calls:?}");
    // The callee declines video.
    let answer = callee_sdp(26000, "") + "m=video 0 RTP/AVP 96\r\nm=image 0 udptl t38\r\n";
    let d = h.ask(&kamailio_answer("av", "a", "b", &answer));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let (_, sdp) = media(text(&d, "sdp"), 0);
    assert_eq!(sdp.media[1].line.port, 0);
    assert!(h.session("av").is_some() && h.session("av/2").is_none());
}

#[test]
fn query_and_delete_report_rtpengine_totals() {
    let mut h = Harness::new();
    let (caller, callee) = (addr("198.18.0.2:16600"), addr("198.19.0.2:26600"));
    let d = h.ask(&kamailio_offer("q", "a", &caller_sdp(16600, "")));
    let (b_local, _) = media(text(&d, "sdp"), 0);
    let d = h.ask(&kamailio_answer("q", "a", "b", &callee_sdp(26600, "")));
    let (a_local, _) = media(text(&d, "sdp"), 0);
    // Media flows both ways (once the node knows the hosts' MACs).
    relay(caller, a_local, callee, 0x0a, |p| p.to_vec());
    relay(callee, b_local, caller, 0x0b, |p| p.to_vec());
    let query = [("command", s("query")), ("call-id", s("q"))];
    // Once every probe is counted (relayed, or dropped while the node
    // resolved the hosts' MACs), the counters stand still.
    let deadline = Instant::now() + ng_node::WAIT;
    let before = loop {
        let a = h.ask(&query);
        std::thread::sleep(Duration::from_millis(100));
        let b = h.ask(&query);
        if get(&a, "totals") == get(&b, "totals") {
            break b;
        }
        assert!(Instant::now() < deadline, "the counters never settled");
    };
    let n = node();
    let _ = (n.take(callee), n.take(caller));
    // The caller sends 10 RTP packets and one that is not RTP, the callee 5.
    n.send(caller, a_local, &[0x80, 0, 0]);
    for i in 0..10 {
        n.send(caller, a_local, &rtp(0x0a, 2000 + i, 0x0a));
    }
    for i in 0..5 {
        n.send(callee, b_local, &rtp(0x0b, 2000 + i, 0x0b));
    }
    assert_eq!(n.take_n(callee, 10).len(), 10);
    assert_eq!(n.take_n(caller, 5).len(), 5);
    let d = h.ask(&query);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let delta = |path: &str| int(&d, path) - int(&before, path);
    assert_eq!(delta("totals.RTP.packets"), 15, "{}", Value::Dict(d.clone()));
    assert_eq!(delta("totals.RTP.bytes"), 15 * 172);
    assert_eq!(delta("totals.RTP.errors"), 1, "the packet that is not RTP");
    assert_eq!(delta("tags.a.medias.0.streams.0.stats.packets"), 10);
    assert_eq!(delta("tags.b.medias.0.streams.0.stats.packets"), 5);
    assert_eq!(int(&d, "totals.RTCP.packets"), 0);
    assert!(int(&d, "created") > 1_600_000_000);
    assert_eq!(text(&d, "tags.a.in dialogue with"), "b");
    assert_eq!(text(&d, "tags.b.tag"), "b");
    let session = h.session("q").unwrap();
    assert_eq!(int(&d, "tags.a.medias.0.streams.0.local port"), session.legs[0].local.port() as i64);
    assert_eq!(int(&d, "tags.a.medias.0.streams.1.local port"), session.legs[0].local.port() as i64 + 1);
    assert_eq!(text(&d, "tags.b.medias.0.streams.0.endpoint.address"), "198.19.0.2");
    assert_eq!(text(&d, "tags.b.medias.0.protocol"), "RTP/AVP");
    let flags = get(&d, "tags.b.medias.0.streams.0.flags");
    assert!(matches!(flags, Value::List(f) if f.contains(&s("confirmed"))), "{flags:?}");
    let relayed = int(&d, "totals.RTP.packets");

    // Delete with a delay: the totals now, the session for a while yet.
    let d =
        h.ask(&[("command", s("delete")), ("call-id", s("q")), ("from-tag", s("a")), ("delete delay", Value::Int(1))]);
    assert_eq!(result(&d), "ok");
    assert_eq!(int(&d, "totals.RTP.packets"), relayed);
    assert!(h.session("q").is_some());
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.session("q").is_some() {
        assert!(Instant::now() < deadline, "the delayed delete did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = h.ask(&[("command", s("query")), ("call-id", s("q"))]);
    assert_eq!(result(&d), "error");
}

#[test]
fn a_session_of_the_grpc_api_can_be_queried() {
    let mut h = Harness::new();
    let leg = |label: &str, interface: &str| LegRequest {
        label: label.into(),
        interface: interface.into(),
        local_port: None,
        local_address: None,
        prefer_v6: false,
        remote: None,
        remote_rtcp: None,
        rtcp_mux: false,
        latch: LatchMode::Off,
        strict_source: false,
        clock_rate: 8000,
        srtp_inbound: None,
        srtp_outbound: None,
    };
    let req = CreateSession {
        id: "grpc-1".into(),
        legs: [leg("x", "public"), leg("y", "private")],
        media_timeout: None,
        max_lifetime: None,
    };
    node().ask(|tx| Request::Create(Box::new(req), tx)).unwrap();
    let d = h.ask(&[("command", s("query")), ("call-id", s("grpc-1"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert_eq!(text(&d, "tags.x.in dialogue with"), "y");
    let d = h.ask(&[("command", s("list")), ("limit", Value::Int(1000))]);
    let Value::List(calls) = get(&d, "calls") else { panic!("calls is a list") };
    assert!(calls.contains(&s("grpc-1")), "{calls:?}");
}

#[test]
fn statistics_in_rtpengine_shape() {
    let mut h = Harness::new();
    h.ask(&[("command", s("ping"))]);
    let (caller, callee) = (addr("198.18.0.2:16700"), addr("198.19.0.2:26700"));
    h.ask(&kamailio_offer("st", "a", &caller_sdp(16700, "")));
    let d = h.ask(&kamailio_answer("st", "a", "b", &callee_sdp(26700, "")));
    let (a_local, _) = media(text(&d, "sdp"), 0);
    relay(caller, a_local, callee, 0x57, |p| p.to_vec());
    let d = h.ask(&[("command", s("statistics"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    // The node's sessions and packets: this test's, and those of the tests beside it.
    assert!(int(&d, "statistics.currentstatistics.sessionstotal") >= 1);
    assert!(int(&d, "statistics.totalstatistics.relayedpackets") >= 1);
    assert_eq!(int(&d, "statistics.totalstatistics.managedsessions"), 1);
    assert_eq!(int(&d, "statistics.controlstatistics.totalpingcount"), 1);
    assert_eq!(int(&d, "statistics.controlstatistics.totaloffercount"), 1);
    assert_eq!(int(&d, "statistics.controlstatistics.totalanswercount"), 1);
    assert_eq!(text(&d, "statistics.controlstatistics.proxies.0.proxy"), "127.0.0.1");
}

#[test]
fn an_idle_worker_sleeps_and_media_still_flows() {
    // The node's workers sleep 50 µs once idle (`idle_sleep_us`): media sent
    // after a quiet spell is still relayed, and the sleeps are counted.
    let mut h = Harness::new();
    let (caller, callee) = (addr("198.18.0.2:16720"), addr("198.19.0.2:26720"));
    h.ask(&kamailio_offer("idle", "a", &caller_sdp(16720, "")));
    let d = h.ask(&kamailio_answer("idle", "a", "b", &callee_sdp(26720, "")));
    let (a_local, _) = media(text(&d, "sdp"), 0);
    let sleeps = || -> u64 {
        let text = node().ask(Request::Metrics).expect("metrics");
        text.lines()
            .filter(|l| l.starts_with("mediafwd_worker_idle_sleeps_total{"))
            .map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()).expect("a count"))
            .sum()
    };
    let deadline = Instant::now() + ng_node::WAIT;
    while sleeps() == 0 {
        assert!(Instant::now() < deadline, "no idle sleep counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = sleeps();
    relay(caller, a_local, callee, 0x1d, |p| p.to_vec());
    std::thread::sleep(Duration::from_millis(20));
    assert!(sleeps() > before, "the worker went back to sleeping after the media");
}

#[test]
fn unknown_flags_and_keys_are_warnings() {
    let mut h = Harness::new();
    let mut req = kamailio_offer("w", "a", &caller_sdp(16000, ""));
    req.push(("flags", l(&["trust-address", "loop-protect", "codec-strip-PCMA", "SDES-no-AES_CM_128_HMAC_SHA1_32"])));
    req.push(("record call", s("yes")));
    req.push(("rtcp-mux", l(&["bogus"])));
    let d = h.ask(&req);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let w = text(&d, "warning");
    assert!(w.contains("loop-protect") && w.contains("codec-strip-PCMA") && w.contains("record call"), "{w}");
    assert!(w.contains("rtcp-mux-bogus") && !w.contains("trust-address") && !w.contains("SDES"), "{w}");
}

/// Set in the process that runs the draining test on a node of its own.
const DRAIN_PROCESS: &str = "MEDIAFWD_NG_CONFORMANCE_DRAIN";

#[test]
fn draining_answers_load_limit_for_new_calls_only() {
    if std::env::var_os(DRAIN_PROCESS).is_none() {
        // A drain is for good: it runs in a process of its own, on its own node.
        let name = "draining_answers_load_limit_for_new_calls_only";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env(DRAIN_PROCESS, "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.contains("1 passed"), "{said}");
        return;
    }
    let mut h = Harness::new();
    h.ask(&kamailio_offer("before", "a", &caller_sdp(16000, "")));
    node().ask(|tx| Request::Drain(control::Drain::default(), tx)).unwrap();
    let d = h.ask(&kamailio_offer("after", "a", &caller_sdp(16002, "")));
    assert_eq!(result(&d), "error");
    assert_eq!(text(&d, "error-reason"), "Parallel session limit reached", "what Kamailio fails over on");
    let mut req = kamailio_offer("after", "a", &caller_sdp(16002, ""));
    req.push(("supports", l(&["load limit"])));
    let d = h.ask(&req);
    assert_eq!(result(&d), "load limit", "{}", Value::Dict(d.clone()));
    // A call that exists goes on.
    let d = h.ask(&kamailio_answer("before", "a", "b", &callee_sdp(26000, "")));
    assert_eq!(result(&d), "ok");
    let d = h.ask(&[("command", s("statistics"))]);
    assert_eq!(int(&d, "statistics.totalstatistics.rejectedsessions"), 2);
}

/// Waits until `id` is no session (at most `wait`); how long it took.
fn gone(id: &str, wait: Duration) -> Duration {
    let start = Instant::now();
    while node().session(id).is_some() {
        assert!(start.elapsed() < wait, "session {id:?} still there after {wait:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn a_call_whose_session_timed_out_is_forgotten() {
    let mut h = Harness::new();
    h.ask(&kamailio_offer("t", "a", &caller_sdp(16000, "")));
    h.ask(&kamailio_answer("t", "a", "b", &callee_sdp(26000, "")));
    // No media: the session ends after the media timeout (3 s here), and
    // the front-end hears of it.
    gone("t", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let d = h.ask(&[("command", s("query")), ("call-id", s("t"))]);
        if result(&d) == "error" && text(&d, "error-reason").contains("Unknown call-ID") {
            break;
        }
        assert!(Instant::now() < deadline, "the call outlived its session");
        std::thread::sleep(Duration::from_millis(20));
    }
    let d = h.ask(&[("command", s("statistics"))]);
    assert_eq!(int(&d, "statistics.totalstatistics.timeoutsessions"), 1);
}

#[test]
fn a_ringing_call_is_kept_alive_until_answered() {
    let mut h = Harness::new();
    h.ask(&kamailio_offer("ring", "a", &caller_sdp(16000, "")));
    // The media timeout is 3 s here: the engine touches the ringing call's
    // session every second, so it outlives the timeout.
    std::thread::sleep(Duration::from_millis(4500));
    assert!(h.session("ring").is_some(), "a ringing call outlives the media timeout");
    h.ask(&kamailio_answer("ring", "a", "b", &callee_sdp(26000, "")));
    // Answered, it lives on its media: without any, it times out.
    let took = gone("ring", Duration::from_secs(10));
    assert!(took >= Duration::from_secs(2), "ended {took:?} after the answer");
}

#[test]
fn replace_options_keep_origin_and_session_name_steady() {
    let mut h = Harness::new();
    let mut req = kamailio_offer("r", "a", &caller_sdp(16000, ""));
    req[3] = ("replace", l(&["origin", "session-name", "username", "SDP-version"]));
    let d = h.ask(&req);
    let first = text(&d, "sdp").to_string();
    assert!(first.contains("o=alice 100 100 IN IP4 198.19.0.1"), "{first}");
    // The same offer again: the same version; a changed one: version + 1, name and user kept.
    let d = h.ask(&req);
    assert_eq!(text(&d, "sdp"), first);
    let mut req2 = req.clone();
    req2[0] = ("sdp", s(&caller_sdp(16010, "a=ptime:20\r\n").replace("alice", "carol").replace("s=talk", "s=other")));
    let d = h.ask(&req2);
    let out = text(&d, "sdp");
    assert!(out.contains("o=alice 100 101 IN IP4 198.19.0.1") && out.contains("s=talk"), "{out}");
}

#[test]
fn tcp_carries_messages_back_to_back() {
    let h = Harness::new();
    let mut c = TcpStream::connect(h.ng.tcp.unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(b"1_1 d7:command4:pinge2_2 d7:command4:pinge3_3 d7:comm").unwrap();
    c.write_all(b"and4:pinge").unwrap();
    let want = b"1_1 d6:result4:ponge2_2 d6:result4:ponge3_3 d6:result4:ponge";
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], &want[..]);
    // Garbage: an error, then the connection closes.
    c.write_all(b"4_4 x").unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.starts_with(b"4_4 d") && rest.windows(5).any(|w| w == b"error"), "{rest:?}");
}

fn engine() -> (tokio::runtime::Runtime, Engine) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    (rt, Engine::new(node().control.clone(), ng::settings(&node().config)))
}

#[test]
fn lost_session_events_are_made_up_for() {
    let (rt, mut engine) = engine();
    let ask = |engine: &mut Engine, req: &[(&str, Value)]| {
        let r = rt.block_on(engine.handle(&dict(req).encode(), "127.0.0.1".parse().unwrap()));
        assert_eq!(r.as_dict().and_then(|d| d.get(&b"result"[..])), Some(&s("ok")), "{r}");
    };
    ask(&mut engine, &kamailio_offer("lost", "a", &caller_sdp(16000, "")));
    ask(&mut engine, &kamailio_answer("lost", "a", "b", &callee_sdp(26000, "")));
    ask(&mut engine, &kamailio_offer("kept", "a", &caller_sdp(16002, "")));
    ask(&mut engine, &kamailio_answer("kept", "a", "b", &callee_sdp(26002, "")));
    // Another front-end ends the session; this engine does not hear of it.
    node().ask(|tx| Request::Delete("lost".into(), tx)).unwrap();
    assert_eq!(engine.calls(), 2);
    rt.block_on(engine.reconcile());
    assert_eq!(engine.calls(), 1);
}

fn arbitrary_request() -> impl Strategy<Value = Vec<u8>> {
    let command = prop::sample::select(vec!["ping", "offer", "answer", "delete", "query", "list", "statistics", "x"]);
    let sdp = prop_oneof![
        Just(caller_sdp(16000, "")),
        Just(callee_sdp(26000, "a=rtcp-mux\r\n")),
        Just(
            caller_sdp(16000, &format!("{}\r\n", crypto_line(1, Suite::AesCm128HmacSha1_80)))
                .replace("RTP/AVP", "RTP/SAVP")
        ),
        "(v=0\r\n)?([a-z]=[ -~]{0,20}\r\n){0,8}",
    ];
    let value = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        "[ -~]{0,12}".prop_map(|t| Value::str(&t)),
        prop::collection::vec("[ -~]{0,8}".prop_map(|t| Value::str(&t)), 0..3).prop_map(Value::List),
    ];
    let key = prop::sample::select(vec![
        "call-id",
        "from-tag",
        "to-tag",
        "flags",
        "replace",
        "direction",
        "ICE",
        "rtcp-mux",
        "transport-protocol",
        "SDES",
        "delete-delay",
        "limit",
        "media-address",
        "received-from",
        "via-branch",
        "other",
    ]);
    (
        command,
        prop::sample::select(vec!["c1", "c2"]),
        prop::sample::select(vec!["a", "b"]),
        sdp,
        prop::collection::vec((key, value), 0..6),
    )
        .prop_map(|(cmd, call, tag, sdp, extra)| {
            let mut d: Dict = [
                (b"command".to_vec(), Value::str(cmd)),
                (b"call-id".to_vec(), Value::str(call)),
                (b"from-tag".to_vec(), Value::str(tag)),
                (b"to-tag".to_vec(), Value::str(if tag == "a" { "b" } else { "a" })),
                (b"sdp".to_vec(), Value::str(&sdp)),
            ]
            .into();
            for (k, v) in extra {
                d.insert(k.as_bytes().to_vec(), v);
            }
            Value::Dict(d).encode()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever arrives, the engine answers with a result, and never panics.
    #[test]
    fn arbitrary_requests_get_a_result(reqs in prop::collection::vec(arbitrary_request(), 1..6)) {
        let (rt, mut engine) = engine();
        for body in reqs {
            let reply = rt.block_on(engine.handle(&body, "127.0.0.1".parse().unwrap()));
            let d = reply.as_dict().expect("a dictionary");
            let r = d.get(&b"result"[..]).and_then(Value::as_str).expect("a result");
            prop_assert!(["ok", "pong", "error", "load limit"].contains(&r));
        }
    }

    #[test]
    fn arbitrary_bytes_get_an_error(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let (rt, mut engine) = engine();
        let reply = rt.block_on(engine.handle(&body, "127.0.0.1".parse().unwrap()));
        prop_assert!(reply.as_dict().is_some());
    }
}
