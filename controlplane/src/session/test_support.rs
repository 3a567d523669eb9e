//! A session manager over two interfaces (`public` 198.18.0.1/24 and
//! 2001:db8:1::1/64, `private` 198.19.0.1/24), for the unit tests of the
//! modules that work on sessions.

use mediafwd_dataplane::wire::ethernet::MacAddr;

use std::net::IpAddr;

use super::{IfaceInfo, Resolver, SessionManager};
use crate::config::Config;

/// The manager, `public` relaying on `public_ports` (e.g. `"30000-30099"`),
/// `private` on 40000-40099; interface i on port i with MAC 02:00:00:00:00:0i.
pub(crate) fn manager(public_ports: &str) -> SessionManager {
    let text = format!(
        r#"
[node]
worker_cores = [1]
control_cores = [0]
[[interface]]
name = "public"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
rtp_ports = "{public_ports}"
[[interface]]
name = "private"
device = "net_null1"
addresses = ["198.19.0.1/24"]
rtp_ports = "40000-40099"
"#
    );
    let v = Config::parse(&text).unwrap().validate().unwrap();
    let ifaces = v
        .interfaces
        .into_iter()
        .enumerate()
        .map(|(i, config)| IfaceInfo { config, port_id: i as u16, mac: MacAddr([2, 0, 0, 0, 0, i as u8]) })
        .collect();
    SessionManager::new(ifaces, 1024)
}

/// A resolver whose next hop on interface i is neighbor i, with no default.
pub(crate) struct Hops;

impl Resolver for Hops {
    fn next_hop(&mut self, iface: usize, _dst: IpAddr) -> Result<u32, String> {
        Ok(iface as u32)
    }
    fn default_next_hop(&mut self, _iface: usize, _v4: bool) -> Option<u32> {
        None
    }
}
