//! IOMMU and vfio state: what vfio-pci needs to work.

use serde::Serialize;

use crate::cpu::Cmdline;
use crate::sysfs::Root;

/// Whether DMA remapping is on and how vfio can be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IommuState {
    /// Entries of `/sys/kernel/iommu_groups` (zero when the IOMMU is off).
    pub groups: usize,
    /// IOMMU parameters on the kernel command line.
    pub cmdline: Vec<String>,
    /// vfio's `enable_unsafe_noiommu_mode`.
    pub noiommu: bool,
    /// Whether the vfio-pci driver is registered or its module loaded.
    pub vfio_pci: bool,
}

impl IommuState {
    /// Gather from sysfs, `/proc/modules` and the command line.
    pub fn read(root: &Root, cmdline: &Cmdline) -> Self {
        let modules = root.read_opt("/proc/modules").unwrap_or_default();
        IommuState {
            groups: root.list("/sys/kernel/iommu_groups").len(),
            cmdline: cmdline.pick(&["intel_iommu", "amd_iommu", "iommu"]),
            noiommu: matches!(
                root.read_opt("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode").as_deref(),
                Some("Y" | "y" | "1")
            ),
            vfio_pci: root.exists("/sys/bus/pci/drivers/vfio-pci")
                || modules.lines().any(|l| l.starts_with("vfio_pci ")),
        }
    }

    /// Whether the IOMMU is translating (it has groups).
    pub fn enabled(&self) -> bool {
        self.groups > 0
    }

    /// Whether vfio-pci can take a device: IOMMU on, or no-IOMMU mode enabled.
    pub fn vfio_usable(&self) -> bool {
        self.enabled() || self.noiommu
    }
}
