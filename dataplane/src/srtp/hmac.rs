//! HMAC-SHA1 (RFC 2104) with pre-hashed pads, over one or many messages at once.
//!
//! SRTP authenticates `packet || ROC` (RFC 3711 §4.2). The key is fixed per
//! session, so the SHA-1 states after the `key ^ ipad` and `key ^ opad` blocks are
//! computed once ([`HmacSha1Key::new`]); a packet then costs its own blocks plus one
//! outer block. [`hmac_sha1_many`] runs several messages through the interleaved
//! lanes of [`super::sha1_multi`], refilling a lane as soon as its message is done.

use super::sha1_multi::{compress_lanes, MAX_LANES, SHA1_IV};

/// SHA-1 block size in bytes.
const BLOCK: usize = 64;

/// HMAC-SHA1 output length in bytes.
pub(crate) const HMAC_SHA1_LEN: usize = 20;

/// An HMAC-SHA1 key reduced to the SHA-1 states after its inner and outer pads.
#[derive(Clone)]
pub(crate) struct HmacSha1Key {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl HmacSha1Key {
    /// Pre-hashes `key ^ ipad` and `key ^ opad` (RFC 2104 §2). SRTP session
    /// authentication keys are 20 bytes, shorter than a block.
    pub(crate) fn new(key: &[u8]) -> Self {
        assert!(key.len() <= BLOCK, "SRTP authentication keys are at most one block");
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let mut states = [SHA1_IV, SHA1_IV];
        compress_lanes(&mut states, &[&ipad, &opad]);
        HmacSha1Key {
            inner: states[0],
            outer: states[1],
        }
    }
}

/// One message to authenticate: `msg || suffix[..suffix_len]` (the suffix carries
/// SRTP's ROC, RFC 3711 §4.2, without copying the packet).
#[derive(Clone, Copy)]
pub(crate) struct HmacInput<'a> {
    pub key: &'a HmacSha1Key,
    pub msg: &'a [u8],
    pub suffix: [u8; 4],
    pub suffix_len: usize,
}

/// HMAC-SHA1 of one message.
pub(crate) fn hmac_sha1(input: HmacInput<'_>) -> [u8; HMAC_SHA1_LEN] {
    let mut out = [0u8; HMAC_SHA1_LEN];
    hmac_sha1_many(core::iter::once(input), |_, mac| out = *mac);
    out
}

/// HMAC-SHA1 of every input; `done(i, mac)` receives the MAC of the `i`-th input
/// (not necessarily in order).
pub(crate) fn hmac_sha1_many<'a>(
    inputs: impl Iterator<Item = HmacInput<'a>>,
    mut done: impl FnMut(usize, &[u8; HMAC_SHA1_LEN]),
) {
    let mut inputs = inputs.enumerate();
    let mut lanes: [Option<Lane<'a>>; MAX_LANES] = [None, None, None, None];
    loop {
        for slot in lanes.iter_mut().filter(|l| l.is_none()) {
            match inputs.next() {
                Some((job, input)) => *slot = Some(Lane::new(job, input)),
                None => break,
            }
        }

        let mut states = [[0u32; 5]; MAX_LANES];
        let mut blocks: [&[u8; BLOCK]; MAX_LANES] = [&[0; BLOCK]; MAX_LANES];
        let mut active = [0usize; MAX_LANES];
        let mut n = 0;
        for (i, lane) in lanes.iter().enumerate() {
            if let Some(lane) = lane {
                states[n] = lane.state;
                blocks[n] = lane.block();
                active[n] = i;
                n += 1;
            }
        }
        if n == 0 {
            return;
        }
        compress_lanes(&mut states[..n], &blocks[..n]);

        for (state, &i) in states.iter().zip(&active[..n]) {
            let Some(lane) = lanes[i].as_mut() else {
                continue;
            };
            lane.state = *state;
            if let Some(mac) = lane.advance() {
                done(lane.job, &mac);
                lanes[i] = None;
            }
        }
    }
}

/// One message in flight: its full blocks are read in place from the packet; the
/// last partial block, the suffix and the SHA-1 padding are built in `tail`.
struct Lane<'a> {
    job: usize,
    outer: &'a [u32; 5],
    body: &'a [u8],
    /// Blocks compressed so far (body, then tail, then the outer block).
    done: usize,
    body_blocks: usize,
    tail_blocks: usize,
    state: [u32; 5],
    tail: [u8; 2 * BLOCK],
}

