use mediafwd_hugepage_setup::persist::{persist, SYSCTL_FILE};
use mediafwd_hugepage_setup::PageSize;

use crate::tree::Tree;

#[test]
fn writes_then_reports_unchanged() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    persist(&mut ctx, 1024, PageSize::M2, "/dev/hugepages").unwrap();
    assert_eq!(
        tree.read(SYSCTL_FILE),
        "# mediafwd: 2M hugepages reserved at boot (hugepage-setup persist).\n\
         vm.nr_hugepages = 1024\n"
    );
    let unit = tree.read("/etc/systemd/system/dev-hugepages.mount");
    for line in ["Where=/dev/hugepages", "Type=hugetlbfs", "Options=pagesize=2M", "WantedBy=sysinit.target"] {
        assert!(unit.contains(line), "{line} missing in\n{unit}");
    }
    let written = host.writes().len();
    assert_eq!(written, 2);

    let mut again = tree.ctx(&host, false);
    persist(&mut again, 1024, PageSize::M2, "/dev/hugepages").unwrap();
    assert!(again.lines().iter().all(|l| l.starts_with("unchanged: ")), "{:?}", again.lines());
    assert_eq!(again.lines().len(), 2);
    assert_eq!(host.writes().len(), written, "nothing rewritten");

    let mut changed = tree.ctx(&host, false);
    persist(&mut changed, 2048, PageSize::M2, "/dev/hugepages").unwrap();
    assert!(tree.read(SYSCTL_FILE).contains("vm.nr_hugepages = 2048"));
    assert!(changed.lines()[0].starts_with("wrote "));
    assert!(changed.lines()[2].starts_with("unchanged: "));
}

#[test]
fn one_gig_pages_need_the_kernel_command_line() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    persist(&mut ctx, 8, PageSize::G1, "/mnt/huge-1G").unwrap();
    assert!(!tree.path().join(SYSCTL_FILE.trim_start_matches('/')).exists());
    assert!(ctx.lines()[0].contains("default_hugepagesz=1G hugepagesz=1G hugepages=8"));
    let unit = tree.read("/etc/systemd/system/mnt-huge\\x2d1G.mount");
    assert!(unit.contains("Where=/mnt/huge-1G"));
    assert!(unit.contains("Options=pagesize=1G"));

    tree.write("/proc/cmdline", "ro default_hugepagesz=1G hugepagesz=1G hugepages=8\n");
    let mut again = tree.ctx(&host, false);
    persist(&mut again, 8, PageSize::G1, "/mnt/huge-1G").unwrap();
    assert_eq!(again.lines()[0], "already on the kernel command line: default_hugepagesz=1G hugepagesz=1G hugepages=8");
    assert!(again.lines()[1].starts_with("unchanged: "));
}

#[test]
fn relative_paths_are_refused() {
    let tree = Tree::new();
    let host = tree.host();
    let mut ctx = tree.ctx(&host, false);
    let err = persist(&mut ctx, 1, PageSize::M2, "dev/hugepages").unwrap_err();
    assert!(err.to_string().contains("must be absolute"), "{err}");
}
