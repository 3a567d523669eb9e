//! The generator's poll loop on its DPDK ports: paced transmission of every
//! stream's packets round-robin (SRTP-protected in bursts where a stream
//! asks for it), reception and accounting of what comes back, and the ARP
//! the ports need. One lcore does all of it.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mediafwd_dataplane::srtp::{
    protect_rtp_burst, unprotect_rtp_burst, BurstPacket, Context, Policy, SrtpError, StreamState,
};
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_dataplane::wire::rtp;
use mediafwd_ffi::{eal, Burst, Mbuf, Mempool, Port, RxQueue, TxQueue, BURST_SIZE};

use super::arp;
use super::pace;
use super::probe::Probe;
use super::rx::{self, Received};
use super::tx::{TxSpec, TxStreams};
use crate::stats::{self, Arrival, Histogram, StreamResult, StreamRx, Summary};

/// Bursts read from a port per poll at most.
const RX_BURSTS: usize = 8;

/// One of the generator's ports.
pub struct Side {
    /// The port.
    pub port: Port,
    /// Its queue pair.
    pub rx: RxQueue,
    /// Its queue pair.
    pub tx: TxQueue,
    /// Its MAC.
    pub mac: MacAddr,
    /// Our address on this side: the source of our ARP requests.
    pub addr: Ipv4Addr,
    /// Addresses we answer ARP for (ours, and the endpoints we play).
    pub owned: HashSet<Ipv4Addr>,
}

/// How to build one stream.
pub struct StreamSetup {
    /// Port it leaves by.
    pub tx_port: u8,
    /// Its frames.
    pub spec: TxSpec,
    /// SRTP keys it is protected with.
    pub tx_keys: Option<Policy>,
    /// Port it comes back on.
    pub rx_port: u8,
    /// The address it comes back to (the receiving endpoint).
    pub rx_dst: SocketAddr,
    /// SRTP keys it comes back protected with.
    pub rx_keys: Option<Policy>,
}

/// What the progress callback sees each second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Seconds since the measurement started.
    pub elapsed: f64,
    /// Packets per second sent in the last interval.
    pub tx_pps: f64,
    /// Packets per second received in the last interval.
    pub rx_pps: f64,
    /// Packets sent so far.
    pub sent: u64,
    /// Distinct packets received so far.
    pub received: u64,
    /// Median latency in the last interval, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile latency in the last interval, microseconds.
    pub p99_us: Option<f64>,
    /// SRTP authentication failures so far.
    pub auth_failures: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    received: u64,
    auth_failures: u64,
    misrouted: u64,
    /// RTP not of our streams, or without our probe.
    stray: u64,
    /// Our packets of an earlier trial.
    stale: u64,
}

/// The stream indices of a TX burst's packets, position by position.
#[derive(Clone, Copy)]
struct Slots {
    idx: [u32; BURST_SIZE],
    /// Positions from here on still need SRTP.
    unprotected: usize,
}

/// The generator.
pub struct Engine {
    sides: Vec<Side>,
    pool: Mempool,
    tsc_hz: u64,
    tx: TxStreams,
    tx_ctx: Vec<Option<Box<Context>>>,
    tx_state: Vec<StreamState>,
    rx: Vec<StreamRx>,
    rx_ctx: Vec<Option<Box<Context>>>,
    rx_state: Vec<StreamState>,
    rx_dst: Vec<SocketAddr>,
    rx_port: Vec<u8>,
    /// Per stream, the sequence number of the current trial's first packet:
    /// the SRTP packets not opened are told from earlier trials' by it.
    rx_first_seq: Vec<u16>,
    /// Whether any stream sends SRTP.
    any_tx_srtp: bool,
    /// Compare where packets arrive with where they should.
    pub check_addresses: bool,
    /// Open (authenticate and decrypt) received SRTP packets whose sequence
    /// number is a multiple of this; the others are counted by their clear
    /// RTP header alone. 1 (the default) opens every packet.
    pub verify_every: u16,
    /// Sleep this long after a loop that sent and received nothing
    /// (zero: poll without pause), so that a generator sharing its CPU
    /// with the relay does not hold it all.
    pub idle_sleep: Duration,
    /// How long the oldest packet due may wait for a whole burst to fall
    /// due before it is built and sent with what is due (zero: every loop
    /// sends what is due). See [`pace`].
    pub burst_wait: Duration,
    ssrc_base: u32,
    trial: u32,
    counters: Counters,
    latency: Histogram,
    interval: Histogram,
    stop: Arc<AtomicBool>,
}

