//! The poll-mode worker: one per worker lcore. Burst in, prefetch,
//! classify/look up/rewrite, burst out; control commands applied between
//! bursts. The only code that polls RX queues and sends on TX queues
//! (the slow path's `service` and the node's ring ports move mbufs through
//! rings only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mediafwd_ffi::{eal, Burst, Mbuf, Ring, RxQueue, TxQueue, BURST_SIZE};

use crate::buf::PacketBuf;
use crate::classify::PortContext;
use crate::flow::{Command, Event, FlowTable, SequencedCommand};
use crate::gate::TransmitGate;
use crate::pipeline::{Pipeline, Verdict, MAX_BURST};
use crate::slowpath::police::Police;
use crate::stats::counters::add;
use crate::stats::rtp::RtpChange;
use crate::stats::{DropReason, FlowStatsArray, Stage, StageClock, WorkerCounters};

/// Control commands applied per loop iteration at most, so that a flood of
/// flow changes delays packets by a bounded amount.
const COMMANDS_PER_POLL: usize = 64;
/// tx_burst calls for packets a full TX queue did not take, before dropping.
const TX_RETRIES: usize = 8;
/// Empty polls in a row after which a worker with an idle sleep pauses:
/// a few microseconds of polling first, so a burst that is merely late
/// does not wait for a sleep.
pub const IDLE_POLLS_BEFORE_SLEEP: u32 = 256;
const _: () = assert!(BURST_SIZE <= MAX_BURST, "the pipeline takes a whole RX burst");

/// Everything one worker owns.
pub struct Worker {
    /// Worker index (0..workers).
    pub id: u16,
    /// RX queues this worker polls.
    pub rx: Vec<RxQueue>,
    /// This worker's TX queue on each port, by port id.
    pub tx: Vec<Option<TxQueue>>,
    /// Port facts, by port id.
    pub ports: Vec<PortContext>,
    /// The worker's flow-table replica.
    pub table: FlowTable,
    /// Commands from the control side.
    pub commands: Receiver<SequencedCommand>,
    /// Events to the control side.
    pub events: Sender<Event>,
    /// The worker's counters.
    pub counters: Arc<WorkerCounters>,
    /// The worker's flow counters.
    pub flow_stats: Arc<FlowStatsArray>,
    /// Where slow-path packets go (single producer: this worker).
    pub slow_path: Option<Ring>,
    /// What may go there: punted frames are policed per kind and per
    /// source before they are queued.
    pub police: Police,
    /// Frames the control side wants sent (ARP, ND, echo replies), each
    /// with its egress port in the mbuf's port field. The control side never
    /// touches a TX queue; one worker transmits for it.
    pub inject: Option<Ring>,
    /// How long to sleep once idle ([`IDLE_POLLS_BEFORE_SLEEP`] empty polls
    /// in a row); zero never sleeps.
    pub idle_sleep: Duration,
    /// Set by the control side to end the loop.
    pub stop: Arc<AtomicBool>,
    /// Whether the node may transmit (high availability's fence).
    pub gate: Arc<TransmitGate>,
}

/// Buffers of a worker's loop, allocated once before it starts.
struct Bursts {
    tx: Vec<Burst>,
    drops: Burst,
    slow: Burst,
}

