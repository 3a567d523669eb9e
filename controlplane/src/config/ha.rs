//! `[ha]`: the session store (docs/ha.md).

use serde::Deserialize;

use super::ConfigError;

/// `[ha]`: where the node keeps its sessions so that it restores them when
/// restarted in place. Without `redis_url`, nothing is kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HaConfig {
    /// `active` (the only role so far: the node owns its sessions).
    pub role: String,
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

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.role != "active" {
            return Err(ConfigError::new(
                "ha.role",
                format!("{:?}: only \"active\" is supported (a standby that follows an active is not)", self.role),
            ));
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
