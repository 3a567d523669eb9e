//! The binary against the fake tree.

use std::process::{Command, Output};

use crate::tree::{Tree, IXGBE, PF, VFIO};

fn run(tree: &Tree, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hugepage-setup")).arg("--root").arg(tree.path()).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dry_run_changes_nothing() {
    let tree = Tree::new();
    tree.write("/sys/bus/pci/devices/0000:5e:00.0/sriov_numvfs", "2\n");
    let before = tree.snapshot();
    let root = tree.path().display().to_string();
    let cases: [(&[&str], &[String]); 7] = [
        (
            &["reserve", "--count", "512"],
            &[format!("would write 512 to {root}/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")],
        ),
        (
            &["reserve", "--count", "4", "--size", "1G", "--node", "1"],
            &[format!(
                "would write 4 to {root}/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages"
            )],
        ),
        (
            &["mount", "--size", "1G"],
            &[
                format!("would create directory {root}/dev/hugepages-1G"),
                format!("would run mount -t hugetlbfs -o pagesize=1G nodev {root}/dev/hugepages-1G"),
            ],
        ),
        (
            &["bind", "--force", IXGBE, "5e:00.0"],
            &[
                format!("would write vfio-pci to {root}/sys/bus/pci/devices/{IXGBE}/driver_override"),
                format!("would write {IXGBE} to {root}/sys/bus/pci/drivers/ixgbe/unbind"),
                format!("would write {IXGBE} to {root}/sys/bus/pci/drivers_probe"),
                format!("would write {PF} to {root}/sys/bus/pci/drivers/i40e/unbind"),
            ],
        ),
        (
            &["unbind", VFIO],
            &[
                format!("would write \"\" to {root}/sys/bus/pci/devices/{VFIO}/driver_override"),
                format!("would write {VFIO} to {root}/sys/bus/pci/drivers/vfio-pci/unbind"),
            ],
        ),
        (
            &["vfs", PF, "--count", "4", "--mac", "0=02:00:00:00:00:01"],
            &[
                format!("would write 0 to {root}/sys/bus/pci/devices/{PF}/sriov_numvfs"),
                format!("would write 4 to {root}/sys/bus/pci/devices/{PF}/sriov_numvfs"),
                "would run ip link set eth2 vf 0 mac 02:00:00:00:00:01".to_string(),
            ],
        ),
        (
            &["persist", "--count", "1024"],
            &[
                format!("would write to {root}/etc/sysctl.d/80-mediafwd-hugepages.conf:"),
                "    vm.nr_hugepages = 1024".to_string(),
                format!("would write to {root}/etc/systemd/system/dev-hugepages.mount:"),
            ],
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["--dry-run"];
        full.extend_from_slice(args);
        let out = run(&tree, &full);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        for line in expected {
            assert!(text.lines().any(|l| l == line), "{args:?}: missing {line:?} in\n{text}");
        }
        assert_eq!(tree.snapshot(), before, "{args:?} changed the tree");
    }
}

#[test]
fn writing_commands_under_a_fake_root_need_no_root() {
    let tree = Tree::new();
    tree.write("/proc/self/status", "Uid:\t1000\t1000\t1000\t1000\n");
    let out = run(&tree, &["reserve", "--count", "64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("simulated"));
    assert_eq!(tree.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "64");
    let out = run(&tree, &["mount", "--size", "1G"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&tree, &["mount", "--size", "1G"]);
    assert_eq!(stdout(&out), "already mounted: hugetlbfs (1G) on /dev/hugepages-1G\n");
}

#[test]
fn bad_pci_address_is_a_usage_error() {
    let tree = Tree::new();
    let out = run(&tree, &["bind", "3b:00"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid PCI address \"3b:00\": expected DDDD:BB:DD.F"), "{}", stderr(&out));
    let out = run(&tree, &["reserve", "--count", "1", "--size", "4k"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("use 2M or 1G"), "{}", stderr(&out));
}

#[test]
fn refusals_exit_non_zero_with_the_reason() {
    let tree = Tree::new();
    let before = tree.snapshot();
    let out = run(&tree, &["bind", IXGBE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("\nerror: 0000:3b:00.0 is interface eth1"));
    let out = run(&tree, &["vfs", PF, "--count", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at most 8 VFs"));
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn status_and_doctor_json() {
    let tree = Tree::new();
    let out = run(&tree, &["--json", "status"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nics"].as_array().unwrap().len(), 3);

    let out = run(&tree, &["doctor", "--json", "--pages", "16"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["checks"][1]["name"], "hugepages reserved");
    assert_eq!(v["checks"][1]["verdict"], "FAIL");
}

#[test]
fn doctor_exit_status_follows_the_verdicts() {
    let tree = Tree::new();
    let out = run(&tree, &["doctor", "--pages", "16"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL hugepages reserved"));

    assert!(run(&tree, &["reserve", "--count", "16"]).status.success());
    let out = run(&tree, &["doctor", "--pages", "16"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("WARN bpffs"));
    assert!(stdout(&out).ends_with("ready for mediafwd\n"));
}
