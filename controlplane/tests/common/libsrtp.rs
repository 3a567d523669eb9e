//! libsrtp 2 (Debian's `libsrtp2-dev`) as the SRTP endpoints of the
//! end-to-end tests: an independent implementation protects what the callers
//! send and checks what they receive. The declarations mirror
//! `/usr/include/srtp2/srtp.h` (2.5), as in the dataplane's interop test.
//!
//! AES-192 is left out: libsrtp 2.5 derives other AES-192 session keys than
//! RFC 6188 (see `dataplane/tests/srtp_libsrtp.rs`).

#![allow(dead_code)]

use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::sync::Once;

use mediafwd_dataplane::srtp::Suite;

mod ffi {
    use super::*;

    pub const OK: c_int = 0;
    pub const SSRC_ANY_INBOUND: c_int = 2;
    pub const SSRC_ANY_OUTBOUND: c_int = 3;

    /// `srtp_crypto_policy_t`
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    pub struct CryptoPolicy {
        pub cipher_type: u32,
        pub cipher_key_len: c_int,
        pub auth_type: u32,
        pub auth_key_len: c_int,
        pub auth_tag_len: c_int,
        pub sec_serv: c_int,
    }

    /// `srtp_ssrc_t`
    #[repr(C)]
    pub struct Ssrc {
        pub kind: c_int,
        pub value: c_uint,
    }

    /// `srtp_policy_t`
    #[repr(C)]
    pub struct Policy {
        pub ssrc: Ssrc,
        pub rtp: CryptoPolicy,
        pub rtcp: CryptoPolicy,
        pub key: *mut u8,
        pub keys: *mut c_void,
        pub num_master_keys: c_ulong,
        pub deprecated_ekt: *mut c_void,
        pub window_size: c_ulong,
        pub allow_repeat_tx: c_int,
        pub enc_xtn_hdr: *mut c_int,
        pub enc_xtn_hdr_count: c_int,
        pub next: *mut Policy,
    }

    #[link(name = "srtp2")]
    extern "C" {
        pub fn srtp_init() -> c_int;
        pub fn srtp_create(session: *mut *mut c_void, policy: *const Policy) -> c_int;
        pub fn srtp_dealloc(session: *mut c_void) -> c_int;
        pub fn srtp_protect(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;
        pub fn srtp_unprotect(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;
        pub fn srtp_protect_rtcp(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;
        pub fn srtp_unprotect_rtcp(ctx: *mut c_void, hdr: *mut c_void, len: *mut c_int) -> c_int;

        pub fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
        pub fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut CryptoPolicy);
        pub fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p: *mut CryptoPolicy);
        pub fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p: *mut CryptoPolicy);
        pub fn srtp_crypto_policy_set_aes_gcm_128_16_auth(p: *mut CryptoPolicy);
        pub fn srtp_crypto_policy_set_aes_gcm_256_16_auth(p: *mut CryptoPolicy);
    }
}

/// Room libsrtp may write after a packet: `SRTP_MAX_TRAILER_LEN` and the SRTCP index.
const ROOM: usize = 16 + 128 + 4;

/// libsrtp's status when a call fails (`srtp_err_status_t`): 7 auth, 9/10 replay.
pub type Status = c_int;

/// One libsrtp session, for sending (protect) or receiving (unprotect) every SSRC.
pub struct LibSrtp {
    session: *mut c_void,
}

impl LibSrtp {
    /// A session protecting what an endpoint sends, with `key_salt` (key then salt).
    pub fn sender(suite: Suite, key_salt: &[u8]) -> LibSrtp {
        Self::new(suite, key_salt, ffi::SSRC_ANY_OUTBOUND)
    }

    /// A session unprotecting what an endpoint receives.
    pub fn receiver(suite: Suite, key_salt: &[u8]) -> LibSrtp {
        Self::new(suite, key_salt, ffi::SSRC_ANY_INBOUND)
    }

