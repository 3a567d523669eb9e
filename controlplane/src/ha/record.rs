//! The durable facts of a session: what a node needs to program it again,
//! after a restart or on another node. One serializable struct with a
//! version, written whole (JSON) under the session's key; restoring replays
//! it into the session manager's `create` with the ports fixed, then the
//! latches and holds through the same calls that set them the first time
//! ([`super::restore`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::{Context, MasterKey, Mki, Policy, Suite};
use serde::{Deserialize, Serialize};

use super::seal::{KeyField, SealError, Sealer};
use crate::session::{LegRequest, Session};

/// The record format written by this version of mediafwd. A reader refuses
/// a higher version (written by a newer node) rather than guess.
pub const RECORD_VERSION: u32 = 1;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// [`RECORD_VERSION`] when written.
    pub version: u32,
    /// The session id.
    pub id: String,
    /// Idle time after which it ends, in milliseconds.
    pub media_timeout_ms: u64,
    /// Lifetime after which it ends, in milliseconds.
    pub max_lifetime_ms: Option<u64>,
    /// Its two legs.
    pub legs: [LegRecord; 2],
}

/// A leg as stored: the request with the local address and port it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRecord {
    /// Label, unique in the session.
    pub label: String,
    /// Interface name.
    pub interface: String,
    /// Our RTP address and port.
    pub local: SocketAddr,
    /// The port was asked for (static sessions), not allocated.
    pub fixed_port: bool,
    /// Asked for an IPv6 local address.
    pub prefer_v6: bool,
    /// The endpoint's RTP address, as configured.
    pub remote: Option<SocketAddr>,
    /// The endpoint's RTCP address, if not RTP + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// The remote learned from traffic.
    pub latched: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// "off", "once" or "follow".
    pub latch: String,
    /// Drop other sources.
    pub strict_source: bool,
    /// Media towards the endpoint held.
    pub hold: bool,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Keys of what the endpoint sends us.
    pub srtp_inbound: Option<PolicyRecord>,
    /// Keys of what we send the endpoint.
    pub srtp_outbound: Option<PolicyRecord>,
    /// The RTP stream the leg receives, as last checkpointed.
    #[serde(default)]
    pub rtp_checkpoint: Option<StreamCheckpoint>,
    /// The next SRTCP index of what the node protects from this leg towards
    /// the other (the highest over the SSRCs), as last checkpointed.
    #[serde(default)]
    pub srtcp_checkpoint: Option<u32>,
    /// A WebRTC leg's ICE and DTLS facts.
    #[serde(default)]
    pub webrtc: Option<super::record_webrtc::WebrtcRecord>,
}

/// Packets after which a stream's checkpoint is written again within a
/// rollover counter. A node resuming a stream guesses the index of its next
/// packet from the checkpoint (RFC 3711 Appendix A), which holds only while
/// the checkpoint is less than 2^15 packets behind: a quarter of a cycle
/// leaves room for the packets sent before the checkpoint is taken and the
/// node takes over.
pub const CHECKPOINT_STRIDE: u64 = 1 << 14;

/// SRTCP packets a flow protects before its SRTCP index is checkpointed
/// again. Its first checkpoint is written at its first SRTCP packet.
pub const SRTCP_CHECKPOINT_STRIDE: u32 = 1 << 10;

/// How far past its checkpoint a resumed flow's SRTCP index goes on: more
/// than the flow can have protected since its last checkpoint reached the
/// store (under [`SRTCP_CHECKPOINT_STRIDE`], plus what it protected while
/// the next one was being written), so that no SRTCP index is protected
/// twice under the same keys. docs/ha.md gives the reasoning; 2^24 leaves
/// room for 127 resumes of a stream in the 31-bit index space.
pub const SRTCP_RESUME_MARGIN: u32 = 1 << 24;

/// The largest SRTCP index (31 bits, RFC 3711 §3.4).
const SRTCP_MAX_INDEX: u32 = 0x7fff_ffff;

/// What a node keeps of a leg's streams between writes of its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegCheckpoint {
    /// The RTP stream the leg receives.
    pub rtp: Option<StreamCheckpoint>,
    /// The next SRTCP index of what is protected from the leg.
    pub srtcp_next: Option<u32>,
}

impl LegCheckpoint {
    /// Whether `now` needs writing after `self`: its RTP stream is due
    /// ([`StreamCheckpoint::due`]), or its SRTCP index protected a first
    /// packet or moved [`SRTCP_CHECKPOINT_STRIDE`] on.
    pub fn due(&self, now: &LegCheckpoint) -> bool {
        let rtp = now.rtp.is_some_and(|n| StreamCheckpoint::due(self.rtp, n));
        let srtcp = match (self.srtcp_next, now.srtcp_next) {
            (_, None | Some(0)) => false,
            (None, Some(_)) => true,
            (Some(p), Some(n)) => n >= p.saturating_add(SRTCP_CHECKPOINT_STRIDE),
        };
        rtp || srtcp
    }

