//! The SIP tier of the end-to-end tests: a sipp UAC and a sipp UAS in their
//! own namespaces, Kamailio between them as a stateful proxy using its
//! rtpengine module against mediafwd's ng listener.
//!
//! ```text
//!  ns uac                      root namespace                    ns uas
//!  sip0 198.18.S.2 ---- k<tag>a 198.18.S.1  Kamailio  198.19.S.1 k<tag>b ---- sip0 198.19.S.2
//!  eth0 198.18.0.2 ---- m<tag>a  mediafwd "public" | "private"  m<tag>b ---- eth0 198.19.0.2
//!                                (198.18.0.1)        (198.19.0.1)
//! ```
//!
//! The UAC and the UAS have no route to each other: media can only cross
//! through mediafwd. S varies with the process id, so two runs on one host
//! do not meet. Every process is stopped by its PID, also when a test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::netns::{run, Netns, Veth};

/// Seconds of PCMU each side streams per call (50 packets a second).
pub const STREAM_SECONDS: u32 = 2;

pub struct SipTopology {
    _veths: Vec<Veth>,
    pub uac: Netns,
    pub uas: Netns,
    pub tag: String,
    /// Third octet of the SIP networks.
    pub subnet: u8,
}

impl SipTopology {
    pub fn new(test: &str) -> SipTopology {
        let tag = format!("{}{}", test, std::process::id() % 10000);
        let subnet = 100 + (std::process::id() % 100) as u8;
        let uac = Netns::new(&format!("mfw-{tag}-uac"));
        let uas = Netns::new(&format!("mfw-{tag}-uas"));
        let media_a = Veth::new(&format!("m{tag}a"), "eth0", &uac, &["198.18.0.2/24"]);
        let media_b = Veth::new(&format!("m{tag}b"), "eth0", &uas, &["198.19.0.2/24"]);
        let sip_a = Veth::new(&format!("k{tag}a"), "sip0", &uac, &[&format!("198.18.{subnet}.2/24")]);
        let sip_b = Veth::new(&format!("k{tag}b"), "sip0", &uas, &[&format!("198.19.{subnet}.2/24")]);
        run(&["ip", "addr", "add", &format!("198.18.{subnet}.1/24"), "dev", &sip_a.host]);
        run(&["ip", "addr", "add", &format!("198.19.{subnet}.1/24"), "dev", &sip_b.host]);
        SipTopology { _veths: vec![media_a, media_b, sip_a, sip_b], uac, uas, tag, subnet }
    }

    /// mediafwd's configuration: the media veths, the ng listener on loopback.
    pub fn mediafwd_config(&self) -> String {
        format!(
            r#"
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "mfw-sip-{tag}"
stats_log_seconds = 5

[api]
listen = "127.0.0.1:0"

[ng]
listen = "127.0.0.1:0"

[[interface]]
name = "public"
device = "net_af_packet0,iface=m{tag}a,framecnt=4096"
addresses = ["198.18.0.1/24"]

[[interface]]
name = "private"
device = "net_af_packet1,iface=m{tag}b,framecnt=4096"
addresses = ["198.19.0.1/24"]
"#,
            tag = self.tag
        )
    }

    pub fn kamailio_uac_side(&self) -> String {
        format!("198.18.{}.1", self.subnet)
    }

    pub fn uac_sip(&self) -> String {
        format!("198.18.{}.2", self.subnet)
    }

    pub fn uas_sip(&self) -> String {
        format!("198.19.{}.2", self.subnet)
    }
}

/// Finds a program the test needs, naming the package that has it.
pub fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is missing: apt-get install {package} (scripts/deps.sh does)");
}

/// A process of the test, in its own process group (Kamailio forks workers),
/// stopped by its PID and group: SIGTERM, then SIGKILL after a grace period.
pub struct Proc {
    child: Option<Child>,
    pub name: &'static str,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Proc {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { child: Some(child), name, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))))
    }

    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = Pid::from_raw(-(child.id() as i32));
        let _ = kill(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // Workers of the group that outlive their parent.
                let _ = kill(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(group, Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kamailio as a stateful proxy: record-routes, rtpengine_offer on INVITE,
/// rtpengine_answer on the 200 OK, rtpengine_delete on BYE (the README's
/// snippet).
pub fn kamailio_config(topo: &SipTopology, ng: std::net::SocketAddr) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=4
mhomed=1
listen=udp:198.18.{s}.1:5060
listen=udp:198.19.{s}.1:5060
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:{ng}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("BYE")) {{ rtpengine_delete(); }}
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE")) {{
        record_route();
        if (has_body("application/sdp")) {{
            rtpengine_offer("replace-origin replace-session-connection ICE=remove direction=public direction=private");
        }}
        t_on_reply("MEDIA");
        t_on_failure("FAILED");
    }}
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

