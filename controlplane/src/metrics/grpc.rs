//! gRPC request metrics: a tower layer on the API server that counts every
//! call by service, method and status code and times it (to the end of the
//! response: for a stream, its whole life).
//!
//! The status comes from the response headers (an error answered at once,
//! "trailers-only") or from the trailers that end the body; a call whose
//! response is dropped before either counts as CANCELLED.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use tonic::Code;

use super::text::{Exposition, Kind};

/// Upper bounds of the latency buckets, seconds.
pub const BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Services whose methods get their own series; anything else is counted
/// as `service="other"`, so a client cannot create series at will.
const SERVICES: [&str; 3] = ["mediafwd.v1.MediaRelay", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"];

/// At most this many (service, method) series.
const MAX_METHODS: usize = 64;

#[derive(Debug, Default, Clone)]
struct MethodStats {
    codes: BTreeMap<i32, u64>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Counters and latency histograms of the API's calls.
#[derive(Debug, Default)]
pub struct GrpcMetrics {
    methods: Mutex<BTreeMap<(String, String), MethodStats>>,
    in_flight: AtomicI64,
}

/// The canonical name of a status code (as in the gRPC specification).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl GrpcMetrics {
    /// No calls yet.
    pub fn new() -> Arc<Self> {
        Arc::new(GrpcMetrics::default())
    }

    /// The (service, method) series of a request path `/pkg.Service/Method`.
    fn key(&self, path: &str) -> (String, String) {
        let other = || ("other".to_string(), "other".to_string());
        let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
            return other();
        };
        let well_formed = !method.is_empty() && method.len() <= 64 && method.chars().all(|c| c.is_ascii_alphanumeric());
        if !SERVICES.contains(&service) || !well_formed {
            return other();
        }
        let key = (service.to_string(), method.to_string());
        let methods = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        if methods.contains_key(&key) || methods.len() < MAX_METHODS {
            key
        } else {
            other()
        }
    }

    /// Counts one finished call.
    pub fn record(&self, service: &str, method: &str, code: Code, seconds: f64) {
        let mut methods = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let m = methods.entry((service.to_string(), method.to_string())).or_default();
        *m.codes.entry(code as i32).or_default() += 1;
        for (b, le) in m.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= le {
                *b += 1;
            }
        }
        m.sum += seconds;
        m.count += 1;
    }

    /// Renders the counters and histograms.
    pub fn render(&self, e: &mut Exposition) {
        let methods = self.methods.lock().unwrap_or_else(|e| e.into_inner()).clone();
        e.family(
            "mediafwd_grpc_requests_total",
            Kind::Counter,
            "gRPC calls handled, by service, method and status code.",
        );
        for ((service, method), m) in &methods {
            for (code, n) in &m.codes {
                let code = code_name(Code::from(*code));
                e.int("mediafwd_grpc_requests_total", &[("service", service), ("method", method), ("code", code)], *n);
            }
        }
        e.family(
            "mediafwd_grpc_request_duration_seconds",
            Kind::Histogram,
            "Time from a gRPC call's arrival to the end of its response (a stream's whole life).",
        );
        for ((service, method), m) in &methods {
            let buckets: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(m.buckets).collect();
            e.histogram(
                "mediafwd_grpc_request_duration_seconds",
                &[("service", service), ("method", method)],
                &buckets,
                m.sum,
                m.count,
            );
        }
        e.family("mediafwd_grpc_requests_in_flight", Kind::Gauge, "gRPC calls (and streams) in progress.").int(
            "mediafwd_grpc_requests_in_flight",
            &[],
            self.in_flight.load(Ordering::Relaxed).max(0) as u64,
        );
    }
}

/// One call in progress: recorded once, when its status is known or when
/// it is dropped.
struct Pending {
    metrics: Arc<GrpcMetrics>,
    key: (String, String),
    start: Instant,
    header_code: Option<Code>,
    done: bool,
}

impl Pending {
    fn finish(&mut self, code: Code) {
        if !self.done {
            self.done = true;
            self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.metrics.record(&self.key.0, &self.key.1, code, self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // A trailers-only answer has an empty body that may never be polled.
        let code = self.header_code.unwrap_or(Code::Cancelled);
        self.finish(code);
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<Code> {
    let v = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from(v))
}

pin_project_lite::pin_project! {
    /// A response body that records its call when its trailers pass.
    pub struct Recorded<B> {
        #[pin]
        inner: B,
        pending: Pending,
    }
}

impl<B: Body> Body for Recorded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let r = std::task::ready!(this.inner.poll_frame(cx));
        match &r {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of) {
                    this.pending.finish(code);
                }
            }
            Some(Err(_)) => this.pending.finish(Code::Internal),
            None => {
                let code = this.pending.header_code.unwrap_or(Code::Unknown);
                this.pending.finish(code);
            }
        }
        Poll::Ready(r)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The layer: `Server::builder().layer(GrpcMetricsLayer::new(metrics))`.
#[derive(Clone)]
pub struct GrpcMetricsLayer(Arc<GrpcMetrics>);

impl GrpcMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<GrpcMetrics>) -> Self {
        GrpcMetricsLayer(metrics)
    }
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, metrics: self.0.clone() }
    }
}

/// The service the layer wraps around the server's routes.
#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for GrpcMetricsService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Recorded<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let key = self.metrics.key(req.uri().path());
        self.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut pending =
            Pending { metrics: self.metrics.clone(), key, start: Instant::now(), header_code: None, done: false };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => {
                    pending.header_code = status_of(resp.headers());
                    let (parts, inner) = resp.into_parts();
                    Ok(http::Response::from_parts(parts, Recorded { inner, pending }))
                }
                Err(e) => {
                    pending.finish(Code::Internal);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_series() {
        let m = GrpcMetrics::new();
        assert_eq!(m.key("/mediafwd.v1.MediaRelay/Drain"), ("mediafwd.v1.MediaRelay".into(), "Drain".into()));
        for p in ["/evil.Service/X", "/mediafwd.v1.MediaRelay/a{b}", "/", "nothing"] {
            assert_eq!(m.key(p), ("other".into(), "other".into()), "{p}");
        }
    }

    #[test]
    fn code_names_are_the_canonical_ones() {
        assert_eq!(code_name(Code::from(3)), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::from(14)), "UNAVAILABLE");
        assert_eq!(code_name(Code::from(99)), "UNKNOWN");
    }
}
