//! The configuration file: one TOML schema, every field with a default or a
//! clear error naming it. `docs/configuration.md` documents each field and
//! `examples/mediafwd.toml` is an annotated example. [`Config::validate`]
//! checks what the file says, on any host; `host` checks what this host
//! offers (reported by `--check-config`, refused when the node starts).

mod device;
mod ha;
mod host;
mod net;
mod police;
mod ports;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;

pub use device::{expand_env, Device};
pub use ha::HaConfig;
pub use host::{allowed_cpus, cores_from, cpu_list};
pub use net::IpNet;
pub use police::{PoliceSection, RateSection};
pub use ports::PortRange;

/// A configuration error, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The field, as a path (`interface[1].addresses[0]`).
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cores, memory and DPDK arguments.
    #[serde(default)]
    pub node: NodeConfig,
    /// Table and queue sizes.
    #[serde(default)]
    pub dataplane: DataplaneSection,
    /// The control API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Session defaults and limits.
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// The ng control protocol (rtpengine's, spoken by Kamailio and OpenSIPS).
    #[serde(default)]
    pub ng: NgConfig,
    /// The network interfaces.
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<InterfaceConfig>,
    /// Relay sessions set up at start, without an API.
    #[serde(default, rename = "static_session")]
    pub static_sessions: Vec<StaticSession>,
    /// The session store.
    #[serde(default)]
    pub ha: HaConfig,
}

/// `[node]`: cores, memory and DPDK arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// CPUs that run packet workers (one worker each).
    pub worker_cores: Vec<usize>,
    /// CPUs for the control side (APIs, slow path); the first is DPDK's main lcore.
    pub control_cores: Vec<usize>,
    /// Use hugepages (false: ordinary memory, `--no-huge`; for tests and small nodes).
    pub hugepages: bool,
    /// DPDK memory to reserve, MiB.
    pub memory_mb: u32,
    /// DPDK's runtime-file prefix, unique per process on a host.
    pub file_prefix: String,
    /// Extra EAL arguments, appended as given.
    pub eal_args: Vec<String>,
    /// Log format: "text" or "json".
    pub log_format: String,
    /// Seconds between two logs of the dataplane's counters.
    pub stats_log_seconds: u32,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            worker_cores: vec![1],
            control_cores: vec![0],
            hugepages: true,
            memory_mb: 512,
            file_prefix: "mediafwd".into(),
            eal_args: Vec::new(),
            log_format: "text".into(),
            stats_log_seconds: 60,
        }
    }
}

/// `[dataplane]`: table and queue sizes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneSection {
    /// Flows per worker (two per leg: RTP and RTCP).
    pub max_flows: usize,
    /// Next-hop (neighbor) entries.
    pub max_neighbors: usize,
    /// Packet buffers in the pool (a power of two minus one is best).
    pub mbufs: u32,
    /// Per-lcore buffer cache.
    pub mbuf_cache: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Slow-path ring slots per worker.
    pub slow_path_ring: u32,
    /// SRTP crypto engine: `auto` (ipsec-mb where it runs, else portable),
    /// `ipsec-mb` or `portable`.
    pub srtp_engine: String,
    /// Microseconds a worker sleeps once idle; 0 polls without pause.
    pub idle_sleep_us: u32,
    /// Where each worker's flow tables live: `hugepages` (DPDK memory on
    /// the worker's socket) or `heap`.
    pub table_memory: String,
    /// `[dataplane.police]`: budgets of the frames each worker punts to
    /// the slow path.
    pub police: PoliceSection,
}

impl Default for DataplaneSection {
    fn default() -> Self {
        DataplaneSection {
            max_flows: 1 << 17,
            max_neighbors: 1024,
            mbufs: 32767,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
            slow_path_ring: 1024,
            srtp_engine: "auto".to_string(),
            idle_sleep_us: 0,
            table_memory: "hugepages".to_string(),
            police: PoliceSection::default(),
        }
    }
}

/// `[api]`: the gRPC control API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port the API listens on (the management network; never
    /// one of the DPDK interfaces, which the kernel does not see).
    pub listen: String,
    /// PEM certificate chain: serve TLS.
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// PEM CA bundle: require client certificates signed by it (mutual TLS).
    pub tls_client_ca: Option<String>,
    /// Address and port of the Prometheus `/metrics` endpoint (plain HTTP,
    /// on the management network); empty: no metrics endpoint.
    pub metrics_listen: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:7070".into(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            metrics_listen: String::new(),
        }
    }
}

