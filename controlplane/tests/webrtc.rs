//! WebRTC legs end to end over ng, on a real node (ring ports, workers,
//! slow path, control core; `common/ng_node.rs`): a WebRTC peer made of
//! OpenSSL's DTLS (the `mediafwd-dtls` endpoint with its own certificate)
//! and STUN checks built here talks through mediafwd to a plain RTP
//! endpoint, with the flag sets Kamailio's WebRTC configurations send, in
//! both call directions and both DTLS roles. Refusals (a wrong ice-pwd, a
//! certificate that is not the a=fingerprint's) are checked in the
//! counters.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mediafwd_controlplane::control::Request;
use mediafwd_controlplane::ng::bencode::{self, Dict, Value};
use mediafwd_controlplane::ng::{self};
use mediafwd_dataplane::craft::rtp_packet;
use mediafwd_dataplane::srtp::{Context, Policy, StreamState};
use mediafwd_dataplane::wire::{rtp, stun};
use mediafwd_dtls::{Endpoint, Fingerprint, Identity, Role, SrtpKeys};

#[path = "common/ng_node.rs"]
mod ng_node;

use ng_node::{node, WAIT};

struct Harness {
    _rt: tokio::runtime::Runtime,
    sock: std::net::UdpSocket,
    ng: ng::NgListening,
    seq: u32,
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let n = node();
        let ng = ng::serve(&n.config, rt.handle(), n.control.clone(), &n.events).unwrap().unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Harness { _rt: rt, sock, ng, seq: 0 }
    }

    /// The SDP of an ok reply to `req`.
    fn sdp(&mut self, req: &[(&str, Value)]) -> String {
        self.seq += 1;
        let cookie = format!("{}_{}", std::process::id(), self.seq);
        let mut msg = format!("{cookie} ").into_bytes();
        let d: Dict = req.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect();
        msg.extend(Value::Dict(d).encode());
        self.sock.send_to(&msg, self.ng.udp).unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.sock.recv_from(&mut buf).expect("a reply");
        let Value::Dict(d) = bencode::decode(&buf[cookie.len() + 1..n]).unwrap() else { panic!("not a dictionary") };
        let text = |k: &str| d.get(k.as_bytes()).and_then(Value::as_str).unwrap_or_default().to_string();
        assert_eq!(text("result"), "ok", "{}: {}", text("result"), text("error-reason"));
        text("sdp")
    }
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn l(items: &[&str]) -> Value {
    Value::List(items.iter().map(Value::str).collect())
}

/// The flags of Kamailio's `rtpengine_offer("replace-origin
/// replace-session-connection ICE=remove RTP/AVP DTLS=off
/// DTLS-reverse=passive SDES-off rtcp-mux-demux direction=public
/// direction=private")` for an offer from the browser side.
fn offer_from_web(call: &str, from: &str, sdp: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("command", s("offer")),
        ("call-id", s(call)),
        ("from-tag", s(from)),
        ("sdp", s(sdp)),
        ("replace", l(&["origin", "session-connection"])),
        ("ICE", s("remove")),
        ("transport-protocol", s("RTP/AVP")),
        ("DTLS", s("off")),
        ("DTLS-reverse", s("passive")),
        ("SDES", l(&["off"])),
        ("rtcp-mux", l(&["demux"])),
        ("direction", l(&["public", "private"])),
    ]
}

/// `rtpengine_answer("replace-origin replace-session-connection ICE=force
/// UDP/TLS/RTP/SAVPF DTLS=passive SDES-off rtcp-mux-require generate-mid")`
/// for the answer from the SIP side.
fn answer_from_sip(call: &str, from: &str, to: &str, sdp: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("command", s("answer")),
        ("call-id", s(call)),
        ("from-tag", s(from)),
        ("to-tag", s(to)),
        ("sdp", s(sdp)),
        ("replace", l(&["origin", "session-connection"])),
        ("ICE", s("force")),
        ("transport-protocol", s("UDP/TLS/RTP/SAVPF")),
        ("DTLS", s("passive")),
        ("SDES", l(&["off"])),
        ("rtcp-mux", l(&["require"])),
        ("flags", l(&["generate-mid", "no-such-flag"])),
    ]
}

