//! What the ng front-end remembers of a call between requests: the SIP tags
//! of its two sides, the relay session of each SDP media section, what was
//! negotiated (rtcp-mux, SRTP keys, transport protocols) and what the last
//! offer asked, for its answer. The sessions themselves live in the control
//! loop, like every other session: a call's first media section is the
//! session named by the Call-ID, the n-th (n > 1) `<Call-ID>/<n>`.

use std::net::SocketAddr;
use std::time::Instant;

use mediafwd_dataplane::srtp::sdes::CryptoAttribute;

/// Label of a leg whose SIP tag is not known yet.
pub const UNANSWERED: &str = "(unanswered)";

/// The session id of media section `index` (from 0) of a call.
pub fn session_id(call_id: &str, index: usize) -> String {
    if index == 0 {
        call_id.to_string()
    } else {
        format!("{call_id}/{}", index + 1)
    }
}

/// The call and media index a session id names, if it is one of ours.
pub fn parse_session_id(id: &str) -> (&str, usize) {
    if let Some((call, n)) = id.rsplit_once('/') {
        if let Ok(n) = n.parse::<usize>() {
            if n >= 2 {
                return (call, n - 1);
            }
        }
    }
    (id, 0)
}

/// The label of a leg for a SIP tag: the tag itself, cut to the 64 bytes a
/// label may have.
fn label_of(tag: &str) -> String {
    let mut end = tag.len().min(64);
    while !tag.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        "-".to_string()
    } else {
        tag[..end].to_string()
    }
}

/// rtcp-mux policy of an offer (the `rtcp-mux` list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MuxOptions {
    /// Offer rtcp-mux to the receiver even if the sender did not.
    pub offer: bool,
    /// Treat the receiver as muxing already: no separate RTCP port towards it.
    pub require: bool,
    /// Accept the sender's rtcp-mux but do not offer it onwards.
    pub demux: bool,
    /// Accept the sender's rtcp-mux whatever the receiver answers.
    pub accept: bool,
    /// Refuse the sender's rtcp-mux.
    pub reject: bool,
}

/// SRTP keys of one leg: what its endpoint encrypts with (once known) and
/// what mediafwd encrypts with towards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The endpoint's key.
    pub theirs: CryptoAttribute,
    /// Ours.
    pub ours: CryptoAttribute,
}

/// The last offer on a media section, for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The leg that sent it.
    pub sender: usize,
    /// The sender offered rtcp-mux.
    pub sender_mux: bool,
    /// We offered rtcp-mux to the receiver.
    pub mux_out: bool,
    /// The request's rtcp-mux options.
    pub mux: MuxOptions,
    /// Our `a=crypto` lines towards the receiver (when it speaks SRTP).
    pub offered: Vec<CryptoAttribute>,
}

/// One SDP media section of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSlot {
    /// Its relay session, while it has one.
    pub session: Option<String>,
    /// `audio`, `video`, ...
    pub kind: String,
    /// The transport protocol each leg's endpoint speaks.
    pub protos: [String; 2],
    /// Each endpoint's address as its SDP gave it.
    pub advertised: [Option<SocketAddr>; 2],
    /// Our address on each leg (tells this session from a later one of the same id).
    pub locals: [Option<SocketAddr>; 2],
    /// The labels the session's legs have now.
    pub labels: [String; 2],
    /// rtcp-mux in force on each leg.
    pub rtcp_mux: [bool; 2],
    /// SRTP keys of each leg, on SRTP legs.
    pub keys: [Option<Keys>; 2],
    /// The last offer.
    pub offer: Option<Offer>,
    /// Each leg's WebRTC side (ICE-lite, DTLS-SRTP), on WebRTC legs.
    pub webrtc: [Option<super::webrtc::WebLeg>; 2],
    /// The last offer's `DTLS-reverse`: our role towards its sender.
    pub reverse_dtls: Option<mediafwd_dtls::Role>,
}

impl MediaSlot {
    /// A section not relayed yet.
    pub fn new(kind: &str) -> Self {
        MediaSlot {
            session: None,
            kind: kind.to_string(),
            protos: ["RTP/AVP".into(), "RTP/AVP".into()],
            advertised: [None; 2],
            locals: [None; 2],
            labels: [String::new(), String::new()],
            rtcp_mux: [false; 2],
            keys: [None, None],
            offer: None,
            webrtc: [None, None],
            reverse_dtls: None,
        }
    }
}

