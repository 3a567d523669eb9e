//! The dataplane as the control side sees it: workers launched on their
//! lcores, one command queue and one set of counters per worker, and the
//! event stream back.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use mediafwd_ffi::{eal, Eal, Ring, RxQueue, TxQueue};

use crate::classify::PortContext;
use crate::flow::{Command, Event, FlowId, FlowTable, IndexPlan, SequencedCommand, StreamBoard, MAX_ADDRESSES};
use crate::gate::TransmitGate;
use crate::memory::{Place, PlaceError, TableMemory};
use crate::slowpath::police::{Police, PoliceConfig};
use crate::stats::{FlowStats, FlowStatsArray, WorkerCounters, WorkerStats};
use crate::worker::Worker;

/// Sizes of the dataplane's tables and queues.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Flows per worker table, and flow-id slots.
    pub max_flows: usize,
    /// Next-hop entries.
    pub max_next_hops: usize,
    /// Pending commands per worker before the control side waits.
    pub command_queue: usize,
    /// Pending events before workers drop (and count) them.
    pub event_queue: usize,
    /// Each worker's budgets for frames to the slow path.
    pub police: PoliceConfig,
    /// Microseconds a worker sleeps after [`IDLE_POLLS_BEFORE_SLEEP`] empty
    /// polls in a row; 0 polls without pause (the lowest latency, a whole
    /// core per worker).
    pub idle_sleep_us: u32,
    /// Start with the transmit gate closed (a node that transmits only while
    /// it holds its group's lease): nothing is sent until it is opened.
    pub start_fenced: bool,
    /// Where each worker's flow entries, statistics slots and direct index
    /// arrays live. [`TableMemory::Hugepages`] asks DPDK for them on the
    /// worker's socket: hugepages when the EAL has them, its ordinary
    /// memory under `--no-huge` (`-m` must then hold them).
    pub table_memory: TableMemory,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            max_flows: 1 << 17,
            max_next_hops: 1024,
            command_queue: 1 << 16,
            event_queue: 1 << 14,
            police: PoliceConfig::default(),
            idle_sleep_us: 0,
            start_fenced: false,
            table_memory: TableMemory::Hugepages,
        }
    }
}

/// The queues one worker gets.
pub struct WorkerQueues {
    /// The lcore to run on.
    pub lcore: u32,
    /// RX queues to poll.
    pub rx: Vec<RxQueue>,
    /// One TX queue per port, by port id.
    pub tx: Vec<Option<TxQueue>>,
    /// Where to hand slow-path packets (a single-producer ring).
    pub slow_path: Option<Ring>,
    /// Frames from the control side for this worker to transmit.
    pub inject: Option<Ring>,
}

struct WorkerHandle {
    lcore: u32,
    commands: Sender<SequencedCommand>,
    counters: Arc<WorkerCounters>,
    flow_stats: Arc<FlowStatsArray>,
    /// Where its tables are.
    place: Place,
}

/// Running workers and the means to steer them.
pub struct Dataplane {
    eal: &'static Eal,
    workers: Vec<WorkerHandle>,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    gate: Arc<TransmitGate>,
    seq: u64,
    stopped: bool,
    /// The workers' flow indexes as the commands sent shape them.
    index_plan: IndexPlan,
}

/// The dataplane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No worker was given.
    #[error("no worker lcore: give the EAL at least one lcore besides the main one")]
    NoWorkers,
    /// Launching on an lcore failed.
    #[error("cannot launch a worker on lcore {lcore}: {source}")]
    Launch {
        /// The lcore.
        lcore: u32,
        /// DPDK's error.
        source: mediafwd_ffi::DpdkError,
    },
    /// A worker's tables did not fit in DPDK memory.
    #[error(
        "worker {worker}'s flow tables ({max_flows} flows): {source}; reserve more hugepages \
         (docs/hugepage-setup.md), lower dataplane.max_flows, or set dataplane.table_memory = \"heap\""
    )]
    TableMemory {
        /// The worker.
        worker: u16,
        /// Its table size.
        max_flows: usize,
        /// What DPDK said.
        source: PlaceError,
    },
}

impl Dataplane {
    /// Launches one worker per entry of `queues` on its lcore.
    pub fn start(
        eal: &'static Eal,
        config: &DataplaneConfig,
        ports: Vec<PortContext>,
        queues: Vec<WorkerQueues>,
    ) -> Result<Self, StartError> {
        if queues.is_empty() {
            return Err(StartError::NoWorkers);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ev_tx, ev_rx) = bounded(config.event_queue);
        let mut workers = Vec::new();
        // Which worker holds each SRTP stream, so that a stream RSS moves takes its state along.
        let streams = StreamBoard::new(queues.len());
        let gate = Arc::new(if config.start_fenced { TransmitGate::closed() } else { TransmitGate::open() });
        let mut dp = Dataplane {
            eal,
            workers: Vec::new(),
            events: ev_rx,
            stop: stop.clone(),
            gate: gate.clone(),
            seq: 0,
            stopped: false,
            index_plan: IndexPlan::new(config.max_flows, MAX_ADDRESSES),
        };
        for (id, q) in queues.into_iter().enumerate() {
            let place = match config.table_memory {
                TableMemory::Heap => Place::Heap,
                TableMemory::Hugepages => Place::Dpdk { socket: eal.lcore_socket(q.lcore) as i32 },
            };
            let built = Self::worker(id as u16, config, place, &ports, q, ev_tx.clone(), stop.clone(), gate.clone());
            let (mut worker, handle) = match built {
                Ok(w) => w,
                Err(source) => {
                    dp.workers = workers;
                    dp.shutdown();
                    return Err(StartError::TableMemory { worker: id as u16, max_flows: config.max_flows, source });
                }
            };
            worker.table.share_srtp_streams(streams.clone(), id as u16);
            let lcore = handle.lcore;
            if let Err(source) = eal.launch(lcore, move || worker.run()) {
                dp.workers = workers;
                dp.shutdown();
                return Err(StartError::Launch { lcore, source });
            }
            workers.push(handle);
        }
        dp.workers = workers;
        Ok(dp)
    }

