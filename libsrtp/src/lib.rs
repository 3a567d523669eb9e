//! libsrtp 2 (Debian's `libsrtp2-dev`, 2.5) as an independent SRTP peer: the
//! interoperability tests, the end-to-end tests and the SRTP benchmark protect
//! and unprotect with it what mediafwd unprotects and protects. Dev-only: no
//! part of mediafwd links it.
//!
//! Two libsrtp 2.5 behaviours that callers meet:
//! - AES-192: libsrtp's built-in KDF (used unless built with OpenSSL's KDF)
//!   runs AES-256 over the zero-padded `key || salt` for any master key longer
//!   than AES-128's, so its AES-192 session keys are not RFC 6188's.
//! - `_32` suites with an MKI: libsrtp finds the MKI of an SRTCP packet at the
//!   SRTP tag length (4) from the end instead of the SRTCP tag length (10), so
//!   it cannot unprotect such packets.

mod sys;

use std::ffi::{c_int, c_uint, c_void};
use std::fmt;
use std::str::FromStr;
use std::sync::Once;

/// Room libsrtp may write after a packet it protects: `SRTP_MAX_TRAILER_LEN`
/// (tag and MKI) and the SRTCP index.
pub const MAX_TRAILER: usize = 16 + 128 + 4;

/// A libsrtp profile: its SDES name, bytes of master key and salt, and the
/// setters of its SRTP and SRTCP crypto policies.
struct Row {
    name: &'static str,
    key_salt_len: usize,
    rtp: sys::PolicySetter,
    rtcp: sys::PolicySetter,
}

/// The suites libsrtp offers that mediafwd knows (RFC 4568, RFC 6188,
/// RFC 7714). SRTCP keeps an 80-bit tag under the `_32` suites (RFC 4568
/// §6.2.2) and its encryption under the NULL cipher (RFC 4568 §6.3.2).
const PROFILES: [Row; 9] = {
    use sys::*;
    const fn row(name: &'static str, key_salt_len: usize, rtp: PolicySetter, rtcp: PolicySetter) -> Row {
        Row { name, key_salt_len, rtp, rtcp }
    }
    let (cm128, cm128_32) = (srtp_crypto_policy_set_rtp_default, srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32);
    let (cm192, cm192_32) =
        (srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80, srtp_crypto_policy_set_aes_cm_192_hmac_sha1_32);
    let (cm256, cm256_32) =
        (srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80, srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32);
    let (gcm128, gcm256) = (srtp_crypto_policy_set_aes_gcm_128_16_auth, srtp_crypto_policy_set_aes_gcm_256_16_auth);
    [
        row("AES_CM_128_HMAC_SHA1_80", 16 + 14, cm128, cm128),
        row("AES_CM_128_HMAC_SHA1_32", 16 + 14, cm128_32, cm128),
        row("AES_192_CM_HMAC_SHA1_80", 24 + 14, cm192, cm192),
        row("AES_192_CM_HMAC_SHA1_32", 24 + 14, cm192_32, cm192),
        row("AES_256_CM_HMAC_SHA1_80", 32 + 14, cm256, cm256),
        row("AES_256_CM_HMAC_SHA1_32", 32 + 14, cm256_32, cm256),
        row("AEAD_AES_128_GCM", 16 + 12, gcm128, gcm128),
        row("AEAD_AES_256_GCM", 32 + 12, gcm256, gcm256),
        row("NULL_HMAC_SHA1_80", 16 + 14, srtp_crypto_policy_set_null_cipher_hmac_sha1_80, cm128),
    ]
};

/// A crypto suite libsrtp offers, by its SDES name:
/// `"AEAD_AES_128_GCM".parse::<Profile>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile(usize);

impl Profile {
    /// Every profile.
    pub fn all() -> impl Iterator<Item = Profile> {
        (0..PROFILES.len()).map(Profile)
    }

    fn row(self) -> &'static Row {
        &PROFILES[self.0]
    }

    /// The SDES name.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Bytes of master key and salt.
    pub fn key_salt_len(self) -> usize {
        self.row().key_salt_len
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        Profile::all().find(|p| p.name() == s).ok_or_else(|| format!("{s} is not a suite libsrtp offers here"))
    }
}

/// The streams a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ssrc {
    /// One SSRC.
    Specific(u32),
    /// Every SSRC it receives (unprotect).
    AnyInbound,
    /// Every SSRC it sends (protect).
    AnyOutbound,
}

