//! What the control loop calls when a session changes or ends: the record
//! made here (cheap: JSON and, with a key file, a seal per key), the write
//! left to the [`Writer`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::record::SessionRecord;
use super::seal::Sealer;
use super::writer::{Writer, WriterConfig};
use crate::config::HaConfig;
use crate::metrics::node::StoreSample;
use crate::session::Session;

/// Keeps the node's sessions in the store.
pub struct Keeper {
    writer: Writer,
    sealer: Option<Arc<Sealer>>,
}

impl Keeper {
    /// Starts writing to the store of `config` from `rt`.
    pub fn spawn(config: &HaConfig, rt: &tokio::runtime::Handle, sealer: Option<Arc<Sealer>>) -> Self {
        let writer = Writer::spawn(
            rt,
            WriterConfig { url: config.redis_url.clone(), group: config.group.clone(), backlog: config.backlog },
        );
        Keeper { writer, sealer }
    }

    /// `s` was created or changed.
    pub fn changed(&self, s: &Session) {
        match SessionRecord::of(s, self.sealer.as_deref()) {
            Ok(r) => self.writer.put(&s.id, r.to_json()),
            // Only a failing random source; the session goes on unstored.
            Err(e) => tracing::error!(session = s.id, error = %e, "session not stored"),
        }
    }

    /// Session `id` ended.
    pub fn ended(&self, id: &str) {
        self.writer.delete(id);
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
