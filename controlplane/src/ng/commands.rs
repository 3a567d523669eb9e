//! The ng commands, with rtpengine's semantics on mediafwd's sessions:
//! `offer` creates (or, re-offered, updates) the relay sessions of a call
//! from the SDP of the side with `from-tag`, `answer` completes them with the
//! SDP of the side with `to-tag` (both in `offer.rs`), `delete` ends the
//! call, `query`, `list` and `statistics` report. Every change goes to the
//! control core as a domain request, as the gRPC API's do, so an ng call is a
//! session like any other; the core's error kinds become `error` or
//! `load limit` replies here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use super::bencode::{Dict, Value};
use super::call::{Call, MediaSlot};
use super::message::{Command, Request};
use super::stats::{self, put, Counters, Rates};
use crate::control::{self, ask, EndReason, EventKind, ListSessions, NodeStats, SessionState, SessionView, UpdateLeg};

/// The message Kamailio's rtpengine module recognises as "try another node".
pub const SESSION_LIMIT: &str = "Parallel session limit reached";

/// An interface and the address families it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// It has an IPv4 address.
    pub v4: bool,
    /// It has an IPv6 address.
    pub v6: bool,
}

/// How the front-end behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The node's interfaces.
    pub interfaces: Vec<Interface>,
    /// The interfaces of a call's sides when an offer names none.
    pub direction: [String; 2],
    /// Delay of a `delete` that gives none.
    pub delete_delay: Duration,
    /// The node's media timeout.
    pub media_timeout: Duration,
    /// How long an offer may wait for its answer.
    pub offer_timeout: Duration,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// `result: error`, with this reason.
    Error(String),
    /// The node takes no new call (draining, or out of ports).
    LoadLimit(String),
}

pub(super) fn error(m: impl Into<String>) -> Failure {
    Failure::Error(m.into())
}

/// The reply to a refusal of the control core: the node's limits (draining,
/// out of ports or flow slots, busy) are a load limit, the rest an error.
pub(super) fn from_error(e: control::Error) -> Failure {
    match e {
        control::Error::Unavailable(_) | control::Error::Exhausted(_) | control::Error::Busy(_) => {
            Failure::LoadLimit(e.to_string())
        }
        _ => Failure::Error(e.to_string()),
    }
}

pub(super) fn required<'a>(v: &'a Option<String>, key: &str) -> Result<&'a str, Failure> {
    v.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| error(format!("No {key} in message")))
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

pub(super) fn is_savp(proto: &str) -> bool {
    proto.starts_with("RTP/SAVP")
}

/// The ng command engine: the calls, and the way to the control loop.
pub struct Engine {
    pub(super) control: Sender<control::Request>,
    pub(super) settings: Settings,
    pub(super) calls: HashMap<String, Call>,
    pub(super) counters: Counters,
    last_sample: Option<(Instant, u64, u64, u64)>,
}

impl Engine {
    /// An engine sending to the control loop through `control`.
    pub fn new(control: Sender<control::Request>, settings: Settings) -> Self {
        Engine { control, settings, calls: HashMap::new(), counters: Counters::default(), last_sample: None }
    }

