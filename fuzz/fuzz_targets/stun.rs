//! STUN on a WebRTC leg's port: the message view and the ICE-lite answer.
//!
//! Each input is used twice. As bytes: once `Message::new_checked` accepted
//! them, every getter answers and every attribute lies inside the message;
//! the demultiplexer's ranges (RFC 7983) never overlap; whatever `answer`
//! sends back parses, echoes the transaction id, carries a valid
//! FINGERPRINT and, when it is a success, our MESSAGE-INTEGRITY and the
//! sender's address. As a recipe: a Binding request built the way a browser
//! builds one (USERNAME, role, PRIORITY, USE-CANDIDATE, extra attributes,
//! MESSAGE-INTEGRITY with the right or a wrong password, FINGERPRINT), then
//! possibly one bit flipped: the answer must be exactly what RFC 8445 asks
//! for that request, so the code past the integrity check is reached.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use core::net::SocketAddr;
use libfuzzer_sys::fuzz_target;
use mediafwd_dataplane::ice::{answer, verify_request, Answer, CheckError, Credentials, MAX_RESPONSE_LEN};
use mediafwd_dataplane::wire::stun::{self, attr, msg_type, Message, Writer};
use std::hint::black_box;

const CREDS: Credentials<'static> =
    Credentials { local_ufrag: b"mfwd", local_pwd: b"relaypasswordrelaypass", remote_ufrag: Some(b"web1") };

#[derive(Debug, Arbitrary)]
struct Recipe {
    tid: [u8; 12],
    /// USERNAME: `mfwd:web1` unless given.
    username: Option<Vec<u8>>,
    /// ICE-CONTROLLING (true), ICE-CONTROLLED (false) or no role attribute.
    controlling: Option<bool>,
    tie_breaker: u64,
    priority: Option<u32>,
    nominate: bool,
    /// Attributes before MESSAGE-INTEGRITY (type, value).
    extra: Vec<(u16, Vec<u8>)>,
    /// MESSAGE-INTEGRITY keyed with this instead of the leg's ice-pwd.
    wrong_pwd: Option<Vec<u8>>,
    fingerprint: bool,
    /// Flip this bit of the finished message.
    flip: Option<u16>,
    from_v6: bool,
    from_port: u16,
}

fuzz_target!(|data: &[u8]| {
    let from: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    message(data);
    answered(data, from, None);
    if let Ok(recipe) = Recipe::arbitrary(&mut Unstructured::new(data)) {
        built(&recipe);
    }
});

fn message(data: &[u8]) {
    // RFC 7983's ranges do not overlap: STUN 0-3, DTLS 20-63, RTP and RTCP 128-191.
    if stun::is_stun(data) {
        assert!(!stun::is_dtls(data) && data[0] < 4);
    }
    let Ok(m) = Message::new_checked(data) else { return };
    // RFC 8489 §5: the top two bits are zero, whatever the demultiplexer makes of the rest.
    assert_eq!(data[0] & 0xC0, 0);
    black_box((m.msg_type(), m.len(), m.is_empty(), m.transaction_id()));
    let msg = m.message();
    assert!(msg.len() <= data.len() && msg.len() == stun::HEADER_LEN + usize::from(m.len()));
    let start = msg.as_ptr() as usize;
    for a in m.attributes() {
        let at = a.value.as_ptr() as usize;
        assert!(at >= start + stun::HEADER_LEN && at + a.value.len() <= start + msg.len());
        assert_eq!(m.find(a.typ).map(|f| f.typ), Some(a.typ));
        if a.typ == attr::XOR_MAPPED_ADDRESS {
            black_box(stun::decode_xor_address(a.value, &m.transaction_id()));
        }
    }
    black_box((m.verify_integrity(CREDS.local_pwd), m.verify_fingerprint()));
}

/// Answers `req` and checks the answer; `expect` is what it must be.
fn answered(req: &[u8], from: SocketAddr, expect: Option<Result<(), CheckError>>) {
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let got = answer(req, from, &CREDS, &mut out);
    let verdict = verify_request(req, &CREDS);
    match got {
        Answer::Success { len, check } => {
            assert_eq!(verdict, Ok(check));
            let m = response(&out[..len], req);
            assert_eq!(m.msg_type(), msg_type::BINDING_SUCCESS);
            assert!(m.verify_integrity(CREDS.local_pwd));
            let xma = m.find(attr::XOR_MAPPED_ADDRESS).expect("a success names the sender");
            assert_eq!(stun::decode_xor_address(xma.value, &m.transaction_id()), Some(from));
        }
        Answer::Error { len, error } => {
            assert_eq!(verdict, Err(error));
            let (code, _) = error.error_code().expect("an answered refusal has a code");
            let m = response(&out[..len], req);
            assert_eq!(m.msg_type(), msg_type::BINDING_ERROR);
            let ec = m.find(attr::ERROR_CODE).expect("an error response has ERROR-CODE");
            assert_eq!(u16::from(ec.value[2]) * 100 + u16::from(ec.value[3]), code);
            // Only a request that proved the password gets a signed refusal.
            let signed = matches!(error, CheckError::UnknownAttribute(_) | CheckError::RoleConflict);
            assert_eq!(m.find(attr::MESSAGE_INTEGRITY).is_some(), signed);
            if signed {
                assert!(m.verify_integrity(CREDS.local_pwd));
            }
        }
        Answer::Drop(error) => {
            assert!(error.error_code().is_none(), "{error:?} would be answered");
            assert_eq!(verdict, Err(error));
        }
    }
    if let Some(expect) = expect {
        assert_eq!(verify_request(req, &CREDS).map(|_| ()), expect, "{req:02x?}");
    }
}

