//! WebRTC legs in SDP: what a peer's `UDP/TLS/RTP/SAVPF` section gives
//! (ICE ufrag, RFC 8839; fingerprint and setup, RFC 8842; mid, RFC 8843)
//! and what ours towards it carries: our ICE-lite credentials and host
//! candidate on the relay address, our certificate's fingerprint, our role,
//! the section's mid, rtcp-mux; at session level `a=ice-lite` and a BUNDLE
//! group of the one section.

use std::net::SocketAddr;

use mediafwd_dtls::{Fingerprint, Role};

use super::commands::{error, Engine, Failure};
use super::sdp::{Media, Sdp};
use crate::control::{self};
use crate::webrtc::{WebrtcSetup, WebrtcView};

/// One leg's WebRTC side, as the call keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLeg {
    /// The peer's `a=ice-ufrag`, once its SDP was seen.
    pub remote_ufrag: Option<String>,
    /// The peer's `a=fingerprint`, once its SDP was seen.
    pub remote_fingerprint: Option<Fingerprint>,
    /// The peer's `a=setup`, once its SDP was seen.
    pub remote_setup: Option<String>,
    /// The section's `a=mid`: the peer's, or ours (`0`, `1`, ... by position).
    pub mid: String,
    /// Our DTLS role, once decided (`None`: we offered `actpass`).
    pub role: Option<Role>,
}

impl WebLeg {
    /// A leg whose peer has not sent its SDP yet (we offer to it).
    pub fn ours(mid: String, role: Option<Role>) -> WebLeg {
        WebLeg { remote_ufrag: None, remote_fingerprint: None, remote_setup: None, mid, role }
    }

    /// Takes the peer's ICE and DTLS attributes from section `k` of `sdp`.
    pub(super) fn learn(&mut self, sdp: &Sdp, k: usize) -> Result<(), Failure> {
        let m: &Media = &sdp.media[k];
        let fp = m
            .attribute(sdp, "fingerprint")
            .ok_or_else(|| error(format!("media {}: {} needs an a=fingerprint", k + 1, m.line.proto)))?;
        let fp = Fingerprint::parse_sdp(fp).map_err(|e| error(format!("media {}: {e}", k + 1)))?;
        let ufrag = m
            .attribute(sdp, "ice-ufrag")
            .ok_or_else(|| error(format!("media {}: {} needs ICE (a=ice-ufrag)", k + 1, m.line.proto)))?;
        self.remote_fingerprint = Some(fp);
        self.remote_ufrag = Some(ufrag.trim().to_string());
        self.remote_setup = Some(m.attribute(sdp, "setup").unwrap_or("actpass").trim().to_ascii_lowercase());
        if let Some(mid) = m.attribute(sdp, "mid").filter(|v| !v.is_empty()) {
            self.mid = mid.trim().to_string();
        }
        Ok(())
    }

    /// Our role answering the peer's offer, `prefer` for its `actpass`.
    pub(super) fn answering(&self, prefer: Role) -> Result<Role, Failure> {
        let setup = self.remote_setup.as_deref().unwrap_or("actpass");
        Role::answering(setup, prefer)
            .ok_or_else(|| error(format!("a=setup:{setup}: expected actpass, active or passive")))
    }

    /// Our role from the peer's answer to our offer.
    pub(super) fn answered(&self) -> Result<Role, Failure> {
        match (self.role, self.remote_setup.as_deref()) {
            (Some(r), _) => Ok(r),
            (None, Some("active")) => Ok(Role::Server),
            (None, Some("passive")) => Ok(Role::Client),
            (None, s) => Err(error(format!(
                "a=setup:{} in the answer to a=setup:actpass: expected active or passive",
                s.unwrap_or("(none)")
            ))),
        }
    }

