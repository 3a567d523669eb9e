//! SDP (RFC 8866) as a relay needs it: read each media section's transport
//! (connection address, ports, RTCP, rtcp-mux, SRTP keys), then write the
//! description again with mediafwd's addresses, keeping every line it does
//! not change as it was. Codecs are not touched.

use std::net::{IpAddr, SocketAddr};

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line that is not `<type>=<value>`.
    #[error("SDP line {line} is not <type>=<value>: {text:?}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// No `v=` first.
    #[error("an SDP body starts with v=0")]
    NoVersion,
    /// A malformed `m=`, `c=`, `o=` or `a=rtcp` line.
    #[error("SDP {what}: {text:?}")]
    Field {
        /// Which line.
        what: &'static str,
        /// Its text.
        text: String,
    },
}

/// One SDP line without its end of line: `x=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(pub String);

impl Line {
    /// The type letter.
    pub fn kind(&self) -> u8 {
        self.0.as_bytes()[0]
    }

    /// What follows `x=`.
    pub fn value(&self) -> &str {
        &self.0[2..]
    }

    /// `a=name[:value]`: the name and value of an attribute line.
    pub fn attribute(&self) -> Option<(&str, Option<&str>)> {
        if self.kind() != b'a' {
            return None;
        }
        Some(match self.value().split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (self.value(), None),
        })
    }

    fn is_attribute(&self, name: &str) -> bool {
        self.attribute().is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// An `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, ...
    pub media: String,
    /// The RTP port (0: disabled).
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: String,
    /// The format list, as written.
    pub formats: String,
}

/// A media section: its `m=` line and the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The `m=` line.
    pub line: MediaLine,
    /// The section's other lines.
    pub lines: Vec<Line>,
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `\r\n` (the standard) or `\n`, as the body used.
    pub eol: &'static str,
    /// Session-level lines (before the first `m=`).
    pub session: Vec<Line>,
    /// Media sections in order.
    pub media: Vec<Media>,
}

/// The ICE attributes (RFC 8839), removed since mediafwd is no ICE agent.
const ICE_ATTRIBUTES: &[&str] = &[
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "ice-pacing",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
];

/// The DTLS-SRTP attributes (RFC 8842): mediafwd terminates DTLS, so the
/// peer's never pass to the other side; a WebRTC leg gets its own.
const DTLS_ATTRIBUTES: &[&str] = &["fingerprint", "setup", "tls-id"];

/// The address of a `c=` value: `IN IP4 198.18.0.2[/ttl]`.
fn connection_address(value: &str) -> Result<IpAddr, SdpError> {
    let bad = || SdpError::Field { what: "c= is not `IN IP4|IP6 <address>`", text: value.to_string() };
    let mut f = value.split_ascii_whitespace();
    let (Some("IN"), Some(family), Some(addr), None) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(bad());
    };
    let addr = addr.split('/').next().unwrap_or_default();
    let ip: IpAddr =
        addr.parse().map_err(|_| SdpError::Field { what: "c= needs an IP address", text: value.into() })?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(bad()),
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

impl MediaLine {
    fn parse(value: &str) -> Result<MediaLine, SdpError> {
        let bad = || SdpError::Field { what: "m= is not `<media> <port> <proto> <formats>`", text: value.into() };
        let mut f = value.splitn(4, ' ');
        let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
            return Err(bad());
        };
        let port = port.split('/').next().unwrap_or_default().parse().map_err(|_| bad())?;
        if media.is_empty() || proto.is_empty() {
            return Err(bad());
        }
        Ok(MediaLine { media: media.into(), port, proto: proto.into(), formats: f.next().unwrap_or_default().into() })
    }

    fn write(&self, out: &mut String) {
        out.push_str("m=");
        out.push_str(&self.media);
        out.push(' ');
        out.push_str(&self.port.to_string());
        out.push(' ');
        out.push_str(&self.proto);
        if !self.formats.is_empty() {
            out.push(' ');
            out.push_str(&self.formats);
        }
    }
}

