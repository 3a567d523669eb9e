//! What the front-ends ask of the control loop, in the terms of the session
//! model: requests carry checked domain values (addresses, latch modes, SRTP
//! policies), replies are views ([`super::view`]) or an [`Error`].

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::Policy;
use tokio::sync::oneshot;

use super::view::{NodeStats, SessionPage, SessionView};
use super::Error;
use crate::logging::RateLimit;
use crate::session::LegRequest;
use crate::warn_limited;
use crate::webrtc::{WebrtcSetup, WebrtcView};

/// The answer to a request.
pub type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSession {
    /// Its id, unique on the node.
    pub id: String,
    /// The two legs.
    pub legs: [LegRequest; 2],
    /// Idle time after which it ends; `None`: the node's default.
    pub media_timeout: Option<Duration>,
    /// Lifetime after which it ends; `None`: the node's default.
    pub max_lifetime: Option<Duration>,
}

/// A change of one leg: the fields that are `Some` change, the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateLeg {
    /// The session.
    pub session_id: String,
    /// The leg, by its current label.
    pub leg: String,
    /// The endpoint's RTP address.
    pub remote: Option<SocketAddr>,
    /// The endpoint's RTCP address.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: Option<bool>,
    /// Latching.
    pub latch: Option<LatchMode>,
    /// Drop other sources.
    pub strict_source: Option<bool>,
    /// Media towards the endpoint held.
    pub hold: Option<bool>,
    /// A new label.
    pub label: Option<String>,
    /// SRTP keys of what the endpoint sends (`Some(None)`: plain RTP from now on).
    pub srtp_inbound: Option<Option<Policy>>,
    /// SRTP keys of what the endpoint receives (`Some(None)`: plain RTP from now on).
    pub srtp_outbound: Option<Option<Policy>>,
}

impl UpdateLeg {
    /// A change of nothing to leg `leg` of `session_id` (it still counts as
    /// signalling for the media timeout).
    pub fn of(session_id: impl Into<String>, leg: impl Into<String>) -> Self {
        UpdateLeg { session_id: session_id.into(), leg: leg.into(), ..Default::default() }
    }
}

/// Which sessions to list, a page at a time, in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSessions {
    /// At most this many (0: 100; at most 1000).
    pub page_size: u32,
    /// The sessions after this id (a previous page's `next_page_token`).
    pub page_token: String,
    /// Only sessions with a leg on this interface (empty: any).
    pub interface: String,
    /// Only sessions whose id starts with this.
    pub id_prefix: String,
}

/// Refuse new sessions from now on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drain {
    /// Given to those refused.
    pub reason: String,
    /// Stop the node once the last session ended.
    pub exit_when_empty: bool,
}

/// What a front-end asks of the control loop.
pub enum Request {
    /// Create a session (idempotent for the same parameters).
    Create(Box<CreateSession>, Reply<SessionView>),
    /// Change a leg, all or nothing.
    Update(Box<UpdateLeg>, Reply<SessionView>),
    /// End a session: its final view.
    Delete(String, Reply<SessionView>),
    /// A session.
    Get(String, Reply<SessionView>),
    /// A page of sessions.
    List(ListSessions, Reply<SessionPage>),
    /// The node's counters.
    Stats(Reply<NodeStats>),
    /// Drain: the sessions left.
    Drain(Drain, Reply<usize>),
    /// The node's metrics, as Prometheus exposition text.
    Metrics(Reply<String>),
    /// Make a leg a WebRTC leg (ICE-lite, DTLS-SRTP), or change it.
    Webrtc(Box<WebrtcSetup>, Reply<WebrtcView>),
    /// Take the group's lease over (a standby): the epoch of the claim.
    Takeover(crate::ha::role::Takeover),
    /// Whether the node holds its group's lease, and the epoch of its claim.
    HaState(Reply<(bool, u64)>),
}

/// Sends a request to the control loop and awaits its answer (from an async
/// front-end: the gRPC API, the ng listener or `/metrics`). A full queue or a
/// stopping node is an error, never a wait.
pub async fn ask<T>(control: &Sender<Request>, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, Error> {
    let (tx, rx) = oneshot::channel();
    match control.try_send(make(tx)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            static BUSY: std::sync::OnceLock<std::sync::Mutex<RateLimit>> = std::sync::OnceLock::new();
            let limit = BUSY.get_or_init(|| std::sync::Mutex::new(RateLimit::new(5, Duration::from_secs(60))));
            warn_limited!(
                limit.lock().unwrap_or_else(|e| e.into_inner()),
                "the control plane's request queue is full; requests are refused as busy"
            );
            return Err(Error::Busy("the control plane is busy; retry".into()));
        }
        Err(TrySendError::Disconnected(_)) => return Err(stopping()),
    }
    rx.await.map_err(|_| stopping())?
}

fn stopping() -> Error {
    Error::Unavailable("the node is stopping".into())
}
