use mediafwd_hugepage_setup::hugepages::reserve;
use mediafwd_hugepage_setup::{Error, PageSize};

use crate::tree::Tree;

const GLOBAL_2M: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const NODE1_1G: &str = "/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages";

#[test]
fn global_reservation_writes_the_global_pool() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    reserve(&mut ctx, 512, PageSize::M2, None).unwrap();
    assert_eq!(host.writes(), [(GLOBAL_2M.to_string(), "512".to_string())]);
    assert_eq!(tree.read(GLOBAL_2M).trim(), "512");
    assert!(ctx.lines().last().unwrap().contains("512 2M hugepages reserved"));

    let mut again = tree.ctx(&host, false);
    reserve(&mut again, 512, PageSize::M2, None).unwrap();
    assert_eq!(again.lines(), ["already 512 2M hugepages reserved"]);
    assert_eq!(host.writes().len(), 1, "nothing written the second time");
}

#[test]
fn node_reservation_writes_the_node_pool() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    reserve(&mut ctx, 4, PageSize::G1, Some(1)).unwrap();
    assert_eq!(host.writes(), [(NODE1_1G.to_string(), "4".to_string())]);
    assert_eq!(tree.read(NODE1_1G).trim(), "4");
    assert!(ctx.lines().last().unwrap().contains("on node 1"));
}

#[test]
fn short_allocation_is_an_error_with_the_fix() {
    let tree = Tree::new();
    let host = tree.host().with_hugepage_limit(300);
    let mut ctx = tree.ctx(&host, false);
    let err = reserve(&mut ctx, 512, PageSize::M2, None).unwrap_err();
    assert!(matches!(err, Error::ShortAllocation { wanted: 512, got: 300, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("only 300 of 512 2M hugepages"), "{msg}");
    assert!(msg.contains("drop_caches"), "{msg}");
    assert!(msg.contains("hugepagesz=2M hugepages=512"), "{msg}");

    let host = tree.host().with_hugepage_limit(2);
    let mut ctx = tree.ctx(&host, false);
    let msg = reserve(&mut ctx, 8, PageSize::G1, Some(0)).unwrap_err().to_string();
    assert!(msg.contains("default_hugepagesz=1G hugepagesz=1G hugepages=0:8"), "{msg}");
}

#[test]
fn unknown_node_and_size_are_explained() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = reserve(&mut ctx, 1, PageSize::M2, Some(7)).unwrap_err();
    assert_eq!(err.to_string(), "NUMA node 7 does not exist (nodes here: 0, 1)");

    tree.remove("/sys/kernel/mm/hugepages/hugepages-1048576kB");
    let err = reserve(&mut ctx, 1, PageSize::G1, None).unwrap_err();
    assert!(err.to_string().contains("pdpe1gb"), "{err}");
    assert!(host.writes().is_empty());
}
