//! Configuration validation: good files pass, each bad one fails with a
//! message that names the field at fault.

use mediafwd_controlplane::config::{Config, Device};

const GOOD: &str = r#"
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false

[[interface]]
name = "public"
device = "net_af_packet0,iface=mfw-pub"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
gateway4 = "198.18.0.254"
rtp_ports = "30000-30999"

[[interface]]
name = "private"
device = "0000:3b:02.0"
addresses = ["198.19.0.1/24"]
vlan = 100

[[static_session]]
id = "call-1"
legs = [
  { interface = "public", local_port = 30000, remote = "198.18.0.2:5000" },
  { interface = "private", local_port = 40000, remote = "198.19.0.2:6000", latch = "once" },
]
"#;

/// SRTP keys on the first static leg, as the API's SrtpParams in hex.
const SRTP_LEG: &str = r#"remote = "198.18.0.2:5000" }"#;

fn srtp_good() -> String {
    GOOD.replacen(
        SRTP_LEG,
        r#"remote = "198.18.0.2:5000", srtp_inbound = { suite = "AES_CM_128_HMAC_SHA1_80", master_key = "000102030405060708090a0b0c0d0e0f", master_salt = "0123456789aabbccddeeff001122" } }"#,
        1,
    )
}

#[test]
fn static_legs_take_srtp_keys() {
    let v = Config::parse(&srtp_good()).unwrap().validate().unwrap();
    let leg = &v.raw.static_sessions[0].legs[0];
    let keys = leg.srtp_inbound.as_ref().unwrap();
    assert_eq!(keys.policy("x").unwrap().suite.sdes_name(), "AES_CM_128_HMAC_SHA1_80");
    assert!(leg.srtp_outbound.is_none());
}

fn srtp_with(from: &str, to: &str) -> String {
    let good = srtp_good();
    assert!(good.contains(from), "{from}");
    good.replacen(from, to, 1)
}

