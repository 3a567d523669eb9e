//! rtpgen: RTP (and SRTP) calls through a media relay, from DPDK ports.
//!
//! Sets `--sessions` calls up on the relay (mediafwd's gRPC API with
//! `--api`, rtpengine's ng protocol with `--ng`, a JSON file with
//! `--sessions-file`, or nothing with `--loopback` for a link that returns
//! frames unchanged), plays both endpoints of every call on its ports (port
//! 0 is side a, the callers; port 1, if given, side b, the callees), sends
//! G.711 streams with correct sequence numbers and timestamps and distinct
//! SSRCs, optionally SRTP-protected, and receives the relayed packets:
//! loss, reordering, duplicates, one-way latency (the send time travels in
//! the payload) and per-stream jitter, each second on a progress line and
//! at the end as a summary or JSON (`--json`). With `--search` it finds the
//! highest rate meeting a loss criterion (RFC 2544).
//!
//! ```text
//! rtpgen --api http://127.0.0.1:7070 --sessions 1000 --duration 20 \
//!     --port net_memif0 --port net_memif1 -- --lcores=0@0 --no-pci \
//!     --vdev=net_memif0,role=server,socket=/run/a.sock --vdev=net_memif1,role=server,socket=/run/b.sock
//! ```

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use mediafwd_dataplane::srtp::Suite;
use mediafwd_dataplane::wire::ethernet::MacAddr;
use mediafwd_ffi::{eal, Eal, Mempool};
use mediafwd_perf::gen::engine::{Engine, Progress, Side, StreamSetup};
use mediafwd_perf::gen::tx::TxSpec;
use mediafwd_perf::report::{Measured, RunReport};
use mediafwd_perf::search::{Criteria, Search, Trial};
use mediafwd_perf::session::{self, Direction, EndpointPlan, Session};
use mediafwd_perf::setup::{self, mediafwd, rtpengine, Plan};
use mediafwd_perf::stats::{self, Summary};
use mediafwd_perf::usage::{self, Watch};
use mediafwd_perf::{fmt_mac, parse_mac, port};

#[derive(Parser, Debug)]
#[command(about = "Sends RTP/SRTP calls through a media relay and measures what comes back")]
struct Args {
    // Ports.
    /// DPDK port of side a (callers), then of side b (callees); one port
    /// plays both sides. More ports: interfaces name theirs (`@PORT`).
    #[arg(long = "port", num_args = 1, required_unless_present = "setup_only")]
    ports: Vec<String>,
    /// Only set the calls up (no DPDK, no media), keep them, and write them
    /// to --save-sessions (or stdout): for other generators (TRex, pktgen).
    #[arg(long)]
    setup_only: bool,
    /// Our addresses on side a, comma-separated: the relay's gateways there
    /// (we answer ARP for them and for the endpoints we play); the first is
    /// the source of our ARP requests.
    #[arg(long, default_value = "198.18.0.2", value_delimiter = ',')]
    addr_a: Vec<Ipv4Addr>,
    /// Our addresses on side b.
    #[arg(long, default_value = "198.19.0.2", value_delimiter = ',')]
    addr_b: Vec<Ipv4Addr>,
    /// The relay's MAC on side a (otherwise asked by ARP).
    #[arg(long)]
    relay_mac_a: Option<String>,
    /// The relay's MAC on side b.
    #[arg(long)]
    relay_mac_b: Option<String>,
    /// Descriptors per RX and TX queue: a deeper ring rides out longer
    /// stalls of the generator.
    #[arg(long, default_value_t = 1024)]
    desc: u16,
    /// Sleep this many microseconds after a loop that sent and received
    /// nothing (0: poll without pause). A generator that shares its CPU
    /// with the relay's control side or other work leaves it to them.
    #[arg(long, default_value_t = 0)]
    idle_sleep_us: u64,
    /// Build, seal and send packets a whole burst (32 a sending port) at a
    /// time, the first due waiting at most this many microseconds for the
    /// rest (0: send whatever is due every loop). SRTP sealed a packet or
    /// two at a time costs several times a full burst's share, and the
    /// relay then receives bursts as small.
    #[arg(long, default_value_t = 100)]
    burst_wait_us: u64,
    /// Authenticate and decrypt only the received SRTP packets whose
    /// sequence number is a multiple of N; the others count by their clear
    /// RTP header (sequence accounting, loss), without latency or jitter,
    /// and a forged one among them would go unnoticed. 1: every packet.
    /// Frees the generator's core from opening what the relay sealed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    srtp_verify_every: u16,
    /// Seconds to wait for the links.
    #[arg(long, default_value_t = 30.0)]
    link_timeout: f64,

