//! Flows: what the workers do with the packets that reach one of our
//! (port, address, UDP port) triples.
//!
//! A relay session's leg A receives on its local address and sends out of
//! leg B's local address to leg B's remote; each direction is one [`Flow`],
//! found by the [`FlowKey`] of the address it arrives on.

mod action;
mod command;
pub mod handoff;
mod hashed;
mod index;
mod key;
mod packed;
pub mod srtp;
mod table;

pub use action::{Egress, Flow, FlowId, Ingress, LatchMode, Media};
pub use command::{Command, Event, SequencedCommand};
pub use handoff::{HandedStreams, StreamBoard};
pub use hashed::HashedIndex;
pub use index::{FlowIndex, IndexMemory, IndexPlan, NoMemory, MAX_ADDRESSES};
pub use key::FlowKey;
pub use srtp::{SrtpKeys, SrtpTransform, SSRCS_PER_FLOW};
pub use table::{FlowEntry, FlowTable, TableError};
