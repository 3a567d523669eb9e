//! Everything `status` reports, gathered in one pass.

use serde::Serialize;

use crate::cpu::{nic_irqs, Cmdline, CpuInfo, NicIrqs, NicNames};
use crate::host::Host;
use crate::hugepages::{default_size_kb, pools, Pool};
use crate::mounts::{bpffs_mounted, hugetlbfs_mounts, HugetlbfsMount};
use crate::net::address_book;
use crate::pci::{network_devices, IommuState, PciDevice};
use crate::sysfs::Root;

/// The host as mediafwd sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Hugepage pools, global then per node.
    pub hugepages: Vec<Pool>,
    /// The default hugepage size in KiB.
    pub default_hugepage_kb: u64,
    /// hugetlbfs mounts.
    pub hugetlbfs: Vec<HugetlbfsMount>,
    /// Whether bpffs is mounted at `/sys/fs/bpf`.
    pub bpffs: bool,
    /// IOMMU and vfio.
    pub iommu: IommuState,
    /// Network PCI devices.
    pub nics: Vec<PciDevice>,
    /// CPUs and isolation.
    pub cpu: CpuInfo,
    /// Where each NIC's interrupts may land.
    pub nic_irqs: Vec<NicIrqs>,
}

impl Status {
    /// Gather the status of the host under `root`.
    pub fn read(root: &Root, host: &dyn Host) -> Self {
        let cmdline = Cmdline::read(root);
        let book = address_book(root, host);
        let nics = network_devices(root, &book);
        let cpu = CpuInfo::read(root, &cmdline);
        let names: Vec<NicNames> = nics
            .iter()
            .map(|n| NicNames {
                addr: n.addr.to_string(),
                interfaces: n.interfaces.iter().map(|i| i.name.clone()).collect(),
            })
            .collect();
        Status {
            hugepages: pools(root),
            default_hugepage_kb: default_size_kb(root),
            hugetlbfs: hugetlbfs_mounts(root),
            bpffs: bpffs_mounted(root),
            iommu: IommuState::read(root, &cmdline),
            nic_irqs: nic_irqs(root, &names, &cpu.isolated),
            nics,
            cpu,
        }
    }
}
