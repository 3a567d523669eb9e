//! CPUs: the kernel command line, isolation, features, and where NIC interrupts land.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::sysfs::Root;

/// The kernel command line as `key[=value]` parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    /// Parse a command line; parameters after `--` belong to init and are ignored.
    pub fn parse(text: &str) -> Self {
        let params = text
            .split_whitespace()
            .take_while(|t| *t != "--")
            .map(|t| match t.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.trim_matches('"').to_string())),
                None => (t.to_string(), None),
            })
            .collect();
        Cmdline { params }
    }

    /// `/proc/cmdline` of the root (empty if unreadable).
    pub fn read(root: &Root) -> Self {
        Cmdline::parse(&root.read_opt("/proc/cmdline").unwrap_or_default())
    }

    /// The value of the last `key=value` (the one the kernel uses).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Every parameter in order, with its value if it has one.
    pub fn params(&self) -> &[(String, Option<String>)] {
        &self.params
    }

    /// `key=value` for every given key that is present, in order.
    pub fn pick(&self, keys: &[&str]) -> Vec<String> {
        keys.iter().filter_map(|k| self.get(k).map(|v| format!("{k}={v}"))).collect()
    }
}

/// Parse a CPU list (`0-3,8,10-15:2`); `None` if malformed.
pub fn parse_cpulist(text: &str) -> Option<Vec<u32>> {
    let mut cpus = BTreeSet::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (range, stride) = match part.split_once(':') {
            Some((r, s)) => (r, s.split('/').next()?.parse::<u32>().ok()?.max(1)),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = range.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if hi < lo || hi - lo > 1 << 16 {
            return None;
        }
        cpus.extend((lo..=hi).step_by(stride as usize));
    }
    Some(cpus.into_iter().collect())
}

/// The CPUs of an `isolcpus=` value, whose list may follow flags (`managed_irq,domain,2-7`).
pub fn isolcpus_list(value: &str) -> Vec<u32> {
    let cpus: Vec<&str> = value.split(',').filter(|p| p.starts_with(|c: char| c.is_ascii_digit())).collect();
    parse_cpulist(&cpus.join(",")).unwrap_or_default()
}

/// CPU facts that matter to mediafwd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CpuInfo {
    /// Logical CPUs.
    pub count: usize,
    /// `isolcpus=` from the command line.
    pub isolcpus: Option<String>,
    /// `nohz_full=`.
    pub nohz_full: Option<String>,
    /// `rcu_nocbs=`.
    pub rcu_nocbs: Option<String>,
    /// The CPUs `isolcpus=` isolates.
    pub isolated: Vec<u32>,
}

impl CpuInfo {
    /// Gather from `/proc/cpuinfo` and `/proc/cmdline`.
    pub fn read(root: &Root, cmdline: &Cmdline) -> Self {
        let isolcpus = cmdline.get("isolcpus").map(String::from);
        CpuInfo {
            count: cpu_count(root),
            isolated: isolcpus.as_deref().map(isolcpus_list).unwrap_or_default(),
            isolcpus,
            nohz_full: cmdline.get("nohz_full").map(String::from),
            rcu_nocbs: cmdline.get("rcu_nocbs").map(String::from),
        }
    }
}

/// Logical CPUs: `processor` lines of `/proc/cpuinfo`, else `/sys/devices/system/cpu/online`.
pub fn cpu_count(root: &Root) -> usize {
    let from_cpuinfo = root
        .read("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.split(':').next().map(str::trim) == Some("processor")).count())
        .unwrap_or(0);
    if from_cpuinfo > 0 {
        return from_cpuinfo;
    }
    root.read_opt("/sys/devices/system/cpu/online").and_then(|l| parse_cpulist(&l)).map_or(0, |v| v.len())
}

/// The feature flags of the first CPU in `/proc/cpuinfo`.
pub fn cpu_flags(root: &Root) -> BTreeSet<String> {
    root.read("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.split(':').next().map(str::trim) == Some("flags"))
                .map(|l| l.split_once(':').map_or("", |(_, v)| v).split_whitespace().map(String::from).collect())
        })
        .unwrap_or_default()
}

