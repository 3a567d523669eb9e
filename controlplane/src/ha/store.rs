//! Where sessions live in Redis (docs/ha.md, "Key layout"), the connection
//! settings, and the reads of a restore.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use super::record::{RecordError, SessionRecord};

/// Every key of a group starts with `mediafwd:{group}:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys of group `group`.
    pub fn new(group: &str) -> Self {
        Keys { prefix: format!("mediafwd:{group}:") }
    }

    /// The record of session `id` (a string: the record's JSON).
    pub fn session(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// The set of the group's session ids.
    pub fn sessions(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    /// The group's lease: `"{epoch} {node}"`, expiring unless renewed.
    pub fn lease(&self) -> String {
        format!("{}lease", self.prefix)
    }

    /// The count of the group's lease claims.
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    /// The stream of session changes a standby follows: one entry per
    /// change, field `id`.
    pub fn changes(&self) -> String {
        format!("{}changes", self.prefix)
    }
}

/// How long a connection attempt and a reply may take before the store
/// counts as unreachable: a Redis that stopped answering must not hold a
/// write (or a restore) for long.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// A store behind Redis Sentinel: `redis+sentinel://[user:password@]host[:port][,host[:port]...]/master[/db]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    /// The sentinels, `host:port` (port 26379 when not given).
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the master under.
    pub master: String,
    /// The database.
    pub db: i64,
    /// Credentials for the master (not the sentinels).
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
}

impl SentinelUrl {
    /// Parses a `redis+sentinel://` URL; `None` for another scheme, an
    /// error saying what is wrong for a bad one.
    pub fn parse(url: &str) -> Option<Result<Self, String>> {
        let rest = url.strip_prefix("redis+sentinel://")?;
        Some(Self::parse_rest(rest))
    }

    fn parse_rest(rest: &str) -> Result<Self, String> {
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hosts, path) = rest.split_once('/').ok_or("no master name: add /<master>")?;
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(|h| {
                if h.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
                    h.into()
                } else {
                    format!("{h}:26379")
                }
            })
            .collect();
        if hosts.is_empty() || sentinels.iter().any(|h| h.starts_with(':')) {
            return Err("no sentinel host".into());
        }
        let mut parts = path.split('/');
        let master = parts.next().filter(|m| !m.is_empty()).ok_or("no master name: add /<master>")?.to_string();
        let db = match parts.next() {
            None | Some("") => 0,
            Some(d) => d.parse().map_err(|_| format!("{d:?} is not a database number"))?,
        };
        let (username, password) = match auth.map(|a| a.split_once(':').unwrap_or(("", a))) {
            None => (None, None),
            Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), (!p.is_empty()).then(|| p.to_string())),
        };
        Ok(SentinelUrl { sentinels, master, db, username, password })
    }

    /// A client of the master the sentinels name now.
    async fn master(&self) -> redis::RedisResult<redis::Client> {
        let urls: Vec<String> = self.sentinels.iter().map(|h| format!("redis://{h}/")).collect();
        let mut sentinel = redis::sentinel::Sentinel::build(urls)?;
        let node = redis::sentinel::SentinelNodeConnectionInfo {
            tls_mode: None,
            redis_connection_info: Some(redis::RedisConnectionInfo {
                db: self.db,
                username: self.username.clone(),
                password: self.password.clone(),
                ..Default::default()
            }),
        };
        sentinel.async_master_for(&self.master, Some(&node)).await
    }
}

/// A connection to the store at `url`, made once (no retry: the callers
/// retry with their own back-off). With a `redis+sentinel://` URL the
/// sentinels are asked for the master each time, so a new connection after a
/// failure follows a failover.
pub async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = match SentinelUrl::parse(url) {
        Some(Ok(s)) => tokio::time::timeout(TIMEOUT, s.master())
            .await
            .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??,
        Some(Err(e)) => {
            return Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "bad sentinel URL", e)))
        }
        None => redis::Client::open(url)?,
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT)
        .set_number_of_retries(0);
    ConnectionManager::new_with_config(client, config).await
}

/// What a restore found in the store.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The records read.
    pub records: Vec<SessionRecord>,
    /// Sessions whose record could not be read, with why.
    pub refused: Vec<(String, RecordError)>,
}

/// Records read per round trip.
const CHUNK: usize = 512;

/// Every session record of the group, in id order.
pub async fn load(con: &mut ConnectionManager, keys: &Keys) -> redis::RedisResult<Loaded> {
    let mut ids: Vec<String> = con.smembers(keys.sessions()).await?;
    ids.sort();
    let mut loaded = Loaded::default();
    for chunk in ids.chunks(CHUNK) {
        let names: Vec<String> = chunk.iter().map(|id| keys.session(id)).collect();
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&names).query_async(con).await?;
        for (id, v) in chunk.iter().zip(values) {
            // An id without a record: a delete that was half written.
            let Some(v) = v else { continue };
            match SessionRecord::from_json(&v) {
                Ok(r) if r.id == *id => loaded.records.push(r),
                Ok(r) => loaded.refused.push((
                    id.clone(),
                    RecordError::Field { field: "id".into(), message: format!("{:?} under the key of {id:?}", r.id) },
                )),
                Err(e) => loaded.refused.push((id.clone(), e)),
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_sentinels_master_db_and_credentials() {
        let s = SentinelUrl::parse("redis+sentinel://:pw@10.0.0.1,10.0.0.2:26380/media/3").unwrap().unwrap();
        assert_eq!(s.sentinels, ["10.0.0.1:26379", "10.0.0.2:26380"]);
        assert_eq!((s.master.as_str(), s.db, s.username, s.password.as_deref()), ("media", 3, None, Some("pw")));
        let s = SentinelUrl::parse("redis+sentinel://u:p@h/m").unwrap().unwrap();
        assert_eq!((s.username.as_deref(), s.password.as_deref(), s.db), (Some("u"), Some("p"), 0));
        assert!(SentinelUrl::parse("redis://h/").is_none());
        for bad in ["redis+sentinel://h", "redis+sentinel://h/", "redis+sentinel:///m", "redis+sentinel://h/m/x"] {
            assert!(SentinelUrl::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