    // Sessions.
    /// Calls.
    #[arg(long, default_value_t = 1000)]
    sessions: u32,
    /// mediafwd's gRPC API: create the calls there.
    #[arg(long, group = "source")]
    api: Option<String>,
    /// rtpengine's ng socket: create the calls there.
    #[arg(long, group = "source")]
    ng: Option<SocketAddr>,
    /// Read the calls from this JSON file (an array of sessions).
    #[arg(long, group = "source")]
    sessions_file: Option<PathBuf>,
    /// No relay: the link sends every frame back unchanged (testpmd io).
    /// With --srtp-a/--srtp-b the other side opens what comes back with
    /// the sender's keys: the generator's own SRTP ceiling.
    #[arg(long, group = "source")]
    loopback: bool,
    /// mediafwd interfaces of leg a, `NAME[:VLAN][@PORT]` (PORT: the index
    /// of the --port it is reached by), comma-separated; sessions take them
    /// round-robin.
    #[arg(long, default_value = "public", value_delimiter = ',')]
    interface_a: Vec<String>,
    /// mediafwd interfaces of leg b.
    #[arg(long, default_value = "private", value_delimiter = ',')]
    interface_b: Vec<String>,
    /// rtpengine's interface names towards leg a and leg b.
    #[arg(long, value_delimiter = ',')]
    ng_interfaces: Option<Vec<String>>,
    /// SRTP suite of leg a (both directions), e.g. AES_CM_128_HMAC_SHA1_80.
    #[arg(long)]
    srtp_a: Option<String>,
    /// SRTP suite of leg b.
    #[arg(long)]
    srtp_b: Option<String>,
    /// First address of the endpoints of leg a.
    #[arg(long, default_value = "198.18.64.0")]
    endpoints_a: Ipv4Addr,
    /// First address of the endpoints of leg b.
    #[arg(long, default_value = "198.19.64.0")]
    endpoints_b: Ipv4Addr,
    /// Endpoint addresses per side (then more ports per address).
    #[arg(long, default_value_t = 4096)]
    hosts: u32,
    /// Media timeout of the sessions created on mediafwd, seconds.
    #[arg(long, default_value_t = 600)]
    media_timeout: u32,
    /// API requests in flight while setting up.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Leave the sessions on the relay at the end.
    #[arg(long)]
    keep_sessions: bool,
    /// Write the sessions to this JSON file once set up.
    #[arg(long)]
    save_sessions: Option<PathBuf>,
    /// If the relay refuses SRTP keys (a node without SRTP), run the calls
    /// as plain RTP instead of failing.
    #[arg(long)]
    srtp_fallback: bool,
    /// Seed of SRTP keys and SSRCs.
    #[arg(long, default_value_t = 0x6d66_7764)]
    seed: u64,

    // Traffic.
    /// Which way media flows.
    #[arg(long, value_enum, default_value = "both")]
    direction: Direction,
    /// Packet time, milliseconds (G.711: 20).
    #[arg(long, default_value_t = 20.0)]
    ptime: f64,
    /// RTP payload bytes (G.711 at 20 ms: 160).
    #[arg(long, default_value_t = 160)]
    payload: usize,
    /// Packets per second in total; default: every stream at its packet time.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of sending (a fixed-rate run).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait for every stream's first packet to come back.
    #[arg(long, default_value_t = 15.0)]
    warmup_timeout: f64,
    /// Milliseconds to keep receiving after the sending stops.
    #[arg(long, default_value_t = 200)]
    drain_ms: u64,

