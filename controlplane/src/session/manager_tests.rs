use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_dataplane::flow::{Command, FlowKey, LatchMode};

use super::*;

struct FakeResolver {
    asked: Vec<(usize, IpAddr)>,
}

impl Resolver for FakeResolver {
    fn next_hop(&mut self, iface: usize, dst: IpAddr) -> Result<u32, String> {
        self.asked.push((iface, dst));
        Ok(iface as u32 * 100 + self.asked.len() as u32)
    }
    fn default_next_hop(&mut self, _iface: usize, _v4: bool) -> Option<u32> {
        None
    }
}

fn manager() -> SessionManager {
    crate::session::test_support::manager("30000-30007")
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

fn call(m: &mut SessionManager, id: &str, now: Instant) -> Result<(Session, Vec<Command>), SessionError> {
    let legs = [leg("caller", "public", Some("198.18.0.2:5000")), leg("callee", "private", None)];
    m.create(id, legs, None, None, &mut FakeResolver { asked: vec![] }, now)
}

#[test]
fn create_allocates_ports_and_programs_four_flows() {
    let mut m = manager();
    let now = Instant::now();
    let (s, cmds) = call(&mut m, "a", now).unwrap();
    assert_eq!(s.legs[0].local, "198.18.0.1:30000".parse::<SocketAddr>().unwrap());
    assert_eq!(s.legs[1].local, "198.19.0.1:40000".parse::<SocketAddr>().unwrap());
    assert_eq!(cmds.len(), 4);
    let (s2, _) = call(&mut m, "b", now).unwrap();
    assert_eq!(s2.legs[0].local.port(), 30002);
}

#[test]
fn a_retransmitted_create_returns_the_same_allocation_and_a_conflicting_one_fails() {
    let mut m = manager();
    let now = Instant::now();
    let (s, _) = call(&mut m, "a", now).unwrap();
    let (again, cmds) = call(&mut m, "a", now).unwrap();
    assert_eq!(again, s);
    assert!(cmds.is_empty());
    let other = [leg("caller", "public", Some("198.18.0.9:5000")), leg("callee", "private", None)];
    let e = m.create("a", other, None, None, &mut FakeResolver { asked: vec![] }, now).unwrap_err();
    assert_eq!(e, SessionError::Exists("a".into()));
}

#[test]
fn bad_input_names_the_field_and_changes_nothing() {
    let mut m = manager();
    let now = Instant::now();
    let r = &mut FakeResolver { asked: vec![] };
    let cases = [
        ([leg("x", "dmz", None), leg("y", "private", None)], "legs[0].interface"),
        ([leg("x", "public", None), leg("y", "private", Some("[2001:db8::9]:5000"))], "legs[1].remote"),
        (
            [leg("x", "public", Some("198.18.0.2:5000")), leg("y", "private", None)].map(|mut l| {
                l.remote_rtcp = l.remote.map(|_| "[2001:db8:1::2]:5001".parse().unwrap());
                l
            }),
            "legs[0].remote_rtcp",
        ),
        ([leg("x", "public", None), leg("x", "private", None)], "legs[1].label"),
        ([leg("x", "public", None), leg("y", "private", Some("198.19.0.2:0"))], "legs[1].remote"),
        ([leg("x", "public", None), leg("y", "private", Some("224.0.0.1:5000"))], "legs[1].remote"),
    ];
    for (legs, field) in cases {
        match m.create("bad", legs, None, None, r, now) {
            Err(SessionError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(m.is_empty());
    assert_eq!(m.port_usage(0, now), (0, 4));
}

#[test]
fn exhaustion_names_the_interface_and_returns_the_other_port() {
    let mut m = manager();
    let now = Instant::now();
    for i in 0..4 {
        call(&mut m, &format!("s{i}"), now).unwrap();
    }
    let e = call(&mut m, "s4", now).unwrap_err();
    assert!(matches!(&e, SessionError::Exhausted(msg) if msg.contains("interface public")), "{e:?}");
    assert_eq!(m.port_usage(1, now).0, 4, "the private port taken first was given back");
}

#[test]
fn max_sessions_refuses_new_sessions_only() {
    let mut m = manager();
    m.max_sessions = Some(2);
    let now = Instant::now();
    let (first, _) = call(&mut m, "s0", now).unwrap();
    call(&mut m, "s1", now).unwrap();
    let e = call(&mut m, "s2", now).unwrap_err();
    assert!(matches!(&e, SessionError::Exhausted(msg) if msg.contains("sessions.max_sessions")), "{e:?}");
    assert_eq!(m.port_usage(0, now).0, 2, "the refused session took no port");
    // A retransmission of an existing session is still answered.
    assert_eq!(call(&mut m, "s0", now).unwrap().0.legs[0].local, first.legs[0].local);
    // A deleted session makes room.
    m.delete("s1", now).unwrap();
    call(&mut m, "s2", now).unwrap();
}

#[test]
fn deleted_ports_are_quarantined() {
    let mut m = manager();
    let t0 = Instant::now();
    for i in 0..4 {
        call(&mut m, &format!("s{i}"), t0).unwrap();
    }
    let (s, cmds) = m.delete("s0", t0).unwrap();
    assert_eq!(cmds.len(), 4);
    assert!(cmds.iter().all(|c| matches!(c, Command::Remove { .. })));
    m.release_ids(&s);
    assert!(call(&mut m, "s5", t0 + Duration::from_secs(5)).is_err());
    let (s5, _) = call(&mut m, "s5", t0 + Duration::from_secs(11)).unwrap();
    assert_eq!(s5.legs[0].local.port(), 30000);
    assert!(matches!(m.delete("nope", t0), Err(SessionError::NotFound(_))));
}

#[test]
fn a_failing_update_leaves_the_session_as_it_was() {
    let mut m = manager();
    let now = Instant::now();
    let (before, _) = call(&mut m, "a", now).unwrap();
    let r = &mut FakeResolver { asked: vec![] };
    let e = m.update_leg("a", "callee", |l, _| l.remote = Some("[2001:db8::5]:6000".parse().unwrap()), r).unwrap_err();
    assert!(matches!(e, SessionError::Invalid { ref field, .. } if field == "leg.remote"), "{e:?}");
    assert_eq!(m.get("a").unwrap(), &before);
    let (after, cmds) =
        m.update_leg("a", "callee", |l, _| l.remote = Some("198.19.0.2:6000".parse().unwrap()), r).unwrap();
    assert_eq!(after.legs[1].remote(), Some("198.19.0.2:6000".parse().unwrap()));
    assert_eq!(cmds.len(), 4);
    assert!(matches!(m.update_leg("a", "nobody", |_, _| {}, r), Err(SessionError::NotFound(_))));
}

#[test]
fn a_leg_is_renamed_and_switches_rtcp_mux_on_its_port_pair() {
    let mut m = manager();
    let now = Instant::now();
    let (before, _) = call(&mut m, "a", now).unwrap();
    let r = &mut FakeResolver { asked: vec![] };
    let e = m.update_leg("a", "callee", |l, _| l.label = "caller".into(), r).unwrap_err();
    assert!(matches!(e, SessionError::Invalid { ref field, .. } if field == "label"), "{e:?}");
    let (s, _) = m.update_leg("a", "callee", |l, _| l.label = "to-tag-1".into(), r).unwrap();
    assert_eq!(s.legs[1].request.label, "to-tag-1");
    // rtcp-mux on: the RTCP port's flow goes, the RTP flow stays.
    let rtcp_key = FlowKey::new(1, "198.19.0.1".parse().unwrap(), before.legs[1].local.port() + 1);
    let (s, cmds) = m.update_leg("a", "to-tag-1", |l, _| l.rtcp_mux = true, r).unwrap();
    assert_eq!(s.legs[1].local, before.legs[1].local);
    assert!(cmds.contains(&Command::Remove { key: rtcp_key }));
    assert_eq!(cmds.iter().filter(|c| matches!(c, Command::Upsert { .. })).count(), 3);
    // And off again: the RTCP flow is back.
    let (_, cmds) = m.update_leg("a", "to-tag-1", |l, _| l.rtcp_mux = false, r).unwrap();
    assert!(cmds.iter().any(|c| matches!(c, Command::Upsert { key, .. } if *key == rtcp_key)));
    let (_, cmds) = m.delete("a", now).unwrap();
    assert_eq!(cmds.len(), 4);
}

#[test]
fn hold_clears_the_destination_towards_the_held_leg() {
    let mut m = manager();
    let now = Instant::now();
    call(&mut m, "a", now).unwrap();
    let r = &mut FakeResolver { asked: vec![] };
    let (_, cmds) = m.update_leg("a", "caller", |_, hold| *hold = true, r).unwrap();
    let to_caller = cmds
        .iter()
        .find_map(|c| match c {
            Command::Upsert { key, flow } if key.port_id() == 1 && key.udp_port() == 40000 => Some(flow.egress.dst),
            _ => None,
        })
        .unwrap();
    assert_eq!(to_caller, None);
}

#[test]
fn latching_reprograms_the_reverse_flows() {
    let mut m = manager();
    let now = Instant::now();
    call(&mut m, "a", now).unwrap();
    let key = FlowKey::new(1, "198.19.0.1".parse().unwrap(), 40000);
    let r = &mut FakeResolver { asked: vec![] };
    let (id, leg, cmds) = m.on_latched(&key, "198.19.0.7:7000".parse().unwrap(), r).unwrap();
    assert_eq!((id.as_str(), leg), ("a", 1));
    let to_callee = cmds
        .iter()
        .find_map(|c| match c {
            Command::Upsert { key, flow } if key.udp_port() == 30000 => Some(flow.egress.dst),
            _ => None,
        })
        .unwrap();
    assert_eq!(to_callee, Some("198.19.0.7:7000".parse().unwrap()));
    assert!(r.asked.contains(&(1, "198.19.0.7".parse().unwrap())));
    // The same address again: nothing to do.
    assert!(m.on_latched(&key, "198.19.0.7:7000".parse().unwrap(), r).is_none());
}

fn srtp_policy(fill: u8) -> mediafwd_dataplane::srtp::Policy {
    use mediafwd_dataplane::srtp::{MasterKey, Policy, Suite};
    let suite = Suite::AesCm128HmacSha1_80;
    Policy::new(suite, MasterKey::from_key_salt(suite, &[fill; 30]).unwrap())
}

/// The SRTP transform of the flow received on `udp_port`, if it has one.
fn transform(cmds: &[Command], udp_port: u16) -> Option<mediafwd_dataplane::flow::SrtpTransform> {
    cmds.iter().find_map(|c| match c {
        Command::UpsertSrtp { key, srtp, .. } if key.udp_port() == udp_port => Some(srtp.clone()),
        Command::Upsert { key, .. } if key.udp_port() == udp_port => None,
        _ => None,
    })
}

#[test]
fn srtp_legs_get_their_transforms_and_rekeys_keep_unchanged_contexts() {
    let mut m = manager();
    let now = Instant::now();
    let r = &mut FakeResolver { asked: vec![] };
    let mut caller = leg("caller", "public", Some("198.18.0.2:5000"));
    caller.srtp_inbound = Some(srtp_policy(1));
    caller.srtp_outbound = Some(srtp_policy(2));
    let (s, cmds) = m.create("a", [caller, leg("callee", "private", None)], None, None, r, now).unwrap();
    // Caller -> callee: unprotect only, RTP and RTCP; callee -> caller: protect only.
    for port in [30000, 30001] {
        let t = transform(&cmds, port).unwrap();
        assert!(Arc::ptr_eq(&t.unprotect.unwrap().context, &s.legs[0].srtp.inbound.as_ref().unwrap().keys.context));
        assert!(t.protect.is_none());
    }
    for port in [40000, 40001] {
        let t = transform(&cmds, port).unwrap();
        assert!(t.unprotect.is_none() && t.protect.is_some());
    }
    let suite = Some(mediafwd_dataplane::srtp::Suite::AesCm128HmacSha1_80);
    assert_eq!(s.legs[0].srtp.suites(), (suite, suite));
    assert!(m.take_retired().is_empty());

    // A new remote: the same contexts.
    let (_, cmds2) =
        m.update_leg("a", "callee", |l, _| l.remote = Some("198.19.0.2:6000".parse().unwrap()), r).unwrap();
    assert_eq!(transform(&cmds2, 30000), transform(&cmds, 30000));
    assert!(m.take_retired().is_empty());
    // A new inbound key: a new context, the old one retired; outbound unchanged.
    let (s2, cmds3) = m.update_leg("a", "caller", |l, _| l.srtp_inbound = Some(srtp_policy(3)), r).unwrap();
    assert_ne!(transform(&cmds3, 30000), transform(&cmds, 30000));
    assert_eq!(transform(&cmds3, 40000), transform(&cmds, 40000));
    let retired = m.take_retired();
    assert_eq!(retired.len(), 1);
    assert!(Arc::ptr_eq(&retired[0], &s.legs[0].srtp.inbound.as_ref().unwrap().keys.context));
    // Plain again both ways.
    let (_, cmds4) = m
        .update_leg(
            "a",
            "caller",
            |l, _| {
                l.srtp_inbound = None;
                l.srtp_outbound = None;
            },
            r,
        )
        .unwrap();
    assert!(cmds4.iter().all(|c| matches!(c, Command::Upsert { .. })));
    assert_eq!(m.take_retired().len(), 2);
    drop(s2);
    // A deleted session retires its contexts.
    let mut callee = leg("callee", "private", None);
    callee.srtp_outbound = Some(srtp_policy(4));
    m.create("b", [leg("caller", "public", None), callee], None, None, r, now).unwrap();
    m.delete("b", now).unwrap();
    assert_eq!(m.take_retired().len(), 1);
}

#[test]
fn legs_with_the_same_keys_pass_srtp_through() {
    let mut m = manager();
    let r = &mut FakeResolver { asked: vec![] };
    let (mut caller, mut callee) = (leg("caller", "public", None), leg("callee", "private", None));
    caller.srtp_inbound = Some(srtp_policy(1));
    callee.srtp_outbound = Some(srtp_policy(1));
    callee.srtp_inbound = Some(srtp_policy(2));
    caller.srtp_outbound = Some(srtp_policy(2));
    let (_, cmds) = m.create("p", [caller, callee], None, None, r, Instant::now()).unwrap();
    assert!(cmds.iter().all(|c| matches!(c, Command::Upsert { .. })), "{cmds:?}");
    // One side rekeys: transcrypt that way only.
    let (_, cmds) = m.update_leg("p", "caller", |l, _| l.srtp_inbound = Some(srtp_policy(9)), r).unwrap();
    let t = transform(&cmds, 30000).unwrap();
    assert!(t.unprotect.is_some() && t.protect.is_some());
    assert_eq!(transform(&cmds, 40000), None);
}
