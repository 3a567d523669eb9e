//! A WebRTC leg's durable facts in its session's record: the ICE
//! credentials on both sides (ours sealed like the SRTP keys), the
//! nominated pair, the DTLS role and the peer's fingerprint. The keys the
//! handshake exported are the leg's SRTP policies, stored with the leg; a
//! restored leg answers the peer's consent checks and runs SRTP at once,
//! without a new handshake.

use std::net::SocketAddr;

use mediafwd_dataplane::slowpath::IceCredentials;
use mediafwd_dtls::{DtlsSnapshot, Fingerprint, Role};
use serde::{Deserialize, Serialize};

use super::record::{RecordError, SessionRecord};
use super::seal::{KeyField, SealError, Sealer};
use crate::webrtc::WebrtcSnapshot;

/// A WebRTC leg as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebrtcRecord {
    /// Our `a=ice-ufrag`.
    pub ice_ufrag: String,
    /// Our `a=ice-pwd`, in clear or sealed.
    pub ice_pwd: KeyField,
    /// The peer's `a=ice-ufrag`.
    pub remote_ufrag: Option<String>,
    /// The remote of the nominated pair.
    pub nominated: Option<SocketAddr>,
    /// Our `a=setup` once decided: `active` or `passive`.
    pub setup: Option<String>,
    /// The peer's `a=fingerprint` value.
    pub remote_fingerprint: Option<String>,
    /// The handshake had completed: the leg's SRTP policies are its keys.
    pub connected: bool,
}

impl WebrtcRecord {
    fn of(s: &WebrtcSnapshot, sealer: Option<&Sealer>) -> Result<Self, SealError> {
        Ok(WebrtcRecord {
            ice_ufrag: s.creds.local_ufrag.clone(),
            ice_pwd: KeyField::new(s.creds.local_pwd.as_bytes(), sealer)?,
            remote_ufrag: s.creds.remote_ufrag.clone(),
            nominated: s.nominated,
            setup: s.role.map(|r| r.setup().to_string()),
            remote_fingerprint: s.remote_fingerprint.map(|f| Fingerprint(f).to_string()),
            connected: s.dtls.as_ref().is_some_and(|d| d.keys.is_some()),
        })
    }
}

impl SessionRecord {
    /// The record with its WebRTC legs' facts (matched by relay address).
    pub fn with_webrtc(mut self, legs: &[WebrtcSnapshot], sealer: Option<&Sealer>) -> Result<Self, SealError> {
        for l in &mut self.legs {
            if let Some(s) = legs.iter().find(|s| s.local == l.local) {
                l.webrtc = Some(WebrtcRecord::of(s, sealer)?);
            }
        }
        Ok(self)
    }

    /// The WebRTC legs of the record, as [`crate::webrtc::WebrtcLegs::restore`] takes them.
    pub fn webrtc_snapshots(&self, sealer: Option<&Sealer>) -> Result<Vec<WebrtcSnapshot>, RecordError> {
        let requests = self.leg_requests(sealer)?;
        let mut out = Vec::new();
        for (i, (l, req)) in self.legs.iter().zip(requests).enumerate() {
            let Some(w) = &l.webrtc else { continue };
            let bad = |f: &str, m: String| RecordError::Field { field: format!("legs[{i}].webrtc.{f}"), message: m };
            let pwd = String::from_utf8(w.ice_pwd.open(sealer)?).map_err(|e| bad("ice_pwd", e.to_string()))?;
            let role = match w.setup.as_deref() {
                None => None,
                Some("active") => Some(Role::Client),
                Some("passive") => Some(Role::Server),
                Some(other) => return Err(bad("setup", format!("{other:?}: expected active or passive"))),
            };
            let fp = w
                .remote_fingerprint
                .as_deref()
                .map(Fingerprint::parse_sdp)
                .transpose()
                .map_err(|e| bad("remote_fingerprint", e.to_string()))?;
            let keys = match (&req.srtp_inbound, &req.srtp_outbound) {
                (Some(i), Some(o)) if w.connected => {
                    Some((o.suite, o.master_keys[0].key_salt().to_vec(), i.master_keys[0].key_salt().to_vec()))
                }
                _ => None,
            };
            let dtls = match (role, fp) {
                (Some(role), Some(fp)) => Some(DtlsSnapshot { role, remote_fingerprint: fp.0, keys }),
                _ => None,
            };
            out.push(WebrtcSnapshot {
                session_id: self.id.clone(),
                local: l.local,
                creds: IceCredentials {
                    local_ufrag: w.ice_ufrag.clone(),
                    local_pwd: pwd,
                    remote_ufrag: w.remote_ufrag.clone(),
                },
                nominated: w.nominated,
                role,
                remote_fingerprint: fp.map(|f| f.0),
                dtls,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use mediafwd_dataplane::flow::LatchMode;
    use mediafwd_dataplane::srtp::{MasterKey, Policy, Suite};

    use super::*;
    use crate::session::test_support::Hops;
    use crate::session::LegRequest;

    #[test]
    fn a_webrtc_leg_round_trips_through_its_record_sealed() {
        let mut m = crate::session::test_support::manager("30000-30099");
        let suite = Suite::AeadAes128Gcm;
        let key = |fill: u8| MasterKey::from_key_salt(suite, &[fill; 28]).unwrap();
        let leg = |label: &str, keys: bool| LegRequest {
            label: label.into(),
            interface: "public".into(),
            local_port: None,
            local_address: None,
            prefer_v6: false,
            remote: None,
            remote_rtcp: None,
            rtcp_mux: true,
            latch: LatchMode::Once,
            strict_source: false,
            clock_rate: 8000,
            srtp_inbound: keys.then(|| Policy::new(suite, key(1))),
            srtp_outbound: keys.then(|| Policy::new(suite, key(2))),
        };
        let (s, _) =
            m.create("w1", [leg("web", true), leg("sip", false)], None, None, &mut Hops, Instant::now()).unwrap();
        let fp = [0xab; 32];
        let snap = WebrtcSnapshot {
            session_id: "w1".into(),
            local: s.legs[0].local,
            creds: IceCredentials {
                local_ufrag: "abcd1234".into(),
                local_pwd: "p".repeat(24),
                remote_ufrag: Some("peer".into()),
            },
            nominated: Some("198.18.0.2:50000".parse().unwrap()),
            role: Some(Role::Server),
            remote_fingerprint: Some(fp),
            dtls: Some(DtlsSnapshot {
                role: Role::Server,
                remote_fingerprint: fp,
                keys: Some((suite, vec![2; 28], vec![1; 28])),
            }),
        };
        let sealer = Sealer::new(&[7; 32]);
        let json = SessionRecord::of(&s, Some(&sealer))
            .unwrap()
            .with_webrtc(std::slice::from_ref(&snap), Some(&sealer))
            .unwrap()
            .to_json();
        assert!(!json.contains(&"p".repeat(24)), "the ice-pwd is sealed");
        let back = SessionRecord::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.webrtc_snapshots(Some(&sealer)).unwrap(), [snap]);
        assert!(back.webrtc_snapshots(None).is_err(), "no key, no ice-pwd");
        // A record written before WebRTC legs existed reads without them.
        let old = SessionRecord::of(&s, None).unwrap().to_json().replace(",\"webrtc\":null", "");
        assert!(SessionRecord::from_json(old.as_bytes()).unwrap().webrtc_snapshots(None).unwrap().is_empty());
    }
}
