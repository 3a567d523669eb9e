//! mediafwd's binding to DPDK.
pub mod sys {
    #![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/dpdk.rs"));
}
