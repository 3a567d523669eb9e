//! mediafwd's binding to the system's DPDK 22.11.
//!
//! [`sys`] is the raw bindgen output (plus out-of-line entry points for
//! DPDK's `static inline` fast path, named `mfw_*`). The other modules are
//! thin safe wrappers: every `unsafe` call of the project into DPDK lives
//! here, each with a `// SAFETY:` note.

pub mod sys {
    #![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/dpdk.rs"));
}

mod cstr;
pub mod eal;
pub mod error;
pub mod mbuf;
pub mod memory;
pub mod mempool;
pub mod port;
pub mod ring;

pub use eal::Eal;
pub use error::{DpdkError, Result};
pub use mbuf::{Burst, Mbuf, BURST_SIZE};
pub use memory::TableArray;
pub use mempool::Mempool;
pub use port::{Port, PortConfig, PortStats, RxQueue, TxQueue};
pub use ring::Ring;

/// Hints the CPU to bring the cache line at `ptr` into all cache levels.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, even on an invalid address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast())
    }
}