/// `[ng]`: the ng control protocol listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NgConfig {
    /// Address and port for ng over UDP (and TCP, see `tcp`), on the
    /// management network; empty: no ng listener.
    pub listen: String,
    /// Also accept ng over TCP on the same address and port.
    pub tcp: bool,
    /// Seconds a deleted call keeps relaying before it is removed, when the
    /// `delete` request gives no `delete delay`.
    pub delete_delay: u32,
    /// The interfaces of a call's two sides when an offer names none with
    /// `direction`; default: the first interface for both.
    pub direction: Vec<String>,
    /// Replies kept for retransmitted requests (for 30 seconds each).
    pub reply_cache: usize,
    /// Seconds an offered call waits for its answer (ringing) without media
    /// before the media timeout may end it.
    pub offer_timeout: u32,
}

impl Default for NgConfig {
    fn default() -> Self {
        NgConfig {
            listen: String::new(),
            tcp: true,
            delete_delay: 0,
            direction: Vec::new(),
            reply_cache: 65536,
            offer_timeout: 3600,
        }
    }
}

/// `[sessions]`: defaults and limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session whose legs receive no media this long ends (seconds).
    pub media_timeout: u32,
    /// No session lives longer than this (seconds; 0: no limit).
    pub max_lifetime: u32,
    /// A freed relay port waits this long before reuse (seconds).
    pub port_quarantine: u32,
    /// Sessions at once (0: as many as the flow table and ports allow).
    pub max_sessions: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { media_timeout: 60, max_lifetime: 4 * 3600, port_quarantine: 10, max_sessions: 0 }
    }
}

/// `[[interface]]`: one network, on a DPDK port (several interfaces may
/// share a port on different VLANs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Name used by the APIs ("public", "private", ...).
    pub name: String,
    /// The DPDK port: a PCI address (`0000:3b:02.0`) or a virtual device
    /// with its arguments (`net_af_packet0,iface=veth0`).
    pub device: String,
    /// Our addresses with prefix length (`198.18.0.1/24`, `2001:db8::1/64`).
    pub addresses: Vec<String>,
    /// IPv4 default gateway.
    #[serde(default)]
    pub gateway4: Option<String>,
    /// IPv6 default gateway.
    #[serde(default)]
    pub gateway6: Option<String>,
    /// 802.1Q VLAN id (1-4094); none: untagged.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// MTU.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// Local UDP ports for relay legs, `"30000-39999"`.
    #[serde(default = "default_rtp_ports")]
    pub rtp_ports: String,
}

fn default_mtu() -> u16 {
    1500
}

fn default_rtp_ports() -> String {
    "30000-39999".into()
}

/// `[[static_session]]`: a relay between two legs, set up at start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticSession {
    /// Session id.
    pub id: String,
    /// Exactly two legs.
    pub legs: Vec<StaticLeg>,
}

/// One leg of a static session.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticLeg {
    /// The interface the leg is on.
    pub interface: String,
    /// Our local address on it (default: the interface's first of the remote's family).
    #[serde(default)]
    pub local_address: Option<String>,
    /// Our local RTP port (even; RTCP is the next one).
    pub local_port: u16,
    /// The endpoint's RTP address, if known (`"198.18.0.2:5000"`, `"[2001:db8::2]:5000"`).
    #[serde(default)]
    pub remote: Option<String>,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    #[serde(default)]
    pub rtcp_mux: bool,
    /// Latching: "off", "once" or "follow".
    #[serde(default = "default_latch")]
    pub latch: String,
    /// Drop packets from other sources than the remote.
    #[serde(default)]
    pub strict_source: bool,
    /// SRTP keys of what the endpoint sends us (unprotected here); none: plain RTP.
    #[serde(default)]
    pub srtp_inbound: Option<StaticSrtp>,
    /// SRTP keys of what we send the endpoint (protected here); none: plain RTP.
    #[serde(default)]
    pub srtp_outbound: Option<StaticSrtp>,
}

/// The SRTP keys of one direction of a static leg: the API's `SrtpParams`,
/// with the byte fields in hex.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticSrtp {
    /// RFC 4568 suite name, such as `"AES_CM_128_HMAC_SHA1_80"`.
    pub suite: String,
    /// Master key, hex.
    pub master_key: String,
    /// Master salt, hex.
    pub master_salt: String,
    /// Master key identifier, hex; empty: none.
    #[serde(default)]
    pub mki: String,
    /// Key lifetime in packets; 0: the suite's maximum.
    #[serde(default)]
    pub lifetime: u64,
}

