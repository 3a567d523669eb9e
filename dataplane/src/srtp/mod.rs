//! SRTP and SRTCP (RFC 3711) as pure transforms on packet buffers.
//!
//! A [`Context`] holds the immutable crypto state of one SRTP crypto context: the
//! session keys derived from up to [`MAX_MASTER_KEYS`] master keys (RFC 3711 §4.3,
//! key derivation rate 0), with the AES key schedules expanded and the HMAC-SHA1
//! pads pre-hashed once. A [`StreamState`] holds what changes per SSRC: the rollover
//! counter, the replay windows, the SRTCP index and the master key usage counters.
//! Every operation works in place on a caller-owned `&mut [u8]` whose length is the
//! capacity and allocates nothing:
//!
//! ```text
//! ctx.protect_rtp(&mut stream, &mut buf, len)?    -> new length (len + MKI + tag)
//! ctx.unprotect_rtp(&mut stream, &mut buf, len)?  -> new length (payload in clear)
//! ```
//!
//! Stream state changes only after a packet authenticated, so a forged or corrupted
//! packet never moves the rollover counter or the replay window. The burst functions
//! [`protect_rtp_burst`] and [`unprotect_rtp_burst`] hand a whole burst's ciphers
//! and MACs to the [`engine`] at once (Intel's ipsec-mb runs them side by side in
//! vector lanes): use them on the hot path. No crypto algorithm is implemented
//! here: the engines are ipsec-mb and the RustCrypto crates.
//!
//! Suites: the AES-CM/HMAC-SHA1 suites of RFC 4568 and RFC 6188, AEAD AES-GCM of
//! RFC 7714, and AES_CM_128_HMAC_SHA1_80 with `UNENCRYPTED_SRTP`
//! ([`Suite::NullHmacSha1_80`]). [`sdes`] parses and emits `a=crypto` lines.
#![deny(unsafe_code)]

mod burst;
mod context;
pub mod engine;
mod error;
mod header;
mod iv;
mod kdf;
mod policy;
mod replay;
mod rtcp;
mod rtp;
pub mod sdes;
mod stream;
mod suite;

pub use burst::{protect_rtcp_burst, protect_rtp_burst, unprotect_rtcp_burst, unprotect_rtp_burst, BurstPacket};
pub use context::Context;
pub use engine::EngineKind;
pub use error::{PolicyError, SrtpError};
pub use policy::{
    MasterKey, Mki, Policy, DEFAULT_SRTCP_LIFETIME, DEFAULT_SRTP_LIFETIME, DEFAULT_WINDOW_SIZE, MAX_MASTER_KEYS,
    MAX_WINDOW_SIZE, MIN_WINDOW_SIZE,
};
pub use stream::StreamState;
pub use suite::Suite;

#[cfg(test)]
mod tests;