impl<'a> Lane<'a> {
    fn new(job: usize, input: HmacInput<'a>) -> Self {
        let body_blocks = input.msg.len() / BLOCK;
        let (body, rest) = input.msg.split_at(body_blocks * BLOCK);
        let suffix = &input.suffix[..input.suffix_len];
        let mut tail = [0u8; 2 * BLOCK];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()..rest.len() + suffix.len()].copy_from_slice(suffix);
        let end = rest.len() + suffix.len();
        tail[end] = 0x80;
        let tail_blocks = if end + 1 + 8 <= BLOCK { 1 } else { 2 };
        // The inner hash covers the ipad block too (FIPS 180-4 §5.1.1 padding).
        let bits = ((BLOCK + input.msg.len() + suffix.len()) as u64) * 8;
        tail[tail_blocks * BLOCK - 8..tail_blocks * BLOCK].copy_from_slice(&bits.to_be_bytes());
        Lane {
            job,
            outer: &input.key.outer,
            body,
            done: 0,
            body_blocks,
            tail_blocks,
            state: input.key.inner,
            tail,
        }
    }

    /// The next block to compress: a body block in place, else a tail block, else
    /// the outer block (built over the first tail block).
    fn block(&self) -> &[u8; BLOCK] {
        if self.done < self.body_blocks {
            block_at(self.body, self.done * BLOCK)
        } else if self.done < self.body_blocks + self.tail_blocks {
            block_at(&self.tail, (self.done - self.body_blocks) * BLOCK)
        } else {
            block_at(&self.tail, 0)
        }
    }

    /// Records one compressed block; returns the MAC once the outer hash is done.
    fn advance(&mut self) -> Option<[u8; HMAC_SHA1_LEN]> {
        self.done += 1;
        let inner_blocks = self.body_blocks + self.tail_blocks;
        if self.done == inner_blocks {
            // Outer hash: H(key ^ opad || inner digest), one padded block.
            let digest = digest_bytes(&self.state);
            self.tail[..BLOCK].fill(0);
            self.tail[..HMAC_SHA1_LEN].copy_from_slice(&digest);
            self.tail[HMAC_SHA1_LEN] = 0x80;
            let bits = ((BLOCK + HMAC_SHA1_LEN) as u64) * 8;
            self.tail[BLOCK - 8..BLOCK].copy_from_slice(&bits.to_be_bytes());
            self.state = *self.outer;
            None
        } else if self.done > inner_blocks {
            Some(digest_bytes(&self.state))
        } else {
            None
        }
    }
}

fn block_at(bytes: &[u8], offset: usize) -> &[u8; BLOCK] {
    bytes[offset..offset + BLOCK]
        .try_into()
        .expect("a block is 64 bytes")
}

fn digest_bytes(state: &[u32; 5]) -> [u8; HMAC_SHA1_LEN] {
    let mut out = [0u8; HMAC_SHA1_LEN];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn mac(key: &[u8], msg: &[u8]) -> [u8; 20] {
        let key = HmacSha1Key::new(key);
        hmac_sha1(HmacInput {
            key: &key,
            msg,
            suffix: [0; 4],
            suffix_len: 0,
        })
    }

    /// RFC 2202 §3 test cases 1 to 3.
    #[test]
    fn rfc2202_vectors() {
        assert_eq!(mac(&[0x0b; 20], b"Hi There")[..], hex("b617318655057264e28bc0b6fb378c8ef146be00")[..]);
        assert_eq!(
            mac(b"Jefe", b"what do ya want for nothing?")[..],
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")[..]
        );
        assert_eq!(mac(&[0xaa; 20], &[0xdd; 50])[..], hex("125d7342b9ac11cd91a39af48aa17b4f63f175d3")[..]);
    }

    /// A straightforward HMAC-SHA1 built on the portable compression, to check
    /// the lane scheduler against.
    fn reference(key: &[u8], msg: &[u8]) -> [u8; 20] {
        use super::super::sha1_multi::compress_portable;
        fn sha1(prefix: &[u8; 64], msg: &[u8]) -> [u8; 20] {
            let mut data = prefix.to_vec();
            data.extend_from_slice(msg);
            let bits = (data.len() as u64) * 8;
            data.push(0x80);
            while data.len() % 64 != 56 {
                data.push(0);
            }
            data.extend_from_slice(&bits.to_be_bytes());
            let mut state = [SHA1_IV];
            for block in data.chunks_exact(64) {
                compress_portable(&mut state, &[block.try_into().unwrap()]);
            }
            digest_bytes(&state[0])
        }
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        sha1(&opad, &sha1(&ipad, msg))
    }

    proptest! {
        /// Many messages of random lengths through the lanes equal the reference.
        #[test]
        fn many_match_reference(
            key in proptest::collection::vec(any::<u8>(), 20..=20),
            msgs in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), 0usize..=4), 1..12),
        ) {
            let hkey = HmacSha1Key::new(&key);
            let mut got = vec![[0u8; 20]; msgs.len()];
            hmac_sha1_many(
                msgs.iter().map(|(m, sl)| HmacInput {
                    key: &hkey,
                    msg: &m[..m.len() - (*sl).min(m.len())],
                    suffix: {
                        let mut s = [0u8; 4];
                        let cut = (*sl).min(m.len());
                        s[..cut].copy_from_slice(&m[m.len() - cut..]);
                        s
                    },
                    suffix_len: (*sl).min(m.len()),
                }),
                |i, mac| got[i] = *mac,
            );
            for ((m, _), got) in msgs.iter().zip(&got) {
                prop_assert_eq!(*got, reference(&key, m));
            }
        }
    }
}
