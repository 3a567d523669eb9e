//! Generates bindings for the part of `intel-ipsec-mb.h` mediafwd uses: the
//! manager, its job structure and the enums that describe a job.

use std::env;
use std::path::PathBuf;

const HEADER: &str = "/usr/include/intel-ipsec-mb.h";

fn main() {
    println!("cargo:rerun-if-changed={HEADER}");
    if !std::path::Path::new(HEADER).exists() {
        panic!("{HEADER} not found; install ipsec-mb with: apt-get install libipsec-mb-dev (or build without the ipsec-mb feature)");
    }
    println!("cargo:rustc-link-lib=dylib=IPSec_MB");

    let bindings = bindgen::Builder::default()
        .header(HEADER)
        .allowlist_type("IMB_MGR")
        .allowlist_type("IMB_JOB")
        .allowlist_type("IMB_ARCH")
        .allowlist_type("IMB_STATUS")
        .allowlist_type("IMB_CIPHER_MODE")
        .allowlist_type("IMB_CIPHER_DIRECTION")
        .allowlist_type("IMB_HASH_ALG")
        .allowlist_type("IMB_CHAIN_ORDER")
        .allowlist_type("IMB_KEY_SIZE_BYTES")
        .allowlist_type("gcm_key_data")
        .allowlist_type("gcm_context_data")
        .allowlist_function("alloc_mb_mgr")
        .allowlist_function("free_mb_mgr")
        .allowlist_function("init_mb_mgr_auto")
        .allowlist_function("init_mb_mgr_sse")
        .allowlist_function("init_mb_mgr_avx2")
        .allowlist_function("init_mb_mgr_avx512")
        .allowlist_function("imb_get_version_str")
        .allowlist_function("imb_get_errno")
        .allowlist_function("imb_get_strerror")
        .allowlist_var("IMB_FEATURE_.*")
        .allowlist_var("IMB_MAX_BURST_SIZE")
        .rustified_enum("IMB_ARCH")
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on intel-ipsec-mb.h; is libclang-dev installed?");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("ipsec_mb.rs");
    bindings.write_to_file(out).expect("cannot write bindings");
}