    // Throughput search.
    /// Find the highest rate with at most --max-loss (RFC 2544).
    #[arg(long)]
    search: bool,
    /// Loss allowed, percent.
    #[arg(long, default_value_t = 0.001)]
    max_loss: f64,
    /// Share of the asked rate the link must have taken for a trial to pass.
    #[arg(long, default_value_t = mediafwd_perf::search::SUSTAINED)]
    sustain: f64,
    /// Highest rate tried, packets per second.
    #[arg(long, default_value_t = 10_000_000.0)]
    rate_max: f64,
    /// Lowest rate tried.
    #[arg(long, default_value_t = 1000.0)]
    rate_min: f64,
    /// Stop when the interval is narrower than this share of the rate.
    #[arg(long, default_value_t = 0.02)]
    resolution: f64,
    /// Seconds per trial.
    #[arg(long, default_value_t = 2.0)]
    trial: f64,
    /// Milliseconds between trials.
    #[arg(long, default_value_t = 300)]
    pause_ms: u64,
    /// After a failed trial, delete the calls and set up new ones (for
    /// relays that give up on a call once it overflowed, as rtpengine does).
    #[arg(long)]
    fresh_calls: bool,

    // The relay's usage.
    /// Measure this process's CPU (the relay) per trial.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// A file where the relay's process id will be (mediafwd started after
    /// rtpgen): its DPDK worker threads' time on a CPU per trial.
    #[arg(long)]
    watch_pid_file: Option<PathBuf>,
    /// Measure this CPU's busy time per trial.
    #[arg(long)]
    watch_cpu: Option<usize>,
    /// mediafwd's metrics endpoint (host:port): worker busy share and drops per trial.
    #[arg(long)]
    metrics: Option<SocketAddr>,

    // Output.
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// A label for the report.
    #[arg(long, default_value = "")]
    label: String,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Print the ports' counters after the warm-up and at the end.
    #[arg(long)]
    verbose: bool,
    /// EAL arguments (after `--`).
    #[arg(last = true)]
    eal: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    if args.setup_only {
        return setup_only(&args);
    }
    if args.ports.is_empty() || args.ports.len() > 16 {
        bail!("give one to 16 --port");
    }
    // The first signal ends the run early (the calls are still taken down);
    // a second one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let eal = Eal::init(&args.eal).context("EAL init (check the arguments after --)")?;
    let result = run(&args, stop);
    eal.cleanup();
    let report = result?;
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        out.flush()?;
    } else {
        print_summary(&report);
    }
    Ok(())
}

fn suite(name: &Option<String>) -> anyhow::Result<Option<Suite>> {
    name.as_deref()
        .map(|n| {
            Suite::from_sdes_name(n).with_context(|| {
                let all: Vec<_> = Suite::ALL.iter().filter(|s| s.encrypts_srtp()).map(|s| s.sdes_name()).collect();
                format!("unknown SRTP suite {n:?}; one of {}", all.join(", "))
            })
        })
        .transpose()
}

fn interfaces(list: &[String]) -> anyhow::Result<Vec<mediafwd::Interface>> {
    list.iter().map(|s| mediafwd::Interface::parse(s)).collect()
}

/// The calls the command line asks for, where they are set up, and how
/// that is said in the report and the log.
fn calls(args: &Args) -> anyhow::Result<(Calls, &'static str, &'static str)> {
    let plan = Plan {
        sessions: args.sessions,
        endpoints: [
            EndpointPlan { base: args.endpoints_a, hosts: args.hosts, first_port: 20_000 },
            EndpointPlan { base: args.endpoints_b, hosts: args.hosts, first_port: 20_000 },
        ],
        sides: [0, if args.ports.len() == 1 { 0 } else { 1 }],
        srtp: [suite(&args.srtp_a)?, suite(&args.srtp_b)?],
        seed: args.seed,
        id_prefix: format!("rtpgen-{}-{}", std::process::id(), std::time::UNIX_EPOCH.elapsed()?.as_secs() % 100_000),
    };
    let api_target = args.api.as_ref().map(|url| -> anyhow::Result<_> {
        Ok(mediafwd::Target {
            url: url.clone(),
            interfaces: [interfaces(&args.interface_a)?, interfaces(&args.interface_b)?],
            media_timeout: args.media_timeout,
            concurrency: args.concurrency,
            connect_timeout: Duration::from_secs(60),
        })
    });
    let api_target = api_target.transpose()?;
    if args.ng_interfaces.as_ref().is_some_and(|v| v.len() != 2) {
        bail!("--ng-interfaces takes two names: towards leg a, towards leg b");
    }
    let ng_target = args.ng.map(|ng| rtpengine::Target {
        ng,
        interfaces: args.ng_interfaces.as_ref().map(|v| [v[0].clone(), v[1].clone()]),
        window: 16,
    });
    let (relay, how) = if args.api.is_some() {
        ("mediafwd", "mediafwd's API")
    } else if args.ng.is_some() {
        ("rtpengine", "rtpengine's ng protocol")
    } else if args.sessions_file.is_some() {
        ("file", "the sessions file")
    } else if args.loopback {
        ("loopback", "a loopback plan")
    } else {
        bail!("where do the calls come from? give --api, --ng, --sessions-file or --loopback");
    };

    Ok((Calls { plan, api: api_target, ng: ng_target, sessions: Vec::new(), generation: 0 }, relay, how))
}

