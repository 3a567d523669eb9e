use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a packet arrived: DPDK port, our local IP address and UDP port.
///
/// IPv4 addresses are stored IPv4-mapped so that both families share one
/// fixed-size, cheaply hashed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    addr: [u8; 16],
    port_id: u16,
    udp_port: u16,
}

impl FlowKey {
    /// The key for `addr:udp_port` on DPDK port `port_id`.
    pub fn new(port_id: u16, addr: IpAddr, udp_port: u16) -> Self {
        let addr = match addr {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        FlowKey { addr, port_id, udp_port }
    }

    /// The key of an IPv4 destination, without going through `IpAddr`.
    #[inline(always)]
    pub fn v4(port_id: u16, addr: Ipv4Addr, udp_port: u16) -> Self {
        let o = addr.octets();
        FlowKey { addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, o[0], o[1], o[2], o[3]], port_id, udp_port }
    }

    /// The key of an IPv6 destination.
    #[inline(always)]
    pub fn v6(port_id: u16, addr: Ipv6Addr, udp_port: u16) -> Self {
        FlowKey { addr: addr.octets(), port_id, udp_port }
    }

    /// A fast, well-mixed 64-bit hash. Keys are chosen by the control side
    /// (our addresses and allocated ports), never by senders, so a fixed
    /// function is not open to collision flooding.
    #[inline(always)]
    pub(super) fn hash64(&self) -> u64 {
        let a = u64::from_le_bytes(self.addr[0..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(self.addr[8..16].try_into().expect("8 bytes"));
        let c = (self.port_id as u64) << 16 | self.udp_port as u64;
        let mut h = (a ^ b.rotate_left(23) ^ c.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 29)
    }

    /// The local address as a number, big-endian, IPv4 mapped: what the
    /// direct index is keyed by.
    #[inline(always)]
    pub fn addr_bits(&self) -> u128 {
        u128::from_be_bytes(self.addr)
    }

    /// [`FlowKey::addr_bits`] of an IPv4 address given as its big-endian number.
    #[inline(always)]
    pub const fn v4_bits(addr: u32) -> u128 {
        0xffff_u128 << 32 | addr as u128
    }

    /// The DPDK port.
    pub fn port_id(&self) -> u16 {
        self.port_id
    }

    /// Our local address.
    pub fn addr(&self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.addr);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// Our local UDP port.
    pub fn udp_port(&self) -> u16 {
        self.udp_port
    }
}

impl core::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.addr() {
            IpAddr::V4(a) => write!(f, "port{}/{}:{}", self.port_id, a, self.udp_port),
            IpAddr::V6(a) => write!(f, "port{}/[{}]:{}", self.port_id, a, self.udp_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_constructors_agree_with_new() {
        let a = Ipv4Addr::new(198, 18, 0, 1);
        assert_eq!(FlowKey::v4(1, a, 30000), FlowKey::new(1, IpAddr::V4(a), 30000));
        assert_eq!(FlowKey::v4(1, a, 30000).addr(), IpAddr::V4(a));
        let b: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(FlowKey::v6(2, b, 5), FlowKey::new(2, IpAddr::V6(b), 5));
        assert_eq!(FlowKey::v6(2, b, 5).addr(), IpAddr::V6(b));
        assert_ne!(FlowKey::v4(1, a, 30000), FlowKey::v4(2, a, 30000));
        assert_eq!(FlowKey::v4(1, a, 30000).to_string(), "port1/198.18.0.1:30000");
    }
}
