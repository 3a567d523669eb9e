//! Calls on a mediafwd node, through its gRPC API: one CreateSession per
//! call with both remotes (and SRTP keys) known, as a SIP tier does after
//! the answer; DeleteSession at the end; GetNodeStats for the node's side
//! of the story.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use mediafwd_proto::v1 as pb;
use pb::media_relay_client::MediaRelayClient;
use tonic::transport::{Channel, Endpoint};

use super::Plan;
use crate::session::{Keys, Session};

/// Where and how to create the sessions.
#[derive(Debug, Clone)]
pub struct Target {
    /// The API, e.g. `http://127.0.0.1:7070`.
    pub url: String,
    /// The node's interfaces for leg a and leg b; sessions take them
    /// round-robin.
    pub interfaces: [Vec<Interface>; 2],
    /// The sessions' media timeout, seconds (long enough for the setup of
    /// every session and the whole run).
    pub media_timeout: u32,
    /// Requests in flight.
    pub concurrency: usize,
    /// How long to wait for the API to answer at all.
    pub connect_timeout: Duration,
}

/// A node interface as the generator reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name in the node's configuration.
    pub name: String,
    /// The 802.1Q tag of its frames.
    pub vlan: Option<u16>,
    /// The generator port it is reached by (default: 0 for leg a, 1 for leg b).
    pub port: Option<u8>,
}

impl Interface {
    /// Parses `NAME[:VLAN][@PORT]`.
    pub fn parse(s: &str) -> anyhow::Result<Interface> {
        let (rest, port) = match s.split_once('@') {
            Some((r, p)) => (r, Some(p.parse().with_context(|| format!("port index in {s:?}"))?)),
            None => (s, None),
        };
        let (name, vlan) = match rest.split_once(':') {
            Some((n, v)) => (n, Some(v.parse().with_context(|| format!("VLAN in {s:?}"))?)),
            None => (rest, None),
        };
        if name.is_empty() {
            bail!("interface {s:?} has no name");
        }
        Ok(Interface { name: name.to_string(), vlan, port })
    }
}

