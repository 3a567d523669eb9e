//! Rendering reports as text for people and JSON for tools.

use std::fmt::Write;

use serde::Serialize;

use crate::doctor::DoctorReport;
use crate::status::Status;

/// Pretty JSON of any report.
pub fn json<T: Serialize>(report: &T) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

fn size_label(kb: u64) -> String {
    match kb {
        kb if kb % (1024 * 1024) == 0 => format!("{}G", kb / (1024 * 1024)),
        kb if kb % 1024 == 0 => format!("{}M", kb / 1024),
        kb => format!("{kb}k"),
    }
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

/// `status` as text.
pub fn status_text(s: &Status) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "hugepages (default size {}):", size_label(s.default_hugepage_kb));
    if s.hugepages.is_empty() {
        let _ = writeln!(w, "  no hugepage pools (kernel without hugetlbfs?)");
    }
    for p in &s.hugepages {
        let place = p.node.map_or("global".to_string(), |n| format!("node {n}"));
        let _ = writeln!(w, "  {:>4} {:<8} total {:>6}  free {:>6}", size_label(p.size_kb), place, p.total, p.free);
    }
    let _ = writeln!(w, "hugetlbfs mounts:");
    if s.hugetlbfs.is_empty() {
        let _ = writeln!(w, "  none");
    }
    for m in &s.hugetlbfs {
        let _ = writeln!(w, "  {} ({} pages)", m.path, size_label(m.size_kb));
    }
    let _ = writeln!(w, "bpffs: {}", if s.bpffs { "mounted at /sys/fs/bpf" } else { "not mounted" });
    let i = &s.iommu;
    let _ = writeln!(
        w,
        "IOMMU: {} ({} groups); cmdline: {}; no-IOMMU mode: {}; vfio-pci: {}",
        if i.enabled() { "on" } else { "off" },
        i.groups,
        if i.cmdline.is_empty() { "none".to_string() } else { i.cmdline.join(" ") },
        if i.noiommu { "on" } else { "off" },
        if i.vfio_pci { "available" } else { "not loaded" }
    );
    let _ = writeln!(w, "network devices:");
    if s.nics.is_empty() {
        let _ = writeln!(w, "  none");
    }
    for n in &s.nics {
        let _ = writeln!(
            w,
            "  {} {}:{} class {} driver {} numa {}{}",
            n.addr,
            n.vendor.trim_start_matches("0x"),
            n.device.trim_start_matches("0x"),
            n.class,
            n.driver.as_deref().unwrap_or("none"),
            n.numa_node.map_or("-".to_string(), |v| v.to_string()),
            n.driver_override.as_deref().map(|o| format!(" override {o}")).unwrap_or_default()
        );
        for iface in &n.interfaces {
            let _ = writeln!(
                w,
                "    {} {}{}{}",
                iface.name,
                iface.operstate,
                if iface.addresses.is_empty() { String::new() } else { format!(" {}", iface.addresses.join(" ")) },
                if iface.in_use() { " (in use)" } else { "" }
            );
        }
        if let Some(v) = &n.sriov {
            let _ = writeln!(w, "    SR-IOV: {} of {} VFs", v.num_vfs, v.total_vfs);
        }
    }
    let c = &s.cpu;
    let _ = writeln!(
        w,
        "CPUs: {}; isolcpus: {}; nohz_full: {}; rcu_nocbs: {}",
        c.count,
        or_none(&c.isolcpus),
        or_none(&c.nohz_full),
        or_none(&c.rcu_nocbs)
    );
    let _ = writeln!(w, "NIC interrupts (IRQs allowed per CPU):");
    if s.nic_irqs.is_empty() {
        let _ = writeln!(w, "  none found");
    }
    for n in &s.nic_irqs {
        let per_cpu: Vec<String> = n.per_cpu.iter().map(|(cpu, count)| format!("cpu{cpu}={count}")).collect();
        let _ = writeln!(
            w,
            "  {}: {} IRQs; {}{}",
            n.device,
            n.irqs.len(),
            per_cpu.join(" "),
            if n.on_isolated.is_empty() { String::new() } else { format!(" (on isolated CPUs {:?})", n.on_isolated) }
        );
    }
    out
}

/// `doctor` as text: one line per check, the fix indented below it.
pub fn doctor_text(r: &DoctorReport) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let _ = writeln!(out, "{} {:<20} {}", c.verdict.label(), c.name, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "     fix: {fix}");
        }
    }
    let fails = r.checks.iter().filter(|c| c.verdict == crate::doctor::Verdict::Fail).count();
    let _ = writeln!(
        out,
        "{}",
        if r.ok { "ready for mediafwd".to_string() } else { format!("not ready: {fails} check(s) failed") }
    );
    out
}