/// The response in `out` parses, echoes the request's transaction id and
/// ends with a valid FINGERPRINT.
fn response<'a>(out: &'a [u8], req: &[u8]) -> Message<&'a [u8]> {
    let m = Message::new_checked(out).expect("a response we wrote parses");
    assert_eq!(m.message().len(), out.len());
    assert_eq!(m.transaction_id()[..], req[8..20]);
    assert_eq!(m.verify_fingerprint(), Some(true));
    m
}

fn built(r: &Recipe) {
    let mut buf = [0u8; 1024];
    let Ok(mut w) = Writer::new(&mut buf, msg_type::BINDING_REQUEST, &r.tid) else { return };
    let username = r.username.as_deref().unwrap_or(b"mfwd:web1");
    let mut ok = w.attribute(attr::USERNAME, username).is_ok();
    if let Some(c) = r.controlling {
        let typ = if c { attr::ICE_CONTROLLING } else { attr::ICE_CONTROLLED };
        ok &= w.attribute(typ, &r.tie_breaker.to_be_bytes()).is_ok();
    }
    if let Some(p) = r.priority {
        ok &= w.attribute(attr::PRIORITY, &p.to_be_bytes()).is_ok();
    }
    if r.nominate {
        ok &= w.attribute(attr::USE_CANDIDATE, &[]).is_ok();
    }
    for (typ, value) in &r.extra {
        ok &= w.attribute(*typ, value).is_ok();
    }
    ok &= w.integrity(r.wrong_pwd.as_deref().unwrap_or(CREDS.local_pwd)).is_ok();
    if r.fingerprint {
        ok &= w.fingerprint().is_ok();
    }
    let len = w.finish();
    if !ok {
        return;
    }
    let mut req = buf[..len].to_vec();
    let from = if r.from_v6 {
        SocketAddr::new("2001:db8::7".parse().unwrap(), r.from_port)
    } else {
        SocketAddr::new("198.51.100.7".parse().unwrap(), r.from_port)
    };
    if let Some(bit) = r.flip {
        let bit = usize::from(bit) % (req.len() * 8);
        req[bit / 8] ^= 1 << (bit % 8);
        message(&req);
        answered(&req, from, None);
        return;
    }
    message(&req);
    let verdict = expected(r, username);
    answered(&req, from, verdict);
    // The fields come from the recipe's own attributes unless an extra one repeats them.
    if let (Some(_), Ok(check)) = (verdict, verify_request(&req, &CREDS)) {
        assert_eq!(check.transaction_id, r.tid);
        assert_eq!(Some(check.priority), r.priority);
        assert_eq!(check.tie_breaker, r.tie_breaker);
        assert_eq!(check.nominated, r.nominate || r.extra.iter().any(|(t, _)| *t == attr::USE_CANDIDATE));
    }
}

/// What RFC 8445 §7.3 and RFC 8489 make of the request `r` describes, in
/// the order `verify_request` documents; `None` when an extra attribute
/// repeats one the check reads (then the first of them counts, and the
/// oracle would have to redo the parse).
fn expected(r: &Recipe, username: &[u8]) -> Option<Result<(), CheckError>> {
    const READ: [u16; 6] = [
        attr::USERNAME,
        attr::PRIORITY,
        attr::ICE_CONTROLLING,
        attr::ICE_CONTROLLED,
        attr::MESSAGE_INTEGRITY,
        attr::FINGERPRINT,
    ];
    if r.extra.iter().any(|(t, _)| READ.contains(t)) {
        return None;
    }
    const KNOWN: [u16; 4] = [attr::USERNAME, attr::MESSAGE_INTEGRITY, attr::PRIORITY, attr::USE_CANDIDATE];
    let unknown = r.extra.iter().find(|(t, _)| attr::comprehension_required(*t) && !KNOWN.contains(t));
    Some(if !r.fingerprint {
        Err(CheckError::Fingerprint)
    } else if r.priority.is_none() || r.controlling.is_none() {
        Err(CheckError::BadRequest)
    } else if username != b"mfwd:web1" {
        Err(CheckError::WrongUsername)
    } else if r.wrong_pwd.as_deref().is_some_and(|p| !same_hmac_key(p, CREDS.local_pwd)) {
        Err(CheckError::Integrity)
    } else if let Some((typ, _)) = unknown {
        Err(CheckError::UnknownAttribute(*typ))
    } else if r.controlling == Some(false) {
        Err(CheckError::RoleConflict)
    } else {
        Ok(())
    })
}

/// Whether HMAC-SHA1 keyed by `a` and by `b` is the same function: keys up
/// to the block size are padded with zeros (RFC 2104 §2), longer ones hashed.
fn same_hmac_key(a: &[u8], b: &[u8]) -> bool {
    const BLOCK: usize = 64;
    if a.len() > BLOCK || b.len() > BLOCK {
        return a == b;
    }
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    long[..short.len()] == *short && long[short.len()..].iter().all(|&x| x == 0)
}
