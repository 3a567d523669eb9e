//! The statistics replies in rtpengine's shapes, which Kamailio's and
//! OpenSIPS's rtpengine modules read: a call's `tags`, `medias`, `streams`
//! and `totals` (for `query` and `delete`), and the node's `statistics`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::bencode::{Dict, Value};
use super::call::{Call, MediaSlot};
use crate::control::{LegView, NodeStats, SessionView};

/// Inserts `k: v`.
pub fn put(d: &mut Dict, k: &str, v: impl Into<Value>) {
    d.insert(k.as_bytes().to_vec(), v.into());
}

fn int(x: f64) -> Value {
    Value::Int(x.max(0.0) as i64)
}

fn endpoint(a: SocketAddr) -> Value {
    let mut d = Dict::new();
    put(&mut d, "family", if a.is_ipv4() { "IPv4" } else { "IPv6" });
    put(&mut d, "address", a.ip().to_string());
    put(&mut d, "port", i64::from(a.port()));
    Value::Dict(d)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counter {
    packets: u64,
    bytes: u64,
    errors: u64,
}

impl Counter {
    fn add(&mut self, o: Counter) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.errors += o.errors;
    }

    fn value(self) -> Value {
        let mut d = Dict::new();
        put(&mut d, "packets", self.packets);
        put(&mut d, "bytes", self.bytes);
        put(&mut d, "errors", self.errors);
        Value::Dict(d)
    }
}

/// What one leg's endpoint sent: (RTP, RTCP). The relay counts bytes per
/// flow, so RTCP multiplexed on the RTP port counts its bytes with RTP.
fn leg_counters(l: &LegView) -> (Counter, Counter) {
    let s = &l.stats;
    let errors = s.dropped();
    (
        Counter { packets: s.packets.saturating_sub(s.rtcp_packets), bytes: s.bytes, errors },
        Counter { packets: s.rtcp_packets, bytes: 0, errors: 0 },
    )
}

fn media(index: usize, slot: &MediaSlot, i: usize, leg: &LegView, now: f64) -> Value {
    let (rtp, rtcp) = leg_counters(leg);
    let last = leg.stats.idle_seconds.map(|idle| now - idle);
    let remote = leg.latched.or(leg.remote);
    let stream =
        |local: Option<SocketAddr>, ep: Option<SocketAddr>, adv: Option<SocketAddr>, kind: &str, c: Counter| {
            let mut s = Dict::new();
            if let Some(l) = local {
                put(&mut s, "local port", i64::from(l.port()));
            }
            if let Some(e) = ep {
                put(&mut s, "endpoint", endpoint(e));
            }
            if let Some(a) = adv.or(ep) {
                put(&mut s, "advertised endpoint", endpoint(a));
            }
            if let Some(t) = last {
                put(&mut s, "last packet", int(t));
            }
            let mut flags = vec![Value::str(kind)];
            if ep.is_some() {
                flags.push(Value::str("filled"));
            }
            if c.packets > 0 {
                flags.push(Value::str("confirmed"));
            }
            put(&mut s, "flags", flags);
            if let Some(k) = &slot.keys[i] {
                put(&mut s, "crypto suite", k.ours.suite.sdes_name());
            }
            put(&mut s, "stats", c.value());
            Value::Dict(s)
        };
    let mut streams = vec![stream(Some(leg.local), remote, slot.advertised[i], "RTP", rtp)];
    if !leg.rtcp_mux {
        let adv_rtcp = slot.advertised[i].map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)));
        streams.push(stream(Some(leg.local_rtcp), leg.remote_rtcp, adv_rtcp, "RTCP", rtcp));
    }
    let mut m = Dict::new();
    put(&mut m, "index", index as i64 + 1);
    put(&mut m, "type", slot.kind.as_str());
    put(&mut m, "protocol", slot.protos[i].as_str());
    let mut flags = vec![Value::str("initialized")];
    if leg.rtcp_mux {
        flags.push(Value::str("rtcp-mux"));
    }
    if slot.keys[i].is_some() {
        flags.push(Value::str("SDES"));
    }
    put(&mut m, "flags", flags);
    put(&mut m, "streams", streams);
    Value::Dict(m)
}

/// The statistics of a call (`views[k]`: the session of media section `k`,
/// if it has one), as `query` and `delete` reply with them.
pub fn call_stats(call: &Call, views: &[Option<SessionView>], now: f64) -> Dict {
    let mut out = Dict::new();
    put(&mut out, "created", int(call.created));
    put(&mut out, "last signal", int(call.last_signal));
    let mut tags = Dict::new();
    let mut totals = (Counter::default(), Counter::default());
    for i in 0..2 {
        let tag = call.tags[i].clone().unwrap_or_default();
        let mut t = Dict::new();
        put(&mut t, "tag", tag.as_str());
        put(&mut t, "created", int(call.tag_created[i]));
        if let Some(other) = &call.tags[1 - i] {
            put(&mut t, "in dialogue with", other.as_str());
        }
        let mut medias = Vec::new();
        for (k, slot) in call.media.iter().enumerate() {
            if let Some(Some(s)) = views.get(k) {
                if let Some(leg) = s.legs.get(i) {
                    let (rtp, rtcp) = leg_counters(leg);
                    totals.0.add(rtp);
                    totals.1.add(rtcp);
                    medias.push(media(k, slot, i, leg, now));
                }
            }
        }
        put(&mut t, "medias", medias);
        tags.insert(tag.into_bytes(), Value::Dict(t));
    }
    put(&mut out, "tags", tags);
    let mut t = Dict::new();
    put(&mut t, "RTP", totals.0.value());
    put(&mut t, "RTCP", totals.1.value());
    put(&mut out, "totals", t);
    out
}

