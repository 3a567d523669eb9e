//! The WebRTC legs of a node, by relay address: their ICE credentials, the
//! nominated pair and the DTLS endpoint. Pure state: inputs are the slow
//! path's ICE events and DTLS datagrams and the clock, outputs are
//! [`Action`]s the control loop applies to sessions and the slow path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use mediafwd_dataplane::ice::IceEvent;
use mediafwd_dataplane::slowpath::{DtlsDatagram, IceCredentials};
use mediafwd_dataplane::srtp::{Policy, Suite};
use mediafwd_dtls::{DtlsError, DtlsSnapshot, Endpoint, Fingerprint, Identity, Role, SrtpKeys};

/// What a front-end asks of a leg that speaks ICE-lite and DTLS-SRTP. Our
/// credentials are made on the first setup and kept after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebrtcSetup {
    /// The session.
    pub session_id: String,
    /// The leg, by its current label.
    pub leg: String,
    /// The peer's `a=ice-ufrag`, once known.
    pub remote_ufrag: Option<String>,
    /// The peer's `a=fingerprint`, once known: only its certificate is accepted.
    pub remote_fingerprint: Option<Fingerprint>,
    /// Our DTLS role, once decided (`None` while we offered `actpass`).
    pub role: Option<Role>,
}

/// A WebRTC leg as the SDP towards its peer needs it, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebrtcView {
    /// Our `a=ice-ufrag`.
    pub ice_ufrag: String,
    /// Our `a=ice-pwd`.
    pub ice_pwd: String,
    /// Our certificate's `a=fingerprint` value (`sha-256 AB:...`).
    pub fingerprint: String,
    /// Our DTLS role, once decided.
    pub role: Option<Role>,
    /// The remote of the nominated pair.
    pub nominated: Option<SocketAddr>,
    /// `new`, `connecting`, `connected` or `failed`.
    pub dtls: &'static str,
    /// The SRTP suite the handshake agreed on.
    pub suite: Option<Suite>,
}

/// What happened on a WebRTC leg, for the session's watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebrtcEvent {
    /// The peer nominated the pair with this remote; the leg latched to it.
    Nominated(SocketAddr),
    /// The nominated pair lost consent (RFC 7675); media to it is held.
    ConsentLost(SocketAddr),
    /// The DTLS handshake completed; the leg's SRTP runs on its keys.
    DtlsConnected(Suite),
    /// The DTLS handshake failed: `timeout`, `fingerprint mismatch` or the error.
    DtlsFailed(String),
}

/// What the control loop does for the legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a DTLS datagram through the slow path.
    Send(DtlsDatagram),
    /// Latch the leg on `local` to `remote` (and release a hold).
    Latch {
        /// The leg's relay address.
        local: SocketAddr,
        /// The nominated remote.
        remote: SocketAddr,
    },
    /// Hold media towards the leg on `local` (consent lost).
    Hold {
        /// The leg's relay address.
        local: SocketAddr,
    },
    /// Program the leg's SRTP contexts with the handshake's keys.
    Keys {
        /// The leg's relay address.
        local: SocketAddr,
        /// What the peer sends.
        inbound: Policy,
        /// What we send the peer.
        outbound: Policy,
    },
    /// Publish an event of the leg.
    Event {
        /// The leg's relay address.
        local: SocketAddr,
        /// What happened.
        event: WebrtcEvent,
    },
}

/// The durable facts of a WebRTC leg, carried with the session's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebrtcSnapshot {
    /// The session.
    pub session_id: String,
    /// The leg's relay address.
    pub local: SocketAddr,
    /// The ICE credentials on both sides.
    pub creds: IceCredentials,
    /// The remote of the nominated pair.
    pub nominated: Option<SocketAddr>,
    /// Our role, once decided.
    pub role: Option<Role>,
    /// The peer's fingerprint, once known.
    pub remote_fingerprint: Option<[u8; 32]>,
    /// The handshake's durable state (role, fingerprint, keys), once it ran.
    pub dtls: Option<DtlsSnapshot>,
}

