//! Between the protobuf API and the control core: requests are read into
//! the core's domain requests here (a bad field is an [`Error::Invalid`]
//! naming it), the core's views and events are written as protobuf messages,
//! and its error kinds as gRPC status codes.

use std::net::{IpAddr, SocketAddr};

use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::{
    MasterKey, Mki, Policy, PolicyError, Suite, DEFAULT_SRTCP_LIFETIME, DEFAULT_SRTP_LIFETIME,
};
use mediafwd_proto::v1 as pb;
use tonic::Status;

use crate::control::view::{self, EndReason, EventKind, LegView, SessionState, SessionView};
use crate::control::{self, CreateSession, Error, UpdateLeg};
use crate::session::{check_label, LegRequest, DEFAULT_CLOCK_RATE};
use crate::webrtc::WebrtcEvent;

/// The status code and message of a refusal.
pub fn status(e: Error) -> Status {
    match e {
        Error::Invalid { .. } => Status::invalid_argument(e.to_string()),
        Error::Exists(m) => Status::already_exists(m),
        Error::NotFound(m) => Status::not_found(m),
        Error::Exhausted(m) | Error::Busy(m) => Status::resource_exhausted(m),
        Error::Unavailable(m) => Status::unavailable(m),
    }
}

fn invalid(field: &str, message: impl std::fmt::Display) -> Error {
    Error::invalid(field, message)
}

/// An endpoint from the API.
pub fn endpoint(field: &str, e: &pb::Endpoint) -> Result<SocketAddr, Error> {
    let ip: IpAddr = e
        .address
        .parse()
        .map_err(|_| invalid(&format!("{field}.address"), format!("{:?} is not an IP address", e.address)))?;
    let port = u16::try_from(e.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(&format!("{field}.port"), format!("{} is not a UDP port", e.port)))?;
    Ok(SocketAddr::new(ip, port))
}

/// An endpoint for the API.
pub fn to_endpoint(a: SocketAddr) -> pb::Endpoint {
    pb::Endpoint { address: a.ip().to_string(), port: a.port() as u32 }
}

/// A latch mode from the API.
pub fn latch(field: &str, v: i32) -> Result<LatchMode, Error> {
    match pb::LatchMode::try_from(v) {
        Ok(pb::LatchMode::Unspecified | pb::LatchMode::Off) => Ok(LatchMode::Off),
        Ok(pb::LatchMode::Once) => Ok(LatchMode::Once),
        Ok(pb::LatchMode::Follow) => Ok(LatchMode::Follow),
        Err(_) => Err(invalid(field, format!("{v} is not a latch mode"))),
    }
}

fn to_latch(m: LatchMode) -> i32 {
    match m {
        LatchMode::Off => pb::LatchMode::Off as i32,
        LatchMode::Once => pb::LatchMode::Once as i32,
        LatchMode::Follow => pb::LatchMode::Follow as i32,
    }
}

