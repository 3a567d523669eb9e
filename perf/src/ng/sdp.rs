//! The few SDP lines a media relay reads and rewrites: one audio stream,
//! G.711 PCMU, its connection address and port, and SDES keys.

use std::net::{IpAddr, SocketAddr};

use mediafwd_dataplane::srtp::sdes::CryptoAttribute;

/// The SDP of an endpoint offering or answering one PCMU audio stream at
/// `media` (RTP/AVP, or RTP/SAVP with `crypto`), `ptime` milliseconds.
pub fn audio(session: &str, media: SocketAddr, ptime: u32, crypto: Option<&CryptoAttribute>) -> String {
    let family = if media.is_ipv4() { "IP4" } else { "IP6" };
    let ip = media.ip();
    let proto = if crypto.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
    let mut sdp = format!(
        "v=0\r\no=- {session} 1 IN {family} {ip}\r\ns=rtpgen\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:{ptime}\r\na=sendrecv\r\n",
        port = media.port()
    );
    if let Some(c) = crypto {
        sdp.push_str(&c.to_string());
        sdp.push_str("\r\n");
    }
    sdp
}

/// What an SDP says about its first audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStream {
    /// Where to send its RTP.
    pub addr: SocketAddr,
    /// The transport (`RTP/AVP`, `RTP/SAVP`, ...).
    pub proto: String,
    /// Its `a=crypto` lines, as given.
    pub crypto: Vec<String>,
}

/// Reads the first audio stream of `sdp`: the media-level connection line
/// if it has one, else the session-level one.
pub fn first_audio(sdp: &str) -> Option<AudioStream> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media: Option<(u16, String)> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut crypto = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("m=") {
            if media.is_some() {
                break; // only the first media section
            }
            let mut f = rest.split_whitespace();
            if f.next() != Some("audio") {
                continue;
            }
            let port = f.next()?.split('/').next()?.parse().ok()?;
            media = Some((port, f.next()?.to_string()));
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest.split_whitespace().nth(2)?.split('/').next()?.parse().ok()?;
            if media.is_some() {
                media_ip = Some(ip);
            } else {
                session_ip = Some(ip);
            }
        } else if line.starts_with("a=crypto:") && media.is_some() {
            crypto.push(line.to_string());
        }
    }
    let (port, proto) = media?;
    Some(AudioStream { addr: SocketAddr::new(media_ip.or(session_ip)?, port), proto, crypto })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediafwd_dataplane::srtp::{MasterKey, Suite};

    #[test]
    fn offer_and_its_reading() {
        let sdp = audio("17", "198.18.64.1:10000".parse().unwrap(), 20, None);
        assert!(sdp.contains("m=audio 10000 RTP/AVP 0\r\n"));
        assert!(sdp.contains("c=IN IP4 198.18.64.1\r\n"));
        let a = first_audio(&sdp).unwrap();
        assert_eq!(a.addr, "198.18.64.1:10000".parse().unwrap());
        assert_eq!(a.proto, "RTP/AVP");
        assert!(a.crypto.is_empty());
    }

    #[test]
    fn crypto_makes_it_savp() {
        let key = MasterKey::new(Suite::AesCm128HmacSha1_80, &[1; 16], &[2; 14]).unwrap();
        let c = CryptoAttribute { tag: 1, suite: Suite::AesCm128HmacSha1_80, keys: vec![key], window_size_hint: None };
        let sdp = audio("1", "198.18.64.1:10000".parse().unwrap(), 20, Some(&c));
        let a = first_audio(&sdp).unwrap();
        assert_eq!(a.proto, "RTP/SAVP");
        assert_eq!(a.crypto.len(), 1);
        assert_eq!(CryptoAttribute::parse(&a.crypto[0]).unwrap(), c);
    }

    #[test]
    fn media_connection_wins_over_session_connection() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\nc=IN IP4 198.18.0.1\r\nt=0 0\r\n\
                   m=audio 30004 RTP/AVP 0 8\r\nc=IN IP4 198.19.0.1\r\na=rtcp:30005\r\n\
                   m=video 30006 RTP/AVP 96\r\nc=IN IP4 198.19.0.9\r\n";
        assert_eq!(first_audio(sdp).unwrap().addr, "198.19.0.1:30004".parse().unwrap());
        let no_audio = "v=0\r\nc=IN IP4 198.18.0.1\r\nm=video 1 RTP/AVP 96\r\n";
        assert_eq!(first_audio(no_audio), None);
    }
}
