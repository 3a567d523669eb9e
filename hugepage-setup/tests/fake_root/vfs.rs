use mediafwd_hugepage_setup::sriov::{vfs, VfSetting};
use mediafwd_hugepage_setup::{Error, PciAddr};

use crate::tree::{Tree, IXGBE, PF};

const NUMVFS: &str = "/sys/bus/pci/devices/0000:5e:00.0/sriov_numvfs";

fn pf() -> PciAddr {
    PF.parse().unwrap()
}

#[test]
fn creates_vfs_then_resets_to_zero_before_changing() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    vfs(&mut ctx, pf(), 4, &[]).unwrap();
    assert_eq!(host.writes(), [(NUMVFS.to_string(), "4".to_string())]);

    vfs(&mut ctx, pf(), 6, &[]).unwrap();
    assert_eq!(host.writes()[1..], [(NUMVFS.to_string(), "0".to_string()), (NUMVFS.to_string(), "6".to_string())]);
    assert_eq!(tree.read(NUMVFS), "6");

    let mut again = tree.ctx(&host, false);
    vfs(&mut again, pf(), 6, &[]).unwrap();
    assert_eq!(again.lines(), ["already 6 VFs on 0000:5e:00.0"]);

    vfs(&mut again, pf(), 0, &[]).unwrap();
    assert_eq!(host.writes().last().unwrap().1, "0");
    assert_eq!(host.writes().len(), 4, "0 is written once");
}

#[test]
fn the_simulated_kernel_refuses_a_direct_change() {
    // What the reset protects against: the kernel answers EBUSY.
    let tree = Tree::new();
    tree.write(NUMVFS, "2");
    let host = tree.host();
    let mut raw = tree.ctx(&host, false);
    let err = raw.write(NUMVFS, "4").unwrap_err();
    assert!(err.to_string().contains("busy"), "{err}");
}

#[test]
fn refuses_more_than_totalvfs_and_non_sriov_devices() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = vfs(&mut ctx, pf(), 9, &[]).unwrap_err();
    assert!(matches!(err, Error::TooManyVfs { wanted: 9, total: 8, .. }), "{err}");
    assert_eq!(err.to_string(), "0000:5e:00.0 supports at most 8 VFs, 9 requested");
    let err = vfs(&mut ctx, IXGBE.parse().unwrap(), 1, &[]).unwrap_err();
    assert!(matches!(err, Error::NotSriov(_)), "{err}");
    let err = vfs(&mut ctx, pf(), 2, &[VfSetting::parse_trust("2=on").unwrap()]).unwrap_err();
    assert!(matches!(err, Error::NoSuchVf { vf: 2, count: 2, .. }), "{err}");
    assert!(host.calls().is_empty());
}

#[test]
fn vf_settings_go_through_ip_link_once() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let settings = [
        VfSetting::parse_mac("0=02:00:00:00:00:01").unwrap(),
        VfSetting::parse_vlan("1=100").unwrap(),
        VfSetting::parse_trust("1=on").unwrap(),
        VfSetting::parse_spoofchk("0=off").unwrap(),
    ];
    vfs(&mut ctx, pf(), 2, &settings).unwrap();
    assert_eq!(
        host.commands(),
        [
            "ip -j link show dev eth2",
            "ip link set eth2 vf 0 mac 02:00:00:00:00:01",
            "ip link set eth2 vf 1 vlan 100",
            "ip link set eth2 vf 1 trust on",
            "ip link set eth2 vf 0 spoofchk off",
        ]
    );
    let mut again = tree.ctx(&host, false);
    vfs(&mut again, pf(), 2, &settings).unwrap();
    assert_eq!(host.commands().len(), 6, "only the query runs again");
    assert_eq!(
        again.lines(),
        [
            "already 2 VFs on 0000:5e:00.0",
            "already: eth2 vf 0 mac 02:00:00:00:00:01",
            "already: eth2 vf 1 vlan 100",
            "already: eth2 vf 1 trust on",
            "already: eth2 vf 0 spoofchk off",
        ]
    );
}
