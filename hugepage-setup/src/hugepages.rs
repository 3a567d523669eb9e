//! Hugepage pools: sizes, per-node counts, and reserving pages at run time.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::cpu::Cmdline;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::sysfs::{sort_numeric_suffix, Root};

/// The hugepage sizes mediafwd uses on x86-64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PageSize {
    /// 2 MiB pages.
    #[serde(rename = "2M")]
    M2,
    /// 1 GiB pages.
    #[serde(rename = "1G")]
    G1,
}

impl PageSize {
    /// Size in KiB, as sysfs names pools.
    pub fn kb(self) -> u64 {
        match self {
            PageSize::M2 => 2048,
            PageSize::G1 => 1_048_576,
        }
    }

    /// The size for the given KiB, if it is one of ours.
    pub fn from_kb(kb: u64) -> Option<Self> {
        match kb {
            2048 => Some(PageSize::M2),
            1_048_576 => Some(PageSize::G1),
            _ => None,
        }
    }

    /// Short label: `2M`, `1G`.
    pub fn label(self) -> &'static str {
        match self {
            PageSize::M2 => "2M",
            PageSize::G1 => "1G",
        }
    }

    /// How the kernel prints the size in hugetlbfs mount options.
    pub fn mount_label(self) -> &'static str {
        match self {
            PageSize::M2 => "2M",
            PageSize::G1 => "1024M",
        }
    }

    /// The pool's directory name under `/sys/kernel/mm/hugepages`.
    pub fn pool_dir(self) -> String {
        format!("hugepages-{}kB", self.kb())
    }

    /// Where `mount` and `persist` put hugetlbfs when no `--path` is given.
    pub fn default_mount_path(self) -> &'static str {
        match self {
            PageSize::M2 => "/dev/hugepages",
            PageSize::G1 => "/dev/hugepages-1G",
        }
    }

    /// Kernel command line that reserves `count` pages at boot (on one node if given).
    pub fn boot_cmdline(self, count: u64, node: Option<u32>) -> String {
        let pages = match node {
            Some(n) => format!("hugepages={n}:{count}"),
            None => format!("hugepages={count}"),
        };
        match self {
            PageSize::M2 => format!("hugepagesz=2M {pages}"),
            PageSize::G1 => format!("default_hugepagesz=1G hugepagesz=1G {pages}"),
        }
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for PageSize {
    type Err = Error;

    /// Accepts `2M`, `2MB`, `2048k`, `2048kB`, `1G`, `1GB`, `1024M`, `1048576kB` (any case).
    fn from_str(s: &str) -> Result<Self> {
        size_kb(s).and_then(PageSize::from_kb).ok_or_else(|| Error::InvalidPageSize(s.to_string()))
    }
}

/// Parse a size such as `2M`, `1024M`, `1G`, `2048kB` into KiB.
pub fn size_kb(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let split = lower.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "k" => 1,
        "m" => 1024,
        "g" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// One hugepage pool: global, or one NUMA node's share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// Page size in KiB.
    pub size_kb: u64,
    /// The NUMA node, or `None` for the global pool.
    pub node: Option<u32>,
    /// Reserved pages (`nr_hugepages`).
    pub total: u64,
    /// Pages not in use (`free_hugepages`).
    pub free: u64,
}

fn pool_kb(dir: &str) -> Option<u64> {
    dir.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()
}

/// The NUMA nodes, in order.
pub fn nodes(root: &Root) -> Vec<u32> {
    let mut names: Vec<String> = root
        .list("/sys/devices/system/node")
        .into_iter()
        .filter(|n| n.strip_prefix("node").is_some_and(|d| d.parse::<u32>().is_ok()))
        .collect();
    sort_numeric_suffix(&mut names);
    names.iter().filter_map(|n| n[4..].parse().ok()).collect()
}

fn read_pools(root: &Root, dir: &str, node: Option<u32>) -> Vec<Pool> {
    let mut pools: Vec<Pool> = root
        .list(dir)
        .iter()
        .filter_map(|d| {
            Some(Pool {
                size_kb: pool_kb(d)?,
                node,
                total: root.read_u64(format!("{dir}/{d}/nr_hugepages"))?,
                free: root.read_u64(format!("{dir}/{d}/free_hugepages")).unwrap_or(0),
            })
        })
        .collect();
    pools.sort_by_key(|p| p.size_kb);
    pools
}

/// Every pool: the global ones first, then each node's.
pub fn pools(root: &Root) -> Vec<Pool> {
    let mut all = read_pools(root, "/sys/kernel/mm/hugepages", None);
    for node in nodes(root) {
        all.extend(read_pools(root, &format!("/sys/devices/system/node/node{node}/hugepages"), Some(node)));
    }
    all
}

/// The global pool of one size, if the kernel has it.
pub fn global_pool(root: &Root, size: PageSize) -> Option<Pool> {
    pools(root).into_iter().find(|p| p.node.is_none() && p.size_kb == size.kb())
}

/// The default hugepage size in KiB (`Hugepagesize` in `/proc/meminfo`), 2048 if unknown.
pub fn default_size_kb(root: &Root) -> u64 {
    root.read("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("Hugepagesize:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(2048)
}

/// Pages of `wanted_kb` KiB the command line reserves at boot (`hugepagesz=1G hugepages=4`; a
/// `hugepages=` before any `hugepagesz=` is of the default size; `hugepages=0:2,1:2` sums).
pub fn boot_pages(cmdline: &Cmdline, wanted_kb: u64) -> Option<u64> {
    let default_kb = cmdline.get("default_hugepagesz").and_then(size_kb).unwrap_or(2048);
    let mut current = default_kb;
    let mut found = None;
    for (key, value) in cmdline.params() {
        let value = value.as_deref().unwrap_or("");
        match key.as_str() {
            "hugepagesz" => current = size_kb(value).unwrap_or(0),
            "hugepages" if current == wanted_kb => {
                found = value
                    .split(',')
                    .map(|p| p.rsplit(':').next().unwrap_or("").parse::<u64>().ok())
                    .sum::<Option<u64>>();
            }
            _ => {}
        }
    }
    found
}

/// Reserve `count` pages of `size`, globally or on one node, and check what the kernel gave.
pub fn reserve(ctx: &mut Ctx<'_>, count: u64, size: PageSize, node: Option<u32>) -> Result<()> {
    let root = ctx.root().clone();
    let dir = match node {
        None => format!("/sys/kernel/mm/hugepages/{}", size.pool_dir()),
        Some(n) => {
            if !root.exists(format!("/sys/devices/system/node/node{n}")) {
                let list: Vec<String> = nodes(&root).iter().map(u32::to_string).collect();
                return Err(Error::NoSuchNode {
                    node: n,
                    nodes: if list.is_empty() { "none".into() } else { list.join(", ") },
                });
            }
            format!("/sys/devices/system/node/node{n}/hugepages/{}", size.pool_dir())
        }
    };
    if !root.exists(&dir) {
        let hint = match size {
            PageSize::G1 => "; 1G pages need the pdpe1gb CPU flag (on a VM: an instance type that exposes it)",
            PageSize::M2 => "; check that the kernel is built with CONFIG_HUGETLBFS",
        };
        return Err(Error::UnsupportedPageSize { size: size.label().into(), path: root.path(&dir), hint: hint.into() });
    }
    let nr = format!("{dir}/nr_hugepages");
    let place = node.map(|n| format!(" on node {n}")).unwrap_or_default();
    let current = root.read_u64(&nr).unwrap_or(0);
    if current == count {
        ctx.say(format!("already {count} {size} hugepages reserved{place}"));
        return Ok(());
    }
    ctx.write(&nr, &count.to_string())?;
    if ctx.dry_run() {
        return Ok(());
    }
    let got = root.read_u64(&nr).unwrap_or(0);
    if got < count {
        return Err(Error::ShortAllocation {
            size: size.label().into(),
            place,
            wanted: count,
            got,
            cmdline: size.boot_cmdline(count, node),
        });
    }
    ctx.say(format!("{got} {size} hugepages reserved{place} (was {current}): {} MiB", got * size.kb() / 1024));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_spelling() {
        for s in ["2M", "2m", "2MB", "2048k", "2048kB", "2048KB"] {
            assert_eq!(s.parse::<PageSize>().unwrap(), PageSize::M2, "{s}");
        }
        for s in ["1G", "1g", "1GB", "1024M", "1048576kB"] {
            assert_eq!(s.parse::<PageSize>().unwrap(), PageSize::G1, "{s}");
        }
        for s in ["", "4k", "2", "M", "2T", "-2M", "99999999999999999999G"] {
            assert!(s.parse::<PageSize>().is_err(), "{s}");
        }
    }

    #[test]
    fn boot_pages_follow_hugepagesz() {
        let c = Cmdline::parse("hugepages=64 hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=0:8,1:8");
        assert_eq!(boot_pages(&c, 1_048_576), Some(4));
        assert_eq!(boot_pages(&c, 2048), Some(16));
        let c = Cmdline::parse("default_hugepagesz=1G hugepages=2");
        assert_eq!(boot_pages(&c, 1_048_576), Some(2));
        assert_eq!(boot_pages(&c, 2048), None);
    }

    #[test]
    fn boot_cmdlines() {
        assert_eq!(PageSize::G1.boot_cmdline(4, None), "default_hugepagesz=1G hugepagesz=1G hugepages=4");
        assert_eq!(PageSize::M2.boot_cmdline(512, Some(1)), "hugepagesz=2M hugepages=1:512");
    }
}
