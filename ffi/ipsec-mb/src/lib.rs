//! mediafwd's binding to the system's Intel ipsec-mb 1.3, the multi-buffer
//! crypto library behind DPDK's `aesni_mb` and `aesni_gcm` drivers.
//!
//! [`sys`] is the raw bindgen output for the manager, its job structure and the
//! enums a job is described with. The rest is a thin safe layer:
//!
//! - [`Manager`]: one per thread that submits jobs, allocated and initialised for
//!   the best code path the CPU has (SSE, AVX, AVX2 or AVX-512, with SHA-NI, VAES
//!   and VPCLMULQDQ where present);
//! - key material prepared once per session key: [`AesKey`] (AES key expansion),
//!   [`HmacSha1Key`] (HMAC-SHA1 ipad/opad states), [`GcmKey`] (GCM key and hash
//!   key powers);
//! - [`Job`]: one buffer's AES-CTR, HMAC-SHA1 or AES-GCM operation, borrowing the
//!   keys and buffers it reads and writes for as long as it exists;
//! - submission: [`Manager::cipher_burst`] and [`Manager::hash_burst`] run a
//!   whole array of jobs of one algorithm side by side in vector lanes and return
//!   when all are done; [`Manager::submit_burst`] queues mixed jobs and flushes
//!   them; [`Manager::gcm_seal`] and [`Manager::gcm_open`] are the direct AES-GCM
//!   calls.
//!
//! Every `unsafe` block has a `// SAFETY:` note.

pub mod sys {
    #![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/ipsec_mb.rs"));
}

use core::ffi::CStr;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

/// Bytes of an HMAC-SHA1 tag the library can emit short of the full 20: SRTP
/// asks for these and keeps the first 10 or 4.
pub const HMAC_SHA1_TAG_LEN: usize = 12;
/// Bytes of an AES-GCM tag.
pub const GCM_TAG_LEN: usize = 16;
/// Bytes of a GCM IV (RFC 7714 uses 96 bits).
pub const GCM_IV_LEN: usize = 12;
/// Bytes of an AES block, and of a full AES-CTR counter block.
pub const AES_BLOCK: usize = 16;
/// `IMB_FLAG_SHANI_OFF` of `intel-ipsec-mb.h` (a macro bindgen does not
/// carry over): the manager neither detects nor uses the SHA extensions.
const IMB_FLAG_SHANI_OFF: u64 = 1 << 0;
/// Jobs a manager takes in one burst.
pub const MAX_BURST: usize = sys::IMB_MAX_BURST_SIZE as usize;

/// Why the library refused a manager or a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `alloc_mb_mgr` returned no memory.
    #[error("ipsec-mb could not allocate a manager (out of memory)")]
    Alloc,
    /// The CPU has no AES-NI: the library would run its software emulation.
    #[error("the CPU has no AES-NI; use the portable engine")]
    NoAesNi,
    /// The library reported an error, with its description.
    #[error("ipsec-mb error {code}: {message}")]
    Library {
        /// `imb_get_errno` value.
        code: i32,
        /// `imb_get_strerror` text.
        message: String,
    },
}

/// The code path a manager was initialised with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// No AES-NI: software AES.
    NoAesNi,
    /// SSE4.2 with AES-NI.
    Sse,
    /// AVX.
    Avx,
    /// AVX2.
    Avx2,
    /// AVX-512 (with VAES and VPCLMULQDQ when the CPU has them).
    Avx512,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::NoAesNi => "no-aesni",
            Arch::Sse => "sse",
            Arch::Avx => "avx",
            Arch::Avx2 => "avx2",
            Arch::Avx512 => "avx512",
        })
    }
}

/// The library's version string, such as `1.3.0`.
pub fn version() -> &'static str {
    // SAFETY: imb_get_version_str returns a pointer to a static NUL-terminated
    // string that lives as long as the library.
    let s = unsafe { CStr::from_ptr(sys::imb_get_version_str()) };
    s.to_str().unwrap_or("?")
}

/// A multi-buffer manager: the library's scheduler state and the function
/// table of the code path chosen for this CPU. Use one per thread.
pub struct Manager {
    mgr: NonNull<sys::IMB_MGR>,
    arch: Arch,
}

// SAFETY: the manager is heap memory owned by this value with no tie to the
// thread that made it; `&mut self` on every submitting method keeps it used by
// one thread at a time.
unsafe impl Send for Manager {}

impl Manager {
    /// Allocates a manager and initialises it for the best code path the CPU
    /// supports. Refuses a CPU without AES-NI ([`Error::NoAesNi`]).
    pub fn new() -> Result<Manager, Error> {
        Self::init(None)
    }

    /// Allocates a manager for the code path `arch` (SSE, AVX2 or AVX-512),
    /// which the CPU must support. SSE is the path whose HMAC-SHA1 runs on the
    /// SHA extensions where the CPU has them (measured slower than AVX-512's
    /// 16 lanes for 32-packet bursts; see docs/performance.md).
    pub fn with_arch(arch: Arch) -> Result<Manager, Error> {
        Self::init(Some(arch))
    }

    /// Allocates a manager for the code path `arch` (`None`: the best the
    /// CPU has) that never uses the SHA extensions
    /// (`IMB_FLAG_SHANI_OFF`): its HMAC-SHA1 runs on the path's
    /// multi-buffer SHA-1 (16 lanes on AVX-512, 8 on AVX2, 4 on SSE).
    pub fn without_sha_ni(arch: Option<Arch>) -> Result<Manager, Error> {
        Self::init_with(arch, IMB_FLAG_SHANI_OFF)
    }

