//! Mount table: hugetlbfs and bpffs, and mounting hugetlbfs.

use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::hugepages::{default_size_kb, size_kb, PageSize};
use crate::sysfs::Root;

/// One line of `/proc/mounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    /// What is mounted (`nodev`, `hugetlbfs`, `/dev/sda1`).
    pub source: String,
    /// Where, as a host path.
    pub target: String,
    /// Filesystem type.
    pub fstype: String,
    /// Mount options.
    pub options: String,
}

/// A hugetlbfs mount and its page size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HugetlbfsMount {
    /// The mount point.
    pub path: String,
    /// Page size in KiB (from `pagesize=`, else the default hugepage size).
    pub size_kb: u64,
}

/// Undo the octal escapes `/proc/mounts` uses for spaces, tabs, newlines and backslashes.
pub fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3');
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse the text of `/proc/mounts`.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(MountEntry {
                source: unescape_octal(f.next()?),
                target: unescape_octal(f.next()?),
                fstype: f.next()?.to_string(),
                options: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The mount table of the root (empty if unreadable).
pub fn mounts(root: &Root) -> Vec<MountEntry> {
    root.read("/proc/mounts").map(|t| parse_mounts(&t)).unwrap_or_default()
}

/// Every hugetlbfs mount with its page size.
pub fn hugetlbfs_mounts(root: &Root) -> Vec<HugetlbfsMount> {
    let default_kb = default_size_kb(root);
    mounts(root)
        .into_iter()
        .filter(|m| m.fstype == "hugetlbfs")
        .map(|m| HugetlbfsMount {
            size_kb: m
                .options
                .split(',')
                .find_map(|o| o.strip_prefix("pagesize="))
                .and_then(size_kb)
                .unwrap_or(default_kb),
            path: m.target,
        })
        .collect()
}

/// The last mount on `path` (the one that is visible).
pub fn mounted_at(root: &Root, path: &str) -> Option<MountEntry> {
    let wanted = normalize(path);
    mounts(root).into_iter().rev().find(|m| normalize(&m.target) == wanted)
}

/// Whether bpffs is mounted at `/sys/fs/bpf` (needed by net_af_xdp).
pub fn bpffs_mounted(root: &Root) -> bool {
    mounted_at(root, "/sys/fs/bpf").is_some_and(|m| m.fstype == "bpf")
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

/// Mount hugetlbfs with `size` pages on `path`, unless it already is.
pub fn mount(ctx: &mut Ctx<'_>, size: PageSize, path: &str) -> Result<()> {
    let root = ctx.root().clone();
    if let Some(existing) = mounted_at(&root, path) {
        let existing_kb = hugetlbfs_mounts(&root)
            .into_iter()
            .rev()
            .find(|m| normalize(&m.path) == normalize(path))
            .map(|m| m.size_kb);
        if existing.fstype == "hugetlbfs" && existing_kb == Some(size.kb()) {
            ctx.say(format!("already mounted: hugetlbfs ({size}) on {path}"));
            return Ok(());
        }
        return Err(Error::MountConflict { path: path.into(), fstype: existing.fstype, options: existing.options });
    }
    ctx.create_dir_all(path)?;
    ctx.mount_hugetlbfs(path, size)?;
    if !ctx.dry_run() {
        ctx.say(format!("hugetlbfs ({size}) mounted on {path}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escaped_mount_points() {
        let m = parse_mounts("nodev /mnt/huge\\040pages hugetlbfs rw,pagesize=1024M 0 0\n");
        assert_eq!(m[0].target, "/mnt/huge pages");
        assert_eq!(m[0].fstype, "hugetlbfs");
        assert_eq!(unescape_octal("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
    }
}