async fn connect(url: &str, timeout: Duration) -> anyhow::Result<MediaRelayClient<Channel>> {
    let endpoint = Endpoint::from_shared(url.to_string()).with_context(|| format!("API address {url:?}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match endpoint.connect().await {
            Ok(ch) => return Ok(MediaRelayClient::new(ch)),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("connecting to mediafwd's API at {url}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn srtp(k: &Option<Keys>) -> anyhow::Result<Option<pb::SrtpParams>> {
    let Some(k) = k else { return Ok(None) };
    let mk = k.master_key()?;
    Ok(Some(pb::SrtpParams {
        suite: k.suite.clone(),
        master_key: mk.key().to_vec(),
        master_salt: mk.salt().to_vec(),
        mki: Vec::new(),
        lifetime: 0,
    }))
}

fn addr(e: &Option<pb::Endpoint>) -> anyhow::Result<SocketAddr> {
    let e = e.as_ref().context("the node's answer has no local address")?;
    Ok(SocketAddr::new(e.address.parse().with_context(|| format!("address {:?}", e.address))?, e.port as u16))
}

/// The CreateSession request of session `s`.
pub fn request(target: &Target, plan: &Plan, s: u32) -> anyhow::Result<pb::CreateSessionRequest> {
    let mut legs = Vec::new();
    for (j, label) in ["a", "b"].into_iter().enumerate() {
        let ifaces = &target.interfaces[j];
        let iface = &ifaces[s as usize % ifaces.len()].name;
        let (send, recv) = plan.keys(s, j);
        let ep = plan.endpoints[j].endpoint(s);
        legs.push(pb::LegSpec {
            label: label.into(),
            interface: iface.clone(),
            remote: Some(pb::Endpoint { address: ep.ip().to_string(), port: u32::from(ep.port()) }),
            clock_rate: 8000,
            srtp_inbound: srtp(&send)?,
            srtp_outbound: srtp(&recv)?,
            ..Default::default()
        });
    }
    Ok(pb::CreateSessionRequest {
        session_id: plan.id(s),
        legs,
        media_timeout_seconds: target.media_timeout,
        max_lifetime_seconds: 0,
    })
}

/// Creates `plan`'s sessions; returns them with the node's addresses.
pub fn create(target: &Target, plan: &Plan) -> anyhow::Result<Vec<Session>> {
    runtime()?.block_on(async {
        let client = connect(&target.url, target.connect_timeout).await?;
        let workers = target.concurrency.clamp(1, 256);
        let mut tasks = Vec::new();
        for w in 0..workers {
            let mut client = client.clone();
            let (target, plan) = (target.clone(), plan.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for s in (w as u32..plan.sessions).step_by(workers) {
                    let req = request(&target, &plan, s)?;
                    let reply = loop {
                        match client.create_session(req.clone()).await {
                            Ok(r) => break r.into_inner(),
                            // The control loop's queue is full: retry.
                            Err(st) if st.code() == tonic::Code::ResourceExhausted && st.message().contains("busy") => {
                                tokio::time::sleep(Duration::from_millis(5)).await
                            }
                            Err(st) => bail!("CreateSession {}: {}: {}", req.session_id, st.code(), st.message()),
                        }
                    };
                    if reply.legs.len() != 2 {
                        bail!("CreateSession {}: {} legs in the answer", req.session_id, reply.legs.len());
                    }
                    let mut legs = Vec::new();
                    for (j, l) in reply.legs.iter().enumerate() {
                        let ifaces = &target.interfaces[j];
                        let iface = &ifaces[s as usize % ifaces.len()];
                        let mut leg = plan.leg(s, j, addr(&l.local)?, iface.vlan);
                        if let Some(p) = iface.port {
                            leg.side = p;
                        }
                        legs.push(leg);
                    }
                    let legs: [_; 2] = legs.try_into().expect("two legs");
                    out.push((s, Session { id: req.session_id, legs }));
                }
                anyhow::Ok(out)
            }));
        }
        let mut all = Vec::with_capacity(plan.sessions as usize);
        for t in tasks {
            all.extend(t.await??);
        }
        all.sort_by_key(|(s, _)| *s);
        Ok(all.into_iter().map(|(_, s)| s).collect())
    })
}

/// What the node reports about a run: its workers' counters and the
/// drops of the deleted sessions, by reason.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeReport {
    /// Sessions deleted.
    pub deleted: u64,
    /// Packets the deleted sessions' legs received.
    pub leg_packets: u64,
    /// Drops of the deleted sessions' legs, by reason.
    pub leg_drops: std::collections::BTreeMap<String, u64>,
    /// Drops of the workers, by reason.
    pub worker_drops: std::collections::BTreeMap<String, u64>,
}