/// A libsrtp status other than `srtp_err_status_ok` (`srtp_err_status_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    /// `srtp_err_status_auth_fail`: the tag did not verify.
    pub const AUTH_FAIL: Status = Status(7);
    /// `srtp_err_status_replay_fail`: the index was received already.
    pub const REPLAY_FAIL: Status = Status(9);
    /// `srtp_err_status_replay_old`: the index is behind the replay window.
    pub const REPLAY_OLD: Status = Status(10);

    /// A replay refusal, of either kind.
    pub fn is_replay(self) -> bool {
        self == Status::REPLAY_FAIL || self == Status::REPLAY_OLD
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "libsrtp status {}", self.0)
    }
}

impl std::error::Error for Status {}

fn check(status: c_int) -> Result<(), Status> {
    match status {
        sys::OK => Ok(()),
        s => Err(Status(s)),
    }
}

/// What a session is made from.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The crypto suite.
    pub profile: Profile,
    /// The streams it serves.
    pub ssrc: Ssrc,
    /// Master keys, `key || salt` each, with their MKI; either one key
    /// without MKI or every key with one.
    pub keys: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The replay window, in packets.
    pub window_size: u32,
    /// Lets a sender protect the same index again (libsrtp refuses it otherwise).
    pub allow_repeat_tx: bool,
}

impl Policy {
    /// One master key (`key || salt`), no MKI, a window of 128.
    pub fn new(profile: Profile, ssrc: Ssrc, key_salt: &[u8]) -> Policy {
        Policy { profile, ssrc, keys: vec![(key_salt.to_vec(), None)], window_size: 128, allow_repeat_tx: false }
    }

    /// Several master keys told apart by their MKIs, a window of 128.
    pub fn with_mkis(profile: Profile, ssrc: Ssrc, keys: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Policy {
        let keys = keys.into_iter().map(|(k, mki)| (k, Some(mki))).collect();
        Policy { profile, ssrc, keys, window_size: 128, allow_repeat_tx: false }
    }
}

/// One libsrtp session (`srtp_t`).
pub struct Session {
    session: sys::Session,
    use_mki: bool,
    tx_key: u32,
}

#[derive(Clone, Copy)]
enum Op {
    Protect,
    Unprotect,
    ProtectRtcp,
    UnprotectRtcp,
}

impl Session {
    /// A session for `policy`; libsrtp copies the keys.
    ///
    /// # Panics
    /// With keys of mixed kinds (some with an MKI, some without), none, or a
    /// key of another length than the profile's (libsrtp would read past it).
    pub fn new(policy: &Policy) -> Result<Session, Status> {
        static INIT: Once = Once::new();
        // SAFETY: srtp_init takes no arguments and runs once per process.
        INIT.call_once(|| check(unsafe { sys::srtp_init() }).expect("srtp_init"));
        let use_mki = policy.keys.iter().all(|(_, mki)| mki.is_some());
        assert!(
            !policy.keys.is_empty() && (use_mki || policy.keys.len() == 1),
            "one key without MKI, or keys that all have one"
        );
        let want = policy.profile.key_salt_len();
        for (k, _) in &policy.keys {
            assert_eq!(k.len(), want, "{} takes {want} bytes of key and salt", policy.profile);
        }
        let mut keys: Vec<Vec<u8>> = policy.keys.iter().map(|(k, _)| k.clone()).collect();
        let mut mkis: Vec<Vec<u8>> = policy.keys.iter().map(|(_, m)| m.clone().unwrap_or_default()).collect();
        let mut master: Vec<sys::MasterKey> = keys
            .iter_mut()
            .zip(mkis.iter_mut())
            .map(|(k, m)| sys::MasterKey { key: k.as_mut_ptr(), mki_id: m.as_mut_ptr(), mki_size: m.len() as c_uint })
            .collect();
        let mut master_ptrs: Vec<*mut sys::MasterKey> = master.iter_mut().map(|m| m as *mut _).collect();
        let (kind, value) = match policy.ssrc {
            Ssrc::Specific(v) => (sys::SSRC_SPECIFIC, v),
            Ssrc::AnyInbound => (sys::SSRC_ANY_INBOUND, 0),
            Ssrc::AnyOutbound => (sys::SSRC_ANY_OUTBOUND, 0),
        };
        let Row { rtp, rtcp, .. } = *policy.profile.row();
        let mut p = sys::Policy {
            ssrc: sys::Ssrc { kind, value },
            rtp: sys::CryptoPolicy::default(),
            rtcp: sys::CryptoPolicy::default(),
            key: if use_mki { std::ptr::null_mut() } else { keys[0].as_mut_ptr() },
            keys: if use_mki { master_ptrs.as_mut_ptr() } else { std::ptr::null_mut() },
            num_master_keys: if use_mki { master_ptrs.len() as _ } else { 0 },
            deprecated_ekt: std::ptr::null_mut(),
            window_size: policy.window_size.into(),
            allow_repeat_tx: c_int::from(policy.allow_repeat_tx),
            enc_xtn_hdr: std::ptr::null_mut(),
            enc_xtn_hdr_count: 0,
            next: std::ptr::null_mut(),
        };
        let mut session: sys::Session = std::ptr::null_mut();
        // SAFETY: the setters write only the crypto policy they are given;
        // `p` and everything it points to (keys, MKIs, the key array) are
        // alive for srtp_create, which copies what it keeps.
        let status = unsafe {
            rtp(&mut p.rtp);
            rtcp(&mut p.rtcp);
            sys::srtp_create(&mut session, &p)
        };
        check(status)?;
        Ok(Session { session, use_mki, tx_key: 0 })
    }