    fn init(want: Option<Arch>) -> Result<Manager, Error> {
        Self::init_with(want, 0)
    }

    fn init_with(want: Option<Arch>, flags: u64) -> Result<Manager, Error> {
        if let Some(a @ (Arch::NoAesNi | Arch::Avx)) = want {
            return Err(Error::Library { code: -1, message: format!("mediafwd makes no {a} manager") });
        }
        // SAFETY: `flags` holds only IMB_FLAG_* bits the header defines; the
        // result is checked for NULL before use.
        let raw = unsafe { sys::alloc_mb_mgr(flags) };
        let mgr = NonNull::new(raw).ok_or(Error::Alloc)?;
        let mut arch = sys::IMB_ARCH::IMB_ARCH_NONE;
        // SAFETY: `mgr` was just allocated by alloc_mb_mgr and is not shared;
        // `arch` is a valid out-pointer. The library checks the CPU's features
        // for the path asked for and reports a mismatch through imb_get_errno.
        unsafe {
            match want {
                None => sys::init_mb_mgr_auto(mgr.as_ptr(), &mut arch),
                Some(Arch::Sse) => {
                    sys::init_mb_mgr_sse(mgr.as_ptr());
                    arch = sys::IMB_ARCH::IMB_ARCH_SSE;
                }
                Some(Arch::Avx2) => {
                    sys::init_mb_mgr_avx2(mgr.as_ptr());
                    arch = sys::IMB_ARCH::IMB_ARCH_AVX2;
                }
                Some(Arch::Avx512) => {
                    sys::init_mb_mgr_avx512(mgr.as_ptr());
                    arch = sys::IMB_ARCH::IMB_ARCH_AVX512;
                }
                Some(_) => unreachable!("refused above"),
            }
        }
        let manager = Manager {
            mgr,
            arch: match arch {
                sys::IMB_ARCH::IMB_ARCH_SSE => Arch::Sse,
                sys::IMB_ARCH::IMB_ARCH_AVX => Arch::Avx,
                sys::IMB_ARCH::IMB_ARCH_AVX2 => Arch::Avx2,
                sys::IMB_ARCH::IMB_ARCH_AVX512 => Arch::Avx512,
                _ => Arch::NoAesNi,
            },
        };
        manager.check()?;
        if manager.arch == Arch::NoAesNi || manager.features() & u64::from(sys::IMB_FEATURE_AESNI) == 0 {
            return Err(Error::NoAesNi);
        }
        Ok(manager)
    }

    /// The code path the manager runs.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The `IMB_FEATURE_*` bits the manager found on the CPU.
    pub fn features(&self) -> u64 {
        self.raw().features
    }

    /// Whether the HMAC-SHA1 code uses the CPU's SHA extensions.
    pub fn has_sha_ni(&self) -> bool {
        self.features() & u64::from(sys::IMB_FEATURE_SHANI) != 0
    }

    fn raw(&self) -> &sys::IMB_MGR {
        // SAFETY: `mgr` points to the initialised manager this value owns.
        unsafe { self.mgr.as_ref() }
    }

    /// The library's last error on this manager, if any.
    fn check(&self) -> Result<(), Error> {
        // SAFETY: `mgr` is a valid, initialised manager.
        let code = unsafe { sys::imb_get_errno(self.mgr.as_ptr()) };
        if code == 0 {
            return Ok(());
        }
        // SAFETY: imb_get_strerror returns a static NUL-terminated string for
        // any code.
        let message = unsafe { CStr::from_ptr(sys::imb_get_strerror(code)) }.to_string_lossy().into_owned();
        Err(Error::Library { code, message })
    }

    /// Expands an AES key of 16, 24 or 32 bytes.
    ///
    /// # Panics
    /// On any other key length.
    pub fn aes_key(&self, key: &[u8]) -> AesKey {
        let m = self.raw();
        let f = match key.len() {
            16 => m.keyexp_128,
            24 => m.keyexp_192,
            32 => m.keyexp_256,
            n => panic!("AES key of {n} bytes"),
        }
        .expect("an initialised manager has key expansion");
        let mut k = AesKey { enc: [0; AES_SCHEDULE], dec: [0; AES_SCHEDULE], len: key.len() as u64 };
        // SAFETY: `key` holds the key length the function expects; `enc` and
        // `dec` are 16-byte aligned and hold the largest (AES-256) schedule.
        unsafe { f(key.as_ptr().cast(), k.enc.as_mut_ptr().cast(), k.dec.as_mut_ptr().cast()) };
        k
    }

    /// The HMAC-SHA1 states after the `key ^ ipad` and `key ^ opad` blocks
    /// (RFC 2104), which HMAC jobs start from.
    ///
    /// # Panics
    /// With a key longer than SHA-1's 64-byte block (SRTP's are 20 bytes).
    pub fn hmac_sha1_key(&self, key: &[u8]) -> HmacSha1Key {
        assert!(key.len() <= SHA1_BLOCK, "HMAC-SHA1 key longer than a block");
        let one_block = self.raw().sha1_one_block.expect("an initialised manager has SHA-1");
        let mut k = HmacSha1Key { ipad: [0; PAD_STATE], opad: [0; PAD_STATE] };
        for (pad, byte) in [(&mut k.ipad, 0x36u8), (&mut k.opad, 0x5c)] {
            let mut block = [byte; SHA1_BLOCK];
            for (b, k) in block.iter_mut().zip(key) {
                *b ^= k;
            }
            // SAFETY: `block` is one 64-byte SHA-1 block; `pad` holds the 20
            // bytes of state written.
            unsafe { one_block(block.as_ptr().cast(), pad.as_mut_ptr().cast()) };
            block.fill(0);
        }
        k
    }

