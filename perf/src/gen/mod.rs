//! The RTP generator: frames out ([`tx`]), frames in ([`rx`]), the probe
//! in each payload ([`probe`]), ARP ([`arp`]) and the DPDK loop that runs
//! them ([`engine`]).

pub mod arp;
pub mod engine;
pub mod probe;
pub mod rx;
pub mod tx;