/// Reads the node's worker drops, then (with `delete`) deletes `sessions`
/// and adds up their final statistics.
pub fn finish(target: &Target, sessions: &[Session], delete: bool) -> anyhow::Result<NodeReport> {
    runtime()?.block_on(async {
        // The node may be gone (stopped with us): do not wait long for it.
        let mut client = connect(&target.url, target.connect_timeout.min(Duration::from_secs(3))).await?;
        let mut report = NodeReport::default();
        let stats = client.get_node_stats(pb::GetNodeStatsRequest {}).await?.into_inner();
        for w in &stats.workers {
            for (k, v) in &w.drops {
                *report.worker_drops.entry(k.clone()).or_default() += v;
            }
        }
        if !delete {
            return Ok(report);
        }
        let workers = target.concurrency.clamp(1, 256);
        let mut tasks = Vec::new();
        for w in 0..workers {
            let mut client = client.clone();
            let ids: Vec<String> = sessions.iter().skip(w).step_by(workers).map(|s| s.id.clone()).collect();
            tasks.push(tokio::spawn(async move {
                let mut part = NodeReport::default();
                for id in ids {
                    let s = loop {
                        match client.delete_session(pb::DeleteSessionRequest { session_id: id.clone() }).await {
                            Ok(r) => break Some(r.into_inner()),
                            Err(st) if st.code() == tonic::Code::ResourceExhausted => {
                                tokio::time::sleep(Duration::from_millis(5)).await
                            }
                            // Ended by itself meanwhile (media timeout).
                            Err(st) if st.code() == tonic::Code::NotFound => break None,
                            Err(st) => bail!("DeleteSession {id}: {}: {}", st.code(), st.message()),
                        }
                    };
                    let Some(s) = s else { continue };
                    part.deleted += 1;
                    for l in &s.legs {
                        let Some(st) = &l.stats else { continue };
                        part.leg_packets += st.packets;
                        for (k, v) in &st.drops {
                            *part.leg_drops.entry(k.clone()).or_default() += v;
                        }
                    }
                }
                anyhow::Ok(part)
            }));
        }
        for t in tasks {
            let part = t.await??;
            report.deleted += part.deleted;
            report.leg_packets += part.leg_packets;
            for (k, v) in part.leg_drops {
                *report.leg_drops.entry(k).or_default() += v;
            }
        }
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::EndpointPlan;
    use mediafwd_dataplane::srtp::Suite;
    use std::net::Ipv4Addr;

    #[test]
    fn requests_carry_remotes_interfaces_and_keys() {
        let plan = Plan {
            sessions: 4,
            endpoints: [
                EndpointPlan { base: Ipv4Addr::new(198, 18, 64, 0), hosts: 16, first_port: 20_000 },
                EndpointPlan { base: Ipv4Addr::new(198, 19, 64, 0), hosts: 16, first_port: 20_000 },
            ],
            sides: [0, 1],
            srtp: [Some(Suite::AeadAes128Gcm), None],
            seed: 9,
            id_prefix: "run".into(),
        };
        let target = Target {
            url: "http://127.0.0.1:7070".into(),
            interfaces: [
                vec![Interface::parse("pub0:100").unwrap(), Interface::parse("pub1:101@2").unwrap()],
                vec![Interface::parse("priv").unwrap()],
            ],
            media_timeout: 600,
            concurrency: 4,
            connect_timeout: Duration::from_secs(1),
        };
        let r = request(&target, &plan, 3).unwrap();
        assert_eq!(r.session_id, "run-3");
        assert_eq!(r.media_timeout_seconds, 600);
        assert_eq!((r.legs[0].interface.as_str(), r.legs[1].interface.as_str()), ("pub1", "priv"));
        assert_eq!(r.legs[0].remote.as_ref().unwrap().address, "198.18.64.3");
        let inb = r.legs[0].srtp_inbound.as_ref().unwrap();
        assert_eq!((inb.suite.as_str(), inb.master_key.len(), inb.master_salt.len()), ("AEAD_AES_128_GCM", 16, 12));
        assert_ne!(r.legs[0].srtp_outbound.as_ref().unwrap().master_key, inb.master_key);
        assert!(r.legs[1].srtp_inbound.is_none() && r.legs[1].srtp_outbound.is_none());
    }

    #[test]
    fn interface_specs() {
        assert_eq!(Interface::parse("pub").unwrap(), Interface { name: "pub".into(), vlan: None, port: None });
        assert_eq!(
            Interface::parse("pub:7@3").unwrap(),
            Interface { name: "pub".into(), vlan: Some(7), port: Some(3) }
        );
        assert_eq!(Interface::parse("pub@3").unwrap(), Interface { name: "pub".into(), vlan: None, port: Some(3) });
        assert!(Interface::parse(":7").is_err());
        assert!(Interface::parse("pub:x").is_err());
    }
}
