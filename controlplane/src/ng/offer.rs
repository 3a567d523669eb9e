//! Offer and answer: from the SDP one side sends, the relay sessions of
//! the call's media sections and the SDP for the other side. The side of
//! `from-tag` offers; the side of `to-tag` answers. Transport, rtcp-mux and
//! SDES keys are negotiated here; codecs pass untouched.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mediafwd_dataplane::flow::LatchMode;
use mediafwd_dataplane::srtp::sdes::CryptoAttribute;

use super::bencode::Dict;
use super::call::{session_id, Call, Keys, MediaSlot, MuxOptions, Offer};
use super::commands::{error, from_error, is_savp, required, unix_now, Engine, Failure};
use super::message::Request;
use super::sdes::{self, SdesOptions};
use super::sdp::{MediaOut, Rewrite, RtcpAttribute, Sdp};
use super::stats::put;
use super::webrtc::{self, WebLeg};
use crate::control::{self, CreateSession, SessionView, UpdateLeg};
use crate::session::{LegRequest, DEFAULT_CLOCK_RATE};
use mediafwd_dtls::Role;

/// Flags mediafwd acts on, or that ask for what it does anyway: accepted
/// without a warning.
const QUIET_FLAGS: &[&str] = &[
    "trust address",
    "symmetric",
    "port latching",
    "no port latching",
    "original sendrecv",
    "reset",
    "fatal",
    "asymmetric",
    "strict source",
    "media handover",
    "sip source address",
    "no rtcp attribute",
    "full rtcp attribute",
    "reject ice",
    "pad crypto",
    "generate mid",
];

/// What the flags of an offer or answer ask.
#[derive(Debug, Clone, Default)]
pub(super) struct Options {
    latch: LatchMode,
    strict_source: bool,
    sip_source: bool,
    rtcp_attr: Option<bool>, // None: short form; Some(false): omit; Some(true): full
    mux: MuxOptions,
    sdes: SdesOptions,
    /// Our DTLS role towards the receiver of this SDP (`DTLS`), and towards its sender (`DTLS-reverse`).
    dtls: Option<Role>,
    dtls_reverse: Option<Role>,
}

impl Options {
    pub(super) fn of(req: &Request, warnings: &mut Vec<String>) -> Options {
        let mut o = Options { latch: LatchMode::Once, ..Default::default() };
        if req.flag("asymmetric") {
            o.latch = LatchMode::Off;
        }
        if req.flag("media handover") {
            o.latch = LatchMode::Follow;
        }
        o.strict_source = req.flag("strict source");
        o.sip_source = req.flag("sip source address");
        if req.flag("no rtcp attribute") {
            o.rtcp_attr = Some(false);
        } else if req.flag("full rtcp attribute") {
            o.rtcp_attr = Some(true);
        }
        let mut unknown = Vec::new();
        for m in &req.rtcp_mux {
            match m.as_str() {
                "offer" => o.mux.offer = true,
                "require" => o.mux.require = true,
                "demux" => o.mux.demux = true,
                "accept" => o.mux.accept = true,
                "reject" => o.mux.reject = true,
                _ => unknown.push(format!("rtcp-mux-{m}")),
            }
        }
        let sdes_flags = req
            .raw_flags
            .iter()
            .filter_map(|f| f.get(5..).filter(|_| f.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("sdes-"))));
        let (sdes, sdes_unknown) = SdesOptions::parse(req.sdes.iter().map(String::as_str).chain(sdes_flags));
        o.sdes = sdes;
        o.dtls = webrtc::role_of(req.dtls.as_deref());
        o.dtls_reverse = webrtc::role_of(req.dtls_reverse.as_deref());
        unknown.extend(sdes_unknown);
        for (flag, raw) in req.flags.iter().zip(&req.raw_flags) {
            if !QUIET_FLAGS.contains(&flag.as_str()) && !flag.starts_with("sdes ") {
                unknown.push(raw.clone());
            }
        }
        if !unknown.is_empty() {
            warnings.push(format!("ignored flags: {}", unknown.join(", ")));
        }
        o
    }
}

/// The transport of one media section of an SDP, as a leg needs it.
struct Endpoint {
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    advertised: Option<SocketAddr>,
    hold: bool,
    v6: bool,
}

