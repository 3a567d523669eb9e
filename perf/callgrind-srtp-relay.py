#!/usr/bin/env python3
"""Instructions per packet of the relay with SRTP (`srtp_relay` criterion
bench), split by stage: the pipeline's first pass (classify, flow lookup,
admission), the SRTP pass around the engine (grouping, results, rewrite),
the SRTP engine of mediafwd, ipsec-mb, and libc's memcpy/memset.

Each id runs under callgrind collecting only inside the bench's `relay`
(the burst handed to `Pipeline::process_burst`); one run that matches no id counts the setup
bursts every id runs before it is filtered, subtracted from the others.
Packets are the calls of `relay` times the id's burst size.
Valgrind's CPU has no AVX-512 and no SHA-NI: ipsec-mb runs its AVX2 code
here; mediafwd's code is the same as on any CPU.

    cargo bench -p mediafwd-dataplane --bench srtp_relay --no-run
    perf/callgrind-srtp-relay.py target/release/deps/srtp_relay-<hash> [ID ...]

Prints a markdown table.
"""
import collections
import sys
import tempfile

from callgrind_profile import collect

IDS = [
    ("plain", 32),
    ("rtp_to_srtp", 32),
    ("srtp_to_rtp", 32),
    ("transcrypt", 32),
    ("plain/sessions1000", 32),
    ("rtp_to_srtp/sessions1000", 32),
    ("rtp_to_srtp/sessions1000/checksummed", 32),
    ("rtp_to_srtp/burst1", 1),
    ("rtp_to_srtp/burst4", 4),
    ("rtp_to_srtp/burst8", 8),
]
ROWS = [
    "ipsec-mb (AVX2 under valgrind) and its FFI wrapper",
    "SRTP engine (srtp/)",
    "pipeline: SRTP pass (pipeline/srtp.rs)",
    "pipeline: first pass, classify, flow lookup, stats",
    "UDP checksums (wire/checksum.rs)",
    "rewrite (relay/)",
    "memcpy / memset (libc)",
    "the bench's own (frames to PacketBufs)",
]


def category(ob, fl, fn):
    """By the source file of the code (inlined code keeps its own file)."""
    if ob.startswith("libIPSec_MB") or "ipsec-mb/" in fl or "mediafwd_ipsec_mb::" in fn:
        return ROWS[0]
    if ob.startswith("libc"):
        return ROWS[6]
    if "/pipeline/srtp.rs" in fl:
        return ROWS[2]
    if "/srtp/" in fl:
        return ROWS[1]
    if "/wire/checksum.rs" in fl:
        return ROWS[4]
    if "/dataplane/src/relay" in fl or fl.startswith("dataplane/src/relay"):
        return ROWS[5]
    if "benches/srtp_relay.rs" in fl:
        return ROWS[7]
    if "dataplane/src/" in fl:
        return ROWS[3]
    # The standard library's code inlined into ours: by the function.
    if "pipeline::srtp" in fn or "srtp_pass" in fn or "Pipeline::transform" in fn:
        return ROWS[2]
    if "dataplane::srtp::" in fn:
        return ROWS[1]
    if "dataplane::relay::" in fn:
        return ROWS[5]
    return ROWS[3]


def run(binary, out, filt):
    return collect(binary, out, "srtp_relay::relay", filt)


def bursts(calls):
    return calls["srtp_relay::relay"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    ids = [i for i in IDS if len(sys.argv) == 2 or i[0] in sys.argv[2:]]
    with tempfile.TemporaryDirectory() as tmp:
        setup_cost, setup_calls = run(binary, f"{tmp}/setup.cg", "^nothing$")
        cols = []
        for bid, size in ids:
            cost, calls = run(binary, f"{tmp}/{bid.replace('/', '_')}.cg", f"^srtp_relay/{bid}$")
            cost.subtract(setup_cost)
            calls.subtract(setup_calls)
            packets = size * bursts(calls)
            agg = collections.Counter()
            for (ob, fl, fn), v in cost.items():
                agg[category(ob, fl, fn)] += v
            cols.append((bid, packets, agg))
    print("| instructions per packet | " + " | ".join(f"`{n}`" for n, _, _ in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for row in ROWS:
        print(f"| {row} | " + " | ".join(f"{a[row] / max(n, 1):.0f}" for _, n, a in cols) + " |")
    print("| **total** | " + " | ".join(f"**{sum(a.values()) / max(n, 1):.0f}**" for _, n, a in cols) + " |")
    print("| packets collected | " + " | ".join(str(n) for _, n, _ in cols) + " |")


if __name__ == "__main__":
    main()
