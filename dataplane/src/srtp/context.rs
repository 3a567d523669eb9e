//! The immutable crypto state of one SRTP crypto context (RFC 3711 §3.2): session
//! keys derived once per master key, key schedules expanded, HMAC pads pre-hashed.

use core::fmt;

use super::engine::{self, AuthKey, Crypto, CtrKey, EngineKind, GcmKey};
use super::error::{PolicyError, SrtpError};
use super::kdf::{self, Kdf};
use super::policy::{MasterKey, Policy};
use super::suite::{Suite, Transform};

/// Session crypto state built from a [`Policy`]; shared read-only by every
/// stream that uses it. Packets are processed by the methods in `rtp.rs` and
/// `rtcp.rs` ([`Context::protect_rtp`], [`Context::unprotect_rtp`],
/// [`Context::protect_rtcp`], [`Context::unprotect_rtcp`]).
#[derive(Clone)]
pub struct Context {
    pub(crate) suite: Suite,
    pub(crate) engine: EngineKind,
    pub(crate) keys: Vec<KeySlot>,
    pub(crate) tx_key: usize,
    pub(crate) mki_len: usize,
    pub(crate) window: u64,
}

/// The session keys of one master key.
#[derive(Clone)]
pub(crate) struct KeySlot {
    /// The MKI bytes, `mki_len` of them.
    pub mki: [u8; 4],
    pub srtp: SessionCrypto,
    pub srtcp: SessionCrypto,
    pub srtp_lifetime: u64,
    pub srtcp_lifetime: u64,
}

/// Session keys of one direction (SRTP or SRTCP), ready to use.
#[derive(Clone)]
pub(crate) struct SessionCrypto {
    pub cipher: SessionCipher,
    /// HMAC-SHA1 key; `None` for AEAD.
    pub auth: Option<AuthKey>,
    /// The session salt as the IV's base: `k_s * 2^16` for AES-CM (RFC 3711
    /// §4.1.1), the 96-bit salt for GCM (RFC 7714 §8.1).
    pub salt: u128,
}

#[derive(Clone)]
pub(crate) enum SessionCipher {
    Null,
    AesCm(CtrKey),
    AesGcm(GcmKey),
}

impl SessionCrypto {
    /// Derives the session keys for `transform` with labels `enc`, `auth`, `salt`
    /// (RFC 3711 §4.3.1).
    fn derive(c: &Crypto, engine: EngineKind, kdf: &Kdf, suite: Suite, transform: Transform, labels: [u8; 3]) -> Self {
        let [enc_label, auth_label, salt_label] = labels;
        let mut key = [0u8; 32];
        let key = &mut key[..suite.master_key_len()];
        let mut salt = [0u8; 16];
        let salt_len = suite.master_salt_len();
        // Right-aligned: 14 bytes end 16 bits above the block counter, 12 bytes end
        // at the IV's last byte.
        let at = if transform == Transform::AesGcm { 16 - salt_len } else { 0 };
        kdf.derive(salt_label, &mut salt[at..at + salt_len]);
        let salt = u128::from_be_bytes(salt);
        let auth = (transform != Transform::AesGcm).then(|| {
            let mut auth_key = [0u8; kdf::AUTH_KEY_LEN];
            kdf.derive(auth_label, &mut auth_key);
            let key = c.auth_key(engine, &auth_key);
            auth_key.fill(0);
            key
        });
        let cipher = match transform {
            Transform::NullHmac => SessionCipher::Null,
            Transform::AesCmHmac => {
                kdf.derive(enc_label, key);
                SessionCipher::AesCm(c.ctr_key(engine, key))
            }
            Transform::AesGcm => {
                kdf.derive(enc_label, key);
                SessionCipher::AesGcm(c.gcm_key(engine, key))
            }
        };
        key.fill(0);
        SessionCrypto { cipher, auth, salt }
    }
}

impl KeySlot {
    fn new(c: &Crypto, engine: EngineKind, suite: Suite, master: &MasterKey) -> Self {
        let kdf = Kdf::new(master.key(), master.salt());
        let mut mki = [0u8; 4];
        if let Some(m) = master.mki {
            let (bytes, len) = m.bytes();
            mki[..len].copy_from_slice(&bytes[..len]);
        }
        KeySlot {
            mki,
            srtp: SessionCrypto::derive(
                c,
                engine,
                &kdf,
                suite,
                suite.srtp_transform(),
                [kdf::LABEL_SRTP_ENCRYPTION, kdf::LABEL_SRTP_AUTH, kdf::LABEL_SRTP_SALT],
            ),
            srtcp: SessionCrypto::derive(
                c,
                engine,
                &kdf,
                suite,
                suite.srtcp_transform(),
                [kdf::LABEL_SRTCP_ENCRYPTION, kdf::LABEL_SRTCP_AUTH, kdf::LABEL_SRTCP_SALT],
            ),
            srtp_lifetime: master.srtp_lifetime,
            srtcp_lifetime: master.srtcp_lifetime,
        }
    }
}

impl Context {
    /// Derives the session keys of every master key in `policy` (RFC 3711 §4.3,
    /// key derivation rate 0) and prepares them for the process's engine
    /// ([`engine::current`]).
    pub fn new(policy: &Policy) -> Result<Context, PolicyError> {
        Self::with_engine(policy, engine::current())
    }

    /// [`Context::new`] for a given engine, which must be available here
    /// ([`EngineKind::available`]).
    ///
    /// # Panics
    /// If `engine` is ipsec-mb and the library does not run on this CPU or build.
    pub fn with_engine(policy: &Policy, engine: EngineKind) -> Result<Context, PolicyError> {
        let mki_len = policy.check()?;
        let keys = engine::with_crypto(|c| {
            policy.master_keys.iter().map(|k| KeySlot::new(c, engine, policy.suite, k)).collect()
        });
        Ok(Context {
            suite: policy.suite,
            engine,
            keys,
            tx_key: policy.tx_key,
            mki_len,
            window: u64::from(policy.window_size),
        })
    }

    /// The context's suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The engine the context's keys are prepared for.
    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    /// Bytes `protect_rtp` appends: MKI and SRTP tag (RFC 3711 §3.1, RFC 7714 §8.1).
    pub fn srtp_overhead(&self) -> usize {
        self.mki_len + self.suite.srtp_tag_len()
    }

    /// Bytes `protect_rtcp` appends: E flag and SRTCP index, MKI and SRTCP tag
    /// (RFC 3711 §3.4, RFC 7714 §9.1).
    pub fn srtcp_overhead(&self) -> usize {
        4 + self.mki_len + self.suite.srtcp_tag_len()
    }

    /// The slot that protects outgoing packets, and its MKI bytes.
    pub(crate) fn tx_slot(&self) -> (usize, &KeySlot) {
        (self.tx_key, &self.keys[self.tx_key])
    }

    /// The slot whose MKI is `mki` (`mki_len` bytes); without MKI, the only key.
    pub(crate) fn rx_slot(&self, mki: &[u8]) -> Result<(usize, &KeySlot), SrtpError> {
        if self.mki_len == 0 {
            return Ok((0, &self.keys[0]));
        }
        self.keys.iter().enumerate().find(|(_, k)| k.mki[..self.mki_len] == *mki).ok_or(SrtpError::UnknownMki)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("suite", &self.suite)
            .field("engine", &self.engine)
            .field("master_keys", &self.keys.len())
            .field("tx_key", &self.tx_key)
            .field("mki_len", &self.mki_len)
            .field("window", &self.window)
            .finish()
    }
}