    /// Expands an AES-GCM key of 16, 24 or 32 bytes and precomputes its hash
    /// key powers for this manager's code path.
    ///
    /// The precomputed table depends on the code path: use the key only with
    /// managers on the same [`Arch`] (every manager of a process is).
    ///
    /// # Panics
    /// On any other key length.
    pub fn gcm_key(&self, key: &[u8]) -> Box<GcmKey> {
        let m = self.raw();
        let f = match key.len() {
            16 => m.gcm128_pre,
            24 => m.gcm192_pre,
            32 => m.gcm256_pre,
            n => panic!("AES-GCM key of {n} bytes"),
        }
        .expect("an initialised manager has GCM");
        let mut k = Box::new(GcmKey { data: sys::gcm_key_data::default(), len: key.len() as u8, arch: self.arch });
        // SAFETY: `key` has the length the function expects; `k.data` is a
        // writable gcm_key_data, 64-byte aligned by GcmKey's layout.
        unsafe { f(key.as_ptr().cast(), &mut k.data) };
        k
    }

    /// Runs `jobs`, all built by [`Job::aes_ctr`] with keys of `key_len`
    /// bytes, side by side; returns when every one is done.
    pub fn cipher_burst(&mut self, jobs: &mut [Job<'_>], key_len: usize) -> Result<(), Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let size = aes_key_size(key_len);
        let f = self.raw().submit_cipher_burst.expect("an initialised manager has cipher bursts");
        // SAFETY: `Job` is a transparent IMB_JOB, so `jobs` is a contiguous
        // array of them; each job's pointers borrow keys and buffers that
        // outlive this call (the `'_` of `Job`); the checking variant refuses
        // a job whose fields do not match the cipher.
        let done = unsafe {
            f(
                self.mgr.as_ptr(),
                jobs.as_mut_ptr().cast(),
                jobs.len() as u32,
                sys::IMB_CIPHER_CNTR,
                sys::IMB_DIR_ENCRYPT,
                size,
            )
        };
        self.finished(jobs, done)
    }

    /// Runs `jobs`, all built by [`Job::hmac_sha1`], side by side; returns
    /// when every tag is written.
    pub fn hash_burst(&mut self, jobs: &mut [Job<'_>]) -> Result<(), Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let f = self.raw().submit_hash_burst.expect("an initialised manager has hash bursts");
        // SAFETY: as in `cipher_burst`: a contiguous array of jobs whose
        // borrows outlive the call, checked by the library.
        let done =
            unsafe { f(self.mgr.as_ptr(), jobs.as_mut_ptr().cast(), jobs.len() as u32, sys::IMB_AUTH_HMAC_SHA_1) };
        self.finished(jobs, done)
    }

    /// [`Manager::hash_burst`] on `slots`, jobs kept from one burst to the
    /// next: only each message's address, length, tag and pads are written,
    /// the rest of every job stays as [`Slots::new`] set it. Returns
    /// when every tag is written.
    ///
    /// Every field of these jobs is set by this crate from checked keys and
    /// borrowed slices, so they go to the library's unvalidating entry point
    /// (`IMB_SUBMIT_HASH_BURST_NOCHECK`).
    ///
    /// # Panics
    /// With more messages than `slots` holds, or an empty message.
    pub fn hash_burst_in<'a>(
        &mut self,
        slots: &mut HashSlots,
        msgs: impl IntoIterator<Item = (&'a HmacSha1Key, &'a [u8], &'a mut [u8; HMAC_SHA1_TAG_LEN])>,
    ) -> Result<(), Error> {
        let mut n = 0;
        for (key, msg, tag) in msgs {
            assert!(!msg.is_empty(), "HMAC-SHA1 of an empty message");
            let raw = &mut slots.jobs[n];
            raw.__bindgen_anon_1.src = msg.as_ptr();
            raw.__bindgen_anon_5.msg_len_to_hash_in_bytes = msg.len() as u64;
            raw.auth_tag_output = tag.as_mut_ptr();
            raw.u.HMAC._hashed_auth_key_xor_ipad = key.ipad.as_ptr();
            raw.u.HMAC._hashed_auth_key_xor_opad = key.opad.as_ptr();
            raw.status = sys::IMB_STATUS_BEING_PROCESSED;
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        let f = self.raw().submit_hash_burst_nocheck.expect("an initialised manager has hash bursts");
        // SAFETY: the first `n` slots were just given pointers into keys,
        // messages and tags borrowed for this call, and lengths that match
        // them (no message is empty); every other field is the HMAC template's
        // valid HMAC-SHA1 setting, so the library's validation has nothing to
        // refuse. It reads and writes through them only during the call. The
        // pointers left in the slots afterwards are never read again before
        // being overwritten.
        let done = unsafe { f(self.mgr.as_ptr(), slots.jobs.as_mut_ptr(), n as u32, sys::IMB_AUTH_HMAC_SHA_1) };
        Self::slots_done(&slots.jobs[..n], done).or_else(|e| self.check().and(Err(e)))
    }

    /// AES-CTR of every `(key, iv, data)` in place, side by side, on jobs
    /// kept from one burst to the next ([`CipherSlots`]): each job gets its
    /// keys, counter block and buffer, the rest stays as
    /// [`Slots::new`] set it. Every key must have `key_len` bytes;
    /// empty buffers are skipped (they need no keystream). Returns when every
    /// buffer is done.
    ///
    /// As with [`Manager::hash_burst_in`], the jobs go to the unvalidating
    /// entry point (`IMB_SUBMIT_CIPHER_BURST_NOCHECK`).
    ///
    /// # Panics
    /// With more buffers than `slots` holds, a key of another length, or a
    /// `key_len` other than 16, 24 or 32.
    pub fn ctr_burst_in<'a>(
        &mut self,
        slots: &mut CipherSlots,
        key_len: usize,
        ops: impl IntoIterator<Item = (&'a AesKey, &'a [u8; AES_BLOCK], &'a mut [u8])>,
    ) -> Result<(), Error> {
        let size = aes_key_size(key_len);
        let mut n = 0;
        for (key, iv, data) in ops {
            assert_eq!(key.len(), key_len, "AES keys of one burst have one length");
            if data.is_empty() {
                continue;
            }
            let raw = &mut slots.jobs[n];
            raw.enc_keys = key.enc.as_ptr().cast();
            raw.dec_keys = key.enc.as_ptr().cast();
            raw.key_len_in_bytes = key.len;
            raw.iv = iv.as_ptr();
            raw.__bindgen_anon_1.src = data.as_ptr();
            raw.__bindgen_anon_2.dst = data.as_mut_ptr();
            raw.__bindgen_anon_4.msg_len_to_cipher_in_bytes = data.len() as u64;
            raw.status = sys::IMB_STATUS_BEING_PROCESSED;
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        let f = self.raw().submit_cipher_burst_nocheck.expect("an initialised manager has cipher bursts");
        // SAFETY: the first `n` slots were just given pointers to expanded
        // keys of `key_len` bytes (checked above), 16-byte counter blocks and
        // non-empty buffers borrowed for this call, with their lengths; every
        // other field is the AES-CTR template's valid AES-CTR setting, so the
        // library's validation has nothing to refuse. Pointers left in the
        // slots afterwards are never read before being overwritten.
        let done = unsafe {
            f(self.mgr.as_ptr(), slots.jobs.as_mut_ptr(), n as u32, sys::IMB_CIPHER_CNTR, sys::IMB_DIR_ENCRYPT, size)
        };
        Self::slots_done(&slots.jobs[..n], done).or_else(|e| self.check().and(Err(e)))
    }

    fn slots_done(jobs: &[sys::IMB_JOB], done: u32) -> Result<(), Error> {
        if done as usize != jobs.len() || jobs.iter().any(|j| j.status != sys::IMB_STATUS_COMPLETED) {
            return Err(Error::Library { code: -1, message: "job not completed".into() });
        }
        Ok(())
    }

    /// Queues `jobs` (any mix the library supports) in the manager's
    /// scheduler, flushes it, and copies each job's status back; returns when
    /// every job is done.
    pub fn submit_burst(&mut self, jobs: &mut [Job<'_>]) -> Result<(), Error> {
        let m = self.raw();
        let (next, submit, flush) = (
            m.get_next_burst.expect("burst API"),
            m.submit_burst.expect("burst API"),
            m.flush_burst.expect("burst API"),
        );
        for chunk in jobs.chunks_mut(MAX_BURST) {
            let n = chunk.len() as u32;
            let mut slots: [*mut sys::IMB_JOB; MAX_BURST] = [core::ptr::null_mut(); MAX_BURST];
            // SAFETY: the manager is valid; `slots` has room for `n` pointers.
            // A manager whose queue is busy frees it with a flush first.
            let mut got = unsafe { next(self.mgr.as_ptr(), n, slots.as_mut_ptr()) };
            if got < n {
                // SAFETY: as above; flushed jobs are ours from an earlier call
                // of this function and already accounted for.
                unsafe { flush(self.mgr.as_ptr(), MAX_BURST as u32, slots.as_mut_ptr()) };
                // SAFETY: as above.
                got = unsafe { next(self.mgr.as_ptr(), n, slots.as_mut_ptr()) };
                assert_eq!(got, n, "an empty manager has room for a burst");
            }
            for (i, job) in chunk.iter().enumerate() {
                // SAFETY: `slots[i]` is a job slot of the manager handed out by
                // get_next_burst; the copy's pointers borrow what `job` does,
                // which outlives this call. `user_data` carries the index.
                unsafe {
                    slots[i].write(job.raw);
                    (*slots[i]).user_data = i as *mut core::ffi::c_void;
                }
            }
            let mut completed: [*mut sys::IMB_JOB; MAX_BURST] = slots;
            // SAFETY: the `n` slots were filled above; `completed` has room for
            // the pointers the library returns.
            let mut done = unsafe { submit(self.mgr.as_ptr(), n, completed.as_mut_ptr()) } as usize;
            if done == 0 {
                self.check()?;
            }
            let mut seen = 0;
            loop {
                for &c in &completed[..done] {
                    // SAFETY: completed jobs are manager slots filled above,
                    // with the index in `user_data`.
                    let (i, status) = unsafe { ((*c).user_data as usize, (*c).status) };
                    chunk[i].raw.status = status;
                }
                seen += done;
                if seen == chunk.len() {
                    break;
                }
                // SAFETY: flushes the jobs still queued into `completed`.
                done = unsafe { flush(self.mgr.as_ptr(), n, completed.as_mut_ptr()) } as usize;
                assert!(done > 0, "a flush completes queued jobs");
            }
            self.finished(chunk, chunk.len() as u32)?;
        }
        Ok(())
    }

    fn finished(&self, jobs: &[Job<'_>], done: u32) -> Result<(), Error> {
        if done as usize != jobs.len() || jobs.iter().any(|j| j.raw.status != sys::IMB_STATUS_COMPLETED) {
            self.check()?;
            return Err(Error::Library { code: -1, message: "job not completed".into() });
        }
        Ok(())
    }

    /// AES-GCM encryption of `data` in place with `iv` and `aad`; writes the
    /// 16-byte tag.
    pub fn gcm_seal(&mut self, key: &GcmKey, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8]) -> [u8; GCM_TAG_LEN] {
        self.gcm(key, true, iv, aad, data)
    }

    /// AES-GCM decryption of `data` in place; returns the tag computed over
    /// the ciphertext, for the caller to compare in constant time. The caller
    /// restores the ciphertext with [`Manager::gcm_seal`] if the tags differ.
    pub fn gcm_open(&mut self, key: &GcmKey, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8]) -> [u8; GCM_TAG_LEN] {
        self.gcm(key, false, iv, aad, data)
    }

    fn gcm(
        &mut self,
        key: &GcmKey,
        seal: bool,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        data: &mut [u8],
    ) -> [u8; GCM_TAG_LEN] {
        assert_eq!(key.arch, self.arch, "a GCM key prepared for another code path");
        let m = self.raw();
        let f = match (key.len, seal) {
            (16, true) => m.gcm128_enc,
            (24, true) => m.gcm192_enc,
            (32, true) => m.gcm256_enc,
            (16, false) => m.gcm128_dec,
            (24, false) => m.gcm192_dec,
            (_, false) => m.gcm256_dec,
            (_, true) => unreachable!("GcmKey lengths are 16, 24 or 32"),
        }
        .expect("an initialised manager has GCM");
        let mut ctx = MaybeUninit::<sys::gcm_context_data>::uninit();
        let mut tag = [0u8; GCM_TAG_LEN];
        let p = data.as_mut_ptr();
        // SAFETY: the key was prepared for this code path (checked above);
        // `ctx` is scratch the call initialises before reading; in-place
        // operation (dst == src) is supported; every length matches its buffer.
        unsafe {
            f(
                &key.data,
                ctx.as_mut_ptr(),
                p,
                p,
                data.len() as u64,
                iv.as_ptr(),
                aad.as_ptr(),
                aad.len() as u64,
                tag.as_mut_ptr(),
                GCM_TAG_LEN as u64,
            )
        };
        tag
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // SAFETY: `mgr` came from alloc_mb_mgr and is freed once, here.
        unsafe { sys::free_mb_mgr(self.mgr.as_ptr()) };
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("arch", &self.arch).field("sha_ni", &self.has_sha_ni()).finish()
    }
}

const AES_SCHEDULE: usize = 15 * AES_BLOCK;
const SHA1_BLOCK: usize = 64;
const PAD_STATE: usize = 32;

/// An expanded AES key (encryption and decryption round keys).
#[derive(Clone)]
#[repr(C, align(16))]
pub struct AesKey {
    enc: [u8; AES_SCHEDULE],
    dec: [u8; AES_SCHEDULE],
    len: u64,
}

impl AesKey {
    /// Key length in bytes: 16, 24 or 32.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a key has 16 to 32 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for AesKey {
    fn drop(&mut self) {
        self.enc.fill(0);
        self.dec.fill(0);
    }
}

/// The pre-hashed HMAC-SHA1 pads of one key.
#[derive(Clone)]
#[repr(C, align(16))]
pub struct HmacSha1Key {
    ipad: [u8; PAD_STATE],
    opad: [u8; PAD_STATE],
}

impl Drop for HmacSha1Key {
    fn drop(&mut self) {
        self.ipad.fill(0);
        self.opad.fill(0);
    }
}

/// An AES-GCM key with its precomputed hash key powers.
#[derive(Clone)]
#[repr(C, align(64))]
pub struct GcmKey {
    data: sys::gcm_key_data,
    len: u8,
    arch: Arch,
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        // SAFETY: gcm_key_data is plain bytes; zeroing it leaves a valid value.
        unsafe { core::ptr::write_bytes(&mut self.data, 0, 1) };
    }
}

/// One buffer's operation, borrowing its keys and buffers for `'a`.
#[repr(transparent)]
pub struct Job<'a> {
    raw: sys::IMB_JOB,
    _borrows: PhantomData<&'a mut [u8]>,
}

impl<'a> Job<'a> {
    /// AES-CTR over `data` in place, from the 16-byte initial counter block
    /// `iv` (the library increments it per block).
    pub fn aes_ctr(key: &'a AesKey, iv: &'a [u8; AES_BLOCK], data: &'a mut [u8]) -> Job<'a> {
        let mut raw = sys::IMB_JOB {
            enc_keys: key.enc.as_ptr().cast(),
            dec_keys: key.enc.as_ptr().cast(),
            key_len_in_bytes: key.len,
            iv: iv.as_ptr(),
            iv_len_in_bytes: AES_BLOCK as u64,
            cipher_mode: sys::IMB_CIPHER_CNTR,
            cipher_direction: sys::IMB_DIR_ENCRYPT,
            hash_alg: sys::IMB_AUTH_NULL,
            chain_order: sys::IMB_ORDER_CIPHER_HASH,
            ..Default::default()
        };
        raw.__bindgen_anon_1.src = data.as_ptr();
        raw.__bindgen_anon_2.dst = data.as_mut_ptr();
        raw.__bindgen_anon_3.cipher_start_src_offset_in_bytes = 0;
        raw.__bindgen_anon_4.msg_len_to_cipher_in_bytes = data.len() as u64;
        Job { raw, _borrows: PhantomData }
    }

    /// HMAC-SHA1 of `msg`; the first 12 bytes of the MAC go to `tag`.
    pub fn hmac_sha1(key: &'a HmacSha1Key, msg: &'a [u8], tag: &'a mut [u8; HMAC_SHA1_TAG_LEN]) -> Job<'a> {
        let mut raw = hmac_sha1_job();
        raw.auth_tag_output = tag.as_mut_ptr();
        raw.__bindgen_anon_1.src = msg.as_ptr();
        raw.__bindgen_anon_5.msg_len_to_hash_in_bytes = msg.len() as u64;
        raw.u.HMAC._hashed_auth_key_xor_ipad = key.ipad.as_ptr();
        raw.u.HMAC._hashed_auth_key_xor_opad = key.opad.as_ptr();
        Job { raw, _borrows: PhantomData }
    }
}

impl<'a> Job<'a> {
    /// AES-CTR over `buf[cipher]` in place, then HMAC-SHA1 over `buf[..hash_len]`
    /// (the ciphertext included), in one job: the library's scheduler puts the
    /// hash in a lane as soon as the cipher is done. The first 12 bytes of the
    /// MAC go to `tag`.
    ///
    /// # Panics
    /// If `cipher` or `..hash_len` is not inside `buf`.
    pub fn aes_ctr_then_hmac_sha1(
        key: &'a AesKey,
        iv: &'a [u8; AES_BLOCK],
        auth: &'a HmacSha1Key,
        buf: &'a mut [u8],
        cipher: core::ops::Range<usize>,
        hash_len: usize,
        tag: &'a mut [u8; HMAC_SHA1_TAG_LEN],
    ) -> Job<'a> {
        assert!(cipher.start <= cipher.end && cipher.end <= buf.len() && hash_len <= buf.len());
        let start = buf.as_ptr();
        let mut job = Job::aes_ctr(key, iv, &mut buf[cipher.clone()]);
        let raw = &mut job.raw;
        raw.__bindgen_anon_1.src = start;
        raw.__bindgen_anon_3.cipher_start_src_offset_in_bytes = cipher.start as u64;
        raw.hash_alg = sys::IMB_AUTH_HMAC_SHA_1;
        raw.chain_order = sys::IMB_ORDER_CIPHER_HASH;
        raw.hash_start_src_offset_in_bytes = 0;
        raw.__bindgen_anon_5.msg_len_to_hash_in_bytes = hash_len as u64;
        raw.auth_tag_output = tag.as_mut_ptr();
        raw.auth_tag_output_len_in_bytes = HMAC_SHA1_TAG_LEN as u64;
        raw.u.HMAC._hashed_auth_key_xor_ipad = auth.ipad.as_ptr();
        raw.u.HMAC._hashed_auth_key_xor_opad = auth.opad.as_ptr();
        job
    }
}

/// [`MAX_BURST`] jobs of one kind (`K`: [`Hmac`] or [`Ctr`]) kept between
/// bursts, so that a burst writes only each job's per-message fields
/// instead of building whole jobs.
pub struct Slots<K> {
    jobs: Box<[sys::IMB_JOB; MAX_BURST]>,
    _kind: PhantomData<K>,
}

/// HMAC-SHA1 jobs with a 12-byte tag, for [`Manager::hash_burst_in`]: a burst
/// writes five fields per job.
pub type HashSlots = Slots<Hmac>;

/// AES-CTR jobs with a 16-byte counter block, for [`Manager::ctr_burst_in`]:
/// a burst writes seven fields per job.
pub type CipherSlots = Slots<Ctr>;

/// The kind of [`HashSlots`].
#[derive(Debug)]
pub enum Hmac {}

/// The kind of [`CipherSlots`].
#[derive(Debug)]
pub enum Ctr {}

/// What a kind of [`Slots`] sets in every job.
pub trait SlotKind {
    /// A job with every field but the per-message ones set.
    fn template() -> sys::IMB_JOB;
}

impl SlotKind for Hmac {
    fn template() -> sys::IMB_JOB {
        hmac_sha1_job()
    }
}

impl SlotKind for Ctr {
    /// AES-CTR encryption (the same as decryption).
    fn template() -> sys::IMB_JOB {
        sys::IMB_JOB {
            iv_len_in_bytes: AES_BLOCK as u64,
            cipher_mode: sys::IMB_CIPHER_CNTR,
            cipher_direction: sys::IMB_DIR_ENCRYPT,
            hash_alg: sys::IMB_AUTH_NULL,
            chain_order: sys::IMB_ORDER_CIPHER_HASH,
            ..Default::default()
        }
    }
}

impl<K: SlotKind> Slots<K> {
    /// [`MAX_BURST`] copies of the kind's job.
    pub fn new() -> Self {
        Slots { jobs: Box::new([K::template(); MAX_BURST]), _kind: PhantomData }
    }
}

impl<K: SlotKind> Default for Slots<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for Slots<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots").finish_non_exhaustive()
    }
}

// SAFETY: the slots hold only pointers left from finished calls, never read
// before being overwritten; the value can move to another thread. `K` is a
// marker with no values.
unsafe impl<K> Send for Slots<K> {}

fn aes_key_size(key_len: usize) -> sys::IMB_KEY_SIZE_BYTES {
    match key_len {
        16 => sys::IMB_KEY_128_BYTES,
        24 => sys::IMB_KEY_192_BYTES,
        32 => sys::IMB_KEY_256_BYTES,
        _ => panic!("AES key of {key_len} bytes"),
    }
}

/// An HMAC-SHA1 job with a 12-byte tag, without its message, tag or pads.
fn hmac_sha1_job() -> sys::IMB_JOB {
    sys::IMB_JOB {
        hash_start_src_offset_in_bytes: 0,
        auth_tag_output_len_in_bytes: HMAC_SHA1_TAG_LEN as u64,
        cipher_mode: sys::IMB_CIPHER_NULL,
        cipher_direction: sys::IMB_DIR_ENCRYPT,
        hash_alg: sys::IMB_AUTH_HMAC_SHA_1,
        chain_order: sys::IMB_ORDER_HASH_CIPHER,
        ..Default::default()
    }
}

/// Up to `N` jobs gathered on the stack for one submission, with no
/// placeholder jobs built for the unused places.
pub struct Batch<'a, const N: usize> {
    jobs: [MaybeUninit<Job<'a>>; N],
    len: usize,
}

impl<'a, const N: usize> Batch<'a, N> {
    /// An empty batch.
    pub fn new() -> Self {
        Batch { jobs: [const { MaybeUninit::uninit() }; N], len: 0 }
    }

