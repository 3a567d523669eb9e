"""Loads perf/profiles/trex_g711.py against the stand-in trex_stl_lib and checks its streams."""

import importlib.util
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from trex_stl_lib.api import IP, UDP, Raw  # noqa: E402

spec = importlib.util.spec_from_file_location("trex_g711", os.path.join(here, "..", "trex_g711.py"))
profile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profile)

calls = profile.register()
for port in (0, 1):
    streams = calls.get_streams(port_id=port, calls=3, first_port=40000)
    assert len(streams) == 3, len(streams)
    for i, s in enumerate(streams):
        pkt = s.kwargs["packet"].kwargs["pkt"]
        assert len(pkt) == 214, len(pkt)
        assert pkt[UDP].fields["dport"] == 40000 + 2 * i
        assert pkt[UDP].fields["chksum"] == 0
        assert pkt[IP].fields["dst"] == ("198.18.0.1", "198.19.0.1")[port]
        assert pkt[IP].fields["src"] == ("198.18.64.%d", "198.19.64.%d")[port] % i
        rtp = pkt[Raw].fields["load"]
        assert rtp[0] == 0x80 and rtp[1] == 0, "RTP version 2, PCMU"
        assert s.kwargs["mode"].kwargs["pps"] == 50.0
        writes = [r.kwargs["pkt_offset"] for r in s.kwargs["packet"].kwargs["vm"].args[0] if "pkt_offset" in r.kwargs]
        assert writes == [44, 46], writes
assert calls.get_streams(port_id=1, direction=1) == []
try:
    calls.get_streams(calls=20000)
    raise AssertionError("20000 calls accepted")
except ValueError:
    pass
print("trex profile ok")
