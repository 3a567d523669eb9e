//! `mediafwdctl`: look at and steer a mediafwd node through its gRPC API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;
use mediafwd_dataplane::srtp::{Suite, DEFAULT_SRTP_LIFETIME};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Look at and steer a mediafwd node.
#[derive(Parser)]
#[command(name = "mediafwdctl", version)]
struct Args {
    /// The node's API (http://host:port, or https:// with TLS).
    #[arg(short, long, default_value = "http://127.0.0.1:7070", global = true)]
    server: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// CA certificate (PEM) that signed the node's certificate.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM), for nodes that require mutual TLS.
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Relay sessions.
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// Node statistics: ports, workers, interfaces.
    Stats,
    /// Follow events (latching, timeouts, sessions ending) until interrupted.
    Events {
        /// Only this session's.
        #[arg(long)]
        session: Option<String>,
    },
    /// Refuse new sessions and let the existing ones end.
    Drain {
        /// Reason given to clients whose sessions are refused.
        #[arg(long, default_value = "maintenance")]
        reason: String,
        /// Exit the node when the last session has ended.
        #[arg(long)]
        exit_when_empty: bool,
        /// Return only when no session is left (or the node has exited),
        /// printing the count as it falls: for a stop hook.
        #[arg(long)]
        wait: bool,
        /// Seconds between two checks while waiting.
        #[arg(long, default_value_t = 2, value_name = "SECONDS")]
        poll: u64,
    },
    /// High availability: the node's lease, a takeover.
    #[command(subcommand)]
    Ha(HaCmd),
    /// The node's health (SERVING, NOT_SERVING while draining).
    Health {
        /// The health service name: "" (the node: NOT_SERVING while
        /// draining), mediafwd.v1.MediaRelay (the same), or liveness
        /// (SERVING as long as the node runs, draining or not).
        #[arg(long, default_value = "")]
        service: String,
    },
}

#[derive(Subcommand)]
enum HaCmd {
    /// Whether the node holds its group's lease, and the epoch of its claim.
    State,
    /// Claim the group's lease with a higher epoch (on the standby): it
    /// forwards from now on, the old active stops transmitting.
    Takeover,
}

