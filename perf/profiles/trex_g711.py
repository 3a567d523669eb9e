"""G.711 calls against a mediafwd node: a TRex stateless (STL) profile.

Each call is one RTP stream per direction, as rtpgen sends them: PCMU
(payload type 0), 160 bytes of payload every 20 ms (50 packets per second),
214-byte frames, the sequence number stepping by one and the timestamp by
160 per packet (the field engine), distinct SSRCs. Port 0 plays the callers
(leg a), port 1 the callees (leg b); each sends to the relay's address for
its leg, so what mediafwd relays comes back on the other port.

The calls must exist on the node first, with these endpoints as remotes and
relay ports allocated in call order from the interface's first port (a fresh
node allocates them so when the calls are created one after the other):

    rtpgen --setup-only --api http://NODE:7070 --sessions 1000 --concurrency 1 \\
        --hosts 16384 --keep-sessions --save-sessions calls.json

Then, in trex-console:

    start -f perf/profiles/trex_g711.py -p 0 1 -t calls=1000,relay_a=198.18.0.1,relay_b=198.19.0.1
    start -f perf/profiles/trex_g711.py -p 0 1 -m 200% -t calls=1000   # twice the packet rate

Tunables (-t name=value,...):
    calls          calls (default 1000, at most 16384: one endpoint address each)
    ptime          packet time in ms (default 20)
    relay_a/_b     the node's address for leg a / leg b (198.18.0.1, 198.19.0.1)
    first_port     the first relay RTP port of each interface (30000)
    endpoints_a/_b first endpoint address of leg a / leg b (198.18.64.0, 198.19.64.0)
    endpoint_port  the endpoints' RTP port (20000)
    direction      0: both ports send (default); 1: port 0 only (a to b)
"""

import ipaddress

from trex_stl_lib.api import (
    IP,
    UDP,
    Ether,
    STLPktBuilder,
    STLProfile,
    STLScVmRaw,
    STLStream,
    STLTXCont,
    STLVmFlowVar,
    STLVmWrFlowVar,
)

ETH_IP_UDP = 14 + 20 + 8
RTP_HEADER = 12
PAYLOAD = 160
PT_PCMU = 0
SSRC_BASE = 0x4D460000


def rtp_header(seq, timestamp, ssrc):
    """An RTP version 2 header (RFC 3550 section 5.1), big-endian."""
    return bytes([0x80, PT_PCMU]) + seq.to_bytes(2, "big") + timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big")


def g711_frame(src, sport, dst, dport, ssrc):
    """A 214-byte frame: Ethernet, IPv4, UDP (checksum 0: none, RFC 768), RTP, µ-law silence."""
    payload = rtp_header(0, 0, ssrc) + bytes([0xFF]) * PAYLOAD
    return Ether() / IP(src=src, dst=dst, ttl=64) / UDP(sport=sport, dport=dport, chksum=0) / payload


class G711Calls(object):
    """One continuous stream per call and direction."""

    def stream(self, src, sport, dst, dport, ssrc, pps):
        vm = STLScVmRaw(
            [
                STLVmFlowVar(name="seq", min_value=0, max_value=0xFFFF, size=2, op="inc"),
                STLVmWrFlowVar(fv_name="seq", pkt_offset=ETH_IP_UDP + 2),
                STLVmFlowVar(name="ts", min_value=0, max_value=0xFFFFFFFF, size=4, op="inc", step=PAYLOAD),
                STLVmWrFlowVar(fv_name="ts", pkt_offset=ETH_IP_UDP + 4),
            ]
        )
        return STLStream(packet=STLPktBuilder(pkt=g711_frame(src, sport, dst, dport, ssrc), vm=vm), mode=STLTXCont(pps=pps))

    def get_streams(
        self,
        direction=0,
        port_id=0,
        calls=1000,
        ptime=20,
        relay_a="198.18.0.1",
        relay_b="198.19.0.1",
        first_port=30000,
        endpoints_a="198.18.64.0",
        endpoints_b="198.19.64.0",
        endpoint_port=20000,
        **kwargs
    ):
        calls, ptime, first_port, endpoint_port = int(calls), float(ptime), int(first_port), int(endpoint_port)
        if not 1 <= calls <= 16384:
            raise ValueError("calls must be 1 to 16384 (one endpoint address per call)")
        side = port_id % 2
        if int(direction) == 1 and side == 1:
            return []
        base = ipaddress.IPv4Address(endpoints_a if side == 0 else endpoints_b)
        relay = relay_a if side == 0 else relay_b
        pps = 1000.0 / ptime
        return [
            self.stream(
                src=str(base + i),
                sport=endpoint_port,
                dst=relay,
                dport=first_port + 2 * i,
                ssrc=SSRC_BASE + 2 * i + side,
                pps=pps,
            )
            for i in range(calls)
        ]


def register():
    return G711Calls()
