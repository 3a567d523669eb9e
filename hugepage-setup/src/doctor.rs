//! Preflight checks: can mediafwd start here, and what to fix first.

use serde::Serialize;

use crate::host::Host;
use crate::hugepages::PageSize;
use crate::status::Status;
use crate::sysfs::{effective_uid, Root};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Ready.
    Pass,
    /// Works, but slower or with a limitation.
    Warn,
    /// mediafwd will not start (or not use NICs) until fixed.
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One preflight check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about a WARN or FAIL.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Pass, detail: detail.into(), fix: None }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { name, verdict: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// The names of every check, in the order they run.
pub const CHECKS: [&str; 12] = [
    "root",
    "hugepages reserved",
    "hugepages free",
    "hugetlbfs mounted",
    "DPDK runtime",
    "IOMMU",
    "vfio-pci devices",
    "CPU count",
    "isolated CPUs",
    "NIC interrupts",
    "CPU features",
    "bpffs",
];

/// The CPU features mediafwd's SRTP and hashing use when present.
pub const CPU_FEATURES: [&str; 4] = ["sse4_2", "avx2", "aes", "sha_ni"];

/// Where a DPDK runtime is looked for.
const DPDK_LIB_DIRS: [&str; 6] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/usr/local/lib/x86_64-linux-gnu",
];

/// The result of `doctor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Whether no check failed.
    pub ok: bool,
}

/// Pages wanted when `--pages` is not given: 1 GiB worth.
pub fn default_pages(size: PageSize) -> u64 {
    (1024 * 1024 / size.kb()).max(1)
}

/// Run every check against the host under `root`, wanting `pages` free pages of `size`.
pub fn doctor(root: &Root, host: &dyn Host, pages: u64, size: PageSize) -> DoctorReport {
    let status = Status::read(root, host);
    let checks = vec![
        check_root(root),
        check_reserved(&status, pages, size),
        check_free(&status, pages, size),
        check_mounted(&status, size),
        check_dpdk(root),
        check_iommu(&status),
        check_vfio_devices(&status),
        check_cpu_count(&status),
        check_isolcpus(&status),
        check_irqs(&status),
        check_cpu_features(root),
        check_bpffs(&status),
    ];
    let ok = checks.iter().all(|c| c.verdict != Verdict::Fail);
    DoctorReport { checks, ok }
}

fn check_root(root: &Root) -> Check {
    match effective_uid(root) {
        Some(0) => Check::pass("root", "running as root"),
        Some(uid) => Check::warn(
            "root",
            format!("running as uid {uid}: reserve, mount, bind, vfs and persist need root"),
            "run the writing commands with sudo",
        ),
        None => {
            Check::warn("root", "cannot read the Uid line of /proc/self/status", "run the writing commands with sudo")
        }
    }
}

fn global(status: &Status, size: PageSize) -> Option<&crate::hugepages::Pool> {
    status.hugepages.iter().find(|p| p.node.is_none() && p.size_kb == size.kb())
}

fn check_reserved(status: &Status, pages: u64, size: PageSize) -> Check {
    const NAME: &str = "hugepages reserved";
    let fix = format!("hugepage-setup reserve --count {pages} --size {size}");
    match global(status, size) {
        None => Check::fail(
            NAME,
            format!("the kernel has no {size} hugepage pool"),
            format!("use the other size (--size), or a kernel/CPU with {size} pages"),
        ),
        Some(p) if p.total >= pages => Check::pass(NAME, format!("{} x {size} reserved (want {pages})", p.total)),
        Some(p) => Check::fail(NAME, format!("{} x {size} reserved, {pages} wanted", p.total), fix),
    }
}

fn check_free(status: &Status, pages: u64, size: PageSize) -> Check {
    const NAME: &str = "hugepages free";
    match global(status, size) {
        Some(p) if p.free >= pages => Check::pass(NAME, format!("{} x {size} free (want {pages})", p.free)),
        Some(p) => Check::fail(
            NAME,
            format!("{} x {size} free, {pages} wanted", p.free),
            format!(
                "stop what holds them (a stale DPDK process: `ls /dev/hugepages`) or reserve \
                 more: hugepage-setup reserve --count {} --size {size}",
                p.total + (pages - p.free)
            ),
        ),
        None => Check::fail(NAME, format!("no {size} hugepage pool"), "see `hugepages reserved`"),
    }
}

fn check_mounted(status: &Status, size: PageSize) -> Check {
    const NAME: &str = "hugetlbfs mounted";
    let paths: Vec<&str> =
        status.hugetlbfs.iter().filter(|m| m.size_kb == size.kb()).map(|m| m.path.as_str()).collect();
    if paths.is_empty() {
        Check::fail(
            NAME,
            format!("no hugetlbfs mount with {size} pages"),
            format!("hugepage-setup mount --size {size}"),
        )
    } else {
        Check::pass(NAME, format!("{size} pages at {}", paths.join(", ")))
    }
}

fn check_dpdk(root: &Root) -> Check {
    const NAME: &str = "DPDK runtime";
    let pmds = "/usr/lib/x86_64-linux-gnu/dpdk";
    if let Some(dir) = root.list(pmds).iter().find(|d| d.starts_with("pmds-")) {
        return Check::pass(NAME, format!("PMDs in {pmds}/{dir}"));
    }
    for dir in DPDK_LIB_DIRS {
        if let Some(lib) = root.list(dir).into_iter().find(|f| f.starts_with("librte_eal.so")) {
            return Check::pass(NAME, format!("{dir}/{lib}"));
        }
    }
    Check::fail(
        NAME,
        "no DPDK PMD directory and no librte_eal.so",
        "install DPDK 22.11: `apt-get install dpdk` (Debian/Ubuntu) or `dnf install dpdk`",
    )
}

