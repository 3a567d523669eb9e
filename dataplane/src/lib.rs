//! mediafwd's packet engine.
//!
//! The pure parts ([`wire`], [`classify`], [`relay`], [`latch`], [`stats`],
//! [`flow`], [`pipeline`]) work on byte slices and are tested without DPDK;
//! [`worker`] is the one module that moves mbufs between queues, and
//! [`engine`] launches the workers and gives the control side its handle.

pub mod buf;
pub mod classify;
pub mod craft;
pub mod engine;
pub mod flow;
pub mod latch;
pub mod pipeline;
pub mod relay;
pub mod slowpath;
pub mod srtp;
pub mod stats;
pub mod wire;
pub mod worker;

pub use engine::{Dataplane, DataplaneConfig, StartError, WorkerQueues};
