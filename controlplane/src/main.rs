//! `mediafwd`: the media relay node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mediafwd_controlplane::api;
use mediafwd_controlplane::config::{allowed_cpus, cores_from, Config, Validated};
use mediafwd_controlplane::control::ha::Ha;
use mediafwd_controlplane::control::{Control, Serving};
use mediafwd_controlplane::ha;
use mediafwd_controlplane::ng;
use mediafwd_controlplane::node::Node;

/// A DPDK media relay: forwards the RTP/RTCP of calls between legs.
#[derive(Parser, Debug)]
#[command(name = "mediafwd", version)]
struct Args {
    /// The configuration file (TOML; see docs/configuration.md).
    #[arg(short, long, value_name = "FILE", default_value = "/etc/mediafwd/mediafwd.toml")]
    config: PathBuf,
    /// Validate FILE and exit: 0 when valid, 1 with the field at fault
    /// otherwise. What this host does not offer (cores outside this process's
    /// affinity) is reported as a warning: the node would refuse to start here.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Override node.worker_cores (comma-separated CPU ids).
    #[arg(long, value_delimiter = ',', value_name = "CPUS")]
    worker_cores: Option<Vec<usize>>,
    /// Override node.control_cores (comma-separated CPU ids).
    #[arg(long, value_delimiter = ',', value_name = "CPUS")]
    control_cores: Option<Vec<usize>>,
    /// Take the cores from the CPUs this process may run on (a container's
    /// exclusive CPUs): the first for the control side, the rest for workers.
    #[arg(long, conflicts_with_all = ["worker_cores", "control_cores"])]
    cores_from_affinity: bool,
    /// Override node.hugepages = false: run on ordinary memory.
    #[arg(long)]
    no_hugepages: bool,
    /// Override node.file_prefix.
    #[arg(long, value_name = "NAME")]
    file_prefix: Option<String>,
    /// Append an EAL argument (repeatable).
    #[arg(long = "eal-arg", value_name = "ARG", allow_hyphen_values = true)]
    eal_args: Vec<String>,
    /// Override node.log_format: text or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            mediafwd_controlplane::logging::stderr_line(&format!("mediafwd: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path, args: &Args) -> anyhow::Result<Validated> {
    let mut config = Config::load(path)?;
    if let Some(c) = &args.worker_cores {
        config.node.worker_cores = c.clone();
    }
    if let Some(c) = &args.control_cores {
        config.node.control_cores = c.clone();
    }
    if args.cores_from_affinity {
        let (control, workers) = cores_from(&allowed_cpus())?;
        config.node.control_cores = control;
        config.node.worker_cores = workers;
    }
    if args.no_hugepages {
        config.node.hugepages = false;
    }
    if let Some(p) = &args.file_prefix {
        config.node.file_prefix = p.clone();
    }
    if let Some(f) = &args.log_format {
        config.node.log_format = f.clone();
    }
    config.node.eal_args.extend(args.eal_args.iter().cloned());
    Ok(config.validate()?)
}

fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.check_config {
        let v = load(path, &args).with_context(|| format!("{} is not valid", path.display()))?;
        for m in v.host_mismatches(&allowed_cpus()) {
            eprintln!("mediafwd: warning: {m}; the node would refuse to start on this host");
        }
        println!(
            "{}: valid ({} interfaces, {} workers, {} static sessions)",
            path.display(),
            v.interfaces.len(),
            v.raw.node.worker_cores.len(),
            v.raw.static_sessions.len()
        );
        return Ok(());
    }
    let config = load(&args.config, &args).with_context(|| format!("in {}", args.config.display()))?;
    if let Some(m) = config.host_mismatches(&allowed_cpus()).into_iter().next() {
        return Err(m).with_context(|| format!("in {}", args.config.display()));
    }
    mediafwd_controlplane::logging::init(&config.raw.node.log_format);

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let mut node = Node::start(&config)?;
    let ha_config = &config.raw.ha;
    let sealer = match ha::sealer(ha_config).context("ha.key_file") {
        Ok(s) => s,
        Err(e) => {
            node.shutdown();
            return Err(e);
        }
    };
    // The stored sessions are back before the API (and its health service) is up.
    let mut restored = ha::restore::Restored::default();
    if ha_config.enabled() {
        match ha::restore::restore_node(ha_config, sealer.as_deref(), &mut node) {
            Ok(r) => restored = r,
            Err(e) => {
                node.shutdown();
                return Err(e);
            }
        }
    }
    let (requests_tx, requests_rx) = crossbeam_channel::bounded(4096);
    let (events, _) = tokio::sync::broadcast::channel(4096);
    let (serving_tx, serving_rx) = tokio::sync::watch::channel(Serving::Serving);
    let api = match api::serve(
        &config.raw.api,
        &config.raw.node.control_cores,
        requests_tx.clone(),
        events.clone(),
        serving_rx,
    ) {
        Ok(api) => api,
        Err(e) => {
            node.shutdown();
            return Err(e);
        }
    };
    if let Err(e) = ng::serve(&config, api.runtime(), requests_tx, &events) {
        api.stop();
        node.shutdown();
        return Err(e);
    }
    let leased = ha_config.leased().then(|| {
        let role = ha::role::Role::spawn(
            ha::role::RoleConfig {
                url: ha_config.redis_url.clone(),
                group: ha_config.group.clone(),
                node_id: ha_config.node_id(),
                lease: std::time::Duration::from_millis(ha_config.lease_ms),
                defer_first_claim: ha_config.role == "standby",
            },
            node.dataplane.gate().clone(),
        )
        .context("starting the lease thread")?;
        let follower = ha::follow::Follower::spawn(api.runtime(), ha_config.redis_url.clone(), &ha_config.group);
        anyhow::Ok(Ha::new(role, follower, sealer.clone(), ha_config.group.clone()))
    });
    let leased = match leased.transpose() {
        Ok(l) => l,
        Err(e) => {
            api.stop();
            node.shutdown();
            return Err(e);
        }
    };
    let keeper =
        ha_config.enabled().then(|| ha::Keeper::spawn(ha_config, api.runtime(), sealer).resumed(restored.checkpoints));
    let node =
        Control::new(node, requests_rx, events, serving_tx, stop.clone()).keep_sessions(keeper).with_ha(leased).run();
    tracing::info!("stopping");
    api.stop();
    node.shutdown();
    Ok(())
}
