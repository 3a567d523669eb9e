//! mediafwd's control plane: configuration, sessions, and the node process
//! that starts DPDK, the ports and the workers and serves the slow path.

pub mod api;
pub mod config;
pub mod control;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod session;