/// What the WebRTC legs counted since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebrtcCounters {
    /// Nominations (the leg latched).
    pub nominations: u64,
    /// Losses of consent.
    pub consent_lost: u64,
    /// Handshakes started (endpoints made).
    pub handshakes_started: u64,
    /// Handshakes completed, keys programmed.
    pub handshakes_completed: u64,
    /// Handshakes abandoned after the handshake timeout.
    pub handshake_timeouts: u64,
    /// Peers whose certificate did not match their `a=fingerprint`.
    pub fingerprint_mismatches: u64,
    /// Handshakes failed otherwise (an alert, no common SRTP profile).
    pub handshake_failures: u64,
    /// DTLS datagrams to a leg with no endpoint (role not decided, or failed).
    pub dtls_unserved: u64,
}

#[derive(Debug)]
struct Leg {
    session_id: String,
    creds: IceCredentials,
    remote_fingerprint: Option<Fingerprint>,
    role: Option<Role>,
    nominated: Option<SocketAddr>,
    endpoint: Option<Endpoint>,
    /// The way to the peer: the last DTLS datagram's or the nomination's addressing.
    route: Option<DtlsDatagram>,
    failed: bool,
}

impl Leg {
    fn dtls_state(&self) -> &'static str {
        match (&self.endpoint, self.failed) {
            (_, true) => "failed",
            (Some(e), _) if e.keys().is_some() => "connected",
            (Some(_), _) => "connecting",
            (None, _) => "new",
        }
    }
}

/// The WebRTC legs of a node.
#[derive(Debug, Default)]
pub struct WebrtcLegs {
    identity: Option<Identity>,
    legs: HashMap<SocketAddr, Leg>,
    counters: WebrtcCounters,
}

/// ICE characters (RFC 8445 §5.3: ALPHA / DIGIT / "+" / "/"); the
/// alphanumeric ones, safe in any SDP tooling.
const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn ice_token(len: usize) -> String {
    let mut raw = vec![0u8; len];
    getrandom::getrandom(&mut raw).expect("the OS random source works");
    raw.iter().map(|b| ICE_CHARS[usize::from(*b) % ICE_CHARS.len()] as char).collect()
}

impl WebrtcLegs {
    /// Legs presenting `identity`'s certificate.
    pub fn new(identity: Identity) -> Self {
        WebrtcLegs { identity: Some(identity), ..Default::default() }
    }