    /// Adds a job.
    ///
    /// # Panics
    /// When the batch already holds `N` jobs.
    pub fn push(&mut self, job: Job<'a>) {
        self.jobs[self.len].write(job);
        self.len += 1;
    }

    /// Jobs in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no job.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The jobs pushed so far, for submission.
    pub fn as_mut_slice(&mut self) -> &mut [Job<'a>] {
        // SAFETY: the first `len` places were written by `push`; MaybeUninit<Job>
        // has Job's layout.
        unsafe { core::slice::from_raw_parts_mut(self.jobs.as_mut_ptr().cast(), self.len) }
    }
}

impl<const N: usize> Default for Batch<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("cipher_mode", &self.raw.cipher_mode)
            .field("hash_alg", &self.raw.hash_alg)
            .field("status", &self.raw.status)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// NIST SP 800-38A F.5.1: CTR-AES128.Encrypt.
    #[test]
    fn aes_ctr_sp800_38a() {
        let mut mgr = Manager::new().unwrap();
        let key = mgr.aes_key(&hex("2b7e151628aed2a6abf7158809cf4f3c"));
        let iv: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let mut data = hex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51");
        let mut other = data.clone();
        let mut jobs = [Job::aes_ctr(&key, &iv, &mut data), Job::aes_ctr(&key, &iv, &mut other[..20])];
        mgr.cipher_burst(&mut jobs, 16).unwrap();
        assert_eq!(data, hex("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff"));
        assert_eq!(other[..20], data[..20]);
    }

