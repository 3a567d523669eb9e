//! Errors of host preparation. Every message says what to do next.

use std::io;
use std::path::PathBuf;

use crate::pci::PciAddr;

/// What can go wrong while inspecting or preparing a host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A writing command was started without root privileges.
    #[error("`{command}` changes the host and needs root: run it with sudo, or preview it with --dry-run")]
    NotRoot {
        /// The subcommand that was refused.
        command: String,
    },

    /// A file the command depends on could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The resolved path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The kernel (or the filesystem) refused a write.
    #[error("cannot write {value:?} to {path}: {source}{hint}")]
    Write {
        /// The resolved path.
        path: PathBuf,
        /// The value that was written.
        value: String,
        /// The underlying error.
        source: io::Error,
        /// A suggestion that depends on the error kind, starting with "; " (or empty).
        hint: String,
    },

    /// A helper program could not be started.
    #[error("cannot run `{command}`: {source}; is it installed and in PATH?")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A helper program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },

    /// A PCI address did not parse.
    #[error("invalid PCI address {0:?}: expected DDDD:BB:DD.F (0000:3b:00.0) or BB:DD.F (3b:00.0)")]
    InvalidPciAddress(String),

    /// A hugepage size did not parse.
    #[error("invalid hugepage size {0:?}: use 2M or 1G")]
    InvalidPageSize(String),

    /// No device at that PCI address.
    #[error("no PCI device {0}: `hugepage-setup status` lists the network devices")]
    NoSuchDevice(PciAddr),

    /// Binding would take an interface that carries traffic away from the kernel.
    #[error(
        "{addr} is interface {iface}, which is up with {address}: binding it would cut \
         that traffic. Take it down first (`ip addr flush dev {iface} && ip link set {iface} down`) \
         or pass --force"
    )]
    InterfaceInUse {
        /// The device.
        addr: PciAddr,
        /// Its kernel interface.
        iface: String,
        /// Its addresses.
        address: String,
    },

    /// vfio-pci cannot work: no IOMMU and no-IOMMU mode off.
    #[error(
        "cannot bind {addr} to vfio-pci: the IOMMU is off and vfio's no-IOMMU mode is disabled. \
         On bare metal or a VM with a vIOMMU, add `intel_iommu=on iommu=pt` (AMD: \
         `amd_iommu=on iommu=pt`) to the kernel command line and reboot; on a VM without a vIOMMU \
         (AWS, Azure, GCP), enable the unsafe no-IOMMU mode: `modprobe vfio \
         enable_unsafe_noiommu_mode=1` or `echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode`"
    )]
    IommuOff {
        /// The device that was to be bound.
        addr: PciAddr,
    },

    /// The requested driver is still absent after loading its module.
    #[error(
        "driver {driver} is not available (no /sys/bus/pci/drivers/{driver} after `modprobe`): \
         install the kernel modules for the running kernel"
    )]
    DriverMissing {
        /// The driver name.
        driver: String,
    },

    /// The kernel did not attach the device to the requested driver.
    #[error("{addr} did not bind to {driver} (now: {now}): `dmesg | tail` shows the kernel's reason")]
    BindFailed {
        /// The device.
        addr: PciAddr,
        /// The requested driver.
        driver: String,
        /// The driver it has now ("none" when unbound).
        now: String,
    },

    /// The kernel reserved fewer hugepages than asked.
    #[error(
        "the kernel reserved only {got} of {wanted} {size} hugepages{place}: memory is short or \
         fragmented. Free memory (`sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > \
         /proc/sys/vm/compact_memory`) and retry, or reserve them at boot with `{cmdline}` on the \
         kernel command line"
    )]
    ShortAllocation {
        /// Page size label ("2M", "1G").
        size: String,
        /// " on node N" or empty.
        place: String,
        /// Requested pages.
        wanted: u64,
        /// Pages the kernel gave.
        got: u64,
        /// Kernel command line that reserves them at boot.
        cmdline: String,
    },

    /// The kernel exposes no pool for that page size.
    #[error(
        "{size} hugepages are not available here (no {path}): the CPU or kernel does not support \
         them{hint}"
    )]
    UnsupportedPageSize {
        /// Page size label.
        size: String,
        /// The missing sysfs directory.
        path: PathBuf,
        /// Extra advice.
        hint: String,
    },

    /// The NUMA node does not exist.
    #[error("NUMA node {node} does not exist (nodes here: {nodes})")]
    NoSuchNode {
        /// The requested node.
        node: u32,
        /// The nodes that exist.
        nodes: String,
    },

    /// Something else is mounted where hugetlbfs should go.
    #[error("{path} is already a mount point ({fstype}, {options}): choose another --path or unmount it")]
    MountConflict {
        /// The mount point.
        path: String,
        /// Its filesystem type.
        fstype: String,
        /// Its mount options.
        options: String,
    },

    /// A mount path that cannot be used.
    #[error("invalid mount path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The device has no SR-IOV capability.
    #[error("{0} is not SR-IOV capable (no sriov_totalvfs): pass the address of a physical function")]
    NotSriov(PciAddr),

    /// More VFs were requested than the PF supports.
    #[error("{addr} supports at most {total} VFs, {wanted} requested")]
    TooManyVfs {
        /// The PF.
        addr: PciAddr,
        /// Requested VFs.
        wanted: u32,
        /// sriov_totalvfs.
        total: u32,
    },

    /// VF settings need the PF's kernel interface.
    #[error(
        "{0} has no kernel interface, which `ip link set <pf> vf` needs: bind the PF back to its \
         kernel driver first"
    )]
    NoPfInterface(PciAddr),

    /// A `VF=VALUE` argument did not parse.
    #[error("invalid VF setting {given:?}: {reason}")]
    InvalidVfSetting {
        /// The argument as given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A VF setting names a VF that will not exist.
    #[error("VF {vf} does not exist: {addr} will have {count} VFs (0..{count})")]
    NoSuchVf {
        /// The PF.
        addr: PciAddr,
        /// The VF index.
        vf: u32,
        /// The VF count after the command.
        count: u32,
    },
}

impl Error {
    /// A write error with a hint chosen from the error kind.
    pub fn write(path: PathBuf, value: &str, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied => "; this needs root".to_string(),
            io::ErrorKind::NotFound => "; the kernel does not expose it here".to_string(),
            _ if source.raw_os_error() == Some(16) => "; the device or setting is busy (in use)".to_string(),
            _ => String::new(),
        };
        Error::Write { path, value: value.to_string(), source, hint }
    }
}

/// Result of host preparation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
