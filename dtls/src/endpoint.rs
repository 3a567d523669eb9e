//! One leg's DTLS-SRTP handshake over datagrams the caller carries: the
//! slow path hands over the records that arrive on the leg's port (first
//! byte 20-63, RFC 7983) and sends what [`Endpoint::take_outgoing`] gives.
//! OpenSSL runs the protocol, including its retransmission timer (1 s,
//! doubling), which fires when [`Endpoint::poll`] is called after it
//! expired; the handshake as a whole is bounded by [`HANDSHAKE_TIMEOUT`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_dataplane::srtp::{MasterKey, Suite};
use openssl::ssl::{ErrorCode, Ssl, SslContextBuilder, SslMethod, SslOptions, SslStream, SslVerifyMode, SslVersion};

use crate::identity::{Fingerprint, Identity};
use crate::keys::{material_len, split_keying_material, suite_of_profile, SrtpKeys, PROFILES};
use crate::DtlsError;

/// How long a handshake may take before it is abandoned (and counted).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest datagram sent: below the IPv6 minimum MTU with room for tunnels.
const MTU: u32 = 1200;
/// The exporter label of RFC 5764 §4.2.
const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// Our DTLS role, from the SDP's `a=setup` (RFC 4145, RFC 5763 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `a=setup:active`: we send the ClientHello.
    Client,
    /// `a=setup:passive`: we wait for the peer's ClientHello.
    Server,
}

impl Role {
    /// Our role when we answer an offer whose `a=setup` is `offer`;
    /// `prefer` decides for `actpass`. `None` for a value that is none of
    /// actpass, active, passive.
    pub fn answering(offer: &str, prefer: Role) -> Option<Role> {
        match offer.trim() {
            "actpass" => Some(prefer),
            "active" => Some(Role::Server),
            "passive" => Some(Role::Client),
            _ => None,
        }
    }

    /// The `a=setup` value that announces this role.
    pub fn setup(self) -> &'static str {
        match self {
            Role::Client => "active",
            Role::Server => "passive",
        }
    }
}

/// Datagrams in and out of OpenSSL: one read takes one datagram.
#[derive(Debug, Default)]
pub(crate) struct Channel {
    pub(crate) incoming: VecDeque<Vec<u8>>,
    pub(crate) outgoing: Vec<Vec<u8>>,
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = self.incoming.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
enum State {
    Handshaking,
    Done(SrtpKeys),
    Failed,
}

/// The durable facts of a leg's DTLS: enough to carry its SRTP keys to
/// another node (a handshake still in progress restarts there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsSnapshot {
    /// Our role.
    pub role: Role,
    /// The peer's certificate fingerprint from its SDP.
    pub remote_fingerprint: [u8; 32],
    /// The negotiated suite and the local and remote key||salt, once connected.
    pub keys: Option<(Suite, Vec<u8>, Vec<u8>)>,
}

/// One leg's DTLS-SRTP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    stream: Option<SslStream<Channel>>,
    role: Role,
    remote_fingerprint: Fingerprint,
    started: Instant,
    state: State,
    /// Set by the verify callback when the peer's certificate is not the
    /// one of its a=fingerprint.
    mismatch: Arc<AtomicBool>,
}