    /// Calls known.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Answers one request dictionary from `peer`: the reply dictionary.
    pub async fn handle(&mut self, body: &[u8], peer: IpAddr) -> Value {
        let req = match Request::decode(body) {
            Ok(r) => r,
            Err(e) => {
                self.counters.command(peer, None, true);
                return reply_error(&e);
            }
        };
        let mut warnings = Vec::new();
        if !req.ignored_keys.is_empty() {
            warnings.push(format!("ignored keys: {}", req.ignored_keys.join(", ")));
        }
        let (index, result) = match &req.command {
            None => (None, Err(error("No command in message"))),
            Some(Command::Ping) => (Some(0), Ok(None)),
            Some(Command::Offer) => (Some(1), self.offer(&req, &mut warnings).await.map(Some)),
            Some(Command::Answer) => (Some(2), self.answer(&req, &mut warnings).await.map(Some)),
            Some(Command::Delete) => (Some(3), self.delete(&req, &mut warnings).await.map(Some)),
            Some(Command::Query) => (Some(4), self.query(&req).await.map(Some)),
            Some(Command::List) => (Some(5), self.list(&req).await.map(Some)),
            Some(Command::Statistics) => (Some(6), self.statistics().await.map(Some)),
            Some(Command::Other(c)) => (None, Err(error(format!("Unrecognized command {c:?}")))),
        };
        self.counters.command(peer, index, result.is_err());
        match result {
            Ok(None) => {
                let mut d = Dict::new();
                put(&mut d, "result", "pong");
                Value::Dict(d)
            }
            Ok(Some(mut d)) => {
                put(&mut d, "result", "ok");
                if !warnings.is_empty() {
                    put(&mut d, "warning", warnings.join("; "));
                }
                Value::Dict(d)
            }
            Err(Failure::Error(e)) => reply_error(&e),
            Err(Failure::LoadLimit(m)) => {
                self.counters.rejected += 1;
                let mut d = Dict::new();
                if req.supports.iter().any(|s| s == "load limit") {
                    put(&mut d, "result", "load limit");
                    put(&mut d, "message", m);
                } else {
                    put(&mut d, "result", "error");
                    put(&mut d, "error-reason", SESSION_LIMIT);
                }
                Value::Dict(d)
            }
        }
    }

    /// Removes the calls whose `delete delay` ran out, and keeps calls that
    /// ring (an offer without its answer, so no media yet) from the media
    /// timeout until the offer timeout.
    pub async fn tick(&mut self, now: Instant) {
        let due: Vec<String> =
            self.calls.values().filter(|c| c.delete_at.is_some_and(|t| t <= now)).map(|c| c.id.clone()).collect();
        for id in due {
            if let Some(call) = self.calls.remove(&id) {
                self.end(call).await;
            }
        }
        // Calls with nothing to relay (every stream disabled) that nobody
        // deletes are forgotten after the offer timeout.
        let stale = unix_now() - self.settings.offer_timeout.as_secs_f64();
        self.calls.retain(|_, c| c.is_relaying() || c.last_signal > stale);
        let every = (self.settings.media_timeout / 3).clamp(Duration::from_millis(500), Duration::from_secs(20));
        let ringing: Vec<(String, Vec<(String, String)>)> = self
            .calls
            .values_mut()
            .filter(|c| c.delete_at.is_none())
            .filter(|c| c.awaiting_answer.is_some_and(|t| now.duration_since(t) < self.settings.offer_timeout))
            .filter(|c| c.refreshed.is_none_or(|t| now.duration_since(t) >= every))
            .map(|c| {
                c.refreshed = Some(now);
                let sessions = c.media.iter().filter_map(|m| Some((m.session.clone()?, m.labels[0].clone()))).collect();
                (c.id.clone(), sessions)
            })
            .collect();
        for (_, sessions) in ringing {
            for (session_id, leg) in sessions {
                // A change of nothing: signalling the session is alive.
                let req = UpdateLeg::of(session_id, leg);
                let _ = self.ask(|tx| control::Request::Update(Box::new(req), tx)).await;
            }
        }
    }

    /// A session ended without this front-end asking (a media timeout, the
    /// gRPC API): its media section stops; a call with none left is gone.
    pub fn on_event(&mut self, ev: &control::Event) {
        let EventKind::SessionEnded(ended) = &ev.kind else { return };
        let (call_id, index) = super::call::parse_session_id(&ev.session_id);
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let Some(slot) = call.media.get_mut(index) else { return };
        let locals = ended.legs.each_ref().map(|l| Some(l.local));
        if slot.session.as_deref() != Some(ev.session_id.as_str()) || locals != slot.locals {
            return;
        }
        slot.session = None;
        if !call.is_relaying() {
            if ended.state == SessionState::Ended(EndReason::MediaTimeout) {
                self.counters.timeouts += 1;
            }
            let created = call.created;
            self.calls.remove(call_id);
            self.counters.ended(unix_now() - created);
        }
    }

