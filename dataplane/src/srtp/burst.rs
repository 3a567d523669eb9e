//! SRTP over a burst of packets, several packets per step.
//!
//! Packets are taken [`MAX_LANES`] at a time through the steps of `rtp.rs`: all of
//! them are checked and get their counter blocks, then all go through the cipher
//! (by then the counter blocks written a few packets earlier have left the store
//! queue, and the cipher's wide loads of them do not wait), then
//! the HMACs of those that need one are computed side by side in interleaved SHA-1
//! lanes ([`super::hmac::hmac_sha1_lanes`]), then they are finished in order (tag
//! written, or tag checked and the stream updated). Packets may belong to different
//! contexts and streams, several to the same stream; results are those of
//! processing them one by one in order.

use core::ops::IndexMut;

use super::aes_cm::Counters;
use super::context::Context;
use super::error::SrtpError;
use super::hmac::{hmac_sha1_lanes, HmacInput};
use super::rtp::Pending;
use super::sha1_multi::MAX_LANES;
use super::stream::StreamState;

/// One packet of a burst.
#[derive(Debug)]
pub struct BurstPacket<'a> {
    /// The crypto context of the packet's flow.
    pub ctx: &'a Context,
    /// Index of the packet's [`StreamState`] in the `streams` given with the burst
    /// (a slice, a `Vec`, or any `IndexMut<usize>` over the flow table's states).
    pub stream: usize,
    /// The packet buffer; its length is the capacity.
    pub buf: &'a mut [u8],
    /// Length of the packet in `buf`.
    pub len: usize,
}

/// [`Context::protect_rtp`] for every packet; `results[i]` receives packet `i`'s
/// new length or error. Panics if `results` is shorter than `packets`.
pub fn protect_rtp_burst<S>(packets: &mut [BurstPacket<'_>], streams: &mut S, results: &mut [Result<usize, SrtpError>])
where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    run(packets, streams, results, Direction::Protect);
}

/// [`Context::unprotect_rtp`] for every packet; `results[i]` receives packet
/// `i`'s new length or error. Panics if `results` is shorter than `packets`.
pub fn unprotect_rtp_burst<S>(
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    run(packets, streams, results, Direction::Unprotect);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Protect,
    Unprotect,
}

/// Packets taken through the steps together.
struct Group {
    /// Packet index in the burst and its pending state.
    pending: [(usize, Pending); MAX_LANES],
    counters: [Counters; MAX_LANES],
    len: usize,
}

fn run<S>(
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
    direction: Direction,
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    assert!(results.len() >= packets.len(), "one result per packet");
    let mut group = Group {
        pending: [(0, Pending::EMPTY); MAX_LANES],
        counters: core::array::from_fn(|_| Counters::new()),
        len: 0,
    };
    for i in 0..packets.len() {
        let p = &mut packets[i];
        let counters = &mut group.counters[group.len];
        let begun = match direction {
            Direction::Protect => p.ctx.protect_rtp_begin(&mut streams[p.stream], p.buf, p.len, counters),
            Direction::Unprotect => p.ctx.unprotect_rtp_begin(&streams[p.stream], p.buf, p.len, counters),
        };
        match begun {
            Ok(pending) => {
                group.pending[group.len] = (i, pending);
                group.len += 1;
                if group.len == MAX_LANES {
                    finish_group(packets, streams, results, &mut group, direction);
                }
            }
            Err(e) => results[i] = Err(e),
        }
    }
    finish_group(packets, streams, results, &mut group, direction);
}

/// Runs the cipher, MAC and finishing steps over the group, then empties it.
fn finish_group<S>(
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
    group: &mut Group,
    direction: Direction,
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    let queued = &group.pending[..group.len];
    group.len = 0;
    // Cipher step; AEAD packets are done after it.
    let mut macs_needed = [0usize; MAX_LANES];
    let mut n = 0;
    for (k, (i, pending)) in queued.iter().enumerate() {
        let p = &mut packets[*i];
        let counters = &mut group.counters[k];
        let aead = p.ctx.suite().is_aead();
        match (direction, aead) {
            (Direction::Protect, _) => {
                p.ctx.protect_rtp_crypt(pending, p.buf, counters);
                if aead {
                    results[*i] = Ok(pending.new_len());
                }
            }
            (Direction::Unprotect, true) => {
                results[*i] = p.ctx.unprotect_rtp_open(&mut streams[p.stream], pending, p.buf, counters);
            }
            (Direction::Unprotect, false) => {}
        }
        if !aead {
            macs_needed[n] = k;
            n += 1;
        }
    }
    if n == 0 {
        return;
    }

    let inputs: [HmacInput<'_>; MAX_LANES] = core::array::from_fn(|j| {
        let (i, pending) = &queued[macs_needed[j.min(n - 1)]];
        let p = &packets[*i];
        p.ctx.rtp_auth_input(pending, p.buf)
    });
    let macs = hmac_sha1_lanes(&inputs[..n]);

    for (&k, mac) in macs_needed[..n].iter().zip(&macs) {
        let (i, pending) = &queued[k];
        let p = &mut packets[*i];
        results[*i] = match direction {
            Direction::Protect => Ok(p.ctx.protect_rtp_finish(pending, p.buf, mac)),
            Direction::Unprotect => {
                p.ctx.unprotect_rtp_finish(&mut streams[p.stream], pending, p.buf, mac, &mut group.counters[k])
            }
        };
    }
}
