//! Traffic generation and benchmark harness for mediafwd.
//!
//! - `rtpgen` ([`gen`]): RTP/SRTP streams of calls set up on a relay
//!   ([`setup`]: mediafwd's gRPC API, rtpengine's ng protocol, or a file),
//!   sent from DPDK ports and received back, with loss, reordering,
//!   duplicates, latency and jitter ([`stats`]), at a fixed rate or in an
//!   RFC 2544 throughput search ([`search`]); JSON reports ([`report`]).
//! - `mfw-bench-report`: the benchmark's scenario table from rtpgen's reports.
//! - `mfw-blast` and `mfw-relay-bench`: the raw forwarding comparison with
//!   `dpdk-testpmd` on a memif link, which agree on one address plan
//!   ([`plan`]) so that every packet reaches a programmed flow; with
//!   `--flood`, mfw-blast sends ARP, ND, ICMP or UDP floods from spoofed
//!   sources instead ([`flood`], perf/flood.sh).
//! - `mfw-control-load`: session churn over gRPC (and ng), with latency.

pub mod flood;
pub mod gen;
pub mod ng;
pub mod plan;
pub mod port;
pub mod report;
pub mod search;
pub mod session;
pub mod setup;
pub mod stats;
pub mod usage;

use std::net::SocketAddr;

use anyhow::{bail, Context};
use mediafwd_dataplane::wire::ethernet::MacAddr;

/// Parses `02:00:00:00:00:01`.
pub fn parse_mac(s: &str) -> anyhow::Result<MacAddr> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next().with_context(|| format!("MAC address {s:?} has fewer than 6 octets"))?;
        *b = u8::from_str_radix(p, 16).with_context(|| format!("bad octet {p:?} in MAC address {s:?}"))?;
    }
    if parts.next().is_some() {
        bail!("MAC address {s:?} has more than 6 octets");
    }
    Ok(MacAddr(out))
}

/// Formats a MAC address as `02:00:00:00:00:01`.
pub fn fmt_mac(m: MacAddr) -> String {
    let o = m.0;
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3], o[4], o[5])
}

/// Checks that an address is inside the benchmarking range 198.18.0.0/15
/// (RFC 2544), the only addresses these tools write into packets.
pub fn is_benchmark_addr(a: SocketAddr) -> bool {
    match a {
        SocketAddr::V4(v4) => {
            let o = v4.ip().octets();
            o[0] == 198 && (o[1] & 0xfe) == 18
        }
        SocketAddr::V6(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m = parse_mac("02:00:00:00:00:0a").unwrap();
        assert_eq!(m.0, [2, 0, 0, 0, 0, 10]);
        assert_eq!(fmt_mac(m), "02:00:00:00:00:0a");
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
    }
}
