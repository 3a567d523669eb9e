//! The portable engine: the RustCrypto crates as published, one packet at a
//! time (`aes` + `ctr` for AES-CM, `hmac` + `sha1` for HMAC-SHA1, `aes-gcm`).

use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipher, BlockEncryptMut, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher, StreamCipherCoreWrapper,
};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ctr::flavors::Ctr128BE;
use ctr::CtrCore;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{AES_BLOCK, GCM_IV_LEN, GCM_TAG_LEN, MAC_LEN};

/// An expanded AES encryption key of 128, 192 or 256 bits.
#[derive(Clone)]
pub(crate) enum AesKey {
    Aes128(Aes128Enc),
    Aes192(Aes192Enc),
    Aes256(Aes256Enc),
}

impl AesKey {
    /// Expands `key`, which must be 16, 24 or 32 bytes long.
    pub(crate) fn new(key: &[u8]) -> Self {
        match key.len() {
            16 => AesKey::Aes128(Aes128Enc::new_from_slice(key).expect("16 bytes")),
            24 => AesKey::Aes192(Aes192Enc::new_from_slice(key).expect("24 bytes")),
            32 => AesKey::Aes256(Aes256Enc::new_from_slice(key).expect("32 bytes")),
            n => unreachable!("AES key of {n} bytes: lengths are checked by Policy"),
        }
    }

    /// XORs `data` with the counter-mode keystream from the counter block `iv`
    /// (a 128-bit big-endian counter; SRTP's never carries out of its low 16 bits).
    pub(crate) fn apply_keystream(&self, iv: &[u8; AES_BLOCK], data: &mut [u8]) {
        fn run<C>(cipher: &C, iv: &[u8; AES_BLOCK], data: &mut [u8])
        where
            C: BlockEncryptMut + BlockCipher + BlockSizeUser<BlockSize = U16> + Clone,
        {
            let core = CtrCore::<C, Ctr128BE>::inner_iv_init(cipher.clone(), iv.into());
            StreamCipherCoreWrapper::from_core(core).apply_keystream(data);
        }
        match self {
            AesKey::Aes128(k) => run(k, iv, data),
            AesKey::Aes192(k) => run(k, iv, data),
            AesKey::Aes256(k) => run(k, iv, data),
        }
    }
}

/// HMAC-SHA1 keyed once: the crate keeps the states after the pads.
#[derive(Clone)]
pub(crate) struct HmacKey(Hmac<Sha1>);

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        HmacKey(<Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// The first [`MAC_LEN`] bytes of `HMAC(key, msg)`.
    pub(crate) fn mac(&self, msg: &[u8]) -> [u8; MAC_LEN] {
        let mut h = self.0.clone();
        h.update(msg);
        let full = h.finalize().into_bytes();
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&full[..MAC_LEN]);
        mac
    }
}

/// An AES-GCM key (RFC 7714 uses 128 and 256 bits).
// Boxed whole where it is kept (`engine::GcmKey`).
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum GcmKey {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

impl GcmKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        match key.len() {
            16 => GcmKey::Aes128(Aes128Gcm::new_from_slice(key).expect("16 bytes")),
            32 => GcmKey::Aes256(Aes256Gcm::new_from_slice(key).expect("32 bytes")),
            n => unreachable!("AES-GCM key of {n} bytes: SRTP's GCM suites use 16 or 32"),
        }
    }

    pub(crate) fn seal(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8]) -> [u8; GCM_TAG_LEN] {
        let tag = match self {
            GcmKey::Aes128(k) => k.encrypt_in_place_detached(iv.into(), aad, data),
            GcmKey::Aes256(k) => k.encrypt_in_place_detached(iv.into(), aad, data),
        };
        tag.expect("SRTP packets are far below GCM's length limits").into()
    }

    /// Verifies, then decrypts; on failure `data` is untouched (the crate
    /// checks the tag before it decrypts).
    pub(crate) fn open(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        if tag.len() != GCM_TAG_LEN {
            return false;
        }
        match self {
            GcmKey::Aes128(k) => k.decrypt_in_place_detached(iv.into(), aad, data, tag.into()),
            GcmKey::Aes256(k) => k.decrypt_in_place_detached(iv.into(), aad, data, tag.into()),
        }
        .is_ok()
    }
}
