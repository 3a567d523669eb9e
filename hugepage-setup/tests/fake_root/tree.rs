//! A fake host tree: sysfs, procfs and friends of a two-node server with three NICs.
//!
//! - 0000:3b:00.0: ixgbe, interface eth1, up with 198.18.0.10/24 and 2001:db8::10/64
//! - 0000:3b:00.1: bound to vfio-pci
//! - 0000:5e:00.0: i40e PF with sriov_totalvfs=8, interface eth2, up without an address
//! - 0000:00:1f.2: a SATA controller (not a NIC)
//!
//! IOMMU on (two groups, `intel_iommu=on iommu=pt`), isolcpus=2-3 on 4 CPUs, 2M hugetlbfs
//! at /dev/hugepages, no pages reserved.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use mediafwd_hugepage_setup::{Ctx, Root, SimulatedHost};
use tempfile::TempDir;

pub const IXGBE: &str = "0000:3b:00.0";
pub const VFIO: &str = "0000:3b:00.1";
pub const PF: &str = "0000:5e:00.0";

pub struct Tree {
    dir: TempDir,
}

impl Tree {
    pub fn new() -> Self {
        let t = Tree { dir: tempfile::tempdir().unwrap() };
        t.hugepages();
        t.pci();
        t.procfs();
        t.write("/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_ixgbe.so.23", "");
        t
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> Root {
        Root::new(self.dir.path())
    }

    pub fn host(&self) -> SimulatedHost {
        SimulatedHost::new(self.root())
    }

    pub fn ctx<'h>(&self, host: &'h SimulatedHost, dry_run: bool) -> Ctx<'h> {
        Ctx::new(self.root(), host, dry_run)
    }

    fn abs(&self, host_path: &str) -> PathBuf {
        self.dir.path().join(host_path.trim_start_matches('/'))
    }

    pub fn write(&self, host_path: &str, content: &str) {
        let p = self.abs(host_path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    pub fn read(&self, host_path: &str) -> String {
        fs::read_to_string(self.abs(host_path)).unwrap_or_else(|e| panic!("{host_path}: {e}"))
    }

    pub fn mkdir(&self, host_path: &str) {
        fs::create_dir_all(self.abs(host_path)).unwrap();
    }

    pub fn remove(&self, host_path: &str) {
        let p = self.abs(host_path);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }

    /// A symlink at `link` pointing to the host path `target`, made relative as sysfs does.
    pub fn link(&self, link: &str, target: &str) {
        let l = self.abs(link);
        fs::create_dir_all(l.parent().unwrap()).unwrap();
        let depth = link.trim_start_matches('/').matches('/').count();
        let rel = format!("{}{}", "../".repeat(depth), target.trim_start_matches('/'));
        symlink(rel, l).unwrap();
    }

    /// The driver a device is bound to.
    pub fn driver(&self, addr: &str) -> Option<String> {
        fs::read_link(self.abs(&format!("/sys/bus/pci/devices/{addr}/driver")))
            .ok()
            .map(|t| t.file_name().unwrap().to_string_lossy().into_owned())
    }

    fn hugepages(&self) {
        for kb in [2048, 1048576] {
            let d = format!("hugepages-{kb}kB");
            for f in ["nr_hugepages", "free_hugepages"] {
                self.write(&format!("/sys/kernel/mm/hugepages/{d}/{f}"), "0\n");
                for node in 0..2 {
                    self.write(&format!("/sys/devices/system/node/node{node}/hugepages/{d}/{f}"), "0\n");
                }
            }
            self.write(&format!("/sys/kernel/mm/hugepages/{d}/surplus_hugepages"), "0\n");
        }
        self.write("/sys/devices/system/node/online", "0-1\n");
        self.write("/sys/devices/system/node/possible", "0-1\n");
    }

    fn device(&self, addr: &str, class: &str, vendor: &str, device: &str, node: u32) {
        let d = format!("/sys/bus/pci/devices/{addr}");
        self.write(&format!("{d}/class"), &format!("{class}\n"));
        self.write(&format!("{d}/vendor"), &format!("{vendor}\n"));
        self.write(&format!("{d}/device"), &format!("{device}\n"));
        self.write(&format!("{d}/numa_node"), &format!("{node}\n"));
        self.write(&format!("{d}/driver_override"), "(null)\n");
    }

    fn bind_to(&self, addr: &str, driver: &str) {
        self.link(&format!("/sys/bus/pci/devices/{addr}/driver"), &format!("/sys/bus/pci/drivers/{driver}"));
    }

    fn netdev(&self, addr: &str, ifname: &str, operstate: &str) {
        let d = format!("/sys/bus/pci/devices/{addr}/net/{ifname}");
        self.write(&format!("{d}/operstate"), &format!("{operstate}\n"));
        self.write(&format!("{d}/flags"), "0x1003\n");
        self.link(&format!("/sys/class/net/{ifname}"), &d);
    }

    fn pci(&self) {
        for drv in ["ixgbe", "i40e", "vfio-pci", "ahci"] {
            self.mkdir(&format!("/sys/bus/pci/drivers/{drv}"));
            self.write(&format!("/sys/bus/pci/drivers/{drv}/unbind"), "");
            self.write(&format!("/sys/bus/pci/drivers/{drv}/bind"), "");
        }
        self.write("/sys/bus/pci/drivers_probe", "");
        self.mkdir("/sys/kernel/iommu_groups/12");
        self.mkdir("/sys/kernel/iommu_groups/13");

        self.device(IXGBE, "0x020000", "0x8086", "0x10fb", 0);
        self.bind_to(IXGBE, "ixgbe");
        self.netdev(IXGBE, "eth1", "up");
        self.link(&format!("/sys/bus/pci/devices/{IXGBE}/iommu_group"), "/sys/kernel/iommu_groups/12");

        self.device(VFIO, "0x020000", "0x8086", "0x10fb", 0);
        self.bind_to(VFIO, "vfio-pci");
        self.write(&format!("/sys/bus/pci/devices/{VFIO}/driver_override"), "vfio-pci\n");
        self.link(&format!("/sys/bus/pci/devices/{VFIO}/iommu_group"), "/sys/kernel/iommu_groups/13");

        self.device(PF, "0x020000", "0x8086", "0x1572", 1);
        self.bind_to(PF, "i40e");
        self.netdev(PF, "eth2", "up");
        self.write(&format!("/sys/bus/pci/devices/{PF}/sriov_totalvfs"), "8\n");
        self.write(&format!("/sys/bus/pci/devices/{PF}/sriov_numvfs"), "0\n");

        self.device("0000:00:1f.2", "0x010601", "0x8086", "0xa182", 0);
        self.bind_to("0000:00:1f.2", "ahci");

        self.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
    }

    fn procfs(&self) {
        self.write(
            "/proc/mounts",
            "/dev/sda1 / ext4 rw,relatime 0 0\n\
             proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
             sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n\
             hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n",
        );
        self.write(
            "/proc/cmdline",
            "BOOT_IMAGE=/vmlinuz-6.1.0 root=/dev/sda1 ro intel_iommu=on iommu=pt \
             isolcpus=2-3 nohz_full=2-3 rcu_nocbs=2-3\n",
        );
        self.write("/proc/meminfo", "MemTotal: 65536000 kB\nHugepagesize:       2048 kB\n");
        let mut cpuinfo = String::new();
        for cpu in 0..4 {
            cpuinfo.push_str(&format!(
                "processor\t: {cpu}\nvendor_id\t: GenuineIntel\n\
                 flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 aes pclmulqdq pdpe1gb\n\n"
            ));
        }
        self.write("/proc/cpuinfo", &cpuinfo);
        self.write(
            "/proc/interrupts",
            "            CPU0       CPU1       CPU2       CPU3\n\
               0:         10          0          0          0   IO-APIC   2-edge      timer\n\
             120:       5000          0          0          0  IR-PCI-MSI 3145728-edge      eth1-TxRx-0\n\
             121:          0       4000          0          0  IR-PCI-MSI 3145729-edge      eth1-TxRx-1\n\
             122:          1          0          0          0  IR-PCI-MSI 3145730-edge      eth1\n\
             130:          0          0          0          0  IR-PCI-MSI 4194304-edge      i40e-0000:5e:00.0:misc\n\
             NMI:          0          0          0          0   Non-maskable interrupts\n",
        );
        self.write("/proc/irq/0/smp_affinity_list", "0-3\n");
        self.write("/proc/irq/120/smp_affinity_list", "0-1\n");
        self.write("/proc/irq/121/smp_affinity_list", "1\n");
        self.write("/proc/irq/122/smp_affinity_list", "0-3\n");
        self.write("/proc/irq/130/smp_affinity_list", "0\n");
        self.write(
            "/proc/net/fib_trie",
            "Main:\n  +-- 0.0.0.0/0 3 0 5\n     +-- 198.18.0.0/24 2 0 2\n\
                    +-- 198.18.0.0/31 1 0 0\n           |-- 198.18.0.0\n\
                          /24 link UNICAST\n     |-- 198.18.0.10\n\
                          /32 host LOCAL\n        |-- 198.18.0.255\n\
                          /32 link BROADCAST\n",
        );
        self.write(
            "/proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth1\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
        );
        self.write(
            "/proc/net/if_inet6",
            "20010db8000000000000000000000010 05 40 00 80     eth1\n\
             fe800000000000000000000000000002 06 40 20 80     eth2\n\
             00000000000000000000000000000001 01 80 10 80       lo\n",
        );
        self.write("/proc/modules", "vfio_pci 16384 0 - Live 0x0000000000000000\n");
        self.write("/proc/self/status", "Name:\thugepage-setup\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    }

    /// Turn the IOMMU off: no groups, nothing on the command line.
    pub fn iommu_off(&self) {
        self.remove("/sys/kernel/iommu_groups");
        self.mkdir("/sys/kernel/iommu_groups");
        self.remove(&format!("/sys/bus/pci/devices/{IXGBE}/iommu_group"));
        self.remove(&format!("/sys/bus/pci/devices/{VFIO}/iommu_group"));
        self.write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1.0 root=/dev/sda1 ro isolcpus=2-3\n");
    }

    /// Every file (with content), directory and symlink (with target) under the root.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p.strip_prefix(base).unwrap().to_path_buf();
                let meta = fs::symlink_metadata(&p).unwrap();
                if meta.file_type().is_symlink() {
                    out.insert(rel, format!("-> {}", fs::read_link(&p).unwrap().display()));
                } else if meta.is_dir() {
                    out.insert(rel, "<dir>".into());
                    walk(base, &p, out);
                } else {
                    out.insert(rel, fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }
}
