//! Active or standby: the task that holds, renews or claims the group's
//! [lease](super::lease) and opens or closes the workers' transmit gate.
//!
//! - Active: renews every `lease / 3` (at most 100 ms). Each renewal moves
//!   the gate's deadline to the instant the renewal was *sent* plus 90 % of
//!   the lease, so the workers stop on their own when renewals stop (Redis
//!   unreachable, the node frozen). A renewal that finds a higher epoch
//!   closes the gate at once: the node is standby again. One that finds no
//!   lease (it expired while the store was out of reach) claims it again if
//!   it is still free. While the store is unreachable the node stays active
//!   for its API (changes wait in the writer's backlog), fenced.
//! - Standby: reads the lease every `lease / 6`; when it is gone (expired)
//!   or on an operator's takeover, claims it with a higher epoch and opens
//!   the gate. After a store error of its own it waits one lease time
//!   before claiming, so that after a store outage the active, which
//!   renews three times per lease, keeps its sessions.
//!
//! The control loop hears of each change ([`RoleEvent`]) and does the rest
//! (announcing the media addresses, taking API changes, writing the store).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_dataplane::gate::TransmitGate;
use mediafwd_dataplane::node::Tsc;
use tokio::sync::mpsc;

use super::lease::{Holder, Lease, Renewal};
use super::store::{self, Keys};
use crate::control::Error;

/// What the control loop hears from the lease task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleEvent {
    /// This node holds the lease, from this epoch on.
    Active {
        /// The epoch of its claim.
        epoch: u64,
    },
    /// This node lost the lease (to this holder, if any) and is fenced.
    Standby {
        /// Who holds it now, if anyone.
        holder: Option<Holder>,
    },
}

/// A takeover an operator asked for, with where to answer: the epoch of the
/// claim, or why there is none.
pub type Takeover = crate::control::Reply<u64>;

fn refused(why: impl Into<String>) -> Error {
    Error::Unavailable(why.into())
}

/// Settings of the lease task.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// The store's URL.
    pub url: String,
    /// The group.
    pub group: String,
    /// This node's id in the lease.
    pub node_id: String,
    /// How long a claim or renewal holds.
    pub lease: Duration,
    /// Wait one lease time before the first claim (a standby started beside
    /// its active leaves it the lease).
    pub defer_first_claim: bool,
}

/// The control loop's end of the lease task.
pub struct Role {
    events: crossbeam_channel::Receiver<RoleEvent>,
    takeover: mpsc::Sender<Takeover>,
    active: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
}

impl Role {
    /// Starts the lease task on a thread of its own (so that no load on the
    /// API's runtime delays a renewal), steering `gate` (closed until a claim).
    pub fn spawn(config: RoleConfig, gate: Arc<TransmitGate>) -> std::io::Result<Self> {
        let (events_tx, events) = crossbeam_channel::bounded(64);
        let (takeover, takeover_rx) = mpsc::channel(8);
        let active = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        gate.close();
        let task = Task { config, gate, events: events_tx, active: active.clone(), epoch: epoch.clone() };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("ha-lease".into()).spawn(move || rt.block_on(task.run(takeover_rx)))?;
        Ok(Role { events, takeover, active, epoch })
    }

    /// The changes since last asked.
    pub fn events(&self) -> impl Iterator<Item = RoleEvent> + '_ {
        self.events.try_iter()
    }

    /// Whether this node holds the lease.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The epoch of this node's claim (0: none yet).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Asks for a takeover; the answer goes to `reply`.
    pub fn take_over(&self, reply: Takeover) {
        if let Err(mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r)) =
            self.takeover.try_send(reply)
        {
            let _ = r.send(Err(refused("a takeover is already under way")));
        }
    }
}

struct Task {
    config: RoleConfig,
    gate: Arc<TransmitGate>,
    events: crossbeam_channel::Sender<RoleEvent>,
    active: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
}

impl Task {
    fn ticks(&self, d: Duration) -> u64 {
        (d.as_nanos() * u128::from(Tsc::hz()) / 1_000_000_000) as u64
    }

    fn became(&self, e: RoleEvent) {
        match &e {
            RoleEvent::Active { epoch } => {
                self.epoch.store(*epoch, Ordering::Relaxed);
                self.active.store(true, Ordering::Relaxed);
                tracing::warn!(epoch, node = self.config.node_id, "lease claimed: this node is active");
            }
            RoleEvent::Standby { holder } => {
                self.gate.close();
                self.active.store(false, Ordering::Relaxed);
                tracing::warn!(holder = ?holder, "lease lost: transmitting stopped, this node is standby");
            }
        }
        // The control loop reads these every millisecond or so; 64 is far more than pile up.
        let _ = self.events.try_send(e);
    }