impl Endpoint {
    /// An endpoint presenting `identity` in `role`, accepting only a peer
    /// whose certificate has `remote_fingerprint`. A client's ClientHello
    /// is ready in [`Endpoint::take_outgoing`] at once; a server sends
    /// nothing before the peer's.
    pub fn new(
        identity: &Identity,
        role: Role,
        remote_fingerprint: Fingerprint,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        let mut ctx = SslContextBuilder::new(SslMethod::dtls())?;
        ctx.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
        ctx.set_certificate(&identity.cert)?;
        ctx.set_private_key(&identity.key)?;
        ctx.check_private_key()?;
        ctx.set_tlsext_use_srtp(PROFILES)?;
        ctx.set_options(SslOptions::NO_QUERY_MTU);
        // Self-signed certificates are the rule (RFC 8827 §6.5): the chain
        // is not judged, the fingerprint is, during the handshake, so that a
        // wrong one ends it with an alert the peer sees (and again at its end).
        let mismatch = Arc::new(AtomicBool::new(false));
        let (expected, flag) = (remote_fingerprint, mismatch.clone());
        ctx.set_verify_callback(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT, move |_, store| {
            if store.error_depth() != 0 {
                return true;
            }
            let ok = store.current_cert().is_some_and(|c| Fingerprint::of(c).is_ok_and(|f| f == expected));
            flag.store(!ok, Ordering::Relaxed);
            ok
        });
        let mut ssl = Ssl::new(&ctx.build())?;
        ssl.set_mtu(MTU)?;
        match role {
            Role::Client => ssl.set_connect_state(),
            Role::Server => ssl.set_accept_state(),
        }
        let stream = SslStream::new(ssl, Channel::default())?;
        let mut e = Endpoint {
            stream: Some(stream),
            role,
            remote_fingerprint,
            started: now,
            state: State::Handshaking,
            mismatch,
        };
        if role == Role::Client {
            e.drive(now)?;
        }
        Ok(e)
    }

    /// An endpoint restored from `snapshot`, connected if it carries keys.
    /// It has no OpenSSL state: a peer that handshakes again needs a new one.
    pub fn restore(snapshot: &DtlsSnapshot, now: Instant) -> Result<Self, DtlsError> {
        let state = match &snapshot.keys {
            Some((suite, local, remote)) => State::Done(SrtpKeys {
                suite: *suite,
                local: MasterKey::from_key_salt(*suite, local).map_err(|e| DtlsError::Handshake(e.to_string()))?,
                remote: MasterKey::from_key_salt(*suite, remote).map_err(|e| DtlsError::Handshake(e.to_string()))?,
            }),
            None => State::Failed,
        };
        Ok(Endpoint {
            stream: None,
            role: snapshot.role,
            remote_fingerprint: Fingerprint(snapshot.remote_fingerprint),
            started: now,
            state,
            mismatch: Arc::new(AtomicBool::new(false)),
        })
    }

    /// What to carry with the session.
    pub fn snapshot(&self) -> DtlsSnapshot {
        DtlsSnapshot {
            role: self.role,
            remote_fingerprint: self.remote_fingerprint.0,
            keys: self.keys().map(|k| (k.suite, k.local.key_salt().to_vec(), k.remote.key_salt().to_vec())),
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The SRTP keys, once the handshake is done.
    pub fn keys(&self) -> Option<&SrtpKeys> {
        match &self.state {
            State::Done(k) => Some(k),
            _ => None,
        }
    }

    /// Takes a DTLS datagram from the peer. Returns the keys when this
    /// datagram completed the handshake.
    pub fn receive(&mut self, datagram: &[u8], now: Instant) -> Result<Option<SrtpKeys>, DtlsError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        stream.get_mut().incoming.push_back(datagram.to_vec());
        if let State::Done(_) = self.state {
            // A retransmitted last flight from the peer: OpenSSL answers it.
            let mut sink = [0u8; 2048];
            let _ = stream.ssl_read(&mut sink);
            return Ok(None);
        }
        self.drive(now)
    }

    /// Runs the timers: OpenSSL retransmits its last flight when its timer
    /// expired, and the handshake fails with [`DtlsError::Timeout`] after
    /// [`HANDSHAKE_TIMEOUT`].
    pub fn poll(&mut self, now: Instant) -> Result<Option<SrtpKeys>, DtlsError> {
        match self.state {
            State::Handshaking => self.drive(now),
            _ => Ok(None),
        }
    }

    /// The datagrams to send to the peer, in order.
    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        self.stream.as_mut().map(|s| std::mem::take(&mut s.get_mut().outgoing)).unwrap_or_default()
    }

    fn fail(&mut self, e: DtlsError) -> Result<Option<SrtpKeys>, DtlsError> {
        self.state = State::Failed;
        Err(e)
    }

