//! PCI devices: addresses, network devices, IOMMU state, and driver binding.

mod addr;
mod bind;
mod device;
mod iommu;

pub use addr::PciAddr;
pub use bind::{bind, unbind};
pub use device::{device_dir, network_devices, read_device, PciDevice, DPDK_DRIVERS};
pub use iommu::IommuState;