    /// Our certificate's fingerprint.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.identity.as_ref().map(Identity::fingerprint)
    }

    /// What was counted.
    pub fn counters(&self) -> WebrtcCounters {
        self.counters
    }

    /// Sets up (or changes) the WebRTC leg on `local` of `session_id`:
    /// credentials made on the first call, the peer's ufrag, fingerprint and
    /// our role as far as known. A passive leg's endpoint waits for the
    /// peer's ClientHello; an active one sends its own once the peer
    /// nominated a pair. Gives the view and the credentials for the slow path.
    pub fn setup(
        &mut self,
        local: SocketAddr,
        req: &WebrtcSetup,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(WebrtcView, IceCredentials), DtlsError> {
        let identity = self.identity.as_ref().ok_or_else(|| DtlsError::Handshake("no node certificate".into()))?;
        let leg = self.legs.entry(local).or_insert_with(|| Leg {
            session_id: req.session_id.clone(),
            creds: IceCredentials { local_ufrag: ice_token(8), local_pwd: ice_token(24), remote_ufrag: None },
            remote_fingerprint: None,
            role: None,
            nominated: None,
            endpoint: None,
            route: None,
            failed: false,
        });
        leg.session_id = req.session_id.clone();
        if req.remote_ufrag.is_some() {
            leg.creds.remote_ufrag = req.remote_ufrag.clone();
        }
        let changed = (req.role.is_some() && req.role != leg.role)
            || (req.remote_fingerprint.is_some() && req.remote_fingerprint != leg.remote_fingerprint);
        if changed {
            // A new role or peer certificate: a new handshake.
            leg.endpoint = None;
            leg.failed = false;
        }
        leg.role = req.role.or(leg.role);
        leg.remote_fingerprint = req.remote_fingerprint.or(leg.remote_fingerprint);
        let counters = &mut self.counters;
        start(identity, leg, counters, now, out)?;
        let view = view_of(identity, leg);
        Ok((view, leg.creds.clone()))
    }

    /// Forgets the leg on `local`.
    pub fn remove(&mut self, local: &SocketAddr) -> bool {
        self.legs.remove(local).is_some()
    }

    /// The relay addresses of `session_id`'s WebRTC legs.
    pub fn of_session(&self, session_id: &str) -> Vec<SocketAddr> {
        self.legs.iter().filter(|(_, l)| l.session_id == session_id).map(|(a, _)| *a).collect()
    }

    /// The view of the leg on `local`.
    pub fn view(&self, local: &SocketAddr) -> Option<WebrtcView> {
        Some(view_of(self.identity.as_ref()?, self.legs.get(local)?))
    }

    /// Takes an ICE event of the leg on `local`; `route` is the way to the
    /// nominating peer (from the slow path).
    pub fn on_ice(
        &mut self,
        local: SocketAddr,
        ev: IceEvent,
        route: Option<DtlsDatagram>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(leg) = self.legs.get_mut(&local) else { return };
        match ev {
            IceEvent::Nominated(remote) => {
                self.counters.nominations += 1;
                leg.nominated = Some(remote);
                if let Some(r) = route.filter(|r| r.remote == remote) {
                    leg.route = Some(r);
                }
                out.push(Action::Latch { local, remote });
                out.push(Action::Event { local, event: WebrtcEvent::Nominated(remote) });
                if let Some(identity) = &self.identity {
                    // An active leg may start now; errors were counted and evented.
                    let _ = start(identity, leg, &mut self.counters, now, out);
                }
            }
            IceEvent::ConsentLost(remote) => {
                self.counters.consent_lost += 1;
                out.push(Action::Hold { local });
                out.push(Action::Event { local, event: WebrtcEvent::ConsentLost(remote) });
            }
        }
    }

    /// Takes a DTLS datagram the slow path received for a leg.
    pub fn on_dtls(&mut self, d: DtlsDatagram, now: Instant, out: &mut Vec<Action>) {
        let local = d.local;
        let Some(leg) = self.legs.get_mut(&local) else {
            self.counters.dtls_unserved += 1;
            return;
        };
        if leg.role == Some(Role::Server) {
            leg.route = Some(DtlsDatagram { payload: Vec::new(), ..d.clone() });
            if let Some(identity) = &self.identity {
                let _ = start(identity, leg, &mut self.counters, now, out);
            }
        }
        let Some(endpoint) = leg.endpoint.as_mut().filter(|_| !leg.failed) else {
            self.counters.dtls_unserved += 1;
            return;
        };
        let result = endpoint.receive(&d.payload, now);
        leg.route = Some(DtlsDatagram { payload: Vec::new(), ..d });
        progress(local, leg, result, &mut self.counters, out);
    }

    /// Runs the handshakes' timers: retransmissions, and the handshake timeout.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Action>) {
        for (local, leg) in &mut self.legs {
            let Some(e) = leg.endpoint.as_mut().filter(|e| e.keys().is_none()) else { continue };
            if leg.failed {
                continue;
            }
            let result = e.poll(now);
            progress(*local, leg, result, &mut self.counters, out);
        }
    }

    /// The durable facts of the leg on `local`.
    pub fn snapshot(&self, local: &SocketAddr) -> Option<WebrtcSnapshot> {
        let l = self.legs.get(local)?;
        Some(WebrtcSnapshot {
            session_id: l.session_id.clone(),
            local: *local,
            creds: l.creds.clone(),
            nominated: l.nominated,
            role: l.role,
            remote_fingerprint: l.remote_fingerprint.map(|f| f.0),
            dtls: l.endpoint.as_ref().map(Endpoint::snapshot),
        })
    }

    /// The durable facts of `session_id`'s WebRTC legs.
    pub fn snapshots_of(&self, session_id: &str) -> Vec<WebrtcSnapshot> {
        self.of_session(session_id).iter().filter_map(|l| self.snapshot(l)).collect()
    }

    /// A leg restored from `s` (carried from another node): its credentials,
    /// nomination and, when its handshake had completed, its keys. Gives the
    /// credentials for the slow path.
    pub fn restore(&mut self, s: &WebrtcSnapshot, now: Instant) -> Result<IceCredentials, DtlsError> {
        let endpoint = s.dtls.as_ref().filter(|d| d.keys.is_some()).map(|d| Endpoint::restore(d, now)).transpose()?;
        self.legs.insert(
            s.local,
            Leg {
                session_id: s.session_id.clone(),
                creds: s.creds.clone(),
                remote_fingerprint: s.remote_fingerprint.map(Fingerprint),
                role: s.role,
                nominated: s.nominated,
                endpoint,
                route: None,
                failed: false,
            },
        );
        Ok(s.creds.clone())
    }
}

