//! What a node is started from: lcores and memory for the EAL, the devices
//! and the interfaces on them, pool, ring and queue sizes. Built by the
//! control plane from its configuration file; nothing here reads a file.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::engine::DataplaneConfig;
use crate::slowpath::{Ipv4Net, Ipv6Net, SlowPathConfig};

/// Longest label of a [`Device::Ring`]: DPDK names the port
/// `net_ring_<label>` in a 29-character buffer.
pub const MAX_RING_LABEL: usize = 20;

/// Where a port comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// A PCI address in full form (`0000:3b:02.0`).
    Pci(String),
    /// A virtual device: its name (`net_af_packet0`) and arguments (`iface=veth0`).
    Vdev {
        /// Device name, also the DPDK port name.
        name: String,
        /// Comma-separated arguments.
        args: String,
    },
    /// An in-memory port on `rte_ring`s, made by the node itself: what it
    /// receives is injected, and what it sends collected, through a
    /// [`RingPort`](super::RingPort). Written `ring:<label>`; DPDK names the
    /// port `net_ring_<label>`.
    Ring {
        /// The label, as written after `ring:`.
        label: String,
        /// `net_ring_<label>`.
        port_name: String,
    },
}

impl Device {
    /// A ring port labelled `label` (1 to [`MAX_RING_LABEL`] letters,
    /// digits or `_`).
    pub fn ring(label: &str) -> Result<Device, String> {
        let ok = !label.is_empty()
            && label.len() <= MAX_RING_LABEL
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("ring:{label}: a ring port's label is 1 to {MAX_RING_LABEL} letters, digits or _"));
        }
        Ok(Device::Ring { label: label.into(), port_name: format!("net_ring_{label}") })
    }

    /// Parses `0000:3b:02.0`, `3b:02.0`, `net_xxxN[,args]` or `ring:<label>`.
    pub fn parse(s: &str) -> Result<Device, String> {
        let s = s.trim();
        if let Some(label) = s.strip_prefix("ring:") {
            return Device::ring(label);
        }
        if let Some(pci) = parse_pci(s) {
            return Ok(Device::Pci(pci));
        }
        let (name, args) = s.split_once(',').unwrap_or((s, ""));
        if name.starts_with("net_") && name.len() > 4 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok(Device::Vdev { name: name.into(), args: args.into() });
        }
        Err(format!(
            "{s:?} is neither a PCI address (0000:3b:02.0) nor a DPDK virtual device (net_af_packet0,iface=eth1)"
        ))
    }

    /// The DPDK port name.
    pub fn name(&self) -> &str {
        match self {
            Device::Pci(a) => a,
            Device::Vdev { name, .. } => name,
            Device::Ring { port_name, .. } => port_name,
        }
    }

    /// The EAL argument that brings the device up; none for a ring port,
    /// which the node makes after the EAL started.
    pub fn eal_arg(&self) -> Option<String> {
        match self {
            Device::Pci(a) => Some(format!("--allow={a}")),
            Device::Vdev { name, args } if args.is_empty() => Some(format!("--vdev={name}")),
            Device::Vdev { name, args } => Some(format!("--vdev={name},{args}")),
            Device::Ring { .. } => None,
        }
    }
}

fn parse_pci(s: &str) -> Option<String> {
    let full = if s.matches(':').count() == 1 { format!("0000:{s}") } else { s.to_string() };
    let (dom, rest) = full.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |x: &str, n: usize| x.len() == n && x.chars().all(|c| c.is_ascii_hexdigit());
    (hex(dom, 4) && hex(bus, 2) && hex(dev, 2) && hex(func, 1)).then(|| full.to_ascii_lowercase())
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Pci(a) => f.write_str(a),
            Device::Vdev { name, args } if args.is_empty() => f.write_str(name),
            Device::Vdev { name, args } => write!(f, "{name},{args}"),
            Device::Ring { label, .. } => write!(f, "ring:{label}"),
        }
    }
}

/// The EAL's cores and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalConfig {
    /// The CPU of DPDK's main lcore (the control side).
    pub main_lcore: usize,
    /// The CPUs that run workers, one worker each.
    pub worker_lcores: Vec<usize>,
    /// DPDK's runtime-file prefix, unique per process on a host.
    pub file_prefix: String,
    /// Hugepage memory; false: ordinary memory (`--no-huge --no-shconf`).
    pub hugepages: bool,
    /// Memory to reserve, MiB.
    pub memory_mb: u32,
    /// Further EAL arguments, appended as given.
    pub extra_args: Vec<String>,
}

/// One interface: a device (shared by the interfaces on it, one VLAN each)
/// and the addresses the node answers ARP, ND and ping for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Its name.
    pub name: String,
    /// Its port.
    pub device: Device,
    /// VLAN, or untagged.
    pub vlan: Option<u16>,
    /// MTU (the port gets the largest of its interfaces').
    pub mtu: u16,
    /// IPv4 addresses.
    pub ipv4: Vec<Ipv4Net>,
    /// IPv6 addresses.
    pub ipv6: Vec<Ipv6Net>,
    /// IPv4 gateway.
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 gateway.
    pub gateway6: Option<Ipv6Addr>,
}

/// Everything [`Node::start`](super::Node::start) needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Cores and memory.
    pub eal: EalConfig,
    /// Interfaces, in order: their index is the one the slow path and the
    /// sessions use.
    pub interfaces: Vec<InterfaceConfig>,
    /// Packet buffers in the pool.
    pub mbufs: u32,
    /// Per-lcore buffer cache.
    pub mbuf_cache: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Slots of each slow-path ring and of the inject ring.
    pub slow_path_ring: u32,
    /// The workers' tables and queues.
    pub dataplane: DataplaneConfig,
    /// The slow path.
    pub slow_path: SlowPathConfig,
}

impl NodeConfig {
    /// The EAL arguments (without the program name).
    pub fn eal_args(&self) -> Vec<String> {
        let e = &self.eal;
        let mut cores = vec![e.main_lcore];
        cores.extend(&e.worker_lcores);
        let list = cores.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let mut args = vec![
            "-l".to_string(),
            list,
            format!("--main-lcore={}", e.main_lcore),
            format!("--file-prefix={}", e.file_prefix),
            "--log-level=notice".to_string(),
        ];
        if e.hugepages {
            args.extend(["-m".to_string(), e.memory_mb.to_string()]);
        } else {
            args.extend([
                "--no-huge".to_string(),
                "-m".to_string(),
                e.memory_mb.to_string(),
                "--no-shconf".to_string(),
            ]);
        }
        let mut seen = Vec::new();
        let mut any_pci = false;
        for i in &self.interfaces {
            if seen.contains(&i.device.name()) {
                continue;
            }
            seen.push(i.device.name());
            any_pci |= matches!(i.device, Device::Pci(_));
            args.extend(i.device.eal_arg());
        }
        if !any_pci {
            args.push("--no-pci".to_string());
        }
        args.extend(e.extra_args.iter().cloned());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for s in ["0000:3b:02.0", "net_af_packet0,iface=veth0", "net_null1", "ring:public"] {
            assert_eq!(Device::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Device::parse("3b:02.0").unwrap(), Device::Pci("0000:3b:02.0".into()));
        let r = Device::parse("ring:side_a").unwrap();
        assert_eq!(r.name(), "net_ring_side_a");
        assert_eq!(r.eal_arg(), None);
        for bad in ["ring:", "ring:a-b", "ring:abcdefghijklmnopqrstu", "eth0", "net_"] {
            assert!(Device::parse(bad).is_err(), "{bad}");
        }
    }
}