    fn drive(&mut self, now: Instant) -> Result<Option<SrtpKeys>, DtlsError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        match stream.do_handshake() {
            Ok(()) => {}
            Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {
                if now.saturating_duration_since(self.started) >= HANDSHAKE_TIMEOUT {
                    return self.fail(DtlsError::Timeout);
                }
                return Ok(None);
            }
            Err(_) if self.mismatch.load(Ordering::Relaxed) => return self.fail(DtlsError::FingerprintMismatch),
            Err(e) => return self.fail(DtlsError::Handshake(e.to_string())),
        }
        let ssl = stream.ssl();
        let peer = ssl.peer_certificate().map(|c| Fingerprint::of(&c));
        match peer {
            Some(Ok(fp)) if fp == self.remote_fingerprint => {}
            _ => return self.fail(DtlsError::FingerprintMismatch),
        }
        let Some(suite) = ssl.selected_srtp_profile().and_then(|p| suite_of_profile(p.name())) else {
            return self.fail(DtlsError::NoSrtpProfile);
        };
        let mut material = vec![0u8; material_len(suite)];
        ssl.export_keying_material(&mut material, EXPORTER_LABEL, None)?;
        let keys = split_keying_material(suite, &material, self.role == Role::Client)
            .map_err(|e| DtlsError::Handshake(e.to_string()))?;
        self.state = State::Done(keys.clone());
        Ok(Some(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DTLS peer built on OpenSSL alone (not on [`Endpoint`]), offering
    /// only `profile`, with its own certificate.
    struct Peer {
        stream: SslStream<Channel>,
        identity: Identity,
        client: bool,
    }

    impl Peer {
        fn new(profile: &str, client: bool) -> Peer {
            let identity = Identity::generate("peer").unwrap();
            let mut ctx = SslContextBuilder::new(SslMethod::dtls()).unwrap();
            ctx.set_certificate(&identity.cert).unwrap();
            ctx.set_private_key(&identity.key).unwrap();
            ctx.set_tlsext_use_srtp(profile).unwrap();
            ctx.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
            let mut ssl = Ssl::new(&ctx.build()).unwrap();
            if client {
                ssl.set_connect_state();
            } else {
                ssl.set_accept_state();
            }
            Peer { stream: SslStream::new(ssl, Channel::default()).unwrap(), identity, client }
        }

        fn step(&mut self) -> bool {
            self.stream.do_handshake().is_ok()
        }

        fn keys(&self) -> SrtpKeys {
            let ssl = self.stream.ssl();
            let suite = suite_of_profile(ssl.selected_srtp_profile().unwrap().name()).unwrap();
            let mut m = vec![0u8; material_len(suite)];
            ssl.export_keying_material(&mut m, EXPORTER_LABEL, None).unwrap();
            split_keying_material(suite, &m, self.client).unwrap()
        }
    }

    /// Runs the handshake to its end; the endpoint's result.
    fn run(ours: &mut Endpoint, peer: &mut Peer, now: Instant) -> Result<Option<SrtpKeys>, DtlsError> {
        for _ in 0..20 {
            peer.step();
            for d in std::mem::take(&mut peer.stream.get_mut().outgoing) {
                ours.receive(&d, now)?;
            }
            for d in ours.take_outgoing() {
                peer.stream.get_mut().incoming.push_back(d);
            }
            if ours.keys().is_some() && peer.step() {
                break;
            }
        }
        Ok(ours.keys().cloned())
    }

    #[test]
    fn every_profile_in_both_roles_agrees_on_keys() {
        let id = Identity::generate("mediafwd").unwrap();
        let now = Instant::now();
        for (profile, suite) in [
            ("SRTP_AES128_CM_SHA1_80", Suite::AesCm128HmacSha1_80),
            ("SRTP_AES128_CM_SHA1_32", Suite::AesCm128HmacSha1_32),
            ("SRTP_AEAD_AES_128_GCM", Suite::AeadAes128Gcm),
            ("SRTP_AEAD_AES_256_GCM", Suite::AeadAes256Gcm),
        ] {
            for role in [Role::Client, Role::Server] {
                let mut peer = Peer::new(profile, role == Role::Server);
                let mut ours = Endpoint::new(&id, role, peer.identity.fingerprint(), now).unwrap();
                let keys = run(&mut ours, &mut peer, now).unwrap().expect("handshake done");
                assert_eq!(keys.suite, suite, "{profile} {role:?}");
                let theirs = peer.keys();
                assert_eq!((&keys.local, &keys.remote), (&theirs.remote, &theirs.local), "{profile} {role:?}");
                assert_ne!(keys.local, keys.remote);
                // The snapshot carries the keys to another node.
                let restored = Endpoint::restore(&ours.snapshot(), now).unwrap();
                assert_eq!(restored.keys(), Some(&keys));
                assert_eq!(restored.snapshot(), ours.snapshot());
            }
        }
    }

    #[test]
    fn a_wrong_fingerprint_is_refused() {
        let id = Identity::generate("mediafwd").unwrap();
        let now = Instant::now();
        for role in [Role::Client, Role::Server] {
            let mut peer = Peer::new(PROFILES, role == Role::Server);
            let other = Identity::generate("someone else").unwrap().fingerprint();
            let mut ours = Endpoint::new(&id, role, other, now).unwrap();
            assert!(matches!(run(&mut ours, &mut peer, now), Err(DtlsError::FingerprintMismatch)), "{role:?}");
            assert!(ours.keys().is_none());
            assert_eq!(ours.snapshot().keys, None);
        }
    }

    #[test]
    fn a_passive_endpoint_sends_nothing_first() {
        let id = Identity::generate("mediafwd").unwrap();
        let now = Instant::now();
        let fp = Identity::generate("peer").unwrap().fingerprint();
        let mut server = Endpoint::new(&id, Role::Server, fp, now).unwrap();
        assert!(server.take_outgoing().is_empty());
        assert!(server.poll(now + Duration::from_secs(2)).unwrap().is_none());
        assert!(server.take_outgoing().is_empty(), "no stray ClientHello when passive");
        let mut client = Endpoint::new(&id, Role::Client, fp, now).unwrap();
        let hello = client.take_outgoing();
        assert_eq!(hello.len(), 1);
        assert_eq!(hello[0][0], 22, "a handshake record");
    }

    #[test]
    fn the_client_retransmits_and_the_handshake_times_out() {
        let id = Identity::generate("mediafwd").unwrap();
        let start = Instant::now();
        let fp = Identity::generate("peer").unwrap().fingerprint();
        let mut client = Endpoint::new(&id, Role::Client, fp, start).unwrap();
        let first = client.take_outgoing();
        // The ClientHello is lost; OpenSSL's timer (1 s) resends it.
        client.poll(Instant::now()).unwrap();
        assert!(client.take_outgoing().is_empty(), "not before the timer");
        std::thread::sleep(Duration::from_millis(1100));
        client.poll(Instant::now()).unwrap();
        let again = client.take_outgoing();
        assert_eq!(again.len(), 1);
        // The same ClientHello in a record with the next sequence number.
        assert_eq!(again[0][13..], first[0][13..]);
        assert_ne!(again[0][..13], first[0][..13]);
        // Past the handshake timeout it gives up, once.
        assert!(matches!(client.poll(start + HANDSHAKE_TIMEOUT), Err(DtlsError::Timeout)));
        assert!(client.poll(start + HANDSHAKE_TIMEOUT).unwrap().is_none());
    }

    #[test]
    fn setup_roles() {
        assert_eq!(Role::answering("actpass", Role::Server), Some(Role::Server));
        assert_eq!(Role::answering("actpass", Role::Client), Some(Role::Client));
        assert_eq!(Role::answering("active", Role::Client), Some(Role::Server));
        assert_eq!(Role::answering("passive", Role::Server), Some(Role::Client));
        assert_eq!(Role::answering("holdconn", Role::Server), None);
        assert_eq!((Role::Client.setup(), Role::Server.setup()), ("active", "passive"));
    }
}