/// `--setup-only`: the calls are set up (and kept) without DPDK, and
/// written to --save-sessions, for generators that read them (TRex, pktgen).
fn setup_only(args: &Args) -> anyhow::Result<()> {
    let (calls, _, how) = calls(args)?;
    eprintln!("rtpgen: setting {} sessions up through {how} (and keeping them)", args.sessions);
    let t0 = Instant::now();
    let sessions = if let Some(t) = &calls.api {
        mediafwd::create(t, &calls.plan)?
    } else if let Some(t) = &calls.ng {
        rtpengine::create(t, &calls.plan)?
    } else {
        bail!("--setup-only needs --api or --ng");
    };
    eprintln!("rtpgen: {} sessions set up in {:.2} s", sessions.len(), t0.elapsed().as_secs_f64());
    let json = serde_json::to_string_pretty(&sessions)?;
    match &args.save_sessions {
        Some(path) => std::fs::write(path, json)?,
        None => println!("{json}"),
    }
    Ok(())
}

fn run(args: &Args, stop: Arc<AtomicBool>) -> anyhow::Result<RunReport> {
    if eal::current_lcore().is_none() {
        bail!("the main thread has no lcore id; give the EAL an lcore (e.g. --lcores=0@0)");
    }
    let pool = Mempool::create("rtpgen", 32_767, 256, 2176, -1)?;
    let mut sides = Vec::new();
    for (i, name) in args.ports.iter().enumerate() {
        let o = port::open(name, &pool, args.desc)?;
        // Even ports are on side a, odd ones on side b; each answers for
        // every address of ours (they are the relay's gateways).
        let addrs = if i % 2 == 0 { &args.addr_a } else { &args.addr_b };
        let addr = *addrs.first().context("--addr-a/--addr-b: at least one address")?;
        let owned: HashSet<Ipv4Addr> = args.addr_a.iter().chain(&args.addr_b).copied().collect();
        eprintln!("rtpgen: port {name} mac {}, answering ARP for {addr}", fmt_mac(o.mac));
        sides.push(Side { port: o.port, rx: o.rx, tx: o.tx, mac: o.mac, addr, owned });
    }
    let ports: Vec<_> = sides.iter().map(|s| s.port).collect();
    port::wait_links(&ports, Duration::from_secs_f64(args.link_timeout))?;
    let ssrc_base = (session::splitmix64(&mut args.seed.clone()) as u32) & 0xfff0_0000;
    let mut engine = Engine::new(sides, pool, ssrc_base);
    engine.set_stop(stop);
    engine.check_addresses = !args.loopback;
    engine.idle_sleep = Duration::from_micros(args.idle_sleep_us);
    engine.burst_wait = Duration::from_micros(args.burst_wait_us);
    engine.verify_every = args.srtp_verify_every;

    let (mut calls, relay, how) = calls(args)?;
    eprintln!("rtpgen: setting {} sessions up through {how}", args.sessions);
    let result = calls.setup(args, &mut engine).and_then(|setup_seconds| {
        if let Some(path) = &args.save_sessions {
            std::fs::write(path, serde_json::to_string_pretty(&calls.sessions)?)?;
        }
        measure(args, &mut engine, &mut calls, relay, setup_seconds)
    });
    // Whatever happened, take the calls down.
    let node = calls.teardown(args);
    engine.close();
    let mut report = result?;
    report.node = node;
    Ok(report)
}

