//! DTLS-SRTP (RFC 5763, RFC 5764) for WebRTC legs, handled off the workers:
//! the node's certificate and its `a=fingerprint` ([`Identity`]), one DTLS
//! 1.2 handshake per leg over datagrams the caller carries ([`Endpoint`]),
//! and the SRTP master keys it exports ([`SrtpKeys`]) for the leg's
//! contexts on the workers. OpenSSL does the protocol and the crypto.

mod endpoint;
mod identity;
mod keys;

pub use endpoint::{DtlsSnapshot, Endpoint, Role, HANDSHAKE_TIMEOUT};
pub use identity::{Fingerprint, Identity};
pub use keys::{split_keying_material, suite_of_profile, SrtpKeys, PROFILES};

/// Why a DTLS-SRTP handshake or setup failed.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// OpenSSL refused the setup (certificate, key, context).
    #[error("OpenSSL setup failed: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The handshake failed (an alert, a bad record, no common profile).
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// The peer's certificate does not match the SDP's a=fingerprint.
    #[error("the peer's certificate does not match its a=fingerprint; the SDP or the peer is not the one expected")]
    FingerprintMismatch,
    /// The handshake agreed on no SRTP protection profile.
    #[error("no SRTP protection profile negotiated (use_srtp missing or no common profile)")]
    NoSrtpProfile,
    /// The handshake did not complete in time.
    #[error("DTLS handshake timed out")]
    Timeout,
    /// A fingerprint that is not `sha-256` followed by 32 colon-separated hex bytes.
    #[error("bad a=fingerprint {0:?}: expected sha-256 and 32 hex bytes separated by colons")]
    BadFingerprint(String),
}
