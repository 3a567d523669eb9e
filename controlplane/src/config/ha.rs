//! `[ha]`: the session store (docs/ha.md).

use serde::Deserialize;

use super::ConfigError;

/// `[ha]`: where the node keeps its sessions so that it restores them when
/// restarted in place. Without `redis_url`, nothing is kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HaConfig {
    /// `active` (takes the group's lease when it is free) or `standby`
    /// (follows the active's sessions and takes over when its lease
    /// expires, or on `mediafwdctl ha takeover`). Both need `lease_ms`.
    pub role: String,
    /// How long the group's lease holds without a renewal, in ms; the
    /// active renews it every third of that (at most 100 ms). 0 (the
    /// default): no lease, the node transmits always (a lone node restarted
    /// in place).
    pub lease_ms: u64,
    /// This node's id in the lease; empty: `{hostname}-{pid}`.
    pub node_id: String,
    /// The store: `redis://[user:password@]host[:port][/db]`, or through
    /// Sentinel `redis+sentinel://[user:password@]host[:port][,...]/master[/db]`;
    /// empty: none.
    pub redis_url: String,
    /// The node's group; its keys start with `mediafwd:{group}:`.
    pub group: String,
    /// A file holding the 32-byte key (or 64 hex digits) that seals the
    /// stored SRTP keys; empty: they are stored in clear.
    pub key_file: String,
    /// Sessions waiting to be written while the store is unreachable, at most.
    pub backlog: usize,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            role: "active".into(),
            lease_ms: 0,
            node_id: String::new(),
            redis_url: String::new(),
            group: "default".into(),
            key_file: String::new(),
            backlog: 200_000,
        }
    }
}

impl HaConfig {
    /// Whether sessions are kept in a store.
    pub fn enabled(&self) -> bool {
        !self.redis_url.is_empty()
    }

    /// Whether the node transmits only while it holds the group's lease.
    pub fn leased(&self) -> bool {
        self.enabled() && self.lease_ms > 0
    }

    /// `node_id`, or `{hostname}-{pid}`.
    pub fn node_id(&self) -> String {
        if !self.node_id.is_empty() {
            return self.node_id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.role.as_str(), "active" | "standby") {
            return Err(ConfigError::new("ha.role", format!("{:?}: use \"active\" or \"standby\"", self.role)));
        }
        if self.role == "standby" && (!self.enabled() || self.lease_ms == 0) {
            return Err(ConfigError::new("ha.role", "a standby needs ha.redis_url and ha.lease_ms"));
        }
        if self.lease_ms != 0 && !(30..=60_000).contains(&self.lease_ms) {
            return Err(ConfigError::new("ha.lease_ms", "between 30 and 60000 (or 0: no lease)"));
        }
        if !self.enabled() {
            return Ok(());
        }
        match crate::ha::store::SentinelUrl::parse(&self.redis_url) {
            Some(Err(e)) => return Err(ConfigError::new("ha.redis_url", e)),
            Some(Ok(_)) => {}
            None => {
                redis::parse_redis_url(&self.redis_url)
                    .filter(|u| matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix"))
                    .ok_or_else(|| {
                        ConfigError::new(
                            "ha.redis_url",
                            "expected redis://[user:password@]host[:port][/db] or \
                             redis+sentinel://[user:password@]host[:port][,host[:port]...]/master[/db]",
                        )
                    })?;
            }
        }
        if self.group.is_empty() || !self.group.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(ConfigError::new("ha.group", "use letters, digits, '-', '_' and '.'"));
        }
        if self.backlog == 0 {
            return Err(ConfigError::new("ha.backlog", "at least 1"));
        }
        Ok(())
    }
}