/// The SRTP keys of one direction of a leg: `None` for plain RTP (no
/// parameters, or an empty suite). Errors name the field at fault, under `field`.
pub fn srtp(field: &str, p: &Option<pb::SrtpParams>) -> Result<Option<Policy>, Error> {
    let Some(p) = p else { return Ok(None) };
    let at = |f: &str| format!("{field}.{f}");
    if p.suite.is_empty() {
        if !p.master_key.is_empty() || !p.master_salt.is_empty() || !p.mki.is_empty() {
            return Err(invalid(&at("suite"), "required with a key (empty means plain RTP)"));
        }
        return Ok(None);
    }
    let suite = Suite::from_sdes_name(&p.suite).ok_or_else(|| {
        invalid(
            &at("suite"),
            format!(
                "{:?} is not a supported suite; use one of {}",
                p.suite,
                Suite::ALL.iter().filter(|s| s.encrypts_srtp()).map(|s| s.sdes_name()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let key = MasterKey::new(suite, &p.master_key, &p.master_salt).map_err(|e| match e {
        PolicyError::KeyLength { .. } => invalid(&at("master_key"), e),
        _ => invalid(&at("master_salt"), e),
    })?;
    let key = match p.mki.len() {
        0 => key,
        len @ 1..=4 => {
            let value = p.mki.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
            key.with_mki(Mki::new(value, len).map_err(|e| invalid(&at("mki"), e))?)
        }
        len => return Err(invalid(&at("mki"), format!("{len} bytes: an MKI has 1 to 4 bytes"))),
    };
    let key = match p.lifetime {
        0 => key,
        n if n <= DEFAULT_SRTP_LIFETIME => key.with_lifetimes(n, n.min(DEFAULT_SRTCP_LIFETIME)),
        n => return Err(invalid(&at("lifetime"), format!("{n} packets: at most 2^48 (RFC 3711 §9.2)"))),
    };
    let policy = Policy::new(suite, key);
    control::check_srtp(field, Some(&policy))?;
    Ok(Some(policy))
}

/// A leg of a create request.
pub fn leg_request(at: &str, l: &pb::LegSpec) -> Result<LegRequest, Error> {
    check_label(&format!("{at}.label"), &l.label)?;
    if l.interface.is_empty() {
        return Err(invalid(&format!("{at}.interface"), "required"));
    }
    let srtp_inbound = srtp(&format!("{at}.srtp_inbound"), &l.srtp_inbound)?;
    let srtp_outbound = srtp(&format!("{at}.srtp_outbound"), &l.srtp_outbound)?;
    let prefer_v6 = match pb::AddressFamily::try_from(l.family) {
        Ok(pb::AddressFamily::Ipv6) => true,
        Ok(_) => false,
        Err(_) => return Err(invalid(&format!("{at}.family"), format!("{} is not an address family", l.family))),
    };
    Ok(LegRequest {
        label: l.label.clone(),
        interface: l.interface.clone(),
        local_port: None,
        local_address: None,
        prefer_v6,
        remote: l.remote.as_ref().map(|e| endpoint(&format!("{at}.remote"), e)).transpose()?,
        remote_rtcp: l.remote_rtcp.as_ref().map(|e| endpoint(&format!("{at}.remote_rtcp"), e)).transpose()?,
        rtcp_mux: l.rtcp_mux,
        latch: latch(&format!("{at}.latch"), l.latch)?,
        strict_source: l.strict_source,
        clock_rate: if l.clock_rate == 0 { DEFAULT_CLOCK_RATE } else { l.clock_rate },
        srtp_inbound,
        srtp_outbound,
    })
}

/// CreateSession, read.
pub fn create_request(req: pb::CreateSessionRequest) -> Result<CreateSession, Error> {
    if req.session_id.is_empty() {
        return Err(invalid("session_id", "required"));
    }
    let [a, b] = &req.legs[..] else {
        return Err(invalid("legs", format!("exactly two legs, not {}", req.legs.len())));
    };
    let secs = |s: u32| (s > 0).then(|| std::time::Duration::from_secs(u64::from(s)));
    Ok(CreateSession {
        legs: [leg_request("legs[0]", a)?, leg_request("legs[1]", b)?],
        id: req.session_id,
        media_timeout: secs(req.media_timeout_seconds),
        max_lifetime: secs(req.max_lifetime_seconds),
    })
}

/// UpdateLeg, read: fields present change, absent ones stay; SRTP
/// parameters present with an empty suite turn SRTP off.
pub fn update_request(req: pb::UpdateLegRequest) -> Result<UpdateLeg, Error> {
    let srtp = |field: &str, p: &Option<pb::SrtpParams>| p.is_some().then(|| srtp(field, p)).transpose();
    Ok(UpdateLeg {
        remote: req.remote.as_ref().map(|e| endpoint("remote", e)).transpose()?,
        remote_rtcp: req.remote_rtcp.as_ref().map(|e| endpoint("remote_rtcp", e)).transpose()?,
        latch: req.latch.map(|l| latch("latch", l)).transpose()?,
        srtp_inbound: srtp("srtp_inbound", &req.srtp_inbound)?,
        srtp_outbound: srtp("srtp_outbound", &req.srtp_outbound)?,
        rtcp_mux: req.rtcp_mux,
        strict_source: req.strict_source,
        hold: req.hold,
        label: req.label,
        session_id: req.session_id,
        leg: req.leg,
    })
}

/// ListSessions, read.
pub fn list_request(req: pb::ListSessionsRequest) -> control::ListSessions {
    control::ListSessions {
        page_size: req.page_size,
        page_token: req.page_token,
        interface: req.interface,
        id_prefix: req.id_prefix,
    }
}

/// Drain, read.
pub fn drain_request(req: pb::DrainRequest) -> control::Drain {
    control::Drain { reason: req.reason, exit_when_empty: req.exit_when_empty }
}

/// A leg's statistics for the API.
pub fn leg_stats(s: &view::LegStats) -> pb::LegStats {
    pb::LegStats {
        packets: s.packets,
        bytes: s.bytes,
        rtcp_packets: s.rtcp_packets,
        drops: s.drops.iter().map(|(name, n)| (name.to_string(), *n)).collect(),
        rtp: s.rtp.map(|r| pb::StreamStats {
            ssrc: r.ssrc,
            received: r.received,
            expected: r.expected,
            lost: r.lost,
            jitter_ms: r.jitter_ms,
        }),
        idle_seconds: s.idle_seconds,
    }
}

/// The API view of a leg.
pub fn leg(l: &LegView) -> pb::Leg {
    let suite = |s: Option<Suite>| s.map(|s| s.to_string()).unwrap_or_default();
    pb::Leg {
        label: l.label.clone(),
        interface: l.interface.clone(),
        local: Some(to_endpoint(l.local)),
        local_rtcp: Some(to_endpoint(l.local_rtcp)),
        remote: l.remote.map(to_endpoint),
        remote_rtcp: l.remote_rtcp.map(to_endpoint),
        rtcp_mux: l.rtcp_mux,
        latch: to_latch(l.latch),
        strict_source: l.strict_source,
        hold: l.hold,
        latched: l.latched.map(to_endpoint),
        stats: Some(leg_stats(&l.stats)),
        srtp_inbound_suite: suite(l.srtp_inbound),
        srtp_outbound_suite: suite(l.srtp_outbound),
        webrtc: l.webrtc.as_ref().map(|w| pb::WebrtcLeg {
            ice_ufrag: w.ice_ufrag.clone(),
            ice_pwd: w.ice_pwd.clone(),
            fingerprint: w.fingerprint.clone(),
            setup: w.role.map(|r| r.setup().to_string()).unwrap_or_default(),
            nominated: w.nominated.map(to_endpoint),
            dtls_state: w.dtls.to_string(),
            dtls_suite: suite(w.suite),
        }),
    }
}

fn end_reason(r: EndReason) -> pb::EndReason {
    match r {
        EndReason::Deleted => pb::EndReason::Deleted,
        EndReason::MediaTimeout => pb::EndReason::MediaTimeout,
        EndReason::MaxLifetime => pb::EndReason::MaxLifetime,
    }
}

/// The API view of a session.
pub fn session(s: &SessionView) -> pb::Session {
    let (state, end) = match s.state {
        SessionState::Pending => (pb::SessionState::Pending, pb::EndReason::Unspecified),
        SessionState::Active => (pb::SessionState::Active, pb::EndReason::Unspecified),
        SessionState::Ended(r) => (pb::SessionState::Ended, end_reason(r)),
    };
    pb::Session {
        id: s.id.clone(),
        legs: s.legs.iter().map(leg).collect(),
        state: state as i32,
        age_seconds: s.age_seconds,
        media_timeout_seconds: s.media_timeout.as_secs() as u32,
        max_lifetime_seconds: s.max_lifetime.map(|d| d.as_secs() as u32).unwrap_or(0),
        end_reason: end as i32,
    }
}

/// A page of sessions for the API.
pub fn session_page(p: &view::SessionPage) -> pb::ListSessionsResponse {
    pb::ListSessionsResponse {
        sessions: p.sessions.iter().map(session).collect(),
        next_page_token: p.next_page_token.clone(),
        total: p.total,
    }
}

/// The node's counters for the API.
pub fn node_stats(n: &view::NodeStats) -> pb::NodeStats {
    pb::NodeStats {
        ports: n
            .ports
            .iter()
            .map(|p| pb::PortStats {
                port_id: u32::from(p.port_id),
                device: p.device.clone(),
                driver: p.driver.clone(),
                rx_packets: p.counters.rx_packets,
                tx_packets: p.counters.tx_packets,
                rx_bytes: p.counters.rx_bytes,
                tx_bytes: p.counters.tx_bytes,
                rx_missed: p.counters.rx_missed,
                rx_errors: p.counters.rx_errors,
                tx_errors: p.counters.tx_errors,
                rx_nombuf: p.counters.rx_nombuf,
            })
            .collect(),
        workers: n
            .workers
            .iter()
            .map(|w| pb::WorkerStats {
                worker: w.worker,
                lcore: w.lcore,
                rx_packets: w.rx_packets,
                tx_packets: w.tx_packets,
                busy: w.busy,
                drops: w.drops.iter().map(|(name, n)| (name.to_string(), *n)).collect(),
            })
            .collect(),
        interfaces: n
            .interfaces
            .iter()
            .map(|i| pb::InterfaceStats {
                name: i.name.clone(),
                port_id: u32::from(i.port_id),
                ports_in_use: i.ports_in_use,
                ports_free: i.ports_free,
                sessions: i.sessions,
            })
            .collect(),
        sessions: n.sessions,
        draining: n.draining.is_some(),
        drain_reason: n.draining.clone().unwrap_or_default(),
        uptime_seconds: n.uptime_seconds,
        srtp_engine: n.srtp_engine.clone(),
        srtp_engine_detail: n.srtp_engine_detail.clone(),
    }
}

/// An event for WatchEvents.
pub fn event(e: &control::Event) -> pb::Event {
    use pb::event::Kind;
    let kind = match &e.kind {
        EventKind::Latched { leg, remote } => {
            Kind::Latched(pb::Latched { leg: leg.clone(), remote: Some(to_endpoint(*remote)) })
        }
        EventKind::MediaTimeout { idle_seconds } => {
            Kind::MediaTimeout(pb::MediaTimeout { idle_seconds: *idle_seconds })
        }
        EventKind::SrtpAuthFailures { leg, count } => {
            Kind::SrtpAuthFailures(pb::SrtpAuthFailures { leg: leg.clone(), count: *count })
        }
        EventKind::SessionEnded(s) => {
            let reason = match s.state {
                SessionState::Ended(r) => end_reason(r),
                _ => pb::EndReason::Unspecified,
            };
            Kind::SessionEnded(pb::SessionEnded { reason: reason as i32, session: Some(session(s)) })
        }
        EventKind::Webrtc { leg, event } => {
            let (kind, remote, detail) = match event {
                WebrtcEvent::Nominated(r) => ("ice_nominated", Some(to_endpoint(*r)), String::new()),
                WebrtcEvent::ConsentLost(r) => ("ice_consent_lost", Some(to_endpoint(*r)), String::new()),
                WebrtcEvent::DtlsConnected(suite) => ("dtls_connected", None, suite.to_string()),
                WebrtcEvent::DtlsFailed(reason) => ("dtls_failed", None, reason.clone()),
            };
            Kind::Webrtc(pb::WebrtcEvent { leg: leg.clone(), kind: kind.to_string(), remote, detail })
        }
    };
    pb::Event { time: e.time, session_id: e.session_id.clone(), kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_refusal_has_its_status_code() {
        let cases = [
            (Error::invalid("legs[0].remote", "bad"), Code::InvalidArgument, "legs[0].remote: bad"),
            (Error::Exists("session \"a\" exists with other parameters".into()), Code::AlreadyExists, "session"),
            (Error::NotFound("no session \"a\"".into()), Code::NotFound, "no session"),
            (Error::Exhausted("no free relay port".into()), Code::ResourceExhausted, "no free"),
            (Error::Busy("the control plane is busy; retry".into()), Code::ResourceExhausted, "busy; retry"),
            (Error::Unavailable("this node is draining".into()), Code::Unavailable, "draining"),
        ];
        for (e, code, message) in cases {
            let s = status(e);
            assert_eq!(s.code(), code);
            assert!(s.message().contains(message), "{}", s.message());
        }
    }

    #[test]
    fn an_update_changes_what_it_carries_and_an_empty_suite_turns_srtp_off() {
        let req = pb::UpdateLegRequest {
            session_id: "s".into(),
            leg: "a".into(),
            remote: Some(pb::Endpoint { address: "198.18.0.2".into(), port: 5004 }),
            srtp_inbound: Some(pb::SrtpParams::default()),
            ..Default::default()
        };
        let u = update_request(req).unwrap();
        assert_eq!(u.remote, Some("198.18.0.2:5004".parse().unwrap()));
        assert_eq!((u.srtp_inbound, u.srtp_outbound), (Some(None), None));
        assert_eq!((u.remote_rtcp, u.rtcp_mux, u.latch, u.hold, u.label), (None, None, None, None, None));
        let bad = pb::UpdateLegRequest { latch: Some(9), ..Default::default() };
        assert_eq!(update_request(bad).unwrap_err().to_string(), "latch: 9 is not a latch mode");
    }

    #[test]
    fn a_create_needs_an_id_then_two_legs() {
        let two = pb::CreateSessionRequest { legs: vec![Default::default(); 3], ..Default::default() };
        assert_eq!(create_request(two.clone()).unwrap_err().to_string(), "session_id: required");
        let three = pb::CreateSessionRequest { session_id: "s".into(), ..two };
        assert_eq!(create_request(three).unwrap_err().to_string(), "legs: exactly two legs, not 3");
    }
}
