use mediafwd_hugepage_setup::doctor::{doctor, Verdict, CHECKS};
use mediafwd_hugepage_setup::report::doctor_text;
use mediafwd_hugepage_setup::PageSize;

use crate::tree::Tree;

fn verdicts(tree: &Tree, pages: u64) -> Vec<(&'static str, Verdict)> {
    doctor(&tree.root(), &tree.host(), pages, PageSize::M2).checks.iter().map(|c| (c.name, c.verdict)).collect()
}

fn verdict(tree: &Tree, pages: u64, name: &str) -> Verdict {
    verdicts(tree, pages).into_iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn every_check_in_order_with_a_fix_when_not_passing() {
    let tree = Tree::new();
    let report = doctor(&tree.root(), &tree.host(), 512, PageSize::M2);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, CHECKS);
    for c in &report.checks {
        assert_eq!(c.fix.is_some(), c.verdict != Verdict::Pass, "{c:?}");
    }
    let text = doctor_text(&report);
    for name in CHECKS {
        assert!(text.contains(name), "{name} missing in\n{text}");
    }
    assert!(text.contains("fix: hugepage-setup reserve --count 512 --size 2M"));
    assert!(text.ends_with("not ready: 2 check(s) failed\n"), "{text}");
}

#[test]
fn verdicts_of_the_sample_host() {
    let tree = Tree::new();
    assert_eq!(
        verdicts(&tree, 512),
        [
            ("root", Verdict::Pass),
            ("hugepages reserved", Verdict::Fail),
            ("hugepages free", Verdict::Fail),
            ("hugetlbfs mounted", Verdict::Pass),
            ("DPDK runtime", Verdict::Pass),
            ("IOMMU", Verdict::Pass),
            ("vfio-pci devices", Verdict::Pass),
            ("CPU count", Verdict::Pass),
            ("isolated CPUs", Verdict::Pass),
            ("NIC interrupts", Verdict::Warn),
            ("CPU features", Verdict::Warn),
            ("bpffs", Verdict::Warn),
        ]
    );
}

#[test]
fn each_check_flips_with_the_host() {
    let tree = Tree::new();
    tree.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
    tree.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "100\n");
    assert_eq!(verdict(&tree, 512, "hugepages reserved"), Verdict::Pass);
    assert_eq!(verdict(&tree, 512, "hugepages free"), Verdict::Fail);
    assert_eq!(verdict(&tree, 100, "hugepages free"), Verdict::Pass);

    tree.write("/proc/self/status", "Uid:\t1000\t1000\t1000\t1000\n");
    assert_eq!(verdict(&tree, 1, "root"), Verdict::Warn);

    tree.write("/proc/mounts", "bpf /sys/fs/bpf bpf rw 0 0\n");
    assert_eq!(verdict(&tree, 1, "hugetlbfs mounted"), Verdict::Fail);
    assert_eq!(verdict(&tree, 1, "bpffs"), Verdict::Pass);

    tree.remove("/usr/lib/x86_64-linux-gnu/dpdk");
    assert_eq!(verdict(&tree, 1, "DPDK runtime"), Verdict::Fail);
    tree.write("/usr/local/lib64/librte_eal.so.23.0", "");
    assert_eq!(verdict(&tree, 1, "DPDK runtime"), Verdict::Pass);

    tree.write("/proc/cpuinfo", "processor\t: 0\nflags\t\t: sse4_2 avx2 aes sha_ni\n");
    assert_eq!(verdict(&tree, 1, "CPU count"), Verdict::Fail);
    assert_eq!(verdict(&tree, 1, "CPU features"), Verdict::Pass);

    tree.write("/proc/cmdline", "ro intel_iommu=on\n");
    assert_eq!(verdict(&tree, 1, "isolated CPUs"), Verdict::Warn);
    assert_eq!(verdict(&tree, 1, "NIC interrupts"), Verdict::Pass);
}

#[test]
fn iommu_off_warns_without_vfio_devices_and_fails_with_them() {
    let tree = Tree::new();
    tree.iommu_off();
    assert_eq!(verdict(&tree, 1, "IOMMU"), Verdict::Fail, "a NIC is bound to vfio-pci");

    tree.remove("/sys/bus/pci/devices/0000:3b:00.1/driver");
    assert_eq!(verdict(&tree, 1, "IOMMU"), Verdict::Warn);
    assert_eq!(verdict(&tree, 1, "vfio-pci devices"), Verdict::Warn);

    tree.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
    assert_eq!(verdict(&tree, 1, "IOMMU"), Verdict::Pass);
}
