//! Compiles mediafwd/v1/mediafwd.proto with protoc (Debian's
//! protobuf-compiler) and keeps the descriptor set for gRPC reflection.

fn main() {
    println!("cargo:rerun-if-changed=mediafwd/v1/mediafwd.proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    tonic_build::configure()
        .file_descriptor_set_path(out.join("mediafwd_descriptor.bin"))
        // For mediafwdctl's JSON output.
        .type_attribute(".", "#[derive(serde::Serialize)]")
        .compile_protos(&["mediafwd/v1/mediafwd.proto"], &["."])
        .unwrap_or_else(|e| {
            panic!("compiling the protobuf API failed ({e}); is protoc installed? apt-get install protobuf-compiler")
        });
}
