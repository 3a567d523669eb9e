//! mediafwd's own addresses: one [`Interface`] per (port, VLAN), with its
//! MAC, its subnets, its gateways and the IPv6 link-local address derived
//! from the MAC.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use crate::classify::PortContext;
use crate::wire::ethernet::MacAddr;

/// A string that is not `address/prefix`, or a prefix too long for the family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid interface address {0:?}: expected address/prefix, like 198.18.0.1/24 or 2001:db8::1/64")]
pub struct ParseNetError(pub String);

/// An IPv4 address of ours and the length of its subnet's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    /// Our address.
    pub addr: Ipv4Addr,
    /// Subnet prefix length, 0..=32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// `addr/prefix`; `None` when the prefix exceeds 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then_some(Ipv4Net { addr, prefix })
    }

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix.min(32))).unwrap_or(0)
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.addr) ^ u32::from(ip)) & self.mask() == 0
    }
}

/// An IPv6 address of ours and the length of its subnet's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Net {
    /// Our address.
    pub addr: Ipv6Addr,
    /// Subnet prefix length, 0..=128.
    pub prefix: u8,
}

impl Ipv6Net {
    /// `addr/prefix`; `None` when the prefix exceeds 128.
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Self> {
        (prefix <= 128).then_some(Ipv6Net { addr, prefix })
    }

    fn mask(&self) -> u128 {
        u128::MAX.checked_shl(128 - u32::from(self.prefix.min(128))).unwrap_or(0)
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        (u128::from(self.addr) ^ u128::from(ip)) & self.mask() == 0
    }
}

fn split_net(s: &str) -> Result<(&str, u8), ParseNetError> {
    let err = || ParseNetError(s.to_owned());
    let (addr, prefix) = s.split_once('/').ok_or_else(err)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    Ok((addr, prefix.parse().map_err(|_| err())?))
}

impl FromStr for Ipv4Net {
    type Err = ParseNetError;

    /// Parses `198.18.0.1/24`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = split_net(s)?;
        let addr = addr.parse().map_err(|_| ParseNetError(s.to_owned()))?;
        Ipv4Net::new(addr, prefix).ok_or_else(|| ParseNetError(s.to_owned()))
    }
}

impl FromStr for Ipv6Net {
    type Err = ParseNetError;

    /// Parses `2001:db8::1/64`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = split_net(s)?;
        let addr = addr.parse().map_err(|_| ParseNetError(s.to_owned()))?;
        Ipv6Net::new(addr, prefix).ok_or_else(|| ParseNetError(s.to_owned()))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether `a` is in `fe80::/10`, which is on every link (RFC 4291 §2.5.6).
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// One link mediafwd is attached to: a DPDK port, untagged or one 802.1Q
/// VLAN on it, with our addresses there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name for logs and metrics.
    pub name: String,
    /// DPDK port.
    pub port_id: u16,
    /// 802.1Q VLAN, `None` for untagged frames.
    pub vlan: Option<u16>,
    /// Our MAC address (the port's; every interface of a port shares it).
    pub mac: MacAddr,
    /// Our IPv4 addresses and their subnets.
    pub ipv4: Vec<Ipv4Net>,
    /// Our IPv6 addresses and their subnets (the link-local address is implied).
    pub ipv6: Vec<Ipv6Net>,
    /// IPv4 next hop for destinations off every subnet.
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 next hop for destinations off every subnet (often link-local).
    pub gateway6: Option<Ipv6Addr>,
    /// Largest IP packet the link carries.
    pub mtu: u16,
}

impl Interface {
    /// An interface with no addresses yet, MTU 1500.
    pub fn new(name: impl Into<String>, port_id: u16, vlan: Option<u16>, mac: MacAddr) -> Self {
        Interface {
            name: name.into(),
            port_id,
            vlan,
            mac,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            gateway4: None,
            gateway6: None,
            mtu: 1500,
        }
    }

    /// Our link-local address, `fe80::/64` with the modified EUI-64 of the
    /// MAC (RFC 4291 appendix A, RFC 2464 §4-5).
    pub fn link_local(&self) -> Ipv6Addr {
        let m = self.mac.0;
        Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
    }