impl StaticSrtp {
    /// The policy these keys make, checked as the API checks its
    /// `SrtpParams`; errors name the field under `field`.
    pub fn policy(&self, field: &str) -> Result<mediafwd_dataplane::srtp::Policy, ConfigError> {
        let bytes = |name: &str, s: &str| {
            hex_bytes(s).ok_or_else(|| ConfigError::new(format!("{field}.{name}"), format!("{s:?} is not hex")))
        };
        let params = mediafwd_proto::v1::SrtpParams {
            suite: self.suite.clone(),
            master_key: bytes("master_key", &self.master_key)?,
            master_salt: bytes("master_salt", &self.master_salt)?,
            mki: bytes("mki", &self.mki)?,
            lifetime: self.lifetime,
        };
        match crate::api::convert::srtp(field, &Some(params)) {
            Ok(Some(policy)) => Ok(policy),
            Ok(None) => Err(ConfigError::new(format!("{field}.suite"), "required")),
            Err(crate::control::Error::Invalid { field, message }) => Err(ConfigError::new(field, message)),
            Err(e) => Err(ConfigError::new(field, e.to_string())),
        }
    }
}

/// Bytes from hex digits.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn default_latch() -> String {
    "off".into()
}

/// A validated interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its DPDK device.
    pub device: Device,
    /// Its addresses.
    pub addresses: Vec<IpNet>,
    /// IPv4 gateway.
    pub gateway4: Option<std::net::Ipv4Addr>,
    /// IPv6 gateway.
    pub gateway6: Option<std::net::Ipv6Addr>,
    /// VLAN.
    pub vlan: Option<u16>,
    /// MTU.
    pub mtu: u16,
    /// RTP port range.
    pub rtp_ports: PortRange,
}

/// A validated configuration: what the node starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The file as read.
    pub raw: Config,
    /// Interfaces, in file order.
    pub interfaces: Vec<Interface>,
}

