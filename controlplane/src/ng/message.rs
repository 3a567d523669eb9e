//! ng messages: `<cookie> <bencoded dictionary>`, and the request a
//! dictionary carries. Keys and flags are matched with spaces, hyphens and
//! underscores as one (`call-id`, `call id`, `call_id`) and without regard to
//! case (`ICE`, `ice`).

use std::net::IpAddr;

use super::bencode::{self, Dict, Value};

/// The longest cookie accepted (Kamailio's are `<pid>_<seq>`).
pub const MAX_COOKIE: usize = 128;

/// A message split into its cookie and its dictionary's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Echoed in the reply.
    pub cookie: &'a [u8],
    /// The bencoded dictionary.
    pub body: &'a [u8],
}

/// Why a datagram is not an ng message. Without a cookie nothing can be
/// answered: such datagrams are dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No space separating a cookie from the dictionary.
    #[error("no cookie: an ng message is `<cookie> <bencoded dictionary>`")]
    NoCookie,
}

impl<'a> Frame<'a> {
    /// Splits a datagram at its first space.
    pub fn parse(datagram: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let sp = datagram.iter().position(|&b| b == b' ').ok_or(FrameError::NoCookie)?;
        let cookie = &datagram[..sp];
        if cookie.is_empty() || cookie.len() > MAX_COOKIE || cookie.iter().any(|b| b.is_ascii_whitespace()) {
            return Err(FrameError::NoCookie);
        }
        Ok(Frame { cookie, body: &datagram[sp + 1..] })
    }
}

/// `<cookie> <reply>`.
pub fn frame_reply(cookie: &[u8], reply: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    reply.encode_into(&mut out);
    out
}

