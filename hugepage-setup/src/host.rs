//! The boundary with the kernel: writes, helper programs and mounts.
//!
//! [`SystemHost`] acts on the running host. [`SimulatedHost`] acts on a prepared tree: it
//! writes the files and plays the kernel's part (an unbind removes the `driver` link, a
//! probe follows `driver_override`, `nr_hugepages` may come back short, `sriov_numvfs` only
//! changes from zero), and records every call so tests can check what was done and in which
//! order. The binary uses the simulation for any `--root` other than `/`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::hugepages::PageSize;
use crate::sysfs::Root;

/// Everything that changes the host.
pub trait Host {
    /// Write `value` to a file (a sysfs attribute or a configuration file), creating it if
    /// the filesystem allows.
    fn write(&self, path: &Path, value: &str) -> Result<()>;

    /// Create a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> Result<()>;

    /// Run a program and return its standard output; a non-zero exit is an error.
    fn run(&self, program: &str, args: &[&str]) -> Result<String>;

    /// Mount hugetlbfs with the given page size on `target`.
    fn mount_hugetlbfs(&self, target: &Path, size: PageSize) -> Result<()>;
}

/// One call made through a [`SimulatedHost`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    /// A write of `value` to a host path.
    Write {
        /// The host path (as seen from inside the root).
        path: PathBuf,
        /// The value written.
        value: String,
    },
    /// A directory creation.
    CreateDir {
        /// The host path.
        path: PathBuf,
    },
    /// A program run.
    Run {
        /// The program followed by its arguments.
        argv: Vec<String>,
    },
    /// A hugetlbfs mount.
    Mount {
        /// The host path of the mount point.
        target: PathBuf,
        /// The page size.
        size: PageSize,
    },
}

/// The running host: real writes, real programs, `mount(8)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemHost;