fn view_of(identity: &Identity, leg: &Leg) -> WebrtcView {
    WebrtcView {
        ice_ufrag: leg.creds.local_ufrag.clone(),
        ice_pwd: leg.creds.local_pwd.clone(),
        fingerprint: identity.fingerprint().to_string(),
        role: leg.role,
        nominated: leg.nominated,
        dtls: leg.dtls_state(),
        suite: leg.endpoint.as_ref().and_then(|e| e.keys()).map(|k| k.suite),
    }
}

/// Makes the leg's endpoint when everything it needs is known and the peer
/// is there: an active leg once a pair is nominated (its ClientHello goes
/// there), a passive one then or at the peer's first record, so that the
/// handshake timeout runs from the moment the peer can handshake. A
/// passive leg never sends first.
fn start(
    identity: &Identity,
    leg: &mut Leg,
    counters: &mut WebrtcCounters,
    now: Instant,
    out: &mut Vec<Action>,
) -> Result<(), DtlsError> {
    if leg.endpoint.is_some() || leg.failed {
        return Ok(());
    }
    let (Some(role), Some(fp)) = (leg.role, leg.remote_fingerprint) else { return Ok(()) };
    let reached = match role {
        Role::Client => leg.route.as_ref().is_some_and(|r| Some(r.remote) == leg.nominated),
        Role::Server => leg.route.is_some(),
    };
    if !reached {
        return Ok(());
    }
    leg.endpoint = Some(Endpoint::new(identity, role, fp, now)?);
    counters.handshakes_started += 1;
    flush(leg, out);
    Ok(())
}

/// Sends what the leg's endpoint has for its peer.
fn flush(leg: &mut Leg, out: &mut Vec<Action>) {
    let (Some(e), Some(route)) = (leg.endpoint.as_mut(), leg.route.as_ref()) else { return };
    for payload in e.take_outgoing() {
        out.push(Action::Send(DtlsDatagram { payload, ..route.clone() }));
    }
}

