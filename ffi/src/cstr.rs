use std::ffi::CString;

use crate::error::{DpdkError, Result};

/// A C string for a DPDK name or argument; interior NULs are refused.
pub(crate) fn to_cstring(what: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| DpdkError::InvalidArgument { what, reason: format!("{s:?} contains a NUL byte") })
}
