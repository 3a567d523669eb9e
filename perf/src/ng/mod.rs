//! A client of rtpengine's ng control protocol, enough to set calls up
//! for a benchmark: offer, answer and delete, with the SDP they carry.

pub use mediafwd_bencode as bencode;
pub mod client;
pub mod sdp;

pub use bencode::Value;
pub use client::{Client, NgError};

/// An `offer`: the caller's SDP; `interfaces` names rtpengine's interface
/// towards the caller, then towards the callee (its `direction` flag).
pub fn offer(call_id: &str, from_tag: &str, sdp: &str, interfaces: Option<[&str; 2]>) -> Value {
    let mut pairs = vec![
        ("command", "offer".into()),
        ("call-id", call_id.into()),
        ("from-tag", from_tag.into()),
        ("sdp", sdp.into()),
        ("replace", vec!["origin", "session-connection"].into()),
        ("ICE", "remove".into()),
    ];
    if let Some([a, b]) = interfaces {
        pairs.push(("direction", vec![a, b].into()));
    }
    Value::dict(pairs)
}

/// An `answer`: the callee's SDP.
pub fn answer(call_id: &str, from_tag: &str, to_tag: &str, sdp: &str) -> Value {
    Value::dict([
        ("command", "answer".into()),
        ("call-id", call_id.into()),
        ("from-tag", from_tag.into()),
        ("to-tag", to_tag.into()),
        ("sdp", sdp.into()),
        ("replace", vec!["origin", "session-connection"].into()),
        ("ICE", "remove".into()),
    ])
}

/// A `delete` of a whole call.
pub fn delete(call_id: &str, from_tag: &str) -> Value {
    Value::dict([("command", "delete".into()), ("call-id", call_id.into()), ("from-tag", from_tag.into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_encoding_is_what_rtpengine_reads() {
        let v = offer("call-1", "a", "v=0\r\n", Some(["pub", "priv"]));
        assert_eq!(
            String::from_utf8(v.encode()).unwrap(),
            "d3:ICE6:remove7:call-id6:call-17:command5:offer9:directionl3:pub4:prive8:from-tag1:a\
             7:replacel6:origin18:session-connectione3:sdp5:v=0\r\ne"
        );
        let a = answer("call-1", "a", "b", "v=0\r\n");
        assert_eq!(a.get("to-tag").and_then(Value::as_str), Some("b"));
        assert_eq!(
            String::from_utf8(delete("call-1", "a").encode()).unwrap(),
            "d7:call-id6:call-17:command6:delete8:from-tag1:ae"
        );
    }
}