    /// After session events were lost: forgets the sessions that no longer
    /// exist, and the calls left without any.
    pub async fn reconcile(&mut self) {
        let mut live = std::collections::HashSet::new();
        let mut token = String::new();
        loop {
            let page = ListSessions { page_size: 1000, page_token: token, ..Default::default() };
            let Ok(l) = self.ask(|tx| control::Request::List(page, tx)).await else { return };
            live.extend(l.sessions.into_iter().map(|s| s.id));
            if l.next_page_token.is_empty() {
                break;
            }
            token = l.next_page_token;
        }
        for call in self.calls.values_mut() {
            for slot in &mut call.media {
                if slot.session.as_ref().is_some_and(|id| !live.contains(id)) {
                    slot.session = None;
                }
            }
        }
        self.calls.retain(|_, c| c.is_relaying() || c.awaiting_answer.is_some());
    }

    pub(super) async fn ask<T>(
        &self,
        make: impl FnOnce(control::Reply<T>) -> control::Request,
    ) -> Result<T, control::Error> {
        ask(&self.control, make).await
    }

    /// Deletes every session of a call; their final views.
    pub(super) async fn end(&mut self, mut call: Call) -> Vec<Option<SessionView>> {
        let mut views = Vec::new();
        for slot in &mut call.media {
            views.push(match slot.session.take() {
                Some(id) => self.ask(|tx| control::Request::Delete(id, tx)).await.ok(),
                None => None,
            });
        }
        self.counters.deleted += 1;
        self.counters.ended(unix_now() - call.created);
        views
    }

    pub(super) async fn drop_session(&self, slot: &mut MediaSlot) {
        if let Some(id) = slot.session.take() {
            let _ = self.ask(|tx| control::Request::Delete(id, tx)).await;
        }
    }

