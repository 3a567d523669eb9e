//! rtpengine's ng protocol, datagram by datagram, through the real command
//! engine and the real session bookkeeping (the control loop's own
//! bookkeeping on a `SessionManager`; only the workers are
//! absent). The input is up to 8 datagrams separated by NUL bytes, answered
//! in order by one engine, so offers, answers, queries and deletes of the
//! same call meet. Invariants: no panic; every framed datagram gets a reply
//! dictionary with a `result`, and an error reply says why.
#![no_main]

use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crossbeam_channel::Receiver;
use libfuzzer_sys::fuzz_target;
use mediafwd_controlplane::config::{Config, Validated};
use mediafwd_controlplane::control::view::LegStats;
use mediafwd_controlplane::control::{self, Error, NodeStats, Request, SessionPage, SessionView};
use mediafwd_controlplane::ng::bencode::{self, Value};
use mediafwd_controlplane::ng::message::{frame_reply, Frame};
use mediafwd_controlplane::ng::{self, Engine};
use mediafwd_controlplane::session::{IfaceInfo, Resolver, Session, SessionManager};
use mediafwd_controlplane::webrtc::WebrtcLegs;
use mediafwd_dataplane::wire::ethernet::MacAddr;

const CONFIG: &str = r#"
[node]
worker_cores = [1]
control_cores = [0]
[ng]
listen = "127.0.0.1:0"
[[interface]]
name = "public"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
rtp_ports = "30000-30099"
[[interface]]
name = "private"
device = "net_null1"
addresses = ["198.19.0.1/24"]
rtp_ports = "40000-40099"
"#;

/// Every remote is one hop away on its interface.
struct Direct;

impl Resolver for Direct {
    fn next_hop(&mut self, iface: usize, _: IpAddr) -> Result<u32, String> {
        Ok(iface as u32)
    }
    fn default_next_hop(&mut self, _: usize, _: bool) -> Option<u32> {
        None
    }
}

/// The control loop's session handling, without workers to send commands to.
struct Sessions {
    manager: SessionManager,
    webrtc: WebrtcLegs,
}

impl Sessions {
    fn view(&self, s: &Session) -> SessionView {
        SessionView::of(s, self.manager.interfaces(), |_| LegStats::default())
    }

    fn handle(&mut self, r: Request) {
        let now = Instant::now();
        match r {
            Request::Create(req, tx) => {
                let r = control::create_session(&mut self.manager, *req, &mut Direct, now);
                let _ = tx.send(r.map(|(s, _)| self.view(&s)));
            }
            Request::Update(req, tx) => {
                let r = control::update_leg(&mut self.manager, *req, &mut Direct);
                let _ = tx.send(r.map(|(s, _)| self.view(&s)));
            }
            Request::Delete(id, tx) => {
                let r = self.manager.delete(&id, now).map_err(Error::from).map(|(s, _)| {
                    self.manager.release_ids(&s);
                    self.view(&s)
                });
                let _ = tx.send(r);
            }
            Request::Get(id, tx) => {
                let r = self.manager.get(&id).map(|s| self.view(s)).ok_or_else(|| Error::NotFound(id));
                let _ = tx.send(r);
            }
            Request::List(req, tx) => {
                let mut ids: Vec<_> = self.manager.sessions().map(|s| s.id.clone()).collect();
                ids.sort();
                let total = ids.len() as u32;
                let sessions = ids
                    .iter()
                    .filter(|id| **id > req.page_token)
                    .take(req.page_size.clamp(1, 1000) as usize)
                    .filter_map(|id| self.manager.get(id).map(|s| self.view(s)))
                    .collect();
                let _ = tx.send(Ok(SessionPage { sessions, next_page_token: String::new(), total }));
            }
            Request::Stats(tx) => {
                let _ = tx.send(Ok(NodeStats { sessions: self.manager.len() as u32, ..Default::default() }));
            }
            Request::Drain(_, tx) => {
                let _ = tx.send(Ok(self.manager.len()));
            }
            Request::Metrics(tx) => {
                let _ = tx.send(Ok(String::new()));
            }
            Request::Webrtc(req, tx) => {
                let local = self
                    .manager
                    .get(&req.session_id)
                    .and_then(|s| s.legs.iter().find(|l| l.request.label == req.leg))
                    .map(|l| l.local);
                let r = match local {
                    Some(local) => self
                        .webrtc
                        .setup(local, &req, now, &mut Vec::new())
                        .map(|(v, _)| v)
                        .map_err(|e| Error::Unavailable(e.to_string())),
                    None => Err(Error::NotFound(req.leg.clone())),
                };
                let _ = tx.send(r);
            }
            // ng never asks for these; a node without a lease answers so.
            Request::Takeover(tx) => {
                let _ = tx.send(Err(Error::NotFound("this node has no lease".into())));
            }
            Request::HaState(tx) => {
                let _ = tx.send(Err(Error::NotFound("this node has no lease".into())));
            }
        }
    }
}

fn validated() -> Validated {
    Config::parse(CONFIG).expect("the target's configuration parses").validate().expect("and validates")
}

/// Runs `fut` to completion on this thread, answering the control requests
/// it makes in between.
fn run<T>(fut: impl Future<Output = T>, sessions: &mut Sessions, requests: &Receiver<Request>) -> T {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let mut answered = false;
        while let Ok(r) = requests.try_recv() {
            sessions.handle(r);
            answered = true;
        }
        assert!(answered, "the engine waits on something other than the control loop");
    }
}

fuzz_target!(|data: &[u8]| {
    let config = validated();
    let ifaces = config
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, c)| IfaceInfo { config: c.clone(), port_id: i as u16, mac: MacAddr([2, 0, 0, 0, 0, i as u8]) })
        .collect();
    static IDENTITY: std::sync::OnceLock<mediafwd_dtls::Identity> = std::sync::OnceLock::new();
    let identity = IDENTITY.get_or_init(|| mediafwd_dtls::Identity::generate("fuzz").expect("a certificate")).clone();
    let mut sessions = Sessions { manager: SessionManager::new(ifaces, 1 << 10), webrtc: WebrtcLegs::new(identity) };
    let (tx, requests) = crossbeam_channel::bounded(64);
    let mut engine = Engine::new(tx, ng::settings(&config));
    let peer: IpAddr = "127.0.0.1".parse().expect("an address");
    for datagram in data.split(|&b| b == 0).take(8) {
        let Ok(frame) = Frame::parse(datagram) else { continue };
        let reply = run(engine.handle(frame.body, peer), &mut sessions, &requests);
        let dict = reply.as_dict().expect("a reply is a dictionary");
        let result = dict.get(&b"result"[..]).and_then(Value::as_str).expect("a reply has a result");
        if result == "error" {
            assert!(dict.contains_key(&b"error-reason"[..]), "an error says why: {reply}");
        }
        let framed = frame_reply(frame.cookie, &reply);
        assert!(framed.starts_with(frame.cookie));
        assert_eq!(bencode::decode(&framed[frame.cookie.len() + 1..]).as_ref(), Ok(&reply));
    }
});
