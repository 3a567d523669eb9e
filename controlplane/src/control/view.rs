//! What the control loop answers and tells: views of sessions with their
//! statistics, the node's counters, and the events it publishes. Plain data,
//! built here from the session model and the dataplane's counters; each
//! front-end writes them in its own wire form.

use std::net::SocketAddr;
use std::time::Duration;

use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::Suite;
use mediafwd_dataplane::stats::PortStats as NicCounters;
use mediafwd_dataplane::stats::{FlowDrop, FlowStats};

use crate::session::{IfaceInfo, Leg, Session};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Created; not every remote known yet.
    Pending,
    /// Both remotes known.
    Active,
    /// Ended.
    Ended(EndReason),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A client deleted it.
    Deleted,
    /// Neither media nor signalling for its media timeout.
    MediaTimeout,
    /// It reached its maximum lifetime.
    MaxLifetime,
}

impl EndReason {
    /// Every reason, in the order of the node's counters.
    pub const ALL: [EndReason; 3] = [EndReason::Deleted, EndReason::MediaTimeout, EndReason::MaxLifetime];

    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::MaxLifetime => "max_lifetime",
        }
    }
}

/// Reception statistics of one RTP stream (RFC 3550).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamStats {
    /// Its SSRC.
    pub ssrc: u32,
    /// Packets received.
    pub received: u64,
    /// Packets expected (extended highest sequence - first + 1).
    pub expected: u64,
    /// Packets lost.
    pub lost: u64,
    /// Interarrival jitter, milliseconds.
    pub jitter_ms: f64,
}

/// What one leg's endpoint sent us, and what became of it (RTP and RTCP flows together).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegStats {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// RTCP packets among them.
    pub rtcp_packets: u64,
    /// Drops by reason name, the reasons that occurred only.
    pub drops: Vec<(&'static str, u64)>,
    /// The RTP stream, once one was received.
    pub rtp: Option<StreamStats>,
    /// Seconds since the last packet; `None` if none arrived.
    pub idle_seconds: Option<f64>,
}

impl LegStats {
    /// Packets dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }

    /// Both flows of a leg (RTP, RTCP), with `now_tsc` and `tsc_hz` for its
    /// idle time and `clock_rate` for its jitter.
    pub fn of(rtp: &FlowStats, rtcp: &FlowStats, now_tsc: u64, tsc_hz: u64, clock_rate: u32) -> LegStats {
        let drops = FlowDrop::ALL
            .iter()
            .map(|d| (d.name(), rtp.dropped(*d) + rtcp.dropped(*d)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let last = rtp.last_tsc.max(rtcp.last_tsc);
        LegStats {
            packets: rtp.packets + rtcp.packets,
            bytes: rtp.bytes + rtcp.bytes,
            rtcp_packets: rtp.rtcp_packets + rtcp.rtcp_packets,
            drops,
            rtp: (rtp.rtp_received > 0).then(|| StreamStats {
                ssrc: rtp.ssrc,
                received: rtp.rtp_received,
                expected: rtp.rtp_expected,
                lost: rtp.rtp_lost,
                jitter_ms: rtp.jitter as f64 * 1000.0 / clock_rate.max(1) as f64,
            }),
            idle_seconds: (last > 0).then(|| now_tsc.saturating_sub(last) as f64 / tsc_hz.max(1) as f64),
        }
    }
}

/// A leg as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegView {
    /// Its label.
    pub label: String,
    /// Its interface.
    pub interface: String,
    /// Our RTP address: what goes into the SDP towards its endpoint.
    pub local: SocketAddr,
    /// Our RTCP address.
    pub local_rtcp: SocketAddr,
    /// The endpoint's RTP address, as configured.
    pub remote: Option<SocketAddr>,
    /// The endpoint's RTCP address, as configured or implied.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// Latching.
    pub latch: LatchMode,
    /// Other sources dropped.
    pub strict_source: bool,
    /// Media towards the endpoint held.
    pub hold: bool,
    /// The remote learned from traffic.
    pub latched: Option<SocketAddr>,
    /// The RTP clock rate its jitter is measured in.
    pub clock_rate: u32,
    /// What its endpoint sent.
    pub stats: LegStats,
    /// The SRTP suite of what the endpoint sends, if SRTP.
    pub srtp_inbound: Option<Suite>,
    /// The SRTP suite of what the endpoint receives, if SRTP.
    pub srtp_outbound: Option<Suite>,
    /// Its ICE and DTLS state, if a WebRTC leg.
    pub webrtc: Option<crate::webrtc::WebrtcView>,
}

impl LegView {
    /// The view of `l` on `interface`, with its statistics.
    pub fn of(l: &Leg, interface: &str, stats: LegStats) -> LegView {
        let remote_rtcp = l.request.remote_rtcp.or_else(|| {
            l.request.remote.map(|r| if l.request.rtcp_mux { r } else { SocketAddr::new(r.ip(), r.port() + 1) })
        });
        let (srtp_inbound, srtp_outbound) = l.srtp.suites();
        LegView {
            label: l.request.label.clone(),
            interface: interface.to_string(),
            local: l.local,
            local_rtcp: l.local_rtcp(),
            remote: l.request.remote,
            remote_rtcp,
            rtcp_mux: l.request.rtcp_mux,
            latch: l.request.latch,
            strict_source: l.request.strict_source,
            hold: l.hold,
            latched: l.latched,
            clock_rate: l.request.clock_rate,
            stats,
            srtp_inbound,
            srtp_outbound,
            webrtc: None,
        }
    }
}

/// A session as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    /// Its id.
    pub id: String,
    /// Its two legs.
    pub legs: [LegView; 2],
    /// Where it stands.
    pub state: SessionState,
    /// Seconds since it was created.
    pub age_seconds: f64,
    /// Its media timeout.
    pub media_timeout: Duration,
    /// Its lifetime, if limited.
    pub max_lifetime: Option<Duration>,
}

