//! The ng protocol, request by reply, over a real UDP (and TCP) listener:
//! bencode edge cases, retransmissions served from the cookie cache, every
//! command, malformed requests answered with errors, arbitrary input never
//! crashing. Behind the listener runs the real ng engine and the real session
//! bookkeeping (the control loop's own create/update functions and session
//! manager); only the dataplane is absent: statistics are whatever a test sets.

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mediafwd_controlplane::config::{Config, Validated};
use mediafwd_controlplane::control::view::{LegStats, NodeStats, SessionPage, SessionState, WorkerStats};
use mediafwd_controlplane::control::{self, CreateSession, EndReason, Event, EventKind, Request, SessionView};
use mediafwd_controlplane::ng::bencode::{self, Dict, Value};
use mediafwd_controlplane::ng::sdp::Sdp;
use mediafwd_controlplane::ng::{self, Engine};
use mediafwd_controlplane::session::{IfaceInfo, LegRequest, Resolver, SessionManager};
use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::{Policy, Suite};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use proptest::prelude::*;
use tokio::sync::broadcast;

const CONFIG: &str = r#"
[node]
worker_cores = [1]
control_cores = [0]
[ng]
listen = "127.0.0.1:0"
[sessions]
media_timeout = 3
[[interface]]
name = "public"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
rtp_ports = "30000-30999"
[[interface]]
name = "private"
device = "net_null1"
addresses = ["198.19.0.1/24"]
rtp_ports = "40000-40999"
"#;

struct AnyHop;

impl Resolver for AnyHop {
    fn next_hop(&mut self, iface: usize, _: std::net::IpAddr) -> Result<u32, String> {
        Ok(iface as u32)
    }
    fn default_next_hop(&mut self, _: usize, _: bool) -> Option<u32> {
        None
    }
}

/// SRTP keys a leg was given: (inbound, outbound).
type Keys = (Option<Policy>, Option<Policy>);

/// The control loop without a dataplane.
struct Fake {
    sessions: SessionManager,
    draining: bool,
    stats: LegStats,
    srtp: HashMap<(String, String), Keys>,
    events: broadcast::Sender<Event>,
    creates: usize,
    updates: usize,
}

impl Fake {
    fn view(&self, s: &mediafwd_controlplane::session::Session) -> SessionView {
        SessionView::of(s, self.sessions.interfaces(), |_| self.stats.clone())
    }

    fn end(&mut self, id: &str, reason: EndReason) -> Result<SessionView, control::Error> {
        let (s, _) = self.sessions.delete(id, Instant::now())?;
        self.sessions.release_ids(&s);
        let mut v = self.view(&s);
        v.state = SessionState::Ended(reason);
        let _ = self.events.send(Event {
            time: 0.0,
            session_id: id.into(),
            kind: EventKind::SessionEnded(Box::new(v.clone())),
        });
        Ok(v)
    }

