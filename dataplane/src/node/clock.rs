//! The time-stamp counter, as the workers and the flow statistics count
//! time: ticks from `rdtsc`, converted with the rate the EAL measured.

use mediafwd_ffi::eal;

/// The TSC clock (valid once a node started the EAL).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tsc;

impl Tsc {
    /// The counter now, in ticks.
    #[inline(always)]
    pub fn now() -> u64 {
        eal::rdtsc()
    }

    /// Ticks per second.
    pub fn hz() -> u64 {
        eal::tsc_hz()
    }
}

/// The DPDK version the node runs on (`DPDK 22.11.4`).
pub fn dpdk_version() -> String {
    eal::version()
}