#[derive(Subcommand)]
enum SessionsCmd {
    /// List sessions.
    List {
        /// Only sessions with a leg on this interface.
        #[arg(long)]
        interface: Option<String>,
        /// Only ids starting with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// One session, with its legs and statistics.
    Show {
        /// Session id.
        id: String,
    },
    /// Create a session (two --leg LABEL:INTERFACE[:REMOTE]).
    Create {
        /// Session id.
        id: String,
        /// A leg: label, interface and optionally the remote RTP endpoint,
        /// e.g. caller:public:198.18.0.2:5000 or callee:private.
        #[arg(long = "leg", required = true, num_args = 1)]
        legs: Vec<String>,
        /// Latching for both legs: off, once, follow.
        #[arg(long, default_value = "off")]
        latch: String,
        /// Media timeout, seconds.
        #[arg(long)]
        media_timeout: Option<u32>,
        /// SRTP keys of what a leg's endpoint sends, from its SDP:
        /// LABEL='a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...'.
        #[arg(long = "crypto-in", value_name = "LABEL=A_CRYPTO")]
        crypto_in: Vec<String>,
        /// SRTP keys of what a leg's endpoint receives (the a=crypto line sent to it).
        #[arg(long = "crypto-out", value_name = "LABEL=A_CRYPTO")]
        crypto_out: Vec<String>,
    },
    /// Change a leg: its remote, hold.
    Update {
        /// Session id.
        id: String,
        /// Leg label.
        leg: String,
        /// New remote RTP endpoint (ADDR:PORT, [V6]:PORT).
        #[arg(long)]
        remote: Option<SocketAddr>,
        /// Hold media towards the leg.
        #[arg(long, conflicts_with = "unhold")]
        hold: bool,
        /// Resume media towards the leg.
        #[arg(long)]
        unhold: bool,
        /// New SRTP keys of what the endpoint sends (an a=crypto line), or "off".
        #[arg(long = "crypto-in", value_name = "A_CRYPTO")]
        crypto_in: Option<String>,
        /// New SRTP keys of what the endpoint receives (an a=crypto line), or "off".
        #[arg(long = "crypto-out", value_name = "A_CRYPTO")]
        crypto_out: Option<String>,
    },
    /// Delete a session; prints its final statistics.
    Delete {
        /// Session id.
        id: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mediafwdctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn channel(args: &Args) -> anyhow::Result<Channel> {
    let mut ep = Endpoint::from_shared(args.server.clone()).with_context(|| format!("--server {}", args.server))?;
    if args.server.starts_with("https://") || args.ca.is_some() {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &args.ca {
            tls = tls.ca_certificate(Certificate::from_pem(
                std::fs::read(ca).with_context(|| format!("--ca {}", ca.display()))?,
            ));
        }
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            let c = std::fs::read(cert).with_context(|| format!("--cert {}", cert.display()))?;
            let k = std::fs::read(key).with_context(|| format!("--key {}", key.display()))?;
            tls = tls.identity(Identity::from_pem(c, k));
        }
        ep = ep.tls_config(tls)?;
    }
    ep.connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach the node at {}", args.server))
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let ch = channel(&args).await?;
    let mut c = MediaRelayClient::new(ch.clone());
    match &args.command {
        Cmd::Sessions(SessionsCmd::List { interface, prefix }) => {
            let mut all = Vec::new();
            let mut token = String::new();
            loop {
                let r = c
                    .list_sessions(pb::ListSessionsRequest {
                        page_size: 1000,
                        page_token: token,
                        interface: interface.clone().unwrap_or_default(),
                        id_prefix: prefix.clone().unwrap_or_default(),
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                all.extend(r.sessions);
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print_sessions(&all);
            }
        }
        Cmd::Sessions(SessionsCmd::Show { id }) => {
            let s = c.get_session(pb::GetSessionRequest { session_id: id.clone() }).await.map_err(status)?.into_inner();
            show(&s, args.json)?;
        }
        Cmd::Sessions(SessionsCmd::Delete { id }) => {
            let s = c
                .delete_session(pb::DeleteSessionRequest { session_id: id.clone() })
                .await
                .map_err(status)?
                .into_inner();
            show(&s, args.json)?;
        }
        Cmd::Sessions(SessionsCmd::Create { id, legs, latch, media_timeout, crypto_in, crypto_out }) => {
            if legs.len() != 2 {
                bail!("give exactly two --leg");
            }
            let latch = match latch.as_str() {
                "off" => pb::LatchMode::Off,
                "once" => pb::LatchMode::Once,
                "follow" => pb::LatchMode::Follow,
                other => bail!("--latch {other}: off, once or follow"),
            };
            let mut legs = legs.iter().map(|l| leg_spec(l, latch)).collect::<anyhow::Result<Vec<_>>>()?;
            for (arg, lines, inbound) in [("--crypto-in", crypto_in, true), ("--crypto-out", crypto_out, false)] {
                for line in lines {
                    let (label, attribute) =
                        line.split_once('=').with_context(|| format!("{arg} {line}: LABEL=a=crypto:..."))?;
                    let leg = legs
                        .iter_mut()
                        .find(|l| l.label == label)
                        .with_context(|| format!("{arg}: no --leg labelled {label:?}"))?;
                    let params = Some(srtp_params(attribute).with_context(|| format!("{arg} {label}"))?);
                    if inbound {
                        leg.srtp_inbound = params;
                    } else {
                        leg.srtp_outbound = params;
                    }
                }
            }
            let req = pb::CreateSessionRequest {
                session_id: id.clone(),
                legs,
                media_timeout_seconds: media_timeout.unwrap_or(0),
                max_lifetime_seconds: 0,
            };
            let s = c.create_session(req).await.map_err(status)?.into_inner();
            show(&s, args.json)?;
        }
        Cmd::Sessions(SessionsCmd::Update { id, leg, remote, hold, unhold, crypto_in, crypto_out }) => {
            let keys = |arg: &str, line: &Option<String>| match line.as_deref() {
                None => Ok(None),
                Some("off") => Ok(Some(pb::SrtpParams::default())),
                Some(l) => srtp_params(l).map(Some).with_context(|| arg.to_string()),
            };
            let req = pb::UpdateLegRequest {
                srtp_inbound: keys("--crypto-in", crypto_in)?,
                srtp_outbound: keys("--crypto-out", crypto_out)?,
                session_id: id.clone(),
                leg: leg.clone(),
                remote: remote.map(|r| pb::Endpoint { address: r.ip().to_string(), port: r.port() as u32 }),
                hold: if *hold {
                    Some(true)
                } else if *unhold {
                    Some(false)
                } else {
                    None
                },
                ..Default::default()
            };
            let s = c.update_leg(req).await.map_err(status)?.into_inner();
            show(&s, args.json)?;
        }
        Cmd::Stats => {
            let s = c.get_node_stats(pb::GetNodeStatsRequest {}).await.map_err(status)?.into_inner();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_stats(&s);
            }
        }
        Cmd::Events { session } => {
            let mut stream = c
                .watch_events(pb::WatchEventsRequest { session_id: session.clone().unwrap_or_default() })
                .await
                .map_err(status)?
                .into_inner();
            while let Some(e) = stream.message().await.map_err(status)? {
                if args.json {
                    println!("{}", serde_json::to_string(&e)?);
                } else {
                    println!("{}", describe_event(&e));
                }
            }
        }
        Cmd::Drain { reason, exit_when_empty, wait, poll } => {
            let r = c
                .drain(pb::DrainRequest { reason: reason.clone(), exit_when_empty: *exit_when_empty })
                .await
                .map_err(status)?
                .into_inner();
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("draining; {} sessions remaining", r.sessions_remaining);
            }
            if *wait {
                wait_drained(&mut c, r.sessions_remaining, std::time::Duration::from_secs((*poll).max(1))).await?;
            }
        }
        Cmd::Ha(cmd) => {
            let mut h = pb::high_availability_client::HighAvailabilityClient::new(ch);
            let r = match cmd {
                HaCmd::State => h.get_ha_state(pb::GetHaStateRequest {}).await,
                HaCmd::Takeover => h.takeover(pb::TakeoverRequest {}).await,
            }
            .map_err(status)?
            .into_inner();
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!("{} epoch {}", if r.active { "active" } else { "standby" }, r.epoch);
            }
        }
        Cmd::Health { service } => {
            let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
            let r = h
                .check(tonic_health::pb::HealthCheckRequest { service: service.clone() })
                .await
                .map_err(status)?
                .into_inner();
            let name = tonic_health::pb::health_check_response::ServingStatus::try_from(r.status)
                .map(|s| s.as_str_name().to_string())
                .unwrap_or_else(|_| r.status.to_string());
            if args.json {
                println!("{}", serde_json::json!({ "status": name }));
            } else {
                println!("{name}");
            }
        }
    }
    Ok(())
}

/// Polls the node until no session is left, or until it no longer answers
/// (it exited: with --exit-when-empty, that is how a drain ends).
async fn wait_drained(
    c: &mut MediaRelayClient<Channel>,
    mut left: u32,
    poll: std::time::Duration,
) -> anyhow::Result<()> {
    while left > 0 {
        tokio::time::sleep(poll).await;
        match c.get_node_stats(pb::GetNodeStatsRequest {}).await {
            Ok(s) => {
                let now = s.into_inner().sessions;
                if now != left {
                    println!("{now} sessions remaining");
                }
                left = now;
            }
            Err(e) if e.code() == tonic::Code::Unavailable => {
                println!("the node has stopped");
                return Ok(());
            }
            Err(e) => return Err(status(e)),
        }
    }
    println!("drained: no session left");
    Ok(())
}

fn leg_spec(s: &str, latch: pb::LatchMode) -> anyhow::Result<pb::LegSpec> {
    let mut parts = s.splitn(3, ':');
    let label = parts.next().unwrap_or_default().to_string();
    let interface = parts.next().with_context(|| format!("--leg {s}: LABEL:INTERFACE[:REMOTE]"))?.to_string();
    let remote = parts
        .next()
        .map(|r| r.parse::<SocketAddr>().with_context(|| format!("--leg {s}: {r} is not ADDR:PORT")))
        .transpose()?;
    Ok(pb::LegSpec {
        label,
        interface,
        remote: remote.map(|r| pb::Endpoint { address: r.ip().to_string(), port: r.port() as u32 }),
        latch: latch as i32,
        ..Default::default()
    })
}

/// The SRTP keys of an SDP `a=crypto` attribute (RFC 4568), its first key.
fn srtp_params(line: &str) -> anyhow::Result<pb::SrtpParams> {
    let a = CryptoAttribute::parse(line)?;
    if a.suite == Suite::NullHmacSha1_80 {
        bail!("UNENCRYPTED_SRTP is not offered by the API: use an encrypting suite");
    }
    let key = &a.keys[0];
    let mki = key.mki.map(|m| m.value().to_be_bytes()[4 - m.len()..].to_vec()).unwrap_or_default();
    let lifetime = if key.srtp_lifetime == DEFAULT_SRTP_LIFETIME { 0 } else { key.srtp_lifetime };
    Ok(pb::SrtpParams {
        suite: a.suite.sdes_name().to_string(),
        master_key: key.key().to_vec(),
        master_salt: key.salt().to_vec(),
        mki,
        lifetime,
    })
}

fn ep(e: &Option<pb::Endpoint>) -> String {
    match e {
        Some(e) if e.address.contains(':') => format!("[{}]:{}", e.address, e.port),
        Some(e) => format!("{}:{}", e.address, e.port),
        None => "-".into(),
    }
}

fn state(s: i32) -> &'static str {
    match pb::SessionState::try_from(s) {
        Ok(pb::SessionState::Pending) => "pending",
        Ok(pb::SessionState::Active) => "active",
        Ok(pb::SessionState::Ended) => "ended",
        _ => "?",
    }
}

