//! Cache prefetch for the hot path, through `core::arch` so that the packet
//! logic does not need DPDK to build: `_mm_prefetch` on x86_64, nothing
//! elsewhere. The one `unsafe` block of the dataplane outside its I/O modules.

/// Hints the CPU to bring the cache line at `ptr` into all cache levels.
/// Any address is allowed: a prefetch never faults.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a safe function marked
    // `#[target_feature(enable = "sse")]`, which is why the call needs this
    // block; SSE is part of the x86_64 baseline, so the feature is present on
    // every CPU this code runs on. The hint reads no memory and never faults,
    // whatever `ptr` is.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