    pub(super) fn interface(&self, name: &str) -> Result<&Interface, Failure> {
        self.settings.interfaces.iter().find(|i| i.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.settings.interfaces.iter().map(|i| i.name.as_str()).collect();
            error(format!("no interface named {name:?} (this node has {})", names.join(", ")))
        })
    }

    async fn delete(&mut self, req: &Request, warnings: &mut Vec<String>) -> Result<Dict, Failure> {
        let call_id = required(&req.call_id, "call-id")?;
        let fatal = req.flag("fatal");
        let not_found = |why: String| if fatal { Err(error(why)) } else { Ok(why) };
        let Some(call) = self.calls.get(call_id) else {
            warnings.push(not_found(format!("Call-ID {call_id:?} not found"))?);
            return Ok(Dict::new());
        };
        for (key, tag) in [("from-tag", &req.from_tag), ("to-tag", &req.to_tag)] {
            if let Some(t) = tag.as_deref().filter(|t| !t.is_empty()) {
                if call.leg_of(t).is_none() {
                    warnings.push(not_found(format!("{key} {t:?} is not a side of call {call_id:?}"))?);
                    return Ok(Dict::new());
                }
            }
        }
        let delay = match req.delete_delay {
            Some(d) if d >= 0 => Duration::from_secs(d.min(3600) as u64),
            _ => self.settings.delete_delay,
        };
        let now = unix_now();
        if !delay.is_zero() {
            let views = self.views(call).await;
            let call = self.calls.get_mut(call_id).expect("checked");
            call.delete_at = Some(Instant::now() + delay);
            return Ok(stats::call_stats(call, &views, now));
        }
        let call = self.calls.remove(call_id).expect("checked");
        let views = self.end(call.clone()).await;
        Ok(stats::call_stats(&call, &views, now))
    }

    async fn views(&self, call: &Call) -> Vec<Option<SessionView>> {
        let mut views = Vec::new();
        for slot in &call.media {
            views.push(match &slot.session {
                Some(id) => self.ask(|tx| control::Request::Get(id.clone(), tx)).await.ok(),
                None => None,
            });
        }
        views
    }

    async fn query(&mut self, req: &Request) -> Result<Dict, Failure> {
        let call_id = required(&req.call_id, "call-id")?;
        let now = unix_now();
        if let Some(call) = self.calls.get(call_id) {
            let views = self.views(call).await;
            return Ok(stats::call_stats(call, &views, now));
        }
        // A session of another front-end.
        match self.ask(|tx| control::Request::Get(call_id.to_string(), tx)).await {
            Ok(s) => Ok(stats::call_stats(&stats::call_of_session(&s, now), &[Some(s)], now)),
            Err(_) => Err(error(format!("Unknown call-ID {call_id:?}"))),
        }
    }

    async fn list(&mut self, req: &Request) -> Result<Dict, Failure> {
        let limit = req.limit.unwrap_or(32);
        if limit <= 0 {
            return Err(error("limit: a positive number"));
        }
        let page = ListSessions { page_size: limit.min(1000) as u32, ..Default::default() };
        let l = self.ask(|tx| control::Request::List(page, tx)).await.map_err(from_error)?;
        let calls: Vec<Value> = l
            .sessions
            .iter()
            .filter(|s| {
                // A call's further media sections are not calls.
                let (call, k) = super::call::parse_session_id(&s.id);
                k == 0 || !self.calls.contains_key(call)
            })
            .map(|s| Value::str(&s.id))
            .collect();
        let mut d = Dict::new();
        put(&mut d, "calls", calls);
        Ok(d)
    }

    async fn statistics(&mut self) -> Result<Dict, Failure> {
        let node: NodeStats = self.ask(control::Request::Stats).await.map_err(from_error)?;
        let packets: u64 = node.workers.iter().map(|w| w.tx_packets).sum();
        let bytes: u64 = node.ports.iter().map(|p| p.counters.tx_bytes).sum();
        let errors: u64 = node.workers.iter().map(|w| w.dropped()).sum();
        let now = Instant::now();
        let rates = match self.last_sample {
            Some((t, p, b, e)) if now > t => {
                let dt = now.duration_since(t).as_secs_f64();
                Rates {
                    packets: packets.saturating_sub(p) as f64 / dt,
                    bytes: bytes.saturating_sub(b) as f64 / dt,
                    errors: errors.saturating_sub(e) as f64 / dt,
                }
            }
            _ => {
                let up = node.uptime_seconds.max(1.0);
                Rates { packets: packets as f64 / up, bytes: bytes as f64 / up, errors: errors as f64 / up }
            }
        };
        self.last_sample = Some((now, packets, bytes, errors));
        Ok(stats::statistics(&node, self.calls.len(), &self.counters, rates))
    }
}

/// `result: error` with its reason, and nothing else (as the protocol wants).
pub fn reply_error(reason: &str) -> Value {
    let mut d = Dict::new();
    put(&mut d, "result", "error");
    put(&mut d, "error-reason", reason);
    Value::Dict(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_s_limits_are_a_load_limit_the_rest_an_error() {
        for e in [
            control::Error::Unavailable("this node is draining".into()),
            control::Error::Exhausted("no free relay port".into()),
            control::Error::Busy("the control plane is busy; retry".into()),
        ] {
            assert_eq!(from_error(e.clone()), Failure::LoadLimit(e.to_string()));
        }
        let e = control::Error::invalid("legs[0].clock_rate", "0 is not an RTP clock rate");
        assert_eq!(from_error(e), Failure::Error("legs[0].clock_rate: 0 is not an RTP clock rate".into()));
        assert_eq!(from_error(control::Error::NotFound("no session \"x\"".into())), error("no session \"x\""));
    }
}
