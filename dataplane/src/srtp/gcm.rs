//! AES-GCM (NIST SP 800-38D) as SRTP uses it (RFC 7714): 12-byte IV, 16-byte tag,
//! in place, with the AAD given in two pieces so SRTCP's header and trailer need
//! no copy (RFC 7714 §9.2).

use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use subtle::ConstantTimeEq;

use super::aes_cm::{AesKey, AES_BLOCK};

/// GCM tag length used by SRTP (RFC 7714 §12: 16 octets).
pub(crate) const GCM_TAG_LEN: usize = 16;

/// An expanded AES-GCM key: the AES schedule and the GHASH key `H = E(K, 0^128)`.
#[derive(Clone)]
pub(crate) struct GcmKey {
    aes: AesKey,
    ghash: GHash,
}

impl GcmKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        let aes = AesKey::new(key);
        let mut h = [0u8; AES_BLOCK];
        aes.encrypt_block(&mut h);
        GcmKey {
            ghash: GHash::new(&h.into()),
            aes,
        }
    }

    /// Encrypts `data` in place; returns the tag over `aad.0 || aad.1` and the
    /// ciphertext.
    pub(crate) fn seal(&self, iv: &[u8; 12], aad: (&[u8], &[u8]), data: &mut [u8]) -> [u8; GCM_TAG_LEN] {
        let j0 = j0(iv);
        self.aes.apply_keystream(j0 + 1, data);
        self.tag(j0, aad, data)
    }

    /// Verifies `tag` and only then decrypts `data` in place; on failure `data`
    /// is untouched.
    pub(crate) fn open(&self, iv: &[u8; 12], aad: (&[u8], &[u8]), data: &mut [u8], tag: &[u8]) -> bool {
        let j0 = j0(iv);
        let expected = self.tag(j0, aad, data);
        if !bool::from(expected.ct_eq(tag)) {
            return false;
        }
        self.aes.apply_keystream(j0 + 1, data);
        true
    }

    fn tag(&self, j0: u128, aad: (&[u8], &[u8]), ciphertext: &[u8]) -> [u8; GCM_TAG_LEN] {
        let mut ghash = self.ghash.clone();
        update_concat(&mut ghash, aad.0, aad.1);
        ghash.update_padded(ciphertext);
        let aad_bits = ((aad.0.len() + aad.1.len()) as u64) * 8;
        let ct_bits = (ciphertext.len() as u64) * 8;
        let mut lengths = [0u8; AES_BLOCK];
        lengths[..8].copy_from_slice(&aad_bits.to_be_bytes());
        lengths[8..].copy_from_slice(&ct_bits.to_be_bytes());
        ghash.update(&[lengths.into()]);
        let mut tag: [u8; GCM_TAG_LEN] = ghash.finalize().into();
        let mut mask = j0.to_be_bytes();
        self.aes.encrypt_block(&mut mask);
        for (t, m) in tag.iter_mut().zip(mask) {
            *t ^= m;
        }
        tag
    }
}

/// `J0 = IV || 0^31 || 1` for a 96-bit IV (SP 800-38D §7.1).
fn j0(iv: &[u8; 12]) -> u128 {
    let mut block = [0u8; AES_BLOCK];
    block[..12].copy_from_slice(iv);
    block[15] = 1;
    u128::from_be_bytes(block)
}

/// GHASH over `a || b` zero-padded to whole blocks, without concatenating.
fn update_concat(ghash: &mut GHash, a: &[u8], b: &[u8]) {
    let whole = a.len() - a.len() % AES_BLOCK;
    ghash.update_padded(&a[..whole]);
    let rest = &a[whole..];
    if rest.is_empty() {
        ghash.update_padded(b);
        return;
    }
    let mut block = [0u8; AES_BLOCK];
    block[..rest.len()].copy_from_slice(rest);
    let take = (AES_BLOCK - rest.len()).min(b.len());
    block[rest.len()..rest.len() + take].copy_from_slice(&b[..take]);
    ghash.update(&[block.into()]);
    ghash.update_padded(&b[take..]);
}

/// The SRTP AEAD IV (RFC 7714 §8.1): `(00 00 || SSRC || ROC || SEQ) XOR salt`.
pub(crate) fn srtp_iv(session_salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    xor_salt(iv, session_salt)
}

/// The SRTCP AEAD IV (RFC 7714 §9.1):
/// `(00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt`.
pub(crate) fn srtcp_iv(session_salt: &[u8; 12], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&(index & 0x7fff_ffff).to_be_bytes());
    xor_salt(iv, session_salt)
}

fn xor_salt(mut iv: [u8; 12], salt: &[u8; 12]) -> [u8; 12] {
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::tests::hex;
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::KeyInit;
    use proptest::prelude::*;

    /// RFC 7714 §16.1 / §17.1 IV formation.
    #[test]
    fn rfc7714_ivs() {
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        assert_eq!(srtp_iv(&salt, 0x5501_a0b2, 0xf17b)[..], hex("51753c6580c2726f20718414")[..]);
        assert_eq!(srtcp_iv(&salt, 0x4d61_7273, 0x5d4)[..], hex("517524055203726f207170bb")[..]);
    }

    proptest! {
        /// Seal equals the `aes-gcm` crate's, for both key sizes, any AAD split
        /// and lengths; open inverts it and refuses a flipped bit.
        #[test]
        fn matches_aes_gcm_crate(
            key256 in any::<bool>(),
            key in any::<[u8; 32]>(),
            iv in any::<[u8; 12]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..80),
            split in any::<prop::sample::Index>(),
            plain in proptest::collection::vec(any::<u8>(), 0..300),
            flip in any::<prop::sample::Index>(),
        ) {
            let key = if key256 { &key[..] } else { &key[..16] };
            let at = split.index(aad.len() + 1);
            let gcm = GcmKey::new(key);
            let mut ours = plain.clone();
            let tag = gcm.seal(&iv, (&aad[..at], &aad[at..]), &mut ours);

            let mut theirs = plain.clone();
            let their_tag = if key256 {
                aes_gcm::Aes256Gcm::new_from_slice(key).unwrap()
                    .encrypt_in_place_detached(&iv.into(), &aad, &mut theirs).unwrap()
            } else {
                aes_gcm::Aes128Gcm::new_from_slice(key).unwrap()
                    .encrypt_in_place_detached(&iv.into(), &aad, &mut theirs).unwrap()
            };
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(&tag[..], &their_tag[..]);

            let mut sealed = ours.clone();
            prop_assert!(gcm.open(&iv, (&aad[..at], &aad[at..]), &mut sealed, &tag));
            prop_assert_eq!(&sealed, &plain);

            let mut bad_tag = tag;
            bad_tag[flip.index(16)] ^= 1;
            let mut sealed = ours.clone();
            prop_assert!(!gcm.open(&iv, (&aad[..at], &aad[at..]), &mut sealed, &bad_tag));
            prop_assert_eq!(&sealed, &ours);
        }
    }
}