    async fn run(self, mut takeovers: mpsc::Receiver<Takeover>) {
        let lease = Lease::new(&Keys::new(&self.config.group), &self.config.node_id, self.config.lease);
        let renew_every = (self.config.lease / 3).min(Duration::from_millis(100));
        let poll_every = (self.config.lease / 6).max(Duration::from_millis(5));
        let open_for = self.ticks(self.config.lease * 9 / 10);
        let slow = self.ticks(renew_every);
        let mut con = None;
        let mut ours: Option<Holder> = None;
        let mut may_claim_at =
            Instant::now() + if self.config.defer_first_claim { self.config.lease } else { Duration::ZERO };
        loop {
            let pending = takeovers.try_recv().ok();
            if con.is_none() {
                match store::connect(&self.config.url).await {
                    Ok(c) => con = Some(c),
                    Err(e) => tracing::debug!(error = %e, "lease: store unreachable"),
                }
            }
            let wait = if ours.is_some() { renew_every } else { poll_every };
            let Some(c) = con.as_mut() else {
                if let Some(r) = pending {
                    let _ = r.send(Err(refused("the store is unreachable")));
                }
                may_claim_at = Instant::now() + self.config.lease;
                tokio::time::sleep(wait).await;
                continue;
            };
            let sent = Tsc::now();
            let result = match (&ours, pending) {
                (Some(h), pending) => {
                    let h = h.clone();
                    if let Some(r) = pending {
                        let _ = r.send(Ok(h.epoch));
                    }
                    match lease.renew(c, &h).await {
                        Ok(Renewal::Renewed) => {
                            self.gate.open_until(sent + open_for);
                            Ok(None)
                        }
                        // Expired while the store was out of reach: claimed
                        // again if nobody took it meanwhile.
                        Ok(Renewal::Lost(None)) => match lease.claim(c, false).await {
                            Ok(Ok(again)) => Ok(Some(self.claimed(again, sent + open_for, &mut ours))),
                            Ok(Err(other)) => Ok(Some(RoleEvent::Standby { holder: Some(other) })),
                            Err(e) => Err(e),
                        },
                        Ok(Renewal::Lost(holder)) => Ok(Some(RoleEvent::Standby { holder })),
                        Err(e) => Err(e),
                    }
                }
                (None, Some(reply)) => match lease.claim(c, true).await {
                    Ok(Ok(h)) => {
                        let _ = reply.send(Ok(h.epoch));
                        Ok(Some(self.claimed(h, sent + open_for, &mut ours)))
                    }
                    Ok(Err(h)) => {
                        let _ = reply.send(Err(refused(format!("held by {} (epoch {})", h.node, h.epoch))));
                        Ok(None)
                    }
                    Err(e) => {
                        let _ = reply.send(Err(refused(e.to_string())));
                        Err(e)
                    }
                },
                (None, None) if Instant::now() >= may_claim_at => match lease.holder(c).await {
                    // A slow answer is a store in trouble (or just back): as after an error.
                    Ok(None) if Tsc::now() - sent > slow => {
                        may_claim_at = Instant::now() + self.config.lease;
                        Ok(None)
                    }
                    Ok(None) => lease.claim(c, false).await.map(|r| match r {
                        Ok(h) => Some(self.claimed(h, sent + open_for, &mut ours)),
                        Err(_) => None,
                    }),
                    Ok(Some(_)) => Ok(None),
                    Err(e) => Err(e),
                },
                (None, None) => Ok(None),
            };
            match result {
                Ok(Some(e @ RoleEvent::Standby { .. })) => {
                    ours = None;
                    may_claim_at = Instant::now() + self.config.lease;
                    self.became(e);
                }
                Ok(Some(e)) => self.became(e),
                Ok(None) => {}
                Err(e) => {
                    // The gate closes on its own at the deadline; the node
                    // stays active (its API answers, its writes wait in the
                    // backlog) until the store says otherwise.
                    tracing::debug!(error = %e, "lease: store error");
                    con = None;
                    // A standby that lost the store too leaves the active a
                    // lease time to renew once the store is back: after an
                    // outage the lease has expired for both.
                    may_claim_at = Instant::now() + self.config.lease;
                }
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn claimed(&self, h: Holder, until: u64, ours: &mut Option<Holder>) -> RoleEvent {
        self.gate.open_until(until);
        let epoch = h.epoch;
        *ours = Some(h);
        RoleEvent::Active { epoch }
    }
}
