//! The sessions of a node: legs, their ports and flows. Pure bookkeeping:
//! every operation validates first and changes nothing on error, and
//! returns the dataplane commands that make the change real.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_dataplane::flow::{Command, FlowKey, LatchMode};
use mediafwd_dataplane::srtp::{Context, Policy};
use mediafwd_dataplane::wire::ethernet::MacAddr;

use super::flows::{flows_for, LegPlan};
use super::ids::FlowIds;
use super::ports::{PortError, PortPool, QUARANTINE};
use super::srtp::{self, LegSrtp};
use crate::config::Interface;

/// Finds next hops for remotes: the node's neighbor table.
pub trait Resolver {
    /// The next-hop id towards `dst` from interface `iface`.
    fn next_hop(&mut self, iface: usize, dst: IpAddr) -> Result<u32, String>;
    /// The next hop used by a leg whose remote is not known yet.
    fn default_next_hop(&mut self, iface: usize, family_v4: bool) -> Option<u32>;
}

/// What a client asks of a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRequest {
    /// Label, unique in the session.
    pub label: String,
    /// Interface name.
    pub interface: String,
    /// A specific local RTP port (static sessions); `None`: allocate.
    pub local_port: Option<u16>,
    /// A specific local address; `None`: the interface's first of the family.
    pub local_address: Option<IpAddr>,
    /// Local address family when neither the remote nor the address says.
    pub prefer_v6: bool,
    /// The endpoint's RTP address.
    pub remote: Option<SocketAddr>,
    /// The endpoint's RTCP address, if not RTP + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// Latching.
    pub latch: LatchMode,
    /// Drop other sources.
    pub strict_source: bool,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// SRTP keys of what the endpoint sends us; `None`: plain RTP.
    pub srtp_inbound: Option<Policy>,
    /// SRTP keys of what we send the endpoint; `None`: plain RTP.
    pub srtp_outbound: Option<Policy>,
}

/// A leg as the node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// What was asked.
    pub request: LegRequest,
    /// Interface index.
    pub iface: usize,
    /// Our RTP address.
    pub local: SocketAddr,
    /// The remote learned from traffic.
    pub latched: Option<SocketAddr>,
    /// Media towards the endpoint is held.
    pub hold: bool,
    /// Statistics slots (RTP, RTCP).
    pub flow_ids: (u32, u32),
    /// Next hop in use.
    pub next_hop: Option<u32>,
    /// The SRTP contexts installed for it.
    pub srtp: LegSrtp,
}

impl Leg {
    /// The remote in force: learned, else configured.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.request.remote)
    }

    /// Our RTCP address.
    pub fn local_rtcp(&self) -> SocketAddr {
        if self.request.rtcp_mux {
            self.local
        } else {
            SocketAddr::new(self.local.ip(), self.local.port() + 1)
        }
    }

    /// The flow keys this leg receives on.
    fn keys(&self, port_id: u16) -> Vec<FlowKey> {
        let mut k = vec![FlowKey::new(port_id, self.local.ip(), self.local.port())];
        if !self.request.rtcp_mux {
            k.push(FlowKey::new(port_id, self.local.ip(), self.local.port() + 1));
        }
        k
    }
}

/// A relay session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Its id.
    pub id: String,
    /// The two legs.
    pub legs: [Leg; 2],
    /// When it was created.
    pub created: Instant,
    /// When it was last created or changed: signalling counts as activity
    /// for the media timeout.
    pub touched: Instant,
    /// Idle time after which it ends.
    pub media_timeout: Duration,
    /// Lifetime after which it ends.
    pub max_lifetime: Option<Duration>,
}

/// Why an operation was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A field is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as named in the API.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A session with this id exists with other parameters.
    #[error("session {0:?} exists with other parameters")]
    Exists(String),
    /// No such session or leg.
    #[error("{0}")]
    NotFound(String),
    /// Out of ports, flow slots or next hops.
    #[error("{0}")]
    Exhausted(String),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SessionError {
    SessionError::Invalid { field: field.into(), message: message.into() }
}

/// Checks a leg's label: 1 to 64 bytes.
pub fn check_label(field: &str, label: &str) -> Result<(), SessionError> {
    if label.is_empty() || label.len() > 64 {
        return Err(invalid(field, "1 to 64 characters"));
    }
    Ok(())
}