    /// Our section's ICE and DTLS attribute lines, for relay address `local`.
    pub fn attributes(&self, view: &WebrtcView, local: SocketAddr) -> Vec<String> {
        let setup = view.role.map(Role::setup).unwrap_or("actpass");
        vec![
            format!("a=mid:{}", self.mid),
            format!("a=ice-ufrag:{}", view.ice_ufrag),
            format!("a=ice-pwd:{}", view.ice_pwd),
            format!("a=fingerprint:{}", view.fingerprint),
            format!("a=setup:{setup}"),
            // One host candidate, RTP and RTCP muxed (RFC 8445 §5.1.2.1 priority of a host).
            format!("a=candidate:1 1 UDP 2130706431 {} {} typ host", local.ip(), local.port()),
            "a=end-of-candidates".to_string(),
        ]
    }
}

/// The session-level lines of an SDP with WebRTC sections of mids `mids`.
pub fn session_attributes(mids: &[String]) -> Vec<String> {
    if mids.is_empty() {
        return Vec::new();
    }
    vec!["a=ice-lite".to_string(), format!("a=group:BUNDLE {}", mids.join(" "))]
}

/// The mid among a section's attribute lines.
pub fn mid_of(attributes: &[String]) -> Option<String> {
    attributes.iter().find_map(|a| a.strip_prefix("a=mid:")).map(str::to_string)
}

/// Our DTLS role from a `DTLS` value (`passive`, `active`); `None` for
/// anything else (`actpass` offered, or the default).
pub fn role_of(dtls: Option<&str>) -> Option<Role> {
    match dtls {
        Some("passive") => Some(Role::Server),
        Some("active") => Some(Role::Client),
        _ => None,
    }
}

impl Engine {
    /// Sets up leg `leg` of session `session_id` as the WebRTC side `web`.
    pub(super) async fn setup_webrtc(&self, session_id: &str, leg: &str, web: &WebLeg) -> Result<WebrtcView, Failure> {
        let req = WebrtcSetup {
            session_id: session_id.to_string(),
            leg: leg.to_string(),
            remote_ufrag: web.remote_ufrag.clone(),
            remote_fingerprint: web.remote_fingerprint,
            role: web.role,
        };
        self.ask(|tx| control::Request::Webrtc(Box::new(req), tx)).await.map_err(super::commands::from_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_attributes_and_roles() {
        let fp = "sha-256 ".to_string() + &["AB"; 32].join(":");
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 198.18.0.2\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a0\r\na=fingerprint:{fp}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:a0\r\na=ice-ufrag:Web1\r\na=ice-pwd:0123456789012345678901\r\na=setup:actpass\r\na=rtcp-mux\r\n"
        );
        let sdp = Sdp::parse(&text).unwrap();
        assert!(sdp.media[0].is_dtls() && sdp.media[0].is_rtp() && !sdp.media[0].is_srtp());
        let mut w = WebLeg::ours("0".into(), None);
        w.learn(&sdp, 0).unwrap();
        assert_eq!((w.remote_ufrag.as_deref(), w.mid.as_str()), (Some("Web1"), "a0"));
        assert_eq!(w.remote_fingerprint, Some(Fingerprint([0xab; 32])), "a session-level fingerprint counts");
        assert_eq!(w.answering(Role::Server).unwrap(), Role::Server);
        assert_eq!(w.answering(Role::Client).unwrap(), Role::Client);
        w.remote_setup = Some("active".into());
        assert_eq!((w.answering(Role::Client).unwrap(), w.answered().unwrap()), (Role::Server, Role::Server));
        w.remote_setup = Some("passive".into());
        assert_eq!(w.answered().unwrap(), Role::Client);
        w.remote_setup = Some("holdconn".into());
        assert!(w.answering(Role::Server).is_err() && w.answered().is_err());
        // Without a fingerprint or ICE, refused.
        let bare = Sdp::parse("v=0\r\no=- 1 1 IN IP4 198.18.0.2\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n").unwrap();
        assert!(WebLeg::ours("0".into(), None).learn(&bare, 0).is_err());
        assert_eq!(
            (role_of(Some("passive")), role_of(Some("active")), role_of(Some("off"))),
            (Some(Role::Server), Some(Role::Client), None)
        );
        assert_eq!(session_attributes(&["0".into()]), ["a=ice-lite", "a=group:BUNDLE 0"]);
        assert!(session_attributes(&[]).is_empty());
    }
}
