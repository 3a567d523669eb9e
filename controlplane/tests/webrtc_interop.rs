//! aiortc, a real ICE and DTLS-SRTP stack, calls a plain RTP endpoint
//! through this build's `mediafwd` (af_packet ports on veths into
//! namespaces, ng driven with Kamailio's WebRTC flag sets):
//! `scripts/webrtc-interop.sh`, which makes and removes its namespaces and
//! makes aiortc's virtualenv when missing (`make webrtc-venv`). Both DTLS
//! roles, both call directions, tones both ways; a wrong fingerprint and a
//! wrong ice-pwd refused and counted. Needs root.

use std::process::Command;

/// `key=value` of a `webrtc:` line.
fn value<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[test]
fn aiortc_calls_a_plain_rtp_endpoint_through_mediafwd() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/webrtc-interop.sh");
    let out = Command::new(script).env("MFW_BIN", env!("CARGO_BIN_EXE_mediafwd")).output().expect("the script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "webrtc-interop.sh failed\n{stdout}\n{stderr}");
    print!("{stdout}");
    let connected: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("webrtc: peer=aiortc ice=ok dtls=ok ")).collect();
    assert_eq!(connected.len(), 3, "offer (mediafwd passive), offer (active), answer\n{stdout}");
    for l in connected {
        assert!(value(l, "suite").starts_with("SRTP_"), "{l}");
        let (sent, received): (u32, u32) = (value(l, "sent").parse().unwrap(), value(l, "received").parse().unwrap());
        assert!(sent > 0 && received > 0, "{l}");
    }
    for case in ["wrong-fingerprint", "wrong-ice-pwd"] {
        let l =
            stdout.lines().find(|l| l.contains(&format!("case={case} "))).unwrap_or_else(|| panic!("{case}\n{stdout}"));
        assert_ne!(value(l, "dtls"), "ok", "{l}");
        assert!(value(l, "refused").parse::<u32>().unwrap() >= 1, "{l}");
    }
}