    /// RFC 2202 §3 test cases 1 and 2, through both submission paths.
    #[test]
    fn hmac_sha1_rfc2202() {
        let mut mgr = Manager::new().unwrap();
        let k1 = mgr.hmac_sha1_key(&[0x0b; 20]);
        let k2 = mgr.hmac_sha1_key(b"Jefe");
        let (mut t1, mut t2) = ([0u8; 12], [0u8; 12]);
        let mut jobs =
            [Job::hmac_sha1(&k1, b"Hi There", &mut t1), Job::hmac_sha1(&k2, b"what do ya want for nothing?", &mut t2)];
        mgr.hash_burst(&mut jobs).unwrap();
        assert_eq!(t1[..], hex("b617318655057264e28bc0b6")[..]);
        assert_eq!(t2[..], hex("effcdf6ae5eb2fa2d27416d5")[..]);

        let (mut t1, mut t2) = ([0u8; 12], [0u8; 12]);
        let mut jobs =
            [Job::hmac_sha1(&k2, b"what do ya want for nothing?", &mut t2), Job::hmac_sha1(&k1, b"Hi There", &mut t1)];
        mgr.submit_burst(&mut jobs).unwrap();
        assert_eq!(t1[..], hex("b617318655057264e28bc0b6")[..]);
        assert_eq!(t2[..], hex("effcdf6ae5eb2fa2d27416d5")[..]);
    }