impl SessionView {
    /// The view of a live session, with each leg's statistics from `stats`.
    pub fn of(s: &Session, interfaces: &[IfaceInfo], stats: impl Fn(&Leg) -> LegStats) -> SessionView {
        SessionView {
            id: s.id.clone(),
            legs: [0, 1].map(|i| {
                let l = &s.legs[i];
                LegView::of(l, &interfaces[l.iface].config.name, stats(l))
            }),
            state: state(s),
            age_seconds: s.created.elapsed().as_secs_f64(),
            media_timeout: s.media_timeout,
            max_lifetime: s.max_lifetime,
        }
    }
}

/// The state of a live session.
pub fn state(s: &Session) -> SessionState {
    if s.legs.iter().all(|l| l.remote().is_some()) {
        SessionState::Active
    } else {
        SessionState::Pending
    }
}

/// A page of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    /// The sessions, in id order.
    pub sessions: Vec<SessionView>,
    /// The id to continue after; empty on the last page.
    pub next_page_token: String,
    /// Sessions matching the filter.
    pub total: u32,
}

/// A port and its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Its id.
    pub port_id: u16,
    /// Its device name.
    pub device: String,
    /// Its driver.
    pub driver: String,
    /// What the NIC counted.
    pub counters: NicCounters,
}

/// A worker's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    /// Its index.
    pub worker: u32,
    /// Its lcore.
    pub lcore: u32,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets relayed.
    pub tx_packets: u64,
    /// Share of cycles in polls that received packets, 0..1.
    pub busy: f64,
    /// Drops by reason name, the reasons that occurred only.
    pub drops: Vec<(&'static str, u64)>,
}

impl WorkerStats {
    /// Packets dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
}

/// An interface's sessions and relay ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Its name.
    pub name: String,
    /// Its port.
    pub port_id: u16,
    /// Port pairs in use.
    pub ports_in_use: u32,
    /// Port pairs free.
    pub ports_free: u32,
    /// Sessions with a leg on it.
    pub sessions: u32,
}

/// The node's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// Per port.
    pub ports: Vec<PortStats>,
    /// Per worker.
    pub workers: Vec<WorkerStats>,
    /// Per interface.
    pub interfaces: Vec<InterfaceStats>,
    /// Sessions.
    pub sessions: u32,
    /// Why the node drains, if it does.
    pub draining: Option<String>,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// The SRTP crypto engine in use (`ipsec-mb`, `portable`).
    pub srtp_engine: String,
    /// What it runs on.
    pub srtp_engine_detail: String,
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unix time, seconds.
    pub time: f64,
    /// The session.
    pub session_id: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A leg learned its remote from traffic.
    Latched {
        /// The leg's label.
        leg: String,
        /// The remote now in force.
        remote: SocketAddr,
    },
    /// Neither media nor signalling for this long: the session ends.
    MediaTimeout {
        /// Seconds idle.
        idle_seconds: f64,
    },
    /// SRTP packets from a leg's endpoint failed authentication.
    SrtpAuthFailures {
        /// The leg's label.
        leg: String,
        /// Failures since the last report.
        count: u64,
    },
    /// The session ended; its final view.
    SessionEnded(Box<SessionView>),
    /// Something happened to a WebRTC leg's ICE or DTLS.
    Webrtc {
        /// The leg's label.
        leg: String,
        /// What happened.
        event: crate::webrtc::WebrtcEvent,
    },
}
