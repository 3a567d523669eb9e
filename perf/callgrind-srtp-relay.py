#!/usr/bin/env python3
"""Instructions per packet of the relay with SRTP (`srtp_relay` criterion
bench), split by stage: the pipeline's first pass (classify, flow lookup,
admission), the SRTP pass around the engine (grouping, results, rewrite),
the SRTP engine of mediafwd, ipsec-mb, and libc's memcpy/memset.

Each id runs under callgrind collecting only inside
`Pipeline::process_burst`; one run that matches no id counts the setup
bursts every id runs before it is filtered, subtracted from the others.
Packets are the calls of `process_burst` times the id's burst size.
Valgrind's CPU has no AVX-512 and no SHA-NI: ipsec-mb runs its AVX2 code
here; mediafwd's code is the same as on any CPU.

    cargo bench -p mediafwd-dataplane --bench srtp_relay --no-run
    perf/callgrind-srtp-relay.py target/release/deps/srtp_relay-<hash> [ID ...]

Prints a markdown table.
"""
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile

# The callgrind output parser of perf/callgrind-srtp.py.
_spec = importlib.util.spec_from_file_location(
    "callgrind_srtp", os.path.join(os.path.dirname(os.path.abspath(__file__)), "callgrind-srtp.py"))
_engine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_engine)
parse = _engine.parse

IDS = [
    ("plain", 32),
    ("rtp_to_srtp", 32),
    ("srtp_to_rtp", 32),
    ("transcrypt", 32),
    ("plain/sessions1000", 32),
    ("rtp_to_srtp/sessions1000", 32),
    ("rtp_to_srtp/burst1", 1),
    ("rtp_to_srtp/burst4", 4),
    ("rtp_to_srtp/burst8", 8),
]
ROWS = [
    "ipsec-mb (AVX2 under valgrind)",
    "SRTP engine (srtp::)",
    "pipeline: SRTP pass (pipeline::srtp)",
    "pipeline: first pass, classify, flow lookup, stats",
    "rewrite (relay::)",
    "memcpy / memset (libc)",
    "other",
]


def category(ob, fn):
    if ob.startswith("libIPSec_MB") or "mediafwd_ipsec_mb::" in fn:
        return ROWS[0]
    if ob.startswith("libc"):
        return ROWS[5]
    if "pipeline::srtp" in fn or "srtp_pass" in fn or "Pipeline::transform" in fn:
        return ROWS[2]
    if "dataplane::srtp::" in fn:
        return ROWS[1]
    if "dataplane::relay::" in fn:
        return ROWS[4]
    if "mediafwd_dataplane::" in fn:
        return ROWS[3]
    return ROWS[6]


def run(binary, out, filt):
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         "--toggle-collect=*Pipeline*process_burst*", "--compress-strings=no", binary, "--bench",
         "--profile-time", os.environ.get("PROFILE_TIME", "2"), filt],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return parse(out)


def bursts(calls):
    return sum(n for f, n in calls.items() if "Pipeline" in f and f.endswith("process_burst"))


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
            for (ob, fn), v in cost.items():
                agg[category(ob, fn)] += v
            cols.append((bid, packets, agg))
    print("| instructions per packet | " + " | ".join(f"`{n}`" for n, _, _ in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for row in ROWS:
        print(f"| {row} | " + " | ".join(f"{a[row] / max(n, 1):.0f}" for _, n, a in cols) + " |")
    print("| **total** | " + " | ".join(f"**{sum(a.values()) / max(n, 1):.0f}**" for _, n, a in cols) + " |")
    print("| packets collected | " + " | ".join(str(n) for _, n, _ in cols) + " |")


if __name__ == "__main__":
    main()