/// A NIC whose interrupts are looked for: its PCI address and kernel interface names.
#[derive(Clone, Debug)]
pub struct NicNames {
    /// PCI address.
    pub addr: String,
    /// Kernel interfaces.
    pub interfaces: Vec<String>,
}

/// Where one NIC's interrupts may be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NicIrqs {
    /// PCI address of the NIC.
    pub device: String,
    /// The IRQ numbers found in `/proc/interrupts`.
    pub irqs: Vec<u32>,
    /// For each CPU, how many of those IRQs `smp_affinity_list` allows on it.
    pub per_cpu: BTreeMap<u32, usize>,
    /// Isolated CPUs that some of these IRQs may still hit.
    pub on_isolated: Vec<u32>,
}

fn irq_matches(desc: &str, nic: &NicNames) -> bool {
    if desc.contains(&nic.addr) {
        return true;
    }
    desc.split(|c: char| c.is_whitespace() || c == '-' || c == '@' || c == ':')
        .any(|token| nic.interfaces.iter().any(|ifname| ifname == token))
}

/// The interrupts of each NIC and the CPUs they may run on.
pub fn nic_irqs(root: &Root, nics: &[NicNames], isolated: &[u32]) -> Vec<NicIrqs> {
    let text = root.read("/proc/interrupts").unwrap_or_default();
    let lines: Vec<(u32, &str)> = text
        .lines()
        .filter_map(|l| {
            let (id, rest) = l.trim_start().split_once(':')?;
            Some((id.parse().ok()?, rest))
        })
        .collect();
    nics.iter()
        .filter_map(|nic| {
            let irqs: Vec<u32> = lines.iter().filter(|(_, desc)| irq_matches(desc, nic)).map(|(id, _)| *id).collect();
            if irqs.is_empty() {
                return None;
            }
            let mut per_cpu = BTreeMap::new();
            for irq in &irqs {
                let cpus = root
                    .read_opt(format!("/proc/irq/{irq}/smp_affinity_list"))
                    .and_then(|l| parse_cpulist(&l))
                    .unwrap_or_default();
                for cpu in cpus {
                    *per_cpu.entry(cpu).or_insert(0) += 1;
                }
            }
            let on_isolated = isolated.iter().copied().filter(|c| per_cpu.contains_key(c)).collect();
            Some(NicIrqs { device: nic.addr.clone(), irqs, per_cpu, on_isolated })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_last_wins_and_init_args_ignored() {
        let c = Cmdline::parse("ro iommu=pt intel_iommu=off intel_iommu=on quiet -- iommu=x");
        assert_eq!(c.get("intel_iommu"), Some("on"));
        assert_eq!(c.get("iommu"), Some("pt"));
        assert_eq!(c.get("quiet"), Some(""));
        assert_eq!(c.get("amd_iommu"), None);
        assert_eq!(c.pick(&["intel_iommu", "amd_iommu"]), ["intel_iommu=on"]);
    }

    #[test]
    fn cpulists() {
        assert_eq!(parse_cpulist("0-3,8").unwrap(), [0, 1, 2, 3, 8]);
        assert_eq!(parse_cpulist("0-7:2").unwrap(), [0, 2, 4, 6]);
        assert_eq!(parse_cpulist("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpulist("3-1").is_none());
        assert!(parse_cpulist("a").is_none());
        assert_eq!(isolcpus_list("managed_irq,domain,2-3,6"), [2, 3, 6]);
    }

    #[test]
    fn irq_names() {
        let nic = NicNames { addr: "0000:3b:00.0".into(), interfaces: vec!["eth1".into()] };
        assert!(irq_matches(" 0 0 IR-PCI-MSI 1-edge eth1-TxRx-0", &nic));
        assert!(irq_matches(" 0 0 IR-PCI-MSI 1-edge i40e-eth1-TxRx-0", &nic));
        assert!(irq_matches(" 0 0 PCI-MSIX-0000:3b:00.0 1-edge virtio2-input.0", &nic));
        assert!(!irq_matches(" 0 0 IR-PCI-MSI 1-edge eth10-TxRx-0", &nic));
    }
}
