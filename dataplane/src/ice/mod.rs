//! ICE-lite (RFC 8445 §2.5) on the relay's ports: mediafwd has only host
//! candidates on its relay addresses, never sends checks, and stays in the
//! controlled role. A WebRTC peer's Binding requests are answered in the
//! slow path ([`check`]); the pair the peer nominates latches the leg, and
//! the peer's continuing checks keep consent fresh (RFC 7675, [`consent`]).
//!
//! Both modules are pure: bytes and a clock reading in, a response or an
//! event out.

pub mod check;
pub mod consent;

pub use check::{answer, verify_request, Answer, Check, CheckError, Credentials, MAX_RESPONSE_LEN};
pub use consent::{IceEvent, IceLeg, CONSENT_TIMEOUT_MS};