/// What the session manager knows of an interface.
#[derive(Debug, Clone)]
pub struct IfaceInfo {
    /// The configuration.
    pub config: Interface,
    /// DPDK port id.
    pub port_id: u16,
    /// Our MAC on it.
    pub mac: MacAddr,
}

/// Every session of the node.
pub struct SessionManager {
    ifaces: Vec<IfaceInfo>,
    pools: Vec<PortPool>,
    ids: FlowIds,
    sessions: HashMap<String, Session>,
    by_key: HashMap<FlowKey, (String, usize)>,
    retired: Vec<Arc<Context>>,
    /// Media timeout when a request gives none.
    pub default_media_timeout: Duration,
    /// Lifetime when a request gives none.
    pub default_max_lifetime: Option<Duration>,
    /// Sessions at once (`sessions.max_sessions`); `None`: as many as
    /// flow slots and ports allow.
    pub max_sessions: Option<usize>,
}

impl SessionManager {
    /// A manager for these interfaces and `max_flows` flow slots.
    pub fn new(ifaces: Vec<IfaceInfo>, max_flows: usize) -> Self {
        Self::with_quarantine(ifaces, max_flows, QUARANTINE)
    }

    /// The same, with another port quarantine.
    pub fn with_quarantine(ifaces: Vec<IfaceInfo>, max_flows: usize, quarantine: Duration) -> Self {
        let pools = ifaces.iter().map(|i| PortPool::new(&i.config.name, i.config.rtp_ports, quarantine)).collect();
        SessionManager {
            ifaces,
            pools,
            ids: FlowIds::new(max_flows),
            sessions: HashMap::new(),
            by_key: HashMap::new(),
            retired: Vec::new(),
            default_media_timeout: Duration::from_secs(60),
            default_max_lifetime: None,
            max_sessions: None,
        }
    }

    /// The interfaces.
    pub fn interfaces(&self) -> &[IfaceInfo] {
        &self.ifaces
    }

    /// A session.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// All sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Counts every session as active now (their media timeouts start
    /// over): a standby taking over sessions whose media it never saw.
    pub fn touch_all(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            s.touched = now;
        }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Port pairs (in use, free now) of interface `i`.
    pub fn port_usage(&mut self, i: usize, now: Instant) -> (usize, usize) {
        (self.pools[i].in_use(), self.pools[i].available(now))
    }

    fn iface_index(&self, field: &str, name: &str) -> Result<usize, SessionError> {
        self.ifaces
            .iter()
            .position(|i| i.config.name == name)
            .ok_or_else(|| invalid(field, format!("no interface named {name:?}")))
    }

    fn check_leg(&self, at: &str, r: &LegRequest) -> Result<(usize, IpAddr), SessionError> {
        let iface = self.iface_index(&format!("{at}.interface"), &r.interface)?;
        let cfg = &self.ifaces[iface].config;
        let family_v4 = match (r.local_address, r.remote) {
            (Some(a), _) => a.is_ipv4(),
            (None, Some(rem)) => rem.is_ipv4(),
            (None, None) => !r.prefer_v6,
        };
        let local = match r.local_address {
            Some(a) if cfg.addresses.iter().any(|n| n.addr() == a) => a,
            Some(a) => {
                return Err(invalid(format!("{at}.local_address"), format!("{a} is not an address of {:?}", cfg.name)))
            }
            None => cfg.addresses.iter().map(|n| n.addr()).find(|a| a.is_ipv4() == family_v4).ok_or_else(|| {
                let field = if r.remote.is_some() { "remote" } else { "interface" };
                invalid(
                    format!("{at}.{field}"),
                    format!("interface {:?} has no IPv{} address", cfg.name, if family_v4 { 4 } else { 6 }),
                )
            })?,
        };
        for (f, ep) in [("remote", r.remote), ("remote_rtcp", r.remote_rtcp)] {
            if let Some(ep) = ep {
                if ep.is_ipv4() != local.is_ipv4() {
                    return Err(invalid(
                        format!("{at}.{f}"),
                        format!("{ep} is not of the local address's family ({local})"),
                    ));
                }
                if ep.port() == 0 || ep.ip().is_unspecified() || ep.ip().is_multicast() || ep.ip().is_loopback() {
                    return Err(invalid(format!("{at}.{f}"), format!("{ep} is not a unicast endpoint")));
                }
            }
        }
        if !(1000..=192_000).contains(&r.clock_rate) {
            return Err(invalid(format!("{at}.clock_rate"), format!("{} is not an RTP clock rate", r.clock_rate)));
        }
        Ok((iface, local))
    }