    fn new(suite: Suite, key_salt: &[u8], kind: c_int) -> LibSrtp {
        static INIT: Once = Once::new();
        // SAFETY: srtp_init takes no arguments and runs once per process.
        INIT.call_once(|| assert_eq!(unsafe { ffi::srtp_init() }, ffi::OK));
        assert_eq!(key_salt.len(), suite.master_key_len() + suite.master_salt_len(), "{suite} key and salt");
        type Setter = unsafe extern "C" fn(*mut ffi::CryptoPolicy);
        // The `_32` suites keep an 80-bit SRTCP tag (RFC 4568 §6.2.2).
        let (rtp, rtcp): (Setter, Setter) = match suite {
            Suite::AesCm128HmacSha1_80 => {
                (ffi::srtp_crypto_policy_set_rtp_default, ffi::srtp_crypto_policy_set_rtp_default)
            }
            Suite::AesCm128HmacSha1_32 => {
                (ffi::srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32, ffi::srtp_crypto_policy_set_rtp_default)
            }
            Suite::Aes256CmHmacSha1_80 => (
                ffi::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
                ffi::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
            ),
            Suite::Aes256CmHmacSha1_32 => (
                ffi::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32,
                ffi::srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
            ),
            Suite::AeadAes128Gcm => {
                (ffi::srtp_crypto_policy_set_aes_gcm_128_16_auth, ffi::srtp_crypto_policy_set_aes_gcm_128_16_auth)
            }
            Suite::AeadAes256Gcm => {
                (ffi::srtp_crypto_policy_set_aes_gcm_256_16_auth, ffi::srtp_crypto_policy_set_aes_gcm_256_16_auth)
            }
            other => panic!("{other} is not used with libsrtp in these tests"),
        };
        let mut key = key_salt.to_vec();
        let mut policy = ffi::Policy {
            ssrc: ffi::Ssrc { kind, value: 0 },
            rtp: ffi::CryptoPolicy::default(),
            rtcp: ffi::CryptoPolicy::default(),
            key: key.as_mut_ptr(),
            keys: std::ptr::null_mut(),
            num_master_keys: 0,
            deprecated_ekt: std::ptr::null_mut(),
            window_size: 128,
            allow_repeat_tx: 0,
            enc_xtn_hdr: std::ptr::null_mut(),
            enc_xtn_hdr_count: 0,
            next: std::ptr::null_mut(),
        };
        let mut session = std::ptr::null_mut();
        // SAFETY: the setters write only the policies they are given; `policy`
        // and the key it points to are alive for srtp_create, which copies them.
        let status = unsafe {
            rtp(&mut policy.rtp);
            rtcp(&mut policy.rtcp);
            ffi::srtp_create(&mut session, &policy)
        };
        assert_eq!(status, ffi::OK, "srtp_create for {suite}");
        LibSrtp { session }
    }

    fn call(&mut self, packet: &[u8], op: Op) -> Result<Vec<u8>, Status> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + ROOM, 0);
        let mut len = packet.len() as c_int;
        let hdr = buf.as_mut_ptr().cast::<c_void>();
        // SAFETY: `buf` holds the packet and the trailer room libsrtp may write;
        // `len` is the packet's length in it; the session is alive.
        let status = unsafe {
            match op {
                Op::Protect => ffi::srtp_protect(self.session, hdr, &mut len),
                Op::Unprotect => ffi::srtp_unprotect(self.session, hdr, &mut len),
                Op::ProtectRtcp => ffi::srtp_protect_rtcp(self.session, hdr, &mut len),
                Op::UnprotectRtcp => ffi::srtp_unprotect_rtcp(self.session, hdr, &mut len),
            }
        };
        if status != ffi::OK {
            return Err(status);
        }
        buf.truncate(len as usize);
        Ok(buf)
    }

    /// SRTP of an RTP packet.
    pub fn protect(&mut self, rtp: &[u8]) -> Vec<u8> {
        self.call(rtp, Op::Protect).expect("libsrtp protect")
    }

    /// The RTP packet in an SRTP packet.
    pub fn unprotect(&mut self, srtp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call(srtp, Op::Unprotect)
    }

    /// SRTCP of an RTCP compound packet.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Vec<u8> {
        self.call(rtcp, Op::ProtectRtcp).expect("libsrtp protect_rtcp")
    }

    /// The RTCP packet in an SRTCP packet.
    pub fn unprotect_rtcp(&mut self, srtcp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call(srtcp, Op::UnprotectRtcp)
    }
}

impl Drop for LibSrtp {
    fn drop(&mut self) {
        // SAFETY: the session came from srtp_create and is freed once.
        unsafe { ffi::srtp_dealloc(self.session) };
    }
}

#[derive(Clone, Copy)]
enum Op {
    Protect,
    Unprotect,
    ProtectRtcp,
    UnprotectRtcp,
}