const IOMMU_FIX: &str = "bare metal or vIOMMU: `intel_iommu=on iommu=pt` (AMD: `amd_iommu=on \
                         iommu=pt`) on the kernel command line; VM without vIOMMU: \
                         `modprobe vfio enable_unsafe_noiommu_mode=1`";

fn vfio_bound(status: &Status) -> Vec<String> {
    status.nics.iter().filter(|n| n.driver.as_deref() == Some("vfio-pci")).map(|n| n.addr.to_string()).collect()
}

fn check_iommu(status: &Status) -> Check {
    const NAME: &str = "IOMMU";
    let iommu = &status.iommu;
    let vfio = if iommu.vfio_pci { "vfio-pci loaded" } else { "vfio-pci not loaded (bind loads it)" };
    if iommu.enabled() {
        return Check::pass(NAME, format!("on, {} groups; {vfio}", iommu.groups));
    }
    if iommu.noiommu {
        return Check::pass(NAME, format!("off, vfio in unsafe no-IOMMU mode (no DMA isolation); {vfio}"));
    }
    if vfio_bound(status).is_empty() {
        Check::warn(
            NAME,
            "off and no-IOMMU mode off: vfio-pci cannot take a NIC (virtual devices need neither)",
            IOMMU_FIX,
        )
    } else {
        Check::fail(NAME, "off and no-IOMMU mode off, yet NICs are bound to vfio-pci: DPDK cannot open them", IOMMU_FIX)
    }
}

fn check_vfio_devices(status: &Status) -> Check {
    const NAME: &str = "vfio-pci devices";
    let bound: Vec<String> = status
        .nics
        .iter()
        .filter(|n| n.dpdk_bound())
        .map(|n| format!("{} ({})", n.addr, n.driver.as_deref().unwrap_or("")))
        .collect();
    if bound.is_empty() {
        Check::warn(
            NAME,
            "no physical NIC is bound to a DPDK driver: only virtual devices (net_af_xdp, \
             net_af_packet, net_memif) will work",
            "hugepage-setup bind <PCI-ADDR> (addresses in `hugepage-setup status`)",
        )
    } else {
        Check::pass(NAME, bound.join(", "))
    }
}

fn check_cpu_count(status: &Status) -> Check {
    const NAME: &str = "CPU count";
    let n = status.cpu.count;
    if n >= 2 {
        Check::pass(NAME, format!("{n} CPUs"))
    } else {
        Check::fail(
            NAME,
            format!("{n} CPU(s): mediafwd needs a control core and at least one worker core"),
            "run on a host or instance with 2 or more vCPUs",
        )
    }
}

fn check_isolcpus(status: &Status) -> Check {
    const NAME: &str = "isolated CPUs";
    match &status.cpu.isolcpus {
        Some(list) => Check::pass(NAME, format!("isolcpus={list}")),
        None => {
            let cpus = match status.cpu.count {
                0..=2 => "1".to_string(),
                n => format!("1-{}", n - 1),
            };
            Check::warn(
                NAME,
                "no isolcpus: the scheduler may put other work on the worker cores (jitter)",
                format!(
                    "add `isolcpus={cpus} nohz_full={cpus} rcu_nocbs={cpus}` (the worker cores) \
                     to the kernel command line"
                ),
            )
        }
    }
}

fn check_irqs(status: &Status) -> Check {
    const NAME: &str = "NIC interrupts";
    let hit: Vec<String> = status
        .nic_irqs
        .iter()
        .filter(|n| !n.on_isolated.is_empty())
        .map(|n| format!("{} on CPUs {:?}", n.device, n.on_isolated))
        .collect();
    if hit.is_empty() {
        let irqs: usize = status.nic_irqs.iter().map(|n| n.irqs.len()).sum();
        Check::pass(NAME, format!("{irqs} NIC IRQs, none on isolated CPUs"))
    } else {
        Check::warn(
            NAME,
            format!("NIC IRQs may land on isolated CPUs: {}", hit.join("; ")),
            "write housekeeping CPUs to /proc/irq/<N>/smp_affinity_list, or set \
             IRQBALANCE_BANNED_CPULIST for irqbalance",
        )
    }
}

fn check_cpu_features(root: &Root) -> Check {
    const NAME: &str = "CPU features";
    let flags = crate::cpu::cpu_flags(root);
    let missing: Vec<&str> = CPU_FEATURES.iter().copied().filter(|f| !flags.contains(*f)).collect();
    if missing.is_empty() {
        Check::pass(NAME, CPU_FEATURES.join(" "))
    } else {
        Check::warn(
            NAME,
            format!("missing {}: SRTP and hashing fall back to slower code", missing.join(" ")),
            "use a CPU (or an instance type) that exposes them; on a VM, pass the host CPU model",
        )
    }
}

fn check_bpffs(status: &Status) -> Check {
    const NAME: &str = "bpffs";
    if status.bpffs {
        Check::pass(NAME, "mounted at /sys/fs/bpf")
    } else {
        Check::warn(NAME, "not mounted at /sys/fs/bpf: net_af_xdp cannot pin its maps", "mount -t bpf bpf /sys/fs/bpf")
    }
}
