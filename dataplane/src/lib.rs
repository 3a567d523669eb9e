//! mediafwd's packet engine.
pub mod wire;
