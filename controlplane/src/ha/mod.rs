//! High availability: every session's durable facts kept in Redis, so a
//! node restarted in place, or a standby, programs the same sessions again.
//! See docs/ha.md for the key layout and the threat model.
//!
//! - [`Keeper`]: what the control loop calls when a session changes;
//! - [`follow`]: a standby following its active's sessions through the change stream;
//! - [`lease`]: which node of the group is active, with its epoch;
//! - [`record`]: the session record, one serializable struct with a version;
//! - [`restore`]: a record replayed through the session manager's create;
//! - [`role`]: active or standby, the lease held or claimed, the transmit gate steered;
//! - [`seal`]: the SRTP key fields, optionally sealed with AES-256-GCM;
//! - [`store`]: the key layout and the reads of a restore;
//! - [`writer`]: the writes, off the control loop's path.

pub mod follow;
mod keeper;
pub mod lease;
pub mod record;
pub mod record_webrtc;
pub mod restore;
pub mod role;
pub mod seal;
pub mod store;
pub mod writer;

pub use keeper::Keeper;

use std::sync::Arc;

use crate::config::HaConfig;

/// The sealer of `config.key_file`, if one is set.
pub fn sealer(config: &HaConfig) -> Result<Option<Arc<seal::Sealer>>, seal::SealError> {
    if config.key_file.is_empty() {
        return Ok(None);
    }
    seal::Sealer::from_file(std::path::Path::new(&config.key_file)).map(|s| Some(Arc::new(s)))
}
