//! SRTP over a burst of packets: each step of `rtp.rs` runs over every packet
//! before the next, so that the engine gets all the burst's AES-CM payloads in
//! one call and all its HMAC-SHA1 messages in another (ipsec-mb runs them side
//! by side in vector lanes). Packets may belong to different contexts and
//! streams, several to the same stream; results are those of processing them
//! one by one in order. The work is done with the calling thread's engine
//! state (one ipsec-mb manager per worker thread); nothing is allocated.

use core::ops::IndexMut;

use super::context::Context;
use super::engine::{with_crypto, Crypto, CtrOp, MacOp, MAC_LEN, MAX_OPS};
use super::error::SrtpError;
use super::rtp::Pending;
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
    assert!(results.len() >= packets.len(), "one result per packet");
    with_crypto(|c| {
        for (packets, results) in packets.chunks_mut(MAX_OPS).zip(results.chunks_mut(MAX_OPS)) {
            protect(c, packets, streams, results);
        }
    });
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
    assert!(results.len() >= packets.len(), "one result per packet");
    with_crypto(|c| {
        for (packets, results) in packets.chunks_mut(MAX_OPS).zip(results.chunks_mut(MAX_OPS)) {
            unprotect(c, packets, streams, results);
        }
    });
}

type Pendings = [Option<Pending>; MAX_OPS];

fn protect<S>(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    let mut pending: Pendings = [None; MAX_OPS];
    for (i, p) in packets.iter_mut().enumerate() {
        match p.ctx.protect_rtp_begin(&mut streams[p.stream], p.buf, p.len) {
            Ok(q) => pending[i] = Some(q),
            Err(e) => results[i] = Err(e),
        }
    }
    // Encrypt: AES-CM payloads in one engine call, GCM packets one by one.
    {
        let mut ctr: [Option<CtrOp<'_>>; MAX_OPS] = [const { None }; MAX_OPS];
        for ((p, q), op) in packets.iter_mut().zip(&pending).zip(&mut ctr) {
            let Some(q) = q else { continue };
            if p.ctx.suite().is_aead() {
                p.ctx.protect_rtp_seal(c, q, p.buf);
            } else {
                *op = p.ctx.rtp_ctr(q, p.buf);
            }
        }
        c.ctr(&mut ctr);
    }
    // Authenticate the ciphertext.
    let macs = macs(c, packets, &mut pending, false);
    for (i, (p, q)) in packets.iter_mut().zip(&pending).enumerate() {
        let Some(q) = q else { continue };
        results[i] = Ok(p.ctx.protect_rtp_finish(q, p.buf, macs[i].as_ref()));
    }
}

fn unprotect<S>(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    let mut pending: Pendings = [None; MAX_OPS];
    for (i, p) in packets.iter_mut().enumerate() {
        match p.ctx.unprotect_rtp_begin(&streams[p.stream], p.buf, p.len) {
            Ok(q) => pending[i] = Some(q),
            Err(e) => results[i] = Err(e),
        }
    }
    // Verify every tag before any payload is decrypted; the stream moves in
    // packet order as each one authenticates.
    let macs = macs(c, packets, &mut pending, true);
    for (i, (p, q)) in packets.iter_mut().zip(&mut pending).enumerate() {
        let Some(pq) = q else { continue };
        let stream = &mut streams[p.stream];
        results[i] = match &macs[i] {
            Some(mac) => p.ctx.unprotect_rtp_verify(stream, pq, p.buf, mac),
            None => {
                let r = p.ctx.unprotect_rtp_open(c, stream, pq, p.buf);
                // Done: no AES-CM step.
                *q = None;
                r
            }
        };
        if results[i].is_err() {
            *q = None;
        }
    }
    let mut ctr: [Option<CtrOp<'_>>; MAX_OPS] = [const { None }; MAX_OPS];
    for ((p, q), op) in packets.iter_mut().zip(&pending).zip(&mut ctr) {
        if let Some(q) = q {
            *op = p.ctx.rtp_ctr(q, p.buf);
        }
    }
    c.ctr(&mut ctr);
}

/// The MACs of the pending HMAC packets, computed in one engine call.
fn macs(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    pending: &mut Pendings,
    keep: bool,
) -> [Option<[u8; MAC_LEN]>; MAX_OPS] {
    let mut ops: [Option<MacOp<'_>>; MAX_OPS] = [const { None }; MAX_OPS];
    for ((p, q), op) in packets.iter_mut().zip(pending.iter_mut()).zip(&mut ops) {
        if let Some(q) = q {
            *op = p.ctx.rtp_mac(q, p.buf, keep);
        }
    }
    c.mac(&mut ops);
    ops.map(|op| op.map(|op| op.mac))
}