impl Worker {
    /// Polls until told to stop, then flushes and returns 0 (the lcore's
    /// exit code).
    pub fn run(mut self) -> i32 {
        // The SRTP engine's per-thread state (an ipsec-mb manager), made here
        // rather than in the first SRTP burst.
        crate::srtp::engine::init_thread();
        let tsc_hz = eal::tsc_hz().max(1);
        // Microseconds from TSC ticks by a multiply and a shift, not a division per poll.
        let us_per_tick_q32 = ((1_000_000u128 << 32) / tsc_hz as u128) as u64;
        let stalled_after = StageClock::stalled_after(tsc_hz);
        let start = eal::rdtsc();
        let mut bursts = self.bursts();
        let mut last = start;
        let mut empty_polls = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let now = eal::rdtsc();
            let now_us = (((now - start) as u128 * us_per_tick_q32 as u128) >> 32) as u64;
            let mut clock = StageClock::start(now);
            let got = self.poll(&mut bursts, &mut clock, now_us);
            let after = eal::rdtsc();
            if got > 0 {
                // What follows the last burst's sorting is its transmission.
                clock.finish(Stage::Transmit, after, stalled_after);
                self.counters.add_stages(&clock);
                add(&self.counters.busy_polls, 1);
                add(&self.counters.busy_cycles, after - now);
                empty_polls = 0;
            } else {
                add(&self.counters.idle_polls, 1);
                empty_polls += 1;
            }
            add(&self.counters.total_cycles, after - last);
            last = after;
            if empty_polls >= IDLE_POLLS_BEFORE_SLEEP && !self.idle_sleep.is_zero() {
                // Only when nothing arrived for a while: never between packets.
                std::thread::sleep(self.idle_sleep);
                add(&self.counters.idle_sleeps, 1);
                empty_polls = 0;
            }
        }
        self.apply_commands(usize::MAX);
        0
    }

    fn bursts(&self) -> Bursts {
        Bursts { tx: self.tx.iter().map(|_| Burst::new()).collect(), drops: Burst::new(), slow: Burst::new() }
    }

    /// One iteration for callers that drive the worker themselves (tests,
    /// benchmarks): applies pending commands, polls every RX queue once and
    /// flushes. Returns the packets received.
    pub fn poll_once(&mut self, now_tsc: u64, now_us: u64) -> usize {
        let mut bursts = self.bursts();
        self.poll(&mut bursts, &mut StageClock::start(now_tsc), now_us)
    }

    /// One iteration; `clock` started at the poll's TSC and ends a stage
    /// at each TSC reading, once per burst: after its RX, its pipeline
    /// passes and its sorting (the caller's reading after the flush ends
    /// the transmission).
    #[inline]
    fn poll(&mut self, b: &mut Bursts, clock: &mut StageClock, now_us: u64) -> usize {
        let now_tsc = clock.mark();
        self.apply_commands(COMMANDS_PER_POLL);
        // SRTP streams whose packets now reach another worker (one atomic
        // load when there are none).
        self.table.hand_over_streams();
        let mut total = self.transmit_injected(b, now_tsc);
        for q in 0..self.rx.len() {
            let mut rx = Burst::new();
            let n = self.rx[q].rx_burst(&mut rx);
            if n == 0 {
                continue;
            }
            total += n;
            // Empty RX bursts before this one count as receiving too.
            clock.lap(Stage::Receive, eal::rdtsc());
            let rx_port = self.rx[q].port();
            self.process_burst(&mut rx, rx_port, b, clock, now_tsc, now_us);
            clock.lap(Stage::Sort, eal::rdtsc());
        }
        if total > 0 {
            self.flush(b);
        }
        total
    }

    #[inline]
    fn process_burst(
        &mut self,
        rx: &mut Burst,
        rx_port: u16,
        b: &mut Bursts,
        clock: &mut StageClock,
        now_tsc: u64,
        now_us: u64,
    ) {
        let counters = &*self.counters;
        let events = &self.events;
        let mut on_event = |e: Event| {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = events.try_send(e) {
                add(&counters.events_dropped, 1);
            }
        };
        let n = rx.len();
        let fenced = !self.gate.allows(now_tsc);
        let mut verdicts = [Verdict::Drop(DropReason::Runt); BURST_SIZE];
        let mut stripped = [None; BURST_SIZE];
        let mut windows = [(0usize, 0usize); BURST_SIZE];
        let mut rx_bytes = 0u64;
        {
            let mbufs = rx.as_mut_slice();
            // Every header of the burst starts loading before the first is read.
            for m in mbufs.iter() {
                m.prefetch_data();
            }
            let mut pkts: [PacketBuf<'_>; BURST_SIZE] = std::array::from_fn(|_| PacketBuf::empty());
            for (i, (m, pkt)) in mbufs.iter_mut().zip(pkts.iter_mut()).enumerate() {
                rx_bytes += m.data_len() as u64;
                stripped[i] = m.rx_vlan_stripped();
                if m.is_contiguous() {
                    let (buf, off, len) = m.buffer_mut();
                    *pkt = PacketBuf::new(buf, off, len);
                }
            }
            let mut pipeline = Pipeline {
                worker: self.id,
                table: &mut self.table,
                ports: &self.ports,
                flow_stats: &self.flow_stats,
                now_tsc,
                now_us,
            };
            let mut srtp_pass = false;
            pipeline.process_burst_marked(
                &mut pkts[..n],
                rx_port,
                &stripped[..n],
                &mut verdicts[..n],
                &mut on_event,
                || {
                    clock.lap(Stage::Pipeline, eal::rdtsc());
                    srtp_pass = true;
                },
            );
            clock.lap(if srtp_pass { Stage::Srtp } else { Stage::Pipeline }, eal::rdtsc());
            for (w, p) in windows.iter_mut().zip(&pkts[..n]) {
                *w = (p.offset(), p.len());
            }
        }
        for (i, mut m) in rx.drain().enumerate() {
            let verdict = if !m.is_contiguous() { Verdict::Drop(DropReason::MultiSegment) } else { verdicts[i] };
            let (off, len) = windows[i];
            let tci = stripped[i];
            match verdict {
                Verdict::Forward { .. } if fenced => {
                    counters.drop_packet(DropReason::Fenced);
                    push_or_free(&mut b.drops, m);
                }
                Verdict::Forward { port_id } => {
                    m.set_data_window(off, len).expect("rewrite stays inside the mbuf");
                    let Some(Some(txq)) = self.tx.get_mut(port_id as usize) else {
                        counters.drop_packet(DropReason::TxFull);
                        push_or_free(&mut b.drops, m);
                        continue;
                    };
                    let out = &mut b.tx[port_id as usize];
                    if out.is_full() {
                        send(txq, out, counters);
                    }
                    push_or_free(out, m);
                }
                Verdict::SlowPath(punt) => match self.police.admit(&punt, now_tsc) {
                    Ok(_) => {
                        // Not every PMD stamps the port (net_ring does not); the
                        // slow path needs it to know the interface.
                        m.set_port(rx_port);
                        if let Some(tci) = tci {
                            reinsert_vlan(&mut m, tci);
                        }
                        push_or_free(&mut b.slow, m);
                    }
                    Err(refused) => {
                        counters.drop_packet(DropReason::policed(refused));
                        push_or_free(&mut b.drops, m);
                    }
                },
                Verdict::Drop(r) => {
                    counters.drop_packet(r);
                    push_or_free(&mut b.drops, m);
                }
            }
        }
        add(&counters.rx_packets, n as u64);
        add(&counters.rx_bytes, rx_bytes);
        b.drops.free_all();
        if !b.slow.is_empty() {
            let handed = match &self.slow_path {
                Some(ring) => ring.enqueue_burst(&mut b.slow),
                None => 0,
            };
            add(&counters.slow_path, handed as u64);
            let left = b.slow.len();
            if left > 0 {
                let reason = if self.slow_path.is_some() { DropReason::SlowPathFull } else { DropReason::NoSlowPath };
                add(&counters.drops[reason as usize], left as u64);
                b.slow.free_all();
            }
        }
    }

    /// Queues the control side's frames on this worker's TX queues.
    fn transmit_injected(&mut self, b: &mut Bursts, now_tsc: u64) -> usize {
        let Some(ring) = &self.inject else { return 0 };
        let mut injected = Burst::new();
        let n = ring.dequeue_burst(&mut injected);
        if !self.gate.allows(now_tsc) {
            // A standby's ARP and ND would claim the media addresses too.
            add(&self.counters.drops[DropReason::Fenced as usize], n as u64);
            injected.free_all();
            return n;
        }
        for m in injected.drain() {
            let port = m.port() as usize;
            match (self.tx.get_mut(port), b.tx.get_mut(port)) {
                (Some(Some(txq)), Some(out)) => {
                    if out.is_full() {
                        send(txq, out, &self.counters);
                    }
                    push_or_free(out, m);
                }
                _ => self.counters.drop_packet(DropReason::TxFull),
            }
        }
        n
    }

    fn flush(&mut self, b: &mut Bursts) {
        // The gate again, at the moment of sending: a node frozen (SIGSTOP,
        // a stalled VM) between receiving a burst and sending it wakes with
        // its lease gone, and must not send what it held.
        let fenced = !self.gate.allows(eal::rdtsc());
        for (port, out) in b.tx.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            if fenced {
                add(&self.counters.drops[DropReason::Fenced as usize], out.len() as u64);
                out.free_all();
                continue;
            }
            if let Some(txq) = self.tx[port].as_mut() {
                send(txq, out, &self.counters);
            }
        }
    }

    /// Applies up to `max` pending commands and publishes the last sequence
    /// number applied.
    fn apply_commands(&mut self, max: usize) {
        let mut last = None;
        for cmd in self.commands.try_iter().take(max) {
            let applied = match cmd.command.upserted() {
                Some((_, flow)) if flow.id as usize >= self.flow_stats.capacity() => false,
                Some((key, flow)) => {
                    if self.table.get(key).map(|e| e.id()) != Some(flow.id) {
                        // A new flow (or a new flow in an old one's place) starts from zero.
                        self.flow_stats.reset(flow.id);
                    }
                    self.table.apply_prepared(cmd.command).is_ok()
                }
                None => {
                    let resumed = match &cmd.command {
                        Command::ResumeStream { key, .. } => Some((*key, None)),
                        Command::ResumeSrtcp { key, next_index } => Some((*key, Some(*next_index))),
                        _ => None,
                    };
                    // Index memory the table already has (not expected) would be freed here.
                    let applied = self.table.apply_prepared(cmd.command).is_ok_and(|spare| spare.is_none());
                    match resumed.and_then(|(key, srtcp)| Some((self.table.get(&key)?, srtcp))) {
                        Some((e, None)) => self.flow_stats.slot(e.id()).publish_rtp(&e.rtp, RtpChange::Restarted),
                        // Published at once, so that the control side checkpoints where
                        // this node goes on from before it protects anything.
                        Some((e, Some(next))) if e.srtp.is_some() => self.flow_stats.note_srtcp_next(e.id(), next),
                        _ => {}
                    }
                    applied
                }
            };
            if !applied {
                add(&self.counters.command_errors, 1);
            }
            last = Some(cmd.seq);
        }
        if let Some(seq) = last {
            self.counters.applied_seq.store(seq, Ordering::Release);
        }
    }
}