onreply_route[MEDIA] {{
    if (has_body("application/sdp")) {{
        rtpengine_answer("replace-origin replace-session-connection ICE=remove");
    }}
}}

failure_route[FAILED] {{
    rtpengine_delete();
}}
"#,
        s = topo.subnet
    )
}

pub fn start_kamailio(topo: &SipTopology, ng: std::net::SocketAddr, dir: &Path) -> Proc {
    let bin = require("kamailio", "kamailio");
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, kamailio_config(topo, ng)).unwrap();
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["-f", cfg.to_str().unwrap(), "-DD", "-E", "-Y", run_dir.to_str().unwrap(), "-m", "64", "-M", "8"]);
    let mut k = Proc::spawn("kamailio", cmd, dir.join("kamailio.log"));
    // Ready when its rtpengine module found mediafwd (it pings at start).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !k.log_text().contains("support for it enabled") {
        assert!(!k.has_exited(), "kamailio exited:\n{}", k.log_text());
        assert!(Instant::now() < deadline, "kamailio did not find mediafwd's ng listener:\n{}", k.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    k
}

fn scenario_head(name: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n")
}

const SDP: &str = "v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000";

/// The UAC: INVITE with PCMU, ACK, stream PCMU, BYE after the stream.
pub fn uac_scenario(uas: &str, audio: &Path) -> String {
    let from = "From: uac <sip:uac@[local_ip]:[local_port]>;tag=[pid]uac[call_number]";
    let to = format!("To: <sip:uas@{uas}:5060>");
    let common = "Call-ID: [call_id]\n      Contact: <sip:uac@[local_ip]:[local_port]>\n      Max-Forwards: 70";
    let via = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]";
    scenario_head("mediafwd uac")
        + &format!(
            r#"  <send retrans="500">
    <![CDATA[
      INVITE sip:uas@{uas}:5060 SIP/2.0
      {via}
      {from}
      {to}
      CSeq: 1 INVITE
      {common}
      Content-Type: application/sdp
      Content-Length: [len]

      {SDP}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      {via}
      [routes]
      {from}
      {to}[peer_tag_param]
      CSeq: 1 ACK
      {common}
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec rtp_stream="{audio},1,0"/></action></nop>
  <pause milliseconds="{pause}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      {via}
      [routes]
      {from}
      {to}[peer_tag_param]
      CSeq: 2 BYE
      {common}
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"#,
            audio = audio.display(),
            pause = STREAM_SECONDS * 1000 + 500,
        )
}

/// The UAS: 200 OK with PCMU, stream PCMU after the ACK, answer the BYE.
pub fn uas_scenario(audio: &Path) -> String {
    scenario_head("mediafwd uas")
        + &format!(
            r#"  <recv request="INVITE" crlf="true"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      {SDP}
    ]]>
  </send>
  <recv request="ACK" rtd="true" crlf="true"/>
  <nop><action><exec rtp_stream="{audio},1,0"/></action></nop>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:uas@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#,
            audio = audio.display()
        )
}

/// `STREAM_SECONDS` of PCMU silence: what sipp's rtp_stream plays.
pub fn write_audio(dir: &Path) -> PathBuf {
    let p = dir.join("silence.pcmu");
    std::fs::write(&p, vec![0xffu8; 8000 * STREAM_SECONDS as usize]).unwrap();
    p
}

/// A sipp instance inside a namespace (`ip netns exec` execs sipp itself, so
/// the PID is sipp's).
pub fn sipp(ns: &Netns, name: &'static str, dir: &Path, args: &[String]) -> Proc {
    let bin = require("sipp", "sip-tester");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name]).arg(bin).args(args).args([
        "-nostdin",
        "-trace_msg",
        "-message_file",
        dir.join(format!("{name}_messages.log")).to_str().unwrap(),
        "-trace_err",
        "-error_file",
        dir.join(format!("{name}_errors.log")).to_str().unwrap(),
    ]);
    Proc::spawn(name, cmd, dir.join(format!("{name}.out")))
}

/// A counter of a namespace's interface.
pub fn rx_packets(ns: &Netns, dev: &str) -> u64 {
    let out = ns.exec(&["cat", &format!("/sys/class/net/{dev}/statistics/rx_packets")]);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