impl Endpoint {
    /// A WebRTC leg's: its remote comes from the ICE nomination, never from
    /// the SDP (whose `c=` is often `0.0.0.0`, which is no hold there).
    fn by_ice() -> Endpoint {
        Endpoint { remote: None, remote_rtcp: None, advertised: None, hold: false, v6: false }
    }
}

impl Engine {
    /// The transport a media section gives its endpoint.
    fn endpoint(&self, req: &Request, opts: &Options, sdp: &Sdp, k: usize) -> Result<Endpoint, Failure> {
        let m = &sdp.media[k];
        let advertised = m.rtp_endpoint(sdp).ok_or_else(|| error(format!("media {}: no c= address for it", k + 1)))?;
        let from_sip =
            if opts.sip_source { req.received_from.as_ref().and_then(|(_, a)| a.parse::<IpAddr>().ok()) } else { None };
        let ip = req.media_address.or(from_sip).unwrap_or(advertised.ip());
        let hold = ip.is_unspecified();
        let remote = (!hold).then(|| SocketAddr::new(ip, m.line.port));
        let rtcp = m.rtcp().ok().flatten();
        let remote_rtcp = remote.map(|r| match rtcp {
            Some((port, addr)) => SocketAddr::new(
                if req.media_address.is_some() || from_sip.is_some() { ip } else { addr.unwrap_or(ip) },
                port,
            ),
            None => SocketAddr::new(r.ip(), r.port().wrapping_add(1)),
        });
        Ok(Endpoint { remote, remote_rtcp, advertised: Some(advertised), hold, v6: ip.is_ipv6() })
    }

    /// Updates leg `i` of a media section's session; also gives it its label.
    async fn update(
        &self,
        slot: &mut MediaSlot,
        call: &Call,
        i: usize,
        change: impl FnOnce(&mut UpdateLeg),
    ) -> Result<SessionView, control::Error> {
        let id = slot.session.clone().unwrap_or_default();
        let label = call.label(i);
        let mut req = UpdateLeg::of(id, slot.labels[i].clone());
        if slot.labels[i] != label {
            req.label = Some(label.clone());
        }
        change(&mut req);
        let s = self.ask(|tx| control::Request::Update(Box::new(req), tx)).await?;
        slot.labels[i] = label;
        Ok(s)
    }

    /// Whether a leg on `iface` takes an IPv6 local address, `want_v6` if the interface has one.
    fn prefer_v6(&self, iface: &str, want_v6: bool) -> bool {
        let i = self.settings.interfaces.iter().find(|i| i.name == iface);
        match i {
            Some(i) if want_v6 && !i.v6 => false,
            Some(i) if !want_v6 && !i.v4 => true,
            _ => want_v6,
        }
    }

    pub(super) async fn offer(&mut self, req: &Request, warnings: &mut Vec<String>) -> Result<Dict, Failure> {
        let call_id = required(&req.call_id, "call-id")?;
        let from = required(&req.from_tag, "from-tag")?;
        let sdp = Sdp::parse(required(&req.sdp, "SDP body")?).map_err(|e| error(e.to_string()))?;
        let opts = Options::of(req, warnings);
        let now = unix_now();
        let (mut call, new) = match self.calls.remove(call_id) {
            Some(c) => (c, false),
            None => {
                // A side not named takes the other's, or the default.
                let named = |i: usize| req.direction.get(i).filter(|n| !n.is_empty()).cloned();
                let d = match (named(0), named(1)) {
                    (None, None) => self.settings.direction.clone(),
                    (Some(a), None) => [a.clone(), a],
                    (None, Some(b)) => [b.clone(), b],
                    (Some(a), Some(b)) => [a, b],
                };
                for name in &d {
                    self.interface(name)?;
                }
                (Call::new(call_id, from, req.to_tag.as_deref(), d, now), true)
            }
        };
        let result = self.offer_on(&mut call, &sdp, req, &opts, warnings, now).await;
        match &result {
            Err(_) if new => {
                for slot in &mut call.media {
                    self.drop_session(slot).await;
                }
            }
            _ => {
                if new {
                    self.counters.managed += 1;
                }
                self.calls.insert(call.id.clone(), call);
            }
        }
        result
    }

