//! Answering a connectivity check as an ICE-lite agent (RFC 8445 §7.3,
//! RFC 8489 §6.3 and §9.1).
//!
//! The request is judged in the order the RFCs give: a FINGERPRINT that
//! verifies (else the datagram is not ICE and is dropped unanswered), the
//! attributes an ICE check must carry (400), the USERNAME against the
//! leg's ufrags and MESSAGE-INTEGRITY against its ice-pwd (401, without
//! integrity since the sender is not authenticated), attributes we must
//! understand and do not (420), then the role (487). A lite agent is always
//! controlled, so a peer claiming the controlled role too is told to take
//! the controlling one.

use core::net::SocketAddr;

use crate::wire::stun::{attr, msg_type, Message, Writer};
use crate::wire::WireError;

/// A buffer of this size holds any response [`answer`] writes.
pub const MAX_RESPONSE_LEN: usize = 160;

/// The ICE credentials of one leg (from the SDP: ours from our offer or
/// answer, the remote ufrag from the peer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// Our a=ice-ufrag.
    pub local_ufrag: &'a [u8],
    /// Our a=ice-pwd: the key of MESSAGE-INTEGRITY in both directions.
    pub local_pwd: &'a [u8],
    /// The peer's a=ice-ufrag, once its SDP has arrived; checks may come
    /// before it does (RFC 8445 §7.3), and are then matched on ours alone.
    pub remote_ufrag: Option<&'a [u8]>,
}

/// A verified Binding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The transaction id the response echoes.
    pub transaction_id: [u8; 12],
    /// USE-CANDIDATE: the controlling peer nominates this pair.
    pub nominated: bool,
    /// The PRIORITY of the peer's candidate.
    pub priority: u32,
    /// The peer's tie-breaker (from ICE-CONTROLLING).
    pub tie_breaker: u64,
}

/// Why a request was not answered with success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Not a well-formed STUN message.
    #[error("not a STUN message ({0}); drop it")]
    Malformed(WireError),
    /// A STUN message other than a Binding request (an indication, a response).
    #[error("not a Binding request; only requests are answered")]
    NotRequest,
    /// FINGERPRINT missing or wrong: ICE checks always carry one (RFC 8445 §7.2.2).
    #[error("no valid FINGERPRINT, so not an ICE check; drop it")]
    Fingerprint,
    /// USERNAME, MESSAGE-INTEGRITY, PRIORITY or the role attribute missing.
    #[error("an ICE check lacks USERNAME, MESSAGE-INTEGRITY, PRIORITY or its role (400)")]
    BadRequest,
    /// USERNAME is not `local-ufrag:remote-ufrag`.
    #[error("USERNAME is not this leg's ufrag pair; the peer uses other SDP (401)")]
    WrongUsername,
    /// MESSAGE-INTEGRITY does not verify with the leg's ice-pwd.
    #[error("MESSAGE-INTEGRITY does not verify with the leg's ice-pwd (401)")]
    Integrity,
    /// A comprehension-required attribute of this type is unknown.
    #[error("comprehension-required attribute {0:#06x} is unknown (420)")]
    UnknownAttribute(u16),
    /// The peer claims the controlled role, which a lite agent keeps.
    #[error("the peer claims the controlled role; it must become controlling (487)")]
    RoleConflict,
}

impl CheckError {
    /// The STUN error code and reason phrase answered, or `None` when the
    /// request is dropped unanswered.
    pub fn error_code(self) -> Option<(u16, &'static str)> {
        match self {
            CheckError::Malformed(_) | CheckError::NotRequest | CheckError::Fingerprint => None,
            CheckError::BadRequest => Some((400, "Bad Request")),
            CheckError::WrongUsername | CheckError::Integrity => Some((401, "Unauthenticated")),
            CheckError::UnknownAttribute(_) => Some((420, "Unknown Attribute")),
            CheckError::RoleConflict => Some((487, "Role Conflict")),
        }
    }

    /// Whether the request was authenticated, so the error response carries
    /// MESSAGE-INTEGRITY.
    fn authenticated(self) -> bool {
        matches!(self, CheckError::UnknownAttribute(_) | CheckError::RoleConflict)
    }
}