/// A session created through another front-end, seen as a call whose tags
/// are its legs' labels.
pub fn call_of_session(s: &SessionView, now: f64) -> Call {
    let created = now - s.age_seconds;
    let mut slot = MediaSlot::new("audio");
    slot.session = Some(s.id.clone());
    let tags = [0, 1].map(|i| s.legs.get(i).map(|l| l.label.clone()));
    Call {
        id: s.id.clone(),
        created,
        last_signal: created,
        tags,
        tag_created: [created; 2],
        interfaces: [0, 1].map(|i| s.legs.get(i).map(|l| l.interface.clone()).unwrap_or_default()),
        via_branch: None,
        media: vec![slot],
        delete_at: None,
        awaiting_answer: None,
        refreshed: None,
        sent: Default::default(),
    }
}

/// The commands counted per proxy, as (total key, per-proxy key).
pub const COMMANDS: [(&str, &str); 7] = [
    ("totalpingcount", "pingcount"),
    ("totaloffercount", "offercount"),
    ("totalanswercount", "answercount"),
    ("totaldeletecount", "deletecount"),
    ("totalquerycount", "querycount"),
    ("totallistcount", "listcount"),
    ("totalstatistics", "statistics"),
];

/// At most this many proxies are counted one by one.
const MAX_PROXIES: usize = 256;

/// What the ng front-end counts.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Per proxy address: commands (in [`COMMANDS`] order), then errors.
    pub proxies: BTreeMap<IpAddr, [u64; 8]>,
    /// Calls created.
    pub managed: u64,
    /// Offers refused for load (draining, no ports).
    pub rejected: u64,
    /// Calls ended by a media timeout.
    pub timeouts: u64,
    /// Calls ended by `delete`.
    pub deleted: u64,
    /// Seconds of the calls that ended, summed.
    pub call_seconds: f64,
}

impl Counters {
    /// Counts command `index` of [`COMMANDS`] (`None`: another one) from `peer`.
    pub fn command(&mut self, peer: IpAddr, index: Option<usize>, error: bool) {
        if !self.proxies.contains_key(&peer) && self.proxies.len() >= MAX_PROXIES {
            return;
        }
        let c = self.proxies.entry(peer).or_default();
        if let Some(i) = index {
            c[i] += 1;
        }
        if error {
            c[7] += 1;
        }
    }

    /// A call ended after `seconds`.
    pub fn ended(&mut self, seconds: f64) {
        self.call_seconds += seconds.max(0.0);
    }
}

/// Rates over the time since the last `statistics` request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Packets per second.
    pub packets: f64,
    /// Bytes per second.
    pub bytes: f64,
    /// Dropped packets per second.
    pub errors: f64,
}

/// The `statistics` reply body.
pub fn statistics(node: &NodeStats, calls: usize, c: &Counters, rates: Rates) -> Dict {
    let mut current = Dict::new();
    put(&mut current, "sessionsown", node.sessions as i64);
    put(&mut current, "sessionsforeign", 0i64);
    put(&mut current, "sessionstotal", node.sessions as i64);
    put(&mut current, "transcodedmedia", 0i64);
    put(&mut current, "packetrate", int(rates.packets));
    put(&mut current, "byterate", int(rates.bytes));
    put(&mut current, "errorrate", int(rates.errors));

    let relayed: u64 = node.workers.iter().map(|w| w.tx_packets).sum();
    let dropped: u64 = node.workers.iter().map(|w| w.dropped()).sum();
    let ended = c.deleted + c.timeouts;
    let mut total = Dict::new();
    put(&mut total, "uptime", format!("{}", node.uptime_seconds as u64));
    put(&mut total, "managedsessions", c.managed);
    put(&mut total, "rejectedsessions", c.rejected);
    put(&mut total, "timeoutsessions", c.timeouts);
    put(&mut total, "silenttimeoutsessions", 0i64);
    put(&mut total, "finaltimeoutsessions", 0i64);
    put(&mut total, "offertimeoutsessions", 0i64);
    put(&mut total, "regularterminatedsessions", c.deleted);
    put(&mut total, "forcedterminatedsessions", 0i64);
    put(&mut total, "relayedpackets", relayed);
    put(&mut total, "relayedpacketerrors", dropped);
    put(&mut total, "zerowaystreams", 0i64);
    put(&mut total, "onewaystreams", 0i64);
    put(&mut total, "avgcallduration", format!("{:.6}", if ended > 0 { c.call_seconds / ended as f64 } else { 0.0 }));
    put(&mut total, "ngcalls", calls as i64);

    let mut control = Dict::new();
    let mut proxies = Vec::new();
    let mut sums = [0u64; 8];
    for (ip, counts) in &c.proxies {
        let mut p = Dict::new();
        put(&mut p, "proxy", ip.to_string());
        for (i, (_, key)) in COMMANDS.iter().enumerate() {
            put(&mut p, key, counts[i]);
            sums[i] += counts[i];
        }
        put(&mut p, "errorcount", counts[7]);
        sums[7] += counts[7];
        proxies.push(Value::Dict(p));
    }
    put(&mut control, "proxies", proxies);
    for (i, (key, _)) in COMMANDS.iter().enumerate() {
        put(&mut control, key, sums[i]);
    }
    put(&mut control, "totalerrorcount", sums[7]);

    let mut s = Dict::new();
    put(&mut s, "currentstatistics", current);
    put(&mut s, "totalstatistics", total);
    put(&mut s, "controlstatistics", control);
    let mut out = Dict::new();
    put(&mut out, "statistics", s);
    out
}
