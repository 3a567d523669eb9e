//! mediafwd's control plane: configuration, sessions, the node process that
//! starts DPDK, the ports and the workers and serves the slow path, and its
//! two front-ends: the gRPC API and rtpengine's ng protocol.

pub mod api;
pub mod config;
pub mod control;
pub mod logging;
pub mod metrics;
pub mod ng;
pub mod node;
pub mod session;
