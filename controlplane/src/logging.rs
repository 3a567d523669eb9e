//! Logs through `tracing`: human-readable or JSON lines, level from
//! `RUST_LOG` (default `info`). Nothing is logged per packet: the workers
//! count, the control side reads the counters and logs what changed,
//! through a [`RateLimit`] where a fault could repeat quickly.
//!
//! A log that cannot be written (a full disk, a closed pipe) costs lines,
//! never the node: [`LogWriter`] counts what it could not write
//! ([`log_write_errors`]) and carries on.
//!
//! Everything the control side logs about one session happens inside its
//! [`session_span`], so every such line carries the session id: in text,
//! `session{id=call-1}: ...`; in JSON, `"span":{"id":"call-1","name":"session"}`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Log writes that failed since the start.
static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Log writes that failed since the start (the lines they carried are lost).
pub fn log_write_errors() -> u64 {
    WRITE_ERRORS.load(Ordering::Relaxed)
}

/// Writes to `W`, and when that fails, counts the failure and reports
/// success: writing to stderr through `eprintln!` panics on a full disk,
/// and a release build aborts on a panic.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter<W>(pub W);

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Ok(0) if !buf.is_empty() => {
                WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
                Ok(buf.len())
            }
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(_) => {
                WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.flush().is_err() {
            WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Writes `line` and a newline to stderr through a [`LogWriter`]: for the
/// binary's own messages, which must not panic either.
pub fn stderr_line(line: &str) {
    let mut w = LogWriter(std::io::stderr().lock());
    let _ = w.write_all(line.as_bytes()).and_then(|()| w.write_all(b"\n"));
}

/// Installs the subscriber on stderr; `format` is "text" or "json".
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = || LogWriter(std::io::stderr());
    let _ = tracing::subscriber::set_global_default(subscriber(format, filter, ansi, writer));
}

/// The subscriber `init` installs, writing to `writer`.
pub fn subscriber<W>(
    format: &str,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // A failed write is not reported through stderr: that is where it failed.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .log_internal_errors(false);
    if format == "json" {
        Box::new(builder.json().finish())
    } else {
        Box::new(builder.finish())
    }
}

/// The span of everything the control side does for one session.
pub fn session_span(id: &str) -> tracing::Span {
    tracing::info_span!("session", id = %id)
}

/// At most `burst` messages per `interval`; the others are counted and the
/// count goes out with the next message allowed.
#[derive(Debug, Clone)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
    window: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    /// `burst` messages per `interval`.
    pub const fn new(burst: u32, interval: Duration) -> Self {
        RateLimit { interval, burst, window: None, used: 0, suppressed: 0 }
    }

    /// Whether a message may go out at `now`: `Some(n)` when it may, `n`
    /// being how many were suppressed since the last one that went out.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.window {
            Some(start) if now.saturating_duration_since(start) < self.interval => {}
            _ => {
                self.window = Some(now);
                self.used = 0;
            }
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Messages suppressed since the last one that went out.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

/// `tracing::warn!` through a [`RateLimit`], with a `suppressed` field:
/// `warn_limited!(limit, port = 0, "RX queue overflow")`.
#[macro_export]
macro_rules! warn_limited {
    ($limit:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $limit.check(::std::time::Instant::now()) {
            ::tracing::warn!(suppressed, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A writer into shared memory, for tests of what gets logged.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Captured {
        /// What was written so far.
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// A writer on a full disk.
    #[derive(Clone, Copy)]
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(28))
        }
    }

    #[test]
    fn a_log_that_cannot_be_written_is_counted_not_fatal() {
        let before = log_write_errors();
        let mut w = LogWriter(Full);
        assert!(w.write_all(b"a line\n").is_ok());
        assert!(w.flush().is_ok());
        assert_eq!(log_write_errors() - before, 2);
        // Through the subscriber, as the node logs.
        let sub = subscriber("text", EnvFilter::new("info"), false, || LogWriter(Full));
        tracing::subscriber::with_default(sub, || tracing::info!("session created"));
        assert!(log_write_errors() - before >= 3);
    }

    #[test]
    fn the_rate_limit_lets_a_burst_through_then_counts_until_the_next_interval() {
        let t0 = Instant::now();
        let mut l = RateLimit::new(3, Duration::from_secs(10));
        assert_eq!(l.check(t0), Some(0));
        assert_eq!(l.check(t0 + Duration::from_secs(1)), Some(0));
        assert_eq!(l.check(t0 + Duration::from_secs(2)), Some(0));
        for i in 0..5 {
            assert_eq!(l.check(t0 + Duration::from_secs(3 + i)), None);
        }
        assert_eq!(l.suppressed(), 5);
        // A new interval: the first message carries the count, then it restarts.
        assert_eq!(l.check(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(l.suppressed(), 0);
        assert_eq!(l.check(t0 + Duration::from_secs(11)), Some(0));
        assert_eq!(l.check(t0 + Duration::from_secs(12)), Some(0));
        assert_eq!(l.check(t0 + Duration::from_secs(13)), None);
        assert_eq!(l.check(t0 + Duration::from_secs(40)), Some(1));
    }

    #[test]
    fn the_rate_limit_bounds_a_flood_to_its_burst_per_interval() {
        let t0 = Instant::now();
        let mut l = RateLimit::new(2, Duration::from_secs(1));
        // 10,000 events over 5 seconds: 2 per second go out, the rest are counted.
        let mut out = 0;
        let mut reported = 0;
        for i in 0..10_000u64 {
            if let Some(s) = l.check(t0 + Duration::from_micros(i * 500)) {
                out += 1;
                reported += s;
            }
        }
        assert_eq!(out, 10);
        assert_eq!(reported + l.suppressed() + out, 10_000);
    }

    #[test]
    fn warn_limited_logs_the_suppressed_count() {
        let cap = Captured::default();
        let sub = subscriber("text", EnvFilter::new("warn"), false, cap.clone());
        tracing::subscriber::with_default(sub, || {
            let mut l = RateLimit::new(1, Duration::from_secs(3600));
            for _ in 0..4 {
                warn_limited!(l, port = 3, "RX queue overflow");
            }
            l.window = Some(Instant::now() - Duration::from_secs(7200));
            warn_limited!(l, port = 3, "RX queue overflow");
        });
        let text = cap.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("suppressed=0") && lines[0].contains("port=3"), "{text}");
        assert!(lines[1].contains("suppressed=3"), "{text}");
    }

    #[test]
    fn lines_about_a_session_carry_its_id_in_text_and_json() {
        for format in ["text", "json"] {
            let cap = Captured::default();
            let sub = subscriber(format, EnvFilter::new("info"), false, cap.clone());
            tracing::subscriber::with_default(sub, || {
                let _s = session_span("call-7@example").entered();
                tracing::info!(leg = "callee", "leg updated");
            });
            let text = cap.text();
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
                assert_eq!(v["span"]["name"], "session", "{text}");
                assert_eq!(v["span"]["id"], "call-7@example", "{text}");
                assert_eq!(v["fields"]["message"], "leg updated", "{text}");
            } else {
                assert!(text.contains("session{id=call-7@example}") && text.contains("leg updated"), "{text}");
            }
        }
    }
}
