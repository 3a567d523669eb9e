//! The control core: the one owner of the sessions, the slow path and the
//! dataplane handle, speaking the session model only. Front-ends (the gRPC
//! API in `api/`, rtpengine's ng protocol in `ng/`, `/metrics`) translate
//! their wire requests into [`Request`]s, send them here and await the
//! answer: a view of a session or the node ([`view`]) or an [`Error`] kind,
//! which each front-end writes in its own wire form. Every change is applied
//! whole and in order, without locks; between requests the loop serves the
//! slow path, the workers' events, media timeouts and draining, and publishes
//! [`Event`]s to whoever watches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use mediafwd_dataplane::flow::{Command, Event as DpEvent};
use mediafwd_dataplane::node::Tsc;
use mediafwd_dataplane::srtp::{Context, Policy};
use tokio::sync::broadcast;

use crate::ha::Keeper;
use crate::logging::{session_span, RateLimit};
use crate::metrics::Exposition;
use crate::node::{NeighborResolver, Node};
use crate::session::{Resolver, Session, SessionManager};
use crate::warn_limited;
use crate::webrtc::WebrtcLegs;

mod error;
pub mod ha;
mod observe;
pub mod request;
pub mod view;
mod webrtc;

pub use error::Error;
pub use request::{ask, CreateSession, Drain, ListSessions, Reply, Request, UpdateLeg};
pub use view::{EndReason, Event, EventKind, LegView, NodeStats, SessionPage, SessionState, SessionView};

/// Changes of serving state the API side publishes (health service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Accepting sessions.
    Serving,
    /// Draining: refusing new sessions.
    NotServing,
}

/// A session whose flows are leaving the workers; its final statistics are
/// read (and the caller answered) once every worker has applied the removal.
struct PendingEnd {
    seq: u64,
    session: Session,
    reason: EndReason,
    reply: Option<Reply<SessionView>>,
    since: Instant,
}

/// How long workers may take to drop a session's flows before its final
/// statistics are read anyway.
const END_GRACE: Duration = Duration::from_secs(1);

/// The loop's state.
pub struct Control {
    pending_ends: std::collections::VecDeque<PendingEnd>,
    node: Node,
    requests: Receiver<Request>,
    events: broadcast::Sender<Event>,
    serving: tokio::sync::watch::Sender<Serving>,
    drain: Option<Drain>,
    stop: Arc<AtomicBool>,
    started: Instant,
    started_unix: f64,
    tsc_hz: u64,
    tally: Tally,
    watch: Watch,
    /// SRTP contexts the workers stopped using, each with the command after
    /// which no worker holds it: dropped here once every worker applied it.
    retiring: Vec<(u64, Vec<Arc<Context>>)>,
    /// The session store, if sessions are kept (`[ha]`).
    keeper: Option<Keeper>,
    /// The WebRTC legs (ICE-lite, DTLS-SRTP).
    webrtc: WebrtcLegs,
    /// The lease, the role and the follower, with `[ha] lease_ms`.
    ha: Option<ha::Ha>,
}

/// What happened to sessions since start.
#[derive(Default)]
struct Tally {
    created: u64,
    /// In [`EndReason::ALL`] order.
    ended: [u64; 3],
    latched: u64,
}

/// Counters the loop watches for trouble, as last seen, and the limits on
/// the warnings they cause (a fault that lasts logs a few lines a minute,
/// with the count of those left out).
struct Watch {
    last: Vec<(String, u64)>,
    limits: std::collections::HashMap<String, RateLimit>,
}

