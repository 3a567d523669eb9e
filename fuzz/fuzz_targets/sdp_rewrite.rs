//! The SDP reader and rewriter on arbitrary bodies, rewritten as an offer or
//! answer would be: no panic; what was accepted reads back after rewriting,
//! with as many media sections, each relayed one carrying the transport it was
//! given; and every `a=crypto` line of a body either is refused or writes
//! back to the same attribute.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use mediafwd_controlplane::ng::sdp::{MediaOut, Rewrite, RtcpAttribute, Sdp};
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::Context;

/// The input: a header saying how to rewrite, then the body.
///
/// ```text
/// 0      flags: 1 origin, 2 session name, 4 session connection, 8 strip ICE, 16 origin v6
/// 1      origin host
/// 2..10  origin version (big-endian)
/// 10     n, media sections described (at most 8)
/// 11..   n times 8 bytes: kind (0 unchanged, 1 reject, else relay), flags (1 v6,
///        2 rtcp-mux), host, port (2), RTCP attribute (kind % 3: none, port,
///        full), proto, crypto (% 3: keep, none, one line)
/// then   the SDP body (UTF-8)
/// ```
struct Input<'a> {
    flags: u8,
    origin_host: u8,
    origin_version: u64,
    media: Vec<[u8; 8]>,
    body: &'a str,
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let (head, rest) = data.split_at_checked(11)?;
        let n = usize::from(head[10] % 9);
        let (media, body) = rest.split_at_checked(8 * n)?;
        Some(Input {
            flags: head[0],
            origin_host: head[1],
            origin_version: u64::from_be_bytes(head[2..10].try_into().ok()?),
            media: media.chunks_exact(8).map(|c| c.try_into().expect("8 bytes")).collect(),
            body: std::str::from_utf8(body).ok()?,
        })
    }
}

const PROTOS: [&str; 4] = ["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF"];
/// A WebRTC section's own attributes, as the ng engine adds them.
const WEBRTC: &[&str] = &[
    "a=mid:0",
    "a=ice-ufrag:abcd1234",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB",
    "a=setup:passive",
    "a=candidate:1 1 UDP 2130706431 198.18.0.1 30000 typ host",
    "a=end-of-candidates",
];

const CRYPTO: &str = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn address(v6: bool, host: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, host))
    }
}

fn media_out(o: &[u8; 8]) -> MediaOut {
    let [kind, flags, host, port_hi, port_lo, rtcp, proto, crypto] = *o;
    let v6 = flags & 1 != 0;
    let port = u16::from_be_bytes([port_hi, port_lo]);
    match kind {
        0 => MediaOut::Unchanged,
        1 => MediaOut::Reject,
        _ => MediaOut::Relay {
            address: address(v6, host),
            port,
            rtcp: match rtcp % 3 {
                0 => RtcpAttribute::Omit,
                1 => RtcpAttribute::Port(port.wrapping_add(1)),
                _ => RtcpAttribute::Full(port.wrapping_add(1), address(!v6, host)),
            },
            rtcp_mux: flags & 2 != 0,
            proto: PROTOS.get(usize::from(proto)).map(|p| p.to_string()),
            crypto: match crypto % 3 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(vec![CRYPTO.to_string()]),
            },
            attributes: if flags & 4 != 0 { WEBRTC.iter().map(|a| a.to_string()).collect() } else { Vec::new() },
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::parse(data) else { return };
    let Ok(sdp) = Sdp::parse(input.body) else { return };
    let _ = (sdp.origin_version(), sdp.origin_username(), sdp.session_name(), sdp.has_ice());
    for m in &sdp.media {
        let _ = (m.connection(&sdp), m.rtp_endpoint(&sdp), m.rtcp_endpoint(&sdp), m.rtcp_mux());
        let _ = (m.is_rtp(), m.is_srtp(), m.clock_rate());
        for line in m.crypto_lines() {
            crypto_line(line);
        }
    }
    let origin = input.flags & 1 != 0;
    let rw = Rewrite {
        origin_address: origin.then(|| address(input.flags & 16 != 0, input.origin_host)),
        origin_username: origin.then(|| "mediafwd".to_string()),
        origin_version: origin.then_some(input.origin_version),
        session_name: (input.flags & 2 != 0).then(|| "-".to_string()),
        session_connection: input.flags & 4 != 0,
        strip_ice: input.flags & 8 != 0,
        media: input.media.iter().map(media_out).collect(),
        session_attributes: Vec::new(),
    };
    let text = sdp.rewrite(&rw);
    let out = match Sdp::parse(&text) {
        Ok(out) => out,
        Err(e) => panic!("the rewritten body does not parse ({e}):\n{text}"),
    };
    assert_eq!(out.media.len(), sdp.media.len(), "{text}");
    let added = rw.media.iter().any(|m| matches!(m, MediaOut::Relay { attributes, .. } if !attributes.is_empty()));
    if rw.strip_ice && !added {
        assert!(!out.has_ice(), "{text}");
    }
    for (i, (m, o)) in out.media.iter().zip(&sdp.media).enumerate() {
        match rw.media.get(i).unwrap_or(&MediaOut::Unchanged) {
            MediaOut::Unchanged => assert_eq!(m.line, o.line, "{text}"),
            MediaOut::Reject => assert_eq!(m.line.port, 0, "{text}"),
            MediaOut::Relay { address, port, rtcp, rtcp_mux, proto, crypto, attributes } => {
                for a in attributes {
                    assert!(m.lines.iter().any(|l| l.0 == *a), "{a} in\n{text}");
                }
                assert_eq!(m.line.port, *port, "{text}");
                assert_eq!(m.line.proto, proto.clone().unwrap_or_else(|| o.line.proto.clone()), "{text}");
                assert_eq!(m.connection(&out), Some(*address), "media {i}:\n{text}");
                assert_eq!(m.rtcp_mux(), *rtcp_mux, "{text}");
                let want = match *rtcp {
                    RtcpAttribute::Omit => None,
                    RtcpAttribute::Port(p) => Some((p, None)),
                    RtcpAttribute::Full(p, a) => Some((p, Some(a))),
                };
                assert_eq!(m.rtcp(), Ok(want), "{text}");
                if let Some(lines) = crypto {
                    assert_eq!(m.crypto_lines().collect::<Vec<_>>(), *lines, "{text}");
                }
            }
        }
    }
});

/// An `a=crypto` line: refused, or it writes back to what it read, and its
/// keys make a context.
fn crypto_line(line: &str) {
    let Ok(a) = CryptoAttribute::parse(line) else { return };
    let again = CryptoAttribute::parse(&a.to_string()).expect("a written attribute parses");
    assert_eq!(again, a);
    let _ = Context::new(&a.to_policy());
}
