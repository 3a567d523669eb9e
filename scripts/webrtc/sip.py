"""The SIP side of scripts/webrtc-interop.sh: the SIP proxy's ng requests
to mediafwd (Kamailio's WebRTC flag sets) and a plain RTP endpoint (PCMU)
sending a tone and receiving the WebRTC side's.

Modes: `web-offers` (the WebRTC peer's DIR/offer.sdp through ng, the
answer back as DIR/answer.sdp) and `sip-offers` (the reverse). `--bad`
spoils what the WebRTC peer and mediafwd see: `fingerprint` (the offer's
a=fingerprint is another certificate's) or `ice-pwd` (the answer's
a=ice-pwd is not mediafwd's). Streams until DIR/peer.json appears and
writes DIR/sip.json: packets sent and received, the tone heard, and the
refusal counters of mediafwd's /metrics before and after.
"""

import argparse
import json
import math
import os
import re
import socket
import struct
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bencode  # noqa: E402 (scripts/bencode.py)
from files import wait_file, write  # noqa: E402

RATE = 8000
PTIME = 160


class Ng:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)
        self.seq = 0

    def ask(self, req):
        self.seq += 1
        cookie = b"%d_%d" % (os.getpid(), self.seq)
        self.sock.sendto(cookie + b" " + bencode.encode(req, sort_keys=True), self.addr)
        data, _ = self.sock.recvfrom(65536)
        reply, _ = bencode.decode(data[len(cookie) + 1 :])
        if reply.get("result") != b"ok":
            raise RuntimeError(f"ng {req['command']}: {reply}")
        return reply["sdp"].decode()


def media_addr(sdp):
    ip = re.search(r"^c=IN IP4 (\S+)", sdp, re.M).group(1)
    port = int(re.search(r"^m=audio (\d+)", sdp, re.M).group(1))
    return ip, port