impl Host for SystemHost {
    fn write(&self, path: &Path, value: &str) -> Result<()> {
        fs::write(path, value).map_err(|e| Error::write(path.to_path_buf(), value, e))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        fs::create_dir_all(path).map_err(|e| Error::write(path.to_path_buf(), "(directory)", e))
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let command = command_line(program, args);
        let output = Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|source| Error::Spawn { command: command.clone(), source })?;
        if !output.status.success() {
            return Err(Error::Command {
                command,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn mount_hugetlbfs(&self, target: &Path, size: PageSize) -> Result<()> {
        let option = format!("pagesize={}", size.label());
        let target = target.to_string_lossy();
        self.run("mount", &["-t", "hugetlbfs", "-o", &option, "nodev", target.as_ref()]).map(|_| ())
    }
}

/// Settings of one VF as the simulated `ip link` keeps them.
#[derive(Clone, Debug)]
struct VfState {
    mac: Option<String>,
    vlan: u16,
    trust: bool,
    spoofchk: bool,
}

impl Default for VfState {
    /// What drivers start a VF with: no MAC, no VLAN, untrusted, spoof checking on.
    fn default() -> Self {
        VfState { mac: None, vlan: 0, trust: false, spoofchk: true }
    }
}

/// A prepared tree standing in for the host; see the module documentation.
#[derive(Debug)]
pub struct SimulatedHost {
    root: Root,
    hugepage_limit: Option<u64>,
    calls: RefCell<Vec<HostCall>>,
    vfs: RefCell<BTreeMap<(String, u32), VfState>>,
}

impl SimulatedHost {
    /// A simulation acting on the tree under `root`.
    pub fn new(root: Root) -> Self {
        SimulatedHost {
            root,
            hugepage_limit: None,
            calls: RefCell::new(Vec::new()),
            vfs: RefCell::new(BTreeMap::new()),
        }
    }

    /// Make the simulated kernel give at most `pages` pages per `nr_hugepages` write, as a
    /// host with fragmented memory does.
    pub fn with_hugepage_limit(mut self, pages: u64) -> Self {
        self.hugepage_limit = Some(pages);
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<HostCall> {
        self.calls.borrow().clone()
    }

    /// The writes so far as `(host path, value)` pairs, in order.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                HostCall::Write { path, value } => Some((path.to_string_lossy().into_owned(), value.clone())),
                _ => None,
            })
            .collect()
    }

    /// The programs run so far, each as one command line.
    pub fn commands(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                HostCall::Run { argv } => Some(argv.join(" ")),
                _ => None,
            })
            .collect()
    }

    fn record(&self, call: HostCall) {
        self.calls.borrow_mut().push(call);
    }

    fn plain_write(&self, host_path: &Path, value: &str) -> Result<()> {
        let path = self.root.path(host_path);
        fs::write(&path, value).map_err(|e| Error::write(path, value, e))
    }

    /// The kernel's side of a write to a hugepage pool.
    fn write_nr_hugepages(&self, host_path: &Path, value: &str) -> Result<()> {
        let wanted: u64 = value.trim().parse().map_err(|_| Error::write(self.root.path(host_path), value, einval()))?;
        let given = self.hugepage_limit.map_or(wanted, |l| wanted.min(l));
        self.set_pool(host_path, given)?;
        let pool_dir = host_path.parent().and_then(Path::file_name);
        let text = host_path.to_string_lossy();
        if let (Some(dir), true) = (pool_dir, text.starts_with("/sys/devices/system/node/")) {
            // The global pool is the sum of the node pools.
            let dir = dir.to_string_lossy();
            let total: u64 = self
                .root
                .list("/sys/devices/system/node")
                .iter()
                .filter(|n| n.starts_with("node"))
                .filter_map(|n| {
                    self.root.read_u64(format!("/sys/devices/system/node/{n}/hugepages/{dir}/nr_hugepages"))
                })
                .sum();
            self.set_pool(&PathBuf::from(format!("/sys/kernel/mm/hugepages/{dir}/nr_hugepages")), total)?;
        } else if let Some(dir) = pool_dir {
            // A global write spreads the pages over the nodes.
            let dir = dir.to_string_lossy();
            let nodes: Vec<PathBuf> = self
                .root
                .list("/sys/devices/system/node")
                .iter()
                .filter(|n| n.starts_with("node"))
                .map(|n| PathBuf::from(format!("/sys/devices/system/node/{n}/hugepages/{dir}/nr_hugepages")))
                .filter(|p| self.root.exists(p))
                .collect();
            let count = nodes.len() as u64;
            for (i, node) in nodes.iter().enumerate() {
                let share = given / count + u64::from((i as u64) < given % count);
                self.set_pool(node, share)?;
            }
        }
        Ok(())
    }

    /// Set a pool's size, keeping the pages in use constant.
    fn set_pool(&self, nr_path: &Path, nr: u64) -> Result<()> {
        let old_nr = self.root.read_u64(nr_path).unwrap_or(0);
        let free_path = nr_path.with_file_name("free_hugepages");
        let old_free = self.root.read_u64(&free_path).unwrap_or(old_nr);
        let used = old_nr.saturating_sub(old_free);
        self.plain_write(nr_path, &nr.to_string())?;
        self.plain_write(&free_path, &nr.saturating_sub(used).to_string())
    }

    /// The kernel's side of a write to `sriov_numvfs`.
    fn write_numvfs(&self, host_path: &Path, value: &str) -> Result<()> {
        let resolved = self.root.path(host_path);
        let wanted: u32 = value.trim().parse().map_err(|_| Error::write(resolved.clone(), value, einval()))?;
        let current = self.root.read_u64(host_path).unwrap_or(0) as u32;
        let total = self.root.read_u64(host_path.with_file_name("sriov_totalvfs")).unwrap_or(0) as u32;
        if wanted > total {
            return Err(Error::write(resolved, value, einval()));
        }
        if current != 0 && wanted != 0 && wanted != current {
            return Err(Error::write(resolved, value, io::Error::from_raw_os_error(16)));
        }
        self.plain_write(host_path, &wanted.to_string())
    }

    /// The kernel's side of `drivers/<driver>/unbind`.
    fn unbind(&self, value: &str) -> Result<()> {
        let dev = PathBuf::from(format!("/sys/bus/pci/devices/{}", value.trim()));
        let _ = fs::remove_file(self.root.path(dev.join("driver")));
        let _ = fs::remove_dir_all(self.root.path(dev.join("net")));
        Ok(())
    }

    /// The kernel's side of `drivers_probe`: attach to `driver_override` when it names a
    /// loaded driver.
    fn probe(&self, value: &str) -> Result<()> {
        let dev = PathBuf::from(format!("/sys/bus/pci/devices/{}", value.trim()));
        let wanted = self.root.read_opt(dev.join("driver_override")).unwrap_or_default();
        let link = self.root.path(dev.join("driver"));
        let driver_dir = format!("/sys/bus/pci/drivers/{wanted}");
        if wanted.is_empty() || link.exists() || !self.root.exists(&driver_dir) {
            return Ok(());
        }
        symlink(&self.root.path(driver_dir), &link)
    }

    fn modprobe(&self, args: &[&str]) {
        let Some(module) = args.iter().find(|a| !a.starts_with('-') && !a.contains('=')) else {
            return;
        };
        let _ = fs::create_dir_all(self.root.path(format!("/sys/bus/pci/drivers/{module}")));
        let _ = fs::create_dir_all(self.root.path(format!("/sys/module/{}", module.replace('-', "_"))));
        let modules = self.root.path("/proc/modules");
        let mut text = fs::read_to_string(&modules).unwrap_or_default();
        text.push_str(&format!("{} 16384 0 - Live 0x0000000000000000\n", module.replace('-', "_")));
        let _ = fs::write(modules, text);
    }

    /// `ip link set <pf> vf N key value...`
    fn ip_link_set_vf(&self, args: &[&str]) {
        let (Some(pf), Some(vf)) = (args.get(2), args.get(4).and_then(|v| v.parse().ok())) else {
            return;
        };
        let mut vfs = self.vfs.borrow_mut();
        let state = vfs.entry((pf.to_string(), vf)).or_default();
        for pair in args[5..].chunks(2) {
            match pair {
                ["mac", mac] => state.mac = Some(mac.to_lowercase()),
                ["vlan", id] => state.vlan = id.parse().unwrap_or(0),
                ["trust", v] => state.trust = *v == "on",
                ["spoofchk", v] => state.spoofchk = *v == "on",
                _ => {}
            }
        }
    }

    /// `ip -j link show dev <pf>`, in iproute2's JSON shape.
    fn ip_link_show(&self, pf: &str) -> String {
        let vfs = self.vfs.borrow();
        let list: Vec<serde_json::Value> = vfs
            .iter()
            .filter(|((p, _), _)| p == pf)
            .map(|((_, vf), s)| {
                let mut v = serde_json::json!({
                    "vf": vf,
                    "address": s.mac.clone().unwrap_or_else(|| "00:00:00:00:00:00".into()),
                    "spoofchk": s.spoofchk,
                    "trust": s.trust,
                });
                if s.vlan != 0 {
                    v["vlan_list"] = serde_json::json!([{ "vlan": s.vlan }]);
                }
                v
            })
            .collect();
        serde_json::json!([{ "ifname": pf, "vfinfo_list": list }]).to_string()
    }
}