    /// Creates a session. Idempotent: the same id with the same legs
    /// returns the existing session and no commands.
    pub fn create(
        &mut self,
        id: &str,
        legs: [LegRequest; 2],
        media_timeout: Option<Duration>,
        max_lifetime: Option<Duration>,
        resolver: &mut dyn Resolver,
        now: Instant,
    ) -> Result<(Session, Vec<Command>), SessionError> {
        if id.is_empty() || id.len() > 256 {
            return Err(invalid("session_id", "1 to 256 characters"));
        }
        if let Some(s) = self.sessions.get(id) {
            // A retransmission asks exactly what was asked before.
            let same = s.legs.iter().zip(&legs).all(|(have, want)| have.request == *want);
            return if same { Ok((s.clone(), Vec::new())) } else { Err(SessionError::Exists(id.to_string())) };
        }
        for (i, l) in legs.iter().enumerate() {
            check_label(&format!("legs[{i}].label"), &l.label)?;
        }
        if legs[0].label == legs[1].label {
            return Err(invalid("legs[1].label", "the two legs need different labels"));
        }
        if let Some(max) = self.max_sessions.filter(|&max| self.sessions.len() >= max) {
            return Err(SessionError::Exhausted(format!(
                "{max} sessions, the node's limit (sessions.max_sessions); delete sessions or raise the limit"
            )));
        }
        let checked = [self.check_leg("legs[0]", &legs[0])?, self.check_leg("legs[1]", &legs[1])?];
        if self.ids.available() < 4 {
            return Err(SessionError::Exhausted(format!(
                "the flow table is full ({} sessions); raise dataplane.max_flows",
                self.sessions.len()
            )));
        }
        // Ports: take both, or neither.
        let mut taken: Vec<(usize, u16)> = Vec::new();
        let mut ports = [0u16; 2];
        for (i, ((iface, _), leg)) in checked.iter().zip(&legs).enumerate() {
            let r = match leg.local_port {
                Some(p) => self.pools[*iface].reserve(p, now).map(|()| p),
                None => self.pools[*iface].allocate(now),
            };
            match r {
                Ok(p) => {
                    taken.push((*iface, p));
                    ports[i] = p;
                }
                Err(e) => {
                    // They never carried media: no quarantine.
                    for (iface, p) in taken {
                        self.pools[iface].unreserve(p);
                    }
                    return Err(match e {
                        PortError::Exhausted { .. } => SessionError::Exhausted(e.to_string()),
                        PortError::Unavailable { .. } => invalid(format!("legs[{i}].local_port"), e.to_string()),
                    });
                }
            }
        }
        let ids = [self.ids.pair().expect("checked"), self.ids.pair().expect("checked")];
        let mk = |i: usize| Leg {
            request: legs[i].clone(),
            iface: checked[i].0,
            local: SocketAddr::new(checked[i].1, ports[i]),
            latched: None,
            hold: false,
            flow_ids: ids[i],
            next_hop: None,
            srtp: LegSrtp::new(legs[i].srtp_inbound.as_ref(), legs[i].srtp_outbound.as_ref()),
        };
        let mut session = Session {
            id: id.to_string(),
            legs: [mk(0), mk(1)],
            created: now,
            touched: now,
            media_timeout: media_timeout.unwrap_or(self.default_media_timeout),
            max_lifetime: max_lifetime.or(self.default_max_lifetime),
        };
        for leg in &mut session.legs {
            leg.next_hop = self.next_hop_for(leg, resolver);
        }
        let commands = self.upserts(&session);
        for (i, leg) in session.legs.iter().enumerate() {
            for k in leg.keys(self.ifaces[leg.iface].port_id) {
                self.by_key.insert(k, (id.to_string(), i));
            }
        }
        self.sessions.insert(id.to_string(), session.clone());
        Ok((session, commands))
    }