fn error_of(text: &str) -> String {
    match Config::parse(text).and_then(|c| c.validate()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_good_config_validates_with_defaults_filled_in() {
    let v = Config::parse(GOOD).unwrap().validate().unwrap();
    assert_eq!(v.interfaces.len(), 2);
    assert_eq!(v.interfaces[0].device, Device::Vdev { name: "net_af_packet0".into(), args: "iface=mfw-pub".into() });
    assert_eq!(v.interfaces[1].device, Device::Pci("0000:3b:02.0".into()));
    assert_eq!(v.interfaces[1].mtu, 1500);
    assert_eq!(v.interfaces[1].rtp_ports.to_string(), "30000-39999");
    assert_eq!(v.raw.dataplane.max_flows, 1 << 17);
    assert_eq!(v.raw.dataplane.table_memory, "hugepages");
    let heap = with("[node]", "[dataplane]\ntable_memory = \"heap\"\n[node]");
    assert_eq!(Config::parse(&heap).unwrap().validate().unwrap().raw.dataplane.table_memory, "heap");
    // No ng listener unless one is configured.
    assert!(v.raw.ng.listen.is_empty());
    let ng = with("[node]", "[ng]\nlisten = \"127.0.0.1:22222\"\ndirection = [\"public\", \"private\"]\n[node]");
    let v = Config::parse(&ng).unwrap().validate().unwrap();
    assert_eq!((v.raw.ng.listen.as_str(), v.raw.ng.tcp, v.raw.ng.delete_delay), ("127.0.0.1:22222", true, 0));
    // No session store unless one is configured.
    assert!(!v.raw.ha.enabled());
    let ha = with("[node]", "[ha]\nredis_url = \"redis://:secret@10.0.0.5:6380/2\"\n[node]");
    let v = Config::parse(&ha).unwrap().validate().unwrap();
    assert!(v.raw.ha.enabled());
    assert_eq!((v.raw.ha.group.as_str(), v.raw.ha.role.as_str(), v.raw.ha.backlog), ("default", "active", 200_000));
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/mediafwd.toml");

#[test]
fn ring_devices_validate_and_need_no_eal_argument() {
    let text = with("net_af_packet0,iface=mfw-pub", "ring:public").replace("0000:3b:02.0", "ring:private");
    let v = Config::parse(&text).unwrap().validate().unwrap();
    assert_eq!(v.interfaces[0].device, Device::ring("public").unwrap());
    assert_eq!(v.interfaces[1].device.name(), "net_ring_private");
    let args = mediafwd_controlplane::node::node_config(&v).eal_args();
    assert!(!args.iter().any(|a| a.starts_with("--vdev") || a.starts_with("--allow")), "{args:?}");
    assert!(args.contains(&"--no-pci".to_string()), "{args:?}");
    let e = error_of(&with("net_af_packet0,iface=mfw-pub", "ring:no-dash"));
    assert!(e.contains("interface[0].device") && e.contains("letters, digits or _"), "{e}");
}

#[test]
fn the_shipped_example_validates() {
    let v = Config::parse(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap().validate().unwrap();
    // It names the cores of a larger host: a host with fewer is told, not refused.
    assert_eq!(
        (v.raw.node.control_cores.as_slice(), v.raw.node.worker_cores.as_slice()),
        (&[1][..], &[2, 3, 4, 5][..])
    );
    assert_eq!(v.host_mismatches(&[0, 1, 2, 3, 4, 5, 6, 7]), vec![]);
    let on_two_cores: Vec<String> = v.host_mismatches(&[0, 1]).iter().map(|e| e.to_string()).collect();
    assert_eq!(on_two_cores, ["node.worker_cores: CPUs 2-5 are not available to this process (it may run on 0-1)"]);
}

#[test]
fn bad_configs_fail_naming_the_field() {
    let cases = [
        (with("device = \"0000:3b:02.0\"", "device = \"eth0\""), "interface[1].device"),
        (with("worker_cores = [1]", "worker_cores = [0]"), "node.worker_cores"),
        (with("worker_cores = [1]", "worker_cores = []"), "node.worker_cores"),
        (with("addresses = [\"198.19.0.1/24\"]", "addresses = []"), "interface[1].addresses"),
        (with("addresses = [\"198.19.0.1/24\"]", "addresses = [\"198.19.0.1\"]"), "interface[1].addresses[0]"),
        (with("addresses = [\"198.19.0.1/24\"]", "addresses = [\"198.18.0.1/24\"]"), "interface[1].addresses"),
        (with("gateway4 = \"198.18.0.254\"", "gateway4 = \"203.0.113.1\""), "interface[0].gateway4"),
        (with("gateway4 = \"198.18.0.254\"", "gateway4 = \"2001:db8:1::fe\""), "interface[0].gateway4"),
        (with("vlan = 100", "vlan = 4095"), "interface[1].vlan"),
        (with("rtp_ports = \"30000-30999\"", "rtp_ports = \"30001-30999\""), "interface[0].rtp_ports"),
        (with("rtp_ports = \"30000-30999\"", "rtp_ports = \"500-30999\""), "interface[0].rtp_ports"),
        (with("name = \"private\"", "name = \"public\""), "interface[1].name"),
        (with("local_port = 30000", "local_port = 30001"), "static_session[0].legs[0].local_port"),
        (
            with("interface = \"public\", local_port", "interface = \"dmz\", local_port"),
            "static_session[0].legs[0].interface",
        ),
        (with("latch = \"once\"", "latch = \"sometimes\""), "static_session[0].legs[1].latch"),
        (with("remote = \"198.18.0.2:5000\"", "remote = \"198.18.0.2\""), "static_session[0].legs[0].remote"),
        (srtp_with("AES_CM_128_HMAC_SHA1_80", "AES_CM_64"), "static_session[0].legs[0].srtp_inbound.suite"),
        (srtp_with("0e0f\"", "0e0\""), "static_session[0].legs[0].srtp_inbound.master_key"),
        (srtp_with("0e0f\"", "0e\""), "static_session[0].legs[0].srtp_inbound.master_key"),
        (srtp_with("001122\"", "0011\""), "static_session[0].legs[0].srtp_inbound.master_salt"),
        (srtp_with("001122\"", "001122\", mki = \"0102030405\""), "static_session[0].legs[0].srtp_inbound.mki"),
        (srtp_with("srtp_inbound", "srtp_in"), "line"),
        (with("[node]", "[node]\nworkers = 3"), "line"),
        (with("hugepages = false", "hugepages = \"no\""), "line"),
        (with("[node]", "[ng]\nlisten = \"localhost:22222\"\n[node]"), "ng.listen"),
        (with("[node]", "[ng]\nlisten = \"127.0.0.1:7070\"\n[node]"), "ng.listen"),
        (with("[node]", "[ng]\ndirection = [\"public\"]\n[node]"), "ng.direction"),
        (with("[node]", "[ng]\ndirection = [\"public\", \"dmz\"]\n[node]"), "ng.direction[1]"),
        (with("[node]", "[ng]\nreply_cache = 0\n[node]"), "ng.reply_cache"),
        (with("[node]", "[ng]\nlisten = \"127.0.0.1:22222\"\nport = 1\n[node]"), "line"),
        (with("[node]", "[ha]\nredis_url = \"http://127.0.0.1:6379\"\n[node]"), "ha.redis_url"),
        (with("[node]", "[ha]\nredis_url = \"redis://r\"\ngroup = \"a b\"\n[node]"), "ha.group"),
        (with("[node]", "[ha]\nrole = \"standby\"\n[node]"), "ha.role"),
        (with("[node]", "[ha]\nredis_url = \"redis+sentinel://s1,s2\"\n[node]"), "ha.redis_url"),
        (with("[node]", "[ha]\nredis_url = \"redis://r\"\nbacklog = 0\n[node]"), "ha.backlog"),
        (with("[node]", "[dataplane]\nidle_sleep_us = 20000\n[node]"), "dataplane.idle_sleep_us"),
        (with("[node]", "[dataplane]\ntable_memory = \"huge\"\n[node]"), "dataplane.table_memory"),
        (
            with("[node]", "[dataplane.police]\nicmp = { per_second = 0, burst = 1 }\n[node]"),
            "dataplane.police.icmp.per_second",
        ),
        (with("[node]", "[dataplane.police]\nsource_slots = 3000\n[node]"), "dataplane.police.source_slots"),
        (with("[node]", "[dataplane.police]\nping = { per_second = 5, burst = 1 }\n[node]"), "line"),
    ];
    for (text, field) in cases {
        let e = error_of(&text);
        assert!(e.starts_with(field), "expected an error naming {field}, got: {e}");
    }
}

#[test]
fn overlapping_port_ranges_on_one_port_are_refused() {
    let text = with("device = \"0000:3b:02.0\"", "device = \"net_af_packet0,iface=mfw-pub\"").replacen(
        "vlan = 100",
        "vlan = 100\nrtp_ports = \"30500-31999\"",
        1,
    );
    assert!(error_of(&text).starts_with("interface[1].rtp_ports"), "{}", error_of(&text));
    // On another VLAN of the same port with disjoint ranges it is fine.
    let ok = text.replacen("rtp_ports = \"30500-31999\"", "rtp_ports = \"31000-31999\"", 1);
    Config::parse(&ok).unwrap().validate().unwrap();
}

#[test]
fn a_missing_file_names_the_file() {
    let e = Config::load(std::path::Path::new("/nonexistent/mediafwd.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/mediafwd.toml: cannot read"), "{e}");
}

#[test]
fn cores_come_from_the_affinity_mask() {
    use mediafwd_controlplane::config::{cores_from, cpu_list};
    assert_eq!(cores_from(&[7, 4, 5, 6]).unwrap(), (vec![4], vec![5, 6, 7]));
    assert!(cores_from(&[3]).unwrap_err().to_string().contains("at least one worker"));
    assert_eq!(cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
    assert_eq!(cpu_list(&[5]), "5");
}

#[test]
fn a_cpu_this_host_does_not_offer_is_a_host_mismatch_naming_the_allowed_ones() {
    let text = with("worker_cores = [1]", "worker_cores = [999, 3, 2]")
        .replace("control_cores = [0]", "control_cores = [0, 1]");
    // The file is valid: what it says holds on a host with those CPUs.
    let v = Config::parse(&text).unwrap().validate().unwrap();
    assert_eq!(v.host_mismatches(&[0, 1, 2, 3, 999]), vec![]);
    let e: Vec<String> = v.host_mismatches(&[0, 2, 3]).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        e,
        [
            "node.worker_cores: CPU 999 is not available to this process (it may run on 0,2-3)",
            "node.control_cores: CPU 1 is not available to this process (it may run on 0,2-3)",
        ]
    );
    let e = v.host_mismatches(&[0]);
    assert_eq!(e[0].message, "CPUs 2-3,999 are not available to this process (it may run on 0)");
    // Listing a CPU twice is a fault of the file, on any host.
    let twice = with("worker_cores = [1]", "worker_cores = [1, 1]");
    assert_eq!(error_of(&twice), "node.worker_cores: CPU 1 is listed twice");
}

/// Runs the `mediafwd` binary with `args`: (exit code, stdout, stderr).
fn mediafwd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mediafwd")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn check_config_warns_about_this_host_and_starting_refuses() {
    // No host has CPU 4095 to give this process.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mediafwd.toml");
    std::fs::write(&path, with("worker_cores = [1]", "worker_cores = [4095]")).unwrap();
    let path = path.to_str().unwrap();

    let (code, out, err) = mediafwd(&["--check-config", path]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("valid (2 interfaces, 1 workers"), "{out}");
    assert!(err.contains("warning: node.worker_cores: CPU 4095 is not available to this process"), "{err}");

    let (code, out, err) = mediafwd(&["--config", path]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("node.worker_cores: CPU 4095 is not available to this process"), "{err}");

    // The shipped example validates here, with or without a warning.
    let (code, out, err) = mediafwd(&["--check-config", EXAMPLE]);
    assert_eq!(code, Some(0), "{out}{err}");
    let has = |cpu: &usize| mediafwd_controlplane::config::allowed_cpus().contains(cpu);
    assert_eq!(err.contains("warning: node.worker_cores"), ![2, 3, 4, 5].iter().all(has), "{err}");
}

#[test]
fn a_device_from_an_unset_environment_variable_is_refused() {
    let e = error_of(&with("device = \"0000:3b:02.0\"", "device = \"${MEDIAFWD_TEST_UNSET_VF}\""));
    assert!(e.starts_with("interface[1].device: environment variable MEDIAFWD_TEST_UNSET_VF is not set"), "{e}");
}