    /// Every code path this CPU has gives the same HMAC-SHA1 and AES-CTR
    /// output, with pads and keys prepared on the best path.
    #[test]
    fn code_paths_agree() {
        let best = Manager::new().unwrap();
        let key = best.hmac_sha1_key(&[7; 20]);
        let aes = best.aes_key(&[9; 16]);
        let iv = [3u8; 16];
        let msg: Vec<u8> = (0..180).map(|i| i as u8).collect();
        let mut outputs = Vec::new();
        for arch in [Arch::Sse, Arch::Avx2, Arch::Avx512] {
            for sha_ni in [true, false] {
                let made = if sha_ni { Manager::with_arch(arch) } else { Manager::without_sha_ni(Some(arch)) };
                let Ok(mut mgr) = made else { continue };
                assert!(sha_ni || !mgr.has_sha_ni(), "{arch} without SHA-NI");
                let mut tag = [0u8; 12];
                let mut data = msg.clone();
                mgr.hash_burst(&mut [Job::hmac_sha1(&key, &msg, &mut tag)]).unwrap();
                mgr.cipher_burst(&mut [Job::aes_ctr(&aes, &iv, &mut data)], 16).unwrap();
                outputs.push(((arch, sha_ni), tag, data));
            }
        }
        assert!(!outputs.is_empty());
        assert!(
            outputs.windows(2).all(|w| (w[0].1, &w[0].2) == (w[1].1, &w[1].2)),
            "{:?}",
            outputs.iter().map(|o| o.0).collect::<Vec<_>>()
        );
    }

