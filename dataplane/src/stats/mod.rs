//! Counters the workers keep and the control side reads without stopping
//! them, and the ports' own counters.

pub mod counters;
pub mod port;
pub mod rtp;

pub use counters::{DropReason, FlowCounters, FlowDrop, FlowStats, FlowStatsArray, WorkerCounters, WorkerStats};
pub use port::PortStats;
