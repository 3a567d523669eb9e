//! The RTP generator: frames out ([`tx`]), frames in ([`rx`]), the probe
//! in each payload ([`probe`]), ARP ([`arp`]), when a burst is built
//! ([`pace`]) and the DPDK loop that runs them ([`engine`]).

pub mod arp;
pub mod engine;
pub mod pace;
pub mod probe;
pub mod rx;
pub mod tx;
