//! The slow path: what the kernel would do for mediafwd's addresses if it
//! still owned the ports. A DPDK appliance answers ARP and Neighbor
//! Discovery for its own addresses, resolves its next hops, and answers
//! ping; nobody else will.
//!
//! ```text
//!  worker 0 ──ring──┐                                 ┌── TX queue (the slow path's own) per port
//!  worker 1 ──ring──┼─> SlowPath::poll ─> dispatch ─> arp / nd / icmp ─> reply in place
//!                   │        │                            │ learn
//!                   │        └─ timers ─> NeighborTable <─┘
//!                   │                      │  probes (ARP request, NS) ──> TX
//!                   │                      └─ SetNeighbor { id, mac } ──> caller ──> Dataplane::send
//! ```
//!
//! - The workers classify ARP, ICMP and ICMPv6 as slow-path traffic and
//!   hand it over through one ring each; `SlowPath` (in `service`, the
//!   I/O edge, with the feature `dpdk`) runs on a control core, never a
//!   worker, and hands what it sends to worker 0 through the inject ring.
//! - The handlers ([`arp`], [`nd`], [`icmp`], routed by [`dispatch`]) are
//!   pure: a frame in a byte buffer and the [`Interface`] it arrived on
//!   in, a [`Verdict`] out (reply written in place, learn, or drop with a
//!   [`Reason`]). They are tested on byte slices, without DPDK.
//! - The [`NeighborTable`] gives every next hop a stable id for the
//!   workers' neighbor lookups, resolves and refreshes it, and turns every
//!   change of its MAC into a [`Command::SetNeighbor`](crate::flow::Command)
//!   that the caller, which owns the `Dataplane`, sends to every worker.
//! - What the workers punt is policed there first, per kind and per
//!   source ([`police`]), so a flood of one kind cannot crowd out another
//!   or reach this core at all beyond its budget.
//! - Neighbors are learned only when the table resolves them, and a
//!   tracked neighbor's MAC changes only after its known MAC stops
//!   answering ([`NeighborTable::learn`]): spoofed ARP and NA neither fill
//!   the table nor move a live next hop.
//! - Echo replies, ARP replies and Neighbor Advertisements are limited per
//!   interface by [`TokenBucket`]s ([`ReplyLimits`]); everything
//!   the slow path does not serve (ICMP errors, router discovery,
//!   redirects, other ICMP types, traffic for other addresses, unknown
//!   VLANs) is counted by reason in [`SlowPathCounters`] and dropped.

pub mod arp;
pub mod config;
pub mod counters;
pub mod dispatch;
pub mod ice;
pub mod icmp;
pub mod interface;
pub mod nd;
pub mod neighbor;
pub mod police;
pub mod ratelimit;
#[cfg(feature = "dpdk")]
pub mod service;
pub mod verdict;

#[cfg(test)]
mod test_frames;

pub use config::{ResolveError, SlowPathConfig, SlowPathError};
pub use counters::{SlowPathCounters, SlowPathStats};
pub use dispatch::{find_interface, handle_frame};
pub use ice::{DtlsDatagram, IceCredentials, IceLegs, MAX_DTLS_QUEUED};
pub use interface::{port_context, Interface, Ipv4Net, Ipv6Net, ParseNetError};
pub use neighbor::{Full, Learned, NeighborConfig, NeighborInfo, NeighborState, NeighborTable, Probe};
pub use police::{Kind, Police, PoliceConfig, Rate, Refused};
pub use ratelimit::{ReplyLimits, TokenBucket};
#[cfg(feature = "dpdk")]
pub use service::SlowPath;
pub use verdict::{Handled, Learn, Message, Reason, Verdict};