impl Sdp {
    /// Parses a body: lines `x=value` separated by CRLF or LF.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        let eol = if text.contains("\r\n") || !text.contains('\n') { "\r\n" } else { "\n" };
        let mut session = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.trim().is_empty() {
                continue;
            }
            let b = l.as_bytes();
            if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
                return Err(SdpError::Syntax { line: i + 1, text: l.chars().take(80).collect() });
            }
            let line = Line(l.to_string());
            if session.is_empty() && media.is_empty() && line.kind() != b'v' {
                return Err(SdpError::NoVersion);
            }
            match line.kind() {
                b'm' => media.push(Media { line: MediaLine::parse(line.value())?, lines: Vec::new() }),
                _ => match media.last_mut() {
                    Some(m) => m.lines.push(line),
                    None => session.push(line),
                },
            }
        }
        if session.is_empty() {
            return Err(SdpError::NoVersion);
        }
        let sdp = Sdp { eol, session, media };
        // Check the addresses once, here.
        sdp.session_connection()?;
        for m in &sdp.media {
            m.own_connection()?;
            m.rtcp()?;
        }
        Ok(sdp)
    }

    /// The session-level `c=` address.
    pub fn session_connection(&self) -> Result<Option<IpAddr>, SdpError> {
        self.session.iter().find(|l| l.kind() == b'c').map(|l| connection_address(l.value())).transpose()
    }

    /// The `o=` username.
    pub fn origin_username(&self) -> Option<&str> {
        self.session.iter().find(|l| l.kind() == b'o').and_then(|l| l.value().split(' ').next())
    }

    /// The `s=` value.
    pub fn session_name(&self) -> Option<&str> {
        self.session.iter().find(|l| l.kind() == b's').map(Line::value)
    }

    /// Whether any ICE attribute is present.
    pub fn has_ice(&self) -> bool {
        let ice = |l: &Line| ICE_ATTRIBUTES.iter().any(|a| l.is_attribute(a));
        self.session.iter().any(ice) || self.media.iter().any(|m| m.lines.iter().any(ice))
    }
}

impl Media {
    fn own_connection(&self) -> Result<Option<IpAddr>, SdpError> {
        self.lines.iter().find(|l| l.kind() == b'c').map(|l| connection_address(l.value())).transpose()
    }

    /// The media's connection address: its own `c=`, else the session's.
    pub fn connection(&self, sdp: &Sdp) -> Option<IpAddr> {
        self.own_connection().ok().flatten().or_else(|| sdp.session_connection().ok().flatten())
    }

    /// The endpoint's RTP address (`None` for a disabled stream).
    pub fn rtp_endpoint(&self, sdp: &Sdp) -> Option<SocketAddr> {
        (self.line.port != 0).then(|| self.connection(sdp).map(|ip| SocketAddr::new(ip, self.line.port))).flatten()
    }

    /// `a=rtcp:<port> [IN IP4 <address>]` (RFC 3605).
    pub fn rtcp(&self) -> Result<Option<(u16, Option<IpAddr>)>, SdpError> {
        let Some(v) = self.lines.iter().find_map(|l| match l.attribute() {
            Some((n, Some(v))) if n.eq_ignore_ascii_case("rtcp") => Some(v),
            _ => None,
        }) else {
            return Ok(None);
        };
        let bad = || SdpError::Field { what: "a=rtcp is not `<port> [IN IP4|IP6 <address>]`", text: v.into() };
        let (port, rest) = v.split_once(' ').unwrap_or((v, ""));
        let port: u16 = port.trim().parse().map_err(|_| bad())?;
        let addr =
            if rest.trim().is_empty() { None } else { Some(connection_address(rest.trim()).map_err(|_| bad())?) };
        Ok(Some((port, addr)))
    }

    /// The endpoint's RTCP address, when `a=rtcp` names one.
    pub fn rtcp_endpoint(&self, sdp: &Sdp) -> Option<SocketAddr> {
        let (port, addr) = self.rtcp().ok().flatten()?;
        let ip = addr.or_else(|| self.connection(sdp))?;
        (port != 0).then(|| SocketAddr::new(ip, port))
    }