    fn handle(&mut self, r: Request) {
        match r {
            Request::Create(mut req, tx) => {
                if self.draining {
                    let _ = tx.send(Err(control::Error::Unavailable("this node is draining".into())));
                    return;
                }
                // SRTP is noted here and kept from the session logic, which
                // refuses it until the workers speak it.
                for l in &mut req.legs {
                    let keys = (l.srtp_inbound.take(), l.srtp_outbound.take());
                    self.srtp.insert((req.id.clone(), l.label.clone()), keys);
                }
                self.creates += 1;
                let r = control::create_session(&mut self.sessions, *req, &mut AnyHop, Instant::now())
                    .map(|(s, _)| self.view(&s));
                let _ = tx.send(r);
            }
            Request::Update(mut req, tx) => {
                let label = req.label.clone().unwrap_or_else(|| req.leg.clone());
                let key = (req.session_id.clone(), req.leg.clone());
                let mut keys = self.srtp.remove(&key).unwrap_or_default();
                if let Some(k) = req.srtp_inbound.take() {
                    keys.0 = k;
                }
                if let Some(k) = req.srtp_outbound.take() {
                    keys.1 = k;
                }
                self.srtp.insert((req.session_id.clone(), label), keys);
                self.updates += 1;
                let r = control::update_leg(&mut self.sessions, *req, &mut AnyHop).map(|(s, _)| self.view(&s));
                let _ = tx.send(r);
            }
            // The ng front-end never asks for metrics.
            Request::Metrics(_) => {}
            Request::Delete(id, tx) => {
                let r = self.end(&id, EndReason::Deleted);
                let _ = tx.send(r);
            }
            Request::Get(id, tx) => {
                let r = self.sessions.get(&id).map(|s| self.view(s)).ok_or_else(|| control::Error::NotFound(id));
                let _ = tx.send(r);
            }
            Request::List(req, tx) => {
                let mut ids: Vec<_> = self.sessions.sessions().map(|s| s.id.clone()).collect();
                ids.sort();
                let sessions = ids
                    .iter()
                    .take(req.page_size as usize)
                    .map(|id| self.view(self.sessions.get(id).unwrap()))
                    .collect();
                let _ = tx.send(Ok(SessionPage { sessions, next_page_token: String::new(), total: ids.len() as u32 }));
            }
            Request::Stats(tx) => {
                let _ = tx.send(Ok(NodeStats {
                    sessions: self.sessions.len() as u32,
                    uptime_seconds: 10.0,
                    workers: vec![WorkerStats { tx_packets: 1000, ..Default::default() }],
                    ..Default::default()
                }));
            }
            Request::Drain(_, tx) => {
                self.draining = true;
                let _ = tx.send(Ok(self.sessions.len()));
            }
        }
    }
}

fn validated() -> Validated {
    Config::parse(CONFIG).unwrap().validate().unwrap()
}

fn fake(events: broadcast::Sender<Event>) -> (Arc<Mutex<Fake>>, Sender<Request>) {
    let v = validated();
    let ifaces = v
        .interfaces
        .into_iter()
        .enumerate()
        .map(|(i, config)| IfaceInfo { config, port_id: i as u16, mac: MacAddr([2, 0, 0, 0, 0, i as u8]) })
        .collect();
    let fake = Arc::new(Mutex::new(Fake {
        sessions: SessionManager::new(ifaces, 1 << 14),
        draining: false,
        stats: LegStats::default(),
        srtp: HashMap::new(),
        events,
        creates: 0,
        updates: 0,
    }));
    let (tx, rx): (Sender<Request>, Receiver<Request>) = crossbeam_channel::bounded(64);
    let f = fake.clone();
    std::thread::spawn(move || {
        for r in rx.iter() {
            f.lock().unwrap().handle(r);
        }
    });
    (fake, tx)
}

struct Harness {
    _rt: tokio::runtime::Runtime,
    fake: Arc<Mutex<Fake>>,
    control: Sender<Request>,
    sock: UdpSocket,
    ng: ng::NgListening,
    seq: u32,
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (events, _) = broadcast::channel(1024);
        let (fake, control) = fake(events.clone());
        let ng = ng::serve(&validated(), rt.handle(), control.clone(), &events).unwrap().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Harness { _rt: rt, fake, control, sock, ng, seq: 0 }
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