def sip_sdp(ip, port):
    return (
        f"v=0\r\no=sip 100 100 IN IP4 {ip}\r\ns=talk\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def ulaw(sample):
    """G.711 mu-law of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    s = min(abs(sample), 32635) + 0x84
    exp = 7
    while exp > 0 and not s & (0x4000 >> (7 - exp)):
        exp -= 1
    mant = (s >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def linear(u):
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def frequency(pcm):
    crossings = sum(1 for a, b in zip(pcm, pcm[1:]) if (a < 0) != (b < 0))
    return crossings * RATE / (2 * len(pcm)) if pcm else 0.0


def metrics(url):
    try:
        text = urllib.request.urlopen(url, timeout=3).read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        for key, series in (
            ("stun_refused", 'mediafwd_slowpath_messages_total{direction="in",type="stun_request_refused"}'),
            ("fingerprint_mismatch", 'mediafwd_webrtc_dtls_handshakes_total{outcome="fingerprint_mismatch"}'),
            ("completed", 'mediafwd_webrtc_dtls_handshakes_total{outcome="completed"}'),
        ):
            if line.startswith(series + " "):
                out[key] = int(float(line.split()[-1]))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--ng", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--call", required=True)
    p.add_argument("--mode", choices=["web-offers", "sip-offers"], default="web-offers")
    p.add_argument("--dtls", choices=["passive", "active"], default="passive")
    p.add_argument("--bad", choices=["none", "fingerprint", "ice-pwd"], default="none")
    p.add_argument("--local", default="198.19.0.2:26000")
    p.add_argument("--freq", type=float, default=1000.0)
    p.add_argument("--expect", type=float, default=440.0)
    p.add_argument("--max-seconds", type=float, default=40.0)
    p.add_argument("--offer-wait", type=float, default=45.0, help="seconds the WebRTC side may take to offer")
    p.add_argument("--echo", action="store_true", help="send back what arrives (under another SSRC) instead of a tone")
    a = p.parse_args()
    ng = Ng(a.ng)
    ip, port = a.local.rsplit(":", 1)
    port = int(port)
    before = metrics(a.metrics)
    common = {"call-id": a.call, "replace": ["origin", "session-connection"]}
    if a.mode == "web-offers":
        offer = wait_file(os.path.join(a.dir, "offer.sdp"), a.offer_wait)
        if a.bad == "fingerprint":
            offer = re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 " + ":".join(["5A"] * 32), offer)
        to_sip = ng.ask(dict(common, **{
            "command": "offer", "from-tag": "web", "sdp": offer, "ICE": "remove", "transport-protocol": "RTP/AVP",
            "DTLS": "off", "DTLS-reverse": "passive", "SDES": ["off"], "rtcp-mux": ["demux"],
            "direction": ["public", "private"],
        }))
        to_web = ng.ask(dict(common, **{
            "command": "answer", "from-tag": "web", "to-tag": "sip", "sdp": sip_sdp(ip, port), "ICE": "force",
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "DTLS": a.dtls, "SDES": ["off"], "rtcp-mux": ["require"],
            "flags": ["generate-mid"],
        }))
        if a.bad == "ice-pwd":
            to_web = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:notthepasswordmediafwdgave", to_web)
        write(os.path.join(a.dir, "answer.sdp"), to_web)
    else:
        to_web = ng.ask(dict(common, **{
            "command": "offer", "from-tag": "sip", "sdp": sip_sdp(ip, port), "ICE": "force",
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "SDES": ["off"], "rtcp-mux": ["offer"],
            "flags": ["generate-mid"], "direction": ["private", "public"],
        }))
        write(os.path.join(a.dir, "offer.sdp"), to_web)
        answer = wait_file(os.path.join(a.dir, "answer.sdp"), 20)
        to_sip = ng.ask(dict(common, **{
            "command": "answer", "from-tag": "sip", "to-tag": "web", "sdp": answer, "ICE": "remove",
            "transport-protocol": "RTP/AVP", "DTLS": "off", "SDES": ["off"], "rtcp-mux": ["demux"],
        }))
    relay = media_addr(to_sip)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.setblocking(False)
    sent = received = 0
    pcm = []
    seq, ts, n = 1, 0, 0
    start = time.monotonic()
    peer_done = os.path.join(a.dir, "peer.json")
    ticks = 0
    while time.monotonic() - start < a.max_seconds and not os.path.exists(peer_done):
        if not a.echo:
            payload = bytes(ulaw(int(8000 * math.sin(2 * math.pi * a.freq * (n + i) / RATE))) for i in range(PTIME))
            sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, ts, 0x51B) + payload, relay)
            sent += 1
            seq, ts, n = (seq + 1) & 0xFFFF, ts + PTIME, n + PTIME
        ticks += 1
        deadline = start + ticks * PTIME / RATE
        while True:
            try:
                data, _ = sock.recvfrom(2048)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.002)
                continue
            if len(data) > 12 and data[0] >> 6 == 2 and 72 <= data[1] & 0x7F <= 79:
                continue  # RTCP
            if a.echo and len(data) > 12 and data[0] >> 6 == 2:
                received += 1
                ssrc = struct.unpack("!I", data[8:12])[0] ^ 0x5A5A5A5A
                sock.sendto(data[:8] + struct.pack("!I", ssrc) + data[12:], relay)
                sent += 1
            elif len(data) > 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
                received += 1
                if len(pcm) < RATE * 4:
                    pcm.extend(linear(b) for b in data[12:])
    f = frequency(pcm[RATE // 2 :]) if len(pcm) > RATE else 0.0
    after = metrics(a.metrics)
    write(os.path.join(a.dir, "sip.json"), json.dumps({
        "sent": sent, "received": received, "tone_hz": round(f, 1),
        "tone_ok": abs(f - a.expect) < 0.05 * a.expect, "before": before, "after": after,
    }))


if __name__ == "__main__":
    main()
