//! What a crypto context is made of: suite, master keys with their MKIs and
//! lifetimes, and the replay window size.

use core::fmt;

use super::error::PolicyError;
use super::replay::WINDOW_BITS;
use super::suite::Suite;

/// Master keys one context holds, so a rekey can overlap (RFC 3711 §8.1).
pub const MAX_MASTER_KEYS: usize = 2;
/// Default and maximum SRTP packets per master key (RFC 3711 §9.2: 2^48).
pub const DEFAULT_SRTP_LIFETIME: u64 = 1 << 48;
/// Default and maximum SRTCP packets per master key (RFC 3711 §9.2: 2^31).
pub const DEFAULT_SRTCP_LIFETIME: u64 = 1 << 31;
/// Default replay window, in packets (RFC 3711 §3.3.2 asks for at least 64).
pub const DEFAULT_WINDOW_SIZE: u32 = 128;
/// Smallest replay window accepted.
pub const MIN_WINDOW_SIZE: u32 = 64;
/// Largest replay window supported.
pub const MAX_WINDOW_SIZE: u32 = WINDOW_BITS as u32;

/// A Master Key Identifier (RFC 3711 §3.1): a value carried in every packet in
/// `len` big-endian bytes (RFC 4568 §6.1 writes it as `value:len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mki {
    value: u32,
    len: u8,
}

impl Mki {
    /// An MKI of `len` bytes (1..=4) holding `value`.
    pub fn new(value: u64, len: usize) -> Result<Self, PolicyError> {
        if !(1..=4).contains(&len) || value >> (8 * len) != 0 {
            return Err(PolicyError::Mki { value, len });
        }
        Ok(Mki { value: value as u32, len: len as u8 })
    }

    /// The MKI value.
    pub fn value(self) -> u32 {
        self.value
    }

    /// Bytes the MKI takes in each packet.
    pub fn len(self) -> usize {
        usize::from(self.len)
    }

    /// Always false: an MKI has at least one byte.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The bytes written into packets.
    pub(crate) fn bytes(self) -> ([u8; 4], usize) {
        let mut out = [0u8; 4];
        let len = self.len();
        out[..len].copy_from_slice(&self.value.to_be_bytes()[4 - len..]);
        (out, len)
    }
}

/// One master key and salt, with its optional MKI and its lifetimes.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    material: [u8; 46],
    key_len: u8,
    salt_len: u8,
    /// MKI sent with and expected in packets under this key.
    pub mki: Option<Mki>,
    /// SRTP packets this key may protect or accept, per stream (RFC 3711 §9.2).
    pub srtp_lifetime: u64,
    /// SRTCP packets this key may protect or accept, per stream (RFC 3711 §9.2).
    pub srtcp_lifetime: u64,
}

impl MasterKey {
    /// A master key and salt of `suite`'s lengths (16, 24 or 32 and 14, or 12 for
    /// GCM), with no MKI and the default lifetimes.
    pub fn new(suite: Suite, key: &[u8], salt: &[u8]) -> Result<Self, PolicyError> {
        let (key_len, salt_len) = (suite.master_key_len(), suite.master_salt_len());
        if key.len() != key_len {
            return Err(PolicyError::KeyLength { suite, expected: key_len, got: key.len() });
        }
        if salt.len() != salt_len {
            return Err(PolicyError::SaltLength { suite, expected: salt_len, got: salt.len() });
        }
        let mut material = [0u8; 46];
        material[..key_len].copy_from_slice(key);
        material[key_len..key_len + salt_len].copy_from_slice(salt);
        Ok(MasterKey {
            material,
            key_len: key_len as u8,
            salt_len: salt_len as u8,
            mki: None,
            srtp_lifetime: DEFAULT_SRTP_LIFETIME,
            srtcp_lifetime: DEFAULT_SRTCP_LIFETIME,
        })
    }

    /// Splits `key || salt`, as SDES `inline:` and libsrtp carry it, for `suite`.
    pub fn from_key_salt(suite: Suite, key_salt: &[u8]) -> Result<Self, PolicyError> {
        let expected = suite.master_key_len() + suite.master_salt_len();
        if key_salt.len() != expected {
            return Err(PolicyError::KeySaltLength { suite, expected, got: key_salt.len() });
        }
        let (key, salt) = key_salt.split_at(suite.master_key_len());
        MasterKey::new(suite, key, salt)
    }

