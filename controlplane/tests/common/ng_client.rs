//! A minimal ng client for the end-to-end tests: requests over UDP with a
//! cookie each, retransmitted (bounded) until the reply comes.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use mediafwd_controlplane::ng::bencode::{self, Dict, Value};

pub struct NgClient {
    sock: UdpSocket,
    server: SocketAddr,
    seq: u32,
}

pub fn s(x: &str) -> Value {
    Value::str(x)
}

pub fn l(items: &[&str]) -> Value {
    Value::List(items.iter().map(Value::str).collect())
}

/// A reply, readable.
pub fn show(d: &Dict) -> String {
    Value::Dict(d.clone()).to_string()
}

/// The value at a dotted path (`totals.RTP.packets`, `calls.0`).
pub fn get<'a>(d: &'a Dict, path: &str) -> &'a Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap();
    let mut v = d.get(first.as_bytes()).unwrap_or_else(|| panic!("no {first} in {}", show(d)));
    for k in parts {
        v = match v {
            Value::Dict(d) => {
                d.get(k.as_bytes()).unwrap_or_else(|| panic!("no {k} of {path} in {}", Value::Dict(d.clone())))
            }
            Value::List(l) => &l[k.parse::<usize>().unwrap()],
            _ => panic!("{path}: {k} of a scalar"),
        };
    }
    v
}

pub fn text<'a>(d: &'a Dict, path: &str) -> &'a str {
    get(d, path).as_str().unwrap_or_else(|| panic!("{path} is not text in {}", show(d)))
}

pub fn int(d: &Dict, path: &str) -> i64 {
    get(d, path).as_int().unwrap_or_else(|| panic!("{path} is not an integer in {}", show(d)))
}

impl NgClient {
    pub fn new(server: SocketAddr) -> NgClient {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        NgClient { sock, server, seq: 0 }
    }

    /// One request; its reply dictionary. Up to 5 tries, 1 s apart, as a SIP
    /// proxy retransmits.
    pub fn ask(&mut self, pairs: &[(&str, Value)]) -> Dict {
        self.seq += 1;
        let cookie = format!("{}_{}", std::process::id(), self.seq);
        let dict: Dict = pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.clone())).collect();
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend(Value::Dict(dict).encode());
        let mut buf = vec![0u8; 65536];
        for _ in 0..5 {
            self.sock.send_to(&msg, self.server).unwrap();
            while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let Some(body) = buf[..n].strip_prefix(format!("{cookie} ").as_bytes()) else { continue };
                match bencode::decode(body).expect("a bencoded reply") {
                    Value::Dict(d) => return d,
                    other => panic!("not a dictionary: {other:?}"),
                }
            }
        }
        panic!("no reply from the ng listener at {}", self.server)
    }
}