    #[allow(clippy::too_many_arguments)]
    fn worker(
        id: u16,
        config: &DataplaneConfig,
        place: Place,
        ports: &[PortContext],
        q: WorkerQueues,
        events: Sender<Event>,
        stop: Arc<AtomicBool>,
        gate: Arc<TransmitGate>,
    ) -> Result<(Worker, WorkerHandle), PlaceError> {
        let table = FlowTable::with_capacity_in(place, config.max_flows, config.max_next_hops)?;
        let flow_stats = Arc::new(FlowStatsArray::new_in(place, config.max_flows)?);
        let (cmd_tx, cmd_rx) = bounded(config.command_queue);
        let counters = Arc::new(WorkerCounters::default());
        let worker = Worker {
            id,
            rx: q.rx,
            tx: q.tx,
            ports: ports.to_vec(),
            table,
            commands: cmd_rx,
            events,
            counters: counters.clone(),
            flow_stats: flow_stats.clone(),
            slow_path: q.slow_path,
            // Seeded at random, so that sources cannot be chosen to share a slot.
            police: Police::new(&config.police, eal::tsc_hz(), eal::rdtsc(), RandomState::new().hash_one(id)),
            inject: q.inject,
            idle_sleep: Duration::from_micros(config.idle_sleep_us.into()),
            stop,
            gate,
        };
        let handle = WorkerHandle { lcore: q.lcore, commands: cmd_tx, counters, flow_stats, place };
        Ok((worker, handle))
    }

    /// The workers' transmit gate, open until told otherwise.
    pub fn gate(&self) -> &Arc<TransmitGate> {
        &self.gate
    }

    /// Sends `cmd` to every worker; returns its sequence number for
    /// [`Dataplane::wait_applied`]. Waits while a worker's queue is full.
    /// A flow of a new local address is preceded by the index memory for
    /// it, made here, so that the workers do not allocate.
    pub fn send(&mut self, cmd: Command) -> u64 {
        if let Some((key, _)) = cmd.upserted() {
            if let Some(mem) = self.index_plan.memory_for(key) {
                self.send_index_memory(mem);
            }
        }
        self.send_each(cmd)
    }

    /// Sends each worker its copy of `mem`, made where its tables are. When
    /// DPDK memory runs short, that worker's copy is on the heap (logged):
    /// its lookups for the address then miss the TLB, none fails.
    fn send_index_memory(&mut self, mem: crate::flow::IndexMemory) {
        self.seq += 1;
        for w in &self.workers {
            let copy = match w.place {
                Place::Heap => mem.clone(),
                place => mem.remade_in(place).unwrap_or_else(|e| {
                    tracing::warn!(lcore = w.lcore, error = %e, "index memory for a new address on the heap");
                    mem.clone()
                }),
            };
            let _ = w.commands.send(SequencedCommand { seq: self.seq, command: Command::IndexMemory(copy) });
        }
    }

    /// Where the workers' tables are: DPDK memory or the heap.
    pub fn table_memory(&self) -> TableMemory {
        match self.workers.first().map(|w| w.place) {
            Some(Place::Dpdk { .. }) => TableMemory::Hugepages,
            _ => TableMemory::Heap,
        }
    }

    /// Sends `cmd` to every worker, each its own copy.
    fn send_each(&mut self, cmd: Command) -> u64 {
        self.seq += 1;
        let c = SequencedCommand { seq: self.seq, command: cmd };
        for w in &self.workers {
            // A worker only disconnects when stopped, and then nothing is pending.
            let _ = w.commands.send(c.clone());
        }
        self.seq
    }

    /// The sequence number of the last command every worker has applied.
    pub fn applied_seq(&self) -> u64 {
        self.workers.iter().map(|w| w.counters.applied_seq.load(Ordering::Acquire)).min().unwrap_or(self.seq)
    }

    /// The sequence number of the last command sent.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }
    /// Waits until every worker applied command `seq`; false on timeout.
    pub fn wait_applied(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.workers.iter().all(|w| w.counters.applied_seq.load(Ordering::Acquire) >= seq) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// A flow's counters summed over workers.
    pub fn flow_stats(&self, id: FlowId) -> FlowStats {
        let mut total = FlowStats::default();
        for w in &self.workers {
            total.merge(&w.flow_stats.snapshot(id));
        }
        total
    }

    /// Each worker's counters.
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.workers.iter().map(|w| w.counters.snapshot()).collect()
    }

    /// The lcores the workers run on.
    pub fn lcores(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.lcore).collect()
    }

    /// Events from the workers.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Stops the workers and waits for them to leave their loops.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.stop.store(true, Ordering::Relaxed);
        for w in &self.workers {
            self.eal.wait(w.lcore);
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown();
    }
}
