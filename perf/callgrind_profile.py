"""Runs a criterion bench binary under callgrind and reads its output: the
part that perf/callgrind-srtp.py and perf/callgrind-srtp-relay.py share."""
import collections
import os
import subprocess


def parse(path):
    """Self instructions per (object, source file, function) and calls per callee."""
    cost, calls = collections.Counter(), collections.Counter()
    ob = fn = cfn = None
    fl = fi = ""
    skip = False
    with open(path) as f:
        for line in f:
            if skip:
                skip = False
                continue
            if line.startswith("ob="):
                ob = line[3:].strip().rsplit("/", 1)[-1]
            elif line.startswith("fl="):
                fl = fi = line[3:].strip()
            elif line.startswith(("fi=", "fe=")):
                fi = line[3:].strip()
            elif line.startswith("fn="):
                fn = line[3:].strip()
                fi = fl
            elif line.startswith("cfn="):
                cfn = line[4:].strip()
            elif line.startswith("calls="):
                calls[cfn] += int(line[6:].split()[0])
                skip = True  # the next line is the call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and fn is not None:
                    cost[(ob, fi, fn)] += int(parts[1])
    return cost, calls


def collect(binary, out, toggle, bench_filter):
    """Runs `binary`'s benches matching `bench_filter` for PROFILE_TIME
    seconds (default 2), collecting inside functions matching `toggle`;
    returns `parse` of the output."""
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect={toggle}",
         "--compress-strings=no", binary, "--bench", "--profile-time", os.environ.get("PROFILE_TIME", "2"),
         bench_filter],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return parse(out)
