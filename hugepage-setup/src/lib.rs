//! Host preparation for mediafwd: hugepages, hugetlbfs, vfio-pci bindings, SR-IOV VFs,
//! boot-time persistence and preflight checks.
//!
//! Every path is resolved under a [`sysfs::Root`] (`/` on a real host), and every change
//! goes through a [`host::Host`], so the whole tool runs against a prepared tree in tests
//! and `--dry-run` describes changes without making them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cpu;
pub mod ctx;
pub mod doctor;
pub mod error;
pub mod host;
pub mod hugepages;
pub mod mounts;
pub mod net;
pub mod pci;
pub mod persist;
pub mod report;
pub mod sriov;
pub mod status;
pub mod sysfs;

pub use ctx::Ctx;
pub use error::{Error, Result};
pub use host::{Host, SimulatedHost, SystemHost};
pub use hugepages::PageSize;
pub use pci::PciAddr;
pub use sysfs::Root;