    /// A session protecting every SSRC an endpoint sends, with one master key
    /// (`key || salt`) and no MKI.
    ///
    /// # Panics
    /// With a key of another length than the profile's, or when libsrtp
    /// refuses it.
    pub fn sender(profile: Profile, key_salt: &[u8]) -> Session {
        Session::new(&Policy::new(profile, Ssrc::AnyOutbound, key_salt))
            .unwrap_or_else(|s| panic!("srtp_create for {profile}: {s}"))
    }

    /// A session unprotecting every SSRC an endpoint receives.
    ///
    /// # Panics
    /// As [`Session::sender`].
    pub fn receiver(profile: Profile, key_salt: &[u8]) -> Session {
        Session::new(&Policy::new(profile, Ssrc::AnyInbound, key_salt))
            .unwrap_or_else(|s| panic!("srtp_create for {profile}: {s}"))
    }

    /// Protects with master key `index` (in [`Policy::keys`] order) from now
    /// on; only sessions whose keys have MKIs have more than key 0.
    pub fn use_key(&mut self, index: u32) -> &mut Session {
        self.tx_key = index;
        self
    }

    /// Runs `op` on `buf[..len]` in place; the new length.
    fn call(&mut self, op: Op, buf: &mut [u8], len: usize) -> Result<usize, Status> {
        assert!(len <= buf.len(), "a packet of {len} bytes in a buffer of {}", buf.len());
        if matches!(op, Op::Protect | Op::ProtectRtcp) {
            assert!(buf.len() >= len + MAX_TRAILER, "libsrtp may write MAX_TRAILER bytes after the packet");
        }
        let mut n = c_int::try_from(len).expect("a packet shorter than 2 GiB");
        let hdr = buf.as_mut_ptr().cast::<c_void>();
        let (s, mki, key) = (self.session, c_uint::from(self.use_mki), self.tx_key);
        // SAFETY: `buf` holds the packet in its first `n` bytes and, to
        // protect, the room libsrtp may write after it (checked above);
        // unprotecting only shortens the packet. The session is alive.
        let status = unsafe {
            match op {
                Op::Protect => sys::srtp_protect_mki(s, hdr, &mut n, mki, key),
                Op::Unprotect => sys::srtp_unprotect_mki(s, hdr, &mut n, mki),
                Op::ProtectRtcp => sys::srtp_protect_rtcp_mki(s, hdr, &mut n, mki, key),
                Op::UnprotectRtcp => sys::srtp_unprotect_rtcp_mki(s, hdr, &mut n, mki),
            }
        };
        check(status)?;
        Ok(n as usize)
    }

    /// A copy of `packet` run through `op`, with the room it needs.
    fn call_copy(&mut self, op: Op, packet: &[u8]) -> Result<Vec<u8>, Status> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + MAX_TRAILER, 0);
        let len = self.call(op, &mut buf, packet.len())?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Protects the RTP packet in `buf[..len]` in place; `buf` has
    /// [`MAX_TRAILER`] bytes of room after it. The SRTP packet's length.
    pub fn protect_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Status> {
        self.call(Op::Protect, buf, len)
    }