    /// NIST GCM test case 4 (AES-128, 60-byte plaintext, 20-byte AAD), sealed
    /// then opened.
    #[test]
    fn gcm_test_case_4() {
        let mut mgr = Manager::new().unwrap();
        let key = mgr.gcm_key(&hex("feffe9928665731c6d6a8f9467308308"));
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plain = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let mut data = plain.clone();
        let tag = mgr.gcm_seal(&key, &iv, &aad, &mut data);
        assert_eq!(
            data,
            hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
        );
        assert_eq!(tag[..], hex("5bc94fbc3221a5db94fae95ae7121a47")[..]);
        assert_eq!(mgr.gcm_open(&key, &iv, &aad, &mut data), tag);
        assert_eq!(data, plain);
    }

    /// A chained AES-CTR then HMAC-SHA1 job gives what the cipher job and
    /// the hash job give one after the other, on every code path.
    #[test]
    fn chained_equals_split() {
        let best = Manager::new().unwrap();
        let aes = best.aes_key(&[9; 16]);
        let auth = best.hmac_sha1_key(&[7; 20]);
        let iv = [3u8; 16];
        let msg: Vec<u8> = (0..176).map(|i| i as u8).collect();
        for arch in [Arch::Sse, Arch::Avx2, Arch::Avx512] {
            let Ok(mut mgr) = Manager::with_arch(arch) else { continue };
            let (mut split, mut split_tag) = (msg.clone(), [0u8; 12]);
            mgr.cipher_burst(&mut [Job::aes_ctr(&aes, &iv, &mut split[12..172])], 16).unwrap();
            mgr.hash_burst(&mut [Job::hmac_sha1(&auth, &split, &mut split_tag)]).unwrap();
            let mut bufs = vec![msg.clone(); 20];
            let mut tags = vec![[0u8; 12]; 20];
            let mut jobs: Vec<Job<'_>> = bufs
                .iter_mut()
                .zip(&mut tags)
                .map(|(b, t)| Job::aes_ctr_then_hmac_sha1(&aes, &iv, &auth, b, 12..172, 176, t))
                .collect();
            mgr.submit_burst(&mut jobs).unwrap();
            drop(jobs);
            for (b, t) in bufs.iter().zip(&tags) {
                assert_eq!((&b[..], t), (&split[..], &split_tag), "{arch}");
            }
        }
    }