/// A key or flag in canonical form: lower case, `-` and `_` read as spaces,
/// runs of spaces as one.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        let c = match c {
            '-' | '_' => ' ',
            c => c.to_ascii_lowercase(),
        };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The ng commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ping`: `pong`.
    Ping,
    /// `offer`: SDP from the party of `from-tag`.
    Offer,
    /// `answer`: SDP from the party of `to-tag`.
    Answer,
    /// `delete`: the call, after `delete delay`.
    Delete,
    /// `query`: a call's statistics.
    Query,
    /// `list`: the call ids.
    List,
    /// `statistics`: the node's totals.
    Statistics,
    /// Any other command (answered with an error).
    Other(String),
}

/// What a request asks, its keys read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The command (`None`: the key was missing).
    pub command: Option<Command>,
    /// `call-id`.
    pub call_id: Option<String>,
    /// `from-tag`.
    pub from_tag: Option<String>,
    /// `to-tag`.
    pub to_tag: Option<String>,
    /// `via-branch`.
    pub via_branch: Option<String>,
    /// `sdp`.
    pub sdp: Option<String>,
    /// `flags`, canonical form.
    pub flags: Vec<String>,
    /// `flags` as sent (for flags with a value, such as `SDES-no-<suite>`).
    pub raw_flags: Vec<String>,
    /// `replace`, canonical form.
    pub replace: Vec<String>,
    /// `direction`: interface names, as sent (`from-interface` and
    /// `to-interface` fill it too).
    pub direction: Vec<String>,
    /// `received from`: (family, address).
    pub received_from: Option<(String, String)>,
    /// `media address`.
    pub media_address: Option<IpAddr>,
    /// `address family`: `IP4` or `IP6`.
    pub address_family: Option<String>,
    /// `ICE`, canonical form.
    pub ice: Option<String>,
    /// `DTLS`: `off`, `passive`, `active` (our role towards the receiver of this SDP).
    pub dtls: Option<String>,
    /// `DTLS-reverse`: the same, towards the sender of this SDP (in the answer to come).
    pub dtls_reverse: Option<String>,
    /// `rtcp-mux`, canonical form.
    pub rtcp_mux: Vec<String>,
    /// `transport protocol`, as sent (`RTP/SAVP`).
    pub transport_protocol: Option<String>,
    /// `SDES`, as sent (suite names keep their case).
    pub sdes: Vec<String>,
    /// `delete delay`, seconds.
    pub delete_delay: Option<i64>,
    /// `supports`, canonical form.
    pub supports: Vec<String>,
    /// `limit` (list).
    pub limit: Option<i64>,
    /// `label`.
    pub label: Option<String>,
    /// Keys this front-end does not act on, as sent.
    pub ignored_keys: Vec<String>,
}

/// Keys that carry information mediafwd has no use for: accepted without a
/// warning.
const SILENT_KEYS: &[&str] = &["received from", "from label", "to label", "set label", "xmlrpc callback"];

fn text(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Bytes(b) => String::from_utf8(b.clone()).map_err(|_| format!("{key}: not UTF-8 text")),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(format!("{key}: expected a string")),
    }
}

fn int(key: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bytes(_) => {
            text(key, v)?.trim().parse().map_err(|_| format!("{key}: expected an integer, not {:?}", text(key, v)))
        }
        _ => Err(format!("{key}: expected an integer")),
    }
}

/// A list of strings; a single string (or space-separated words) is accepted
/// as well, as some clients send one.
fn list(key: &str, v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::List(items) => items.iter().map(|i| text(key, i)).collect(),
        Value::Bytes(_) => Ok(text(key, v)?.split_whitespace().map(str::to_string).collect()),
        _ => Err(format!("{key}: expected a list of strings")),
    }
}

/// Sets side `i` (0: the offerer's) of a direction, keeping the other.
fn set_direction(d: &mut Vec<String>, i: usize, name: String) {
    while d.len() <= i {
        d.push(String::new());
    }
    d[i] = name;
}

impl Request {
    /// Reads a request dictionary. Keys are matched in canonical form; a
    /// value of the wrong type is an error naming the key; keys not known
    /// are collected in `ignored_keys`.
    pub fn from_dict(dict: &Dict) -> Result<Request, String> {
        let mut r = Request::default();
        for (raw_key, v) in dict {
            let shown = String::from_utf8_lossy(raw_key).into_owned();
            let key = normalize(&shown);
            let k = key.as_str();
            match k {
                "command" => {
                    let c = text(k, v)?;
                    r.command = Some(match normalize(&c).as_str() {
                        "ping" => Command::Ping,
                        "offer" => Command::Offer,
                        "answer" => Command::Answer,
                        "delete" => Command::Delete,
                        "query" => Command::Query,
                        "list" => Command::List,
                        "statistics" => Command::Statistics,
                        _ => Command::Other(c),
                    });
                }
                "call id" => r.call_id = Some(text(k, v)?),
                "from tag" => r.from_tag = Some(text(k, v)?),
                "to tag" => r.to_tag = Some(text(k, v)?),
                "via branch" => r.via_branch = Some(text(k, v)?),
                "sdp" => r.sdp = Some(text(k, v)?),
                "flags" => {
                    r.raw_flags = list(k, v)?;
                    r.flags = r.raw_flags.iter().map(|f| normalize(f)).collect();
                }
                "replace" => r.replace = list(k, v)?.iter().map(|f| normalize(f)).collect(),
                "direction" => {
                    let d = list(k, v)?;
                    for (i, name) in d.into_iter().take(2).enumerate() {
                        set_direction(&mut r.direction, i, name);
                    }
                }
                "from interface" => set_direction(&mut r.direction, 0, text(k, v)?),
                "to interface" => set_direction(&mut r.direction, 1, text(k, v)?),
                "received from" => {
                    let l = list(k, v)?;
                    if let [family, addr] = &l[..] {
                        r.received_from = Some((family.clone(), addr.clone()));
                    } else {
                        return Err(format!("{k}: expected [family, address]"));
                    }
                }
                "media address" => {
                    let t = text(k, v)?;
                    r.media_address = Some(t.parse().map_err(|_| format!("{k}: {t:?} is not an IP address"))?);
                }
                "address family" => r.address_family = Some(text(k, v)?.to_ascii_uppercase()),
                "ice" => r.ice = Some(normalize(&text(k, v)?)),
                "dtls" => r.dtls = Some(normalize(&text(k, v)?)),
                "dtls reverse" => r.dtls_reverse = Some(normalize(&text(k, v)?)),
                "rtcp mux" => r.rtcp_mux = list(k, v)?.iter().map(|f| normalize(f)).collect(),
                "transport protocol" => r.transport_protocol = Some(text(k, v)?.to_ascii_uppercase()),
                "sdes" => r.sdes = list(k, v)?,
                "delete delay" => r.delete_delay = Some(int(k, v)?),
                "supports" => r.supports = list(k, v)?.iter().map(|f| normalize(f)).collect(),
                "limit" => r.limit = Some(int(k, v)?),
                "label" => r.label = Some(text(k, v)?),
                k if SILENT_KEYS.contains(&k) => {}
                _ => r.ignored_keys.push(shown),
            }
        }
        Ok(r)
    }

    /// Decodes a request from a message body.
    pub fn decode(body: &[u8]) -> Result<Request, String> {
        let v = bencode::decode(body).map_err(|e| e.to_string())?;
        let dict = v.as_dict().ok_or("the message is not a bencoded dictionary")?;
        Request::from_dict(dict)
    }

    /// A flag is present (canonical form).
    pub fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// A `replace` item is present (canonical form).
    pub fn replaces(&self, what: &str) -> bool {
        self.replace.iter().any(|x| x == what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let f = Frame::parse(b"5323_1 d7:command4:pinge").unwrap();
        assert_eq!(f.cookie, b"5323_1");
        assert_eq!(f.body, b"d7:command4:pinge");
        assert_eq!(Frame::parse(b"d7:command4:pinge"), Err(FrameError::NoCookie));
        assert_eq!(Frame::parse(b" d7:command4:pinge"), Err(FrameError::NoCookie));
        assert_eq!(Frame::parse(&[b'x'; 200]), Err(FrameError::NoCookie));
        let reply = frame_reply(b"5323_1", &Value::Dict([(b"result".to_vec(), Value::str("pong"))].into()));
        assert_eq!(reply, b"5323_1 d6:result4:ponge");
    }

    #[test]
    fn keys_in_any_spelling() {
        assert_eq!(normalize("call-id"), "call id");
        assert_eq!(normalize("Call_ID"), "call id");
        assert_eq!(normalize("transport  protocol"), "transport protocol");
        let l = |items: &[&str]| Value::List(items.iter().map(Value::str).collect());
        let dict: Dict = [
            ("call_id", Value::str("c")),
            ("from-tag", Value::str("f")),
            ("to tag", Value::str("t")),
            ("command", Value::str("offer")),
            ("ICE", Value::str("remove")),
            ("transport-protocol", Value::str("RTP/SAVP")),
            ("delete-delay", Value::Int(5)),
            ("flags", l(&["trust-address", "SDES-off"])),
            ("replace", l(&["origin", "session-connection"])),
            ("record call", Value::str("on")),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v))
        .collect();
        let body = &Value::Dict(dict).encode()[..];
        let r = Request::decode(body).unwrap();
        assert_eq!(r.command, Some(Command::Offer));
        assert_eq!(
            (r.call_id.as_deref(), r.from_tag.as_deref(), r.to_tag.as_deref()),
            (Some("c"), Some("f"), Some("t"))
        );
        assert_eq!(r.ice.as_deref(), Some("remove"));
        assert_eq!(r.transport_protocol.as_deref(), Some("RTP/SAVP"));
        assert_eq!(r.delete_delay, Some(5));
        assert!(r.flag("trust address"));
        assert_eq!(r.raw_flags[1], "SDES-off");
        assert!(r.replaces("session connection"));
        assert_eq!(r.ignored_keys, vec!["record call".to_string()]);
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = Request::decode(b"d7:command4:ping7:call-idli1eee").unwrap_err();
        assert!(e.contains("call id"), "{e}");
        let e = Request::decode(b"d7:command6:delete12:delete delay3:abce").unwrap_err();
        assert!(e.contains("delete delay"), "{e}");
        assert!(Request::decode(b"li1ee").is_err());
        assert!(Request::decode(b"d7:command4:ping").is_err());
        // from-interface and to-interface are a direction.
        let dict: Dict =
            [(b"to-interface".to_vec(), Value::str("priv")), (b"from-interface".to_vec(), Value::str("pub"))].into();
        assert_eq!(Request::from_dict(&dict).unwrap().direction, vec!["pub".to_string(), "priv".to_string()]);
        // Integers given as text are read.
        assert_eq!(Request::decode(b"d12:delete delay2:30e").unwrap().delete_delay, Some(30));
    }
}
