//! The bare-metal generator profiles (perf/profiles/) cannot run here, but
//! they must at least compile and produce the G.711 mix: the TRex profile is
//! byte-compiled and run against a stand-in `trex_stl_lib`, the pktgen-dpdk
//! script is parsed by `luac` and run against a stand-in Pktgen library.

use std::path::{Path, PathBuf};
use std::process::Command;

fn profiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e} (scripts/deps.sh installs it)"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn trex_profile_compiles_and_builds_one_stream_per_call() {
    let profile = profiles().join("trex_g711.py");
    let cfile = std::env::temp_dir().join(format!("trex_g711-{}.pyc", std::process::id()));
    let compile = format!(
        "import py_compile; py_compile.compile({:?}, cfile={:?}, doraise=True)",
        profile.display().to_string(),
        cfile.display().to_string()
    );
    run(Command::new("python3").args(["-c", &compile]), "python3 py_compile");
    let _ = std::fs::remove_file(&cfile);
    let out = run(
        Command::new("python3")
            .arg("-B")
            .arg(profiles().join("stubs/check_trex.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "the TRex profile against the stand-in trex_stl_lib",
    );
    assert!(out.contains("trex profile ok"), "{out}");
}

#[test]
fn pktgen_script_parses_and_sets_the_mix() {
    let script = profiles().join("pktgen_g711.lua");
    let luac = if Command::new("luac5.4").arg("-v").output().is_ok() { "luac5.4" } else { "luac" };
    run(Command::new(luac).arg("-p").arg(&script), "luac -p");
    let out = run(
        Command::new("lua5.4").arg(profiles().join("stubs/check_pktgen.lua")).env("MFW_SECONDS", "0"),
        "the pktgen script against the stand-in Pktgen library",
    );
    assert!(out.contains("pktgen script ok"), "{out}");
}
