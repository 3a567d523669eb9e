//! PCI devices as sysfs shows them.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::net::{interface, AddressBook, Interface};
use crate::pci::PciAddr;
use crate::sriov::{read_sriov, Sriov};
use crate::sysfs::Root;

/// Drivers that hand a device to DPDK.
pub const DPDK_DRIVERS: [&str; 3] = ["vfio-pci", "uio_pci_generic", "igb_uio"];

/// A PCI device and the kernel state around it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PciDevice {
    /// Its address.
    pub addr: PciAddr,
    /// Class code (`0x020000` for Ethernet).
    pub class: String,
    /// Vendor ID (`0x8086`).
    pub vendor: String,
    /// Device ID.
    pub device: String,
    /// The driver it is bound to.
    pub driver: Option<String>,
    /// `driver_override`, when set.
    pub driver_override: Option<String>,
    /// The NUMA node it is attached to.
    pub numa_node: Option<u32>,
    /// Its IOMMU group.
    pub iommu_group: Option<String>,
    /// Kernel interfaces (none once bound to a DPDK driver).
    pub interfaces: Vec<Interface>,
    /// SR-IOV capability, on a physical function.
    pub sriov: Option<Sriov>,
}

impl PciDevice {
    /// Whether a DPDK driver owns it.
    pub fn dpdk_bound(&self) -> bool {
        self.driver.as_deref().is_some_and(|d| DPDK_DRIVERS.contains(&d))
    }

    /// The first interface that is up with an address.
    pub fn in_use(&self) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.in_use())
    }
}

/// The sysfs directory of a device.
pub fn device_dir(addr: PciAddr) -> String {
    format!("/sys/bus/pci/devices/{addr}")
}

/// Interface names under the device (`net/*`, or `virtio*/net/*` for virtio).
pub fn interface_names(root: &Root, addr: PciAddr) -> Vec<String> {
    let dir = device_dir(addr);
    let mut names = root.list(format!("{dir}/net"));
    for sub in root.list(&dir).iter().filter(|s| s.starts_with("virtio")) {
        names.extend(root.list(format!("{dir}/{sub}/net")));
    }
    names
}

/// Read one device; an error names the address when it does not exist.
pub fn read_device(root: &Root, addr: PciAddr, book: &AddressBook) -> Result<PciDevice> {
    let dir = device_dir(addr);
    if !root.exists(&dir) {
        return Err(Error::NoSuchDevice(addr));
    }
    let attr = |name: &str| root.read_opt(format!("{dir}/{name}"));
    Ok(PciDevice {
        addr,
        class: attr("class").unwrap_or_default(),
        vendor: attr("vendor").unwrap_or_default(),
        device: attr("device").unwrap_or_default(),
        driver: root.link_name(format!("{dir}/driver")),
        driver_override: attr("driver_override").filter(|o| !o.is_empty() && o != "(null)"),
        numa_node: attr("numa_node").and_then(|n| n.parse().ok()),
        iommu_group: root.link_name(format!("{dir}/iommu_group")),
        interfaces: interface_names(root, addr).iter().map(|n| interface(root, n, book)).collect(),
        sriov: read_sriov(root, addr),
    })
}

/// Every network controller (PCI class 0x02xxxx), in address order.
pub fn network_devices(root: &Root, book: &AddressBook) -> Vec<PciDevice> {
    let mut devices: Vec<PciDevice> = root
        .list("/sys/bus/pci/devices")
        .iter()
        .filter_map(|name| name.parse::<PciAddr>().ok())
        .filter(|addr| {
            root.read_opt(format!("{}/class", device_dir(*addr)))
                .and_then(|c| u32::from_str_radix(c.trim_start_matches("0x"), 16).ok())
                .is_some_and(|c| c >> 16 == 0x02)
        })
        .filter_map(|addr| read_device(root, addr, book).ok())
        .collect();
    devices.sort_by_key(|d| d.addr);
    devices
}