    /// Whether `ip` is one of our addresses here (the link-local one included).
    pub fn owns(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4.iter().any(|n| n.addr == a),
            IpAddr::V6(a) => a == self.link_local() || self.ipv6.iter().any(|n| n.addr == a),
        }
    }

    /// Whether `ip` is reachable directly on this link: in one of our
    /// subnets, or IPv6 link-local.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4.iter().any(|n| n.contains(a)),
            IpAddr::V6(a) => is_link_local(a) || self.ipv6.iter().any(|n| n.contains(a)),
        }
    }

    /// Whether `ip` is the directed broadcast address of one of our IPv4
    /// subnets (those shorter than /31, RFC 3021).
    pub fn is_subnet_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.ipv4.iter().any(|n| n.prefix < 31 && n.contains(ip) && u32::from(ip) | n.mask() == u32::MAX)
    }

    /// The neighbor packets to `dst` are sent to: `dst` itself when on
    /// link, else the family's gateway. `None` without a route, and for
    /// destinations that are not unicast.
    pub fn next_hop_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let unicast = match dst {
            IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast() || a.is_unspecified()),
            IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
        };
        if !unicast {
            return None;
        }
        if self.on_link(dst) {
            return Some(dst);
        }
        match dst {
            IpAddr::V4(_) => self.gateway4.map(IpAddr::V4),
            IpAddr::V6(_) => self.gateway6.map(IpAddr::V6),
        }
    }

    /// Our IPv4 address to speak to `peer` from: the one whose subnet holds
    /// it, else the first. `None` without IPv4.
    pub fn source_v4_for(&self, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        self.ipv4.iter().find(|n| n.contains(peer)).or(self.ipv4.first()).map(|n| n.addr)
    }

    /// Our IPv6 address to speak to `peer` from: link-local to a link-local
    /// peer, else the address whose subnet holds it, else link-local.
    pub fn source_v6_for(&self, peer: Ipv6Addr) -> Ipv6Addr {
        if is_link_local(peer) {
            return self.link_local();
        }
        self.ipv6.iter().find(|n| n.contains(peer)).map_or_else(|| self.link_local(), |n| n.addr)
    }
}

