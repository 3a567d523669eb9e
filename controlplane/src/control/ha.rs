//! The control loop's side of high availability (docs/ha.md): while the
//! node is standby it programs what the follower reads and refuses changes
//! through the API and ng; when the lease task reports a claim it announces
//! the media addresses, resolves its next hops, programs what the old active
//! wrote before the claim and it had not read yet (still refusing changes
//! until then), and starts keeping the sessions in the store.

use std::sync::Arc;
use std::time::Instant;

use super::{Control, Error};
use crate::ha::follow::{self, Checkpoints, Follower};
use crate::ha::role::{Role, RoleEvent, Takeover};
use crate::ha::seal::Sealer;

/// A node with a lease: its role, and what it follows while standby.
pub struct Ha {
    /// The lease task's handle.
    pub role: Role,
    /// The change stream's reader.
    pub follower: Follower,
    /// Opens the stored SRTP keys.
    pub sealer: Option<Arc<Sealer>>,
    /// The group, for messages.
    pub group: String,
    /// Checkpoints of the followed sessions, for the writer once active.
    followed: Checkpoints,
    /// Active, and reading what the old active wrote before the claim.
    catching_up: bool,
}

impl Ha {
    /// `role` and `follower` for the control loop.
    pub fn new(role: Role, follower: Follower, sealer: Option<Arc<Sealer>>, group: String) -> Self {
        Ha { role, follower, sealer, group, followed: Checkpoints::new(), catching_up: false }
    }
}

/// Followed changes programmed per loop iteration at most, so that a
/// standby loading a large group still answers its API.
const FOLLOWED_PER_POLL: usize = 256;

impl Control {
    /// Gives the loop a lease, a role and a follower.
    pub fn with_ha(mut self, ha: Option<Ha>) -> Self {
        self.ha = ha;
        self
    }

    /// Whether this node waits as standby (it has a lease and does not hold it).
    pub(super) fn is_standby(&self) -> bool {
        self.ha.as_ref().is_some_and(|h| !h.role.is_active())
    }

    /// The error a standby (or a node still catching up after its claim)
    /// answers a change with: a change now could be overwritten by an older
    /// one of the old active's, read after it.
    pub(super) fn standby_refusal(&self) -> Option<Error> {
        let h = self.ha.as_ref().filter(|h| !h.role.is_active() || h.catching_up)?;
        Some(Error::Unavailable(format!(
            "this node is the standby of group {:?}; change sessions on the active node (or take over: \
             mediafwdctl ha takeover)",
            h.group
        )))
    }

    /// Asks the lease task to take the lease over.
    pub(super) fn take_over(&self, reply: Takeover) {
        match &self.ha {
            Some(h) => h.role.take_over(reply),
            None => {
                let _ = reply.send(Err(Error::Unavailable("this node has no lease (ha.lease_ms)".into())));
            }
        }
    }

    /// This node's lease epoch and whether it holds the lease.
    pub(super) fn ha_state(&self) -> Option<(bool, u64)> {
        self.ha.as_ref().map(|h| (h.role.is_active(), h.role.epoch()))
    }

    /// Hears the lease task, and programs what the follower read while standby.
    pub(super) fn poll_ha(&mut self) {
        let Some(ha) = &mut self.ha else { return };
        let events: Vec<RoleEvent> = ha.role.events().collect();
        for e in events {
            match e {
                RoleEvent::Active { epoch } => self.became_active(epoch),
                RoleEvent::Standby { .. } => {
                    if let Some(h) = &self.ha {
                        // What the new active changed since is read again whole.
                        h.follower.reload();
                    }
                }
            }
        }
        let Some(ha) = &mut self.ha else { return };
        let changes: Vec<_> = ha.follower.changes(FOLLOWED_PER_POLL).collect();
        for c in changes {
            if matches!(c, follow::Followed::CaughtUp) {
                if ha.catching_up {
                    ha.catching_up = false;
                    let caught = std::mem::take(&mut ha.followed);
                    tracing::info!(sessions = caught.len(), "caught up with the old active's last changes");
                    if let Some(k) = &mut self.keeper {
                        k.merge_checkpoints(caught);
                    }
                }
                continue;
            }
            if ha.role.is_active() && !ha.catching_up {
                // The active's own writes, read back.
                continue;
            }
            follow::apply(&mut self.node, ha.sealer.as_deref(), c, &mut ha.followed);
        }
    }

    fn became_active(&mut self, epoch: u64) {
        let announced = self.node.slow.announce();
        let resolving = self.node.slow.resolve_unresolved();
        self.node.sessions.touch_all(Instant::now());
        let followed = self.ha.as_mut().map(|h| std::mem::take(&mut h.followed)).unwrap_or_default();
        if let Some(k) = &mut self.keeper {
            k.set_checkpoints(followed);
        }
        if let Some(h) = &mut self.ha {
            // The old active may have written changes the follower has not
            // read yet: they are programmed before this node takes changes.
            h.catching_up = true;
            h.follower.catch_up();
        }
        tracing::warn!(
            epoch,
            sessions = self.node.sessions.len(),
            announced,
            resolving,
            "active: forwarding the group's sessions"
        );
    }
}
