//! SRTP over a burst of packets, the HMACs computed together.
//!
//! One packet's HMAC-SHA1 waits on SHA-1's latency; the packets of a burst are
//! independent, so their HMACs go through interleaved SHA-1 lanes
//! ([`super::hmac::hmac_sha1_many`]). Each packet is processed in three passes:
//! the per-packet pass in order (stream checks, index, keystream), the MACs of the
//! whole burst, then the finishing pass in order (tag write, or tag check and
//! stream update). Packets may belong to different contexts and streams, several
//! to the same stream; results are those of processing them one by one in order.

use core::ops::IndexMut;

use super::context::Context;
use super::error::SrtpError;
use super::hmac::{hmac_sha1_many, HMAC_SHA1_LEN};
use super::rtp::{PendingAuth, Step};
use super::stream::StreamState;

/// Packets handled per pass; longer bursts are cut into pieces of this size.
const CHUNK: usize = 32;

/// One packet of a burst.
#[derive(Debug)]
pub struct BurstPacket<'a> {
    /// The crypto context of the packet's flow.
    pub ctx: &'a Context,
    /// Index of the packet's [`StreamState`] in the `streams` given with the burst.
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
pub fn unprotect_rtp_burst<S>(packets: &mut [BurstPacket<'_>], streams: &mut S, results: &mut [Result<usize, SrtpError>])
where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    run(packets, streams, results, Direction::Unprotect);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Protect,
    Unprotect,
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
    for (packets, results) in packets.chunks_mut(CHUNK).zip(results.chunks_mut(CHUNK)) {
        // Pass 1, in order: everything up to the MAC.
        let mut pending: [Option<PendingAuth>; CHUNK] = [None; CHUNK];
        let mut jobs = [0usize; CHUNK];
        let mut njobs = 0;
        for (i, p) in packets.iter_mut().enumerate() {
            let stream = &mut streams[p.stream];
            let step = match direction {
                Direction::Protect => p.ctx.protect_rtp_begin(stream, p.buf, p.len),
                Direction::Unprotect => p.ctx.unprotect_rtp_begin(stream, p.buf, p.len),
            };
            results[i] = match step {
                Ok(Step::Done(len)) => Ok(len),
                Ok(Step::Auth(auth)) => {
                    pending[i] = Some(auth);
                    jobs[njobs] = i;
                    njobs += 1;
                    continue;
                }
                Err(e) => Err(e),
            };
        }
        if njobs == 0 {
            continue;
        }

        // Pass 2: the MACs of the whole chunk, interleaved.
        let mut macs = [[0u8; HMAC_SHA1_LEN]; CHUNK];
        let inputs = jobs[..njobs].iter().filter_map(|&i| {
            let p = &packets[i];
            pending[i].as_ref().map(|auth| p.ctx.rtp_auth_input(auth, p.buf))
        });
        hmac_sha1_many(inputs, |job, mac| macs[job] = *mac);

        // Pass 3, in order: tags written, or checked and the streams updated.
        for (&i, mac) in jobs[..njobs].iter().zip(&macs) {
            let (Some(auth), p) = (pending[i].as_ref(), &mut packets[i]) else {
                continue;
            };
            results[i] = match direction {
                Direction::Protect => Ok(p.ctx.protect_rtp_finish(auth, p.buf, mac)),
                Direction::Unprotect => p.ctx.unprotect_rtp_finish(&mut streams[p.stream], auth, p.buf, mac),
            };
        }
    }
}
