//! Counters the workers keep and the control side reads without stopping them.

pub mod counters;
pub mod rtp;

pub use counters::{DropReason, FlowCounters, FlowDrop, FlowStats, FlowStatsArray, WorkerCounters, WorkerStats};
