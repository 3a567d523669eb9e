//! The dataplane memory of one worker per two-leg session: builds a worker's
//! flow table and statistics slots for N plain rtcp-mux sessions (two flows
//! each) as a worker holds them, and prints the resident memory they took,
//! measured (`VmRSS`) and by the types' sizes.
//!
//!   mfw-flow-memory [SESSIONS]    (default 1,000,000)
//!
//! The local ports are allocated as the control side does, an even port per
//! leg: 32,256 sessions per relay address and leg (ports 1024 to 65534).

use core::net::{Ipv4Addr, SocketAddr};

use mediafwd_dataplane::flow::{Command, Egress, Flow, FlowEntry, FlowKey, FlowTable, Ingress, LatchMode, Media};
use mediafwd_dataplane::stats::{FlowCounters, FlowDrops, FlowStatsArray};
use mediafwd_dataplane::wire::ethernet::MacAddr;

/// Port pairs of one relay address.
const PER_ADDR: u32 = 32_256;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

fn local(leg: u8, s: u32) -> SocketAddr {
    let n = s / PER_ADDR;
    SocketAddr::from((Ipv4Addr::new(198, 18 + leg, (n >> 8) as u8, n as u8), 1024 + 2 * (s % PER_ADDR) as u16))
}

fn remote(leg: u8, s: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(198, 18 + leg, 255, 1 + (s % 250) as u8), 10_000 + 2 * (s / 250 % 25_000) as u16))
}

fn flow(id: u32, remote: SocketAddr, src: SocketAddr, dst: SocketAddr, reverse: u32) -> Flow {
    let egress =
        Egress { port_id: 0, vlan: None, src_mac: MacAddr([2, 0, 0, 0, 0, 1]), next_hop: 0, src, dst: Some(dst) };
    Flow {
        id,
        clock_rate: 8000,
        media: Media::Rtp { rtcp_mux: true },
        ingress: Ingress { vlan: None, remote: Some(remote), latch: LatchMode::Off, strict_source: false },
        egress,
        // The peer multiplexes too: its RTCP goes to its RTP port.
        rtcp_egress: Some(egress),
        reverse: Some(reverse),
    }
}

fn main() {
    let sessions: u32 =
        std::env::args().nth(1).map_or(1_000_000, |a| a.replace(['_', ','], "").parse().expect("SESSIONS"));
    let flows = 2 * sessions as usize;
    let before = rss_bytes();
    let mut table = FlowTable::with_capacity(flows, 1);
    let stats = FlowStatsArray::new(flows);
    let tables = rss_bytes();
    for s in 0..sessions {
        let (a, b) = (local(0, s), local(1, s));
        let (caller, callee) = (remote(0, s), remote(1, s));
        for (key, f) in [
            (FlowKey::new(0, a.ip(), a.port()), flow(2 * s, caller, b, callee, 2 * s + 1)),
            (FlowKey::new(0, b.ip(), b.port()), flow(2 * s + 1, callee, a, caller, 2 * s)),
        ] {
            table.apply(&Command::Upsert { key, flow: f }).expect("a flow");
        }
    }
    let after = rss_bytes();
    let n = sessions as f64;
    let slot = core::mem::size_of::<FlowCounters>() + core::mem::size_of::<FlowDrops>() + 4;
    println!("sessions={sessions} flows={flows} (rtcp-mux, two legs), one worker");
    println!(
        "sizes: entry {} B, statistics {} B (slot {} + drops {} + SRTCP index 4) per flow",
        core::mem::size_of::<FlowEntry>(),
        slot,
        core::mem::size_of::<FlowCounters>(),
        core::mem::size_of::<FlowDrops>()
    );
    println!(
        "resident: tables {:.1} MB, index {:.1} MB, total {:.1} MB",
        (tables - before) as f64 / 1e6,
        (after - tables) as f64 / 1e6,
        (after - before) as f64 / 1e6
    );
    println!(
        "per session: {:.0} B measured ({:.0} B tables + {:.1} B index); by sizes {} B + index",
        (after - before) as f64 / n,
        (tables - before) as f64 / n,
        (after - tables) as f64 / n,
        2 * (core::mem::size_of::<FlowEntry>() + slot)
    );
    drop((table, stats));
}