    /// `a=rtcp-mux` (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.lines.iter().any(|l| l.is_attribute("rtcp-mux"))
    }

    /// The values of the `a=crypto` lines (RFC 4568), as `a=crypto:...`.
    pub fn crypto_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter(|l| l.is_attribute("crypto")).map(|l| l.0.as_str())
    }

    /// RTP over UDP (`RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, `RTP/SAVPF`).
    pub fn is_rtp(&self) -> bool {
        matches!(
            self.line.proto.to_ascii_uppercase().as_str(),
            "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF" | "UDP/TLS/RTP/SAVP" | "UDP/TLS/RTP/SAVPF"
        )
    }

    /// DTLS-SRTP (`UDP/TLS/RTP/SAVP`, `UDP/TLS/RTP/SAVPF`): a WebRTC leg.
    pub fn is_dtls(&self) -> bool {
        self.line.proto.to_ascii_uppercase().starts_with("UDP/TLS/RTP/SAVP")
    }

    /// The value of this section's first `a=<name>`, else the session's.
    pub fn attribute<'a>(&'a self, sdp: &'a Sdp, name: &str) -> Option<&'a str> {
        let find = |lines: &'a [Line]| {
            lines.iter().find(|l| l.is_attribute(name)).map(|l| l.attribute().and_then(|a| a.1).unwrap_or(""))
        };
        find(&self.lines).or_else(|| find(&sdp.session))
    }

    /// SRTP with SDES keys (`RTP/SAVP`, `RTP/SAVPF`).
    pub fn is_srtp(&self) -> bool {
        self.line.proto.to_ascii_uppercase().starts_with("RTP/SAVP")
    }

    /// The first format's RTP clock rate: its `a=rtpmap`, else the static
    /// payload types of RFC 3551; 8000 when unknown.
    pub fn clock_rate(&self) -> u32 {
        let Some(first) = self.line.formats.split(' ').next() else { return 8000 };
        for l in &self.lines {
            if let Some(("rtpmap", Some(v))) = l.attribute() {
                let (pt, enc) = v.split_once(' ').unwrap_or((v, ""));
                if pt == first {
                    if let Some(rate) = enc.split('/').nth(1).and_then(|r| r.trim().parse().ok()) {
                        return rate;
                    }
                }
            }
        }
        match first {
            "6" => 16000,
            "10" | "11" => 44100,
            "14" | "25" | "26" | "28" | "31" | "32" | "33" | "34" => 90000,
            "16" => 11025,
            "17" => 22050,
            _ => 8000,
        }
    }
}

/// How `a=rtcp` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpAttribute {
    /// No `a=rtcp` line.
    Omit,
    /// `a=rtcp:<port>`.
    Port(u16),
    /// `a=rtcp:<port> IN IP4 <address>`.
    Full(u16, IpAddr),
}

/// What one media section becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOut {
    /// Left as received (a disabled stream).
    Unchanged,
    /// Disabled by mediafwd: port 0, nothing else changed.
    Reject,
    /// Relayed: mediafwd's transport in place of the endpoint's.
    Relay {
        /// Our address.
        address: IpAddr,
        /// Our RTP port.
        port: u16,
        /// The `a=rtcp` line.
        rtcp: RtcpAttribute,
        /// Write `a=rtcp-mux`.
        rtcp_mux: bool,
        /// A new transport protocol for the `m=` line.
        proto: Option<String>,
        /// `a=crypto` lines in place of the received ones (`None`: keep them).
        crypto: Option<Vec<String>>,
        /// Attribute lines added at the end of the section (a WebRTC leg's
        /// ICE and DTLS attributes); received lines of the same names go.
        attributes: Vec<String>,
    },
}

/// How a body is rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Replace the `o=` address with this.
    pub origin_address: Option<IpAddr>,
    /// Replace the `o=` username with this.
    pub origin_username: Option<String>,
    /// Replace the `o=` version with this.
    pub origin_version: Option<u64>,
    /// Replace the `s=` value with this.
    pub session_name: Option<String>,
    /// Rewrite the session-level `c=` even when every stream has its own.
    pub session_connection: bool,
    /// Remove the ICE attributes.
    pub strip_ice: bool,
    /// One entry per media section.
    pub media: Vec<MediaOut>,
    /// Session-level attribute lines added (`a=ice-lite`, `a=group:BUNDLE`);
    /// received ones of the same names go.
    pub session_attributes: Vec<String>,
}

fn push_line(out: &mut String, line: &str, eol: &str) {
    out.push_str(line);
    out.push_str(eol);
}

impl Sdp {
    /// The `o=` version.
    pub fn origin_version(&self) -> Option<u64> {
        self.session.iter().find(|l| l.kind() == b'o').and_then(|l| l.value().split(' ').nth(2)?.parse().ok())
    }

