//! Counters the workers keep and the control side reads without stopping
//! them, and the ports' own counters.

pub mod counters;
pub mod drops;
pub mod port;
pub(crate) mod reasons;
pub mod rtp;
pub mod stages;

pub use counters::{FlowCounters, FlowDrops, FlowStats, FlowStatsArray, WorkerCounters, WorkerStats};
pub use drops::{DropReason, FlowDrop};
pub use port::PortStats;
pub use stages::{Stage, StageClock};
