//! Stored SRTP keys, in clear or sealed with AES-256-GCM (RustCrypto's
//! `aes-gcm`) under a key read from a file. Sealing keeps the keys from
//! whoever reads the store (a dump, a replica, a backup) without the key
//! file; it does not protect them from a node, which holds both.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::{Deserialize, Serialize};

/// A key field as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyField {
    /// The bytes, hex.
    Clear(String),
    /// A 12-byte nonce then the AES-256-GCM ciphertext and tag, hex.
    Sealed(String),
}

/// Why a key field cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file is missing, unreadable or not a key.
    #[error("{path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A sealed field, and no key to open it.
    #[error("the store holds sealed SRTP keys; set ha.key_file to the key they were sealed with")]
    NoKey,
    /// The field does not open with this key (another key, or altered).
    #[error("a sealed SRTP key does not open with ha.key_file's key (another key, or the record was altered)")]
    Open,
    /// Not hex.
    #[error("a stored SRTP key is not hex")]
    Hex,
    /// No randomness for a nonce.
    #[error("no random nonce: {0}")]
    Random(String),
}

/// Seals and opens key fields with one AES-256-GCM key.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// A sealer with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)) }
    }

    /// The key in `path`: 64 hex digits (surrounding white space ignored) or
    /// 32 raw bytes.
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let err = |message: String| SealError::KeyFile { path: path.display().to_string(), message };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
        let key: Vec<u8> =
            if text.len() == 64 { from_hex(text).map_err(|_| err("64 characters but not hex".into()))? } else { bytes };
        let key: [u8; 32] = key.try_into().map_err(|k: Vec<u8>| {
            err(format!("{} bytes: a key is 32 bytes, or 64 hex digits (e.g. `openssl rand -hex 32`)", k.len()))
        })?;
        Ok(Sealer::new(&key))
    }

    fn seal(&self, clear: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let ct = self.cipher.encrypt(Nonce::from_slice(&nonce), clear).map_err(|_| SealError::Open)?;
        Ok([&nonce[..], &ct].concat())
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 12 {
            return Err(SealError::Open);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| SealError::Open)
    }
}

impl KeyField {
    /// `bytes`, sealed when there is a sealer.
    pub fn new(bytes: &[u8], sealer: Option<&Sealer>) -> Result<Self, SealError> {
        Ok(match sealer {
            Some(s) => KeyField::Sealed(to_hex(&s.seal(bytes)?)),
            None => KeyField::Clear(to_hex(bytes)),
        })
    }

    /// The bytes; a sealed field needs the sealer that sealed it.
    pub fn open(&self, sealer: Option<&Sealer>) -> Result<Vec<u8>, SealError> {
        match self {
            KeyField::Clear(h) => from_hex(h),
            KeyField::Sealed(h) => sealer.ok_or(SealError::NoKey)?.open(&from_hex(h)?),
        }
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>, SealError> {
    if !s.len().is_multiple_of(2) {
        return Err(SealError::Hex);
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()).ok_or(SealError::Hex))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_fields_open_with_their_key_only() {
        let (a, b) = (Sealer::new(&[7; 32]), Sealer::new(&[8; 32]));
        let clear = [0x5au8; 30];
        let f = KeyField::new(&clear, Some(&a)).unwrap();
        let KeyField::Sealed(h) = &f else { panic!("not sealed: {f:?}") };
        assert!(!h.contains(&to_hex(&clear)));
        assert_eq!(f.open(Some(&a)).unwrap(), clear);
        assert!(matches!(f.open(Some(&b)), Err(SealError::Open)));
        assert!(matches!(f.open(None), Err(SealError::NoKey)));
        // Two seals of the same key differ (a fresh nonce each).
        assert_ne!(KeyField::new(&clear, Some(&a)).unwrap(), f);
        // Altered ciphertext does not open.
        let mut bad = h.clone();
        let last = if bad.ends_with('0') { "1" } else { "0" };
        bad.replace_range(bad.len() - 1.., last);
        assert!(matches!(KeyField::Sealed(bad).open(Some(&a)), Err(SealError::Open)));
        // Clear fields open without a key.
        assert_eq!(KeyField::new(&clear, None).unwrap().open(None).unwrap(), clear);
    }

    #[test]
    fn key_files_hold_hex_or_raw_keys() {
        let dir = tempfile::tempdir().unwrap();
        let hex = dir.path().join("hex");
        std::fs::write(&hex, format!("{}\n", to_hex(&[3; 32]))).unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [3u8; 32]).unwrap();
        let f = KeyField::new(b"k", Some(&Sealer::from_file(&hex).unwrap())).unwrap();
        assert_eq!(f.open(Some(&Sealer::from_file(&raw).unwrap())).unwrap(), b"k");
        let short = dir.path().join("short");
        std::fs::write(&short, [3u8; 16]).unwrap();
        let e = Sealer::from_file(&short).unwrap_err().to_string();
        assert!(e.contains("16 bytes"), "{e}");
        assert!(Sealer::from_file(&dir.path().join("none")).is_err());
    }
}
