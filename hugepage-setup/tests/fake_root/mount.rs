use mediafwd_hugepage_setup::host::HostCall;
use mediafwd_hugepage_setup::mounts::{hugetlbfs_mounts, mount};
use mediafwd_hugepage_setup::{Error, PageSize};

use crate::tree::Tree;

#[test]
fn mount_is_idempotent() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    mount(&mut ctx, PageSize::G1, "/dev/hugepages-1G").unwrap();
    assert!(tree.path().join("dev/hugepages-1G").is_dir());
    assert_eq!(
        host.calls(),
        [
            HostCall::CreateDir { path: "/dev/hugepages-1G".into() },
            HostCall::Mount { target: "/dev/hugepages-1G".into(), size: PageSize::G1 }
        ]
    );
    let mounts = hugetlbfs_mounts(&tree.root());
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[1].size_kb, 1_048_576);

    let mut again = tree.ctx(&host, false);
    mount(&mut again, PageSize::G1, "/dev/hugepages-1G").unwrap();
    assert_eq!(again.lines(), ["already mounted: hugetlbfs (1G) on /dev/hugepages-1G"]);
    assert_eq!(host.calls().len(), 2, "no second mount");

    let mut existing = tree.ctx(&host, false);
    mount(&mut existing, PageSize::M2, "/dev/hugepages").unwrap();
    assert!(existing.lines()[0].starts_with("already mounted"));
}

#[test]
fn another_filesystem_or_page_size_is_a_conflict() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = mount(&mut ctx, PageSize::G1, "/dev/hugepages").unwrap_err();
    assert!(matches!(err, Error::MountConflict { .. }), "{err}");
    assert!(err.to_string().contains("pagesize=2M"), "{err}");
    let err = mount(&mut ctx, PageSize::M2, "/proc").unwrap_err();
    assert!(err.to_string().contains("(proc,"), "{err}");
    assert!(host.calls().is_empty());
}
