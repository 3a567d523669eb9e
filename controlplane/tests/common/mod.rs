//! Helpers for the end-to-end tests.

#[macro_use]
pub mod node;
pub mod netns;
pub mod ng_client;
pub mod prometheus;
pub mod sip;
pub mod topology;