/// What the workers need to know of port `port_id`: its MAC and the VLANs
/// its interfaces use. `None` when no interface is on the port.
pub fn port_context(interfaces: &[Interface], port_id: u16) -> Option<PortContext> {
    let on_port: Vec<&Interface> = interfaces.iter().filter(|i| i.port_id == port_id).collect();
    let first = on_port.first()?;
    let untagged = on_port.iter().any(|i| i.vlan.is_none());
    let vlans: Vec<u16> = on_port.iter().filter_map(|i| i.vlan).collect();
    Some(PortContext::with_vlans(first.mac, untagged, &vlans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iface() -> Interface {
        let mut i = Interface::new("access", 0, Some(100), MacAddr([0x00, 0x16, 0x3e, 0x1a, 0x2b, 0x3c]));
        i.ipv4 = vec!["198.18.0.1/24".parse().unwrap(), "198.18.7.1/30".parse().unwrap()];
        i.ipv6 = vec!["2001:db8::1/64".parse().unwrap()];
        i.gateway4 = Some("198.18.0.254".parse().unwrap());
        i.gateway6 = Some("fe80::1".parse().unwrap());
        i
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nets_parse_and_contain() {
        let n: Ipv4Net = "198.18.0.1/24".parse().unwrap();
        assert_eq!((n.addr, n.prefix), (Ipv4Addr::new(198, 18, 0, 1), 24));
        assert!(n.contains(Ipv4Addr::new(198, 18, 0, 255)));
        assert!(!n.contains(Ipv4Addr::new(198, 18, 1, 0)));
        assert_eq!(n.to_string(), "198.18.0.1/24");
        let all: Ipv4Net = "198.18.0.1/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(203, 0, 113, 1)));
        let host: Ipv4Net = "198.18.0.1/32".parse().unwrap();
        assert!(host.contains(host.addr) && !host.contains(Ipv4Addr::new(198, 18, 0, 2)));
        let n6: Ipv6Net = "2001:db8:1::1/48".parse().unwrap();
        assert!(n6.contains("2001:db8:1:ffff::9".parse().unwrap()));
        assert!(!n6.contains("2001:db8:2::1".parse().unwrap()));
        assert!("::/0".parse::<Ipv6Net>().unwrap().contains(Ipv6Addr::LOCALHOST));
        for bad in ["198.18.0.1", "198.18.0.1/33", "198.18.0.1/", "198.18.0.1/+4", "2001:db8::1/24", "x/3"] {
            assert!(bad.parse::<Ipv4Net>().is_err(), "{bad}");
        }
        for bad in ["2001:db8::1/129", "2001:db8::1", "198.18.0.1/24", "2001:db8::1/-1"] {
            assert!(bad.parse::<Ipv6Net>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_local_is_modified_eui64() {
        // RFC 4291 appendix A: 00:16:3e:1a:2b:3c -> 0216:3eff:fe1a:2b3c.
        assert_eq!(iface().link_local(), "fe80::216:3eff:fe1a:2b3c".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(iface().link_local()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
    }

    #[test]
    fn ownership_and_next_hops() {
        let i = iface();
        assert!(i.owns(ip("198.18.0.1")) && i.owns(ip("198.18.7.1")) && i.owns(ip("2001:db8::1")));
        assert!(i.owns(ip("fe80::216:3eff:fe1a:2b3c")));
        assert!(!i.owns(ip("198.18.0.2")) && !i.owns(ip("fe80::1")));
        assert!(
            i.is_subnet_broadcast(Ipv4Addr::new(198, 18, 0, 255))
                && i.is_subnet_broadcast(Ipv4Addr::new(198, 18, 7, 3))
        );
        assert!(!i.is_subnet_broadcast(Ipv4Addr::new(198, 18, 0, 254)) && !i.is_subnet_broadcast(Ipv4Addr::BROADCAST));
        assert_eq!(i.next_hop_for(ip("198.18.0.20")), Some(ip("198.18.0.20")));
        assert_eq!(i.next_hop_for(ip("198.18.7.2")), Some(ip("198.18.7.2")));
        assert_eq!(i.next_hop_for(ip("198.19.5.5")), Some(ip("198.18.0.254")));
        assert_eq!(i.next_hop_for(ip("2001:db8::77")), Some(ip("2001:db8::77")));
        assert_eq!(i.next_hop_for(ip("2001:db8:5::77")), Some(ip("fe80::1")));
        assert_eq!(i.next_hop_for(ip("fe80::99")), Some(ip("fe80::99")));
        for none in ["224.0.0.1", "255.255.255.255", "0.0.0.0", "ff02::1", "::"] {
            assert_eq!(i.next_hop_for(ip(none)), None, "{none}");
        }
        let mut bare = Interface::new("bare", 1, None, MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(bare.next_hop_for(ip("198.18.0.1")), None);
        assert_eq!(bare.source_v4_for(Ipv4Addr::new(198, 18, 0, 1)), None);
        bare.gateway4 = Some(Ipv4Addr::new(198, 18, 0, 254));
        assert_eq!(bare.next_hop_for(ip("198.19.0.1")), Some(ip("198.18.0.254")));
    }

    #[test]
    fn sources() {
        let i = iface();
        assert_eq!(i.source_v4_for(Ipv4Addr::new(198, 18, 7, 2)), Some(Ipv4Addr::new(198, 18, 7, 1)));
        assert_eq!(i.source_v4_for(Ipv4Addr::new(198, 19, 0, 9)), Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(i.source_v6_for("fe80::1".parse().unwrap()), i.link_local());
        assert_eq!(i.source_v6_for("2001:db8::9".parse().unwrap()), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(i.source_v6_for("2001:db8:9::9".parse().unwrap()), i.link_local());
    }

    #[test]
    fn port_context_from_interfaces() {
        let mut untagged = iface();
        untagged.vlan = None;
        let mut other_port = iface();
        other_port.port_id = 1;
        other_port.vlan = Some(300);
        let all = [iface(), untagged, other_port];
        let p0 = port_context(&all, 0).unwrap();
        assert_eq!(p0.mac, iface().mac);
        assert!(p0.untagged);
        let p1 = port_context(&all, 1).unwrap();
        assert!(!p1.untagged);
        assert!(port_context(&all, 2).is_none());
    }

    proptest! {
        #[test]
        fn contains_matches_prefix_bits(a in any::<u32>(), b in any::<u32>(), prefix in 0u8..=32) {
            let n = Ipv4Net::new(a.into(), prefix).unwrap();
            let same = prefix == 0 || (a ^ b) >> (32 - u32::from(prefix)) == 0;
            prop_assert_eq!(n.contains(b.into()), same);
            prop_assert_eq!(n.to_string().parse::<Ipv4Net>().unwrap(), n);
        }

        #[test]
        fn contains_matches_prefix_bits_v6(a in any::<u128>(), b in any::<u128>(), prefix in 0u8..=128) {
            let n = Ipv6Net::new(a.into(), prefix).unwrap();
            let same = prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0;
            prop_assert_eq!(n.contains(b.into()), same);
            prop_assert_eq!(n.to_string().parse::<Ipv6Net>().unwrap(), n);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Ipv4Net>();
            let _ = s.parse::<Ipv6Net>();
        }
    }
}