impl Watch {
    /// Warns when `key`'s counter rose since last seen.
    fn check(&mut self, key: String, now: u64, what: &'static str) {
        let prev = match self.last.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => std::mem::replace(v, now),
            None => {
                self.last.push((key, now));
                return;
            }
        };
        if now > prev {
            let limit = self.limits.entry(key.clone()).or_insert_with(|| RateLimit::new(3, Duration::from_secs(60)));
            warn_limited!(limit, counter = key, delta = now - prev, total = now, "{what}");
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

impl Control {
    /// A loop over `node`, answering `requests`.
    pub fn new(
        mut node: Node,
        requests: Receiver<Request>,
        events: broadcast::Sender<Event>,
        serving: tokio::sync::watch::Sender<Serving>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let tally = Tally { created: node.sessions.len() as u64, ..Tally::default() };
        let mut webrtc = match mediafwd_dtls::Identity::generate("mediafwd") {
            Ok(id) => WebrtcLegs::new(id),
            Err(e) => {
                tracing::error!(error = %e, "no DTLS certificate: WebRTC legs are refused");
                WebrtcLegs::default()
            }
        };
        // WebRTC legs restored from the store: consent checks answered, SRTP on their keys.
        for s in std::mem::take(&mut node.restored_webrtc) {
            match webrtc.restore(&s, Instant::now()) {
                Ok(creds) => node.slow.set_ice_leg(s.local, creds),
                Err(e) => tracing::error!(session = s.session_id, error = %e, "stored WebRTC leg not restored"),
            }
        }
        Control {
            pending_ends: Default::default(),
            node,
            requests,
            events,
            serving,
            drain: None,
            stop,
            started: Instant::now(),
            started_unix: unix_now(),
            tsc_hz: Tsc::hz(),
            tally,
            watch: Watch { last: Vec::new(), limits: Default::default() },
            retiring: Vec::new(),
            keeper: None,
            webrtc,
            ha: None,
        }
    }

    /// Keeps every change of a session in the store of `keeper`.
    pub fn keep_sessions(mut self, keeper: Option<Keeper>) -> Self {
        self.keeper = keeper;
        self
    }

    fn kept(&self, id: &str) {
        if self.is_standby() {
            return;
        }
        if let (Some(k), Some(s)) = (&self.keeper, self.node.sessions.get(id)) {
            k.changed_with_webrtc(s, &self.webrtc_snapshots(id));
        }
    }

    /// Runs until `stop` is set (by a signal, or by a drain that emptied the node).
    pub fn run(mut self) -> Node {
        let mut commands = Vec::new();
        let mut last_check = Instant::now();
        let mut last_report = Instant::now();
        tracing::info!(
            interfaces = self.node.sessions.interfaces().len(),
            sessions = self.node.sessions.len(),
            "ready"
        );
        while !self.stop.load(Ordering::Relaxed) {
            // While sessions are ending, come back soon to answer them.
            let wait = if self.pending_ends.is_empty() { Duration::from_millis(1) } else { Duration::from_micros(20) };
            match self.requests.recv_timeout(wait) {
                Ok(r) => {
                    self.handle(r);
                    // Take what else is waiting, a bounded number, before the slow path's turn.
                    for _ in 0..255 {
                        let Ok(r) = self.requests.try_recv() else { break };
                        self.handle(r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(1)),
            }
            self.finish_ends();
            self.node.slow.poll(Instant::now(), &mut commands);
            self.send(commands.drain(..));
            self.serve_webrtc(Instant::now());
            while let Ok(ev) = self.node.dataplane.events().try_recv() {
                self.on_dataplane_event(ev);
            }
            self.release_contexts();
            self.poll_ha();
            if last_check.elapsed() >= Duration::from_millis(500) {
                last_check = Instant::now();
                // A standby sees no media: its sessions end when the active's do.
                if !self.is_standby() {
                    self.expire_sessions();
                    if let Some(k) = &mut self.keeper {
                        let webrtc = &self.webrtc;
                        k.checkpoint_streams(&self.node.sessions, &self.node.dataplane, &|id| webrtc.snapshots_of(id));
                    }
                }
                self.check_drained();
                self.watch_counters();
            }
            if last_report.elapsed() >= self.node.stats_interval {
                last_report = Instant::now();
                self.node.log_stats();
            }
        }
        self.node
    }

    fn send(&mut self, commands: impl IntoIterator<Item = Command>) -> u64 {
        let mut seq = self.node.dataplane.last_seq();
        for c in commands {
            seq = self.node.dataplane.send(c);
        }
        let retired = self.node.sessions.take_retired();
        if !retired.is_empty() {
            self.retiring.push((seq, retired));
        }
        seq
    }

    /// Drops the SRTP contexts no worker holds any more.
    fn release_contexts(&mut self) {
        if self.retiring.is_empty() {
            return;
        }
        let applied = self.node.dataplane.applied_seq();
        self.retiring.retain(|(seq, _)| *seq > applied);
    }

    fn handle(&mut self, r: Request) {
        match r {
            Request::Create(_, reply) | Request::Update(_, reply) | Request::Delete(_, reply)
                if self.standby_refusal().is_some() =>
            {
                let _ = reply.send(Err(self.standby_refusal().expect("refusing changes")));
            }
            Request::Create(req, reply) => {
                let _s = session_span(&req.id).entered();
                let _ = reply.send(self.create(*req));
            }
            Request::Update(req, reply) => {
                let _s = session_span(&req.session_id).entered();
                let _ = reply.send(self.update(*req));
            }
            Request::Takeover(reply) => self.take_over(reply),
            Request::HaState(reply) => {
                let _ = reply.send(self.ha_state().ok_or_else(|| Error::NotFound("this node has no lease".into())));
            }
            Request::Delete(id, reply) => {
                let _s = session_span(&id).entered();
                if let Err(e) = self.end(&id, EndReason::Deleted, Some(reply)) {
                    // `end` hands the reply back only on success; answer the error here.
                    let (reply, error) = *e;
                    if let Some(r) = reply {
                        let _ = r.send(Err(error));
                    }
                }
            }
            Request::Get(id, reply) => {
                let r = self
                    .node
                    .sessions
                    .get(&id)
                    .map(|s| self.view(s))
                    .ok_or_else(|| Error::NotFound(format!("no session {id:?}")));
                let _ = reply.send(r);
            }
            Request::List(req, reply) => {
                let _ = reply.send(self.list(req));
            }
            Request::Stats(reply) => {
                let _ = reply.send(Ok(self.node_stats()));
            }
            Request::Webrtc(req, reply) => {
                let _s = session_span(&req.session_id).entered();
                let _ = reply.send(self.setup_webrtc(*req));
            }
            Request::Metrics(reply) => {
                let mut e = Exposition::new();
                crate::metrics::node::render(&self.snapshot(), &mut e);
                let _ = reply.send(Ok(e.finish()));
            }
            Request::Drain(req, reply) => {
                tracing::info!(
                    reason = req.reason,
                    exit_when_empty = req.exit_when_empty,
                    sessions = self.node.sessions.len(),
                    "draining"
                );
                self.drain = Some(req);
                let _ = self.serving.send(Serving::NotServing);
                let _ = reply.send(Ok(self.node.sessions.len()));
            }
        }
    }

    fn create(&mut self, req: CreateSession) -> Result<SessionView, Error> {
        if let Some(d) = &self.drain {
            return Err(Error::Unavailable(format!(
                "this node is draining ({}); create the session on another node",
                d.reason
            )));
        }
        let (session, commands) =
            create_session(&mut self.node.sessions, req, &mut NeighborResolver(&mut self.node.slow), Instant::now())?;
        if !commands.is_empty() {
            self.tally.created += 1;
            tracing::info!(a = %session.legs[0].local, b = %session.legs[1].local, "session created");
            self.kept(&session.id);
        }
        self.send(commands);
        Ok(self.view(&session))
    }

    fn update(&mut self, req: UpdateLeg) -> Result<SessionView, Error> {
        let leg = req.leg.clone();
        let (session, commands) = update_leg(&mut self.node.sessions, req, &mut NeighborResolver(&mut self.node.slow))?;
        tracing::info!(leg, "leg updated");
        self.kept(&session.id);
        self.send(commands);
        Ok(self.view(&session))
    }

    /// Ends a session: its flows leave every worker; once they have, its
    /// final statistics are read, its flow slots freed and `reply` answered
    /// ([`Control::finish_ends`]). The loop serves other requests meanwhile.
    #[allow(clippy::type_complexity)]
    fn end(
        &mut self,
        id: &str,
        reason: EndReason,
        reply: Option<Reply<SessionView>>,
    ) -> Result<(), Box<(Option<Reply<SessionView>>, Error)>> {
        let (session, commands) = match self.node.sessions.delete(id, Instant::now()) {
            Ok(r) => r,
            Err(e) => return Err(Box::new((reply, e.into()))),
        };
        if let Some(k) = &mut self.keeper {
            k.ended(id);
        }
        self.end_webrtc(id);
        let seq = self.send(commands);
        self.pending_ends.push_back(PendingEnd { seq, session, reason, reply, since: Instant::now() });
        self.finish_ends();
        Ok(())
    }

    /// Completes the ends whose removal every worker has applied (or that
    /// waited longer than [`END_GRACE`]).
    fn finish_ends(&mut self) {
        let applied = self.node.dataplane.applied_seq();
        while let Some(p) = self.pending_ends.front() {
            let late = p.since.elapsed() >= END_GRACE;
            if p.seq > applied && !late {
                break;
            }
            let PendingEnd { session, reason, reply, .. } = self.pending_ends.pop_front().expect("front exists");
            let _s = session_span(&session.id).entered();
            if late {
                tracing::warn!("workers slow to remove flows; final statistics may be short");
            }
            let mut view = self.view(&session);
            view.state = SessionState::Ended(reason);
            self.node.sessions.release_ids(&session);
            if let Some(i) = EndReason::ALL.iter().position(|r| *r == reason) {
                self.tally.ended[i] += 1;
            }
            tracing::info!(reason = reason.name(), "session ended");
            self.publish(&session.id, EventKind::SessionEnded(Box::new(view.clone())));
            if let Some(r) = reply {
                let _ = r.send(Ok(view));
            }
        }
    }

    fn publish(&self, session_id: &str, kind: EventKind) {
        // No watcher is not an error.
        let _ = self.events.send(Event { time: unix_now(), session_id: session_id.to_string(), kind });
    }

    fn view(&self, s: &Session) -> SessionView {
        let now_tsc = Tsc::now();
        let mut v = SessionView::of(s, self.node.sessions.interfaces(), |l| {
            let rtp = self.node.dataplane.flow_stats(l.flow_ids.0);
            let rtcp = self.node.dataplane.flow_stats(l.flow_ids.1);
            view::LegStats::of(&rtp, &rtcp, now_tsc, self.tsc_hz, l.request.clock_rate)
        });
        for l in &mut v.legs {
            l.webrtc = self.webrtc.view(&l.local);
        }
        v
    }

    fn list(&self, req: ListSessions) -> Result<SessionPage, Error> {
        let size = match req.page_size {
            0 => 100,
            n if n <= 1000 => n as usize,
            n => return Err(Error::invalid("page_size", format!("{n}: at most 1000"))),
        };
        let mut matching: Vec<&Session> = self
            .node
            .sessions
            .sessions()
            .filter(|s| s.id.starts_with(&req.id_prefix))
            .filter(|s| {
                req.interface.is_empty()
                    || s.legs.iter().any(|l| self.node.sessions.interfaces()[l.iface].config.name == req.interface)
            })
            .collect();
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        let total = matching.len() as u32;
        let page: Vec<&Session> =
            matching.into_iter().filter(|s| s.id.as_str() > req.page_token.as_str()).take(size + 1).collect();
        let more = page.len() > size;
        let page = &page[..page.len().min(size)];
        Ok(SessionPage {
            sessions: page.iter().map(|s| self.view(s)).collect(),
            next_page_token: if more { page.last().map(|s| s.id.clone()).unwrap_or_default() } else { String::new() },
            total,
        })
    }

    fn node_stats(&mut self) -> NodeStats {
        let now = Instant::now();
        let ports = self
            .node
            .io
            .ports()
            .map(|p| view::PortStats {
                port_id: p.id,
                device: p.device.clone(),
                driver: p.driver.clone(),
                counters: p.stats(),
            })
            .collect();
        let lcores = self.node.dataplane.lcores();
        let workers = self
            .node
            .dataplane
            .worker_stats()
            .iter()
            .enumerate()
            .map(|(i, w)| view::WorkerStats {
                worker: i as u32,
                lcore: lcores[i],
                rx_packets: w.rx_packets,
                tx_packets: w.tx_packets,
                busy: w.busy_cycles as f64 / w.total_cycles.max(1) as f64,
                drops: mediafwd_dataplane::stats::DropReason::ALL
                    .iter()
                    .filter(|r| w.dropped(**r) > 0)
                    .map(|r| (r.name(), w.dropped(*r)))
                    .collect(),
            })
            .collect();
        let n_ifaces = self.node.sessions.interfaces().len();
        let interfaces = (0..n_ifaces)
            .map(|i| {
                let (in_use, free) = self.node.sessions.port_usage(i, now);
                let info = &self.node.sessions.interfaces()[i];
                view::InterfaceStats {
                    name: info.config.name.clone(),
                    port_id: info.port_id,
                    ports_in_use: in_use as u32,
                    ports_free: free as u32,
                    sessions: self.node.sessions.sessions().filter(|s| s.legs.iter().any(|l| l.iface == i)).count()
                        as u32,
                }
            })
            .collect();
        NodeStats {
            ports,
            workers,
            interfaces,
            sessions: self.node.sessions.len() as u32,
            draining: self.drain.as_ref().map(|d| d.reason.clone()),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            srtp_engine: mediafwd_dataplane::srtp::engine::current().name().to_string(),
            srtp_engine_detail: mediafwd_dataplane::srtp::engine::describe(mediafwd_dataplane::srtp::engine::current()),
        }
    }

    fn on_dataplane_event(&mut self, ev: DpEvent) {
        match ev {
            DpEvent::Latched { key, remote, .. } => {
                let r = self.node.sessions.on_latched(&key, remote, &mut NeighborResolver(&mut self.node.slow));
                if let Some((id, leg, commands)) = r {
                    let _s = session_span(&id).entered();
                    self.tally.latched += 1;
                    let label =
                        self.node.sessions.get(&id).map(|s| s.legs[leg].request.label.clone()).unwrap_or_default();
                    tracing::info!(leg = label, %remote, "latched");
                    self.kept(&id);
                    self.send(commands);
                    self.publish(&id, EventKind::Latched { leg: label, remote });
                }
            }
            DpEvent::SrtpAuthFailures { key, count, .. } => {
                let Some((s, leg)) = self.node.sessions.leg_of(&key) else { return };
                let (id, label) = (s.id.clone(), s.legs[leg].request.label.clone());
                tracing::warn!(session = id, leg = label, count, "SRTP authentication failures");
                self.publish(&id, EventKind::SrtpAuthFailures { leg: label, count });
            }
            DpEvent::NeighborMissing { next_hop, .. } => tracing::debug!(next_hop, "next hop unresolved"),
        }
    }

    /// Ends sessions idle (neither media nor a change) past their media
    /// timeout, or older than their lifetime.
    fn expire_sessions(&mut self) {
        let now_tsc = Tsc::now();
        let mut ended = Vec::new();
        for s in self.node.sessions.sessions() {
            let last = s
                .legs
                .iter()
                .flat_map(|l| [l.flow_ids.0, l.flow_ids.1])
                .map(|id| self.node.dataplane.flow_stats(id).last_tsc)
                .max()
                .unwrap_or(0);
            // Idle: no media and no signalling (a change of the session).
            let idle = if last == 0 {
                s.touched.elapsed()
            } else {
                Duration::from_secs_f64(now_tsc.saturating_sub(last) as f64 / self.tsc_hz.max(1) as f64)
                    .min(s.touched.elapsed())
            };
            if idle >= s.media_timeout {
                ended.push((s.id.clone(), EndReason::MediaTimeout, idle));
            } else if s.max_lifetime.is_some_and(|m| s.created.elapsed() >= m) {
                ended.push((s.id.clone(), EndReason::MaxLifetime, idle));
            }
        }
        for (id, reason, idle) in ended {
            let _s = session_span(&id).entered();
            if reason == EndReason::MediaTimeout {
                self.publish(&id, EventKind::MediaTimeout { idle_seconds: idle.as_secs_f64() });
            }
            let _ = self.end(&id, reason, None);
        }
    }

    fn check_drained(&mut self) {
        if let Some(d) = &self.drain {
            if d.exit_when_empty && self.node.sessions.is_empty() && self.pending_ends.is_empty() {
                tracing::info!("drained: no session left, exiting");
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// A session created on a node's sessions: the request checked, the legs
/// allocated; the session and the dataplane commands that make it real.
pub fn create_session(
    sessions: &mut SessionManager,
    req: CreateSession,
    resolver: &mut dyn Resolver,
    now: Instant,
) -> Result<(Session, Vec<Command>), Error> {
    if req.id.is_empty() {
        return Err(Error::invalid("session_id", "required"));
    }
    for (i, l) in req.legs.iter().enumerate() {
        check_srtp(&format!("legs[{i}].srtp_inbound"), l.srtp_inbound.as_ref())?;
        check_srtp(&format!("legs[{i}].srtp_outbound"), l.srtp_outbound.as_ref())?;
    }
    Ok(sessions.create(&req.id, req.legs, req.media_timeout, req.max_lifetime, resolver, now)?)
}

/// A leg changed on a node's sessions: all of it or nothing. Returns the
/// session and the commands its workers are to be given.
pub fn update_leg(
    sessions: &mut SessionManager,
    req: UpdateLeg,
    resolver: &mut dyn Resolver,
) -> Result<(Session, Vec<Command>), Error> {
    check_srtp("srtp_inbound", req.srtp_inbound.as_ref().and_then(Option::as_ref))?;
    check_srtp("srtp_outbound", req.srtp_outbound.as_ref().and_then(Option::as_ref))?;
    let UpdateLeg {
        session_id,
        leg,
        remote,
        remote_rtcp,
        rtcp_mux,
        latch,
        strict_source,
        hold,
        label,
        srtp_inbound,
        srtp_outbound,
    } = req;
    let change = |l: &mut crate::session::LegRequest, held: &mut bool| {
        l.remote = remote.or(l.remote);
        l.remote_rtcp = remote_rtcp.or(l.remote_rtcp);
        l.rtcp_mux = rtcp_mux.unwrap_or(l.rtcp_mux);
        l.latch = latch.unwrap_or(l.latch);
        l.strict_source = strict_source.unwrap_or(l.strict_source);
        *held = hold.unwrap_or(*held);
        if let Some(label) = label {
            l.label = label;
        }
        if let Some(p) = srtp_inbound {
            l.srtp_inbound = p;
        }
        if let Some(p) = srtp_outbound {
            l.srtp_outbound = p;
        }
    };
    Ok(sessions.update_leg(&session_id, &leg, change, resolver)?)
}

/// Checks that `policy` makes an SRTP context (what the workers are given).
pub fn check_srtp(field: &str, policy: Option<&Policy>) -> Result<(), Error> {
    match policy.map(Context::new) {
        Some(Err(e)) => Err(Error::invalid(field, e)),
        _ => Ok(()),
    }
}