fn sip_sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=sip 100 100 IN IP4 {ip}\r\ns=talk\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// A browser-like WebRTC peer at `addr` on the public wire.
struct Peer {
    addr: SocketAddr,
    identity: Identity,
    ufrag: String,
    pwd: String,
}

impl Peer {
    fn new(port: u16) -> Peer {
        Peer {
            addr: format!("198.18.0.2:{port}").parse().unwrap(),
            identity: Identity::generate("browser").unwrap(),
            ufrag: format!("W{port}"),
            pwd: "browserpassword012345678".into(),
        }
    }

    /// Its SDP, announcing `fingerprint` and `setup`.
    fn sdp(&self, fingerprint: Fingerprint, setup: &str) -> String {
        format!(
            "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\na=fingerprint:{fingerprint}\r\n\
             a=setup:{setup}\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n\
             a=candidate:1 1 udp 2122260223 {} {} typ host\r\n",
            self.ufrag,
            self.pwd,
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// A Binding request from it as the controlling agent, nominating.
    fn check(&self, ours: &Ours, pwd: &str) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut w = stun::Writer::new(&mut buf, stun::msg_type::BINDING_REQUEST, &[3; 12]).unwrap();
        w.attribute(stun::attr::USERNAME, format!("{}:{}", ours.ufrag, self.ufrag).as_bytes()).unwrap();
        w.attribute(stun::attr::ICE_CONTROLLING, &7u64.to_be_bytes()).unwrap();
        w.attribute(stun::attr::PRIORITY, &0x6e00_01ffu32.to_be_bytes()).unwrap();
        w.attribute(stun::attr::USE_CANDIDATE, &[]).unwrap();
        w.integrity(pwd.as_bytes()).unwrap();
        w.fingerprint().unwrap();
        let n = w.finish();
        buf[..n].to_vec()
    }

    /// Sends a check signed with `pwd` (ours is right, RFC 8445 §7.2.2); the type of the node's response.
    fn ice(&self, ours: &Ours, pwd: &str) -> u16 {
        node().send(self.addr, ours.addr, &self.check(ours, pwd));
        let deadline = Instant::now() + WAIT;
        loop {
            for d in node().take(self.addr) {
                if let Ok(m) = stun::Message::new_checked(&d.payload[..]) {
                    if m.msg_type() == stun::msg_type::BINDING_SUCCESS {
                        assert!(m.verify_integrity(ours.pwd.as_bytes()), "signed with our ice-pwd");
                        let xma = m.find(stun::attr::XOR_MAPPED_ADDRESS).unwrap();
                        assert_eq!(stun::decode_xor_address(xma.value, &m.transaction_id()), Some(self.addr));
                    }
                    return m.msg_type();
                }
            }
            assert!(Instant::now() < deadline, "no STUN response in {WAIT:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Runs a DTLS handshake in `role` with the node's leg until it ends
    /// (the peer's keys) or `WAIT` passes (`None`).
    fn dtls(&self, ours: &Ours, role: Role) -> Option<SrtpKeys> {
        let mut ep = Endpoint::new(&self.identity, role, ours.fingerprint, Instant::now()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for d in ep.take_outgoing() {
                node().send(self.addr, ours.addr, &d);
            }
            for d in node().take(self.addr) {
                if (20..64).contains(&d.payload[0]) {
                    assert_eq!(d.src, ours.addr);
                    if ep.receive(&d.payload, Instant::now()).is_err() {
                        return None;
                    }
                }
            }
            if let Some(k) = ep.keys().cloned() {
                // The last flight may still be on its way: send it.
                for d in ep.take_outgoing() {
                    node().send(self.addr, ours.addr, &d);
                }
                return Some(k);
            }
            let _ = ep.poll(Instant::now());
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

/// What our SDP towards the peer says.
#[derive(Debug)]
struct Ours {
    addr: SocketAddr,
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    setup: String,
}

fn attr<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines().find_map(|l| l.strip_prefix(&format!("a={name}:")))
}

/// Reads our WebRTC section and checks what it must carry.
fn ours(sdp: &str) -> Ours {
    assert!(sdp.contains("\r\nm=audio ") && sdp.contains(" UDP/TLS/RTP/SAVPF "), "{sdp}");
    for line in ["a=ice-lite", "a=group:BUNDLE 0", "a=mid:0", "a=rtcp-mux", "a=end-of-candidates"] {
        assert!(sdp.lines().any(|l| l == line), "{line} in\n{sdp}");
    }
    assert!(!sdp.contains("a=crypto"), "{sdp}");
    let cand: Vec<&str> = attr(sdp, "candidate").expect("a candidate").split(' ').collect();
    assert_eq!((cand[2], cand[6], cand[7]), ("UDP", "typ", "host"), "{sdp}");
    let addr: SocketAddr = format!("{}:{}", cand[4], cand[5]).parse().unwrap();
    let m_port: u16 =
        sdp.lines().find_map(|l| l.strip_prefix("m=audio ")).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(m_port, addr.port());
    assert_eq!(sdp.lines().filter(|l| l.starts_with("a=fingerprint:")).count(), 1, "only ours\n{sdp}");
    Ours {
        addr,
        ufrag: attr(sdp, "ice-ufrag").unwrap().to_string(),
        pwd: attr(sdp, "ice-pwd").unwrap().to_string(),
        fingerprint: Fingerprint::parse_sdp(attr(sdp, "fingerprint").unwrap()).unwrap(),
        setup: attr(sdp, "setup").unwrap().to_string(),
    }
}

/// The plain side's address in our SDP towards the SIP endpoint, checked plain.
fn plain(sdp: &str) -> SocketAddr {
    assert!(sdp.contains(" RTP/AVP 0"), "{sdp}");
    for gone in ["a=fingerprint", "a=setup", "a=ice-", "a=candidate", "a=crypto", "UDP/TLS"] {
        assert!(!sdp.contains(gone), "{gone} in\n{sdp}");
    }
    let ip = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).unwrap();
    let port = sdp.lines().find_map(|l| l.strip_prefix("m=audio ")).unwrap().split(' ').next().unwrap();
    format!("{ip}:{port}").parse().unwrap()
}

fn rtp(ssrc: u32, seq: u16, fill: u8) -> Vec<u8> {
    let mut b = vec![0u8; 172];
    let n = rtp_packet(&mut b, ssrc, seq, u32::from(seq) * 160, 0, 160, fill);
    b.truncate(n);
    b
}

/// SRTP one way, keyed by a DTLS-exported master key.
struct Srtp(Context, StreamState);

impl Srtp {
    fn new(keys: &SrtpKeys, local: bool) -> Srtp {
        let k = if local { &keys.local } else { &keys.remote };
        Srtp(Context::new(&Policy::new(keys.suite, k.clone())).unwrap(), StreamState::new())
    }

    fn seal(&mut self, p: &[u8]) -> Vec<u8> {
        let mut b = p.to_vec();
        b.resize(p.len() + 32, 0);
        let n = self.0.protect_rtp(&mut self.1, &mut b, p.len()).unwrap();
        b.truncate(n);
        b
    }

    fn open(&mut self, p: &[u8]) -> Option<Vec<u8>> {
        let mut b = p.to_vec();
        let n = self.0.unprotect_rtp(&mut self.1, &mut b, p.len()).ok()?;
        b.truncate(n);
        Some(b)
    }
}

/// Waits until the session's leg towards the peer runs SRTP on the
/// handshake's keys.
fn wait_keyed(call: &str) {
    let id = call.to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let v = node().session(&id).expect("the session");
        let web = v.legs.iter().find(|l| l.webrtc.is_some()).expect("a WebRTC leg");
        if web.srtp_inbound.is_some() && web.webrtc.as_ref().unwrap().dtls == "connected" {
            return;
        }
        assert!(Instant::now() < deadline, "the leg was not keyed in {WAIT:?}: {web:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Media both ways, `n` packets each: the peer's SRTP arrives plain at the
/// SIP endpoint, the SIP endpoint's RTP arrives at the peer as SRTP that
/// opens with its keys; the payloads round-trip. (sent, received) by the peer.
fn media(peer: &Peer, keys: &SrtpKeys, ours: &Ours, sip: SocketAddr, relay_sip: SocketAddr, n: u16) -> (u16, u16) {
    let (mut seal, mut open) = (Srtp::new(keys, true), Srtp::new(keys, false));
    let n0 = node();
    // The first may wait on ARP: send until one passes.
    let (first, tries) = n0.relay_first(peer.addr, ours.addr, sip, |i| seal.seal(&rtp(0x5eb, i, 0x11)));
    assert_eq!(first.payload, rtp(0x5eb, first_seq(&first.payload), 0x11), "plain RTP, the payload intact");
    for i in tries..tries + n - 1 {
        n0.send(peer.addr, ours.addr, &seal.seal(&rtp(0x5eb, i, 0x11)));
    }
    let at_sip = n0.take_n(sip, usize::from(n - 1));
    assert!(at_sip
        .iter()
        .all(|d| d.src == relay_sip
            && rtp::Packet::new_checked(&d.payload[..]).is_ok_and(|p| p.payload() == [0x11; 160])));
    // The other way: plain from SIP, SRTP to the peer.
    let (first, tries) = n0.relay_first(sip, relay_sip, peer.addr, |i| rtp(0x51b, i, 0x22));
    let mut received = 0u16;
    let mut check = |payload: &[u8]| {
        let p = open.open(payload).expect("SRTP that opens with the peer's keys");
        assert_eq!(&p[12..], &[0x22; 160][..], "the payload round-trips");
        received += 1;
    };
    check(&first.payload);
    for i in tries..tries + n - 1 {
        n0.send(sip, relay_sip, &rtp(0x51b, i, 0x22));
    }
    for d in n0.take_n(peer.addr, usize::from(n - 1)) {
        assert_eq!(d.src, ours.addr);
        check(&d.payload);
    }
    (tries + n - 1, received)
}

fn first_seq(p: &[u8]) -> u16 {
    rtp::Packet::new_checked(p).unwrap().sequence_number()
}

/// A counter of `/metrics`.
fn metric(series: &str) -> u64 {
    let text = node().ask(Request::Metrics).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

const REFUSED_CHECKS: &str = "mediafwd_slowpath_messages_total{direction=\"in\",type=\"stun_request_refused\"}";
const MISMATCHES: &str = "mediafwd_webrtc_dtls_handshakes_total{outcome=\"fingerprint_mismatch\"}";
const COMPLETED: &str = "mediafwd_webrtc_dtls_handshakes_total{outcome=\"completed\"}";

#[test]
fn browser_calls_a_sip_phone_and_mediafwd_is_passive() {
    let mut h = Harness::new();
    let peer = Peer::new(50010);
    let sip: SocketAddr = "198.19.0.2:26010".parse().unwrap();
    let call = "webrtc-a";
    let to_sip = h.sdp(&offer_from_web(call, "web", &peer.sdp(peer.identity.fingerprint(), "actpass")));
    let relay_sip = plain(&to_sip);
    assert!(!to_sip.contains("a=rtcp-mux"), "demuxed towards SIP\n{to_sip}");
    let to_web = h.sdp(&answer_from_sip(call, "web", "sip", &sip_sdp("198.19.0.2", sip.port())));
    let ours = ours(&to_web);
    assert_eq!(ours.setup, "passive");
    assert_eq!(ours.addr.ip().to_string(), "198.18.0.1");
    // A wrong ice-pwd is answered 401 and counted; the right one nominates.
    let refused = metric(REFUSED_CHECKS);
    assert_eq!(peer.ice(&ours, "not-the-password-at-all"), stun::msg_type::BINDING_ERROR);
    assert_eq!(metric(REFUSED_CHECKS), refused + 1);
    // Passive: nothing from mediafwd before the peer's ClientHello.
    std::thread::sleep(Duration::from_millis(300));
    assert!(node().take(peer.addr).is_empty(), "no stray ClientHello");
    assert_eq!(peer.ice(&ours, &ours.pwd), stun::msg_type::BINDING_SUCCESS);
    // Nominated but not keyed yet: the SIP side's media is not sent to the
    // peer in clear.
    // Over 300 ms, time for the peer's address to be resolved.
    for i in 0..30 {
        node().send(sip, relay_sip, &rtp(0x51b, 900 + i, 0x22));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(node().take(peer.addr).is_empty(), "media before the keys went to the peer");
    let completed = metric(COMPLETED);
    let keys = peer.dtls(&ours, Role::Client).expect("the handshake completes");
    wait_keyed(call);
    assert!(metric(COMPLETED) > completed);
    let (sent, received) = media(&peer, &keys, &ours, sip, relay_sip, 50);
    assert_eq!(received, 50);
    println!("webrtc: peer=openssl role=passive ice=ok dtls=ok suite={} sent={sent} received={received}", keys.suite);
}

#[test]
fn sip_phone_calls_a_browser_and_mediafwd_is_active() {
    let mut h = Harness::new();
    let peer = Peer::new(50020);
    let sip: SocketAddr = "198.19.0.2:26020".parse().unwrap();
    let call = "webrtc-b";
    // The mirror flags: the SIP side offers, the browser answers.
    let offer = vec![
        ("command", s("offer")),
        ("call-id", s(call)),
        ("from-tag", s("sip")),
        ("sdp", s(&sip_sdp("198.19.0.2", sip.port()))),
        ("replace", l(&["origin", "session-connection"])),
        ("ICE", s("force")),
        ("transport-protocol", s("UDP/TLS/RTP/SAVPF")),
        ("SDES", l(&["off"])),
        ("rtcp-mux", l(&["offer"])),
        ("flags", l(&["generate-mid"])),
        ("direction", l(&["private", "public"])),
    ];
    let to_web = h.sdp(&offer);
    let ours = ours(&to_web);
    assert_eq!(ours.setup, "actpass");
    // The browser answers passive: mediafwd is the DTLS client.
    let answer = vec![
        ("command", s("answer")),
        ("call-id", s(call)),
        ("from-tag", s("sip")),
        ("to-tag", s("web")),
        ("sdp", s(&peer.sdp(peer.identity.fingerprint(), "passive"))),
        ("replace", l(&["origin", "session-connection"])),
        ("ICE", s("remove")),
        ("transport-protocol", s("RTP/AVP")),
        ("DTLS", s("off")),
        ("SDES", l(&["off"])),
        ("rtcp-mux", l(&["demux"])),
    ];
    let to_sip = h.sdp(&answer);
    let relay_sip = plain(&to_sip);
    assert_eq!(peer.ice(&ours, &ours.pwd), stun::msg_type::BINDING_SUCCESS);
    let keys = peer.dtls(&ours, Role::Server).expect("mediafwd's ClientHello comes, the handshake completes");
    wait_keyed(call);
    let (sent, received) = media(&peer, &keys, &ours, sip, relay_sip, 50);
    assert_eq!(received, 50);
    println!("webrtc: peer=openssl role=active ice=ok dtls=ok suite={} sent={sent} received={received}", keys.suite);
}

#[test]
fn a_certificate_that_is_not_the_fingerprint_is_refused() {
    let mut h = Harness::new();
    let peer = Peer::new(50030);
    let call = "webrtc-c";
    // The SDP announces another certificate than the one the peer presents.
    let other = Identity::generate("someone else").unwrap().fingerprint();
    h.sdp(&offer_from_web(call, "web", &peer.sdp(other, "actpass")));
    let to_web = h.sdp(&answer_from_sip(call, "web", "sip", &sip_sdp("198.19.0.2", 26030)));
    let ours = ours(&to_web);
    let before = metric(MISMATCHES);
    assert_eq!(peer.ice(&ours, &ours.pwd), stun::msg_type::BINDING_SUCCESS);
    let _ = peer.dtls(&ours, Role::Client);
    let deadline = Instant::now() + WAIT;
    while metric(MISMATCHES) == before {
        assert!(Instant::now() < deadline, "the mismatch was not counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let v = node().session(call).unwrap();
    let web = v.legs.iter().find_map(|l| l.webrtc.clone()).unwrap();
    assert_eq!(web.dtls, "failed");
    assert!(v.legs.iter().all(|l| l.srtp_inbound.is_none()), "no keys programmed");
}
