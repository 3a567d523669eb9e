//! The group's lease: which node is active, and since which epoch.
//!
//! One key, `mediafwd:{group}:lease`, holds `"{epoch} {node}"` and expires
//! (`SET ... PX`) unless its holder renews it; `mediafwd:{group}:epoch`
//! counts the claims. Claims and renewals are Lua scripts, so each is one
//! atomic step in Redis: a renewal succeeds only while the key still holds
//! the renewing node's own value, and a claim always takes a new, higher
//! epoch. A node whose renewal finds another value (a higher epoch) or no
//! value has lost the lease.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::store::Keys;

/// The holder of a lease: a node and the epoch of its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Claims made in the group up to this one.
    pub epoch: u64,
    /// The node's id (`[ha] node_id`).
    pub node: String,
}

impl Holder {
    fn value(&self) -> String {
        format!("{} {}", self.epoch, self.node)
    }

    fn parse(v: &str) -> Option<Holder> {
        let (epoch, node) = v.split_once(' ')?;
        Some(Holder { epoch: epoch.parse().ok()?, node: node.into() })
    }
}

/// What a renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, for another lease time.
    Renewed,
    /// Another node's claim (a higher epoch), or nobody's (expired).
    Lost(Option<Holder>),
}

const CLAIM: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and ARGV[3] == '0' and string.match(cur, '^%d+ (.*)$') ~= ARGV[1] then
  return {0, cur}
end
local epoch = redis.call('INCR', KEYS[2])
local v = epoch .. ' ' .. ARGV[1]
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return {1, v}
";

const RENEW: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], cur, 'PX', ARGV[2])
  return 1
end
return cur
";

/// A node's view of its group's lease.
#[derive(Debug, Clone)]
pub struct Lease {
    lease_key: String,
    epoch_key: String,
    node: String,
    ttl: Duration,
}

impl Lease {
    /// The lease of `keys`' group as node `node` sees it, held `ttl` per claim or renewal.
    pub fn new(keys: &Keys, node: &str, ttl: Duration) -> Self {
        Lease { lease_key: keys.lease(), epoch_key: keys.epoch(), node: node.into(), ttl }
    }

    /// How long a claim or renewal holds.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn px(&self) -> u64 {
        self.ttl.as_millis().max(1) as u64
    }

    /// Claims the lease with a new epoch: when nobody holds it (or this node
    /// does), or in any case with `force` (a takeover ordered by an operator).
    /// `Ok(holder)` is this node's claim, `Err(holder)` the holder that kept it.
    pub async fn claim(&self, con: &mut ConnectionManager, force: bool) -> redis::RedisResult<Result<Holder, Holder>> {
        let (won, value): (u8, String) = redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(2)
            .arg(&self.lease_key)
            .arg(&self.epoch_key)
            .arg(&self.node)
            .arg(self.px())
            .arg(if force { "1" } else { "0" })
            .query_async(con)
            .await?;
        let holder = Holder::parse(&value).ok_or_else(|| bad_value(&value))?;
        Ok(if won == 1 { Ok(holder) } else { Err(holder) })
    }

    /// Renews `ours` (this node's claim) for another lease time, unless it is
    /// no longer the lease's value.
    pub async fn renew(&self, con: &mut ConnectionManager, ours: &Holder) -> redis::RedisResult<Renewal> {
        let v: redis::Value = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&self.lease_key)
            .arg(ours.value())
            .arg(self.px())
            .query_async(con)
            .await?;
        Ok(match v {
            redis::Value::Int(1) => Renewal::Renewed,
            redis::Value::Nil => Renewal::Lost(None),
            other => {
                let s: String = redis::from_redis_value(&other)?;
                Renewal::Lost(Some(Holder::parse(&s).ok_or_else(|| bad_value(&s))?))
            }
        })
    }

    /// The current holder, if any.
    pub async fn holder(&self, con: &mut ConnectionManager) -> redis::RedisResult<Option<Holder>> {
        let v: Option<String> = redis::cmd("GET").arg(&self.lease_key).query_async(con).await?;
        v.map(|v| Holder::parse(&v).ok_or_else(|| bad_value(&v))).transpose()
    }
}

fn bad_value(v: &str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::TypeError, "lease value is not \"{epoch} {node}\"", v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_read_back_what_they_write() {
        let h = Holder { epoch: 42, node: "node a".into() };
        assert_eq!(h.value(), "42 node a");
        assert_eq!(Holder::parse(&h.value()), Some(h));
        assert_eq!(Holder::parse("x node"), None);
        assert_eq!(Holder::parse("7"), None);
    }
}
