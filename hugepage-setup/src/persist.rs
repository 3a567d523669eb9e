//! Making the reservation and the mount survive a reboot.

use crate::cpu::Cmdline;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::hugepages::{boot_pages, PageSize};

/// Where the boot-time 2M reservation goes.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/80-mediafwd-hugepages.conf";

/// Directory for the mount unit.
pub const UNIT_DIR: &str = "/etc/systemd/system";

/// Check that a mount path is absolute and normal; return it without duplicate or trailing
/// slashes.
pub fn normalize_mount_path(path: &str) -> Result<String> {
    let bad = |reason: &str| Error::InvalidPath { path: path.into(), reason: reason.into() };
    if !path.starts_with('/') {
        return Err(bad("it must be absolute"));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(bad("it must not contain . or .. components"));
    }
    if parts.is_empty() {
        return Err(bad("hugetlbfs cannot be mounted on /"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Escape a path into a unit name the way `systemd-escape --path` does: slashes become
/// dashes, and every byte outside `[A-Za-z0-9:_.]` (and a leading dot) becomes `\xNN`.
pub fn systemd_escape_path(path: &str) -> String {
    let trimmed: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if trimmed.is_empty() {
        return "-".into();
    }
    let joined = trimmed.join("/");
    let mut out = String::with_capacity(joined.len());
    for (i, b) in joined.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The name of the mount unit for a path (`/dev/hugepages` -> `dev-hugepages.mount`).
pub fn mount_unit_name(path: &str) -> String {
    format!("{}.mount", systemd_escape_path(path))
}

/// The mount unit's text.
pub fn mount_unit(path: &str, size: PageSize) -> String {
    format!(
        "# mediafwd: hugetlbfs with {size} pages for the DPDK EAL (hugepage-setup persist).\n\
         [Unit]\n\
         Description=Hugepages ({size}) for mediafwd\n\
         DefaultDependencies=no\n\
         Before=sysinit.target\n\
         ConditionPathExists=/sys/kernel/mm/hugepages/{dir}\n\
         ConditionCapability=CAP_SYS_ADMIN\n\
         \n\
         [Mount]\n\
         What=hugetlbfs\n\
         Where={path}\n\
         Type=hugetlbfs\n\
         Options=pagesize={size}\n\
         \n\
         [Install]\n\
         WantedBy=sysinit.target\n",
        dir = size.pool_dir(),
    )
}

/// The sysctl file's text.
pub fn sysctl_conf(count: u64) -> String {
    format!(
        "# mediafwd: 2M hugepages reserved at boot (hugepage-setup persist).\n\
         vm.nr_hugepages = {count}\n"
    )
}

fn write_if_changed(ctx: &mut Ctx<'_>, host_path: &str, content: &str) -> Result<bool> {
    let resolved = ctx.root().path(host_path);
    if ctx.root().read(host_path).ok().as_deref() == Some(content) {
        ctx.say(format!("unchanged: {}", resolved.display()));
        return Ok(false);
    }
    ctx.write_file(host_path, content)?;
    Ok(true)
}

/// Write the boot-time reservation (2M) or print the kernel command line (1G), and the
/// mount unit for `path`.
pub fn persist(ctx: &mut Ctx<'_>, count: u64, size: PageSize, path: &str) -> Result<()> {
    let path = normalize_mount_path(path)?;
    match size {
        PageSize::M2 => {
            if write_if_changed(ctx, SYSCTL_FILE, &sysctl_conf(count))? && !ctx.dry_run() {
                ctx.say("applies at boot; now: `sysctl --system` or `hugepage-setup reserve`");
            }
        }
        PageSize::G1 => {
            let cmdline = Cmdline::read(ctx.root());
            let wanted = size.boot_cmdline(count, None);
            if boot_pages(&cmdline, size.kb()) == Some(count) {
                ctx.say(format!("already on the kernel command line: {wanted}"));
            } else {
                ctx.say(format!(
                    "1G pages are reserved at boot by the kernel command line, not by sysctl: \
                     add `{wanted}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run \
                     `update-grub` (or `grub2-mkconfig -o /boot/grub2/grub.cfg`) and reboot"
                ));
            }
        }
    }
    let unit = mount_unit_name(&path);
    let unit_path = format!("{UNIT_DIR}/{unit}");
    if write_if_changed(ctx, &unit_path, &mount_unit(&path, size))? && !ctx.dry_run() {
        ctx.say(format!(
            "enable it: `systemctl daemon-reload && systemctl enable --now {}`",
            unit.replace('\\', "\\\\")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// systemd's unescaping, to check that escaping loses nothing.
    fn unescape(name: &str) -> String {
        let mut bytes = Vec::new();
        let mut rest = name.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'\\' && tail.len() >= 3 && tail[0] == b'x' {
                let hex = std::str::from_utf8(&tail[1..3]).unwrap();
                bytes.push(u8::from_str_radix(hex, 16).unwrap());
                rest = &tail[3..];
            } else {
                bytes.push(if b == b'-' { b'/' } else { b });
                rest = tail;
            }
        }
        format!("/{}", String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn escapes_like_systemd() {
        assert_eq!(mount_unit_name("/dev/hugepages"), "dev-hugepages.mount");
        assert_eq!(mount_unit_name("/dev/hugepages/"), "dev-hugepages.mount");
        assert_eq!(mount_unit_name("/mnt/huge-1G"), "mnt-huge\\x2d1G.mount");
        assert_eq!(mount_unit_name("/mnt/.x y"), "mnt-.x\\x20y.mount");
        assert_eq!(systemd_escape_path("/.hidden"), "\\x2ehidden");
        assert_eq!(systemd_escape_path("//a//b"), "a-b");
        assert_eq!(systemd_escape_path("/"), "-");
        assert_eq!(systemd_escape_path("/dev/hüge"), "dev-h\\xc3\\xbcge");
    }

    #[test]
    fn mount_paths() {
        assert_eq!(normalize_mount_path("/dev//hugepages/").unwrap(), "/dev/hugepages");
        assert!(normalize_mount_path("dev/hugepages").is_err());
        assert!(normalize_mount_path("/dev/../etc").is_err());
        assert!(normalize_mount_path("/").is_err());
    }

    proptest! {
        #[test]
        fn escaping_round_trips(parts in prop::collection::vec("[^/\u{0}]{1,8}", 1..4)) {
            prop_assume!(parts.iter().all(|p| p != "." && p != ".."));
            let path = format!("/{}", parts.join("/"));
            let escaped = systemd_escape_path(&path);
            prop_assert!(escaped
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":_.\\-".contains(&b)));
            prop_assert!(!escaped.starts_with('.'));
            prop_assert_eq!(unescape(&escaped), path);
        }
    }
}
