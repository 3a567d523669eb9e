//! Logs through `tracing`: human-readable or JSON lines, level from
//! `RUST_LOG` (default `info`). Nothing is logged per packet.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `format` is "text" or "json".
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
