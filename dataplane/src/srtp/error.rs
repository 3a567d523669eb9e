//! Why a packet or a policy was refused.

use super::suite::Suite;

/// Why protecting or unprotecting one packet failed.
///
/// Fieldless, so that `err as usize` indexes an array of [`SrtpError::COUNT`]
/// per-worker counters. On every error both the packet buffer and the stream state
/// are left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum SrtpError {
    /// The authentication tag (HMAC-SHA1, RFC 3711 §4.2, or the GCM tag, RFC 7714
    /// §7) did not verify: wrong key, corrupted or forged packet.
    #[error("SRTP authentication failed: the packet was corrupted, forged or protected with another key")]
    AuthFailed = 0,
    /// The packet index was already received (RFC 3711 §3.3.2), or, on protect,
    /// already sent (re-encrypting an index would reuse keystream).
    #[error("replayed packet: its index is already in the replay window")]
    Replayed,
    /// The packet index is behind the replay window (RFC 3711 §3.3.2).
    #[error("packet index too old: it is behind the replay window")]
    TooOld,
    /// The packet is shorter than its header plus the SRTP/SRTCP trailer.
    #[error("packet too short for its RTP/RTCP header and SRTP trailer")]
    TooShort,
    /// The RTP/RTCP header is invalid: version not 2, or CSRC list or header
    /// extension running past the packet end.
    #[error("malformed packet: RTP/RTCP version is not 2 or the header runs past the packet end")]
    Malformed,
    /// The MKI in the packet matches none of the context's master keys
    /// (RFC 3711 §3.1).
    #[error("the packet's MKI matches no configured master key: the peer rekeyed to a key not yet installed")]
    UnknownMki,
    /// The master key protected or accepted as many packets as its lifetime allows
    /// (RFC 3711 §9.2); the SRTCP index space (2^31) also ends here.
    #[error("master key lifetime exhausted: install a new master key before sending or accepting more packets")]
    KeyLifetimeExceeded,
    /// The buffer cannot hold the protected packet (packet + MKI + tag).
    #[error("buffer too small for the SRTP trailer: give the packet room for the MKI and tag")]
    BufferTooSmall,
}

impl SrtpError {
    /// Number of variants, for arrays of counters indexed by `err as usize`.
    pub const COUNT: usize = 8;
}

/// Why a [`Policy`](super::Policy) cannot become a [`Context`](super::Context).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A master key's length does not match the suite.
    #[error("{suite} needs a {expected}-byte master key, got {got} bytes")]
    KeyLength {
        /// The policy's suite.
        suite: Suite,
        /// Master key length the suite needs.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A master salt's length does not match the suite.
    #[error("{suite} needs a {expected}-byte master salt, got {got} bytes")]
    SaltLength {
        /// The policy's suite.
        suite: Suite,
        /// Master salt length the suite needs.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A `key || salt` string's length does not match the suite.
    #[error("{suite} needs {expected} bytes of master key and salt, got {got} bytes")]
    KeySaltLength {
        /// The suite.
        suite: Suite,
        /// Master key plus salt length the suite needs.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The policy has no master key, or more than the context holds.
    #[error("a policy needs 1 to {max} master keys, got {got}")]
    MasterKeyCount {
        /// Maximum number of master keys per context.
        max: usize,
        /// Number given.
        got: usize,
    },
    /// Several master keys without an MKI to tell them apart, or master keys with
    /// MKIs of different lengths (RFC 3711 §3.1: the MKI length is fixed per context).
    #[error("with several master keys every key needs an MKI, all of the same length")]
    MkiLayout,
    /// Two master keys share an MKI value.
    #[error("two master keys have the same MKI value {0}")]
    DuplicateMki(u32),
    /// An MKI length outside 1..=4 bytes, or a value that does not fit in it.
    #[error("an MKI is 1 to 4 bytes and its value must fit in them (value {value}, {len} bytes)")]
    Mki {
        /// MKI value.
        value: u64,
        /// MKI length in bytes.
        len: usize,
    },
    /// A lifetime of zero or beyond RFC 3711's maximum (2^48 SRTP, 2^31 SRTCP packets).
    #[error("master key lifetime must be 1..=2^48 SRTP and 1..=2^31 SRTCP packets")]
    Lifetime,
    /// Replay window size outside the supported range.
    #[error("replay window size {got} outside {min}..={max} packets")]
    WindowSize {
        /// Size given.
        got: u32,
        /// Smallest supported size.
        min: u32,
        /// Largest supported size.
        max: u32,
    },
    /// The key chosen to protect outgoing packets is not one of the master keys.
    #[error("tx_key {0} names no master key of the policy")]
    TxKey(usize),
}