/// The calls on the relay, which can be set up again (fresh calls).
struct Calls {
    plan: Plan,
    api: Option<mediafwd::Target>,
    ng: Option<rtpengine::Target>,
    sessions: Vec<Session>,
    generation: u32,
}

impl Calls {
    /// Sets the calls up (on another thread; this one answers the relay's
    /// ARP meanwhile) and the engine's streams for them; returns the
    /// seconds the relay took.
    fn setup(&mut self, args: &Args, engine: &mut Engine) -> anyhow::Result<f64> {
        let mut plan = self.plan.clone();
        if self.generation > 0 {
            plan.id_prefix = format!("{}.{}", plan.id_prefix, self.generation);
        }
        self.generation += 1;
        let t0 = Instant::now();
        match self.create(args, engine, &plan) {
            Err(e)
                if args.srtp_fallback
                    && plan.srtp.iter().any(Option::is_some)
                    && format!("{e:#}").contains("SRTP is not available") =>
            {
                eprintln!("rtpgen: the relay refuses SRTP keys (SRTP is not available on it): the calls run plain RTP");
                self.plan.srtp = [None, None];
                plan.srtp = [None, None];
                self.create(args, engine, &plan)?;
            }
            r => r?,
        }
        let secs = t0.elapsed().as_secs_f64();
        session::validate(&self.sessions, args.ports.len())?;
        eprintln!("rtpgen: {} sessions set up in {secs:.2} s", self.sessions.len());
        streams(args, engine, &self.sessions)?;
        Ok(secs)
    }

    /// Creates the calls of `plan`.
    fn create(&mut self, args: &Args, engine: &mut Engine, plan: &Plan) -> anyhow::Result<()> {
        let (api, ng) = (&self.api, &self.ng);
        let sessions: Vec<Session> = std::thread::scope(|scope| {
            let h = scope.spawn(|| -> anyhow::Result<Vec<Session>> {
                if let Some(t) = api {
                    mediafwd::create(t, plan)
                } else if let Some(t) = ng {
                    rtpengine::create(t, plan)
                } else if let Some(path) = &args.sessions_file {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
                } else {
                    Ok(setup::loopback::sessions(plan))
                }
            });
            engine.serve_until(|| h.is_finished());
            h.join().expect("setup thread")
        })?;
        self.sessions = sessions;
        Ok(())
    }

    /// Takes the calls down (unless --keep-sessions); mediafwd's account of them.
    fn teardown(&mut self, args: &Args) -> Option<mediafwd::NodeReport> {
        let sessions = std::mem::take(&mut self.sessions);
        if sessions.is_empty() {
            return None;
        }
        if let (Some(t), false) = (&self.ng, args.keep_sessions) {
            if let Err(e) = rtpengine::delete(t, &sessions) {
                eprintln!("rtpgen: deleting the calls on rtpengine: {e:#}");
            }
        }
        let t = self.api.as_ref()?;
        match mediafwd::finish(t, &sessions, !args.keep_sessions) {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("rtpgen: reading or deleting the sessions on mediafwd: {e:#}");
                None
            }
        }
    }
}