    /// Unprotects the SRTP packet in `buf[..len]` in place. The RTP packet's length.
    pub fn unprotect_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Status> {
        self.call(Op::Unprotect, buf, len)
    }

    /// SRTP of an RTP packet.
    pub fn protect(&mut self, rtp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call_copy(Op::Protect, rtp)
    }

    /// The RTP packet in an SRTP packet.
    pub fn unprotect(&mut self, srtp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call_copy(Op::Unprotect, srtp)
    }

    /// SRTCP of an RTCP compound packet.
    pub fn protect_rtcp(&mut self, rtcp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call_copy(Op::ProtectRtcp, rtcp)
    }

    /// The RTCP compound packet in an SRTCP packet.
    pub fn unprotect_rtcp(&mut self, srtcp: &[u8]) -> Result<Vec<u8>, Status> {
        self.call_copy(Op::UnprotectRtcp, srtcp)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the session came from srtp_create and is freed once, here.
        unsafe { sys::srtp_dealloc(self.session) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> Profile {
        name.parse().unwrap()
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
        p.extend((0..160).map(|i: u32| i as u8));
        p
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(Profile::all().count(), 9);
        for p in Profile::all() {
            assert_eq!(p.to_string().parse::<Profile>(), Ok(p));
        }
        assert!("AES_CM_128_HMAC_SHA1_81".parse::<Profile>().is_err());
    }

    #[test]
    fn a_sender_and_a_receiver_agree_and_refuse_replays_and_forgeries() {
        let key: Vec<u8> = (0..30).collect();
        for profile in [p("AES_CM_128_HMAC_SHA1_80"), p("AES_CM_128_HMAC_SHA1_32")] {
            let (mut tx, mut rx) = (Session::sender(profile, &key), Session::receiver(profile, &key));
            let sealed = tx.protect(&rtp(1)).unwrap();
            assert_ne!(sealed[12..172], rtp(1)[12..], "{profile}: encrypted");
            let mut forged = sealed.clone();
            forged[20] ^= 1;
            assert_eq!(rx.unprotect(&forged), Err(Status::AUTH_FAIL), "{profile}");
            assert_eq!(rx.unprotect(&sealed), Ok(rtp(1)), "{profile}");
            assert!(rx.unprotect(&sealed).unwrap_err().is_replay(), "{profile}");
        }
    }

    #[test]
    fn keys_with_mkis_are_chosen_by_index() {
        let keys = |mki: u8| ((0..30).map(|b| b ^ mki).collect::<Vec<u8>>(), vec![0, mki]);
        let policy = |ssrc| Policy::with_mkis(p("AES_CM_128_HMAC_SHA1_80"), ssrc, [keys(1), keys(2)]);
        let mut tx = Session::new(&policy(Ssrc::Specific(0x1234_5678))).unwrap();
        let mut rx = Session::new(&policy(Ssrc::AnyInbound)).unwrap();
        let sealed = tx.use_key(1).protect(&rtp(7)).unwrap();
        assert_eq!(sealed[sealed.len() - 12..sealed.len() - 10], [0, 2], "the MKI before the tag");
        assert_eq!(rx.unprotect(&sealed), Ok(rtp(7)));
    }

    #[test]
    #[should_panic(expected = "30 bytes of key and salt")]
    fn a_key_of_the_wrong_length_is_refused() {
        let _ = Session::sender(p("AES_CM_128_HMAC_SHA1_80"), &[0; 16]);
    }

    #[test]
    fn a_sender_may_be_allowed_to_protect_an_index_again() {
        let once = Policy::new(p("AEAD_AES_128_GCM"), Ssrc::AnyOutbound, &[7; 28]);
        let mut tx = Session::new(&once).unwrap();
        let sealed = tx.protect(&rtp(3)).unwrap();
        assert!(tx.protect(&rtp(3)).unwrap_err().is_replay());
        let mut tx = Session::new(&Policy { allow_repeat_tx: true, ..once }).unwrap();
        assert_eq!(tx.protect(&rtp(3)), Ok(sealed.clone()));
        assert_eq!(tx.protect(&rtp(3)), Ok(sealed), "allow_repeat_tx protects an index again");
    }
}
