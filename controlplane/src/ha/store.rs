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
}

/// How long a connection attempt and a reply may take before the store
/// counts as unreachable: a Redis that stopped answering must not hold a
/// write (or a restore) for long.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// A connection to the store at `url`, made once (no retry: the callers
/// retry with their own back-off).
pub async fn connect(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
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