impl Host for SimulatedHost {
    fn write(&self, path: &Path, value: &str) -> Result<()> {
        let host_path = self.root.host_path(path);
        self.record(HostCall::Write { path: host_path.clone(), value: value.to_string() });
        let name = host_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let in_sys = host_path.starts_with("/sys");
        match name.as_str() {
            "nr_hugepages" if in_sys => self.write_nr_hugepages(&host_path, value),
            "sriov_numvfs" if in_sys => self.write_numvfs(&host_path, value),
            "driver_override" if in_sys => self.plain_write(&host_path, value.trim()),
            "unbind" if in_sys => {
                self.plain_write(&host_path, value)?;
                self.unbind(value)
            }
            "drivers_probe" if in_sys => {
                self.plain_write(&host_path, value)?;
                self.probe(value)
            }
            _ => self.plain_write(&host_path, value),
        }
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.record(HostCall::CreateDir { path: self.root.host_path(path) });
        fs::create_dir_all(path).map_err(|e| Error::write(path.to_path_buf(), "(directory)", e))
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut argv = vec![program.to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.record(HostCall::Run { argv });
        match (program, args) {
            ("modprobe", _) => self.modprobe(args),
            ("ip", ["link", "set", _, "vf", ..]) => self.ip_link_set_vf(args),
            ("ip", ["-j", "link", "show", "dev", pf]) => return Ok(self.ip_link_show(pf)),
            _ => {}
        }
        Ok(String::new())
    }

    fn mount_hugetlbfs(&self, target: &Path, size: PageSize) -> Result<()> {
        let host_target = self.root.host_path(target);
        self.record(HostCall::Mount { target: host_target.clone(), size });
        let mounts = self.root.path("/proc/mounts");
        let mut text = fs::read_to_string(&mounts).unwrap_or_default();
        text.push_str(&format!(
            "hugetlbfs {} hugetlbfs rw,relatime,pagesize={} 0 0\n",
            host_target.display(),
            size.mount_label()
        ));
        fs::write(&mounts, text).map_err(|e| Error::write(mounts, "(mount)", e))
    }
}

/// A command line for messages.
pub fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ")
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(22)
}

fn symlink(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::write(link.to_path_buf(), "(symlink)", e))
}