    /// `now` over `self`: the latest RTP stream, the highest SRTCP index.
    pub fn merged(&self, now: &LegCheckpoint) -> LegCheckpoint {
        LegCheckpoint { rtp: now.rtp.or(self.rtp), srtcp_next: now.srtcp_next.max(self.srtcp_next) }
    }

    /// The SRTCP index a node resuming the leg protects from:
    /// [`SRTCP_RESUME_MARGIN`] past the checkpoint (past 0 without one: the
    /// flow may have protected SRTCP before its first checkpoint was
    /// written), at most the last index.
    pub fn srtcp_resume_at(&self) -> u32 {
        self.srtcp_next.unwrap_or(0).saturating_add(SRTCP_RESUME_MARGIN).min(SRTCP_MAX_INDEX)
    }
}

/// Where an RTP stream stood: its SSRC and its extended highest sequence
/// number, which is the SRTP packet index of an SRTP stream (RFC 3711
/// §3.3.1). The flow from this leg unprotects it with that index and the
/// flow to the other leg protects it with the same index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Its extended highest sequence number (rollover counter << 16 | seq).
    pub index: u64,
}

impl StreamCheckpoint {
    /// The rollover counter.
    pub fn roc(self) -> u32 {
        (self.index >> 16) as u32
    }

    /// Whether `now` needs writing after `prev`: another rollover counter,
    /// another stream, or [`CHECKPOINT_STRIDE`] packets since `prev`. A
    /// stream's first checkpoint is due once its index reaches the stride:
    /// below it, the stream cannot have wrapped yet, and a node starting it
    /// afresh (at rollover counter 0) guesses its indexes right.
    pub fn due(prev: Option<StreamCheckpoint>, now: StreamCheckpoint) -> bool {
        match prev {
            None => now.index >= CHECKPOINT_STRIDE,
            Some(p) => p.ssrc != now.ssrc || p.roc() != now.roc() || now.index.abs_diff(p.index) >= CHECKPOINT_STRIDE,
        }
    }
}

/// An SRTP policy as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The suite, as mediafwd names it (`Suite`'s display name).
    pub suite: String,
    /// Master keys.
    pub keys: Vec<KeyRecord>,
    /// Index of the key that protects.
    pub tx_key: usize,
    /// Replay window, packets.
    pub window_size: u32,
}

/// One master key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Key then salt, in clear or sealed ([`Sealer`]).
    pub key_salt: KeyField,
    /// MKI value and length in bytes.
    pub mki: Option<(u32, u8)>,
    /// SRTP packets per stream under this key.
    pub srtp_lifetime: u64,
    /// SRTCP packets per stream under this key.
    pub srtcp_lifetime: u64,
}

/// Why a stored record cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of a record.
    #[error("not a session record: {0}")]
    Syntax(#[from] serde_json::Error),
    /// Written by a newer mediafwd.
    #[error("record version {0} is newer than this node's ({RECORD_VERSION}); upgrade this node")]
    Version(u32),
    /// A field holds what this node cannot use.
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A sealed key field cannot be opened.
    #[error("{0}")]
    Seal(#[from] SealError),
}

fn field(field: &str, message: impl ToString) -> RecordError {
    RecordError::Field { field: field.to_string(), message: message.to_string() }
}

/// The name a latch mode is stored under.
pub fn latch_name(m: LatchMode) -> &'static str {
    match m {
        LatchMode::Off => "off",
        LatchMode::Once => "once",
        LatchMode::Follow => "follow",
    }
}

impl SessionRecord {
    /// The record of `s`, its keys sealed by `sealer` when there is one.
    pub fn of(s: &Session, sealer: Option<&Sealer>) -> Result<Self, SealError> {
        let leg = |l: &crate::session::Leg| -> Result<LegRecord, SealError> {
            let r = &l.request;
            let policy = |p: &Option<Policy>| p.as_ref().map(|p| PolicyRecord::of(p, sealer)).transpose();
            Ok(LegRecord {
                label: r.label.clone(),
                interface: r.interface.clone(),
                local: l.local,
                fixed_port: r.local_port.is_some(),
                prefer_v6: r.prefer_v6,
                remote: r.remote,
                remote_rtcp: r.remote_rtcp,
                latched: l.latched,
                rtcp_mux: r.rtcp_mux,
                latch: latch_name(r.latch).to_string(),
                strict_source: r.strict_source,
                hold: l.hold,
                clock_rate: r.clock_rate,
                srtp_inbound: policy(&r.srtp_inbound)?,
                srtp_outbound: policy(&r.srtp_outbound)?,
                rtp_checkpoint: None,
                srtcp_checkpoint: None,
                webrtc: None,
            })
        };
        Ok(SessionRecord {
            version: RECORD_VERSION,
            id: s.id.clone(),
            media_timeout_ms: s.media_timeout.as_millis() as u64,
            max_lifetime_ms: s.max_lifetime.map(|d| d.as_millis() as u64),
            legs: [leg(&s.legs[0])?, leg(&s.legs[1])?],
        })
    }

