//! The binary against this machine's own `/`: read-only commands only.

use std::process::{Command, Output};

use mediafwd_hugepage_setup::doctor::CHECKS;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hugepage-setup")).args(["--root", "/"]).args(args).output().unwrap()
}

#[test]
fn status_reads_this_host() {
    let out = run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for section in
        ["hugepages (default size", "hugetlbfs mounts:", "IOMMU: ", "network devices:", "CPUs: ", "NIC interrupts"]
    {
        assert!(text.contains(section), "{section:?} missing in\n{text}");
    }

    let out = run(&["status", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["cpu"]["count"].as_u64().unwrap() >= 1);
    assert!(v["nics"].is_array());
}

#[test]
fn doctor_runs_every_check_on_this_host() {
    let out = run(&["doctor"]);
    // The verdict depends on the machine (hugepages are often not reserved): only the
    // exit status's meaning is checked.
    let code = out.status.code().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(code == 0 || code == 1, "exit {code}: {text}");
    for name in CHECKS {
        assert!(text.lines().any(|l| l.get(5..).is_some_and(|r| r.starts_with(name))), "{name:?} missing in\n{text}");
    }
    assert_eq!(code == 0, !text.contains("\nFAIL ") && !text.starts_with("FAIL "));

    let out = run(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checks"].as_array().unwrap().len(), CHECKS.len());
    assert_eq!(v["ok"].as_bool().unwrap(), out.status.success());
}
