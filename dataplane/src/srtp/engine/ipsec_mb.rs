//! The ipsec-mb engine: a burst's AES-CTR jobs in one cipher burst per key
//! size, its HMAC-SHA1 jobs in one hash burst; the library runs them side by
//! side in vector lanes.

use mediafwd_ipsec_mb::{CipherSlots, HashSlots, Manager};

use super::{AuthKey, CtrKey, CtrOp, MacOp, MAX_OPS};

/// `ipsec-mb 1.3.0 (avx512, sha-ni)`.
pub(super) fn describe(mgr: &Manager) -> String {
    let sha = if mgr.has_sha_ni() { ", sha-ni" } else { "" };
    format!("ipsec-mb {} ({}{sha})", mediafwd_ipsec_mb::version(), mgr.arch())
}

/// Runs the ops with ipsec-mb keys: one cipher burst per AES key size
/// present, on the thread's kept jobs.
pub(super) fn ctr(mgr: &mut Manager, slots: &mut CipherSlots, ops: &mut [Option<CtrOp<'_>>]) {
    for chunk in ops.chunks_mut(MAX_OPS) {
        let mut sizes = [false; 3];
        for op in chunk.iter().flatten() {
            if let CtrKey::IpsecMb(k) = op.key {
                sizes[(k.len() - 16) / 8] = true;
            }
        }
        for (i, _) in sizes.iter().enumerate().filter(|(_, &s)| s) {
            let key_len = 16 + 8 * i;
            let jobs = chunk.iter_mut().flatten().filter_map(|op| match op.key {
                CtrKey::IpsecMb(k) if k.len() == key_len => Some((&**k, &op.iv, &mut *op.data)),
                _ => None,
            });
            mgr.ctr_burst_in(slots, key_len, jobs).expect("AES-CTR jobs built from checked keys run");
        }
    }
}

/// Runs the ops with ipsec-mb keys in hash bursts, on the thread's kept jobs.
pub(super) fn mac(mgr: &mut Manager, slots: &mut HashSlots, ops: &mut [Option<MacOp<'_>>]) {
    for chunk in ops.chunks_mut(MAX_OPS) {
        let msgs = chunk.iter_mut().flatten().filter_map(|op| match op.key {
            AuthKey::IpsecMb(k) => Some((&**k, op.msg, &mut op.mac)),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        mgr.hash_burst_in(slots, msgs).expect("HMAC-SHA1 jobs built from checked keys run");
    }
}
