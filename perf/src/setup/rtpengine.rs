//! Calls on rtpengine, through its ng control protocol: an offer with the
//! caller's SDP and an answer with the callee's, as a SIP proxy sends them;
//! rtpengine's rewritten SDPs give its address (and its SRTP keys) for each
//! leg. A delete at the end.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::Suite;

use super::Plan;
use crate::ng::{self, sdp, Client, Value};
use crate::session::{Keys, Session};

/// Where and how to create the calls.
#[derive(Debug, Clone)]
pub struct Target {
    /// rtpengine's ng socket.
    pub ng: SocketAddr,
    /// rtpengine's interface names towards leg a and leg b (its `direction`).
    pub interfaces: Option<[String; 2]>,
    /// Requests in flight.
    pub window: usize,
}

fn crypto(keys: &Option<Keys>) -> anyhow::Result<Option<CryptoAttribute>> {
    let Some(k) = keys else { return Ok(None) };
    Ok(Some(CryptoAttribute { tag: 1, suite: k.suite()?, keys: vec![k.master_key()?], window_size_hint: None }))
}

/// The keys rtpengine offers in `stream` for `suite` (what it will send with).
fn their_keys(stream: &sdp::AudioStream, suite: Suite) -> anyhow::Result<Keys> {
    for line in &stream.crypto {
        let c = CryptoAttribute::parse(line).map_err(|e| anyhow::anyhow!("{e}: {line}"))?;
        if c.suite == suite {
            let k = &c.keys[0];
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            return Ok(Keys { suite: suite.sdes_name().into(), key: hex(k.key()), salt: hex(k.salt()) });
        }
    }
    bail!("rtpengine's SDP offers no {} key", suite.sdes_name())
}

fn flags(dict: Value, pairs: Vec<(&str, Value)>) -> Value {
    let Value::Dict(mut d) = dict else { unreachable!("ng messages are dictionaries") };
    for (k, v) in pairs {
        d.insert(k.as_bytes().to_vec(), v);
    }
    Value::Dict(d)
}

fn transport(suite: Option<Suite>) -> &'static str {
    if suite.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    }
}

/// Sets `plan`'s calls up; returns them with rtpengine's addresses and keys.
pub fn create(target: &Target, plan: &Plan) -> anyhow::Result<Vec<Session>> {
    let mut client = Client::new(target.ng)?;
    // rtpengine may still be starting: ping until it answers (20 s at most).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(e) = client.call(Value::dict([("command", "ping".into())])) {
        if std::time::Instant::now() > deadline {
            return Err(e).context("ng ping");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dirs = target.interfaces.as_ref().map(|[a, b]| [a.as_str(), b.as_str()]);
    let ptime = 20;
    let mut offers = Vec::new();
    for s in 0..plan.sessions {
        let (a_send, _) = plan.keys(s, 0);
        let offer_sdp = sdp::audio(&s.to_string(), plan.endpoints[0].endpoint(s), ptime, crypto(&a_send)?.as_ref());
        let msg = ng::offer(&plan.id(s), "a", &offer_sdp, dirs);
        // What rtpengine offers the callee: its transport decides SRTP or not.
        offers.push(flags(msg, vec![("transport-protocol", transport(plan.srtp[1]).into())]));
    }
    let offered = client.call_many(offers, target.window);
    let mut answers = Vec::new();
    let mut towards_b = Vec::new();
    for (s, r) in offered.into_iter().enumerate() {
        let s = s as u32;
        let r = r.with_context(|| format!("offer of {}", plan.id(s)))?;
        let b_sdp = r.get("sdp").and_then(Value::as_str).context("offer answer without sdp")?;
        let b_side = sdp::first_audio(b_sdp).context("no audio in rtpengine's offer")?;
        let (b_send, _) = plan.keys(s, 1);
        let answer_sdp = sdp::audio(&s.to_string(), plan.endpoints[1].endpoint(s), ptime, crypto(&b_send)?.as_ref());
        answers.push(flags(
            ng::answer(&plan.id(s), "a", "b", &answer_sdp),
            vec![("transport-protocol", transport(plan.srtp[0]).into())],
        ));
        towards_b.push(b_side);
    }
    let answered = client.call_many(answers, target.window);
    let mut out = Vec::new();
    for (s, (r, b_side)) in answered.into_iter().zip(towards_b).enumerate() {
        let s = s as u32;
        let r = r.with_context(|| format!("answer of {}", plan.id(s)))?;
        let a_sdp = r.get("sdp").and_then(Value::as_str).context("answer answer without sdp")?;
        let a_side = sdp::first_audio(a_sdp).context("no audio in rtpengine's answer")?;
        let mut a = plan.leg(s, 0, a_side.addr, None);
        let mut b = plan.leg(s, 1, b_side.addr, None);
        // rtpengine chooses the keys it sends with.
        if let Some(suite) = plan.srtp[0] {
            a.recv_keys = Some(their_keys(&a_side, suite)?);
        }
        if let Some(suite) = plan.srtp[1] {
            b.recv_keys = Some(their_keys(&b_side, suite)?);
        }
        out.push(Session { id: plan.id(s), legs: [a, b] });
    }
    Ok(out)
}

/// Deletes the calls.
pub fn delete(target: &Target, sessions: &[Session]) -> anyhow::Result<()> {
    let mut client = Client::new(target.ng)?;
    let msgs = sessions.iter().map(|s| ng::delete(&s.id, "a")).collect();
    for (r, s) in client.call_many(msgs, target.window).into_iter().zip(sessions) {
        r.with_context(|| format!("delete of {}", s.id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn their_keys_come_from_the_matching_crypto_line() {
        let k = Keys::derive(Suite::AesCm128HmacSha1_80, 3);
        let c = crypto(&Some(k.clone())).unwrap().unwrap();
        let stream = sdp::AudioStream {
            addr: "198.19.0.1:30000".parse().unwrap(),
            proto: "RTP/SAVP".into(),
            crypto: vec![
                "a=crypto:2 AEAD_AES_128_GCM inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==".into(),
                c.to_string(),
            ],
        };
        assert_eq!(their_keys(&stream, Suite::AesCm128HmacSha1_80).unwrap(), k);
        assert!(their_keys(&stream, Suite::Aes256CmHmacSha1_80).is_err());
    }
}