fn print_sessions(all: &[pb::Session]) {
    println!(
        "{:<28} {:<8} {:>8}  {:<44} {:<44}",
        "SESSION", "STATE", "AGE(s)", "LEG A (local <- remote)", "LEG B (local <- remote)"
    );
    for s in all {
        let leg = |i: usize| {
            s.legs
                .get(i)
                .map(|l| format!("{} {} <- {}", l.label, ep(&l.local), ep(&l.latched.clone().or(l.remote.clone()))))
                .unwrap_or_default()
        };
        println!("{:<28} {:<8} {:>8.0}  {:<44} {:<44}", s.id, state(s.state), s.age_seconds, leg(0), leg(1));
    }
    println!("{} sessions", all.len());
}

fn show(s: &pb::Session, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "session {}  state {}  age {:.0}s  media timeout {}s",
        s.id,
        state(s.state),
        s.age_seconds,
        s.media_timeout_seconds
    );
    if let Ok(r) = pb::EndReason::try_from(s.end_reason) {
        if r != pb::EndReason::Unspecified {
            println!("ended: {}", r.as_str_name().trim_start_matches("END_REASON_").to_lowercase().replace('_', " "));
        }
    }
    println!(
        "{:<10} {:<9} {:<24} {:<24} {:<24} {:>9} {:>11} {:>6} {:>6} {:>9}",
        "LEG", "IFACE", "LOCAL", "REMOTE", "LATCHED", "PACKETS", "BYTES", "LOST", "JITTER", "DROPPED"
    );
    for l in &s.legs {
        let st = l.stats.clone().unwrap_or_default();
        let rtp = st.rtp.unwrap_or_default();
        println!(
            "{:<10} {:<9} {:<24} {:<24} {:<24} {:>9} {:>11} {:>6} {:>6.1} {:>9}",
            l.label,
            l.interface,
            ep(&l.local),
            ep(&l.remote),
            ep(&l.latched),
            st.packets,
            st.bytes,
            rtp.lost,
            rtp.jitter_ms,
            st.drops.values().sum::<u64>()
        );
        if !l.srtp_inbound_suite.is_empty() || !l.srtp_outbound_suite.is_empty() {
            let suite = |s: &str| if s.is_empty() { "RTP".to_string() } else { s.to_string() };
            println!("{:>12} srtp: in {}, out {}", "", suite(&l.srtp_inbound_suite), suite(&l.srtp_outbound_suite));
        }
        for (reason, n) in &st.drops {
            println!("{:>12} {reason}: {n}", "");
        }
    }
    Ok(())
}

