//! mediafwd's packet engine.
//!
//! The packet logic ([`wire`], [`classify`], [`flow`], [`pipeline`],
//! [`relay`], [`latch`], [`srtp`], [`stats`] and the slow path's handlers
//! in [`slowpath`]) works on byte slices, allocates nothing per packet and
//! builds without DPDK: `cargo test -p mediafwd-dataplane
//! --no-default-features` runs its tests on a machine with no libdpdk.
//! Its one hardware hint, [`prefetch`], goes through `core::arch`.
//!
//! The default feature `dpdk` adds the I/O side, built on `mediafwd-ffi`:
//! `worker` moves mbufs between queues, `engine` launches the workers and
//! gives the control side its handle, `slowpath::SlowPath` is the slow
//! path's edge on a control core, and `node` owns the DPDK lifecycle (EAL,
//! ports, mempool, lcores, rings, port statistics, the TSC clock, teardown)
//! and offers in-memory ring ports for tests. `unsafe` is in none of them:
//! it lives in `mediafwd-ffi` (DPDK) and `mediafwd-ipsec-mb` (SRTP's crypto
//! engine), and in [`prefetch`].

pub mod buf;
pub mod classify;
pub mod craft;
#[cfg(feature = "dpdk")]
pub mod engine;
pub mod flow;
pub mod gate;
pub mod ice;
pub mod latch;
pub mod memory;
#[cfg(feature = "dpdk")]
pub mod node;
pub mod pipeline;
pub mod prefetch;
pub mod relay;
pub mod slowpath;
pub mod srtp;
pub mod stats;
pub mod wire;
#[cfg(feature = "dpdk")]
pub mod worker;

#[cfg(feature = "dpdk")]
pub use engine::{Dataplane, DataplaneConfig, StartError, WorkerQueues};
