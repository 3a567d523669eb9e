//! Root-relative reads of sysfs, procfs and friends.
//!
//! Every path the tool touches is an absolute host path (`/sys/...`, `/proc/...`, `/etc/...`)
//! resolved under a root directory: `/` on a real host, a prepared tree in tests. Reads live
//! here; writes go through [`crate::host::Host`] so that they can be previewed and faked.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The directory every host path is resolved under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    /// A root at `base` (`/` for the running host).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Root { base: base.into() }
    }

    /// The directory host paths are resolved under.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Whether this is the running host's own root, not a prepared tree.
    pub fn is_host(&self) -> bool {
        let canonical = fs::canonicalize(&self.base).unwrap_or_else(|_| self.base.clone());
        canonical == Path::new("/")
    }

    /// Resolve an absolute host path under the root.
    pub fn path(&self, host_path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.base.clone();
        for part in host_path.as_ref().components() {
            match part {
                Component::Normal(p) => out.push(p),
                Component::ParentDir => out.push(".."),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        out
    }

    /// The host path of a resolved path (the inverse of [`Root::path`]).
    pub fn host_path(&self, resolved: &Path) -> PathBuf {
        match resolved.strip_prefix(&self.base) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => resolved.to_path_buf(),
        }
    }

    /// Whether the host path exists (following symlinks).
    pub fn exists(&self, host_path: impl AsRef<Path>) -> bool {
        self.path(host_path).exists()
    }

    /// The whole content of a file.
    pub fn read(&self, host_path: impl AsRef<Path>) -> Result<String> {
        let path = self.path(host_path);
        fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
    }

    /// The trimmed content of a file, or `None` when it is missing or unreadable.
    pub fn read_opt(&self, host_path: impl AsRef<Path>) -> Option<String> {
        fs::read_to_string(self.path(host_path)).ok().map(|s| s.trim().to_string())
    }

    /// A file holding one unsigned number.
    pub fn read_u64(&self, host_path: impl AsRef<Path>) -> Option<u64> {
        self.read_opt(host_path)?.parse().ok()
    }

    /// Names of the entries of a directory, sorted; empty when it does not exist.
    pub fn list(&self, host_path: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(host_path))
            .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The last component of a symlink's target (`driver` -> `ixgbe`).
    pub fn link_name(&self, host_path: impl AsRef<Path>) -> Option<String> {
        let target = fs::read_link(self.path(host_path)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }
}

/// The effective user ID from the `Uid:` line of `/proc/self/status` under the root.
pub fn effective_uid(root: &Root) -> Option<u32> {
    let status = root.read("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    // Real, effective, saved, filesystem.
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sort names like `node10` after `node2`.
pub fn sort_numeric_suffix(names: &mut [String]) {
    fn key(name: &str) -> (&str, u64) {
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
        let prefix = &name[..name.len() - digits.len()];
        (prefix, digits.parse().unwrap_or(u64::MAX))
    }
    names.sort_by(|a, b| key(a).cmp(&key(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_under_the_root() {
        let root = Root::new("/tmp/fake");
        assert_eq!(root.path("/sys/kernel/mm"), PathBuf::from("/tmp/fake/sys/kernel/mm"));
        assert_eq!(root.host_path(Path::new("/tmp/fake/proc/mounts")), PathBuf::from("/proc/mounts"));
        assert_eq!(Root::new("/").path("/proc/x"), PathBuf::from("/proc/x"));
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert_eq!(effective_uid(&root), None);
        fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        fs::write(dir.path().join("proc/self/status"), "Name:\tx\nUid:\t1000\t0\t0\t0\n").unwrap();
        assert_eq!(effective_uid(&root), Some(0));
    }

    #[test]
    fn numeric_suffix_order() {
        let mut v: Vec<String> = ["node10", "node2", "node0"].map(String::from).to_vec();
        sort_numeric_suffix(&mut v);
        assert_eq!(v, ["node0", "node2", "node10"]);
    }
}
