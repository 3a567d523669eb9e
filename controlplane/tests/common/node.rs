//! Runs the real `mediafwd` binary for a test: writes its config, starts it,
//! waits until it is ready, and stops it by its PID (SIGTERM), also when the
//! test fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub struct MediaFwd {
    child: Option<Child>,
    pub log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl MediaFwd {
    /// Starts mediafwd with `config` (TOML) and waits (bounded) until its
    /// log says `ready`.
    pub fn start(config: &str) -> MediaFwd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mediafwd.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediafwd"))
            .args(["--config", path.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mediafwd");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut node = MediaFwd { child: Some(child), log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if node.log_contains("ready") {
                return node;
            }
            if let Ok(Some(status)) = node.child.as_mut().expect("running").try_wait() {
                panic!("mediafwd exited early ({status}):\n{}", node.log_text());
            }
            assert!(Instant::now() < deadline, "mediafwd not ready in time:\n{}", node.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address the API listens on, from the log.
    pub fn api_addr(&self) -> std::net::SocketAddr {
        self.logged_addr("API listening")
    }

    /// The address of the metrics endpoint, from the log.
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.logged_addr("metrics listening")
    }

    fn logged_addr(&self, what: &str) -> std::net::SocketAddr {
        let log = self.log.lock().unwrap();
        let line = log.iter().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no {what:?} in the log"));
        let at = line.find("addr=").expect("addr=") + 5;
        line[at..].split_whitespace().next().unwrap().parse().unwrap()
    }

    /// The address the ng listener listens on (UDP), from the log.
    pub fn ng_addr(&self) -> std::net::SocketAddr {
        let log = self.log.lock().unwrap();
        let line = log.iter().find(|l| l.contains("ng listening")).expect("ng listening");
        let at = line.find("addr=").expect("addr=") + 5;
        line[at..].split_whitespace().next().unwrap().parse().unwrap()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: the node dies on the spot, as in a crash.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        terminate(&mut child, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("mediafwd did not stop:\n{}", self.log_text()))
    }
}

fn terminate(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for MediaFwd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(10));
        }
    }
}

/// Fails a test with mediafwd's log when a condition does not hold.
#[macro_export]
macro_rules! check {
    ($node:expr, $cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            panic!("{}\n--- mediafwd log ---\n{}", format!($($msg)+), $node.log_text());
        }
    };
}
