//! PCI addresses in the kernel's `DDDD:BB:DD.F` form.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::error::Error;

/// A PCI function address: domain, bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddr {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

impl PciAddr {
    /// An address from its parts; `None` if the device or function is out of range.
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Option<Self> {
        (device < 32 && function < 8).then_some(PciAddr { domain, bus, device, function })
    }
}

impl fmt::Display for PciAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

impl Serialize for PciAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn hex_field(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

impl FromStr for PciAddr {
    type Err = Error;

    /// Accepts `0000:3b:00.0` and the short `3b:00.0` (domain 0), in any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidPciAddress(s.to_string());
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, devfn) = match parts[..] {
            [d, b, df] => (hex_field(d, 4, 8).ok_or_else(bad)?, b, df),
            [b, df] => (0, b, df),
            _ => return Err(bad()),
        };
        let (dev, func) = devfn.split_once('.').ok_or_else(bad)?;
        let bus = hex_field(bus, 2, 2).ok_or_else(bad)?;
        let dev = hex_field(dev, 2, 2).ok_or_else(bad)?;
        let func = hex_field(func, 1, 1).ok_or_else(bad)?;
        PciAddr::new(domain, bus as u8, dev as u8, func as u8).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_and_short_forms() {
        let a: PciAddr = "0000:3b:00.0".parse().unwrap();
        assert_eq!(a.to_string(), "0000:3b:00.0");
        assert_eq!("3B:00.1".parse::<PciAddr>().unwrap().to_string(), "0000:3b:00.1");
        assert_eq!("10000:01:1f.7".parse::<PciAddr>().unwrap().to_string(), "10000:01:1f.7");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "3b:00",
            "3b.00.0",
            "000:3b:00.0",
            "0000:3b:20.0",
            "0000:3b:00.8",
            "0000:3b:0.0",
            "0000:3b:00.0.1",
            "g000:3b:00.0",
            "0000:3b:00.",
            ":3b:00.0",
            "0000:3b:00.0 ",
            "eth0",
            "+000:3b:00.0",
        ] {
            assert!(s.parse::<PciAddr>().is_err(), "{s:?} parsed");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(domain: u32, bus: u8, dev in 0u8..32, func in 0u8..8) {
            let a = PciAddr::new(domain, bus, dev, func).unwrap();
            prop_assert_eq!(a.to_string().parse::<PciAddr>().unwrap(), a);
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<PciAddr>();
        }
    }
}
