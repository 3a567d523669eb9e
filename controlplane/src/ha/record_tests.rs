use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mediafwd_dataplane::flow::{Command, FlowKey, LatchMode};
use mediafwd_dataplane::srtp::{MasterKey, Mki, Policy, Suite};

use super::*;
use crate::ha::restore::replay;
use crate::ha::seal::Sealer;
use crate::session::test_support::Hops;
use crate::session::{Leg, SessionManager};

fn manager() -> SessionManager {
    crate::session::test_support::manager("30000-30099")
}

fn policy(fill: u8, suite: Suite, mki: Option<u64>) -> Policy {
    let len = suite.master_key_len() + suite.master_salt_len();
    let mut key = MasterKey::from_key_salt(suite, &vec![fill; len]).unwrap().with_lifetimes(1 << 40, 1 << 30);
    if let Some(m) = mki {
        key = key.with_mki(Mki::new(m, 2).unwrap());
    }
    Policy::new(suite, key)
}

fn leg(label: &str, iface: &str, remote: Option<&str>) -> LegRequest {
    LegRequest {
        label: label.into(),
        interface: iface.into(),
        local_port: None,
        local_address: None,
        prefer_v6: false,
        remote: remote.map(|r| r.parse().unwrap()),
        remote_rtcp: None,
        rtcp_mux: false,
        latch: LatchMode::Off,
        strict_source: false,
        clock_rate: 8000,
        srtp_inbound: None,
        srtp_outbound: None,
    }
}

/// A node's sessions with what a record carries: SRTP both ways with an
/// MKI, a latched leg, a held leg, rtcp-mux, IPv6, a static port.
fn busy_node() -> SessionManager {
    let mut m = manager();
    let now = Instant::now();
    // Some churn first, so the ports in use are not the first ones.
    for i in 0..3 {
        let id = format!("gone-{i}");
        m.create(&id, [leg("a", "public", None), leg("b", "private", None)], None, None, &mut Hops, now).unwrap();
    }
    let mut a = leg("caller", "public", None);
    a.latch = LatchMode::Follow;
    a.strict_source = true;
    a.srtp_inbound = Some(policy(1, Suite::AesCm128HmacSha1_80, Some(7)));
    a.srtp_outbound = Some(policy(2, Suite::AeadAes256Gcm, None));
    let mut b = leg("callee", "private", Some("198.19.0.9:6000"));
    b.rtcp_mux = true;
    b.remote_rtcp = None;
    b.clock_rate = 48000;
    b.srtp_outbound = Some(policy(3, Suite::NullHmacSha1_80, None));
    m.create("srtp", [a, b], Some(Duration::from_secs(30)), Some(Duration::from_secs(3600)), &mut Hops, now).unwrap();
    let s = m.get("srtp").unwrap().clone();
    let key = FlowKey::new(0, s.legs[0].local.ip(), s.legs[0].local.port());
    m.on_latched(&key, "198.18.0.77:9999".parse().unwrap(), &mut Hops).unwrap();
    m.update_leg("srtp", "callee", |_, hold| *hold = true, &mut Hops).unwrap();

    let mut v6 = leg("v6", "public", Some("[2001:db8:1::9]:7000"));
    v6.local_port = Some(30090);
    m.create("plain", [v6, leg("v4", "private", Some("198.19.0.10:7002"))], None, None, &mut Hops, now).unwrap();
    for i in 0..3 {
        m.delete(&format!("gone-{i}"), now).unwrap();
    }
    m
}

/// What must survive: everything but the instants and the flow slots.
fn durable(l: &Leg) -> (LegRequest, SocketAddr, Option<SocketAddr>, bool, Option<u32>) {
    let mut r = l.request.clone();
    r.local_port = None;
    r.local_address = None;
    (r, l.local, l.latched, l.hold, l.next_hop)
}

fn restored(from: &SessionManager, sealer: Option<&Sealer>) -> SessionManager {
    let mut to = manager();
    for s in from.sessions() {
        let json = SessionRecord::of(s, sealer).unwrap().to_json();
        let record = SessionRecord::from_json(json.as_bytes()).unwrap();
        let (back, commands) = replay(&mut to, &record, sealer, &mut Hops, Instant::now()).unwrap();
        assert!(!commands.is_empty());
        assert_eq!(back.media_timeout, s.media_timeout);
        assert_eq!(back.max_lifetime, s.max_lifetime);
    }
    to
}