fn progress(
    local: SocketAddr,
    leg: &mut Leg,
    result: Result<Option<SrtpKeys>, DtlsError>,
    counters: &mut WebrtcCounters,
    out: &mut Vec<Action>,
) {
    flush(leg, out);
    match result {
        Ok(None) => {}
        Ok(Some(keys)) => {
            counters.handshakes_completed += 1;
            out.push(Action::Keys {
                local,
                inbound: Policy::new(keys.suite, keys.remote.clone()),
                outbound: Policy::new(keys.suite, keys.local.clone()),
            });
            out.push(Action::Event { local, event: WebrtcEvent::DtlsConnected(keys.suite) });
        }
        Err(e) => {
            leg.failed = true;
            let reason = match e {
                DtlsError::Timeout => {
                    counters.handshake_timeouts += 1;
                    "timeout".to_string()
                }
                DtlsError::FingerprintMismatch => {
                    counters.fingerprint_mismatches += 1;
                    "fingerprint mismatch".to_string()
                }
                other => {
                    counters.handshake_failures += 1;
                    other.to_string()
                }
            };
            out.push(Action::Event { local, event: WebrtcEvent::DtlsFailed(reason) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::wire::ethernet::MacAddr;
    use mediafwd_dtls::HANDSHAKE_TIMEOUT;

    const LOCAL: &str = "198.18.0.1:30000";
    const PEER: &str = "198.18.0.2:5000";

    fn route() -> DtlsDatagram {
        DtlsDatagram {
            local: LOCAL.parse().unwrap(),
            remote: PEER.parse().unwrap(),
            peer_mac: MacAddr([2, 0, 0, 0, 0, 9]),
            port_id: 0,
            vlan: None,
            payload: Vec::new(),
        }
    }

    fn setup(role: Option<Role>, fp: Option<Fingerprint>) -> WebrtcSetup {
        WebrtcSetup {
            session_id: "s1".into(),
            leg: "web".into(),
            remote_ufrag: Some("peer".into()),
            remote_fingerprint: fp,
            role,
        }
    }

    fn sends(out: &[Action]) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send(d) => {
                    assert_eq!((d.local, d.remote), (LOCAL.parse().unwrap(), PEER.parse().unwrap()));
                    Some(d.payload.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Carries datagrams both ways between the legs and `peer` until
    /// neither has more; every action the legs gave.
    fn exchange(legs: &mut WebrtcLegs, peer: &mut Endpoint, mut to_peer: Vec<Vec<u8>>, now: Instant) -> Vec<Action> {
        let mut all = Vec::new();
        for _ in 0..20 {
            for d in to_peer.drain(..) {
                let _ = peer.receive(&d, now);
            }
            let from_peer = peer.take_outgoing();
            if from_peer.is_empty() {
                break;
            }
            let mut out = Vec::new();
            for payload in from_peer {
                legs.on_dtls(DtlsDatagram { payload, ..route() }, now, &mut out);
            }
            to_peer = sends(&out);
            all.extend(out);
        }
        all
    }

    fn keys(out: &[Action]) -> Option<(Policy, Policy)> {
        out.iter().find_map(|a| match a {
            Action::Keys { inbound, outbound, .. } => Some((inbound.clone(), outbound.clone())),
            _ => None,
        })
    }

    #[test]
    fn a_passive_leg_waits_then_its_keys_program_the_leg() {
        let mut legs = WebrtcLegs::new(Identity::generate("mediafwd").unwrap());
        let browser = Identity::generate("browser").unwrap();
        let now = Instant::now();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let mut out = Vec::new();
        let (view, creds) =
            legs.setup(local, &setup(Some(Role::Server), Some(browser.fingerprint())), now, &mut out).unwrap();
        assert!(out.is_empty(), "no stray ClientHello when passive: {out:?}");
        assert_eq!((view.role, view.dtls), (Some(Role::Server), "new"));
        assert_eq!((view.ice_ufrag.len(), view.ice_pwd.len()), (8, 24));
        assert_eq!(creds.remote_ufrag.as_deref(), Some("peer"));
        assert_eq!(view.fingerprint, legs.fingerprint().unwrap().to_string());
        legs.poll(now + std::time::Duration::from_secs(3), &mut out);
        assert!(out.is_empty(), "a passive leg never retransmits first");
        // The peer nominates, then starts the handshake as the DTLS client.
        legs.on_ice(local, IceEvent::Nominated(PEER.parse().unwrap()), Some(route()), now, &mut out);
        assert_eq!(out[0], Action::Latch { local, remote: PEER.parse().unwrap() });
        assert!(sends(&out).is_empty());
        let mut peer = Endpoint::new(&browser, Role::Client, legs.fingerprint().unwrap(), now).unwrap();
        let all = exchange(&mut legs, &mut peer, Vec::new(), now);
        let (inbound, outbound) = keys(&all).expect("keys programmed");
        let theirs = peer.keys().expect("peer connected").clone();
        assert_eq!((inbound.master_keys[0].clone(), outbound.master_keys[0].clone()), (theirs.local, theirs.remote));
        assert!(all.contains(&Action::Event { local, event: WebrtcEvent::DtlsConnected(theirs.suite) }));
        let c = legs.counters();
        assert_eq!((c.nominations, c.handshakes_started, c.handshakes_completed), (1, 1, 1));
        assert_eq!(legs.view(&local).unwrap().dtls, "connected");
        // The snapshot carries the keys; restored elsewhere, the same view.
        let snap = legs.snapshot(&local).unwrap();
        let mut other = WebrtcLegs::new(Identity::generate("node2").unwrap());
        assert_eq!(other.restore(&snap, now).unwrap(), creds);
        assert_eq!(other.snapshot(&local).unwrap(), snap);
        assert_eq!(other.view(&local).unwrap().suite, Some(theirs.suite));
        // Consent lost: held, evented, counted.
        let mut out = Vec::new();
        legs.on_ice(local, IceEvent::ConsentLost(PEER.parse().unwrap()), None, now, &mut out);
        assert_eq!(out[0], Action::Hold { local });
        assert_eq!(legs.counters().consent_lost, 1);
        assert_eq!(legs.of_session("s1"), vec![local]);
        assert!(legs.remove(&local));
    }

    #[test]
    fn an_active_leg_sends_its_client_hello_to_the_nominated_pair() {
        let mut legs = WebrtcLegs::new(Identity::generate("mediafwd").unwrap());
        let browser = Identity::generate("browser").unwrap();
        let now = Instant::now();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let mut out = Vec::new();
        // Offered actpass: no role yet, DTLS is not served.
        legs.setup(local, &setup(None, None), now, &mut out).unwrap();
        legs.on_dtls(DtlsDatagram { payload: vec![22, 0xfe, 0xfd], ..route() }, now, &mut out);
        assert_eq!(legs.counters().dtls_unserved, 1);
        // The answer says the peer is passive: we are the client, but wait for ICE.
        legs.setup(local, &setup(Some(Role::Client), Some(browser.fingerprint())), now, &mut out).unwrap();
        assert!(out.is_empty());
        legs.on_ice(local, IceEvent::Nominated(PEER.parse().unwrap()), Some(route()), now, &mut out);
        let hello = sends(&out);
        assert_eq!(hello.len(), 1);
        let mut peer = Endpoint::new(&browser, Role::Server, legs.fingerprint().unwrap(), now).unwrap();
        let all = exchange(&mut legs, &mut peer, hello, now);
        let (inbound, outbound) = keys(&all).expect("keys programmed");
        let theirs = peer.keys().expect("peer connected").clone();
        assert_eq!((inbound.master_keys[0].clone(), outbound.master_keys[0].clone()), (theirs.local, theirs.remote));
    }

    #[test]
    fn a_wrong_fingerprint_and_a_silent_peer_are_refused_and_counted() {
        let mut legs = WebrtcLegs::new(Identity::generate("mediafwd").unwrap());
        let browser = Identity::generate("browser").unwrap();
        let impostor = Identity::generate("impostor").unwrap();
        let now = Instant::now();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let mut out = Vec::new();
        legs.setup(local, &setup(Some(Role::Server), Some(browser.fingerprint())), now, &mut out).unwrap();
        let mut peer = Endpoint::new(&impostor, Role::Client, legs.fingerprint().unwrap(), now).unwrap();
        let all = exchange(&mut legs, &mut peer, Vec::new(), now);
        assert!(keys(&all).is_none());
        let failed = WebrtcEvent::DtlsFailed("fingerprint mismatch".into());
        assert!(all.contains(&Action::Event { local, event: failed }), "{all:?}");
        assert_eq!(legs.counters().fingerprint_mismatches, 1);
        assert_eq!(legs.view(&local).unwrap().dtls, "failed");
        // More from that peer is not served.
        legs.on_dtls(DtlsDatagram { payload: vec![22, 0xfe, 0xfd], ..route() }, now, &mut out);
        assert_eq!(legs.counters().dtls_unserved, 1);

        // An active leg whose peer never answers: retransmits, then times out once.
        let other: SocketAddr = "198.18.0.1:30002".parse().unwrap();
        let mut out = Vec::new();
        legs.setup(other, &setup(Some(Role::Client), Some(browser.fingerprint())), now, &mut out).unwrap();
        let r = DtlsDatagram { local: other, ..route() };
        legs.on_ice(other, IceEvent::Nominated(PEER.parse().unwrap()), Some(r), now, &mut out);
        let mut out = Vec::new();
        legs.poll(now + HANDSHAKE_TIMEOUT, &mut out);
        legs.poll(now + HANDSHAKE_TIMEOUT * 2, &mut out);
        let timeout = WebrtcEvent::DtlsFailed("timeout".into());
        assert_eq!(out, [Action::Event { local: other, event: timeout }]);
        assert_eq!(legs.counters().handshake_timeouts, 1);
    }
}