/// The engine's streams for `sessions`: the addresses we answer ARP for,
/// the relay's MACs, one stream per direction of each call.
fn streams(args: &Args, engine: &mut Engine, sessions: &[Session]) -> anyhow::Result<()> {
    let nports = args.ports.len();
    let side_of = |leg: u8| usize::from(leg).min(nports - 1);
    for s in sessions {
        for l in &s.legs {
            if let IpAddr::V4(ip) = l.endpoint.ip() {
                engine.sides_mut()[side_of(l.side)].owned.insert(ip);
            }
        }
    }
    let given = [&args.relay_mac_a, &args.relay_mac_b];
    let mut relay_mac: Vec<Option<MacAddr>> = vec![None; nports];
    for (side, mac) in relay_mac.iter_mut().enumerate() {
        if let Some(Some(m)) = given.get(side) {
            *mac = Some(parse_mac(m)?);
            continue;
        }
        let leg = sessions.iter().flat_map(|s| &s.legs).find(|l| side_of(l.side) == side);
        let Some(leg) = leg else { continue };
        let IpAddr::V4(target) = leg.relay.ip() else {
            bail!("side {side}: the relay's address {} is IPv6; give --relay-mac-{}", leg.relay, ["a", "b"][side]);
        };
        let found = engine.resolve(side, leg.vlan, target, Duration::from_secs(10));
        let Some(m) = found else {
            bail!("side {side}: no ARP answer from the relay's {target} within 10 s");
        };
        eprintln!("rtpgen: relay {target} is at {}", fmt_mac(m));
        *mac = Some(m);
    }
    engine.clear_streams();
    let samples = (args.ptime * 8.0).round() as u32;
    for (i, st) in session::streams(sessions.len() as u32, args.direction).iter().enumerate() {
        let s = &sessions[st.session as usize];
        let (from, to) = (&s.legs[st.from], &s.legs[st.to()]);
        let tx_side = side_of(from.side);
        let spec = TxSpec {
            src_mac: engine.sides()[tx_side].mac,
            dst_mac: relay_mac[tx_side].context("no relay MAC")?,
            vlan: from.vlan,
            src: from.endpoint,
            dst: from.relay,
            ssrc: Engine::ssrc(engine.ssrc_base(), i),
            payload_type: 0,
            payload_len: args.payload,
            ts_step: samples,
            srtp_overhead: 0,
        };
        engine.add_stream(StreamSetup {
            tx_port: tx_side as u8,
            spec,
            tx_keys: from.send_keys.as_ref().map(|k| k.policy()).transpose()?,
            rx_port: side_of(to.side) as u8,
            rx_dst: if args.loopback { from.relay } else { to.endpoint },
            rx_keys: to.recv_keys.as_ref().map(|k| k.policy()).transpose()?,
        })?;
    }
    Ok(())
}

/// Sends one packet of every stream and waits for them to come back.
fn warm_up(args: &Args, engine: &mut Engine) -> anyhow::Result<usize> {
    let n = engine.streams();
    let nominal = n as f64 * 1000.0 / args.ptime;
    let rate = args.rate.unwrap_or(nominal).clamp(1000.0, 200_000.0);
    let back = engine.warm_up(rate, Duration::from_secs_f64(args.warmup_timeout));
    eprintln!("rtpgen: {back} of {n} streams came back in the warm-up");
    if args.verbose {
        print_ports(engine);
    }
    if back == 0 && !engine.stopped() {
        bail!("no stream came back: check the relay's log, its neighbour resolution and the link");
    }
    Ok(back)
}