/// Puts a tag the NIC stripped back into the frame, for the slow path,
/// which reads VLANs from frames. Rare: only ARP/ND/ICMP on VLANs.
#[cold]
fn reinsert_vlan(m: &mut Mbuf, tci: u16) {
    let (buf, off, len) = m.buffer_mut();
    let tagged = len >= 14 && buf[off + 12..off + 14] == [0x81, 0x00];
    if tagged || off < 4 || len < 14 {
        return;
    }
    buf.copy_within(off..off + 12, off - 4);
    buf[off + 8..off + 10].copy_from_slice(&[0x81, 0x00]);
    buf[off + 10..off + 12].copy_from_slice(&tci.to_be_bytes());
    let _ = m.set_data_window(off - 4, len + 4);
}

#[inline(always)]
fn push_or_free(burst: &mut Burst, m: Mbuf) {
    // Bursts are flushed before they fill; a full one can only be the drop
    // bin of a burst larger than BURST_SIZE, which rx never returns.
    if let Err(m) = burst.push(m) {
        drop(m);
    }
}

/// Transmits `out`, retrying a bounded number of times; what the queue
/// still refuses is freed and counted.
#[inline]
fn send(txq: &mut TxQueue, out: &mut Burst, counters: &WorkerCounters) {
    let bytes = |b: &Burst| (0..b.len()).map(|i| b.get(i).data_len() as u64).sum::<u64>();
    let offered = bytes(out);
    let mut sent = 0;
    for _ in 0..TX_RETRIES {
        sent += txq.tx_burst(out);
        if out.is_empty() {
            break;
        }
    }
    add(&counters.tx_packets, sent as u64);
    add(&counters.tx_bytes, offered - bytes(out));
    if !out.is_empty() {
        add(&counters.drops[DropReason::TxFull as usize], out.len() as u64);
        out.free_all();
    }
}
