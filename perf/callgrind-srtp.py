#!/usr/bin/env python3
"""Instructions per packet of SRTP's burst path, split between ipsec-mb and
mediafwd's own code.

Runs the four ipsec-mb ids of the `srtp` criterion bench (`srtp/burst32/...`:
CM80 protect, unprotect and transcrypt, GCM protect) under callgrind,
collecting only inside the bench's burst functions (`protect_all`,
`unprotect_all`), plus one run that matches no id: the setup bursts every
group protects before it is filtered, subtracted from the others. Self
instructions are summed by category (the library's entry points and
kernels; ours by step) and divided by the packets: 32 per hash burst (16
for transcrypt, whose bursts hash twice) or one per call of the library's
GCM function. Valgrind's CPU has neither AVX-512 nor SHA-NI, so ipsec-mb
runs its AVX2 code here: the library's counts are of that path, ours are
the same code as on any CPU.

    cargo bench -p mediafwd-dataplane --bench srtp --no-run
    perf/callgrind-srtp.py target/release/deps/srtp-<hash>   # about 5 minutes

Prints a markdown table.
"""
import collections
import sys
import tempfile

from callgrind_profile import collect

IDS = [
    ("CM80 protect", "protect/aes_cm_128_hmac_sha1_80", 32),
    ("CM80 unprotect", "unprotect/aes_cm_128_hmac_sha1_80", 32),
    ("CM->CM transcrypt", "transcrypt/aes_cm_128_hmac_sha1_80", 16),
    ("GCM protect", "protect/aead_aes_128_gcm", None),
]
# The portable engine's crates: only the setup bursts run them here.
PORTABLE = ("sha1::", "<sha1", "polyval", "<polyval", "aes::", "<aes::", "aes_gcm", "<aes_gcm", "cipher::",
            "<cipher", "ctr::", "<ctr", "hmac::", "<hmac", "digest::", "<digest", "<universal_hash",
            "mediafwd_dataplane::srtp::engine::portable")
ROWS = [
    "ipsec-mb: kernels (SHA-1, AES-CTR, GCM)",
    "ipsec-mb: burst entry points (submit_*)",
    "ours: begin (header, key slot, index, replay, lifetime)",
    "ours: burst loops (op arrays, AES-CM IV, ROC write)",
    "ours: engine (job fields, FFI wrapper)",
    "ours: seal / finish / verify (GCM IV and AAD, tag copy or compare, MKI, stream)",
    "ours: memcpy / memset (libc)",
    "ours: other",
]


def category(ob, fn):
    if ob.startswith("libIPSec_MB"):
        return ROWS[1] if fn.startswith("submit_") else ROWS[0]
    if ob.startswith("libc"):
        return ROWS[6]
    if fn.startswith(PORTABLE):
        return None
    if "engine::Crypto::" in fn or "mediafwd_ipsec_mb::" in fn or "srtp::engine::ipsec_mb" in fn:
        return ROWS[4]
    if "_begin" in fn:
        return ROWS[2]
    if any(s in fn for s in ("::finish", "::verify", "::open", "::seal")):
        return ROWS[5]
    if "protect_all" in fn or "srtp::burst::" in fn:
        return ROWS[3]
    return ROWS[7]


def run(binary, out, filt):
    """Self instructions per (object, function), over source files, and calls."""
    cost, calls = collect(binary, out, "*protect_all*", filt)
    by_function = collections.Counter()
    for (ob, _file, fn), v in cost.items():
        by_function[(ob, fn)] += v
    return by_function, calls


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        setup_cost, setup_calls = run(binary, f"{tmp}/setup.cg", "^nothing$")
        cols = []
        for name, bid, per_burst in IDS:
            cost, calls = run(binary, f"{tmp}/{bid.replace('/', '_')}.cg", f"^srtp/burst32/{bid}$")
            cost.subtract(setup_cost)
            calls.subtract(setup_calls)
            if per_burst:
                packets = per_burst * sum(n for f, n in calls.items() if "submit_hash_burst" in f)
            else:
                lib = [(v, fn) for (ob, fn), v in cost.items() if ob.startswith("libIPSec_MB")]
                packets = calls[max(lib)[1]]
            agg = collections.Counter()
            for (ob, fn), v in cost.items():
                c = category(ob, fn)
                if c:
                    agg[c] += v
            cols.append((name, packets, agg))
    print("| instructions per packet | " + " | ".join(n for n, _, _ in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for row in ROWS:
        print(f"| {row} | " + " | ".join(f"{a[row] / n:.0f}" for _, n, a in cols) + " |")
    for label, prefix in (("ipsec-mb", "ipsec-mb"), ("ours", "ours"), ("total", "")):
        print(f"| **{label}** | " + " | ".join(
            f"**{sum(v for k, v in a.items() if k.startswith(prefix)) / n:.0f}**" for _, n, a in cols) + " |")
    print("| packets collected | " + " | ".join(str(n) for _, n, _ in cols) + " |")


if __name__ == "__main__":
    main()