/// Warm-up, then a fixed-rate run or a search.
fn measure(
    args: &Args,
    engine: &mut Engine,
    calls: &mut Calls,
    relay: &str,
    setup_seconds: f64,
) -> anyhow::Result<RunReport> {
    let nstreams = engine.streams();
    let nominal = nstreams as f64 * 1000.0 / args.ptime;
    let back = warm_up(args, engine)?;
    let sessions = &calls.sessions;
    let watch = Watch {
        pid: args.watch_pid,
        pid_file: args.watch_pid_file.clone(),
        cpu: args.watch_cpu,
        metrics: args.metrics,
    };
    let frame_bytes = sessions.first().map_or(0, |_| {
        let hl = 14 + 20 + 8 + if sessions[0].legs[0].vlan.is_some() { 4 } else { 0 };
        hl + 12 + args.payload
    });
    let mut report = RunReport {
        label: args.label.clone(),
        relay: relay.to_string(),
        sessions: sessions.len() as u32,
        streams: nstreams as u64,
        direction: args.direction,
        srtp: calls.plan.srtp.map(|s| s.map(|s| s.sdes_name().to_string())),
        frame_bytes,
        ptime_ms: args.ptime,
        setup_seconds,
        warm_streams: back as u64,
        criteria: None,
        throughput_pps: None,
        passed_at_max: false,
        trials: Vec::new(),
        result: None,
        strays: 0,
        node: None,
    };
    let tty = std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let mut progress = move |p: &Progress| {
        if quiet {
            return;
        }
        let loss = if p.sent == 0 { 0.0 } else { 100.0 * p.sent.saturating_sub(p.received) as f64 / p.sent as f64 };
        let us = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        let line = format!(
            "[{:4.0}s] tx {:>9.1} kpps  rx {:>9.1} kpps  sent {:>10}  received {:>10} ({loss:.3}% in flight or lost)  latency p50 {} us p99 {} us  SRTP auth failures {}",
            p.elapsed,
            p.tx_pps / 1e3,
            p.rx_pps / 1e3,
            p.sent,
            p.received,
            us(p.p50_us),
            us(p.p99_us),
            p.auth_failures
        );
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    };
    let drain = Duration::from_millis(args.drain_ms);
    if args.search {
        let criteria = Criteria { max_loss_pct: args.max_loss, sustained: args.sustain };
        let mut search = Search::new(criteria, args.rate_min, args.rate_max, args.resolution);
        let mut trial = 1u32;
        while let Some(rate) = search.next_rate() {
            if engine.stopped() {
                break;
            }
            let a = watch.sample();
            let s = engine.run(trial, rate, args.trial, drain, None);
            let b = watch.sample();
            let ok = search.record(Trial {
                requested_pps: rate,
                offered_pps: s.offered_pps,
                received_pps: s.received_pps,
                loss_pct: s.loss_pct,
            });
            let u = usage::between(&a, &b);
            eprintln!(
                "rtpgen: trial {trial}: {:.1} kpps asked, {:.1} offered, {:.1} back, loss {:.4}%, ring full {:.1}%, rtpgen busy {:.0}% (on CPU {}) in bursts of {:.1}{}{}: {}",
                rate / 1e3,
                s.offered_pps / 1e3,
                s.received_pps / 1e3,
                s.loss_pct,
                s.tx_blocked_pct,
                s.gen_busy_pct,
                s.gen_on_cpu_pct.map_or_else(|| "-".to_string(), |c| format!("{c:.0}%")),
                s.tx_burst,
                u.worker_busy_pct.or(u.process_cpu_pct).map_or(String::new(), |b| format!(", relay busy {b:.0}%")),
                u.worker_ns_per_packet.zip(u.worker_burst).map_or(String::new(), |(ns, b)| format!(
                    ", {ns:.0} ns/packet{} in bursts of {b:.1}{}",
                    Some(usage::stages_line(&u.worker_stage_ns, 1.0))
                        .filter(|l| !l.is_empty())
                        .map_or(String::new(), |l| format!(" ({l})")),
                    u.worker_on_cpu_pct.map_or(String::new(), |c| format!(", worker on CPU {c:.0}%"))
                )),
                if ok { "pass" } else { "fail" }
            );
            report.trials.push(Measured { summary: s, usage: u, passed: ok });
            trial += 1;
            if !ok && args.fresh_calls && search.next_rate().is_some() {
                // The relay may have given up on overloaded calls: new ones.
                calls.teardown(args);
                calls.setup(args, engine)?;
                warm_up(args, engine)?;
            }
            let until = Instant::now() + Duration::from_millis(args.pause_ms);
            engine.serve_until(|| Instant::now() >= until);
        }
        report.criteria = Some(criteria);
        report.throughput_pps = search.result();
        report.passed_at_max = search.passed_at_max();
        report.result = report
            .trials
            .iter()
            .filter(|t| t.passed)
            .max_by(|a, b| a.summary.requested_pps.total_cmp(&b.summary.requested_pps))
            .cloned();
    } else {
        let rate = args.rate.unwrap_or(nominal);
        eprintln!(
            "rtpgen: {nstreams} streams, {:.1} kpps for {} s (each stream every {:.2} ms)",
            rate / 1e3,
            args.duration,
            1000.0 * nstreams as f64 / rate
        );
        let a = watch.sample();
        let s = engine.run(1, rate, args.duration, drain, Some(&mut progress));
        let b = watch.sample();
        if tty && !quiet {
            eprintln!();
        }
        let mut m = Measured { summary: s, usage: usage::between(&a, &b), passed: true };
        let streams = session::streams(calls.sessions.len() as u32, args.direction);
        m.summary = with_directions(m.summary, engine, &streams);
        report.trials.push(m.clone());
        report.result = Some(m);
    }
    let (stray, stale) = engine.strays();
    report.strays = stray + stale;
    if args.verbose {
        print_ports(engine);
        eprintln!("rtpgen: {stray} frames not of our streams, {stale} of an earlier trial");
    }
    Ok(report)
}