    fn next_hop_for(&self, leg: &Leg, resolver: &mut dyn Resolver) -> Option<u32> {
        match leg.remote() {
            Some(r) => resolver.next_hop(leg.iface, r.ip()).ok(),
            None => resolver.default_next_hop(leg.iface, leg.local.is_ipv4()),
        }
    }

    fn plan(&self, leg: &Leg) -> LegPlan {
        let info = &self.ifaces[leg.iface];
        LegPlan {
            port_id: info.port_id,
            vlan: info.config.vlan,
            mac: info.mac,
            local: leg.local,
            remote: if leg.hold { None } else { leg.remote() },
            rtcp_mux: leg.request.rtcp_mux,
            latch: leg.request.latch,
            strict_source: leg.request.strict_source,
            next_hop: leg.next_hop.unwrap_or(u32::MAX),
            flow_ids: leg.flow_ids,
            clock_rate: leg.request.clock_rate,
        }
    }

    fn upserts(&self, s: &Session) -> Vec<Command> {
        let (a, b) = (self.plan(&s.legs[0]), self.plan(&s.legs[1]));
        let mut flows = flows_for(&a, &b);
        // The configured RTCP remote, when it is not RTP + 1.
        for (leg, plan) in s.legs.iter().zip([&a, &b]) {
            if let (Some(rtcp), None, false) = (leg.request.remote_rtcp, leg.latched, leg.request.rtcp_mux) {
                for (key, flow) in flows.iter_mut() {
                    if flow.egress.port_id == plan.port_id && flow.egress.src == leg.local_rtcp() && !leg.hold {
                        flow.egress.dst = Some(rtcp);
                    }
                    if *key == FlowKey::new(plan.port_id, leg.local.ip(), leg.local.port() + 1) {
                        flow.ingress.remote = Some(rtcp);
                    }
                }
            }
        }
        flows
            .into_iter()
            .map(|(key, flow)| {
                let from = usize::from(s.legs[1].flow_ids.0 == flow.id || s.legs[1].flow_ids.1 == flow.id);
                let (f, t) = (&s.legs[from], &s.legs[1 - from]);
                let srtp = srtp::transform(
                    f.request.srtp_inbound.as_ref(),
                    &f.srtp,
                    t.request.srtp_outbound.as_ref(),
                    &t.srtp,
                );
                if srtp.is_none() {
                    Command::Upsert { key, flow }
                } else {
                    Command::UpsertSrtp { key, flow, srtp }
                }
            })
            .collect()
    }

    /// The session and leg a flow key belongs to.
    pub fn leg_of(&self, key: &FlowKey) -> Option<(&Session, usize)> {
        let (id, leg) = self.by_key.get(key)?;
        Some((self.sessions.get(id)?, *leg))
    }

    /// SRTP contexts replaced or removed by the commands returned so far. Keep
    /// them until every worker has applied those commands, then drop them: the
    /// workers then only ever release their references, and the memory is
    /// freed here.
    pub fn take_retired(&mut self) -> Vec<Arc<Context>> {
        std::mem::take(&mut self.retired)
    }

    /// A leg learned its remote from traffic (a worker's event): every
    /// worker gets the flows pointing at it.
    pub fn on_latched(
        &mut self,
        key: &FlowKey,
        remote: SocketAddr,
        resolver: &mut dyn Resolver,
    ) -> Option<(String, usize, Vec<Command>)> {
        let (id, leg_idx) = self.by_key.get(key)?.clone();
        let s = self.sessions.get(&id)?;
        let leg = &s.legs[leg_idx];
        let rtcp_port = !leg.request.rtcp_mux && key.udp_port() == leg.local.port() + 1;
        // An RTCP port latches RTCP; the RTP remote is one port below.
        let rtp_remote = if rtcp_port { SocketAddr::new(remote.ip(), remote.port().saturating_sub(1)) } else { remote };
        if leg.remote() == Some(rtp_remote) || rtcp_port {
            return None;
        }
        let mut updated = leg.clone();
        updated.latched = Some(rtp_remote);
        updated.next_hop = self.next_hop_for(&updated, resolver).or(leg.next_hop);
        let s = self.sessions.get_mut(&id)?;
        s.legs[leg_idx] = updated;
        let s = s.clone();
        Some((id, leg_idx, self.upserts(&s)))
    }

