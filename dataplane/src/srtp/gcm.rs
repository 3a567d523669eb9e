//! AES-GCM (NIST SP 800-38D) as SRTP uses it (RFC 7714): 12-byte IV, 16-byte tag,
//! in place, with the AAD given in two pieces so SRTCP's header and trailer need
//! no copy (RFC 7714 §9.2).

use polyval::universal_hash::UniversalHash;
use polyval::Polyval;
use subtle::ConstantTimeEq;

use super::aes_cm::{AesKey, Counters, AES_BLOCK};

/// GCM tag length used by SRTP (RFC 7714 §12: 16 octets).
pub(crate) const GCM_TAG_LEN: usize = 16;

/// An expanded AES-GCM key: the AES schedule and the GHASH key `H = E(K, 0^128)`,
/// held as the equivalent POLYVAL key.
///
/// GHASH runs as POLYVAL (RFC 8452 Appendix A): `GHASH(H, X1..Xn) =
/// ByteReverse(POLYVAL(mulX_POLYVAL(ByteReverse(H)), ByteReverse(X1)..))`; the
/// blocks are reversed while they are gathered, which costs nothing extra.
#[derive(Clone)]
pub(crate) struct GcmKey {
    aes: AesKey,
    polyval: Polyval,
}

impl GcmKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        let aes = AesKey::new(key);
        let mut h = [0u8; AES_BLOCK];
        aes.encrypt_block(&mut h);
        GcmKey { polyval: Polyval::new(&mul_x_polyval(u128::from_be_bytes(h)).to_le_bytes().into()), aes }
    }

    /// Encrypts `data` in place; returns the tag over `aad.0 || aad.1` and the
    /// ciphertext. `counters` come from [`prepare`] for this IV and length.
    pub(crate) fn seal(&self, counters: &mut Counters, aad: (&[u8], &[u8]), data: &mut [u8]) -> [u8; GCM_TAG_LEN] {
        let mask = self.aes.apply_counters(counters, data);
        self.tag(mask, aad, data)
    }

    /// Verifies `tag` and only then decrypts `data` in place; on failure `data`
    /// is untouched. `counters` come from [`prepare`] for this IV and length.
    pub(crate) fn open(&self, counters: &mut Counters, aad: (&[u8], &[u8]), data: &mut [u8], tag: &[u8]) -> bool {
        let mask = self.aes.encrypt_counters(counters);
        let expected = self.tag(mask, aad, data);
        if !bool::from(expected.ct_eq(tag)) {
            return false;
        }
        self.aes.xor_keystream(counters, data);
        true
    }

    /// `GHASH(H, A, C) XOR E(K, J0)` (SP 800-38D §7.1 steps 5-6).
    fn tag(&self, mask: [u8; AES_BLOCK], aad: (&[u8], &[u8]), ciphertext: &[u8]) -> [u8; GCM_TAG_LEN] {
        let mut polyval = self.polyval.clone();
        let mut ghash = GhashBlocks::new(&mut polyval);
        ghash.bytes(aad.0);
        ghash.bytes(aad.1);
        ghash.pad();
        ghash.bytes(ciphertext);
        ghash.pad();
        let aad_bits = ((aad.0.len() + aad.1.len()) as u64) * 8;
        let ct_bits = (ciphertext.len() as u64) * 8;
        ghash.push((u128::from(aad_bits) << 64) | u128::from(ct_bits));
        ghash.flush();
        // Byte-array operations: a whole-register reverse and XOR, stored as one
        // block for the caller to copy into the packet.
        let mut tag: [u8; AES_BLOCK] = polyval.finalize().into();
        tag.reverse();
        for (t, m) in tag.iter_mut().zip(mask) {
            *t ^= m;
        }
        tag
    }
}

/// `mulX_POLYVAL` (RFC 8452 Appendix A) on a field element read little-endian.
fn mul_x_polyval(v: u128) -> u128 {
    let top = v >> 127;
    (v << 1) ^ top ^ (top << 127) ^ (top << 126) ^ (top << 121)
}

/// Blocks gathered before each POLYVAL update.
const GHASH_CHUNK: usize = 16;

/// Feeds GHASH (as POLYVAL of byte-reversed blocks) whole runs of blocks: the
/// backend aggregates four blocks per reduction, so the pieces (AAD, ciphertext,
/// lengths) are gathered, not fed one block at a time. Blocks are handled as
/// big-endian `u128` values, loaded whole from the packet: a partial block is
/// assembled in a register, never by small stores read back as a block.
struct GhashBlocks<'a> {
    polyval: &'a mut Polyval,
    blocks: [polyval::Block; GHASH_CHUNK],
    full: usize,
    /// The block being filled, its first `partial_len` bytes from the top.
    partial: u128,
    partial_len: usize,
}

impl<'a> GhashBlocks<'a> {
    fn new(polyval: &'a mut Polyval) -> Self {
        GhashBlocks { polyval, blocks: [polyval::Block::default(); GHASH_CHUNK], full: 0, partial: 0, partial_len: 0 }
    }

