//! SRTP and SRTCP over a burst of packets: each step of `rtp.rs` (`rtcp.rs`)
//! runs over every packet before the next, so that the engine gets all the
//! burst's AES-CM payloads in one call and all its HMAC-SHA1 messages in
//! another (ipsec-mb runs them side by side in vector lanes). Packets may belong to different contexts and
//! streams, several to the same stream; results are those of processing them
//! one by one in order. The work is done with the calling thread's engine
//! state (one ipsec-mb manager per worker thread); nothing is allocated.

use core::ops::IndexMut;

use super::context::Context;
use super::engine::{with_crypto, Crypto, CtrOp, MacOp, MAC_LEN, MAX_OPS};
use super::error::SrtpError;
use super::rtcp::RtcpPending;
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
    run::<Rtp, S>(packets, streams, results, Dir::Protect);
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
    run::<Rtp, S>(packets, streams, results, Dir::Unprotect);
}

/// [`Context::protect_rtcp`] for every packet; `results[i]` receives packet
/// `i`'s new length or error. Panics if `results` is shorter than `packets`.
pub fn protect_rtcp_burst<S>(packets: &mut [BurstPacket<'_>], streams: &mut S, results: &mut [Result<usize, SrtpError>])
where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    run::<Rtcp, S>(packets, streams, results, Dir::Protect);
}

/// [`Context::unprotect_rtcp`] for every packet; `results[i]` receives packet
/// `i`'s new length or error. Panics if `results` is shorter than `packets`.
pub fn unprotect_rtcp_burst<S>(
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    run::<Rtcp, S>(packets, streams, results, Dir::Unprotect);
}

#[derive(Clone, Copy)]
enum Dir {
    Protect,
    Unprotect,
}

fn run<K: Kind, S>(packets: &mut [BurstPacket<'_>], streams: &mut S, results: &mut [Result<usize, SrtpError>], dir: Dir)
where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    assert!(results.len() >= packets.len(), "one result per packet");
    with_crypto(|c| {
        for (packets, results) in packets.chunks_mut(MAX_OPS).zip(results.chunks_mut(MAX_OPS)) {
            // The per-packet arrays of a step sized to the burst: a small
            // burst does not set up and walk 32 slots.
            match packets.len() {
                0..=4 => step::<K, S, 4>(c, dir, packets, streams, results),
                5..=8 => step::<K, S, 8>(c, dir, packets, streams, results),
                _ => step::<K, S, MAX_OPS>(c, dir, packets, streams, results),
            }
        }
    });
}

/// One direction over at most `N` packets.
#[inline(always)]
fn step<K: Kind, S, const N: usize>(
    c: &mut Crypto,
    dir: Dir,
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    assert!(packets.len() <= N, "at most N packets");
    match dir {
        Dir::Protect => protect::<K, S, N>(c, packets, streams, results),
        Dir::Unprotect => unprotect::<K, S, N>(c, packets, streams, results),
    }
}

/// The steps of one packet kind (SRTP or SRTCP), as `rtp.rs` and `rtcp.rs`
/// define them.
trait Kind {
    type Pending: Copy;
    fn protect_begin(
        ctx: &Context,
        s: &mut StreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Self::Pending, SrtpError>;
    fn unprotect_begin(ctx: &Context, s: &StreamState, buf: &[u8], len: usize) -> Result<Self::Pending, SrtpError>;
    fn ctr<'a>(ctx: &'a Context, p: &Self::Pending, buf: &'a mut [u8]) -> Option<CtrOp<'a>>;
    fn mac<'a>(ctx: &'a Context, p: &mut Self::Pending, buf: &'a mut [u8], keep: bool) -> Option<MacOp<'a>>;
    fn seal(ctx: &Context, c: &mut Crypto, p: &Self::Pending, buf: &mut [u8]);
    fn finish(ctx: &Context, p: &Self::Pending, buf: &mut [u8], mac: Option<&[u8; MAC_LEN]>) -> usize;
    fn verify(
        ctx: &Context,
        s: &mut StreamState,
        p: &Self::Pending,
        buf: &mut [u8],
        mac: &[u8; MAC_LEN],
    ) -> Result<usize, SrtpError>;
    fn open(
        ctx: &Context,
        c: &mut Crypto,
        s: &mut StreamState,
        p: &Self::Pending,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError>;
}

struct Rtp;
struct Rtcp;

impl Kind for Rtp {
    type Pending = Pending;
    fn protect_begin(ctx: &Context, s: &mut StreamState, buf: &mut [u8], len: usize) -> Result<Pending, SrtpError> {
        ctx.protect_rtp_begin(s, buf, len)
    }
    fn unprotect_begin(ctx: &Context, s: &StreamState, buf: &[u8], len: usize) -> Result<Pending, SrtpError> {
        ctx.unprotect_rtp_begin(s, buf, len)
    }
    fn ctr<'a>(ctx: &'a Context, p: &Pending, buf: &'a mut [u8]) -> Option<CtrOp<'a>> {
        ctx.rtp_ctr(p, buf)
    }
    fn mac<'a>(ctx: &'a Context, p: &mut Pending, buf: &'a mut [u8], keep: bool) -> Option<MacOp<'a>> {
        ctx.rtp_mac(p, buf, keep)
    }
    fn seal(ctx: &Context, c: &mut Crypto, p: &Pending, buf: &mut [u8]) {
        ctx.protect_rtp_seal(c, p, buf)
    }
    fn finish(ctx: &Context, p: &Pending, buf: &mut [u8], mac: Option<&[u8; MAC_LEN]>) -> usize {
        ctx.protect_rtp_finish(p, buf, mac)
    }
    fn verify(
        ctx: &Context,
        s: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
        mac: &[u8; MAC_LEN],
    ) -> Result<usize, SrtpError> {
        ctx.unprotect_rtp_verify(s, p, buf, mac)
    }
    fn open(
        ctx: &Context,
        c: &mut Crypto,
        s: &mut StreamState,
        p: &Pending,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        ctx.unprotect_rtp_open(c, s, p, buf)
    }
}

impl Kind for Rtcp {
    type Pending = RtcpPending;
    fn protect_begin(ctx: &Context, s: &mut StreamState, buf: &mut [u8], len: usize) -> Result<RtcpPending, SrtpError> {
        ctx.protect_rtcp_begin(s, buf, len)
    }
    fn unprotect_begin(ctx: &Context, s: &StreamState, buf: &[u8], len: usize) -> Result<RtcpPending, SrtpError> {
        ctx.unprotect_rtcp_begin(s, buf, len)
    }
    fn ctr<'a>(ctx: &'a Context, p: &RtcpPending, buf: &'a mut [u8]) -> Option<CtrOp<'a>> {
        ctx.rtcp_ctr(p, buf)
    }
    fn mac<'a>(ctx: &'a Context, p: &mut RtcpPending, buf: &'a mut [u8], _keep: bool) -> Option<MacOp<'a>> {
        ctx.rtcp_mac(p, buf)
    }
    fn seal(ctx: &Context, c: &mut Crypto, p: &RtcpPending, buf: &mut [u8]) {
        ctx.protect_rtcp_seal(c, p, buf)
    }
    fn finish(ctx: &Context, p: &RtcpPending, buf: &mut [u8], mac: Option<&[u8; MAC_LEN]>) -> usize {
        ctx.protect_rtcp_finish(p, buf, mac)
    }
    fn verify(
        ctx: &Context,
        s: &mut StreamState,
        p: &RtcpPending,
        buf: &mut [u8],
        mac: &[u8; MAC_LEN],
    ) -> Result<usize, SrtpError> {
        ctx.unprotect_rtcp_verify(s, p, buf, mac)
    }
    fn open(
        ctx: &Context,
        c: &mut Crypto,
        s: &mut StreamState,
        p: &RtcpPending,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        ctx.unprotect_rtcp_open(c, s, p, buf)
    }
}

fn protect<K: Kind, S, const N: usize>(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    let n = packets.len();
    // GCM packets are sealed as they begin; the rest (AES-CM or NULL cipher,
    // HMAC or none) go through the two burst steps below, skipped, with
    // their per-burst op arrays, when the burst has none.
    let mut pending: [Option<K::Pending>; N] = [None; N];
    let mut unsealed = false;
    for (i, p) in packets.iter_mut().enumerate() {
        match K::protect_begin(p.ctx, &mut streams[p.stream], p.buf, p.len) {
            Ok(q) => {
                if p.ctx.suite().is_aead() {
                    K::seal(p.ctx, c, &q, p.buf);
                } else {
                    unsealed = true;
                }
                pending[i] = Some(q);
            }
            Err(e) => results[i] = Err(e),
        }
    }
    if !unsealed {
        for (i, (p, q)) in packets.iter_mut().zip(&pending).enumerate() {
            let Some(q) = q else { continue };
            results[i] = Ok(K::finish(p.ctx, q, p.buf, None));
        }
        return;
    }
    // Encrypt: AES-CM payloads in one engine call.
    {
        let mut ctr: [Option<CtrOp<'_>>; N] = [const { None }; N];
        for ((p, q), op) in packets.iter_mut().zip(&pending).zip(&mut ctr) {
            let Some(q) = q else { continue };
            if !p.ctx.suite().is_aead() {
                *op = K::ctr(p.ctx, q, p.buf);
            }
        }
        c.ctr(&mut ctr[..n]);
    }
    // Authenticate the ciphertext.
    let macs = macs::<K, N>(c, packets, &mut pending, false);
    for (i, (p, q)) in packets.iter_mut().zip(&pending).enumerate() {
        let Some(q) = q else { continue };
        results[i] = Ok(K::finish(p.ctx, q, p.buf, macs[i].as_ref()));
    }
}

fn unprotect<K: Kind, S, const N: usize>(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    streams: &mut S,
    results: &mut [Result<usize, SrtpError>],
) where
    S: IndexMut<usize, Output = StreamState> + ?Sized,
{
    let n = packets.len();
    let mut pending: [Option<K::Pending>; N] = [None; N];
    for (i, p) in packets.iter_mut().enumerate() {
        match K::unprotect_begin(p.ctx, &streams[p.stream], p.buf, p.len) {
            Ok(q) => pending[i] = Some(q),
            Err(e) => results[i] = Err(e),
        }
    }
    // Verify every tag before any payload is decrypted; the stream moves in
    // packet order as each one authenticates. A burst of GCM packets alone
    // skips the HMAC and AES-CM steps.
    let hmac = packets.iter().zip(&pending).any(|(p, q)| q.is_some() && !p.ctx.suite().is_aead());
    let macs = if hmac { macs::<K, N>(c, packets, &mut pending, true) } else { [None; N] };
    for (i, (p, q)) in packets.iter_mut().zip(&mut pending).enumerate() {
        let Some(pq) = q else { continue };
        let stream = &mut streams[p.stream];
        results[i] = match &macs[i] {
            Some(mac) => K::verify(p.ctx, stream, pq, p.buf, mac),
            None => {
                let r = K::open(p.ctx, c, stream, pq, p.buf);
                // Done: no AES-CM step.
                *q = None;
                r
            }
        };
        if results[i].is_err() {
            *q = None;
        }
    }
    if !hmac {
        return;
    }
    let mut ctr: [Option<CtrOp<'_>>; N] = [const { None }; N];
    for ((p, q), op) in packets.iter_mut().zip(&pending).zip(&mut ctr) {
        if let Some(q) = q {
            *op = K::ctr(p.ctx, q, p.buf);
        }
    }
    c.ctr(&mut ctr[..n]);
}

/// The MACs of the pending HMAC packets, computed in one engine call.
fn macs<K: Kind, const N: usize>(
    c: &mut Crypto,
    packets: &mut [BurstPacket<'_>],
    pending: &mut [Option<K::Pending>; N],
    keep: bool,
) -> [Option<[u8; MAC_LEN]>; N] {
    let n = packets.len();
    let mut ops: [Option<MacOp<'_>>; N] = [const { None }; N];
    for ((p, q), op) in packets.iter_mut().zip(pending.iter_mut()).zip(&mut ops) {
        if let Some(q) = q {
            *op = K::mac(p.ctx, q, p.buf, keep);
        }
    }
    c.mac(&mut ops[..n]);
    ops.map(|op| op.map(|op| op.mac))
}