    /// Changes a leg; all or nothing.
    pub fn update_leg(
        &mut self,
        id: &str,
        label: &str,
        change: impl FnOnce(&mut LegRequest, &mut bool),
        resolver: &mut dyn Resolver,
    ) -> Result<(Session, Vec<Command>), SessionError> {
        let s = self.sessions.get(id).ok_or_else(|| SessionError::NotFound(format!("no session {id:?}")))?;
        let idx = s
            .legs
            .iter()
            .position(|l| l.request.label == label)
            .ok_or_else(|| SessionError::NotFound(format!("session {id:?} has no leg {label:?}")))?;
        let old = s.legs[idx].clone();
        let mut req = old.request.clone();
        let mut hold = old.hold;
        change(&mut req, &mut hold);
        if req.interface != old.request.interface {
            return Err(invalid("leg", "a leg's interface cannot change; create a new session"));
        }
        if req.label != old.request.label {
            check_label("label", &req.label)?;
            if s.legs[1 - idx].request.label == req.label {
                return Err(invalid("label", "the two legs need different labels"));
            }
        }
        req.local_address = Some(old.local.ip());
        let (_, local_ip) = self.check_leg("leg", &req)?;
        debug_assert_eq!(local_ip, old.local.ip());
        let mut leg = Leg { request: req, hold, ..old.clone() };
        if leg.request.remote != old.request.remote || leg.request.latch != old.request.latch {
            leg.latched = None;
        }
        leg.srtp =
            old.srtp.rekey(leg.request.srtp_inbound.as_ref(), leg.request.srtp_outbound.as_ref(), &mut self.retired);
        leg.next_hop = self.next_hop_for(&leg, resolver).or(old.next_hop);
        // Turning rtcp-mux on or off keeps the port pair: only the RTCP port's
        // flow comes or goes.
        let port_id = self.ifaces[old.iface].port_id;
        let new_keys = leg.keys(port_id);
        let mut commands = Vec::new();
        for k in old.keys(port_id).into_iter().filter(|k| !new_keys.contains(k)) {
            self.by_key.remove(&k);
            commands.push(Command::Remove { key: k });
        }
        for k in new_keys {
            self.by_key.insert(k, (id.to_string(), idx));
        }
        let s = self.sessions.get_mut(id).expect("checked");
        s.legs[idx] = leg;
        s.touched = Instant::now();
        let s = s.clone();
        commands.extend(self.upserts(&s));
        Ok((s, commands))
    }

    /// Removes a session: the commands to remove its flows, and the flow ids
    /// to give back with [`SessionManager::release_ids`] once every worker
    /// applied them.
    pub fn delete(&mut self, id: &str, now: Instant) -> Result<(Session, Vec<Command>), SessionError> {
        self.remove(id, Some(now))
    }

    /// [`SessionManager::delete`] for a session about to be programmed again
    /// with the same ports (a standby following its active's changes): its
    /// ports skip the quarantine.
    pub fn withdraw(&mut self, id: &str) -> Result<(Session, Vec<Command>), SessionError> {
        self.remove(id, None)
    }

    fn remove(&mut self, id: &str, quarantine_from: Option<Instant>) -> Result<(Session, Vec<Command>), SessionError> {
        let s = self.sessions.remove(id).ok_or_else(|| SessionError::NotFound(format!("no session {id:?}")))?;
        let mut commands = Vec::new();
        for leg in &s.legs {
            for k in leg.keys(self.ifaces[leg.iface].port_id) {
                self.by_key.remove(&k);
                commands.push(Command::Remove { key: k });
            }
            match quarantine_from {
                Some(now) => self.pools[leg.iface].release(leg.local.port(), now),
                None => self.pools[leg.iface].unreserve(leg.local.port()),
            }
            self.retired.extend(leg.srtp.contexts());
        }
        Ok((s, commands))
    }

    /// Returns a deleted session's flow ids.
    pub fn release_ids(&mut self, s: &Session) {
        for leg in &s.legs {
            self.ids.release(leg.flow_ids);
        }
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
