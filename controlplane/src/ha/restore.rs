//! A stored session programmed again: through the session manager's
//! `create`, with the local addresses and ports it had, then its latches and
//! holds through the calls that set them the first time (`on_latched`, as a
//! worker's event does, and `update_leg`). There is no second way to build a
//! session.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use mediafwd_dataplane::flow::{Command, FlowKey};

use super::record::{LegCheckpoint, RecordError, SessionRecord};
use super::seal::Sealer;
use super::store::{self, Keys};
use crate::config::HaConfig;
use crate::node::{NeighborResolver, Node};
use crate::session::{Resolver, Session, SessionError, SessionManager};

/// Why a stored session was not restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The record cannot be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The session manager refused it (an interface or port range that
    /// changed in the configuration, a port taken).
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Programs `record` into `sessions`: the session and the dataplane commands
/// that make it real, the streams resumed at their checkpoints last: each
/// RTP stream at its index, and the SRTCP of every flow that protects it
/// past its checkpoint ([`LegCheckpoint::srtcp_resume_at`]).
pub fn replay(
    sessions: &mut SessionManager,
    record: &SessionRecord,
    sealer: Option<&Sealer>,
    resolver: &mut dyn Resolver,
    now: Instant,
) -> Result<(Session, Vec<Command>), RestoreError> {
    let legs = record.leg_requests(sealer)?;
    let (mut session, mut commands) =
        sessions.create(&record.id, legs, Some(record.media_timeout()), record.max_lifetime(), resolver, now)?;
    let checkpoints = record.checkpoints();
    for (i, leg) in record.legs.iter().enumerate() {
        if let Some(remote) = leg.latched {
            let port_id = sessions.interfaces()[session.legs[i].iface].port_id;
            let key = FlowKey::new(port_id, leg.local.ip(), leg.local.port());
            if let Some((_, _, c)) = sessions.on_latched(&key, remote, resolver) {
                commands.extend(c);
            }
        }
        if let Some(c) = leg.rtp_checkpoint {
            // The flow from this leg, and the one that protects towards the
            // other, go on at the stream's index (both flows hold its state).
            let port_id = sessions.interfaces()[session.legs[i].iface].port_id;
            let key = FlowKey::new(port_id, leg.local.ip(), leg.local.port());
            commands.push(Command::ResumeStream { key, ssrc: c.ssrc, index: c.index });
        }
        if record.legs[1 - i].srtp_outbound.is_some() {
            // The flows from this leg protect towards the other: RTP's, and RTCP's.
            let port_id = sessions.interfaces()[session.legs[i].iface].port_id;
            let next_index = checkpoints[i].srtcp_resume_at();
            let rtcp_port = (!leg.rtcp_mux).then(|| leg.local.port() + 1);
            for port in [Some(leg.local.port()), rtcp_port].into_iter().flatten() {
                let key = FlowKey::new(port_id, leg.local.ip(), port);
                commands.push(Command::ResumeSrtcp { key, next_index });
            }
        }
        if leg.hold {
            let (s, c) = sessions.update_leg(&record.id, &leg.label, |_, hold| *hold = true, resolver)?;
            commands.extend(c);
            session = s;
        }
    }
    let session = sessions.get(&record.id).cloned().unwrap_or(session);
    Ok((session, commands))
}

/// How long a starting node tries to read the store before it gives up.
const LOAD_PATIENCE: Duration = Duration::from_secs(10);

/// What a restore programmed.
#[derive(Debug, Default)]
pub struct Restored {
    /// Sessions restored.
    pub sessions: usize,
    /// Their stream checkpoints, for the [`Keeper`](super::Keeper) to go on from.
    pub checkpoints: HashMap<String, [LegCheckpoint; 2]>,
}

/// Programs every session of the store into a starting `node` (before it
/// serves). Records the node cannot use are logged and
/// left in the store; a session that already exists (a static session) is
/// left as configured. A store that cannot be read within 10 s stops the
/// start: serving without the stored sessions would end those calls.
pub fn restore_node(config: &HaConfig, sealer: Option<&Sealer>, node: &mut Node) -> anyhow::Result<Restored> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let keys = Keys::new(&config.group);
    let started = Instant::now();
    let loaded = rt.block_on(async {
        loop {
            let attempt = async { store::load(&mut store::connect(&config.redis_url).await?, &keys).await };
            match attempt.await {
                Ok(l) => return Ok(l),
                Err(e) if started.elapsed() < LOAD_PATIENCE => {
                    tracing::warn!(url = config.redis_url, error = %e, "session store not readable yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    });
    let loaded = loaded.with_context(|| format!("reading the sessions of {} (ha.redis_url)", config.redis_url))?;
    for (id, e) in &loaded.refused {
        tracing::error!(session = id, error = %e, "stored session not restored");
    }
    let mut restored = Restored::default();
    for r in &loaded.records {
        let _s = crate::logging::session_span(&r.id).entered();
        if node.sessions.get(&r.id).is_some() {
            continue;
        }
        let now = Instant::now();
        match replay(&mut node.sessions, r, sealer, &mut NeighborResolver(&mut node.slow), now) {
            Ok((_, commands)) => {
                for c in commands {
                    node.send(c);
                }
                match r.webrtc_snapshots(sealer) {
                    Ok(w) => node.restored_webrtc.extend(w),
                    Err(e) => tracing::error!(error = %e, "stored WebRTC legs not restored"),
                }
                restored.sessions += 1;
                let checkpoints = r.checkpoints();
                if checkpoints != <[LegCheckpoint; 2]>::default() {
                    restored.checkpoints.insert(r.id.clone(), checkpoints);
                }
            }
            Err(e) => tracing::error!(error = %e, "stored session not restored"),
        }
    }
    tracing::info!(
        restored = restored.sessions,
        resumed_streams = restored.checkpoints.values().flatten().filter(|c| c.rtp.is_some()).count(),
        refused = loaded.records.len() - restored.sessions + loaded.refused.len(),
        ms = started.elapsed().as_millis() as u64,
        "sessions restored from the store"
    );
    Ok(restored)
}
