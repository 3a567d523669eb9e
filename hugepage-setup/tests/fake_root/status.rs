use mediafwd_hugepage_setup::report::{json, status_text};
use mediafwd_hugepage_setup::status::Status;

use crate::tree::{Tree, IXGBE, PF, VFIO};

#[test]
fn reports_everything_in_the_tree() {
    let tree = Tree::new();
    tree.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
    tree.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "500\n");
    tree.write("/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages", "2\n");
    let s = Status::read(&tree.root(), &tree.host());

    let global_2m = s.hugepages.iter().find(|p| p.node.is_none() && p.size_kb == 2048).unwrap();
    assert_eq!((global_2m.total, global_2m.free), (512, 500));
    assert_eq!(s.hugepages.len(), 6, "2 sizes x (global + 2 nodes)");
    let node1_1g = s.hugepages.iter().find(|p| p.node == Some(1) && p.size_kb == 1_048_576).unwrap();
    assert_eq!(node1_1g.total, 2);
    assert_eq!(s.hugetlbfs.len(), 1);
    assert_eq!(s.hugetlbfs[0].path, "/dev/hugepages");
    assert_eq!(s.hugetlbfs[0].size_kb, 2048);

    assert_eq!(s.iommu.groups, 2);
    assert!(s.iommu.enabled() && s.iommu.vfio_pci && !s.iommu.noiommu);
    assert_eq!(s.iommu.cmdline, ["intel_iommu=on", "iommu=pt"]);

    let addrs: Vec<String> = s.nics.iter().map(|n| n.addr.to_string()).collect();
    assert_eq!(addrs, [IXGBE, VFIO, PF], "the SATA controller is not a NIC");
    let ixgbe = &s.nics[0];
    assert_eq!(ixgbe.driver.as_deref(), Some("ixgbe"));
    assert_eq!(ixgbe.iommu_group.as_deref(), Some("12"));
    assert_eq!(ixgbe.interfaces[0].name, "eth1");
    assert_eq!(ixgbe.interfaces[0].addresses, ["198.18.0.10/24", "2001:db8::10/64"]);
    assert!(ixgbe.interfaces[0].in_use());
    assert_eq!(s.nics[1].driver.as_deref(), Some("vfio-pci"));
    assert!(s.nics[1].interfaces.is_empty());
    let pf = &s.nics[2];
    assert_eq!(pf.numa_node, Some(1));
    assert!(!pf.interfaces[0].in_use(), "a link-local address does not count");
    let sriov = pf.sriov.unwrap();
    assert_eq!((sriov.total_vfs, sriov.num_vfs), (8, 0));

    assert_eq!(s.cpu.count, 4);
    assert_eq!(s.cpu.isolcpus.as_deref(), Some("2-3"));
    assert_eq!(s.cpu.nohz_full.as_deref(), Some("2-3"));
    assert_eq!(s.cpu.rcu_nocbs.as_deref(), Some("2-3"));

    let irqs = &s.nic_irqs;
    assert_eq!(irqs.len(), 2);
    assert_eq!(irqs[0].device, IXGBE);
    assert_eq!(irqs[0].irqs, [120, 121, 122]);
    assert_eq!(irqs[0].per_cpu.iter().map(|(c, n)| (*c, *n)).collect::<Vec<_>>(), [(0, 2), (1, 3), (2, 1), (3, 1)]);
    assert_eq!(irqs[0].on_isolated, [2, 3]);
    assert_eq!(irqs[1].device, PF);
    assert_eq!(irqs[1].irqs, [130]);
}

#[test]
fn text_and_json_say_the_same() {
    let tree = Tree::new();
    let s = Status::read(&tree.root(), &tree.host());
    let text = status_text(&s);
    for needle in [
        "2M global",
        "1G node 1",
        "/dev/hugepages (2M pages)",
        "IOMMU: on (2 groups); cmdline: intel_iommu=on iommu=pt; no-IOMMU mode: off; vfio-pci: available",
        "0000:3b:00.0 8086:10fb class 0x020000 driver ixgbe numa 0",
        "eth1 up 198.18.0.10/24 2001:db8::10/64 (in use)",
        "0000:3b:00.1 8086:10fb class 0x020000 driver vfio-pci numa 0 override vfio-pci",
        "SR-IOV: 0 of 8 VFs",
        "CPUs: 4; isolcpus: 2-3; nohz_full: 2-3; rcu_nocbs: 2-3",
        "0000:3b:00.0: 3 IRQs; cpu0=2 cpu1=3 cpu2=1 cpu3=1 (on isolated CPUs [2, 3])",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
    assert_eq!(v["nics"][0]["addr"], IXGBE);
    assert_eq!(v["nics"][0]["interfaces"][0]["addresses"][0], "198.18.0.10/24");
    assert_eq!(v["nics"][2]["sriov"]["total_vfs"], 8);
    assert_eq!(v["iommu"]["groups"], 2);
    assert_eq!(v["hugetlbfs"][0]["path"], "/dev/hugepages");
    assert_eq!(v["cpu"]["count"], 4);
    assert_eq!(v["nic_irqs"][0]["per_cpu"]["1"], 3);
    assert_eq!(v["hugepages"].as_array().unwrap().len(), 6);
}
