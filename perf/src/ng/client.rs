//! rtpengine's ng control protocol over UDP: each message is a cookie, a
//! space and a bencoded dictionary; the reply carries the same cookie.
//! Requests are retransmitted with the same cookie (rtpengine answers a
//! retransmission from its cache), and several may be in flight.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::bencode::{self, Value};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum NgError {
    /// The socket failed.
    #[error("ng socket: {0}")]
    Io(#[from] std::io::Error),
    /// No reply after every retransmission.
    #[error("no answer from rtpengine at {0} (is it running, with --listen-ng on that address?)")]
    Timeout(SocketAddr),
    /// The reply was not `result: ok`.
    #[error("rtpengine refused {command}: {reason}")]
    Refused {
        /// The command.
        command: String,
        /// `error-reason`, or the result.
        reason: String,
    },
    /// The reply is not ng.
    #[error("malformed ng reply: {0}")]
    Malformed(String),
}

/// Encodes a message: `<cookie> <bencode>`.
pub fn encode_message(cookie: &str, body: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(cookie.as_bytes());
    out.push(b' ');
    body.encode_into(&mut out);
    out
}

/// Splits a reply into its cookie and body.
pub fn decode_message(datagram: &[u8]) -> Result<(&str, Value), NgError> {
    let sp = datagram.iter().position(|&b| b == b' ').ok_or_else(|| NgError::Malformed("no cookie".into()))?;
    let cookie = std::str::from_utf8(&datagram[..sp]).map_err(|_| NgError::Malformed("cookie is not text".into()))?;
    let body = bencode::decode(&datagram[sp + 1..]).map_err(|e| NgError::Malformed(e.to_string()))?;
    Ok((cookie, body))
}

/// Checks a reply's `result`.
pub fn check_result(command: &str, reply: Value) -> Result<Value, NgError> {
    match reply.get("result").and_then(Value::as_str) {
        Some("ok") | Some("pong") => Ok(reply),
        other => Err(NgError::Refused {
            command: command.to_string(),
            reason: reply
                .get("error-reason")
                .and_then(Value::as_str)
                .or(other)
                .unwrap_or("no result in the reply")
                .to_string(),
        }),
    }
}

/// An ng client.
pub struct Client {
    sock: UdpSocket,
    server: SocketAddr,
    prefix: String,
    next: u64,
    /// Time to wait for a reply before retransmitting.
    pub retransmit: Duration,
    /// Transmissions of one request before giving up.
    pub attempts: u32,
}

impl Client {
    /// A client of the rtpengine whose ng socket is `server`.
    pub fn new(server: SocketAddr) -> Result<Client, NgError> {
        let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
        let sock = UdpSocket::bind(bind)?;
        sock.connect(server)?;
        // rtpengine answers a known cookie from its cache, so cookies must
        // never repeat, not even across clients of one process.
        static CLIENTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::UNIX_EPOCH.elapsed().map(|d| d.as_millis() % 1_000_000).unwrap_or(0);
        Ok(Client {
            sock,
            server,
            prefix: format!("{}.{t}.{n}_", std::process::id()),
            next: 0,
            retransmit: Duration::from_millis(500),
            attempts: 5,
        })
    }

    /// Sends one request and returns its checked reply.
    pub fn call(&mut self, body: Value) -> Result<Value, NgError> {
        self.call_many(vec![body], 1).pop().expect("one reply per request")
    }

