use std::ffi::CStr;

use crate::sys;

/// A failed DPDK call, with DPDK's own explanation.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function returned an error code.
    #[error("{op} failed: {message} (errno {code})")]
    Call {
        /// The DPDK function that failed.
        op: &'static str,
        /// The positive errno value.
        code: i32,
        /// rte_strerror's text for `code`.
        message: String,
    },
    /// The EAL was already initialised in this process.
    #[error("the DPDK EAL can be initialised once per process")]
    EalAlreadyInitialised,
    /// An argument was refused before DPDK was called.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// Result of a DPDK wrapper.
pub type Result<T> = std::result::Result<T, DpdkError>;

impl DpdkError {
    /// The error for a DPDK call that returned `ret` (< 0: -errno) or set rte_errno.
    pub(crate) fn from_ret(op: &'static str, ret: i32) -> Self {
        let code = if ret < 0 { -ret } else { errno() };
        Self::Call { op, code, message: strerror(code) }
    }

    /// The error for a DPDK call that reports failure through rte_errno only.
    pub(crate) fn from_errno(op: &'static str) -> Self {
        Self::from_ret(op, 0)
    }
}

/// The calling thread's rte_errno.
pub fn errno() -> i32 {
    // SAFETY: reads a thread-local integer.
    unsafe { sys::mfw_errno() }
}

/// DPDK's description of an errno value.
pub fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string valid until the next call on this thread; it is
    // copied before returning.
    unsafe { CStr::from_ptr(sys::mfw_strerror(code)) }.to_string_lossy().into_owned()
}