    /// Kept cipher jobs give what fresh ones give, burst after burst, for
    /// every key size, an empty buffer among them skipped.
    #[test]
    fn cipher_slots_reused() {
        let mut mgr = Manager::new().unwrap();
        let mut slots = CipherSlots::new();
        let ivs = [[1u8; 16], [2u8; 16]];
        for key_len in [16, 24, 32] {
            let key = mgr.aes_key(&vec![9; key_len]);
            for round in 0..3u8 {
                let msg: Vec<u8> = (0..100u8).map(|i| i ^ round).collect();
                let (mut a, mut b, mut empty) = (msg.clone(), msg.clone(), Vec::new());
                let ops = [(&key, &ivs[0], &mut a[..]), (&key, &ivs[1], &mut empty[..]), (&key, &ivs[1], &mut b[..])];
                mgr.ctr_burst_in(&mut slots, key_len, ops).unwrap();
                let (mut fa, mut fb) = (msg.clone(), msg.clone());
                let mut jobs = [Job::aes_ctr(&key, &ivs[0], &mut fa), Job::aes_ctr(&key, &ivs[1], &mut fb)];
                mgr.cipher_burst(&mut jobs, key_len).unwrap();
                assert_ne!(a, msg);
                assert_eq!((a, b), (fa, fb), "key of {key_len} bytes");
            }
        }
    }

    /// Kept hash jobs give the tags of fresh ones, burst after burst.
    #[test]
    fn hash_slots_reused() {
        let mut mgr = Manager::new().unwrap();
        let k1 = mgr.hmac_sha1_key(&[0x0b; 20]);
        let k2 = mgr.hmac_sha1_key(b"Jefe");
        let mut slots = HashSlots::new();
        for _ in 0..3 {
            let (mut t1, mut t2) = ([0u8; 12], [0u8; 12]);
            let msgs = [(&k1, &b"Hi There"[..], &mut t1), (&k2, &b"what do ya want for nothing?"[..], &mut t2)];
            mgr.hash_burst_in(&mut slots, msgs).unwrap();
            assert_eq!(t1[..], hex("b617318655057264e28bc0b6")[..]);
            assert_eq!(t2[..], hex("effcdf6ae5eb2fa2d27416d5")[..]);
            let mut t3 = [0u8; 12];
            mgr.hash_burst_in(&mut slots, [(&k2, &b"what do ya want for nothing?"[..], &mut t3)]).unwrap();
            assert_eq!(t3, t2);
        }
    }
}
