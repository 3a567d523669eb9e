//! Finds the system's DPDK with pkg-config, compiles the fast-path shim and
//! generates bindings for an allowlist of the DPDK API.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/mediafwd_dpdk.h");
    println!("cargo:rerun-if-changed=csrc/mediafwd_dpdk.c");

    let dpdk = pkg_config::Config::new().atleast_version("22.11").probe("libdpdk").unwrap_or_else(|e| {
        panic!("DPDK 22.11 not found by pkg-config ({e}); install it with: apt-get install libdpdk-dev pkg-config")
    });

    // pkg-config's cflags carry `-include rte_config.h -march=corei7`; both
    // clang (bindgen) and cc need them or struct layouts disagree.
    let cflags = pkg_config::get_variable("libdpdk", "cflags").ok();
    let extra_flags: Vec<String> = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let _ = cflags;

    let mut shim = cc::Build::new();
    shim.file("csrc/mediafwd_dpdk.c").opt_level(3).warnings(false);
    for path in &dpdk.include_paths {
        shim.include(path);
    }
    for flag in &extra_flags {
        if !flag.starts_with("-I") {
            shim.flag(flag);
        }
    }
    shim.compile("mediafwd_dpdk_shim");

    // The ring PMD is called directly (rte_eth_from_rings); pkg-config's
    // --libs names no PMD.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");

    let mut builder = bindgen::Builder::default()
        .header("csrc/mediafwd_dpdk.h")
        .allowlist_function("rte_.*")
        .allowlist_function("mfw_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("RTE_ETH_.*")
        // Packed structs bindgen cannot lay out on 22.11 headers.
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_psc_.*")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .blocklist_function("rte_.*_trace_.*")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for path in &dpdk.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    for flag in &extra_flags {
        builder = builder.clang_arg(flag);
    }

    let bindings = builder.generate().expect("bindgen failed on the DPDK headers; is libclang-dev installed?");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("dpdk.rs");
    bindings.write_to_file(out).expect("cannot write bindings");
}
