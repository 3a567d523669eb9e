//! AES in counter mode: SRTP's AES-CM (RFC 3711 §4.1.1, RFC 6188 §2) and the
//! counter half of GCM.
//!
//! The key schedule is expanded once per session key. Counter blocks are built on
//! the stack ([`Counters`]) and encrypted in one call, which the AES-NI backend
//! pipelines. Building them is split from encrypting them so that a burst can write
//! one packet's counters while another packet is processed: a counter block is
//! written as two 8-byte halves and read back by the cipher as one 16-byte load,
//! which the CPU cannot forward from its store queue and must wait for.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};

/// AES block size in bytes.
pub(crate) const AES_BLOCK: usize = 16;

/// Counter blocks prepared at once (256 bytes of keystream, a 240-byte payload
/// plus GCM's tag mask); longer payloads continue in further passes.
const PREPARED: usize = 16;

type Block = GenericArray<u8, aes::cipher::consts::U16>;

/// The counter blocks of one packet's keystream, ready for the cipher.
pub(crate) struct Counters {
    blocks: [Block; PREPARED],
    /// First counter not in `blocks`.
    next: u128,
    /// Blocks prepared.
    len: usize,
    /// Whether `blocks[0]` is a tag mask (GCM's `E(K, J0)`) rather than keystream.
    mask: bool,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters { blocks: [Block::default(); PREPARED], next: 0, len: 0, mask: false }
    }

    /// Prepares the counters `counter, counter + 1, ...` for `data_len` bytes of
    /// keystream, preceded by a mask block if `mask`. Counting is on the whole
    /// 128-bit block: SRTP's counters never carry out of their low 16 (AES-CM) or
    /// 32 (GCM) bits for packets below 1 MiB, so this equals both RFC 3711's and
    /// GCM's increment.
    pub(crate) fn prepare(&mut self, counter: u128, mask: bool, data_len: usize) {
        let len = (usize::from(mask) + data_len.div_ceil(AES_BLOCK)).min(PREPARED);
        for (i, block) in self.blocks[..len].iter_mut().enumerate() {
            *block = counter.wrapping_add(i as u128).to_be_bytes().into();
        }
        self.next = counter.wrapping_add(len as u128);
        self.len = len;
        self.mask = mask;
    }
}

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

    /// XORs `data` with the keystream `E(k, c) || E(k, c + 1) || ...`.
    pub(crate) fn apply_keystream(&self, counter: u128, data: &mut [u8]) {
        let mut counters = Counters::new();
        counters.prepare(counter, false, data.len());
        self.apply_counters(&mut counters, data);
    }

    /// Encrypts the prepared counters and XORs `data` with the keystream;
    /// returns the mask block if one was prepared (zero otherwise).
    pub(crate) fn apply_counters(&self, counters: &mut Counters, data: &mut [u8]) -> [u8; AES_BLOCK] {
        let mask = self.encrypt_counters(counters);
        self.xor_keystream(counters, data);
        mask
    }

    /// Turns the prepared counters into keystream; returns the mask block if one
    /// was prepared (zero otherwise).
    pub(crate) fn encrypt_counters(&self, counters: &mut Counters) -> [u8; AES_BLOCK] {
        self.encrypt_blocks(&mut counters.blocks[..counters.len]);
        let mut mask = [0u8; AES_BLOCK];
        if counters.mask {
            mask.copy_from_slice(&counters.blocks[0]);
        }
        mask
    }

    /// XORs `data` with the keystream of [`AesKey::encrypt_counters`], continuing
    /// past the prepared blocks if `data` is longer.
    pub(crate) fn xor_keystream(&self, counters: &mut Counters, mut data: &mut [u8]) {
        let mut lead = usize::from(counters.mask);
        loop {
            let (now, later) = data.split_at_mut(((counters.len - lead) * AES_BLOCK).min(data.len()));
            xor_blocks(now, &counters.blocks[lead..counters.len]);
            if later.is_empty() {
                return;
            }
            counters.prepare(counters.next, false, later.len());
            self.encrypt_counters(counters);
            lead = 0;
            data = later;
        }
    }
}

/// `data ^= keystream`, a block at a time (the last block may be partial).
fn xor_blocks(data: &mut [u8], keystream: &[Block]) {
    let full = data.len() / AES_BLOCK;
    let mut chunks = data.chunks_exact_mut(AES_BLOCK);
    for (chunk, ks) in (&mut chunks).zip(keystream) {
        let chunk: &mut [u8; AES_BLOCK] = chunk.try_into().expect("16-byte chunk");
        let x = u128::from_ne_bytes(*chunk) ^ u128::from_ne_bytes(ks[..].try_into().expect("16-byte block"));
        *chunk = x.to_ne_bytes();
    }
    let rest = chunks.into_remainder();
    if let Some(ks) = keystream.get(full) {
        for (b, k) in rest.iter_mut().zip(ks) {
            *b ^= k;
        }
    }
}

/// The AES-CM initial counter (RFC 3711 §4.1.1):
/// `IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`, with `i` the 48-bit SRTP
/// index or the 31-bit SRTCP index and `salt = k_s * 2^16` from the session salt.
pub(crate) fn aes_cm_iv(salt: u128, ssrc: u32, index: u64) -> u128 {
    salt ^ (u128::from(ssrc) << 64) ^ (u128::from(index) << 16)
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
        let salt = u128::from_be_bytes(hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap());
        let iv = aes_cm_iv(salt, 0, 0);
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
