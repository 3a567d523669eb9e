//! mediafwd behind the real SIP tier: Kamailio (its rtpengine module pointed
//! at mediafwd's ng listener) proxies calls from a sipp UAC to a sipp UAS,
//! both streaming PCMU; mediafwd's DPDK ports sit on veths into their
//! namespaces. Every call must succeed, both SDPs must carry mediafwd's
//! addresses, RTP must cross both ways (at least 99% of it delivered), and
//! nothing may bypass the relay.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::node::MediaFwd;
use common::sip::{self, SipTopology, STREAM_SECONDS};
use common::topology::SERIAL;
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;

/// Every session that ended, by id, as the gRPC event stream reports it.
fn watch_ended(
    api: std::net::SocketAddr,
) -> (Arc<Mutex<HashMap<String, pb::SessionEnded>>>, std::thread::JoinHandle<()>) {
    let ended = Arc::new(Mutex::new(HashMap::new()));
    let sink = ended.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut c = MediaRelayClient::connect(format!("http://{api}")).await.unwrap();
            let mut s = c.watch_events(pb::WatchEventsRequest::default()).await.unwrap().into_inner();
            ready_tx.send(()).unwrap();
            // Ends when the node stops.
            while let Ok(Some(ev)) = s.message().await {
                if let Some(pb::event::Kind::SessionEnded(e)) = ev.kind {
                    sink.lock().unwrap().insert(ev.session_id, e);
                }
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("watching events");
    (ended, t)
}

fn calls(test: &str, count: u32, rate: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let topo = SipTopology::new(test);
    let node = MediaFwd::start(&topo.mediafwd_config());
    let (ended, _watcher) = watch_ended(node.api_addr());
    let mut kamailio = sip::start_kamailio(&topo, node.ng_addr(), dir.path());
    let audio = sip::write_audio(dir.path());
    let uac_xml = dir.path().join("uac.xml");
    let uas_xml = dir.path().join("uas.xml");
    std::fs::write(&uac_xml, sip::uac_scenario(&topo.uas_sip(), &audio)).unwrap();
    std::fs::write(&uas_xml, sip::uas_scenario(&audio)).unwrap();

    // No way from the caller to the callee but through mediafwd.
    for (ns, other) in [(&topo.uac, "198.19.0.2"), (&topo.uas, "198.18.0.2")] {
        let r = ns.try_exec(&["ip", "route", "get", other]);
        assert!(!r.status.success(), "{} has a route to {other}", ns.name);
    }
    let rx_before = (sip::rx_packets(&topo.uac, "eth0"), sip::rx_packets(&topo.uas, "eth0"));

    let arg = |s: &str| s.to_string();
    let mut uas = sip::sipp(
        &topo.uas,
        "uas",
        dir.path(),
        &[
            arg("-sf"),
            arg(uas_xml.to_str().unwrap()),
            arg("-i"),
            topo.uas_sip(),
            arg("-p"),
            arg("5060"),
            arg("-mi"),
            arg("198.19.0.2"),
            arg("-mp"),
            arg("26000"),
            arg("-m"),
            count.to_string(),
            arg("-timeout"),
            arg("90s"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut uac = sip::sipp(
        &topo.uac,
        "uac",
        dir.path(),
        &[
            format!("{}:5060", topo.kamailio_uac_side()),
            arg("-sf"),
            arg(uac_xml.to_str().unwrap()),
            arg("-i"),
            topo.uac_sip(),
            arg("-p"),
            arg("5060"),
            arg("-mi"),
            arg("198.18.0.2"),
            arg("-mp"),
            arg("16000"),
            arg("-r"),
            rate.to_string(),
            arg("-m"),
            count.to_string(),
            arg("-l"),
            arg("500"),
            arg("-recv_timeout"),
            arg("10000"),
            arg("-timeout"),
            arg("90s"),
            arg("-timeout_error"),
        ],
    );
    let within = Duration::from_secs(u64::from(count / rate + STREAM_SECONDS + 30));
    let started = Instant::now();
    let report = |what: &str, uac: &sip::Proc, uas: &sip::Proc, k: &sip::Proc| {
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
        format!(
            "{what}\n--- uac ---\n{}\n{}\n--- uas ---\n{}\n{}\n--- kamailio ---\n{}\n--- mediafwd ---\n{}",
            uac.log_text(),
            read("uac_errors.log"),
            uas.log_text(),
            read("uas_errors.log"),
            k.log_text().lines().rev().take(40).collect::<Vec<_>>().join("\n"),
            node.log_text()
        )
    };
    let status = uac.wait(within);
    let Some(status) = status else {
        panic!("{}", report("the UAC did not finish in time", &uac, &uas, &kamailio));
    };
    assert!(status.success(), "{}", report(&format!("calls failed ({status})"), &uac, &uas, &kamailio));
    assert!(
        uas.wait(Duration::from_secs(15)).is_some_and(|s| s.success()),
        "{}",
        report("the UAS failed", &uac, &uas, &kamailio)
    );
    let took = started.elapsed();

    // Every call ended as a session whose legs carry the SIP tags.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ended.lock().unwrap().len() < count as usize {
        assert!(Instant::now() < deadline, "{} of {count} sessions ended", ended.lock().unwrap().len());
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = ended.lock().unwrap().clone();
    let expected = u64::from(count) * u64::from(STREAM_SECONDS) * 50;
    let (mut from_uac, mut from_uas, mut dropped) = (0u64, 0u64, 0u64);
    for (id, e) in &ended {
        assert_eq!(e.reason, pb::EndReason::Deleted as i32, "{id} ended by {:?}", e.reason);
        let s = e.session.as_ref().unwrap();
        assert!(s.legs[0].label.contains("uac") && s.legs[1].label.contains("uas"), "{s:?}");
        let stats = |i: usize| s.legs[i].stats.clone().unwrap_or_default();
        assert!(stats(0).packets > 0 && stats(1).packets > 0, "{id}: media did not cross both ways: {s:?}");
        from_uac += stats(0).packets;
        from_uas += stats(1).packets;
        dropped += stats(0).drops.values().sum::<u64>() + stats(1).drops.values().sum::<u64>();
    }
    let rx_after = (sip::rx_packets(&topo.uac, "eth0"), sip::rx_packets(&topo.uas, "eth0"));
    let delivered = (rx_after.0 - rx_before.0, rx_after.1 - rx_before.1);
    let min = expected * 99 / 100;
    let summary = format!(
        "{count} calls at {rate}/s in {took:?}: relayed {from_uac} from the UAC and {from_uas} from the UAS \
         (of {expected} each, {dropped} dropped); delivered {} to the UAC and {} to the UAS",
        delivered.0, delivered.1
    );
    println!("{summary}");
    assert!(from_uac >= min && from_uas >= min, "{summary}");
    assert!(delivered.1 >= min && delivered.0 >= min, "{summary}");

    // Both SDPs carry mediafwd's addresses; neither endpoint learned the other's.
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let (uac_log, uas_log) = (read("uac_messages.log"), read("uas_messages.log"));
    assert!(uas_log.matches("c=IN IP4 198.19.0.1").count() >= count as usize, "offers to the UAS");
    assert!(uac_log.matches("c=IN IP4 198.18.0.1").count() >= count as usize, "answers to the UAC");
    assert!(!uas_log.contains("198.18.0.2"), "the UAS saw the UAC's media address");
    assert!(!uac_log.contains("198.19.0.2"), "the UAC saw the UAS's media address");

    kamailio.stop();
    uac.stop();
    uas.stop();
    let status = node.stop();
    assert!(status.success(), "mediafwd exited with {status}");
}

#[test]
fn kamailio_and_sipp_20_calls_at_2_per_second() {
    calls("ka", 20, 2);
}

#[test]
fn kamailio_and_sipp_200_calls_at_20_per_second() {
    calls("kb", 200, 20);
}