fn print_stats(s: &pb::NodeStats) {
    println!(
        "sessions {}  uptime {:.0}s  {}",
        s.sessions,
        s.uptime_seconds,
        if s.draining { format!("DRAINING ({})", s.drain_reason) } else { "serving".into() }
    );
    if !s.srtp_engine.is_empty() {
        println!("srtp engine {}", s.srtp_engine_detail);
    }
    println!(
        "\n{:<6} {:<28} {:<16} {:>12} {:>12} {:>10} {:>10}",
        "PORT", "DEVICE", "DRIVER", "RX", "TX", "MISSED", "ERRORS"
    );
    for p in &s.ports {
        println!(
            "{:<6} {:<28} {:<16} {:>12} {:>12} {:>10} {:>10}",
            p.port_id,
            p.device,
            p.driver,
            p.rx_packets,
            p.tx_packets,
            p.rx_missed,
            p.rx_errors + p.tx_errors
        );
    }
    println!("\n{:<7} {:<6} {:>12} {:>12} {:>6}  DROPS", "WORKER", "LCORE", "RX", "TX", "BUSY");
    for w in &s.workers {
        let drops: Vec<String> = w.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<7} {:<6} {:>12} {:>12} {:>5.0}%  {}",
            w.worker,
            w.lcore,
            w.rx_packets,
            w.tx_packets,
            w.busy * 100.0,
            drops.join(" ")
        );
    }
    println!("\n{:<12} {:<6} {:>9} {:>13} {:>11}", "INTERFACE", "PORT", "SESSIONS", "PORTS IN USE", "PORTS FREE");
    for i in &s.interfaces {
        println!("{:<12} {:<6} {:>9} {:>13} {:>11}", i.name, i.port_id, i.sessions, i.ports_in_use, i.ports_free);
    }
}