impl Config {
    /// Reads and parses `path` (TOML syntax and unknown fields are reported
    /// with their location).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), format!("cannot read the file: {e}")))?;
        Config::parse(&text)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            let field = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                }
                None => "config".into(),
            };
            ConfigError::new(field, message)
        })
    }

    /// Checks every field and their combinations.
    pub fn validate(self) -> Result<Validated, ConfigError> {
        self.validate_node()?;
        self.validate_dataplane()?;
        self.validate_api()?;
        self.ha.validate()?;
        if self.interfaces.is_empty() {
            return Err(ConfigError::new("interface", "at least one [[interface]] is required"));
        }
        let mut interfaces = Vec::new();
        let mut names = HashSet::new();
        for (i, ic) in self.interfaces.iter().enumerate() {
            let at = |f: &str| format!("interface[{i}].{f}");
            if ic.name.is_empty() || !ic.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ConfigError::new(at("name"), "use letters, digits, '-' and '_'"));
            }
            if !names.insert(ic.name.clone()) {
                return Err(ConfigError::new(at("name"), format!("{:?} is used by another interface", ic.name)));
            }
            let device = expand_env(&ic.device, |n| std::env::var(n).ok())
                .and_then(|d| Device::parse(&d))
                .map_err(|m| ConfigError::new(at("device"), m))?;
            if ic.addresses.is_empty() {
                return Err(ConfigError::new(at("addresses"), "at least one address with prefix is required"));
            }
            let mut addresses = Vec::new();
            for (j, a) in ic.addresses.iter().enumerate() {
                addresses.push(a.parse::<IpNet>().map_err(|m| ConfigError::new(at(&format!("addresses[{j}]")), m))?);
            }
            let gateway4 = parse_gateway(&ic.gateway4, &at("gateway4"), &addresses, true)?.map(|ip| match ip {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => unreachable!("checked"),
            });
            let gateway6 = parse_gateway(&ic.gateway6, &at("gateway6"), &addresses, false)?.map(|ip| match ip {
                IpAddr::V6(a) => a,
                IpAddr::V4(_) => unreachable!("checked"),
            });
            if let Some(v) = ic.vlan {
                if !(1..=4094).contains(&v) {
                    return Err(ConfigError::new(at("vlan"), format!("{v} is not a VLAN id (1-4094)")));
                }
            }
            if !(576..=9000).contains(&ic.mtu) {
                return Err(ConfigError::new(at("mtu"), format!("{} is outside 576-9000", ic.mtu)));
            }
            let rtp_ports = ic.rtp_ports.parse::<PortRange>().map_err(|m| ConfigError::new(at("rtp_ports"), m))?;
            interfaces.push(Interface {
                name: ic.name.clone(),
                device,
                addresses,
                gateway4,
                gateway6,
                vlan: ic.vlan,
                mtu: ic.mtu,
                rtp_ports,
            });
        }
        check_shared_devices(&interfaces)?;
        check_overlaps(&interfaces)?;
        self.validate_ng(&interfaces)?;
        let v = Validated { raw: self, interfaces };
        v.validate_static_sessions()?;
        Ok(v)
    }

    fn validate_node(&self) -> Result<(), ConfigError> {
        let n = &self.node;
        if n.worker_cores.is_empty() {
            return Err(ConfigError::new("node.worker_cores", "at least one worker core is required"));
        }
        if n.control_cores.is_empty() {
            return Err(ConfigError::new("node.control_cores", "at least one control core is required"));
        }
        for (field, cores) in [("node.worker_cores", &n.worker_cores), ("node.control_cores", &n.control_cores)] {
            let mut seen = HashSet::new();
            for &c in cores {
                if !seen.insert(c) {
                    return Err(ConfigError::new(field, format!("CPU {c} is listed twice")));
                }
            }
        }
        if let Some(c) = n.worker_cores.iter().find(|c| n.control_cores.contains(c)) {
            return Err(ConfigError::new(
                "node.worker_cores",
                format!("CPU {c} is also a control core; a worker polls its core at 100%, give it its own"),
            ));
        }
        if n.memory_mb < 64 {
            return Err(ConfigError::new("node.memory_mb", "at least 64 MiB"));
        }
        if n.file_prefix.is_empty() || n.file_prefix.contains('/') {
            return Err(ConfigError::new("node.file_prefix", "a non-empty name without '/'"));
        }
        if n.log_format != "text" && n.log_format != "json" {
            return Err(ConfigError::new("node.log_format", "\"text\" or \"json\""));
        }
        Ok(())
    }

    fn validate_api(&self) -> Result<(), ConfigError> {
        let a = &self.api;
        let listen = a
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::new("api.listen", format!("{:?} is not address:port", a.listen)))?;
        if !a.metrics_listen.is_empty() {
            let m = a.metrics_listen.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "api.metrics_listen",
                    format!("{:?} is not address:port (leave it empty for no metrics endpoint)", a.metrics_listen),
                )
            })?;
            if m.port() != 0 && m.port() == listen.port() && (m.ip() == listen.ip() || m.ip().is_unspecified()) {
                return Err(ConfigError::new(
                    "api.metrics_listen",
                    format!("{m} is the gRPC API's address; use another port"),
                ));
            }
        }
        match (&a.tls_cert, &a.tls_key) {
            (Some(_), None) => return Err(ConfigError::new("api.tls_key", "tls_cert needs its key")),
            (None, Some(_)) => return Err(ConfigError::new("api.tls_cert", "tls_key needs its certificate")),
            _ => {}
        }
        if a.tls_client_ca.is_some() && a.tls_cert.is_none() {
            return Err(ConfigError::new("api.tls_client_ca", "mutual TLS needs tls_cert and tls_key"));
        }
        for (f, p) in
            [("api.tls_cert", &a.tls_cert), ("api.tls_key", &a.tls_key), ("api.tls_client_ca", &a.tls_client_ca)]
        {
            if let Some(p) = p {
                if !Path::new(p).is_file() {
                    return Err(ConfigError::new(f, format!("{p}: no such file")));
                }
            }
        }
        if self.sessions.media_timeout == 0 {
            return Err(ConfigError::new("sessions.media_timeout", "at least 1 second"));
        }
        Ok(())
    }

    fn validate_ng(&self, interfaces: &[Interface]) -> Result<(), ConfigError> {
        let n = &self.ng;
        if !n.listen.is_empty() {
            let addr = n.listen.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new("ng.listen", format!("{:?} is not address:port (e.g. \"127.0.0.1:22222\")", n.listen))
            })?;
            if self.api.listen.parse::<SocketAddr>().is_ok_and(|a| a == addr && a.port() != 0) {
                return Err(ConfigError::new("ng.listen", format!("{addr} is also api.listen; give ng its own port")));
            }
        }
        match n.direction.len() {
            0 | 2 => {}
            k => {
                return Err(ConfigError::new(
                    "ng.direction",
                    format!("two interface names (caller side, callee side), not {k}"),
                ))
            }
        }
        for (i, name) in n.direction.iter().enumerate() {
            if !interfaces.iter().any(|f| &f.name == name) {
                return Err(ConfigError::new(format!("ng.direction[{i}]"), format!("no interface named {name:?}")));
            }
        }
        if n.reply_cache == 0 || n.reply_cache > 1 << 22 {
            return Err(ConfigError::new("ng.reply_cache", "between 1 and 4194304"));
        }
        if n.offer_timeout == 0 || n.offer_timeout > 86400 {
            return Err(ConfigError::new("ng.offer_timeout", format!("{} s: between 1 and 86400", n.offer_timeout)));
        }
        if n.delete_delay > 3600 {
            return Err(ConfigError::new("ng.delete_delay", format!("{} s: at most 3600", n.delete_delay)));
        }
        Ok(())
    }

    fn validate_dataplane(&self) -> Result<(), ConfigError> {
        let d = &self.dataplane;
        if d.max_flows == 0 || d.max_flows > 1 << 24 {
            return Err(ConfigError::new("dataplane.max_flows", "between 1 and 16777216"));
        }
        if d.max_neighbors == 0 {
            return Err(ConfigError::new("dataplane.max_neighbors", "at least 1"));
        }
        if d.mbufs < 1024 {
            return Err(ConfigError::new("dataplane.mbufs", "at least 1024"));
        }
        if d.mbuf_cache > 512 || d.mbuf_cache as u64 * 2 > d.mbufs as u64 {
            return Err(ConfigError::new("dataplane.mbuf_cache", "at most 512 and at most half of mbufs"));
        }
        for (f, v) in [("dataplane.rx_desc", d.rx_desc), ("dataplane.tx_desc", d.tx_desc)] {
            if v < 64 || !v.is_power_of_two() {
                return Err(ConfigError::new(f, format!("{v}: a power of two, at least 64")));
            }
        }
        if !d.slow_path_ring.is_power_of_two() || d.slow_path_ring < 64 {
            return Err(ConfigError::new("dataplane.slow_path_ring", "a power of two, at least 64"));
        }
        if d.srtp_engine != "auto" && d.srtp_engine.parse::<mediafwd_dataplane::srtp::EngineKind>().is_err() {
            return Err(ConfigError::new("dataplane.srtp_engine", "\"auto\", \"ipsec-mb\" or \"portable\""));
        }
        if let Err(e) = d.table_memory.parse::<mediafwd_dataplane::memory::TableMemory>() {
            return Err(ConfigError::new("dataplane.table_memory", e));
        }
        if d.idle_sleep_us > 10_000 {
            return Err(ConfigError::new("dataplane.idle_sleep_us", format!("{}: at most 10000", d.idle_sleep_us)));
        }
        d.police.validate()
    }
}

