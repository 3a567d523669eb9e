//! rtpengine's ng control protocol, so SIP proxies (Kamailio's and OpenSIPS's
//! `rtpengine` modules) drive mediafwd unchanged: a second adapter over the
//! control core beside the gRPC API, on the same sessions.
//!
//! ```text
//! UDP/TCP --> listener (framing, reply cache by cookie) --> engine task
//!             (commands: offer/answer/delete/query/list/statistics/ping)
//!             --> control::Request::{Create, Update, Delete, Get, List, Stats}
//!             <-- session views, node statistics, control::Error kinds
//! ```
//!
//! The engine speaks the core's domain: it writes offers and answers as
//! create and update requests (legs, SDES keys as SRTP policies), reads the
//! core's views back into SDP and rtpengine's statistics, turns the core's
//! error kinds into `error` or `load limit` replies, and follows the core's
//! session events to forget calls whose sessions ended.
//!
//! `bencode` (the `mediafwd-bencode` crate, shared with perf's ng client) and
//! `message` read the wire format, `sdp` reads and rewrites session
//! descriptions, `sdes` negotiates SRTP keys, `call` holds what a call
//! negotiated, `stats` writes rtpengine's statistics shapes. See docs/ng.md.

pub use mediafwd_bencode as bencode;

pub mod cache;
pub mod call;
pub mod commands;
pub mod listener;
pub mod message;
pub mod offer;
pub mod sdes;
pub mod sdp;
pub mod stats;
pub mod webrtc;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::Sender;
use tokio::sync::{broadcast, mpsc};

use crate::config::Validated;
use crate::control;
pub use commands::{Engine, Interface, Settings};

/// Where the ng listener listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NgListening {
    /// UDP.
    pub udp: SocketAddr,
    /// TCP, when enabled.
    pub tcp: Option<SocketAddr>,
}

/// The engine's settings from the configuration.
pub fn settings(config: &Validated) -> Settings {
    let interfaces: Vec<Interface> = config
        .interfaces
        .iter()
        .map(|i| Interface {
            name: i.name.clone(),
            v4: i.addresses.iter().any(|a| a.addr().is_ipv4()),
            v6: i.addresses.iter().any(|a| a.addr().is_ipv6()),
        })
        .collect();
    let first = interfaces.first().map(|i| i.name.clone()).unwrap_or_default();
    let direction = match &config.raw.ng.direction[..] {
        [a, b] => [a.clone(), b.clone()],
        _ => [first.clone(), first],
    };
    Settings {
        interfaces,
        direction,
        delete_delay: Duration::from_secs(u64::from(config.raw.ng.delete_delay)),
        media_timeout: Duration::from_secs(u64::from(config.raw.sessions.media_timeout)),
        offer_timeout: Duration::from_secs(u64::from(config.raw.ng.offer_timeout)),
    }
}

/// Starts the ng listener on `runtime` when `[ng] listen` is set.
pub fn serve(
    config: &Validated,
    runtime: &tokio::runtime::Handle,
    control: Sender<control::Request>,
    events: &broadcast::Sender<control::Event>,
) -> anyhow::Result<Option<NgListening>> {
    let ng = &config.raw.ng;
    if ng.listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = ng.listen.parse().context("ng.listen")?;
    let (udp, tcp) = runtime.block_on(bind(addr, ng.tcp))?;
    let listening = NgListening { udp: udp.local_addr()?, tcp: tcp.as_ref().map(|t| t.local_addr()).transpose()? };
    let cache = Arc::new(Mutex::new(cache::ReplyCache::new(ng.reply_cache)));
    let (jobs_tx, jobs_rx) = mpsc::channel(listener::QUEUE);
    let engine = Engine::new(control, settings(config));
    runtime.spawn(listener::run_engine(engine, jobs_rx, events.subscribe(), cache.clone()));
    runtime.spawn(listener::serve_udp(Arc::new(udp), jobs_tx.clone(), cache));
    if let Some(t) = tcp {
        runtime.spawn(listener::serve_tcp(t, jobs_tx));
    }
    tracing::info!(
        addr = %listening.udp,
        tcp = %listening.tcp.map(|t| t.to_string()).unwrap_or_else(|| "off".into()),
        "ng listening"
    );
    Ok(Some(listening))
}

/// Binds UDP, and TCP on the same port (with port 0, the port UDP got; a
/// few tries in case TCP's is taken).
async fn bind(addr: SocketAddr, tcp: bool) -> anyhow::Result<(tokio::net::UdpSocket, Option<tokio::net::TcpListener>)> {
    for _ in 0..10 {
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("ng.listen: cannot listen on UDP {addr}"))?;
        if !tcp {
            return Ok((udp, None));
        }
        let at = udp.local_addr()?;
        match tokio::net::TcpListener::bind(at).await {
            Ok(t) => return Ok((udp, Some(t))),
            Err(_) if addr.port() == 0 => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("ng.listen: cannot listen on TCP {at} (set ng.tcp = false to use UDP only)")
                })
            }
        }
    }
    anyhow::bail!("ng.listen: no port free for both UDP and TCP on {}", addr.ip())
}