fn describe_event(e: &pb::Event) -> String {
    use pb::event::Kind;
    let what = match &e.kind {
        Some(Kind::Latched(l)) => format!("latched leg {} to {}", l.leg, ep(&l.remote)),
        Some(Kind::MediaTimeout(t)) => format!("media timeout after {:.0}s idle", t.idle_seconds),
        Some(Kind::SrtpAuthFailures(f)) => format!("{} SRTP authentication failures on leg {}", f.count, f.leg),
        Some(Kind::SessionEnded(s)) => {
            format!("ended: {}", pb::EndReason::try_from(s.reason).map(|r| r.as_str_name()).unwrap_or("?"))
        }
        Some(Kind::Webrtc(w)) => {
            let remote = w.remote.as_ref().map(|_| format!(" {}", ep(&w.remote))).unwrap_or_default();
            format!("WebRTC leg {}: {}{remote} {}", w.leg, w.kind, w.detail)
        }
        None => "?".into(),
    };
    format!("{:.3} {} {}", e.time, e.session_id, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_a_crypto_line_becomes_srtp_params() {
        // RFC 4568 §5.1's example key, with a 1-byte MKI of 1 and a lifetime of 2^20.
        let line = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:1";
        let p = srtp_params(line).unwrap();
        assert_eq!(p.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!((p.master_key.len(), p.master_salt.len()), (16, 14));
        assert_eq!((p.mki, p.lifetime), (vec![1], 1 << 20));
        assert!(srtp_params(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP"
        )
        .is_err());
    }
}
