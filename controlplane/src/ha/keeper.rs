//! What the control loop calls when a session changes or ends: the record
//! made here (cheap: JSON and, with a key file, a seal per key), the write
//! left to the [`Writer`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mediafwd_dataplane::Dataplane;

use super::record::{LegCheckpoint, SessionRecord, StreamCheckpoint};
use super::seal::Sealer;
use super::writer::{Writer, WriterConfig};
use crate::config::HaConfig;
use crate::metrics::node::StoreSample;
use crate::session::{Session, SessionManager};

/// Keeps the node's sessions in the store.
pub struct Keeper {
    writer: Writer,
    sealer: Option<Arc<Sealer>>,
    /// The stream checkpoints of the SRTP sessions, as last written.
    checkpoints: HashMap<String, [LegCheckpoint; 2]>,
}

impl Keeper {
    /// Starts writing to the store of `config` from `rt`.
    pub fn spawn(config: &HaConfig, rt: &tokio::runtime::Handle, sealer: Option<Arc<Sealer>>) -> Self {
        let writer = Writer::spawn(
            rt,
            WriterConfig { url: config.redis_url.clone(), group: config.group.clone(), backlog: config.backlog },
        );
        Keeper { writer, sealer, checkpoints: HashMap::new() }
    }

    /// Goes on from the stream checkpoints of the sessions a restore programmed.
    pub fn resumed(mut self, checkpoints: HashMap<String, [LegCheckpoint; 2]>) -> Self {
        self.set_checkpoints(checkpoints);
        self
    }

    /// Goes on from these stream checkpoints (a standby's, taking over).
    pub fn set_checkpoints(&mut self, checkpoints: HashMap<String, [LegCheckpoint; 2]>) {
        self.checkpoints = checkpoints;
    }

    /// Goes on from these checkpoints for their sessions (sessions a node
    /// programmed from the store after it took over).
    pub fn merge_checkpoints(&mut self, checkpoints: HashMap<String, [LegCheckpoint; 2]>) {
        self.checkpoints.extend(checkpoints);
    }

    /// `s` was created or changed.
    pub fn changed(&self, s: &Session) {
        self.changed_with_webrtc(s, &[]);
    }

    /// Session `s` changed; `webrtc` are the facts of its WebRTC legs.
    pub fn changed_with_webrtc(&self, s: &Session, webrtc: &[crate::webrtc::WebrtcSnapshot]) {
        let checkpoints = self.checkpoints.get(&s.id).copied().unwrap_or_default();
        let record =
            SessionRecord::of(s, self.sealer.as_deref()).and_then(|r| r.with_webrtc(webrtc, self.sealer.as_deref()));
        match record {
            Ok(r) => self.writer.put(&s.id, r.with_checkpoints(checkpoints).to_json()),
            // Only a failing random source; the session goes on unstored.
            Err(e) => tracing::error!(session = s.id, error = %e, "session not stored"),
        }
    }

    /// Session `id` ended.
    pub fn ended(&mut self, id: &str) {
        self.checkpoints.remove(id);
        self.writer.delete(id);
    }

    /// Checkpoints the streams of the SRTP sessions: a session whose RTP
    /// stream moved to another rollover counter (or another SSRC), or whose
    /// SRTCP index moved on, since its last checkpoint is written again
    /// ([`LegCheckpoint::due`]). Called every half second or so; it reads
    /// each SRTP leg's published statistics, nothing else.
    /// `webrtc` gives a session's WebRTC facts, written with it.
    pub fn checkpoint_streams(
        &mut self,
        sessions: &SessionManager,
        dataplane: &Dataplane,
        webrtc: &dyn Fn(&str) -> Vec<crate::webrtc::WebrtcSnapshot>,
    ) {
        for s in sessions.sessions() {
            let srtp = s.legs.iter().any(|l| l.request.srtp_inbound.is_some() || l.request.srtp_outbound.is_some());
            if !srtp {
                continue;
            }
            let now = [&s.legs[0], &s.legs[1]].map(|l| {
                let rtp = dataplane.flow_stats(l.flow_ids.0);
                // A multiplexed leg has no RTCP flow: its second slot is not installed.
                let rtcp = (!l.request.rtcp_mux).then(|| dataplane.flow_stats(l.flow_ids.1).srtcp_next);
                let srtcp_next = rtp.srtcp_next.max(rtcp.unwrap_or(0));
                LegCheckpoint {
                    rtp: (rtp.rtp_received > 0).then_some(StreamCheckpoint { ssrc: rtp.ssrc, index: rtp.rtp_ext_max }),
                    srtcp_next: (srtcp_next > 0).then_some(srtcp_next),
                }
            });
            let prev = self.checkpoints.get(&s.id).copied().unwrap_or_default();
            if prev.iter().zip(&now).any(|(p, n)| p.due(n)) {
                let merged = [prev[0].merged(&now[0]), prev[1].merged(&now[1])];
                self.checkpoints.insert(s.id.clone(), merged);
                self.changed_with_webrtc(s, &webrtc(&s.id));
            }
        }
    }

    /// The writer's counters, for `/metrics`.
    pub fn sample(&self) -> StoreSample {
        let s = self.writer.stats();
        StoreSample {
            written: s.written.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            backlog: s.backlog.load(Ordering::Relaxed),
            up: s.up.load(Ordering::Relaxed),
        }
    }
}
