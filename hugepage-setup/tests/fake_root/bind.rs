use mediafwd_hugepage_setup::pci::{bind, unbind};
use mediafwd_hugepage_setup::{Error, PciAddr};

use crate::tree::{Tree, IXGBE, PF, VFIO};

fn addr(s: &str) -> PciAddr {
    s.parse().unwrap()
}

#[test]
fn refuses_an_interface_in_use_without_force() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = bind(&mut ctx, &[addr(IXGBE)], "vfio-pci", false).unwrap_err();
    assert!(matches!(err, Error::InterfaceInUse { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("0000:3b:00.0 is interface eth1"), "{msg}");
    assert!(msg.contains("198.18.0.10/24"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert!(host.calls().is_empty(), "nothing changed");
    assert_eq!(tree.driver(IXGBE).as_deref(), Some("ixgbe"));
}

#[test]
fn force_binds_in_dpdk_devbind_order() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    bind(&mut ctx, &[addr("3b:00.0")], "vfio-pci", true).unwrap();
    assert_eq!(
        host.writes(),
        [
            (format!("/sys/bus/pci/devices/{IXGBE}/driver_override"), "vfio-pci".to_string()),
            ("/sys/bus/pci/drivers/ixgbe/unbind".to_string(), IXGBE.to_string()),
            ("/sys/bus/pci/drivers_probe".to_string(), IXGBE.to_string()),
        ]
    );
    assert_eq!(tree.driver(IXGBE).as_deref(), Some("vfio-pci"));
    assert!(ctx.lines()[0].starts_with("warning: eth1 is up"));
    assert!(ctx.lines().last().unwrap().contains("bound 0000:3b:00.0 (eth1) to vfio-pci (was ixgbe)"));

    let mut again = tree.ctx(&host, false);
    bind(&mut again, &[addr(IXGBE)], "vfio-pci", false).unwrap();
    assert_eq!(again.lines(), ["already bound: 0000:3b:00.0 to vfio-pci"]);
    assert_eq!(host.writes().len(), 3);
}

#[test]
fn binds_an_idle_interface_without_force_and_checks_all_first() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    // The PF's interface is up with only a link-local address: not in use. The ixgbe is,
    // so the whole command is refused before the PF is touched.
    let err = bind(&mut ctx, &[addr(PF), addr(IXGBE)], "vfio-pci", false).unwrap_err();
    assert!(matches!(err, Error::InterfaceInUse { .. }));
    assert!(host.calls().is_empty());

    bind(&mut ctx, &[addr(PF), addr(VFIO)], "vfio-pci", false).unwrap();
    assert_eq!(tree.driver(PF).as_deref(), Some("vfio-pci"));
    assert_eq!(host.writes().len(), 3);
}

#[test]
fn refuses_vfio_with_the_iommu_off() {
    let tree = Tree::new();
    tree.iommu_off();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = bind(&mut ctx, &[addr(PF)], "vfio-pci", false).unwrap_err();
    assert!(matches!(err, Error::IommuOff { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("intel_iommu=on iommu=pt"), "{msg}");
    assert!(msg.contains("enable_unsafe_noiommu_mode"), "{msg}");
    assert!(host.calls().is_empty());

    // Other drivers do not need the IOMMU.
    bind(&mut ctx, &[addr(PF)], "ixgbe", false).unwrap();

    // No-IOMMU mode makes vfio usable.
    tree.write("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
    bind(&mut ctx, &[addr(PF)], "vfio-pci", false).unwrap();
    assert_eq!(tree.driver(PF).as_deref(), Some("vfio-pci"));
    assert!(ctx.lines().iter().any(|l| l.contains("no-IOMMU mode")));
}

#[test]
fn loads_a_missing_driver_with_modprobe() {
    let tree = Tree::new();
    tree.remove("/sys/bus/pci/drivers/vfio-pci");
    tree.write("/proc/modules", "");
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    bind(&mut ctx, &[addr(PF)], "vfio-pci", false).unwrap();
    assert_eq!(host.commands(), ["modprobe vfio-pci"]);
    assert_eq!(tree.driver(PF).as_deref(), Some("vfio-pci"));
}

#[test]
fn unknown_device_is_named() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = bind(&mut ctx, &[addr("0000:99:00.0")], "vfio-pci", false).unwrap_err();
    assert_eq!(err.to_string(), "no PCI device 0000:99:00.0: `hugepage-setup status` lists the network devices");
}

#[test]
fn unbind_clears_the_override_and_unbinds() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    unbind(&mut ctx, &[addr(VFIO)], false).unwrap();
    assert_eq!(
        host.writes(),
        [
            (format!("/sys/bus/pci/devices/{VFIO}/driver_override"), "\n".to_string()),
            ("/sys/bus/pci/drivers/vfio-pci/unbind".to_string(), VFIO.to_string()),
        ]
    );
    assert_eq!(tree.driver(VFIO), None);
    let mut again = tree.ctx(&host, false);
    unbind(&mut again, &[addr(VFIO)], false).unwrap();
    assert_eq!(again.lines(), ["already unbound: 0000:3b:00.1"]);

    let err = unbind(&mut again, &[addr(IXGBE)], false).unwrap_err();
    assert!(matches!(err, Error::InterfaceInUse { .. }));
}

#[test]
fn bad_pci_addresses_are_rejected() {
    for bad in ["3b:00", "0000:3b:00.9", "eth1", "0000:3b:20.0"] {
        let err = bad.parse::<PciAddr>().unwrap_err();
        assert!(err.to_string().contains("expected DDDD:BB:DD.F (0000:3b:00.0) or BB:DD.F (3b:00.0)"), "{err}");
    }
}