    async fn offer_on(
        &mut self,
        call: &mut Call,
        sdp: &Sdp,
        req: &Request,
        opts: &Options,
        warnings: &mut Vec<String>,
        now: f64,
    ) -> Result<Dict, Failure> {
        let from = required(&req.from_tag, "from-tag")?;
        call.delete_at = None;
        call.last_signal = now;
        call.awaiting_answer = Some(Instant::now());
        call.refreshed = Some(Instant::now());
        if req.via_branch.is_some() {
            call.via_branch = req.via_branch.clone();
        }
        // Which side sends this offer.
        let s = match call.leg_of(from) {
            Some(i) => i,
            None => match req.to_tag.as_deref().and_then(|t| call.leg_of(t)) {
                Some(j) => {
                    call.set_tag(1 - j, from, now);
                    1 - j
                }
                None if call.tags[1].is_none() => {
                    call.set_tag(1, from, now);
                    1
                }
                None => return Err(error(format!("from-tag {from:?} is not a side of call {:?}", call.id))),
            },
        };
        let r = 1 - s;
        if let Some(to) = req.to_tag.as_deref().filter(|t| *t != from) {
            if call.tags[r].is_none() {
                call.set_tag(r, to, now);
            }
        }
        let differs =
            req.direction.iter().zip([s, r]).any(|(name, leg)| !name.is_empty() && *name != call.interfaces[leg]);
        if differs {
            warnings.push("direction ignored: a call keeps the interfaces of its first offer".into());
        }
        if sdp.has_ice() && req.ice.as_deref() != Some("remove") && !req.flag("reject ice") {
            warnings.push("ICE is not supported: the ICE attributes were removed".into());
        }
        let mut outs = Vec::new();
        for (k, m) in sdp.media.iter().enumerate() {
            if call.media.len() <= k {
                call.media.push(MediaSlot::new(&m.line.media));
            }
            let mut slot = call.media[k].clone();
            let out = self.offer_media(call, &mut slot, sdp, k, s, req, opts, warnings).await;
            call.media[k] = slot;
            outs.push(out?);
        }
        let body = self.write(call, r, sdp, req, outs);
        let mut d = Dict::new();
        put(&mut d, "sdp", body);
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    async fn offer_media(
        &self,
        call: &Call,
        slot: &mut MediaSlot,
        sdp: &Sdp,
        k: usize,
        s: usize,
        req: &Request,
        opts: &Options,
        warnings: &mut Vec<String>,
    ) -> Result<MediaOut, Failure> {
        let r = 1 - s;
        let m = &sdp.media[k];
        if m.line.port == 0 {
            self.drop_session(slot).await;
            return Ok(MediaOut::Unchanged);
        }
        if !m.is_rtp() {
            self.drop_session(slot).await;
            warnings.push(format!("media {}: {} is not relayed; the stream was disabled", k + 1, m.line.proto));
            return Ok(MediaOut::Reject);
        }
        let sender_web = m.is_dtls();
        let ep = if sender_web { Endpoint::by_ice() } else { self.endpoint(req, opts, sdp, k)? };
        let sender_proto = m.line.proto.to_ascii_uppercase();
        let receiver_proto = req.transport_protocol.clone().unwrap_or_else(|| sender_proto.clone());
        if !matches!(
            receiver_proto.as_str(),
            "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF" | "UDP/TLS/RTP/SAVP" | "UDP/TLS/RTP/SAVPF"
        ) {
            return Err(error(format!(
                "transport protocol {receiver_proto}: use RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF or UDP/TLS/RTP/SAVPF"
            )));
        }
        let receiver_web = receiver_proto.starts_with("UDP/TLS/");
        // The sender's ICE and DTLS, kept for the answer (which decides our role).
        let sender_webleg = if sender_web {
            let mut w = slot.webrtc[s].clone().unwrap_or_else(|| WebLeg::ours(k.to_string(), None));
            w.learn(sdp, k)?;
            w.role = None;
            Some(w)
        } else {
            None
        };
        // SRTP from the sender: its key, and ours (kept on a re-offer of the same suite).
        let sender_keys = if m.is_srtp() {
            let theirs = sdes::choose(m.crypto_lines())
                .ok_or_else(|| error(format!("media {}: no a=crypto line mediafwd can use", k + 1)))?;
            let ours = match &slot.keys[s] {
                Some(kept) if kept.ours.suite == theirs.suite => {
                    CryptoAttribute { tag: theirs.tag, ..kept.ours.clone() }
                }
                _ => sdes::generate(theirs.tag, theirs.suite),
            };
            Some(Keys { theirs, ours })
        } else {
            None
        };
        // SRTP towards the receiver: our offer.
        let offered = if is_savp(&receiver_proto) {
            if opts.sdes.off {
                return Err(error(format!("{receiver_proto} needs SDES keys, and SDES is off")));
            }
            let suites = opts.sdes.suites(sender_keys.as_ref().map(|k| k.theirs.suite));
            if suites.is_empty() {
                return Err(error("the SDES options leave no crypto suite to offer"));
            }
            sdes::offer(&suites, slot.keys[r].as_ref().map(|k| &k.ours))
        } else {
            Vec::new()
        };
        let sender_mux = m.rtcp_mux();
        let mux = opts.mux;
        let mux_out = (sender_mux && !mux.demux && !mux.reject) || mux.offer || mux.require;
        let srtp =
            |k: &Option<Keys>| (k.as_ref().map(|k| sdes::policy(&k.theirs)), k.as_ref().map(|k| sdes::policy(&k.ours)));
        let view = match slot.session.clone() {
            Some(_) => {
                let changed = slot.keys[s] != sender_keys;
                let (inbound, outbound) = srtp(&sender_keys);
                let r = self
                    .update(slot, call, s, |u| {
                        u.remote = ep.remote;
                        u.remote_rtcp = ep.remote_rtcp;
                        u.hold = Some(ep.hold);
                        if sender_web {
                            u.rtcp_mux = Some(true);
                        }
                        u.latch = Some(opts.latch);
                        u.strict_source = Some(opts.strict_source);
                        if changed {
                            u.srtp_inbound = Some(inbound);
                            u.srtp_outbound = Some(outbound);
                        }
                    })
                    .await;
                match r {
                    Ok(v) => Some(v),
                    // Gone meanwhile (a media timeout): relay it anew.
                    Err(control::Error::NotFound(_)) => {
                        slot.session = None;
                        None
                    }
                    Err(e) => return Err(from_error(e)),
                }
            }
            None => None,
        };
        let view = match view {
            Some(v) => {
                // A label changed by this offer's tags.
                if slot.labels[r] != call.label(r) {
                    self.update(slot, call, r, |_| {}).await.map_err(from_error)?
                } else {
                    v
                }
            }
            None => {
                let (srtp_inbound, srtp_outbound) = srtp(&sender_keys);
                let want_v6 = match req.address_family.as_deref() {
                    Some("IP6") => true,
                    Some("IP4") => false,
                    _ => ep.v6,
                };
                let clock_rate = Some(m.clock_rate()).filter(|r| *r > 0).unwrap_or(DEFAULT_CLOCK_RATE);
                let leg = |i: usize, v6: bool| LegRequest {
                    label: call.label(i),
                    interface: call.interfaces[i].clone(),
                    local_port: None,
                    local_address: None,
                    prefer_v6: self.prefer_v6(&call.interfaces[i], v6),
                    remote: None,
                    remote_rtcp: None,
                    rtcp_mux: false,
                    latch: opts.latch,
                    strict_source: opts.strict_source,
                    clock_rate,
                    srtp_inbound: None,
                    srtp_outbound: None,
                };
                let sender = LegRequest {
                    remote: ep.remote,
                    remote_rtcp: ep.remote_rtcp,
                    rtcp_mux: sender_web,
                    srtp_inbound,
                    srtp_outbound,
                    ..leg(s, ep.v6)
                };
                // ICE and DTLS share the RTP port of a WebRTC leg.
                let receiver = LegRequest { rtcp_mux: mux.require || receiver_web, ..leg(r, want_v6) };
                let legs = if s == 0 { [sender, receiver] } else { [receiver, sender] };
                let create =
                    CreateSession { id: session_id(&call.id, k), legs, media_timeout: None, max_lifetime: None };
                let v = self.ask(|tx| control::Request::Create(Box::new(create), tx)).await.map_err(from_error)?;
                slot.session = Some(v.id.clone());
                slot.labels = [call.label(0), call.label(1)];
                slot.rtcp_mux = [false, mux.require || receiver_web];
                if s == 1 {
                    slot.rtcp_mux.swap(0, 1);
                }
                slot.rtcp_mux[s] = sender_web;
                slot.locals = v.legs.each_ref().map(|l| Some(l.local));
                if ep.hold {
                    self.update(slot, call, s, |u| u.hold = Some(true)).await.map_err(from_error)?;
                }
                v
            }
        };
        slot.kind = m.line.media.clone();
        slot.protos[s] = sender_proto.clone();
        slot.protos[r] = receiver_proto.clone();
        slot.advertised[s] = ep.advertised;
        slot.keys[s] = sender_keys;
        slot.webrtc[s] = sender_webleg;
        let ours = view.legs[r].local;
        // Towards a WebRTC receiver: our credentials, certificate and role
        // (`actpass` unless `DTLS` says), the sender's mid or one of ours.
        let attributes = if receiver_web {
            let mid = m.attribute(sdp, "mid").map(str::to_string).unwrap_or_else(|| k.to_string());
            let w = match slot.webrtc[r].clone() {
                Some(mut w) if w.role == opts.dtls || opts.dtls.is_none() => {
                    w.mid = mid;
                    w
                }
                _ => WebLeg::ours(mid, opts.dtls),
            };
            let v = self.setup_webrtc(slot.session.as_deref().unwrap_or_default(), &slot.labels[r], &w).await?;
            let lines = w.attributes(&v, ours);
            slot.webrtc[r] = Some(w);
            lines
        } else {
            slot.webrtc[r] = None;
            Vec::new()
        };
        let mux_out = mux_out || receiver_web;
        slot.offer = Some(Offer { sender: s, sender_mux, mux_out, mux, offered: offered.clone() });
        slot.reverse_dtls = opts.dtls_reverse;
        let rtcp_port = if slot.rtcp_mux[r] { ours.port() } else { ours.port().wrapping_add(1) };
        Ok(MediaOut::Relay {
            address: ours.ip(),
            port: ours.port(),
            rtcp: rtcp_attribute(opts, rtcp_port, ours.ip()),
            rtcp_mux: mux_out,
            proto: (receiver_proto != sender_proto).then_some(receiver_proto),
            crypto: Some(offered.iter().map(|c| c.to_string()).collect()),
            attributes,
        })
    }

    pub(super) async fn answer(&mut self, req: &Request, warnings: &mut Vec<String>) -> Result<Dict, Failure> {
        let call_id = required(&req.call_id, "call-id")?;
        let from = required(&req.from_tag, "from-tag")?;
        let to = required(&req.to_tag, "to-tag")?;
        let sdp = Sdp::parse(required(&req.sdp, "SDP body")?).map_err(|e| error(e.to_string()))?;
        let opts = Options::of(req, warnings);
        let Some(mut call) = self.calls.remove(call_id) else {
            return Err(error(format!("Unknown call-ID {call_id:?}")));
        };
        let result = self.answer_on(&mut call, &sdp, from, to, req, &opts, warnings).await;
        self.calls.insert(call.id.clone(), call);
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn answer_on(
        &mut self,
        call: &mut Call,
        sdp: &Sdp,
        from: &str,
        to: &str,
        req: &Request,
        opts: &Options,
        warnings: &mut Vec<String>,
    ) -> Result<Dict, Failure> {
        let now = unix_now();
        call.delete_at = None;
        call.last_signal = now;
        // The answering side has to-tag; the offerer from-tag.
        let a = match (call.leg_of(to), call.leg_of(from)) {
            (Some(a), _) => a,
            (None, Some(o)) => {
                call.set_tag(1 - o, to, now);
                1 - o
            }
            (None, None) => {
                return Err(error(format!("neither from-tag {from:?} nor to-tag {to:?} is a side of the call")))
            }
        };
        let o = 1 - a;
        if sdp.media.len() > call.media.len() {
            warnings.push(format!("the answer has {} media sections, the offer {}", sdp.media.len(), call.media.len()));
        }
        let mut outs = Vec::new();
        for (k, m) in sdp.media.iter().enumerate() {
            let Some(slot) = call.media.get(k) else {
                outs.push(MediaOut::Reject);
                continue;
            };
            let mut slot = slot.clone();
            let out = self.answer_media(call, &mut slot, sdp, k, a, req, opts).await;
            call.media[k] = slot;
            if let (Some(m0), Ok(MediaOut::Reject)) = (Some(m), &out) {
                if m0.line.port != 0 {
                    warnings.push(format!("media {}: not relayed", k + 1));
                }
            }
            outs.push(out?);
        }
        call.awaiting_answer = None;
        let body = self.write(call, o, sdp, req, outs);
        let mut d = Dict::new();
        put(&mut d, "sdp", body);
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    async fn answer_media(
        &self,
        call: &Call,
        slot: &mut MediaSlot,
        sdp: &Sdp,
        k: usize,
        a: usize,
        req: &Request,
        opts: &Options,
    ) -> Result<MediaOut, Failure> {
        let o = 1 - a;
        let m = &sdp.media[k];
        if slot.session.is_none() {
            return Ok(if m.line.port == 0 { MediaOut::Unchanged } else { MediaOut::Reject });
        }
        if m.line.port == 0 || !m.is_rtp() {
            // The answerer declined the stream.
            self.drop_session(slot).await;
            return Ok(if m.line.port == 0 { MediaOut::Unchanged } else { MediaOut::Reject });
        }
        let answer_web = slot.webrtc[a].is_some();
        if answer_web != m.is_dtls() {
            return Err(error(format!(
                "media {}: {} was offered, the answer is {}",
                k + 1,
                slot.protos[a],
                m.line.proto
            )));
        }
        let ep = if answer_web { Endpoint::by_ice() } else { self.endpoint(req, opts, sdp, k)? };
        let offer = slot.offer.clone().unwrap_or(Offer {
            sender: o,
            sender_mux: slot.rtcp_mux[o],
            mux_out: slot.rtcp_mux[a],
            mux: MuxOptions::default(),
            offered: slot.keys[a].iter().map(|k| k.ours.clone()).collect(),
        });
        let answer_mux = m.rtcp_mux() && offer.mux_out;
        let a_mux = answer_mux || offer.mux.require || answer_web;
        let o_web = slot.webrtc[o].is_some();
        let o_mux =
            (offer.sender_mux && !offer.mux.reject && (answer_mux || offer.mux.demux || offer.mux.accept)) || o_web;
        let a_keys = if is_savp(&slot.protos[a]) {
            if !m.is_srtp() {
                return Err(error(format!(
                    "media {}: {} was offered, the answer is {}",
                    k + 1,
                    slot.protos[a],
                    m.line.proto
                )));
            }
            let (theirs, ours) = sdes::accepted(m.crypto_lines(), &offer.offered)
                .ok_or_else(|| error(format!("media {}: no a=crypto in the answer matches the offer", k + 1)))?;
            Some(Keys { theirs, ours })
        } else {
            None
        };
        let keys_changed = slot.keys[a] != a_keys;
        let (inbound, outbound) =
            (a_keys.as_ref().map(|k| sdes::policy(&k.theirs)), a_keys.as_ref().map(|k| sdes::policy(&k.ours)));
        let mut view = self
            .update(slot, call, a, |u| {
                u.remote = ep.remote;
                u.remote_rtcp = ep.remote_rtcp;
                u.hold = Some(ep.hold);
                u.rtcp_mux = Some(a_mux);
                u.latch = Some(opts.latch);
                u.strict_source = Some(opts.strict_source);
                if keys_changed {
                    u.srtp_inbound = Some(inbound);
                    u.srtp_outbound = Some(outbound);
                }
            })
            .await
            .map_err(from_error)?;
        slot.rtcp_mux[a] = a_mux;
        slot.keys[a] = a_keys;
        slot.advertised[a] = ep.advertised;
        if slot.rtcp_mux[o] != o_mux || slot.labels[o] != call.label(o) {
            view = self.update(slot, call, o, |u| u.rtcp_mux = Some(o_mux)).await.map_err(from_error)?;
            slot.rtcp_mux[o] = o_mux;
        }
        let id = slot.session.clone().unwrap_or_default();
        // A WebRTC answerer: its ICE and DTLS, and our role from its a=setup.
        if let Some(mut w) = slot.webrtc[a].clone() {
            w.learn(sdp, k)?;
            w.role = Some(w.answered()?);
            self.setup_webrtc(&id, &slot.labels[a], &w).await?;
            slot.webrtc[a] = Some(w);
        }
        let ours = view.legs[o].local;
        // A WebRTC offerer: our answer's role from its a=setup, `DTLS` of
        // this answer or `DTLS-reverse` of the offer for its actpass
        // (passive when neither says).
        let attributes = match slot.webrtc[o].clone() {
            Some(mut w) => {
                let prefer = opts.dtls.or(slot.reverse_dtls).unwrap_or(Role::Server);
                w.role = Some(w.answering(prefer)?);
                let v = self.setup_webrtc(&id, &slot.labels[o], &w).await?;
                let lines = w.attributes(&v, ours);
                slot.webrtc[o] = Some(w);
                lines
            }
            None => Vec::new(),
        };
        let rtcp_port = if o_mux { ours.port() } else { ours.port().wrapping_add(1) };
        let answered_proto = m.line.proto.to_ascii_uppercase();
        Ok(MediaOut::Relay {
            address: ours.ip(),
            port: ours.port(),
            rtcp: rtcp_attribute(opts, rtcp_port, ours.ip()),
            rtcp_mux: o_mux,
            proto: (answered_proto != slot.protos[o]).then(|| slot.protos[o].clone()),
            crypto: Some(slot.keys[o].iter().map(|k| k.ours.to_string()).collect()),
            attributes,
        })
    }

    /// Writes the SDP towards leg `to`, with the `replace` options.
    fn write(&self, call: &mut Call, to: usize, sdp: &Sdp, req: &Request, media: Vec<MediaOut>) -> String {
        let address = media.iter().find_map(|m| match m {
            MediaOut::Relay { address, .. } => Some(*address),
            _ => None,
        });
        let sent = &mut call.sent[to];
        let mids: Vec<String> = media
            .iter()
            .filter_map(|m| match m {
                MediaOut::Relay { attributes, .. } => webrtc::mid_of(attributes),
                _ => None,
            })
            .collect();
        let mut rw = Rewrite {
            origin_address: if req.replaces("origin") { address } else { None },
            session_connection: req.replaces("session connection"),
            strip_ice: true,
            session_attributes: webrtc::session_attributes(&mids),
            media,
            ..Default::default()
        };
        if req.replaces("session name") {
            rw.session_name = sent.session_name.clone().or_else(|| sdp.session_name().map(str::to_string));
            sent.session_name = rw.session_name.clone();
        }
        if req.replaces("username") {
            rw.origin_username = sent.username.clone().or_else(|| sdp.origin_username().map(str::to_string));
            sent.username = rw.origin_username.clone();
        }
        let versioned = req.replaces("sdp version") || req.replaces("force increment sdp ver");
        if versioned {
            // The body as it goes out, but for its version.
            let body = sdp.rewrite(&Rewrite { origin_version: Some(0), ..rw.clone() });
            let version = match (sent.version, &sent.body) {
                (Some(v), Some(b)) if *b == body && !req.replaces("force increment sdp ver") => v,
                (Some(v), _) => v + 1,
                (None, _) => sdp.origin_version().unwrap_or(1),
            };
            sent.version = Some(version);
            sent.body = Some(body);
            rw.origin_version = Some(version);
        }
        sdp.rewrite(&rw)
    }
}

fn rtcp_attribute(opts: &Options, port: u16, ip: IpAddr) -> RtcpAttribute {
    match opts.rtcp_attr {
        Some(false) => RtcpAttribute::Omit,
        Some(true) => RtcpAttribute::Full(port, ip),
        None => RtcpAttribute::Port(port),
    }
}
