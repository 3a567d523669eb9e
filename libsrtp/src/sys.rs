//! libsrtp 2's C API, the part used here, mirrored from
//! `/usr/include/srtp2/srtp.h` (2.5).

use std::ffi::{c_int, c_uint, c_ulong, c_void};

pub const OK: c_int = 0;

pub const SSRC_SPECIFIC: c_int = 1;
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

/// `srtp_master_key_t`
#[repr(C)]
pub struct MasterKey {
    pub key: *mut u8,
    pub mki_id: *mut u8,
    pub mki_size: c_uint,
}

/// `srtp_policy_t`
#[repr(C)]
pub struct Policy {
    pub ssrc: Ssrc,
    pub rtp: CryptoPolicy,
    pub rtcp: CryptoPolicy,
    pub key: *mut u8,
    pub keys: *mut *mut MasterKey,
    pub num_master_keys: c_ulong,
    pub deprecated_ekt: *mut c_void,
    pub window_size: c_ulong,
    pub allow_repeat_tx: c_int,
    pub enc_xtn_hdr: *mut c_int,
    pub enc_xtn_hdr_count: c_int,
    pub next: *mut Policy,
}

/// `srtp_t`
pub type Session = *mut c_void;

/// `srtp_crypto_policy_set_*`
pub type PolicySetter = unsafe extern "C" fn(*mut CryptoPolicy);

extern "C" {
    pub fn srtp_init() -> c_int;
    pub fn srtp_create(session: *mut Session, policy: *const Policy) -> c_int;
    pub fn srtp_dealloc(session: Session) -> c_int;
    pub fn srtp_protect_mki(
        ctx: Session,
        hdr: *mut c_void,
        len: *mut c_int,
        use_mki: c_uint,
        mki_index: c_uint,
    ) -> c_int;
    pub fn srtp_unprotect_mki(ctx: Session, hdr: *mut c_void, len: *mut c_int, use_mki: c_uint) -> c_int;
    pub fn srtp_protect_rtcp_mki(
        ctx: Session,
        hdr: *mut c_void,
        len: *mut c_int,
        use_mki: c_uint,
        mki_index: c_uint,
    ) -> c_int;
    pub fn srtp_unprotect_rtcp_mki(ctx: Session, hdr: *mut c_void, len: *mut c_int, use_mki: c_uint) -> c_int;

    pub fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_gcm_128_16_auth(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_aes_gcm_256_16_auth(p: *mut CryptoPolicy);
    pub fn srtp_crypto_policy_set_null_cipher_hmac_sha1_80(p: *mut CryptoPolicy);
}