/// Adds per-direction totals to a summary (kept in its `directions`).
fn with_directions(s: Summary, engine: &Engine, streams: &[session::StreamRef]) -> Summary {
    let results = engine.stream_results();
    let mut s = s;
    for from in [0, 1] {
        let part: Vec<_> = results.iter().zip(streams).filter(|(_, st)| st.from == from).map(|(r, _)| *r).collect();
        if part.is_empty() {
            continue;
        }
        let d = stats::summarize(part, &stats::Histogram::default(), engine.tsc_hz());
        s.directions.push(stats::DirectionTotals {
            direction: if from == 0 { "a->b" } else { "b->a" }.to_string(),
            sent: d.sent,
            received: d.received,
            lost: d.lost,
            offered_pps: d.sent as f64 / s.seconds.max(1e-9),
            received_pps: d.received as f64 / s.seconds.max(1e-9),
        });
    }
    s
}

fn print_ports(engine: &Engine) {
    for s in engine.sides() {
        let st = s.port.stats().unwrap_or_default();
        eprintln!(
            "rtpgen: port {}: rx {} tx {} missed {} rx_errors {} tx_errors {} rx_nombuf {}",
            s.port.name(),
            st.rx_packets,
            st.tx_packets,
            st.rx_missed,
            st.rx_errors,
            st.tx_errors,
            st.rx_nombuf
        );
    }
}

fn print_summary(r: &RunReport) {
    let calls = r.sessions;
    let legs = match (&r.srtp[0], &r.srtp[1]) {
        (None, None) => "plain RTP".to_string(),
        (a, b) => format!(
            "leg a {}, leg b {}",
            a.as_deref().map_or("plain RTP".to_string(), |s| format!("SRTP {s}")),
            b.as_deref().map_or("plain RTP".to_string(), |s| format!("SRTP {s}"))
        ),
    };
    println!(
        "rtpgen: {calls} calls through {}: {} G.711 streams ({} ms, {}-byte RTP frames), {legs}",
        r.relay, r.streams, r.ptime_ms, r.frame_bytes
    );
    if let Some(t) = r.throughput_pps {
        println!(
            "throughput     {:.1} kpps with loss <= {}%{}",
            t / 1e3,
            r.criteria.map_or(0.0, |c| c.max_loss_pct),
            if r.passed_at_max { " (the search's maximum)" } else { "" }
        );
    } else if r.criteria.is_some() {
        println!("throughput     none: every trial failed");
    }
    let Some(m) = &r.result else { return };
    let s = &m.summary;
    println!("duration       {:.1} s", s.seconds);
    for d in &s.directions {
        println!(
            "{:<14} {:.1} kpps sent, {:.1} kpps received, {} lost",
            d.direction,
            d.offered_pps / 1e3,
            d.received_pps / 1e3,
            d.lost
        );
    }
    println!(
        "packets        {} sent, {} received, {} lost ({:.4}%), {} duplicated, {} reordered",
        s.sent, s.received, s.lost, s.loss_pct, s.duplicates, s.reordered
    );
    if let Some(l) = s.latency_us {
        println!(
            "latency        p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us (min {:.0}, max {:.0})",
            l.p50, l.p99, l.p999, l.min, l.max
        );
    }
    if let Some(j) = s.jitter_us {
        println!("jitter         {:.1} us mean, {:.1} us p99, {:.1} us max over streams", j.mean, j.p99, j.max);
    }
    let relay_auth: f64 = m.usage.drops.iter().filter(|(k, _)| k.contains("srtp")).map(|(_, v)| v).sum();
    let node_auth: u64 = r
        .node
        .as_ref()
        .map(|n| n.worker_drops.iter().chain(&n.leg_drops).filter(|(k, _)| k.contains("srtp")).map(|(_, v)| v).sum())
        .unwrap_or(0);
    println!("SRTP auth      {} failures here, {} at the relay", s.auth_failures, node_auth.max(relay_auth as u64));
    if let Some(n) = &r.node {
        let drops: u64 = n.worker_drops.values().sum();
        println!("relay          {} sessions deleted, {} packets dropped by the workers", n.deleted, drops);
    }
}