    /// The record with the legs' stream checkpoints.
    pub fn with_checkpoints(mut self, checkpoints: [LegCheckpoint; 2]) -> Self {
        for (l, c) in self.legs.iter_mut().zip(checkpoints) {
            l.rtp_checkpoint = c.rtp;
            l.srtcp_checkpoint = c.srtcp_next;
        }
        self
    }

    /// The legs' stream checkpoints in the record.
    pub fn checkpoints(&self) -> [LegCheckpoint; 2] {
        self.legs.each_ref().map(|l| LegCheckpoint { rtp: l.rtp_checkpoint, srtcp_next: l.srtcp_checkpoint })
    }

    /// The JSON written to the store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }

    /// A record read from the store; refuses a newer version.
    pub fn from_json(text: &[u8]) -> Result<Self, RecordError> {
        let r: SessionRecord = serde_json::from_slice(text)?;
        if r.version > RECORD_VERSION {
            return Err(RecordError::Version(r.version));
        }
        Ok(r)
    }

    /// Idle time after which the session ends.
    pub fn media_timeout(&self) -> Duration {
        Duration::from_millis(self.media_timeout_ms)
    }

    /// Lifetime after which the session ends.
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime_ms.map(Duration::from_millis)
    }

    /// The legs as the session manager's `create` takes them: the local
    /// address and port fixed to what they were, the keys opened with
    /// `sealer` and checked.
    pub fn leg_requests(&self, sealer: Option<&Sealer>) -> Result<[LegRequest; 2], RecordError> {
        let [a, b] = &self.legs;
        Ok([a.request(0, sealer)?, b.request(1, sealer)?])
    }
}

impl LegRecord {
    fn request(&self, i: usize, sealer: Option<&Sealer>) -> Result<LegRequest, RecordError> {
        let at = |f: &str| format!("legs[{i}].{f}");
        let latch = crate::session::LatchSetting::parse(&self.latch).map_err(|e| field(&at("latch"), e))?.0;
        let policy = |f: &str, p: &Option<PolicyRecord>| -> Result<Option<Policy>, RecordError> {
            let Some(p) = p else { return Ok(None) };
            let policy = p.policy(&at(f), sealer)?;
            Context::new(&policy).map_err(|e| field(&at(f), e))?;
            Ok(Some(policy))
        };
        Ok(LegRequest {
            label: self.label.clone(),
            interface: self.interface.clone(),
            local_port: Some(self.local.port()),
            local_address: Some(self.local.ip()),
            prefer_v6: self.prefer_v6,
            remote: self.remote,
            remote_rtcp: self.remote_rtcp,
            rtcp_mux: self.rtcp_mux,
            latch,
            strict_source: self.strict_source,
            clock_rate: self.clock_rate,
            srtp_inbound: policy("srtp_inbound", &self.srtp_inbound)?,
            srtp_outbound: policy("srtp_outbound", &self.srtp_outbound)?,
        })
    }

    /// The local address of the leg.
    pub fn local_ip(&self) -> IpAddr {
        self.local.ip()
    }
}

impl PolicyRecord {
    fn of(p: &Policy, sealer: Option<&Sealer>) -> Result<Self, SealError> {
        let keys = p
            .master_keys
            .iter()
            .map(|k| {
                Ok(KeyRecord {
                    key_salt: KeyField::new(k.key_salt(), sealer)?,
                    mki: k.mki.map(|m| (m.value(), m.len() as u8)),
                    srtp_lifetime: k.srtp_lifetime,
                    srtcp_lifetime: k.srtcp_lifetime,
                })
            })
            .collect::<Result<_, SealError>>()?;
        Ok(PolicyRecord { suite: p.suite.to_string(), keys, tx_key: p.tx_key, window_size: p.window_size })
    }

    fn policy(&self, at: &str, sealer: Option<&Sealer>) -> Result<Policy, RecordError> {
        let suite = Suite::ALL
            .into_iter()
            .find(|s| s.to_string() == self.suite)
            .ok_or_else(|| field(&format!("{at}.suite"), format!("{:?} is not a suite this node knows", self.suite)))?;
        let mut master_keys = Vec::with_capacity(self.keys.len());
        for (i, k) in self.keys.iter().enumerate() {
            let at = format!("{at}.keys[{i}]");
            let key_salt = k.key_salt.open(sealer)?;
            let mut key = MasterKey::from_key_salt(suite, &key_salt)
                .map_err(|e| field(&format!("{at}.key_salt"), e))?
                .with_lifetimes(k.srtp_lifetime, k.srtcp_lifetime);
            if let Some((value, len)) = k.mki {
                key = key.with_mki(Mki::new(value.into(), len.into()).map_err(|e| field(&format!("{at}.mki"), e))?);
            }
            master_keys.push(key);
        }
        Ok(Policy { suite, master_keys, tx_key: self.tx_key, window_size: self.window_size })
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
