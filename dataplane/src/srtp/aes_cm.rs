//! AES in counter mode: SRTP's AES-CM (RFC 3711 §4.1.1, RFC 6188 §2) and the
//! counter half of GCM.
//!
//! The key schedule is expanded once per session key. Counter blocks are built on
//! the stack in batches of eight, the width the AES-NI backend pipelines.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};

/// AES block size in bytes.
pub(crate) const AES_BLOCK: usize = 16;

/// Counter blocks encrypted per batch.
const BATCH: usize = 8;

type Block = GenericArray<u8, aes::cipher::consts::U16>;

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
            16 => AesKey::Aes128(Aes128Enc::new(GenericArray::from_slice(key))),
            24 => AesKey::Aes192(Aes192Enc::new(GenericArray::from_slice(key))),
            32 => AesKey::Aes256(Aes256Enc::new(GenericArray::from_slice(key))),
            n => unreachable!("AES key of {n} bytes: lengths are checked by Policy"),
        }
    }

    /// Encrypts one block in place.
    pub(crate) fn encrypt_block(&self, block: &mut [u8; AES_BLOCK]) {
        let block = GenericArray::from_mut_slice(block);
        match self {
            AesKey::Aes128(k) => k.encrypt_block(block),
            AesKey::Aes192(k) => k.encrypt_block(block),
            AesKey::Aes256(k) => k.encrypt_block(block),
        }
    }

    fn encrypt_blocks(&self, blocks: &mut [Block]) {
        match self {
            AesKey::Aes128(k) => k.encrypt_blocks(blocks),
            AesKey::Aes192(k) => k.encrypt_blocks(blocks),
            AesKey::Aes256(k) => k.encrypt_blocks(blocks),
        }
    }

    /// XORs `data` with the keystream `E(k, c) || E(k, c + 1) || ...`, counting on
    /// the whole 128-bit block. SRTP's counters never carry out of their low 16
    /// (AES-CM) or 32 (GCM) bits for packets below 1 MiB, so this equals both
    /// RFC 3711's and GCM's increment.
    pub(crate) fn apply_keystream(&self, counter: u128, data: &mut [u8]) {
        let mut counter = counter;
        for chunk in data.chunks_mut(BATCH * AES_BLOCK) {
            let nblocks = chunk.len().div_ceil(AES_BLOCK);
            let mut keystream = [Block::default(); BATCH];
            for block in &mut keystream[..nblocks] {
                *block = counter.to_be_bytes().into();
                counter = counter.wrapping_add(1);
            }
            self.encrypt_blocks(&mut keystream[..nblocks]);
            for (bytes, ks) in chunk.chunks_mut(AES_BLOCK).zip(&keystream) {
                for (b, k) in bytes.iter_mut().zip(ks) {
                    *b ^= k;
                }
            }
        }
    }
}

/// The AES-CM initial counter (RFC 3711 §4.1.1):
/// `IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`, with `i` the 48-bit SRTP
/// index or the 31-bit SRTCP index and `k_s` the 112-bit session salt.
pub(crate) fn aes_cm_iv(session_salt: &[u8; 14], ssrc: u32, index: u64) -> u128 {
    let mut salt = [0u8; 16];
    salt[..14].copy_from_slice(session_salt);
    u128::from_be_bytes(salt) ^ (u128::from(ssrc) << 64) ^ (u128::from(index) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::tests::hex;

    /// RFC 3711 Appendix B.2: AES-CM keystream for session key 2B7E...3C, salt
    /// F0F1...FD, SSRC 0 and index 0, at the segment's start and its end.
    #[test]
    fn rfc3711_b2_keystream() {
        let key = AesKey::new(&hex("2B7E151628AED2A6ABF7158809CF4F3C"));
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = aes_cm_iv(&salt, 0, 0);
        assert_eq!(iv.to_be_bytes()[..], hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")[..]);

        let mut ks = [0u8; 48];
        key.apply_keystream(iv, &mut ks);
        assert_eq!(
            ks[..],
            hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
                 41E95B3BB0A2E8DD477901E4FCA894C0")[..]
        );

        let mut tail = [0u8; 48];
        key.apply_keystream(iv + 0xFEFF, &mut tail);
        assert_eq!(
            tail[..],
            hex("EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE
                 6A2CC3787889374FBEB4C81B17BA6C44")[..]
        );
    }

    /// A keystream computed in one call equals one computed block by block, for
    /// lengths across the batch boundary.
    #[test]
    fn batches_match_single_blocks() {
        let key = AesKey::new(&[7u8; 32]);
        for len in [0, 1, 15, 16, 17, 127, 128, 129, 300] {
            let mut batched = vec![0u8; len];
            key.apply_keystream(0x1234 << 16, &mut batched);
            let mut single = Vec::new();
            for i in 0..len.div_ceil(16) as u128 {
                let mut block = ((0x1234u128 << 16) + i).to_be_bytes();
                key.encrypt_block(&mut block);
                single.extend_from_slice(&block);
            }
            assert_eq!(batched[..], single[..len]);
        }
    }
}