/// Comprehension-required attributes an ICE check may carry.
const KNOWN: [u16; 4] = [attr::USERNAME, attr::MESSAGE_INTEGRITY, attr::PRIORITY, attr::USE_CANDIDATE];

/// The value of a fixed-size attribute as a big-endian integer.
fn be(value: &[u8]) -> Option<u64> {
    (value.len() <= 8).then(|| value.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Verifies the Binding request `msg` against `creds`.
pub fn verify_request(msg: &[u8], creds: &Credentials<'_>) -> Result<Check, CheckError> {
    let m = Message::new_checked(msg).map_err(CheckError::Malformed)?;
    if m.msg_type() != msg_type::BINDING_REQUEST {
        return Err(CheckError::NotRequest);
    }
    if m.verify_fingerprint() != Some(true) {
        return Err(CheckError::Fingerprint);
    }
    let (Some(user), Some(prio)) = (m.find(attr::USERNAME), m.find(attr::PRIORITY)) else {
        return Err(CheckError::BadRequest);
    };
    let role = m.find(attr::ICE_CONTROLLING).or_else(|| m.find(attr::ICE_CONTROLLED));
    let (Some(role), true) = (role, m.find(attr::MESSAGE_INTEGRITY).is_some()) else {
        return Err(CheckError::BadRequest);
    };
    let (Some(priority), Some(tie_breaker)) = (be(prio.value).filter(|_| prio.value.len() == 4), be(role.value)) else {
        return Err(CheckError::BadRequest);
    };
    if !username_matches(user.value, creds) {
        return Err(CheckError::WrongUsername);
    }
    if !m.verify_integrity(creds.local_pwd) {
        return Err(CheckError::Integrity);
    }
    // RFC 8489 §14: attributes after MESSAGE-INTEGRITY, FINGERPRINT aside, are ignored.
    let mi = m.find(attr::MESSAGE_INTEGRITY).map_or(usize::MAX, |a| a.offset);
    if let Some(a) = m
        .attributes()
        .take_while(|a| a.offset < mi)
        .find(|a| attr::comprehension_required(a.typ) && !KNOWN.contains(&a.typ))
    {
        return Err(CheckError::UnknownAttribute(a.typ));
    }
    if role.typ == attr::ICE_CONTROLLED {
        return Err(CheckError::RoleConflict);
    }
    Ok(Check {
        transaction_id: m.transaction_id(),
        nominated: m.find(attr::USE_CANDIDATE).is_some(),
        priority: priority as u32,
        tie_breaker,
    })
}

/// Whether USERNAME is `local:remote` (RFC 8445 §7.2.2); any remote ufrag
/// is taken while the peer's SDP has not arrived.
fn username_matches(user: &[u8], creds: &Credentials<'_>) -> bool {
    let Some(rest) = user.strip_prefix(creds.local_ufrag).and_then(|r| r.strip_prefix(b":")) else {
        return false;
    };
    creds.remote_ufrag.is_none_or(|r| r == rest)
}

/// What to do with a datagram that looked like STUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Send the success response in `out[..len]`; the check is verified.
    Success {
        /// Response length.
        len: usize,
        /// The verified request.
        check: Check,
    },
    /// Send the error response in `out[..len]`.
    Error {
        /// Response length.
        len: usize,
        /// Why.
        error: CheckError,
    },
    /// Send nothing.
    Drop(CheckError),
}

/// Answers the request `msg` received from `from` on a leg with `creds`,
/// writing the response into `out` (at least [`MAX_RESPONSE_LEN`] bytes):
/// XOR-MAPPED-ADDRESS `from`, MESSAGE-INTEGRITY with our ice-pwd and
/// FINGERPRINT on success.
pub fn answer(msg: &[u8], from: SocketAddr, creds: &Credentials<'_>, out: &mut [u8]) -> Answer {
    let written = match verify_request(msg, creds) {
        Ok(check) => {
            success(out, &check.transaction_id, from, creds.local_pwd).map(|len| Answer::Success { len, check })
        }
        Err(error) => match error.error_code() {
            None => return Answer::Drop(error),
            Some((code, reason)) => {
                let tid: [u8; 12] = msg[8..20].try_into().expect("a verified header is 20 bytes");
                failure(out, &tid, code, reason, error, creds.local_pwd).map(|len| Answer::Error { len, error })
            }
        },
    };
    written.unwrap_or_else(|e| Answer::Drop(CheckError::Malformed(e)))
}

fn success(out: &mut [u8], tid: &[u8; 12], from: SocketAddr, pwd: &[u8]) -> crate::wire::Result<usize> {
    let mut w = Writer::new(out, msg_type::BINDING_SUCCESS, tid)?;
    w.xor_mapped_address(from)?;
    w.integrity(pwd)?;
    w.fingerprint()?;
    Ok(w.finish())
}

fn failure(
    out: &mut [u8],
    tid: &[u8; 12],
    code: u16,
    reason: &str,
    error: CheckError,
    pwd: &[u8],
) -> crate::wire::Result<usize> {
    let mut w = Writer::new(out, msg_type::BINDING_ERROR, tid)?;
    w.error_code(code, reason)?;
    if let CheckError::UnknownAttribute(typ) = error {
        w.attribute(attr::UNKNOWN_ATTRIBUTES, &typ.to_be_bytes())?;
    }
    if error.authenticated() {
        w.integrity(pwd)?;
    }
    w.fingerprint()?;
    Ok(w.finish())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::test_util::{hex, RFC5769_REQUEST};
    use proptest::prelude::*;

    pub const CREDS: Credentials<'static> =
        Credentials { local_ufrag: b"mfwd", local_pwd: b"relaypasswordrelaypass", remote_ufrag: Some(b"web1") };

    /// A check as a controlling browser sends it, with `extra` attributes
    /// before MESSAGE-INTEGRITY.
    pub fn request(user: &[u8], pwd: &[u8], role: u16, nominate: bool, extra: &[(u16, &[u8])]) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf, msg_type::BINDING_REQUEST, &[9; 12]).unwrap();
        w.attribute(attr::USERNAME, user).unwrap();
        w.attribute(role, &0x0102_0304_0506_0708u64.to_be_bytes()).unwrap();
        w.attribute(attr::PRIORITY, &0x6e00_01ffu32.to_be_bytes()).unwrap();
        if nominate {
            w.attribute(attr::USE_CANDIDATE, &[]).unwrap();
        }
        for (t, v) in extra {
            w.attribute(*t, v).unwrap();
        }
        w.integrity(pwd).unwrap();
        w.fingerprint().unwrap();
        let n = w.finish();
        buf[..n].to_vec()
    }

    fn good(nominate: bool) -> Vec<u8> {
        request(b"mfwd:web1", CREDS.local_pwd, attr::ICE_CONTROLLING, nominate, &[])
    }

    const FROM: &str = "[2001:db8::7]:50000";

    #[test]
    fn success_response_verifies() {
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let Answer::Success { len, check } = answer(&good(true), FROM.parse().unwrap(), &CREDS, &mut out) else {
            panic!("not a success");
        };
        assert!(check.nominated);
        assert_eq!((check.priority, check.tie_breaker), (0x6e00_01ff, 0x0102_0304_0506_0708));
        let m = Message::new_checked(&out[..len]).unwrap();
        assert_eq!(m.msg_type(), msg_type::BINDING_SUCCESS);
        assert_eq!(m.transaction_id(), [9; 12]);
        let xma = m.find(attr::XOR_MAPPED_ADDRESS).unwrap();
        assert_eq!(crate::wire::stun::decode_xor_address(xma.value, &[9; 12]), Some(FROM.parse().unwrap()));
        assert!(m.verify_integrity(CREDS.local_pwd));
        assert_eq!(m.verify_fingerprint(), Some(true));
        assert!(!verify_request(&good(false), &CREDS).unwrap().nominated);
    }

    #[test]
    fn early_checks_match_our_ufrag_alone() {
        let creds = Credentials { remote_ufrag: None, ..CREDS };
        let req = request(b"mfwd:other", CREDS.local_pwd, attr::ICE_CONTROLLING, false, &[]);
        assert!(verify_request(&req, &creds).is_ok());
        assert_eq!(verify_request(&req, &CREDS), Err(CheckError::WrongUsername));
    }

    /// Every refusal, with the code answered and whether the answer is signed.
    #[test]
    fn refusals() {
        let from = FROM.parse().unwrap();
        let pwd = CREDS.local_pwd;
        let rfc =
            Credentials { local_ufrag: b"evtj", local_pwd: b"VOkJxbRl1RmTxUk/WvJxBt", remote_ufrag: Some(b"h6vY") };
        let cases: Vec<(Vec<u8>, Credentials<'_>, CheckError)> = vec![
            (hex(RFC5769_REQUEST), rfc, CheckError::RoleConflict),
            (request(b"mfwd:web1", b"wrong-password", attr::ICE_CONTROLLING, true, &[]), CREDS, CheckError::Integrity),
            (request(b"mfwd:web2", pwd, attr::ICE_CONTROLLING, true, &[]), CREDS, CheckError::WrongUsername),
            (request(b"mfwdweb1", pwd, attr::ICE_CONTROLLING, true, &[]), CREDS, CheckError::WrongUsername),
            (request(b"mfwd:web1", pwd, 0x8099, true, &[]), CREDS, CheckError::BadRequest),
            (
                request(b"mfwd:web1", pwd, attr::ICE_CONTROLLING, true, &[(0x0033, b"x")]),
                CREDS,
                CheckError::UnknownAttribute(0x0033),
            ),
        ];
        for (req, creds, want) in cases {
            assert_eq!(verify_request(&req, &creds), Err(want));
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let Answer::Error { len, error } = answer(&req, from, &creds, &mut out) else { panic!("{want:?}") };
            assert_eq!(error, want);
            let m = Message::new_checked(&out[..len]).unwrap();
            assert_eq!(m.msg_type(), msg_type::BINDING_ERROR);
            let ec = m.find(attr::ERROR_CODE).unwrap().value;
            let (code, reason) = want.error_code().unwrap();
            assert_eq!(u16::from(ec[2]) * 100 + u16::from(ec[3]), code);
            assert_eq!(&ec[4..], reason.as_bytes());
            assert_eq!(m.verify_integrity(creds.local_pwd), want.authenticated(), "{want:?}");
            assert_eq!(m.verify_fingerprint(), Some(true));
        }
    }

    #[test]
    fn drops_what_is_not_an_ice_check() {
        let mut out = [0u8; MAX_RESPONSE_LEN];
        let from = FROM.parse().unwrap();
        let mut bad_fp = good(true);
        let n = bad_fp.len();
        bad_fp[n - 1] ^= 1;
        assert_eq!(answer(&bad_fp, from, &CREDS, &mut out), Answer::Drop(CheckError::Fingerprint));
        let mut indication = good(true);
        indication[1] = 0x11;
        assert_eq!(answer(&indication, from, &CREDS, &mut out), Answer::Drop(CheckError::NotRequest));
        assert_eq!(
            answer(&good(true)[..19], from, &CREDS, &mut out),
            Answer::Drop(CheckError::Malformed(WireError::Truncated))
        );
        // No room for the response.
        assert_eq!(
            answer(&good(true), from, &CREDS, &mut out[..40]),
            Answer::Drop(CheckError::Malformed(WireError::Truncated))
        );
    }

    proptest! {
        /// Any single flipped bit in a good check is refused or dropped, never answered with success.
        #[test]
        fn flipped_bits_never_succeed(at in 0usize..200, bit in 0u8..8) {
            let mut req = good(true);
            let at = at % req.len();
            req[at] ^= 1 << bit;
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let a = answer(&req, FROM.parse().unwrap(), &CREDS, &mut out);
            prop_assert!(!matches!(a, Answer::Success { .. }), "byte {} bit {}", at, bit);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            let mut out = [0u8; MAX_RESPONSE_LEN];
            let _ = answer(&bytes, FROM.parse().unwrap(), &CREDS, &mut out);
        }
    }
}
