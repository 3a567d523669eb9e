//! `/metrics` over plain HTTP on the management address, from the API's
//! runtime: the control loop renders the node's part, the gRPC counters
//! are added here.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;

use crate::control::Request;
use crate::metrics::text::CONTENT_TYPE;
use crate::metrics::{Exposition, GrpcMetrics};

/// How long a scrape waits for the control loop.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, control: Sender<Request>, grpc: Arc<GrpcMetrics>) {
    let app = Router::new()
        .route("/metrics", get(move || scrape(control.clone(), grpc.clone())))
        .route("/", get(|| async { "mediafwd: metrics at /metrics\n" }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}

async fn scrape(control: Sender<Request>, grpc: Arc<GrpcMetrics>) -> Response {
    let (tx, rx) = oneshot::channel();
    let unavailable = |why: &str| (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response();
    match control.try_send(Request::Metrics(tx)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return unavailable("the control plane is busy; retry"),
        Err(TrySendError::Disconnected(_)) => return unavailable("the node is stopping"),
    }
    let node = match tokio::time::timeout(SCRAPE_TIMEOUT, rx).await {
        Ok(Ok(Ok(text))) => text,
        Ok(Ok(Err(e))) => return unavailable(&e.to_string()),
        Ok(Err(_)) => return unavailable("the node is stopping"),
        Err(_) => return unavailable("the control plane did not answer in time"),
    };
    let mut e = Exposition::new();
    e.append(&node);
    grpc.render(&mut e);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], e.finish()).into_response()
}