#[test]
fn a_restored_node_has_the_same_sessions() {
    let from = busy_node();
    for sealer in [None, Some(Sealer::new(&[9; 32]))] {
        let to = restored(&from, sealer.as_ref());
        assert_eq!(to.len(), from.len());
        for s in from.sessions() {
            let t = to.get(&s.id).unwrap();
            for (a, b) in s.legs.iter().zip(&t.legs) {
                assert_eq!(durable(a), durable(b), "session {}", s.id);
                assert_eq!(
                    a.srtp.inbound.as_ref().map(|i| &i.requested),
                    b.srtp.inbound.as_ref().map(|i| &i.requested)
                );
                assert_eq!(
                    a.srtp.outbound.as_ref().map(|i| &i.requested),
                    b.srtp.outbound.as_ref().map(|i| &i.requested)
                );
            }
            // Recording the restored session gives the same record.
            let (r1, r2) = (SessionRecord::of(s, None).unwrap(), SessionRecord::of(t, None).unwrap());
            assert_eq!(r1.legs[0].srtp_inbound, r2.legs[0].srtp_inbound);
            assert_eq!((r1.legs[0].local, r1.legs[1].latched), (r2.legs[0].local, r2.legs[1].latched));
        }
    }
}

#[test]
fn sealed_records_hold_no_key_in_clear() {
    let from = busy_node();
    let s = from.get("srtp").unwrap();
    let key = s.legs[0].request.srtp_inbound.as_ref().unwrap().master_keys[0].key_salt();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(SessionRecord::of(s, None).unwrap().to_json().contains(&hex));
    let sealer = Sealer::new(&[9; 32]);
    let sealed = SessionRecord::of(s, Some(&sealer)).unwrap();
    assert!(!sealed.to_json().contains(&hex));
    // Without the key, or with another, nothing is restored.
    let e = replay(&mut manager(), &sealed, None, &mut Hops, Instant::now()).unwrap_err();
    assert!(e.to_string().contains("ha.key_file"), "{e}");
    let other = Sealer::new(&[1; 32]);
    assert!(replay(&mut manager(), &sealed, Some(&other), &mut Hops, Instant::now()).is_err());
}

#[test]
fn records_of_newer_versions_and_bad_fields_are_refused() {
    let from = busy_node();
    let mut r = SessionRecord::of(from.get("srtp").unwrap(), None).unwrap();
    r.version = RECORD_VERSION + 1;
    let e = SessionRecord::from_json(r.to_json().as_bytes()).unwrap_err();
    assert!(matches!(e, RecordError::Version(_)), "{e}");
    r.version = RECORD_VERSION;
    r.legs[0].srtp_inbound.as_mut().unwrap().suite = "ROT13".into();
    let e = replay(&mut manager(), &r, None, &mut Hops, Instant::now()).unwrap_err();
    assert!(e.to_string().contains("legs[0].srtp_inbound.suite"), "{e}");
    r.legs[0].srtp_inbound = None;
    r.legs[1].latch = "sometimes".into();
    let e = replay(&mut manager(), &r, None, &mut Hops, Instant::now()).unwrap_err();
    assert!(e.to_string().contains("legs[1].latch"), "{e}");
    assert!(SessionRecord::from_json(b"{\"version\":1}").is_err());
}

#[test]
fn a_port_taken_on_the_restoring_node_is_refused_whole() {
    let from = busy_node();
    let r = SessionRecord::of(from.get("srtp").unwrap(), None).unwrap();
    let mut to = manager();
    let mut taken = leg("x", "private", None);
    taken.local_port = Some(r.legs[1].local.port());
    to.create("squatter", [leg("y", "public", None), taken], None, None, &mut Hops, Instant::now()).unwrap();
    let e = replay(&mut to, &r, None, &mut Hops, Instant::now()).unwrap_err();
    assert!(matches!(e, crate::ha::restore::RestoreError::Session(_)), "{e}");
    assert_eq!(to.len(), 1);
}

