//! How the slow path is set up, and what can go wrong setting it up or
//! resolving a next hop: plain data, shared by the I/O edge
//! (`service`) and its callers.

use core::net::IpAddr;

use super::neighbor::{Full, NeighborConfig};
use super::ratelimit::{ReplyLimits, TokenBucket};

/// How the slow path runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowPathConfig {
    /// Neighbor table size and timers.
    pub neighbors: NeighborConfig,
    /// Echo replies per second per interface.
    pub echo_rate: u32,
    /// Echo replies an interface may send at once.
    pub echo_burst: u32,
    /// ARP replies and Neighbor Advertisements per second per interface.
    pub neighbor_reply_rate: u32,
    /// ARP replies and Neighbor Advertisements an interface may send at once.
    pub neighbor_reply_burst: u32,
    /// Bursts taken from each ring per poll at most, so that one busy
    /// worker does not starve the others or the timers.
    pub bursts_per_ring: usize,
}

impl Default for SlowPathConfig {
    fn default() -> Self {
        SlowPathConfig {
            neighbors: NeighborConfig::default(),
            echo_rate: 1000,
            echo_burst: 100,
            neighbor_reply_rate: 1000,
            neighbor_reply_burst: 100,
            bursts_per_ring: 4,
        }
    }
}

impl SlowPathConfig {
    /// A full set of reply budgets for one interface.
    pub fn reply_limits(&self) -> ReplyLimits {
        ReplyLimits {
            echo: TokenBucket::new(self.echo_rate, self.echo_burst),
            neighbor: TokenBucket::new(self.neighbor_reply_rate, self.neighbor_reply_burst),
        }
    }
}

/// The interfaces and queues given to `SlowPath::new` do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlowPathError {
    /// Two interfaces on one port and VLAN.
    #[error(
        "interfaces {first:?} and {second:?} are both on port {port_id}, VLAN {vlan:?}; give each one its own VLAN"
    )]
    DuplicateInterface {
        /// First interface's name.
        first: String,
        /// Second interface's name.
        second: String,
        /// Port.
        port_id: u16,
        /// VLAN.
        vlan: Option<u16>,
    },
    /// Interfaces on one port with different MACs.
    #[error("interfaces on port {port_id} have different MACs; every interface of a port uses the port's MAC")]
    MacMismatch {
        /// Port.
        port_id: u16,
    },
}

/// A next hop could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No interface with this index.
    #[error("no interface {0}")]
    UnknownInterface(usize),
    /// The destination is neither on link nor has a gateway of its family.
    #[error("no route to {dst} on interface {iface:?}: not on its subnets and no gateway for the family")]
    NoRoute {
        /// The destination.
        dst: IpAddr,
        /// Interface name.
        iface: String,
    },
    /// Every next-hop id is in use.
    #[error(transparent)]
    Full(#[from] Full),
}
