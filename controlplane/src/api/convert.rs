//! Between the protobuf API and the session model: requests are checked
//! here (a bad field answers INVALID_ARGUMENT naming it), views of sessions
//! are built here.

use std::net::{IpAddr, SocketAddr};

use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::{
    Context, MasterKey, Mki, Policy, PolicyError, Suite, DEFAULT_SRTCP_LIFETIME, DEFAULT_SRTP_LIFETIME,
};
use mediafwd_dataplane::stats::{FlowDrop, FlowStats};
use mediafwd_proto::v1 as pb;
use tonic::Status;

use crate::session::{IfaceInfo, Leg, LegRequest, Session};

/// INVALID_ARGUMENT naming `field`.
pub fn invalid(field: &str, message: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {message}"))
}

/// An endpoint from the API.
pub fn endpoint(field: &str, e: &pb::Endpoint) -> Result<SocketAddr, Status> {
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
pub fn latch(field: &str, v: i32) -> Result<LatchMode, Status> {
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
pub fn srtp(field: &str, p: &Option<pb::SrtpParams>) -> Result<Option<Policy>, Status> {
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
    Context::new(&policy).map_err(|e| invalid(field, e))?;
    Ok(Some(policy))
}

/// A leg of a create request.
pub fn leg_request(at: &str, l: &pb::LegSpec) -> Result<LegRequest, Status> {
    if l.label.is_empty() || l.label.len() > 64 {
        return Err(invalid(&format!("{at}.label"), "1 to 64 characters"));
    }
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
        clock_rate: if l.clock_rate == 0 { 8000 } else { l.clock_rate },
        srtp_inbound,
        srtp_outbound,
    })
}

/// Statistics of both flows of a leg (what its endpoint sent us).
pub fn leg_stats(rtp: &FlowStats, rtcp: &FlowStats, now_tsc: u64, tsc_hz: u64, clock_rate: u32) -> pb::LegStats {
    let mut drops = std::collections::HashMap::new();
    for d in FlowDrop::ALL {
        let n = rtp.dropped(d) + rtcp.dropped(d);
        if n > 0 {
            drops.insert(d.name().to_string(), n);
        }
    }
    let last = rtp.last_tsc.max(rtcp.last_tsc);
    pb::LegStats {
        packets: rtp.packets + rtcp.packets,
        bytes: rtp.bytes + rtcp.bytes,
        rtcp_packets: rtp.rtcp_packets + rtcp.rtcp_packets,
        drops,
        rtp: (rtp.rtp_received > 0).then(|| pb::StreamStats {
            ssrc: rtp.ssrc,
            received: rtp.rtp_received,
            expected: rtp.rtp_expected,
            lost: rtp.rtp_lost,
            jitter_ms: rtp.jitter as f64 * 1000.0 / clock_rate.max(1) as f64,
        }),
        idle_seconds: (last > 0).then(|| now_tsc.saturating_sub(last) as f64 / tsc_hz.max(1) as f64),
    }
}

/// The API view of a leg.
pub fn leg_view(l: &Leg, interface: &str, stats: pb::LegStats) -> pb::Leg {
    let remote_rtcp = l.request.remote_rtcp.or_else(|| {
        l.request.remote.map(|r| if l.request.rtcp_mux { r } else { SocketAddr::new(r.ip(), r.port() + 1) })
    });
    let (srtp_inbound_suite, srtp_outbound_suite) = l.srtp.suites();
    pb::Leg {
        label: l.request.label.clone(),
        interface: interface.to_string(),
        local: Some(to_endpoint(l.local)),
        local_rtcp: Some(to_endpoint(l.local_rtcp())),
        remote: l.request.remote.map(to_endpoint),
        remote_rtcp: remote_rtcp.map(to_endpoint),
        rtcp_mux: l.request.rtcp_mux,
        latch: to_latch(l.request.latch),
        strict_source: l.request.strict_source,
        hold: l.hold,
        latched: l.latched.map(to_endpoint),
        stats: Some(stats),
        srtp_inbound_suite,
        srtp_outbound_suite,
    }
}

/// The state shown for a live session.
pub fn state(s: &Session) -> i32 {
    if s.legs.iter().all(|l| l.remote().is_some()) {
        pb::SessionState::Active as i32
    } else {
        pb::SessionState::Pending as i32
    }
}

/// The API view of a live session, with each leg's statistics from `stats`.
pub fn session_view(s: &Session, interfaces: &[IfaceInfo], stats: impl Fn(&Leg) -> pb::LegStats) -> pb::Session {
    pb::Session {
        id: s.id.clone(),
        legs: s.legs.iter().map(|l| leg_view(l, &interfaces[l.iface].config.name, stats(l))).collect(),
        state: state(s),
        age_seconds: s.created.elapsed().as_secs_f64(),
        media_timeout_seconds: s.media_timeout.as_secs() as u32,
        max_lifetime_seconds: s.max_lifetime.map(|d| d.as_secs() as u32).unwrap_or(0),
        end_reason: pb::EndReason::Unspecified as i32,
    }
}