/// What was last sent towards a leg, for the `replace` options that keep
/// `o=` and `s=` steady.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// `o=` username.
    pub username: Option<String>,
    /// `s=` value.
    pub session_name: Option<String>,
    /// `o=` version.
    pub version: Option<u64>,
    /// The body without its `o=` line.
    pub body: Option<String>,
}

/// A call: two sides, each a SIP tag and a leg of every session.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The Call-ID.
    pub id: String,
    /// Unix time of the first offer.
    pub created: f64,
    /// Unix time of the last offer or answer.
    pub last_signal: f64,
    /// Each side's SIP tag (leg 0 sent the first offer).
    pub tags: [Option<String>; 2],
    /// Unix time each tag was first seen.
    pub tag_created: [f64; 2],
    /// The interface of each side.
    pub interfaces: [String; 2],
    /// The last `via-branch`.
    pub via_branch: Option<String>,
    /// The media sections, in SDP order.
    pub media: Vec<MediaSlot>,
    /// A `delete` with a delay: when to remove the call.
    pub delete_at: Option<Instant>,
    /// An offer waits for its answer since then.
    pub awaiting_answer: Option<Instant>,
    /// When its sessions were last told the call is alive.
    pub refreshed: Option<Instant>,
    /// What was sent towards each side.
    pub sent: [Sent; 2],
}

impl Call {
    /// A call whose first offer comes from `from` (leg 0).
    pub fn new(id: &str, from: &str, to: Option<&str>, interfaces: [String; 2], now: f64) -> Self {
        Call {
            id: id.to_string(),
            created: now,
            last_signal: now,
            tags: [Some(from.to_string()), to.filter(|t| *t != from).map(str::to_string)],
            tag_created: [now, now],
            interfaces,
            via_branch: None,
            media: Vec::new(),
            delete_at: None,
            awaiting_answer: None,
            refreshed: None,
            sent: [Sent::default(), Sent::default()],
        }
    }

    /// The leg of a tag.
    pub fn leg_of(&self, tag: &str) -> Option<usize> {
        self.tags.iter().position(|t| t.as_deref() == Some(tag))
    }

    /// Gives leg `i` the tag `tag`.
    pub fn set_tag(&mut self, i: usize, tag: &str, now: f64) {
        if self.tags[i].as_deref() != Some(tag) {
            self.tags[i] = Some(tag.to_string());
            self.tag_created[i] = now;
        }
    }

    /// The label leg `i` should have: its tag, unique in the call.
    pub fn label(&self, i: usize) -> String {
        let l = self.tags[i].as_deref().map(label_of).unwrap_or_else(|| UNANSWERED.to_string());
        let other = self.tags[1 - i].as_deref().map(label_of).unwrap_or_else(|| UNANSWERED.to_string());
        if i == 1 && l == other {
            // Two sides with one tag: tell the legs apart.
            let mut l = l;
            l.truncate(60);
            l + "#2"
        } else {
            l
        }
    }

    /// Whether any media section still has a session.
    pub fn is_relaying(&self) -> bool {
        self.media.iter().any(|m| m.session.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert_eq!(session_id("abc@host", 0), "abc@host");
        assert_eq!(session_id("abc@host", 1), "abc@host/2");
        assert_eq!(parse_session_id("abc@host/2"), ("abc@host", 1));
        assert_eq!(parse_session_id("abc@host"), ("abc@host", 0));
        assert_eq!(parse_session_id("a/b"), ("a/b", 0));
        assert_eq!(parse_session_id("a/1"), ("a/1", 0));
    }

    #[test]
    fn labels_follow_tags() {
        let mut c = Call::new("c", "alice-tag", None, ["a".into(), "b".into()], 0.0);
        assert_eq!((c.label(0).as_str(), c.label(1).as_str()), ("alice-tag", UNANSWERED));
        c.set_tag(1, "bob-tag", 1.0);
        assert_eq!(c.label(1), "bob-tag");
        assert_eq!(c.leg_of("bob-tag"), Some(1));
        c.set_tag(1, "alice-tag", 2.0);
        assert_eq!(c.label(1), "alice-tag#2");
        let long = "é".repeat(40);
        c.set_tag(0, &long, 3.0);
        assert!(c.label(0).len() <= 64 && long.starts_with(&c.label(0)));
    }
}