#[test]
fn stream_checkpoints_are_due_on_a_new_rollover_counter_or_stream() {
    let at = |ssrc, index| StreamCheckpoint { ssrc, index };
    assert!(!StreamCheckpoint::due(None, at(1, CHECKPOINT_STRIDE - 1)), "far from a wrap: nothing to keep");
    assert!(StreamCheckpoint::due(None, at(1, CHECKPOINT_STRIDE)));
    assert!(StreamCheckpoint::due(None, at(1, 65_536)));
    assert!(!StreamCheckpoint::due(Some(at(1, 65_536)), at(1, 65_536 + CHECKPOINT_STRIDE - 1)), "same ROC");
    assert!(StreamCheckpoint::due(Some(at(1, 65_536)), at(1, 65_536 + CHECKPOINT_STRIDE)), "a stride on");
    assert!(StreamCheckpoint::due(Some(at(1, 131_071)), at(1, 131_072)));
    assert!(StreamCheckpoint::due(Some(at(1, 70_000)), at(2, 70_000)), "another SSRC");
    assert_eq!(at(1, 3 << 16 | 7).roc(), 3);

    // Records carry them, and records written before them still read.
    let from = busy_node();
    let legs = [LegCheckpoint { rtp: Some(at(9, 70_000)), srtcp_next: Some(500) }, LegCheckpoint::default()];
    let r = SessionRecord::of(from.get("srtp").unwrap(), None).unwrap().with_checkpoints(legs);
    let back = SessionRecord::from_json(r.to_json().as_bytes()).unwrap();
    assert_eq!(back.legs[0].rtp_checkpoint, Some(at(9, 70_000)));
    let old = r
        .to_json()
        .replace(r#","rtp_checkpoint":{"ssrc":9,"index":70000}"#, "")
        .replace(r#","rtp_checkpoint":null"#, "")
        .replace(r#","srtcp_checkpoint":500"#, "")
        .replace(r#","srtcp_checkpoint":null"#, "");
    assert!(!old.contains("rtp_checkpoint") && !old.contains("srtcp_checkpoint"), "{old}");
    assert_eq!(SessionRecord::from_json(old.as_bytes()).unwrap().legs[0].rtp_checkpoint, None);

    // A restore resumes the checkpointed stream on the flow from that leg,
    // after the commands that install the flow.
    let mut to = manager();
    let (s, commands) = replay(&mut to, &back, None, &mut Hops, Instant::now()).unwrap();
    let key = FlowKey::new(0, s.legs[0].local.ip(), s.legs[0].local.port());
    let resume = Command::ResumeStream { key, ssrc: 9, index: 70_000 };
    let at = commands.iter().position(|c| *c == resume).expect("the stream resumed");
    assert!(commands[..at].iter().any(|c| c.upserted().is_some_and(|(k, _)| *k == key)));
    assert_eq!(commands.iter().filter(|c| matches!(c, Command::ResumeStream { .. })).count(), 1);

    // Both legs get SRTP from us: the flows from each protect SRTCP, and go
    // on past the checkpoint (caller: RTP and RTCP ports), or past 0 where
    // none was written (callee: RTCP multiplexed).
    let srtcp: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::ResumeSrtcp { key, next_index } => Some((key.udp_port(), *next_index)),
            _ => None,
        })
        .collect();
    let (a, b) = (s.legs[0].local.port(), s.legs[1].local.port());
    let margin = SRTCP_RESUME_MARGIN;
    assert_eq!(srtcp, [(a, 500 + margin), (a + 1, 500 + margin), (b, margin)]);
    assert_eq!(back.checkpoints(), legs);
}

#[test]
fn srtcp_checkpoints_are_due_at_the_first_packet_and_every_stride() {
    let at = |n| LegCheckpoint { rtp: None, srtcp_next: n };
    assert!(!at(None).due(&at(None)));
    assert!(!at(None).due(&at(Some(0))));
    assert!(at(None).due(&at(Some(1))), "the first SRTCP packet");
    assert!(!at(Some(1)).due(&at(Some(SRTCP_CHECKPOINT_STRIDE))));
    assert!(at(Some(1)).due(&at(Some(1 + SRTCP_CHECKPOINT_STRIDE))));
    // A node resumed past its checkpoint writes where it goes on from at once.
    let resumed = at(Some(7)).srtcp_resume_at();
    assert_eq!(resumed, 7 + SRTCP_RESUME_MARGIN);
    assert!(at(Some(7)).due(&at(Some(resumed))));
    assert_eq!(at(Some(7)).merged(&at(None)), at(Some(7)), "a flow that protected nothing yet keeps the checkpoint");
    assert_eq!(at(None).srtcp_resume_at(), SRTCP_RESUME_MARGIN);
    // The 31-bit index space ends: past it the flow protects no SRTCP.
    assert_eq!(at(Some(0x7fff_0000)).srtcp_resume_at(), 0x7fff_ffff);
}
