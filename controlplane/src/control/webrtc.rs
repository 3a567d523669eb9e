//! The control loop's side of WebRTC legs: setups from the front-ends, the
//! slow path's ICE events and DTLS datagrams into [`WebrtcLegs`], and its
//! [`Action`]s applied to the sessions (latch, hold, SRTP keys), the slow
//! path (DTLS out) and the watchers (events).

use std::net::SocketAddr;
use std::time::Instant;

use super::{update_leg, Control, Error, EventKind, UpdateLeg};
use crate::logging::session_span;
use crate::node::NeighborResolver;
use crate::webrtc::{Action, WebrtcEvent, WebrtcSetup, WebrtcSnapshot, WebrtcView};

impl Control {
    /// Makes a leg a WebRTC leg, or changes it.
    pub(super) fn setup_webrtc(&mut self, req: WebrtcSetup) -> Result<WebrtcView, Error> {
        let s = self
            .node
            .sessions
            .get(&req.session_id)
            .ok_or_else(|| Error::NotFound(format!("no session {:?}", req.session_id)))?;
        let leg = s
            .legs
            .iter()
            .find(|l| l.request.label == req.leg)
            .ok_or_else(|| Error::NotFound(format!("no leg {:?} in session {:?}", req.leg, req.session_id)))?;
        let local = leg.local;
        let mut actions = Vec::new();
        let (view, creds) = self
            .webrtc
            .setup(local, &req, Instant::now(), &mut actions)
            .map_err(|e| Error::Unavailable(format!("WebRTC leg {:?}: {e}", req.leg)))?;
        self.node.slow.set_ice_leg(local, creds);
        // No media towards the peer before its keys: nothing in clear while
        // the handshake runs (counted `no_remote`). Nomination and keys
        // together release it.
        if !self.webrtc_keyed(local) {
            actions.insert(0, Action::Hold { local });
        }
        self.apply_webrtc(actions);
        self.kept(&req.session_id);
        Ok(view)
    }

    /// Serves the WebRTC legs: ICE events, DTLS datagrams, handshake timers.
    pub(super) fn serve_webrtc(&mut self, now: Instant) {
        let mut ice = Vec::new();
        self.node.slow.drain_ice_events(&mut ice);
        let mut dtls = Vec::new();
        self.node.slow.drain_dtls(&mut dtls);
        let mut actions = Vec::new();
        for (local, ev) in ice {
            let route = self.node.slow.ice_route(&local);
            self.webrtc.on_ice(local, ev, route, now, &mut actions);
        }
        for d in dtls {
            self.webrtc.on_dtls(d, now, &mut actions);
        }
        self.webrtc.poll(now, &mut actions);
        self.apply_webrtc(actions);
    }

    /// Forgets the WebRTC legs of session `id`.
    pub(super) fn end_webrtc(&mut self, id: &str) {
        for local in self.webrtc.of_session(id) {
            self.webrtc.remove(&local);
            self.node.slow.remove_ice_leg(&local);
        }
    }

    /// The durable WebRTC facts of session `id`, for its exported state.
    pub fn webrtc_snapshots(&self, id: &str) -> Vec<WebrtcSnapshot> {
        self.webrtc.snapshots_of(id)
    }

    /// Restores a WebRTC leg carried from another node (its session exists).
    pub fn restore_webrtc(&mut self, s: &WebrtcSnapshot) -> Result<(), Error> {
        let creds = self
            .webrtc
            .restore(s, Instant::now())
            .map_err(|e| Error::invalid("webrtc", format!("the carried DTLS state does not restore: {e}")))?;
        self.node.slow.set_ice_leg(s.local, creds);
        Ok(())
    }

    /// Whether the WebRTC leg on `local` runs on its handshake's keys.
    fn webrtc_keyed(&self, local: SocketAddr) -> bool {
        self.webrtc.view(&local).is_some_and(|v| v.dtls == "connected")
    }

    /// The session and label of the leg on `local`.
    fn leg_at(&self, local: SocketAddr) -> Option<(String, String)> {
        self.node
            .sessions
            .sessions()
            .find_map(|s| s.legs.iter().find(|l| l.local == local).map(|l| (s.id.clone(), l.request.label.clone())))
    }

    fn apply_webrtc(&mut self, actions: Vec<Action>) {
        for a in actions {
            let local = match &a {
                Action::Send(d) => {
                    self.node.slow.send_dtls(d);
                    continue;
                }
                Action::Latch { local, .. }
                | Action::Hold { local }
                | Action::Keys { local, .. }
                | Action::Event { local, .. } => *local,
            };
            let Some((id, label)) = self.leg_at(local) else { continue };
            let _s = session_span(&id).entered();
            let mut change = UpdateLeg::of(id.clone(), label.clone());
            match a {
                Action::Latch { remote, .. } => {
                    change.remote = Some(remote);
                    change.remote_rtcp = Some(remote);
                    // Media flows once the pair is nominated and the leg keyed.
                    change.hold = Some(!self.webrtc_keyed(local));
                }
                Action::Hold { .. } => change.hold = Some(true),
                Action::Keys { inbound, outbound, .. } => {
                    change.srtp_inbound = Some(Some(inbound));
                    change.srtp_outbound = Some(Some(outbound));
                    if self.webrtc.view(&local).is_some_and(|v| v.nominated.is_some()) {
                        change.hold = Some(false);
                    }
                }
                Action::Event { event, .. } => {
                    match &event {
                        WebrtcEvent::DtlsFailed(reason) => tracing::warn!(leg = label, reason, "DTLS handshake failed"),
                        e => tracing::info!(leg = label, event = ?e, "WebRTC"),
                    }
                    self.publish(&id, EventKind::Webrtc { leg: label, event });
                    continue;
                }
                Action::Send(_) => unreachable!("sent above"),
            }
            match update_leg(&mut self.node.sessions, change, &mut NeighborResolver(&mut self.node.slow)) {
                Ok((_, commands)) => {
                    self.kept(&id);
                    self.send(commands);
                }
                Err(e) => tracing::warn!(leg = label, error = %e, "WebRTC leg change refused"),
            }
        }
    }
}