    /// The body written back with the changes of `rw`.
    pub fn rewrite(&self, rw: &Rewrite) -> String {
        let eol = self.eol;
        let is_ice = |l: &Line| rw.strip_ice && ICE_ATTRIBUTES.iter().any(|a| l.is_attribute(a));
        let name_of = |a: &str| a.strip_prefix("a=").map(|v| v.split(':').next().unwrap_or(v).to_string());
        let replaced = |l: &Line, added: &[String]| added.iter().filter_map(|a| name_of(a)).any(|n| l.is_attribute(&n));
        let is_dtls = |l: &Line| DTLS_ATTRIBUTES.iter().any(|a| l.is_attribute(a));
        // The session c= carries the first relayed stream's address, when some
        // stream relies on it or when asked.
        let relayed = |i: usize| match rw.media.get(i) {
            Some(MediaOut::Relay { address, .. }) => Some(*address),
            _ => None,
        };
        let first_relayed = (0..self.media.len()).find_map(relayed);
        let has_session_c = self.session.iter().any(|l| l.kind() == b'c');
        let relies = (0..self.media.len())
            .any(|i| relayed(i).is_some() && !self.media[i].lines.iter().any(|l| l.kind() == b'c'));
        let session_c = match first_relayed {
            Some(a) if has_session_c && (relies || rw.session_connection) => Some(a),
            _ => None,
        };

        let mut out = String::with_capacity(1024);
        for l in &self.session {
            match l.kind() {
                b'o' => push_line(&mut out, &rewrite_origin(l.value(), rw), eol),
                b's' if rw.session_name.is_some() => {
                    push_line(&mut out, &format!("s={}", rw.session_name.as_deref().unwrap_or("-")), eol)
                }
                b'c' if session_c.is_some() => {
                    let a = session_c.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                    push_line(&mut out, &format!("c=IN {} {a}", family(a)), eol)
                }
                _ if is_ice(l) || is_dtls(l) || replaced(l, &rw.session_attributes) => {}
                _ => push_line(&mut out, &l.0, eol),
            }
        }
        for a in &rw.session_attributes {
            push_line(&mut out, a, eol);
        }
        for (i, m) in self.media.iter().enumerate() {
            match rw.media.get(i).unwrap_or(&MediaOut::Unchanged) {
                MediaOut::Unchanged => {
                    m.line.clone().write(&mut out);
                    out.push_str(eol);
                    for l in m.lines.iter().filter(|l| !is_ice(l)) {
                        push_line(&mut out, &l.0, eol);
                    }
                }
                MediaOut::Reject => {
                    MediaLine { port: 0, ..m.line.clone() }.write(&mut out);
                    out.push_str(eol);
                    for l in m.lines.iter().filter(|l| !is_ice(l)) {
                        push_line(&mut out, &l.0, eol);
                    }
                }
                MediaOut::Relay { address, port, rtcp, rtcp_mux, proto, crypto, attributes } => {
                    let line = MediaLine {
                        port: *port,
                        proto: proto.clone().unwrap_or_else(|| m.line.proto.clone()),
                        ..m.line.clone()
                    };
                    line.write(&mut out);
                    out.push_str(eol);
                    let c_line = format!("c=IN {} {address}", family(*address));
                    let own_c = m.lines.iter().any(|l| l.kind() == b'c');
                    let needs_c = !own_c && session_c != Some(*address);
                    let rtcp_line = match rtcp {
                        RtcpAttribute::Omit => None,
                        RtcpAttribute::Port(p) => Some(format!("a=rtcp:{p}")),
                        RtcpAttribute::Full(p, a) => Some(format!("a=rtcp:{p} IN {} {a}", family(*a))),
                    };
                    let (mut rtcp_done, mut mux_done, mut crypto_done) = (false, false, false);
                    let mut c_done = !needs_c;
                    for l in &m.lines {
                        if !c_done && !matches!(l.kind(), b'i') {
                            push_line(&mut out, &c_line, eol);
                            c_done = true;
                        }
                        if l.kind() == b'c' {
                            push_line(&mut out, &c_line, eol);
                        } else if l.is_attribute("rtcp") {
                            if !rtcp_done {
                                if let Some(r) = &rtcp_line {
                                    push_line(&mut out, r, eol);
                                }
                                rtcp_done = true;
                            }
                        } else if l.is_attribute("rtcp-mux") {
                            if !mux_done && *rtcp_mux {
                                push_line(&mut out, "a=rtcp-mux", eol);
                            }
                            mux_done = true;
                        } else if l.is_attribute("crypto") && crypto.is_some() {
                            if !crypto_done {
                                for c in crypto.iter().flatten() {
                                    push_line(&mut out, c, eol);
                                }
                                crypto_done = true;
                            }
                        } else if !is_ice(l) && !is_dtls(l) && !replaced(l, attributes) {
                            push_line(&mut out, &l.0, eol);
                        }
                    }
                    if !c_done {
                        push_line(&mut out, &c_line, eol);
                    }
                    if !rtcp_done {
                        if let Some(r) = &rtcp_line {
                            push_line(&mut out, r, eol);
                        }
                    }
                    if !mux_done && *rtcp_mux {
                        push_line(&mut out, "a=rtcp-mux", eol);
                    }
                    if !crypto_done {
                        for c in crypto.iter().flatten() {
                            push_line(&mut out, c, eol);
                        }
                    }
                    for a in attributes {
                        push_line(&mut out, a, eol);
                    }
                }
            }
        }
        out
    }
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`
fn rewrite_origin(value: &str, rw: &Rewrite) -> String {
    let mut f: Vec<String> = value.split(' ').map(str::to_string).collect();
    if f.len() == 6 {
        if let Some(u) = &rw.origin_username {
            f[0] = u.clone();
        }
        if let Some(v) = rw.origin_version {
            f[2] = v.to_string();
        }
        if let Some(a) = rw.origin_address {
            f[4] = family(a).into();
            f[5] = a.to_string();
        }
    }
    format!("o={}", f.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.18.0.2\r\n\
s=call\r\n\
c=IN IP4 198.18.0.2\r\n\
t=0 0\r\n\
a=ice-ufrag:abcd\r\n\
m=audio 16000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp:16001\r\n\
a=candidate:1 1 UDP 2130706431 198.18.0.2 16000 typ host\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_transport() {
        let sdp = Sdp::parse(OFFER).unwrap();
        assert_eq!(sdp.eol, "\r\n");
        assert_eq!(sdp.media.len(), 2);
        let a = &sdp.media[0];
        assert_eq!(a.rtp_endpoint(&sdp), Some("198.18.0.2:16000".parse().unwrap()));
        assert_eq!(a.rtcp_endpoint(&sdp), Some("198.18.0.2:16001".parse().unwrap()));
        assert!(!a.rtcp_mux() && a.is_rtp() && !a.is_srtp());
        assert_eq!(a.clock_rate(), 8000);
        assert_eq!(sdp.media[1].rtp_endpoint(&sdp), None);
        assert_eq!(sdp.media[1].clock_rate(), 90000);
        assert!(sdp.has_ice());
        assert_eq!(sdp.origin_username(), Some("alice"));
        assert_eq!(sdp.origin_version(), Some(2890844526));
    }

    #[test]
    fn rewrites_addresses_ports_and_rtcp() {
        let sdp = Sdp::parse(OFFER).unwrap();
        let rw = Rewrite {
            origin_address: Some(ip("198.19.0.1")),
            session_connection: true,
            strip_ice: true,
            media: vec![
                MediaOut::Relay {
                    address: ip("198.19.0.1"),
                    port: 30000,
                    rtcp: RtcpAttribute::Port(30001),
                    rtcp_mux: false,
                    proto: None,
                    crypto: None,
                    attributes: vec![],
                },
                MediaOut::Unchanged,
            ],
            ..Default::default()
        };
        let out = sdp.rewrite(&rw);
        assert_eq!(
            out,
            "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.19.0.1\r\n\
s=call\r\n\
c=IN IP4 198.19.0.1\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp:30001\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n"
        );
        assert!(!Sdp::parse(&out).unwrap().has_ice());
    }

    #[test]
    fn ice_attributes_leave_unchanged_sections_too() {
        // Found by fuzzing (sdp_rewrite): a section left as received kept
        // its candidates when the rest of the body lost its ICE attributes.
        let text = "v=0\r\no=- 1 1 IN IP4 198.18.0.2\r\ns=-\r\nc=IN IP4 198.18.0.2\r\nt=0 0\r\n\
                    m=audio 16000 RTP/AVP 0\r\na=ice-ufrag:abcd\r\n\
                    m=video 0 RTP/AVP 96\r\na=candidate:1 1 UDP 2130706431 198.18.0.2 16020 typ host\r\n";
        let sdp = Sdp::parse(text).unwrap();
        let relay = MediaOut::Relay {
            address: ip("198.19.0.1"),
            port: 30000,
            rtcp: RtcpAttribute::Omit,
            rtcp_mux: false,
            proto: None,
            crypto: None,
            attributes: vec![],
        };
        let out =
            sdp.rewrite(&Rewrite { strip_ice: true, media: vec![relay, MediaOut::Unchanged], ..Default::default() });
        assert!(!Sdp::parse(&out).unwrap().has_ice(), "{out}");
        assert!(out.ends_with("m=video 0 RTP/AVP 96\r\n"), "{out}");
    }

    #[test]
    fn media_level_connection_and_mux_and_crypto() {
        let text = "v=0\no=- 1 1 IN IP6 2001:db8:1::2\ns=-\nt=0 0\nm=audio 5004 RTP/SAVP 8\nc=IN IP6 2001:db8:1::2\na=rtcp-mux\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\n";
        let sdp = Sdp::parse(text).unwrap();
        assert_eq!(sdp.eol, "\n");
        let m = &sdp.media[0];
        assert!(m.rtcp_mux() && m.is_srtp());
        assert_eq!(m.crypto_lines().count(), 2);
        assert_eq!(m.rtp_endpoint(&sdp), Some("[2001:db8:1::2]:5004".parse().unwrap()));
        let out = sdp.rewrite(&Rewrite {
            media: vec![MediaOut::Relay {
                address: ip("198.19.0.1"),
                port: 30002,
                rtcp: RtcpAttribute::Full(30002, ip("198.19.0.1")),
                rtcp_mux: true,
                proto: Some("RTP/AVP".into()),
                crypto: Some(vec![]),
                attributes: vec![],
            }],
            ..Default::default()
        });
        assert_eq!(
            out,
            "v=0\no=- 1 1 IN IP6 2001:db8:1::2\ns=-\nt=0 0\nm=audio 30002 RTP/AVP 8\nc=IN IP4 198.19.0.1\na=rtcp-mux\na=rtcp:30002 IN IP4 198.19.0.1\n"
        );
    }

    #[test]
    fn a_stream_without_its_own_connection_gets_one_when_the_session_one_differs() {
        let text = "v=0\r\no=- 1 1 IN IP4 198.18.0.2\r\ns=-\r\nc=IN IP4 198.18.0.2\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nm=audio 5006 RTP/AVP 0\r\nc=IN IP4 198.18.0.3\r\n";
        let sdp = Sdp::parse(text).unwrap();
        let relay = |port| MediaOut::Relay {
            address: ip("198.19.0.1"),
            port,
            rtcp: RtcpAttribute::Omit,
            rtcp_mux: false,
            proto: None,
            crypto: None,
            attributes: vec![],
        };
        let out = sdp.rewrite(&Rewrite { media: vec![relay(30000), relay(30002)], ..Default::default() });
        let back = Sdp::parse(&out).unwrap();
        assert_eq!(back.media[0].rtp_endpoint(&back), Some("198.19.0.1:30000".parse().unwrap()));
        assert_eq!(back.media[1].rtp_endpoint(&back), Some("198.19.0.1:30002".parse().unwrap()));
        assert!(!out.lines().any(|l| l.starts_with("c=") && l.contains("198.18")), "{out}");
    }

    #[test]
    fn refusals() {
        assert_eq!(Sdp::parse("o=- 1 1 IN IP4 1.2.3.4\r\n"), Err(SdpError::NoVersion));
        assert_eq!(Sdp::parse(""), Err(SdpError::NoVersion));
        assert!(matches!(Sdp::parse("v=0\r\nnonsense\r\n"), Err(SdpError::Syntax { line: 2, .. })));
        assert!(Sdp::parse("v=0\r\nc=IN IP4 host.example\r\n").is_err());
        assert!(Sdp::parse("v=0\r\nc=IN IP6 198.18.0.1\r\n").is_err());
        assert!(Sdp::parse("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
        assert!(Sdp::parse("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:abc\r\n").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in "(v=0\r\n)?([a-z]=[ -~]{0,30}\r?\n){0,12}") {
            if let Ok(sdp) = Sdp::parse(&text) {
                let media = sdp.media.iter().map(|_| MediaOut::Relay {
                    address: ip("198.19.0.1"), port: 30000, rtcp: RtcpAttribute::Port(30001),
                    rtcp_mux: true, proto: None, crypto: Some(vec![]), attributes: vec![],
                }).collect();
                let out = sdp.rewrite(&Rewrite { strip_ice: true, origin_address: Some(ip("198.19.0.1")), media, ..Default::default() });
                let again = Sdp::parse(&out);
                prop_assert!(again.is_ok(), "{out:?}");
            }
            for m in Sdp::parse(&text).map(|s| s.media).unwrap_or_default() {
                let _ = m.clock_rate();
            }
        }
    }
}
