//! The API server: a tokio runtime on the control cores (pinned there
//! explicitly: threads started after the EAL would otherwise inherit the
//! main lcore's affinity), TLS or mutual TLS when configured.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use crossbeam_channel::Sender;
use mediafwd_proto::v1 as pb;
use tokio::sync::{broadcast, watch};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::{HaService, RelayService};
use crate::config::ApiConfig;
use crate::control::{Event, Request, Serving};
use crate::metrics::{GrpcMetrics, GrpcMetricsLayer};

/// The health service name that stays SERVING while the node drains: for
/// liveness checks, which must not kill a node that is letting calls end.
pub const LIVENESS: &str = "liveness";

/// The running API: its runtime, and the signal that stops it.
pub struct ApiHandle {
    runtime: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    metrics: Option<tokio::task::JoinHandle<()>>,
}

impl ApiHandle {
    /// The runtime the API runs on (the other front-ends run there too).
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// Stops accepting calls and waits (bounded) for the server to finish.
    pub fn stop(mut self) {
        if let Some(m) = self.metrics.take() {
            m.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ =
                self.runtime.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(5), server).await });
        }
        self.runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    }
}

/// Starts the API on `config.listen`, and `/metrics` on
/// `config.metrics_listen` when set, on threads pinned to `cores`.
pub fn serve(
    config: &ApiConfig,
    cores: &[usize],
    control: Sender<Request>,
    events: broadcast::Sender<Event>,
    mut serving: watch::Receiver<Serving>,
) -> anyhow::Result<ApiHandle> {
    let cores: Vec<usize> = cores.to_vec();
    let next = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.len().clamp(1, 4))
        .thread_name("mediafwd-api")
        .enable_all()
        .on_thread_start(move || {
            let cpu = cores[next.fetch_add(1, Ordering::Relaxed) % cores.len()];
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                tracing::warn!(cpu, "cannot pin an API thread");
            }
        })
        .build()
        .context("starting the API runtime")?;
    let addr: SocketAddr = config.listen.parse().context("api.listen")?;
    let tls = tls_config(config)?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("api.listen: cannot listen on {addr}"))?;
    let bound = listener.local_addr().context("api.listen")?;
    let (mut reporter, health) = runtime.block_on(async { tonic_health::server::health_reporter() });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(mediafwd_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("gRPC reflection")?;
    let grpc_metrics = GrpcMetrics::new();
    let metrics = if config.metrics_listen.is_empty() {
        None
    } else {
        let addr: SocketAddr = config.metrics_listen.parse().context("api.metrics_listen")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("api.metrics_listen: cannot listen on {addr}"))?;
        let bound = listener.local_addr().context("api.metrics_listen")?;
        tracing::info!(addr = %bound, "metrics listening");
        Some(runtime.spawn(super::metrics::serve(listener, control.clone(), grpc_metrics.clone())))
    };
    let ha = pb::high_availability_server::HighAvailabilityServer::new(HaService::new(control.clone(), events.clone()));
    let relay = pb::media_relay_server::MediaRelayServer::new(RelayService::new(control, events));
    let server = runtime.spawn(async move {
        type Svc = pb::media_relay_server::MediaRelayServer<RelayService>;
        reporter.set_serving::<Svc>().await;
        reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        reporter.set_service_status(LIVENESS, tonic_health::ServingStatus::Serving).await;
        let mut health_reporter = reporter.clone();
        tokio::spawn(async move {
            while serving.changed().await.is_ok() {
                let status = match *serving.borrow() {
                    Serving::Serving => tonic_health::ServingStatus::Serving,
                    Serving::NotServing => tonic_health::ServingStatus::NotServing,
                };
                health_reporter.set_service_status("", status).await;
                health_reporter.set_service_status("mediafwd.v1.MediaRelay", status).await;
            }
        });
        let mut builder = Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        builder
            .layer(GrpcMetricsLayer::new(grpc_metrics))
            .add_service(health)
            .add_service(reflection)
            .add_service(relay)
            .add_service(ha)
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = shutdown_rx.await;
            })
            .await
    });
    tracing::info!(addr = %bound, tls = config.tls_cert.is_some(), mutual_tls = config.tls_client_ca.is_some(), "API listening");
    Ok(ApiHandle { runtime, shutdown: Some(shutdown_tx), server: Some(server), metrics })
}

fn tls_config(config: &ApiConfig) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    let read = |field: &str, p: &str| std::fs::read(p).with_context(|| format!("{field}: reading {p}"));
    let mut tls =
        ServerTlsConfig::new().identity(Identity::from_pem(read("api.tls_cert", cert)?, read("api.tls_key", key)?));
    if let Some(ca) = &config.tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read("api.tls_client_ca", ca)?));
    }
    Ok(Some(tls))
}
