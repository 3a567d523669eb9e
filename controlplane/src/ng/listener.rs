//! The ng transports. UDP, the protocol's usual one: one message per
//! datagram, replies cached by cookie for retransmissions. TCP: messages
//! back to back on a connection, each `<cookie> <dictionary>`, delimited by
//! the dictionary's own encoding; replies in order. Both hand requests to the
//! one engine task, which runs them one at a time, in arrival order.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc};

use super::bencode::{self, DecodeError};
use super::cache::{Lookup, ReplyCache};
use super::commands::{reply_error, Engine};
use super::message::{frame_reply, Frame, MAX_COOKIE};
use crate::control;

/// The largest ng message over TCP.
const MAX_TCP_MESSAGE: usize = 1 << 20;
/// Requests waiting for the engine; beyond, UDP requests are dropped (the
/// client retransmits) and TCP connections wait.
pub const QUEUE: usize = 1024;

/// Where a reply goes.
pub enum ReplyTo {
    /// Back over the UDP socket, and into the cache.
    Udp(Arc<UdpSocket>),
    /// To a TCP connection's writer.
    Tcp(mpsc::Sender<Vec<u8>>),
}

/// One request for the engine.
pub struct Job {
    /// The client.
    pub peer: SocketAddr,
    /// Its cookie.
    pub cookie: Vec<u8>,
    /// The bencoded dictionary.
    pub body: Vec<u8>,
    /// Where the reply goes.
    pub reply: ReplyTo,
}

/// The engine task: requests one by one, the control loop's session events,
/// and the delete-delay clock.
pub async fn run_engine(
    mut engine: Engine,
    mut jobs: mpsc::Receiver<Job>,
    mut events: broadcast::Receiver<control::Event>,
    cache: Arc<Mutex<ReplyCache>>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { break };
                let reply = engine.handle(&job.body, job.peer.ip()).await;
                let bytes = frame_reply(&job.cookie, &reply);
                match job.reply {
                    ReplyTo::Udp(sock) => {
                        let bytes = Arc::new(bytes);
                        cache.lock().expect("cache lock").finish(job.peer, &job.cookie, bytes.clone());
                        if let Err(e) = sock.send_to(&bytes, job.peer).await {
                            tracing::debug!(peer = %job.peer, error = %e, "ng reply not sent");
                        }
                    }
                    ReplyTo::Tcp(tx) => {
                        let _ = tx.send(bytes).await;
                    }
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) => engine.on_event(&ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "ng: session events lost; checking the calls against the sessions");
                    engine.reconcile().await;
                }
                Err(broadcast::error::RecvError::Closed) => {}
            },
            _ = tick.tick() => engine.tick(Instant::now()).await,
        }
    }
}

/// Receives datagrams: a cached reply is sent again, a request in progress
/// is dropped, a new one goes to the engine.
pub async fn serve_udp(sock: Arc<UdpSocket>, jobs: mpsc::Sender<Job>, cache: Arc<Mutex<ReplyCache>>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "ng: receive error");
                continue;
            }
        };
        let Ok(frame) = Frame::parse(&buf[..n]) else {
            tracing::debug!(%peer, len = n, "ng: datagram without a cookie dropped");
            continue;
        };
        let lookup = cache.lock().expect("cache lock").begin(peer, frame.cookie, Instant::now());
        match lookup {
            Lookup::Done(reply) => {
                let _ = sock.send_to(&reply, peer).await;
            }
            Lookup::InProgress => {}
            Lookup::New => {
                let job = Job {
                    peer,
                    cookie: frame.cookie.to_vec(),
                    body: frame.body.to_vec(),
                    reply: ReplyTo::Udp(sock.clone()),
                };
                if jobs.try_send(job).is_err() {
                    cache.lock().expect("cache lock").abandon(peer, frame.cookie);
                    tracing::warn!(%peer, "ng: request queue full, request dropped (the client retransmits)");
                }
            }
        }
    }
}

/// Accepts TCP connections.
pub async fn serve_tcp(listener: TcpListener, jobs: mpsc::Sender<Job>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(connection(stream, peer, jobs.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "ng: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the front of a TCP buffer holds.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Not a whole message yet.
    More,
    /// A message: (cookie, body) ranges and the bytes it took.
    Message(std::ops::Range<usize>, std::ops::Range<usize>, usize),
    /// Garbage: the reason, and the cookie if there was one.
    Bad(String, Option<Vec<u8>>),
}

fn next_message(buf: &[u8]) -> Next {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(buf.len());
    let rest = &buf[start..];
    let Some(sp) = rest.iter().position(|&b| b == b' ') else {
        return if rest.len() > MAX_COOKIE { Next::Bad("no cookie".into(), None) } else { Next::More };
    };
    if sp == 0 || sp > MAX_COOKIE {
        return Next::Bad("no cookie".into(), None);
    }
    let cookie = start..start + sp;
    match bencode::decode_prefix(&rest[sp + 1..]) {
        Ok((_, used)) => Next::Message(cookie, start + sp + 1..start + sp + 1 + used, start + sp + 1 + used),
        Err(DecodeError::Incomplete) => Next::More,
        Err(e) => Next::Bad(e.to_string(), Some(buf[cookie].to_vec())),
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, jobs: mpsc::Sender<Job>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16384];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match next_message(&buf) {
                Next::More => {
                    if buf.len() > MAX_TCP_MESSAGE {
                        break 'read;
                    }
                    break;
                }
                Next::Message(cookie, body, used) => {
                    let job = Job {
                        peer,
                        cookie: buf[cookie].to_vec(),
                        body: buf[body].to_vec(),
                        reply: ReplyTo::Tcp(tx.clone()),
                    };
                    buf.drain(..used);
                    if jobs.send(job).await.is_err() {
                        break 'read;
                    }
                }
                Next::Bad(why, cookie) => {
                    // The stream cannot be resynchronised: say why, and close.
                    if let Some(c) = cookie {
                        let _ = tx.send(frame_reply(&c, &reply_error(&why))).await;
                    }
                    tracing::debug!(%peer, why, "ng: closing a TCP connection with a malformed message");
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_messages_are_delimited_by_their_encoding() {
        let two = b"1_1 d7:command4:pinge\r\n2_2 d7:command4:pinge";
        let Next::Message(c, b, used) = next_message(two) else { panic!() };
        assert_eq!((&two[c], &two[b]), (&b"1_1"[..], &b"d7:command4:pinge"[..]));
        let Next::Message(c, _, _) = next_message(&two[used..]) else { panic!() };
        assert_eq!(&two[used..][c], b"2_2");
        assert_eq!(next_message(b"1_1 d7:comm"), Next::More);
        assert_eq!(next_message(b"1_1"), Next::More);
        assert!(matches!(next_message(b"1_1 x"), Next::Bad(_, Some(c)) if c == b"1_1"));
        assert!(matches!(next_message(b" d7:command4:pinge"), Next::More));
    }
}