    fn session(&self, id: &str) -> Option<mediafwd_controlplane::session::Session> {
        self.fake.lock().unwrap().sessions.get(id).cloned()
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
    assert!(out.contains("m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"), "codecs untouched: {out}");
    let session = h.session("call-1@uac").expect("the session is the Call-ID");
    assert_eq!(session.legs[0].request.label, "tag-a");
    assert_eq!(session.legs[0].request.interface, "public");
    assert_eq!(session.legs[0].request.remote, Some("198.18.0.2:16000".parse().unwrap()));
    assert_eq!(session.legs[1].request.interface, "private");
    assert_eq!(session.legs[1].local, ep);

    let d = h.ask(&kamailio_answer("call-1@uac", "tag-a", "tag-b", &callee_sdp(26000, "")));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    let (ep, _) = media(out, 0);
    assert_eq!(ep, session.legs[0].local, "towards the caller: mediafwd's public side");
    assert!(!out.lines().any(|l| l.starts_with("c=") && l.contains("198.19")), "{out}");
    let session = h.session("call-1@uac").unwrap();
    assert_eq!(session.legs[1].request.label, "tag-b", "the leg is named by the to-tag once answered");
    assert_eq!(session.legs[1].request.remote, Some("198.19.0.2:26000".parse().unwrap()));
    assert_eq!(session.legs[1].request.remote_rtcp, Some("198.19.0.2:26001".parse().unwrap()));

    // A re-INVITE from the callee: its SDP moves its leg, the caller sees the same ports.
    let mut reoffer = kamailio_offer("call-1@uac", "tag-b", &callee_sdp(26100, ""));
    reoffer.push(("to-tag", s("tag-a")));
    let d = h.ask(&reoffer);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert!(text(&d, "warning").contains("direction ignored"), "{}", Value::Dict(d.clone()));
    let (ep, _) = media(text(&d, "sdp"), 0);
    assert_eq!(ep, session.legs[0].local);
    let moved = h.session("call-1@uac").unwrap();
    assert_eq!(moved.legs[1].request.remote, Some("198.19.0.2:26100".parse().unwrap()));
    assert_eq!(moved.legs[1].local, session.legs[1].local, "updated in place");
    let d = h.ask(&kamailio_answer("call-1@uac", "tag-b", "tag-a", &caller_sdp(16002, "")));
    assert_eq!(result(&d), "ok");
    assert_eq!(media(text(&d, "sdp"), 0).0, session.legs[1].local);
    assert_eq!(h.session("call-1@uac").unwrap().legs[0].request.remote, Some("198.18.0.2:16002".parse().unwrap()));
    assert_eq!(h.fake.lock().unwrap().creates, 1);

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
    assert_eq!(h.fake.lock().unwrap().creates, 1);
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
    assert!(session.legs[0].request.rtcp_mux && session.legs[1].request.rtcp_mux);

    // The callee does not mux: neither side does.
    h.ask(&kamailio_offer("nomux", "a", &caller_sdp(16000, "a=rtcp-mux\r\n")));
    let d = h.ask(&kamailio_answer("nomux", "a", "b", &callee_sdp(26000, "")));
    let (ep, sdp) = media(text(&d, "sdp"), 0);
    assert!(!sdp.media[0].rtcp_mux());
    assert_eq!(sdp.media[0].rtcp().unwrap(), Some((ep.port() + 1, None)));
    let session = h.session("nomux").unwrap();
    assert!(!session.legs[0].request.rtcp_mux && !session.legs[1].request.rtcp_mux);

    // rtcp-mux demux: the caller keeps muxing, the callee is offered none.
    let mut offer = kamailio_offer("demux", "a", &caller_sdp(16000, "a=rtcp-mux\r\n"));
    offer.push(("rtcp-mux", l(&["demux"])));
    let d = h.ask(&offer);
    assert!(!text(&d, "sdp").contains("rtcp-mux"));
    let d = h.ask(&kamailio_answer("demux", "a", "b", &callee_sdp(26000, "")));
    assert!(text(&d, "sdp").contains("a=rtcp-mux"));
    let session = h.session("demux").unwrap();
    assert!(session.legs[0].request.rtcp_mux && !session.legs[1].request.rtcp_mux);
}

fn crypto_line(tag: u32, suite: Suite) -> String {
    mediafwd_controlplane::ng::sdes::generate(tag, suite).to_string()
}

#[test]
fn sdes_savp_caller_to_avp_callee() {
    let mut h = Harness::new();
    let theirs = crypto_line(1, Suite::AesCm128HmacSha1_80);
    let offer = caller_sdp(16000, &format!("{theirs}\r\n{}\r\n", crypto_line(2, Suite::AesCm128HmacSha1_32)))
        .replace("RTP/AVP", "RTP/SAVP");
    let mut req = kamailio_offer("srtp-1", "a", &offer);
    req.push(("transport-protocol", s("RTP/AVP")));
    let d = h.ask(&req);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    assert!(out.contains("m=audio 40000 RTP/AVP 0 101"), "{out}");
    assert!(!out.contains("a=crypto"), "{out}");
    let d = h.ask(&kamailio_answer("srtp-1", "a", "b", &callee_sdp(26000, "")));
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/SAVP 0"), "back to the caller in its own protocol: {out}");
    let (_, sdp) = media(out, 0);
    let lines: Vec<&str> = sdp.media[0].crypto_lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let ours = CryptoAttribute::parse(lines[0]).unwrap();
    let offered = CryptoAttribute::parse(&theirs).unwrap();
    assert_eq!((ours.tag, ours.suite), (1, Suite::AesCm128HmacSha1_80));
    assert_ne!(ours.keys[0].key_salt(), offered.keys[0].key_salt(), "mediafwd answers with its own key");
    // The caller's leg decrypts with the caller's key and encrypts with ours; the callee's is plain.
    let f = h.fake.lock().unwrap();
    let (inb, outb) = f.srtp[&("srtp-1".to_string(), "a".to_string())].clone();
    assert_eq!(inb.as_ref().unwrap().suite, Suite::AesCm128HmacSha1_80);
    let key_salt = |p: &Policy| p.master_keys[0].key_salt().to_vec();
    assert_eq!(key_salt(inb.as_ref().unwrap()), offered.keys[0].key_salt());
    assert_eq!(key_salt(outb.as_ref().unwrap()), ours.keys[0].key_salt());
    assert!(f.srtp.get(&("srtp-1".to_string(), "b".to_string())).is_none_or(|k| k.0.is_none() && k.1.is_none()));
}

#[test]
fn sdes_avp_caller_to_savp_callee_and_savp_on_both_sides() {
    let mut h = Harness::new();
    let mut req = kamailio_offer("srtp-2", "a", &caller_sdp(16000, ""));
    req.push(("transport-protocol", s("RTP/SAVP")));
    let d = h.ask(&req);
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/SAVP 0 101"), "{out}");
    let (_, sdp) = media(out, 0);
    let offered: Vec<CryptoAttribute> =
        sdp.media[0].crypto_lines().map(|l| CryptoAttribute::parse(l).unwrap()).collect();
    assert!(offered.len() >= 2);
    assert_eq!((offered[0].tag, offered[0].suite), (1, Suite::AesCm128HmacSha1_80));
    // The callee picks tag 2.
    let answer_line = crypto_line(2, offered[1].suite);
    let answer = callee_sdp(26000, &format!("{answer_line}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-2", "a", "b", &answer));
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    let out = text(&d, "sdp");
    assert!(out.contains("RTP/AVP 0\r\n") && !out.contains("crypto"), "{out}");
    {
        let f = h.fake.lock().unwrap();
        let (inb, outb) = f.srtp[&("srtp-2".to_string(), "b".to_string())].clone();
        assert_eq!(inb.unwrap().suite, offered[1].suite);
        assert_eq!(outb.unwrap().master_keys[0].key(), offered[1].keys[0].key());
    }
    // An answer whose a=crypto matches nothing offered is an error.
    let bad = callee_sdp(26000, &format!("{}\r\n", crypto_line(9, Suite::AesCm128HmacSha1_80)))
        .replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-2", "a", "b", &bad));
    assert_eq!(result(&d), "error");

    // SAVP to SAVP: a key for each side, none passed through.
    let caller_key = crypto_line(1, Suite::AesCm128HmacSha1_80);
    let offer = caller_sdp(16000, &format!("{caller_key}\r\n")).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_offer("srtp-3", "a", &offer));
    let out = text(&d, "sdp").to_string();
    assert!(!out.contains(caller_key.split("inline:").nth(1).unwrap()), "the caller's key stays with mediafwd");
    let (_, sdp) = media(&out, 0);
    let to_callee = CryptoAttribute::parse(sdp.media[0].crypto_lines().next().unwrap()).unwrap();
    let answer = callee_sdp(26000, &format!("{}\r\n", crypto_line(1, to_callee.suite))).replace("RTP/AVP", "RTP/SAVP");
    let d = h.ask(&kamailio_answer("srtp-3", "a", "b", &answer));
    let (_, sdp) = media(text(&d, "sdp"), 0);
    let to_caller = CryptoAttribute::parse(sdp.media[0].crypto_lines().next().unwrap()).unwrap();
    assert_ne!(to_caller.keys[0].key_salt(), to_callee.keys[0].key_salt(), "independent keys");
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
    assert_eq!(h.session("av/2").unwrap().legs[0].request.clock_rate, 90000);
    // list shows the call once.
    let d = h.ask(&[("command", s("list"))]);
    assert_eq!(get(&d, "calls"), &l(&["av"]));
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
    h.ask(&kamailio_offer("q", "a", &caller_sdp(16000, "")));
    h.ask(&kamailio_answer("q", "a", "b", &callee_sdp(26000, "")));
    h.fake.lock().unwrap().stats = LegStats {
        packets: 105,
        bytes: 18_000,
        rtcp_packets: 5,
        drops: vec![("source_mismatch", 2)],
        idle_seconds: Some(0.5),
        ..Default::default()
    };
    let d = h.ask(&[("command", s("query")), ("call-id", s("q"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert_eq!(int(&d, "totals.RTP.packets"), 200);
    assert_eq!(int(&d, "totals.RTP.bytes"), 36_000);
    assert_eq!(int(&d, "totals.RTP.errors"), 4);
    assert_eq!(int(&d, "totals.RTCP.packets"), 10);
    assert!(int(&d, "created") > 1_600_000_000);
    assert_eq!(text(&d, "tags.a.in dialogue with"), "b");
    assert_eq!(text(&d, "tags.b.tag"), "b");
    let session = h.session("q").unwrap();
    assert_eq!(int(&d, "tags.a.medias.0.streams.0.local port"), session.legs[0].local.port() as i64);
    assert_eq!(int(&d, "tags.a.medias.0.streams.1.local port"), session.legs[0].local.port() as i64 + 1);
    assert_eq!(text(&d, "tags.b.medias.0.streams.0.endpoint.address"), "198.19.0.2");
    assert_eq!(int(&d, "tags.b.medias.0.streams.0.stats.packets"), 100);
    assert_eq!(text(&d, "tags.b.medias.0.protocol"), "RTP/AVP");

    // Delete with a delay: the totals now, the session for a while yet.
    let d =
        h.ask(&[("command", s("delete")), ("call-id", s("q")), ("from-tag", s("a")), ("delete delay", Value::Int(1))]);
    assert_eq!(result(&d), "ok");
    assert_eq!(int(&d, "totals.RTP.packets"), 200);
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
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(control::ask(&h.control, |tx| Request::Create(Box::new(req), tx))).unwrap();
    let d = h.ask(&[("command", s("query")), ("call-id", s("grpc-1"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert_eq!(text(&d, "tags.x.in dialogue with"), "y");
    let d = h.ask(&[("command", s("list"))]);
    assert_eq!(get(&d, "calls"), &l(&["grpc-1"]));
}

#[test]
fn statistics_in_rtpengine_shape() {
    let mut h = Harness::new();
    h.ask(&[("command", s("ping"))]);
    h.ask(&kamailio_offer("st", "a", &caller_sdp(16000, "")));
    let d = h.ask(&[("command", s("statistics"))]);
    assert_eq!(result(&d), "ok", "{}", Value::Dict(d.clone()));
    assert_eq!(int(&d, "statistics.currentstatistics.sessionstotal"), 1);
    assert_eq!(int(&d, "statistics.totalstatistics.managedsessions"), 1);
    assert_eq!(int(&d, "statistics.totalstatistics.relayedpackets"), 1000);
    assert_eq!(int(&d, "statistics.controlstatistics.totalpingcount"), 1);
    assert_eq!(int(&d, "statistics.controlstatistics.totaloffercount"), 1);
    assert_eq!(text(&d, "statistics.controlstatistics.proxies.0.proxy"), "127.0.0.1");
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

#[test]
fn draining_answers_load_limit_for_new_calls_only() {
    let mut h = Harness::new();
    h.ask(&kamailio_offer("before", "a", &caller_sdp(16000, "")));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(control::ask(&h.control, |tx| Request::Drain(control::Drain::default(), tx))).unwrap();
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

#[test]
fn a_call_whose_session_timed_out_is_forgotten() {
    let mut h = Harness::new();
    h.ask(&kamailio_offer("t", "a", &caller_sdp(16000, "")));
    h.fake.lock().unwrap().end("t", EndReason::MediaTimeout).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let d = h.ask(&kamailio_answer("t", "a", "b", &callee_sdp(26000, "")));
        // Until the session's end reaches the front-end, its update fails.
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
    let at_offer = h.fake.lock().unwrap().updates;
    // The media timeout is 3 s here: the engine touches the session every second.
    std::thread::sleep(Duration::from_millis(2300));
    let refreshed = h.fake.lock().unwrap().updates - at_offer;
    assert!((1..=3).contains(&refreshed), "{refreshed} refreshes");
    h.ask(&kamailio_answer("ring", "a", "b", &callee_sdp(26000, "")));
    let answered = h.fake.lock().unwrap().updates;
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(h.fake.lock().unwrap().updates, answered, "an answered call lives on its media");
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

fn engine() -> (tokio::runtime::Runtime, Engine, Arc<Mutex<Fake>>) {
    let (events, _) = broadcast::channel(16);
    let (fake, control) = fake(events);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    (rt, Engine::new(control, ng::settings(&validated())), fake)
}

#[test]
fn lost_session_events_are_made_up_for() {
    let (rt, mut engine, fake) = engine();
    let ask = |engine: &mut Engine, req: &[(&str, Value)]| {
        let r = rt.block_on(engine.handle(&dict(req).encode(), "127.0.0.1".parse().unwrap()));
        assert_eq!(r.as_dict().and_then(|d| d.get(&b"result"[..])), Some(&s("ok")), "{r}");
    };
    ask(&mut engine, &kamailio_offer("lost", "a", &caller_sdp(16000, "")));
    ask(&mut engine, &kamailio_answer("lost", "a", "b", &callee_sdp(26000, "")));
    ask(&mut engine, &kamailio_offer("kept", "a", &caller_sdp(16002, "")));
    ask(&mut engine, &kamailio_answer("kept", "a", "b", &callee_sdp(26002, "")));
    // The session ends; nobody hears of it.
    fake.lock().unwrap().end("lost", EndReason::MediaTimeout).unwrap();
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
        let (rt, mut engine, _) = engine();
        for body in reqs {
            let reply = rt.block_on(engine.handle(&body, "127.0.0.1".parse().unwrap()));
            let d = reply.as_dict().expect("a dictionary");
            let r = d.get(&b"result"[..]).and_then(Value::as_str).expect("a result");
            prop_assert!(["ok", "pong", "error", "load limit"].contains(&r));
        }
    }

    #[test]
    fn arbitrary_bytes_get_an_error(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let (rt, mut engine, _) = engine();
        let reply = rt.block_on(engine.handle(&body, "127.0.0.1".parse().unwrap()));
        prop_assert!(reply.as_dict().is_some());
    }
}