    /// This key with an MKI.
    pub fn with_mki(mut self, mki: Mki) -> Self {
        self.mki = Some(mki);
        self
    }

    /// This key with other lifetimes (packets per stream, at most the defaults).
    pub fn with_lifetimes(mut self, srtp: u64, srtcp: u64) -> Self {
        self.srtp_lifetime = srtp;
        self.srtcp_lifetime = srtcp;
        self
    }

    /// The master key.
    pub fn key(&self) -> &[u8] {
        &self.material[..usize::from(self.key_len)]
    }

    /// The master salt.
    pub fn salt(&self) -> &[u8] {
        &self.material[usize::from(self.key_len)..self.key_salt().len()]
    }

    /// Key then salt, as SDES `inline:` carries them (RFC 4568 §6.1).
    pub fn key_salt(&self) -> &[u8] {
        &self.material[..usize::from(self.key_len) + usize::from(self.salt_len)]
    }

    pub(crate) fn check(&self, suite: Suite) -> Result<(), PolicyError> {
        MasterKey::new(suite, self.key(), self.salt())?;
        if !(1..=DEFAULT_SRTP_LIFETIME).contains(&self.srtp_lifetime)
            || !(1..=DEFAULT_SRTCP_LIFETIME).contains(&self.srtcp_lifetime)
        {
            return Err(PolicyError::Lifetime);
        }
        Ok(())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("key", &"<redacted>")
            .field("key_len", &self.key_len)
            .field("salt_len", &self.salt_len)
            .field("mki", &self.mki)
            .field("srtp_lifetime", &self.srtp_lifetime)
            .field("srtcp_lifetime", &self.srtcp_lifetime)
            .finish()
    }
}

/// Everything needed to build a [`Context`](super::Context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The crypto suite.
    pub suite: Suite,
    /// 1 to [`MAX_MASTER_KEYS`] master keys. With more than one, each has an MKI of
    /// the same length and unprotect picks the key by the packet's MKI.
    pub master_keys: Vec<MasterKey>,
    /// Index in `master_keys` of the key that protects outgoing packets.
    pub tx_key: usize,
    /// Replay window size in packets, [`MIN_WINDOW_SIZE`]..=[`MAX_WINDOW_SIZE`].
    pub window_size: u32,
}

impl Policy {
    /// A policy with one master key and the default window.
    pub fn new(suite: Suite, master_key: MasterKey) -> Self {
        Policy { suite, master_keys: vec![master_key], tx_key: 0, window_size: DEFAULT_WINDOW_SIZE }
    }

    /// Checks everything [`Context::new`](super::Context::new) relies on; returns
    /// the MKI length (0 without MKI).
    pub(crate) fn check(&self) -> Result<usize, PolicyError> {
        let keys = &self.master_keys;
        if keys.is_empty() || keys.len() > MAX_MASTER_KEYS {
            return Err(PolicyError::MasterKeyCount { max: MAX_MASTER_KEYS, got: keys.len() });
        }
        for key in keys {
            key.check(self.suite)?;
        }
        let mki_len = keys[0].mki.map_or(0, Mki::len);
        if keys.iter().any(|k| k.mki.map_or(0, Mki::len) != mki_len) || (keys.len() > 1 && mki_len == 0) {
            return Err(PolicyError::MkiLayout);
        }
        for (i, a) in keys.iter().enumerate() {
            if let Some(dup) = keys[i + 1..].iter().find(|b| b.mki.is_some() && b.mki == a.mki) {
                return Err(PolicyError::DuplicateMki(dup.mki.map_or(0, Mki::value)));
            }
        }
        if self.tx_key >= keys.len() {
            return Err(PolicyError::TxKey(self.tx_key));
        }
        if !(MIN_WINDOW_SIZE..=MAX_WINDOW_SIZE).contains(&self.window_size) {
            return Err(PolicyError::WindowSize { got: self.window_size, min: MIN_WINDOW_SIZE, max: MAX_WINDOW_SIZE });
        }
        Ok(mki_len)
    }
}
