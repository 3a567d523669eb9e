//! mediafwd's control plane: configuration, sessions, the node process that
//! starts the dataplane's node (DPDK, the ports, the workers) from its
//! configuration file and serves the slow path, and its two front-ends: the
//! gRPC API and rtpengine's ng protocol. It knows DPDK only through the
//! dataplane's Rust types.

pub mod api;
pub mod config;
pub mod control;
pub mod ha;
pub mod logging;
pub mod metrics;
pub mod ng;
pub mod node;
pub mod session;
pub mod webrtc;
