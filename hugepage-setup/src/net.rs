//! Kernel network interfaces: state and addresses.
//!
//! An interface counts as *in use* when it is up (`operstate` `up`, or `unknown`, which
//! some drivers report while passing traffic) and has an address other than an IPv6
//! link-local one. Addresses come from:
//! - IPv6: `/proc/net/if_inet6` under the root (global and site scope);
//! - IPv4 on the running host (`--root /`): `ip -j -4 addr show`;
//! - IPv4 under any other root, or when `ip` fails: the local (`/32 host LOCAL`) addresses
//!   of `/proc/net/fib_trie`, each given to the interface of the longest matching
//!   `/proc/net/route` entry.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::host::Host;
use crate::sysfs::Root;

/// A kernel network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Its name (`eth1`, `enp59s0f0`).
    pub name: String,
    /// `operstate` as the kernel reports it.
    pub operstate: String,
    /// Whether it counts as up.
    pub up: bool,
    /// Its addresses with prefix length.
    pub addresses: Vec<String>,
}

impl Interface {
    /// Whether the kernel is using it: up with an address.
    pub fn in_use(&self) -> bool {
        self.up && !self.addresses.is_empty()
    }
}

/// Addresses per interface name.
pub type AddressBook = BTreeMap<String, Vec<String>>;

/// Read one interface's state, taking addresses from `book`.
pub fn interface(root: &Root, name: &str, book: &AddressBook) -> Interface {
    let operstate = root.read_opt(format!("/sys/class/net/{name}/operstate")).unwrap_or_else(|| "absent".into());
    Interface {
        name: name.into(),
        up: operstate == "up" || operstate == "unknown",
        operstate,
        addresses: book.get(name).cloned().unwrap_or_default(),
    }
}

/// Every address of every interface, by the rule in the module documentation.
pub fn address_book(root: &Root, host: &dyn Host) -> AddressBook {
    let mut book = AddressBook::new();
    let v4 = if root.is_host() {
        host.run("ip", &["-j", "-4", "addr", "show"]).ok().and_then(|json| parse_ip_json(&json))
    } else {
        None
    };
    let v4 = v4.unwrap_or_else(|| {
        let trie = root.read("/proc/net/fib_trie").unwrap_or_default();
        let routes = root.read("/proc/net/route").unwrap_or_default();
        ipv4_from_fib(&trie, &routes)
    });
    for (name, addr) in v4 {
        book.entry(name).or_default().push(addr);
    }
    let v6 = root.read("/proc/net/if_inet6").unwrap_or_default();
    for (name, addr) in parse_if_inet6(&v6) {
        book.entry(name).or_default().push(addr);
    }
    book
}

/// `(interface, address/prefix)` pairs from `ip -j addr show`.
pub fn parse_ip_json(json: &str) -> Option<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut out = Vec::new();
    for link in value.as_array()? {
        let Some(name) = link["ifname"].as_str() else {
            continue;
        };
        for info in link["addr_info"].as_array().into_iter().flatten() {
            if let (Some(local), Some(prefix)) = (info["local"].as_str(), info["prefixlen"].as_u64()) {
                out.push((name.to_string(), format!("{local}/{prefix}")));
            }
        }
    }
    Some(out)
}

/// Global and site-scope addresses of `/proc/net/if_inet6`.
pub fn parse_if_inet6(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [hex, _index, prefix, scope, _flags, name] = f[..] else {
                return None;
            };
            let scope = u8::from_str_radix(scope, 16).ok()?;
            // 0x10 host (loopback), 0x20 link-local: the kernel adds these by itself.
            if scope == 0x10 || scope == 0x20 {
                return None;
            }
            let addr = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
            let prefix = u8::from_str_radix(prefix, 16).ok()?;
            Some((name.to_string(), format!("{addr}/{prefix}")))
        })
        .collect()
}

/// IPv4 addresses from `/proc/net/fib_trie` attributed through `/proc/net/route`.
pub fn ipv4_from_fib(trie: &str, routes: &str) -> Vec<(String, String)> {
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(addr) = t.parse::<Ipv4Addr>() {
            last = Some(addr);
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(addr) = last.filter(|a| !locals.contains(a)) {
                locals.push(addr);
            }
        }
    }
    // (interface, destination, mask) of the connected routes.
    let table: Vec<(String, u32, u32)> = routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints these in memory (network) order as a native integer.
            let dest = u32::from_be_bytes(dest.to_le_bytes());
            let mask = u32::from_be_bytes(mask.to_le_bytes());
            (mask != 0).then(|| (f[0].to_string(), dest, mask))
        })
        .collect();
    locals
        .into_iter()
        .filter_map(|addr| {
            let a = u32::from(addr);
            let (name, _, mask) = table
                .iter()
                .filter(|(_, dest, mask)| a & mask == *dest)
                .max_by_key(|(_, _, mask)| mask.count_ones())?;
            Some((name.clone(), format!("{addr}/{}", mask.count_ones())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_inet6_skips_link_local_and_loopback() {
        let text = "fd000000000000000000000000000002 04 40 00 82     eth0\n\
                    00000000000000000000000000000001 01 80 10 80       lo\n\
                    fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n";
        assert_eq!(parse_if_inet6(text), [("eth0".to_string(), "fd00::2/64".to_string())]);
    }

    #[test]
    fn fib_trie_and_routes() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.2\n        /32 host LOCAL\n\
                    |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n     |-- 192.0.2.2\n\
                    /32 host LOCAL\n";
        let routes = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                      eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n\
                      eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(ipv4_from_fib(trie, routes), [("eth0".to_string(), "192.0.2.2/24".to_string())]);
    }

    #[test]
    fn ip_json() {
        let json = r#"[{"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24}]}]"#;
        assert_eq!(parse_ip_json(json).unwrap(), [("eth0".to_string(), "192.0.2.2/24".to_string())]);
    }
}