    /// Sends `bodies` with at most `window` in flight; replies in order.
    pub fn call_many(&mut self, bodies: Vec<Value>, window: usize) -> Vec<Result<Value, NgError>> {
        let n = bodies.len();
        let mut results: Vec<Option<Result<Value, NgError>>> = (0..n).map(|_| None).collect();
        // cookie -> (index, message, sent at, transmissions)
        let mut pending: HashMap<String, (usize, Vec<u8>, Instant, u32)> = HashMap::new();
        let commands: Vec<String> =
            bodies.iter().map(|b| b.get("command").and_then(Value::as_str).unwrap_or("?").to_string()).collect();
        let mut queue = bodies.into_iter().enumerate();
        let mut buf = vec![0u8; 65_536];
        let mut done = 0;
        while done < n {
            while pending.len() < window.max(1) {
                let Some((i, body)) = queue.next() else { break };
                let cookie = format!("{}{}", self.prefix, self.next);
                self.next += 1;
                let msg = encode_message(&cookie, &body);
                if let Err(e) = self.sock.send(&msg) {
                    results[i] = Some(Err(e.into()));
                    done += 1;
                    continue;
                }
                pending.insert(cookie, (i, msg, Instant::now(), 1));
            }
            if pending.is_empty() {
                continue;
            }
            let oldest = pending.values().map(|p| p.2).min().expect("pending");
            let wait = self.retransmit.saturating_sub(oldest.elapsed()).max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(wait)).ok();
            match self.sock.recv(&mut buf) {
                Ok(len) => {
                    if let Ok((cookie, reply)) = decode_message(&buf[..len]) {
                        if let Some((i, ..)) = pending.remove(cookie) {
                            results[i] = Some(check_result(&commands[i], reply));
                            done += 1;
                        }
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => {
                    // ICMP port unreachable (nobody listens) shows up here.
                    for (_, (i, ..)) in pending.drain() {
                        results[i] = Some(Err(NgError::Io(std::io::Error::new(e.kind(), e.to_string()))));
                        done += 1;
                    }
                    continue;
                }
            }
            let mut expired = Vec::new();
            for (cookie, (i, msg, sent, tries)) in pending.iter_mut() {
                if sent.elapsed() >= self.retransmit {
                    if *tries >= self.attempts {
                        expired.push((cookie.clone(), *i));
                    } else {
                        let _ = self.sock.send(msg);
                        *sent = Instant::now();
                        *tries += 1;
                    }
                }
            }
            for (cookie, i) in expired {
                pending.remove(&cookie);
                results[i] = Some(Err(NgError::Timeout(self.server)));
                done += 1;
            }
        }
        results.into_iter().map(|r| r.expect("every request answered or failed")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_framing() {
        let body = Value::dict([("command", "ping".into())]);
        let msg = encode_message("5323_1", &body);
        assert_eq!(msg, b"5323_1 d7:command4:pinge");
        let (cookie, v) = decode_message(b"5323_1 d6:result4:ponge").unwrap();
        assert_eq!(cookie, "5323_1");
        assert!(check_result("ping", v).is_ok());
        assert!(decode_message(b"nocookie").is_err());
        assert!(decode_message(b"c d6:resulte").is_err());
    }

    #[test]
    fn errors_carry_the_reason() {
        let v = bencode::decode(b"d6:result5:error12:error-reason12:Unknown calle").unwrap();
        let e = check_result("answer", v).unwrap_err();
        assert_eq!(e.to_string(), "rtpengine refused answer: Unknown call");
    }

    /// A loopback stand-in for rtpengine that drops every first
    /// transmission and answers the retransmission.
    #[test]
    fn retransmits_and_pipelines_against_a_lossy_server() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut buf = [0u8; 2048];
            let mut answered = 0;
            server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            while answered < 20 {
                let (len, from) = server.recv_from(&mut buf).unwrap();
                let (cookie, body) = decode_message(&buf[..len]).unwrap();
                if seen.insert(cookie.to_string()) {
                    continue; // lose the first copy
                }
                let n = body.get("n").cloned().unwrap();
                let reply = Value::dict([("result", "ok".into()), ("n", n)]);
                server.send_to(&encode_message(cookie, &reply), from).unwrap();
                answered += 1;
            }
        });
        let mut c = Client::new(addr).unwrap();
        c.retransmit = Duration::from_millis(30);
        let bodies = (0..20).map(|i| Value::dict([("command", "query".into()), ("n", Value::Int(i))])).collect();
        let replies = c.call_many(bodies, 8);
        for (i, r) in replies.into_iter().enumerate() {
            assert_eq!(r.unwrap().get("n"), Some(&Value::Int(i as i64)));
        }
        t.join().unwrap();
    }

    #[test]
    fn gives_up_when_nobody_answers() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c = Client::new(silent.local_addr().unwrap()).unwrap();
        c.retransmit = Duration::from_millis(10);
        c.attempts = 2;
        assert!(matches!(c.call(Value::dict([("command", "ping".into())])), Err(NgError::Timeout(_))));
    }
}
