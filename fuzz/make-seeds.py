#!/usr/bin/env python3
"""Writes the checked-in seed corpora of the fuzz targets (fuzz/seeds/<target>/)
from the frames, messages and bodies mediafwd's tests already use: the packet
captures of dataplane/src/wire/mod.rs, the SDP and ng messages of the ng
conformance test, the shipped configuration. Run from the repository root;
the output is deterministic."""

import hashlib
import hmac
import os
import re
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import bencode  # noqa: E402 (scripts/bencode.py)


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def captures():
    """The hex captures of the wire module's tests, by name."""
    text = open(os.path.join(ROOT, "dataplane/src/wire/mod.rs")).read()
    out = {}
    for name, body in re.findall(r'pub const (\w+): &str = "([^"]*)";', text):
        out[name] = bytes.fromhex("".join(body.split()))
    return out


# --- bencode and ng -------------------------------------------------------

def caller_sdp(port, extra=""):
    return ("v=0\r\no=alice 100 100 IN IP4 198.18.0.2\r\ns=talk\r\nc=IN IP4 198.18.0.2\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"{extra}a=sendrecv\r\n")


def callee_sdp(port, extra=""):
    return ("v=0\r\no=bob 200 200 IN IP4 198.19.0.2\r\ns=talk\r\nc=IN IP4 198.19.0.2\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{extra}a=sendrecv\r\n")


CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"
SAVP_OFFER = caller_sdp(16010, CRYPTO).replace("RTP/AVP", "RTP/SAVP")
ICE_OFFER = caller_sdp(16020, "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n"
                       "a=candidate:1 1 UDP 2130706431 198.18.0.2 16020 typ host\r\na=rtcp-mux\r\n")
TWO_MEDIA = caller_sdp(16030) + "m=video 16032 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=rtcp:16035 IN IP4 198.18.0.3\r\n"


def offer(call, sdp, **extra):
    d = {"sdp": sdp, "ICE": "remove", "direction": ["public", "private"],
         "replace": ["origin", "session-connection"], "call-id": call,
         "received-from": ["IP4", "198.18.100.2"], "from-tag": "a", "command": "offer"}
    d.update(extra)
    return d


def answer(call, sdp):
    return {"sdp": sdp, "call-id": call, "received-from": ["IP4", "198.19.100.2"],
            "from-tag": "a", "to-tag": "b", "command": "answer"}


def ng_seeds():
    calls = [
        [offer("c1", caller_sdp(16000)), answer("c1", callee_sdp(26000)),
         {"command": "query", "call-id": "c1"}, {"command": "delete", "call-id": "c1", "from-tag": "a"}],
        [offer("c2", SAVP_OFFER, flags=["SDES-no-AES_CM_128_HMAC_SHA1_32"]), answer("c2", callee_sdp(26010))],
        [offer("c3", ICE_OFFER, **{"rtcp-mux": ["accept"]}), answer("c3", callee_sdp(26020, "a=rtcp-mux\r\n"))],
        [offer("c4", TWO_MEDIA, **{"transport-protocol": "RTP/SAVP"}), {"command": "list", "limit": 10},
         {"command": "statistics"}],
        [{"command": "ping"}, {"command": "offer", "call-id": "x"}, {"command": "bogus"}],
    ]
    for i, msgs in enumerate(calls):
        datagrams = [b"%d_%d " % (i, j) + bencode.encode(m) for j, m in enumerate(msgs)]
        write("ng_dispatch", f"call{i}", b"\0".join(datagrams))
        for j, m in enumerate(msgs):
            write("bencode", f"msg{i}_{j}", bencode.encode(m))
    write("bencode", "nested", b"d1:ald1:bli1ei-2ee1:c0:ee1:di0ee")


# --- SDP ----------------------------------------------------------------

def sdp_header(flags, n, media):
    head = bytes([flags, 7]) + struct.pack(">Q", 101) + bytes([n])
    return head + b"".join(media)


def relay(v6, host, port, rtcp, mux, proto, crypto):
    return bytes([2, (1 if v6 else 0) | (2 if mux else 0), host]) + struct.pack(">H", port) + bytes([rtcp, proto, crypto])


def sdp_seeds():
    bodies = {"caller": caller_sdp(16000), "callee": callee_sdp(26000), "savp": SAVP_OFFER,
              "ice": ICE_OFFER, "two": TWO_MEDIA, "lf": caller_sdp(16000).replace("\r\n", "\n")}
    for name, body in bodies.items():
        plain = sdp_header(1 | 4, 1, [relay(False, 1, 30000, 1, False, 9, 0)])
        write("sdp_rewrite", name, plain + body.encode())
        srtp = sdp_header(1 | 2 | 8 | 16, 2, [relay(True, 1, 40000, 2, True, 1, 2), bytes([1] + [0] * 7)])
        write("sdp_rewrite", name + "_srtp", srtp + body.encode())


# --- configuration -------------------------------------------------------

NG_CONFIG = """
[node]
worker_cores = [1]
control_cores = [0]
[ng]
listen = "127.0.0.1:0"
[sessions]
media_timeout = 3
[[interface]]
name = "public"
device = "net_null0"
addresses = ["198.18.0.1/24", "2001:db8:1::1/64"]
rtp_ports = "30000-30999"
[[interface]]
name = "private"
device = "net_null1"
addresses = ["198.19.0.1/24"]
rtp_ports = "40000-40999"
[[static_session]]
id = "s1"
[[static_session.legs]]
interface = "public"
local_port = 30500
remote = "198.18.0.2:5000"
[[static_session.legs]]
interface = "private"
local_port = 40500
"""


def config_seeds():
    write("config", "example", open(os.path.join(ROOT, "examples/mediafwd.toml")).read())
    write("config", "ng", NG_CONFIG)


# --- frames ---------------------------------------------------------------

def frame_seeds(caps):
    for name, frame in caps.items():
        write("wire_views", name.lower(), frame)


def raw(frame, last=False, port=0, stripped=None):
    tag = 0 if stripped is None else 0x8000 | stripped
    rec = bytes([128]) + struct.pack(">H", tag) + frame
    return bytes([(0x40 if last else 0) | port]) + struct.pack(">H", len(rec)) + rec


def built(flow, flags=0, seq=1, ts=160, ssrc=0, pt=0, payload=b"\xd5" * 160, last=False, port=0,
          spoof=0, vlan=0, alter=(0, 0), rtcp_type=1):
    b = bytes([flow, flags]) + struct.pack(">HH", spoof, vlan) + bytes([rtcp_type, pt, ssrc])
    b += struct.pack(">HI", seq, ts) + struct.pack(">H", alter[0]) + bytes([alter[1], 128]) + payload
    return bytes([0x80 | (0x40 if last else 0) | port]) + struct.pack(">H", len(b)) + b


SEAL, ALTER, FIX = 16, 32, 64


def pipeline_seeds(caps):
    # Every capture, as received on port 0.
    write("pipeline", "captures", bytes([0]) + b"".join(raw(f) for f in caps.values() if len(f) > 14))
    # The flows in the order the target installs them: plain caller RTP (0),
    # RTCP (1), callee RTP (2), RTCP (3); SRTP caller RTP (4) and its
    # multiplexed RTCP (5), callee (6, 7); SRTP caller of the third session
    # (8, 9), its plain callee (10, 11).
    write("pipeline", "plain_call", bytes([0]) + b"".join(
        built(0, seq=s, ts=160 * s) for s in range(1, 4)) + built(1, last=True) + b"".join(
        built(2, seq=s, port=1) for s in range(7, 9)) + built(3, last=True, port=1))
    write("pipeline", "srtp_call", bytes([1]) + b"".join(
        built(4, SEAL, seq=s) for s in range(1, 5)) + built(5, SEAL, last=True) + b"".join(
        built(6, SEAL, seq=s, port=1) for s in range(1, 3)) + built(7, SEAL, last=True, port=1))
    write("pipeline", "srtp_to_plain", bytes([2]) + built(8, SEAL) + built(9, SEAL, last=True) + built(
        10, port=1) + built(11, last=True, port=1))
    write("pipeline", "altered", bytes([4 | 8]) + built(4, SEAL | ALTER, alter=(60, 1)) + built(
        0, ALTER | FIX, alter=(50, 0xff)) + built(8, SEAL | ALTER | FIX, alter=(80, 4), last=True))


def stun_attr(typ, value):
    return struct.pack("!HH", typ, len(value)) + value + b"\0" * (-len(value) % 4)


def stun_check(user, pwd, nominate):
    """A Binding request as a controlling browser sends it to a leg whose
    credentials are the stun target's (mfwd, relaypasswordrelaypass, web1)."""
    body = stun_attr(0x0006, user) + stun_attr(0x802A, bytes(range(1, 9))) + stun_attr(0x0024, b"\x6e\x00\x01\xff")
    if nominate:
        body += stun_attr(0x0025, b"")
    tid = bytes(range(9, 21))
    header = lambda n: struct.pack("!HHI", 0x0001, n, 0x2112A442) + tid
    msg = header(len(body) + 24) + body
    msg += stun_attr(0x0008, hmac.new(pwd, msg, hashlib.sha1).digest())
    msg = header(len(body) + 24 + 8) + msg[20:]
    crc = (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF
    return msg + stun_attr(0x8028, struct.pack("!I", crc))


def stun_seeds(caps):
    write("stun", "rfc5769_request", caps["RFC5769_REQUEST"])
    text = open(os.path.join(ROOT, "dataplane/src/wire/stun.rs")).read()
    for name, body in re.findall(r'const (SAMPLE_V\d_RESPONSE): &str = "([^"]*)";', text):
        write("stun", name.lower(), bytes.fromhex("".join(body.split())))
    write("stun", "browser_check", stun_check(b"mfwd:web1", b"relaypasswordrelaypass", True))
    write("stun", "wrong_password", stun_check(b"mfwd:web1", b"wrong", False))


def main():
    caps = captures()
    stun_seeds(caps)
    frame_seeds(caps)
    pipeline_seeds(caps)
    ng_seeds()
    sdp_seeds()
    config_seeds()


if __name__ == "__main__":
    main()