    fn bytes(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (AES_BLOCK - self.partial_len).min(data.len());
            self.partial |= load_be_padded(&data[..take]) >> (8 * self.partial_len);
            self.partial_len += take;
            data = &data[take..];
            if self.partial_len < AES_BLOCK {
                return;
            }
            self.push(self.partial);
        }
        let mut whole = data.chunks_exact(AES_BLOCK);
        loop {
            // Counted in a local: a field updated per block would chain every
            // block through a store and a load. The reverse is a whole-register
            // byte shuffle, stored as one block.
            let mut full = self.full;
            for (dst, block) in self.blocks[full..].iter_mut().zip(&mut whole) {
                let mut reversed: [u8; AES_BLOCK] = block.try_into().expect("16-byte block");
                reversed.reverse();
                *dst = reversed.into();
                full += 1;
            }
            self.full = full;
            if full < GHASH_CHUNK {
                break;
            }
            self.flush();
        }
        let rest = whole.remainder();
        self.partial = load_be_padded(rest);
        self.partial_len = rest.len();
    }

    /// Zero-pads the block being filled.
    fn pad(&mut self) {
        if self.partial_len > 0 {
            self.push(self.partial);
        }
    }

    /// Appends one block (big-endian value).
    fn push(&mut self, block: u128) {
        self.blocks[self.full] = block.to_le_bytes().into();
        self.partial = 0;
        self.partial_len = 0;
        self.full += 1;
        if self.full == GHASH_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.polyval.update(&self.blocks[..self.full]);
        self.full = 0;
    }
}

/// Up to 15 bytes as the top bytes of a big-endian `u128`, zeros below, read with
/// fixed-size loads.
fn load_be_padded(data: &[u8]) -> u128 {
    debug_assert!(data.len() < AES_BLOCK);
    let (mut value, mut at) = (0u128, 0usize);
    let mut take = |width: usize, word: u128| {
        value |= word << (128 - 8 * (at + width));
        at += width;
    };
    let len = data.len();
    if len >= 8 {
        take(8, u128::from(u64::from_be_bytes(data[..8].try_into().expect("8 bytes"))));
    }
    let at4 = len & 8;
    if len & 4 != 0 {
        take(4, u128::from(u32::from_be_bytes(data[at4..at4 + 4].try_into().expect("4 bytes"))));
    }
    let at2 = len & 12;
    if len & 2 != 0 {
        take(2, u128::from(u16::from_be_bytes(data[at2..at2 + 2].try_into().expect("2 bytes"))));
    }
    if len & 1 != 0 {
        take(1, u128::from(data[len - 1]));
    }
    value
}

/// Prepares the counters of a GCM operation on `len` bytes with the 96-bit `iv`:
/// `J0 = IV || 0^31 || 1` for the tag mask, then `inc32(J0)...` for the data
/// (SP 800-38D §7.1).
pub(crate) fn prepare(counters: &mut Counters, iv: u128, len: usize) {
    counters.prepare((iv << 32) | 1, true, len);
}

/// The SRTP AEAD IV (RFC 7714 §8.1), as a 96-bit value:
/// `(00 00 || SSRC || ROC || SEQ) XOR salt`.
pub(crate) fn srtp_iv(salt: u128, ssrc: u32, index: u64) -> u128 {
    salt ^ (u128::from(ssrc) << 48) ^ u128::from(index & 0xffff_ffff_ffff)
}

/// The SRTCP AEAD IV (RFC 7714 §9.1), as a 96-bit value:
/// `(00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt`.
pub(crate) fn srtcp_iv(salt: u128, ssrc: u32, index: u32) -> u128 {
    salt ^ (u128::from(ssrc) << 48) ^ u128::from(index & 0x7fff_ffff)
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
        let iv = |h: &str| u128::from_be_bytes(hex(&format!("00000000{h}")).try_into().unwrap());
        let salt = iv("517569642070726f2071756f");
        assert_eq!(srtp_iv(salt, 0x5501_a0b2, 0xf17b), iv("51753c6580c2726f20718414"));
        assert_eq!(srtcp_iv(salt, 0x4d61_7273, 0x5d4), iv("517524055203726f207170bb"));
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
            plain in proptest::collection::vec(any::<u8>(), 0..600),
            flip in any::<prop::sample::Index>(),
        ) {
            let key = if key256 { &key[..] } else { &key[..16] };
            let at = split.index(aad.len() + 1);
            let gcm = GcmKey::new(key);
            let mut ours = plain.clone();
            let iv96 = u128::from_be_bytes([[0u8; 4].as_slice(), &iv].concat().try_into().unwrap());
            let mut counters = Counters::new();
            prepare(&mut counters, iv96, ours.len());
            let tag = gcm.seal(&mut counters, (&aad[..at], &aad[at..]), &mut ours);

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
            prepare(&mut counters, iv96, sealed.len());
            prop_assert!(gcm.open(&mut counters, (&aad[..at], &aad[at..]), &mut sealed, &tag));
            prop_assert_eq!(&sealed, &plain);

            let mut bad_tag = tag;
            bad_tag[flip.index(16)] ^= 1;
            let mut sealed = ours.clone();
            prepare(&mut counters, iv96, sealed.len());
            prop_assert!(!gcm.open(&mut counters, (&aad[..at], &aad[at..]), &mut sealed, &bad_tag));
            prop_assert_eq!(&sealed, &ours);
        }
    }
}
