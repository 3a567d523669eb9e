//! Prometheus metrics: `/metrics` over HTTP on the management address
//! (`api.metrics_listen`). The control loop renders the node's part from
//! counters and aggregates (no series per session, so a scrape stays cheap
//! at 100,000 sessions); the API side adds its gRPC request counters and
//! latency histograms.

pub mod grpc;
pub mod node;
pub mod text;

pub use grpc::{GrpcMetrics, GrpcMetricsLayer};
pub use node::NodeSnapshot;
pub use text::Exposition;