impl Engine {
    /// A generator on `sides`, with packet buffers from `pool`; streams are
    /// added once the relay's MACs are known.
    pub fn new(sides: Vec<Side>, pool: Mempool, ssrc_base: u32) -> Engine {
        Engine {
            sides,
            pool,
            tsc_hz: eal::tsc_hz(),
            tx: TxStreams::new(256),
            tx_ctx: Vec::new(),
            tx_state: Vec::new(),
            rx: Vec::new(),
            rx_ctx: Vec::new(),
            rx_state: Vec::new(),
            rx_dst: Vec::new(),
            rx_port: Vec::new(),
            rx_first_seq: Vec::new(),
            any_tx_srtp: false,
            check_addresses: true,
            verify_every: 1,
            idle_sleep: Duration::ZERO,
            burst_wait: Duration::ZERO,
            ssrc_base,
            trial: 0,
            counters: Counters::default(),
            latency: Histogram::default(),
            interval: Histogram::default(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that, once set (by a signal), ends every loop early.
    pub fn set_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = stop;
    }

    /// Whether the stop flag is set.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The ports, to add addresses they answer ARP for.
    pub fn sides_mut(&mut self) -> &mut [Side] {
        &mut self.sides
    }

    /// Each stream's result in the last run.
    pub fn stream_results(&self) -> Vec<StreamResult> {
        (0..self.streams())
            .map(|i| StreamResult {
                sent: self.tx.meta[i].sent,
                counts: self.rx[i].counts,
                jitter: self.rx[i].jitter(),
            })
            .collect()
    }

    /// The SSRC of stream `i`.
    pub fn ssrc(ssrc_base: u32, i: usize) -> u32 {
        ssrc_base.wrapping_add(i as u32)
    }

    /// The SSRC of stream 0; stream `i` has [`Engine::ssrc`]`(base, i)`.
    pub fn ssrc_base(&self) -> u32 {
        self.ssrc_base
    }

    /// The ports.
    pub fn sides(&self) -> &[Side] {
        &self.sides
    }

    /// Adds a stream (its SSRC must be [`Engine::ssrc`] of its index).
    pub fn add_stream(&mut self, s: StreamSetup) -> anyhow::Result<()> {
        let i = self.tx.len();
        anyhow::ensure!(s.spec.ssrc == Self::ssrc(self.ssrc_base, i), "stream {i}: SSRC out of plan");
        let ctx = |p: Option<Policy>| -> anyhow::Result<Option<Box<Context>>> {
            p.map(|p| Context::new(&p).map(Box::new).map_err(|e| anyhow::anyhow!("SRTP keys of stream {i}: {e}")))
                .transpose()
        };
        let tx_ctx = ctx(s.tx_keys)?;
        let mut spec = s.spec;
        spec.srtp_overhead = tx_ctx.as_ref().map_or(0, |c| c.srtp_overhead());
        self.tx.push(s.tx_port, &spec);
        self.any_tx_srtp |= tx_ctx.is_some();
        self.tx_ctx.push(tx_ctx);
        self.tx_state.push(StreamState::new());
        self.rx.push(StreamRx::default());
        self.rx_ctx.push(ctx(s.rx_keys)?);
        self.rx_state.push(StreamState::new());
        self.rx_dst.push(s.rx_dst);
        self.rx_port.push(s.rx_port);
        self.rx_first_seq.push(0);
        Ok(())
    }

    /// Forgets every stream (for calls set up again).
    pub fn clear_streams(&mut self) {
        self.tx = TxStreams::new(256);
        self.tx_ctx.clear();
        self.tx_state.clear();
        self.rx.clear();
        self.rx_ctx.clear();
        self.rx_state.clear();
        self.rx_dst.clear();
        self.rx_port.clear();
        self.rx_first_seq.clear();
        self.any_tx_srtp = false;
    }

    /// Streams.
    pub fn streams(&self) -> usize {
        self.tx.len()
    }

    /// TSC frequency.
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Answers ARP (and drops anything else) until `done` says so, sleeping
    /// a little between polls so that a relay starting on the same CPU runs.
    pub fn serve_until(&mut self, mut done: impl FnMut() -> bool) {
        while !done() && !self.stopped() {
            if self.poll_all(eal::rdtsc()) == 0 {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }

    /// Asks side `side` for `target`'s MAC (tagged `vlan`) until it answers
    /// or `timeout` passes.
    pub fn resolve(&mut self, side: usize, vlan: Option<u16>, target: Ipv4Addr, timeout: Duration) -> Option<MacAddr> {
        let deadline = Instant::now() + timeout;
        let mut next_ask = Instant::now();
        let mut back = Burst::new();
        while Instant::now() < deadline {
            if Instant::now() >= next_ask {
                let s = &self.sides[side];
                let q = arp::request(s.mac, s.addr, target, vlan);
                self.send_frame(side, &q);
                next_ask = Instant::now() + Duration::from_millis(200);
            }
            self.sides[side].rx.rx_burst(&mut back);
            let mut found = None;
            for m in back.drain() {
                if let Received::Arp { off, vlan: v } = rx::parse(m.data(), m.rx_vlan_stripped()) {
                    if let Some(a) = arp::read(m.data(), off) {
                        if a.sender_ip == target {
                            found = Some(a.sender_mac);
                        }
                        self.answer_arp(side, &a, v);
                    }
                }
            }
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        None
    }

    /// Sends one packet of every stream that has not yet come back, at most
    /// `rate` per second, until all have or `timeout` passes; returns how
    /// many came back. Warm-up packets are trial 0 and never counted.
    pub fn warm_up(&mut self, rate: f64, timeout: Duration) -> usize {
        self.trial = 0;
        for r in &mut self.rx {
            r.reset_counts();
        }
        let deadline = Instant::now() + timeout;
        let mut waiting: Vec<u32> = (0..self.streams() as u32).collect();
        while !waiting.is_empty() && Instant::now() < deadline && !self.stopped() {
            let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
            let mut next = Instant::now();
            for &i in &waiting {
                // Poll at least once per packet: behind schedule too, or what
                // comes back would pile up unread.
                self.poll_all(eal::rdtsc());
                while Instant::now() < next {
                    self.poll_all(eal::rdtsc());
                }
                next += gap;
                self.send_one(i as usize, 0);
            }
            let settle = Instant::now() + Duration::from_millis(300);
            while Instant::now() < settle {
                self.poll_all(eal::rdtsc());
            }
            // Warm-up packets count as received in the stream state (trial
            // 0 is the current trial here), which is how we see who is back.
            waiting.retain(|&i| self.rx[i as usize].counts.received == 0);
        }
        let back = self.streams() - waiting.len();
        for r in &mut self.rx {
            r.reset_counts();
        }
        self.tx.reset_counts();
        back
    }

    /// Sends every stream at `rate` packets per second in total for
    /// `seconds`, then receives for `drain` more; returns what came back.
    /// `trial` (not 0) marks the packets; `progress` is called each second.
    pub fn run(
        &mut self,
        trial: u32,
        rate: f64,
        seconds: f64,
        drain: Duration,
        mut progress: Option<&mut dyn FnMut(&Progress)>,
    ) -> Summary {
        assert!(trial > 0, "trial 0 is the warm-up");
        self.trial = trial;
        self.tx.reset_counts();
        for r in &mut self.rx {
            r.reset_counts();
        }
        for (first, m) in self.rx_first_seq.iter_mut().zip(&self.tx.meta) {
            *first = m.next_seq();
        }
        self.counters = Counters::default();
        self.latency.clear();
        self.interval.clear();
        let n = self.streams();
        let nsides = self.sides.len();
        let hz = self.tsc_hz;
        let mut out: Vec<Burst> = (0..nsides).map(|_| Burst::new()).collect();
        let mut slots = vec![Slots { idx: [0; BURST_SIZE], unprotected: 0 }; nsides];
        let start = eal::rdtsc();
        let end = start + (seconds * hz as f64) as u64;
        let drain_cycles = drain.as_nanos() as u64 * hz / 1_000_000_000;
        let (mut built, mut accepted) = (0u64, 0u64);
        let (mut blocked_cycles, mut busy_cycles, mut builds) = (0u64, 0u64, 0u64);
        let on_cpu_start = thread_on_cpu_ns();
        let mut on_cpu_end = None;
        let mut next_stream = 0usize;
        let mut now = start;
        let mut sending = n > 0;
        let mut stop_at = if sending { u64::MAX } else { now };
        let mut tick = start + hz;
        let (mut tick_sent, mut tick_received) = (0u64, 0u64);
        let mut tick_start = start;
        let rate_per_cycle = rate / hz as f64;
        // A whole burst: one of every port that sends.
        let mut senders = vec![false; nsides];
        for m in &self.tx.meta {
            senders[usize::from(m.port)] = true;
        }
        let full = (BURST_SIZE * senders.iter().filter(|&&s| s).count().max(1)) as u64;
        let max_wait = (self.burst_wait.as_nanos() as u64).saturating_mul(hz) / 1_000_000_000;
        let mut open = vec![true; nsides];
        loop {
            let mut blocked = false;
            let mut idle = true;
            if sending {
                let due = ((now - start) as f64 * rate_per_cycle) as u64;
                let late = now.saturating_sub(pace::due_at(start, built + 1, rate_per_cycle));
                let mut want = pace::to_build(due.saturating_sub(built), late, full, max_wait);
                let before = built;
                // A burst the port took part of goes out whole before more
                // is built for that port: seal bursts stay whole.
                for (o, b) in open.iter_mut().zip(&out) {
                    *o = b.is_empty();
                }
                while want > 0 {
                    let i = next_stream;
                    let p = usize::from(self.tx.meta[i].port);
                    if !open[p] || out[p].is_full() {
                        break;
                    }
                    let Some(m) = self.pool.alloc() else { break };
                    let m = self.fill(i, m, trial, now);
                    slots[p].idx[out[p].len()] = i as u32;
                    let _ = out[p].push(m);
                    built += 1;
                    want -= 1;
                    next_stream = if i + 1 == n { 0 } else { i + 1 };
                }
                builds += u64::from(built > before);
                for p in 0..nsides {
                    self.protect_pending(&mut out[p], &mut slots[p]);
                    let before = out[p].len();
                    if before == 0 {
                        continue;
                    }
                    let sent = self.sides[p].tx.tx_burst(&mut out[p]);
                    accepted += sent as u64;
                    idle = false;
                    let s = &mut slots[p];
                    s.idx.copy_within(sent..before, 0);
                    s.unprotected = out[p].len();
                    // Nothing more is built for a port until its burst is
                    // gone: a refused remnant is as blocked as a whole burst.
                    blocked |= sent == 0;
                }
            }
            let got = self.poll_all(now);
            if got == 0 && idle && !self.idle_sleep.is_zero() {
                std::thread::sleep(self.idle_sleep);
            }
            let then = now;
            now = eal::rdtsc();
            if blocked {
                blocked_cycles += now - then;
            } else if sending && (got > 0 || !idle) {
                busy_cycles += now - then;
            }
            if now >= tick {
                if let Some(cb) = progress.as_deref_mut() {
                    let secs = (now - tick_start) as f64 / hz as f64;
                    let us = |q: f64| self.interval.quantile(q).map(|c| c as f64 * 1e6 / hz as f64);
                    cb(&Progress {
                        elapsed: (now - start) as f64 / hz as f64,
                        tx_pps: (accepted - tick_sent) as f64 / secs,
                        rx_pps: (self.counters.received - tick_received) as f64 / secs,
                        sent: accepted,
                        received: self.counters.received,
                        p50_us: us(0.5),
                        p99_us: us(0.99),
                        auth_failures: self.counters.auth_failures,
                    });
                }
                self.interval.clear();
                (tick_sent, tick_received, tick_start) = (accepted, self.counters.received, now);
                tick += hz;
            }
            if sending && (now >= end || self.stop.load(Ordering::Relaxed)) {
                sending = false;
                on_cpu_end = thread_on_cpu_ns();
                stop_at = now + drain_cycles;
                // What the ports never took was never offered.
                for p in 0..nsides {
                    for k in 0..out[p].len() {
                        self.tx.meta[slots[p].idx[k] as usize].sent -= 1;
                    }
                    out[p].free_all();
                }
            }
            if !sending && now >= stop_at {
                break;
            }
        }
        let end = end.min(stop_at.saturating_sub(drain_cycles)).max(start);
        let secs = (end - start) as f64 / hz as f64;
        let mut s = stats::summarize(self.stream_results(), &self.latency, hz);
        s.seconds = secs;
        s.requested_pps = rate;
        s.offered_pps = if secs > 0.0 { accepted as f64 / secs } else { 0.0 };
        s.received_pps = if secs > 0.0 { s.received as f64 / secs } else { 0.0 };
        s.auth_failures = self.counters.auth_failures;
        s.misrouted = self.counters.misrouted;
        let share = |cycles: u64| if end > start { 100.0 * cycles as f64 / (end - start) as f64 } else { 0.0 };
        s.tx_blocked_pct = share(blocked_cycles);
        s.gen_busy_pct = share(busy_cycles);
        s.tx_burst = if builds > 0 { built as f64 / builds as f64 } else { 0.0 };
        s.gen_on_cpu_pct = on_cpu_start
            .zip(on_cpu_end)
            .filter(|_| secs > 0.0)
            .map(|(a, b)| 100.0 * b.saturating_sub(a) as f64 / (secs * 1e9));
        s
    }

    /// Packets that were not ours or of an earlier trial, in the last run.
    pub fn strays(&self) -> (u64, u64) {
        (self.counters.stray, self.counters.stale)
    }

    /// Writes stream `i`'s next packet into `m`.
    #[inline]
    fn fill(&mut self, i: usize, mut m: Mbuf, trial: u32, tsc: u64) -> Mbuf {
        let (buf, off, _) = m.buffer_mut();
        let len = self.tx.write_next(i, &mut buf[off..], Probe { trial, sent_tsc: tsc });
        m.set_data_window(off, len).expect("a frame fits an mbuf");
        m
    }

    /// Sends one packet of stream `i` now.
    fn send_one(&mut self, i: usize, trial: u32) {
        let Some(m) = self.pool.alloc() else { return };
        let m = self.fill(i, m, trial, eal::rdtsc());
        let p = usize::from(self.tx.meta[i].port);
        let mut b = Burst::new();
        let _ = b.push(m);
        let mut slots = Slots { idx: [0; BURST_SIZE], unprotected: 0 };
        slots.idx[0] = i as u32;
        self.protect_pending(&mut b, &mut slots);
        for _ in 0..100 {
            if self.sides[p].tx.tx_burst(&mut b) > 0 {
                break;
            }
        }
        // Not taken after 100 tries: freed by the burst's drop, not counted.
        if !b.is_empty() {
            self.tx.meta[i].sent -= 1;
        }
    }

    /// Protects the packets of `out` from `slots.unprotected` on whose
    /// streams send SRTP, in one burst, and checksums them.
    fn protect_pending(&mut self, out: &mut Burst, slots: &mut Slots) {
        let from = slots.unprotected;
        let to = out.len();
        slots.unprotected = to;
        if from == to || !self.any_tx_srtp {
            return;
        }
        let Engine { tx, tx_ctx, tx_state, .. } = self;
        let mut packets: Vec<BurstPacket<'_>> = Vec::with_capacity(BURST_SIZE);
        let mut which = [0usize; BURST_SIZE];
        let mut offs = [0usize; BURST_SIZE];
        for (k, m) in out.as_mut_slice()[from..to].iter_mut().enumerate() {
            let i = slots.idx[from + k] as usize;
            let Some(ctx) = tx_ctx[i].as_deref() else { continue };
            let meta = tx.meta[i];
            let (buf, off, _) = m.buffer_mut();
            which[packets.len()] = i;
            offs[packets.len()] = off;
            packets.push(BurstPacket { ctx, stream: i, buf: &mut buf[off + meta.rtp_off()..], len: meta.rtp_len() });
        }
        if packets.is_empty() {
            return;
        }
        let mut results: [Result<usize, SrtpError>; BURST_SIZE] = core::array::from_fn(|_| Ok(0));
        protect_rtp_burst(&mut packets, tx_state.as_mut_slice(), &mut results);
        drop(packets);
        let mut j = 0;
        for (k, m) in out.as_mut_slice()[from..to].iter_mut().enumerate() {
            let i = slots.idx[from + k] as usize;
            if tx_ctx[i].is_none() {
                continue;
            }
            debug_assert_eq!(which[j], i);
            let off = offs[j];
            let ok = matches!(results[j], Ok(len) if len + tx.meta[i].rtp_off() == tx.meta[i].wire_len());
            j += 1;
            if !ok {
                // A protect failure (key lifetime) sends the packet as is;
                // the relay will count it.
                continue;
            }
            let (buf, _, _) = m.buffer_mut();
            tx.finish_protected(i, &mut buf[off..]);
            m.set_data_window(off, tx.meta[i].wire_len()).expect("a frame fits an mbuf");
        }
    }

    /// Polls every port until it is empty (at most [`RX_BURSTS`] bursts
    /// each): after a stall the generator catches up with its schedule, and
    /// what it sends then must not pile up unread on the way back.
    #[inline]
    fn poll_all(&mut self, _now: u64) -> usize {
        let mut total = 0;
        for p in 0..self.sides.len() {
            for _ in 0..RX_BURSTS {
                let mut back = Burst::new();
                let n = self.sides[p].rx.rx_burst(&mut back);
                if n == 0 {
                    break;
                }
                total += n;
                let now = eal::rdtsc();
                self.receive(p, &mut back, now);
                back.free_all();
                if n < BURST_SIZE {
                    break;
                }
            }
        }
        total
    }

    /// Accounts for a burst received on side `p` at `now`.
    fn receive(&mut self, p: usize, back: &mut Burst, now: u64) {
        let n = self.streams() as u32;
        let mut srtp: [(usize, usize, usize, usize, u16); BURST_SIZE] = [(0, 0, 0, 0, 0); BURST_SIZE];
        let mut nsrtp = 0;
        for k in 0..back.len() {
            let m = back.get(k);
            let frame = m.data();
            match rx::parse(frame, m.rx_vlan_stripped()) {
                Received::Rtp(r) => {
                    let i = r.ssrc.wrapping_sub(self.ssrc_base);
                    if i >= n {
                        self.counters.stray += 1;
                        continue;
                    }
                    let i = i as usize;
                    if self.check_addresses && (r.dst != self.rx_dst[i] || usize::from(self.rx_port[i]) != p) {
                        self.counters.misrouted += 1;
                        continue;
                    }
                    if self.rx_ctx[i].is_some() {
                        if r.seq % self.verify_every != 0 {
                            self.account_unopened(i, r.seq);
                            continue;
                        }
                        srtp[nsrtp] = (k, i, r.rtp_off, r.rtp_len, r.seq);
                        nsrtp += 1;
                        continue;
                    }
                    let payload = &frame[r.rtp_off + rtp::HEADER_LEN..r.rtp_off + r.rtp_len];
                    let probe = Probe::read(payload);
                    self.account(i, r.seq, probe, now);
                }
                Received::Arp { off, vlan } => {
                    if let Some(a) = arp::read(frame, off) {
                        self.answer_arp(p, &a, vlan);
                    }
                }
                Received::Other => {}
            }
        }
        if nsrtp == 0 {
            return;
        }
        let mut results: [Result<usize, SrtpError>; BURST_SIZE] = core::array::from_fn(|_| Ok(0));
        {
            let Engine { rx_ctx, rx_state, .. } = self;
            let mut packets: Vec<BurstPacket<'_>> = Vec::with_capacity(nsrtp);
            let mut next = 0;
            for (k, m) in back.as_mut_slice().iter_mut().enumerate() {
                if next == nsrtp || srtp[next].0 != k {
                    continue;
                }
                let (_, i, off, len, _) = srtp[next];
                next += 1;
                let data = m.data_mut();
                let ctx = rx_ctx[i].as_deref().expect("SRTP stream");
                packets.push(BurstPacket { ctx, stream: i, buf: &mut data[off..], len });
            }
            unprotect_rtp_burst(&mut packets, rx_state.as_mut_slice(), &mut results);
        }
        for (j, &(k, i, off, _, seq)) in srtp[..nsrtp].iter().enumerate() {
            match results[j] {
                Ok(len) if len >= rtp::HEADER_LEN => {
                    let data = back.get(k).data();
                    let probe = Probe::read(&data[off + rtp::HEADER_LEN..off + len]);
                    self.account(i, seq, probe, now);
                }
                _ => self.counters.auth_failures += 1,
            }
        }
    }

    #[inline]
    fn account(&mut self, i: usize, seq: u16, probe: Option<Probe>, now: u64) {
        let Some(probe) = probe else {
            self.counters.stray += 1;
            return;
        };
        if probe.trial != self.trial {
            self.counters.stale += 1;
            return;
        }
        if self.rx[i].record(seq, probe.sent_tsc, now) != Arrival::Duplicate {
            self.counters.received += 1;
            let latency = now.saturating_sub(probe.sent_tsc);
            self.latency.record(latency);
            self.interval.record(latency);
        }
    }

    /// Accounts for an SRTP packet not opened: this trial's if its sequence
    /// number is not before the trial's first (the relay keeps them), with
    /// no latency or jitter (its send time is encrypted).
    #[inline]
    fn account_unopened(&mut self, i: usize, seq: u16) {
        if (seq.wrapping_sub(self.rx_first_seq[i]) as i16) < 0 {
            self.counters.stale += 1;
            return;
        }
        if self.rx[i].record_unopened(seq) != Arrival::Duplicate {
            self.counters.received += 1;
        }
    }

    fn answer_arp(&mut self, p: usize, a: &mediafwd_dataplane::wire::arp::Repr, vlan: Option<u16>) {
        let side = &self.sides[p];
        if let Some(reply) = arp::answer(a, vlan, side.mac, |ip| side.owned.contains(&ip)) {
            self.send_frame(p, &reply);
        }
    }

    /// Sends a control frame (ARP) on side `p`, a few tries at most.
    fn send_frame(&mut self, p: usize, frame: &[u8]) {
        let Some(mut m) = self.pool.alloc() else { return };
        if m.extend_from_slice(frame).is_err() {
            return;
        }
        let mut b = Burst::new();
        let _ = b.push(m);
        for _ in 0..100 {
            if self.sides[p].tx.tx_burst(&mut b) > 0 {
                return;
            }
        }
    }

    /// Stops the ports (the EAL's cleanup closes them).
    pub fn close(self) {
        for s in &self.sides {
            s.port.stop().ok();
        }
    }
}

/// Nanoseconds this thread has been on a CPU (schedstat), if the kernel
/// says.
fn thread_on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
