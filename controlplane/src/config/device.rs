use std::fmt;

/// A DPDK port as configured: a PCI device, or a virtual device with its
/// arguments.
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
}

impl Device {
    /// Parses `0000:3b:02.0`, `3b:02.0` or `net_xxxN[,args]`.
    pub fn parse(s: &str) -> Result<Device, String> {
        let s = s.trim();
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
        }
    }

    /// The EAL argument that brings the device up.
    pub fn eal_arg(&self) -> String {
        match self {
            Device::Pci(a) => format!("--allow={a}"),
            Device::Vdev { name, args } if args.is_empty() => format!("--vdev={name}"),
            Device::Vdev { name, args } => format!("--vdev={name},{args}"),
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
        }
    }
}