fn parse_gateway(g: &Option<String>, field: &str, addrs: &[IpNet], v4: bool) -> Result<Option<IpAddr>, ConfigError> {
    let Some(g) = g else { return Ok(None) };
    let ip: IpAddr = g.parse().map_err(|_| ConfigError::new(field, format!("{g:?} is not an IP address")))?;
    if ip.is_ipv4() != v4 {
        return Err(ConfigError::new(field, format!("{ip} is not an IPv{} address", if v4 { 4 } else { 6 })));
    }
    let link_local = matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    if !link_local && !addrs.iter().any(|a| a.contains(ip)) {
        return Err(ConfigError::new(field, format!("{ip} is not on any of the interface's networks")));
    }
    Ok(Some(ip))
}

/// Interfaces sharing a device must be told apart by VLAN.
fn check_shared_devices(ifs: &[Interface]) -> Result<(), ConfigError> {
    for (i, a) in ifs.iter().enumerate() {
        for b in &ifs[..i] {
            if a.device.name() == b.device.name() {
                if a.device != b.device {
                    return Err(ConfigError::new(
                        format!("interface[{i}].device"),
                        format!("same port as {:?} with different arguments", b.name),
                    ));
                }
                if a.vlan == b.vlan {
                    return Err(ConfigError::new(
                        format!("interface[{i}].vlan"),
                        format!("interface {:?} shares the port and VLAN; give each a different vlan", b.name),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// No address may belong to two interfaces; port ranges of interfaces that
/// share an address family on one port may not overlap.
fn check_overlaps(ifs: &[Interface]) -> Result<(), ConfigError> {
    for (i, a) in ifs.iter().enumerate() {
        for b in &ifs[..i] {
            if let Some(addr) = a.addresses.iter().find(|x| b.addresses.iter().any(|y| y.addr() == x.addr())) {
                return Err(ConfigError::new(
                    format!("interface[{i}].addresses"),
                    format!("{} is also an address of {:?}", addr.addr(), b.name),
                ));
            }
            if a.device.name() == b.device.name() && a.rtp_ports.overlaps(&b.rtp_ports) {
                return Err(ConfigError::new(
                    format!("interface[{i}].rtp_ports"),
                    format!("{} overlaps {} of {:?} on the same port", a.rtp_ports, b.rtp_ports, b.name),
                ));
            }
        }
    }
    Ok(())
}

impl Validated {
    /// The interface named `name`, with its index.
    pub fn interface(&self, name: &str) -> Option<(usize, &Interface)> {
        self.interfaces.iter().enumerate().find(|(_, i)| i.name == name)
    }

    fn validate_static_sessions(&self) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        let mut used = HashSet::new();
        for (i, s) in self.raw.static_sessions.iter().enumerate() {
            let at = |f: &str| format!("static_session[{i}].{f}");
            if !ids.insert(&s.id) {
                return Err(ConfigError::new(at("id"), format!("{:?} is used twice", s.id)));
            }
            if s.legs.len() != 2 {
                return Err(ConfigError::new(at("legs"), "a session has exactly two legs"));
            }
            for (j, leg) in s.legs.iter().enumerate() {
                let at = |f: &str| format!("static_session[{i}].legs[{j}].{f}");
                let Some((_, iface)) = self.interface(&leg.interface) else {
                    return Err(ConfigError::new(at("interface"), format!("no interface named {:?}", leg.interface)));
                };
                if leg.local_port % 2 != 0 || leg.local_port == u16::MAX - 1 {
                    return Err(ConfigError::new(at("local_port"), "an even port below 65534 (RTCP uses the next)"));
                }
                let remote = match &leg.remote {
                    Some(r) => Some(
                        r.parse::<SocketAddr>()
                            .map_err(|_| ConfigError::new(at("remote"), format!("{r:?} is not address:port")))?,
                    ),
                    None => None,
                };
                let local =
                    self.leg_local_address(iface, leg, remote).map_err(|m| ConfigError::new(at("local_address"), m))?;
                if !used.insert((iface.device.name().to_string(), local, leg.local_port)) {
                    return Err(ConfigError::new(
                        at("local_port"),
                        format!("{local}:{} is used by another leg", leg.local_port),
                    ));
                }
                crate::session::LatchSetting::parse(&leg.latch).map_err(|m| ConfigError::new(at("latch"), m))?;
                for (name, keys) in [("srtp_inbound", &leg.srtp_inbound), ("srtp_outbound", &leg.srtp_outbound)] {
                    if let Some(k) = keys {
                        k.policy(&at(name))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The local address of a static leg: the configured one, or the
    /// interface's first address of the remote's family (IPv4 if unknown).
    pub fn leg_local_address(
        &self,
        iface: &Interface,
        leg: &StaticLeg,
        remote: Option<SocketAddr>,
    ) -> Result<IpAddr, String> {
        match &leg.local_address {
            Some(a) => {
                let ip: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an IP address"))?;
                if !iface.addresses.iter().any(|n| n.addr() == ip) {
                    return Err(format!("{ip} is not an address of interface {:?}", iface.name));
                }
                Ok(ip)
            }
            None => {
                let v4 = remote.map(|r| r.is_ipv4()).unwrap_or(true);
                iface
                    .addresses
                    .iter()
                    .map(IpNet::addr)
                    .find(|a| a.is_ipv4() == v4)
                    .ok_or_else(|| format!("interface {:?} has no IPv{} address", iface.name, if v4 { 4 } else { 6 }))
            }
        }
    }
}
