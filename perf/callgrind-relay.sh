#!/usr/bin/env bash
# Instructions and simulated cache misses per packet of the relay fast path:
# runs one `relay` criterion benchmark under callgrind (exact instruction
# counts, a simulated cache) and divides the inclusive counts of the bench's
# burst function (`relay::process_burst`, one call per burst of 32) by the
# packets it processed. Works where no hardware counters are exposed.
#
#   perf/callgrind-relay.sh [BENCH_BINARY] [ID...]
#
# BENCH_BINARY defaults to the newest target/release/deps/relay-*; IDs default
# to relay/plain/1k relay/plain/100k relay/plain/1m. Cache model: 32 KiB
# 8-way L1 and a 32 MiB 16-way last level (the reference machine's L1D and L3).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-$(ls -t target/release/deps/relay-* 2>/dev/null | grep -v '\.d$' | head -1)}
shift || true
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(relay/plain/1k relay/plain/100k relay/plain/1m)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-18s %12s %10s %10s %10s\n' id packets instr/pkt D1miss/pkt LLmiss/pkt
for id in "${ids[@]}"; do
    f="$out/$(echo "$id" | tr / _).cg"
    valgrind --tool=callgrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=33554432,16,64 \
        --callgrind-out-file="$f" "$bin" --bench --profile-time "${PROFILE_TIME:-3}" "$id" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes --tree=caller "$f" 2>/dev/null | awk -v id="$id" '
        # Caller lines of the burst function carry its call counts: "(Nx)".
        /^ *[0-9,]+ .*< .*relay::process_burst/ { next }
        /< / { last_calls = $0; sub(/.*\(/, "", last_calls); sub(/x\).*/, "", last_calls); gsub(/,/, "", last_calls); calls += last_calls; next }
        !found && /\*  .*:relay::process_burst \[/ {
            line = $0; sub(/\*  .*/, "", line); gsub(/\([^)]*\)/, "", line); gsub(/,/, "", line)
            n = split(line, f, /[ ]+/); k = 0
            for (i = 1; i <= n; i++) if (f[i] != "") val[++k] = (f[i] == "." ? 0 : f[i])
            # Events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
            pk = calls * 32
            printf "%-18s %12d %10.1f %10.2f %10.2f\n", id, pk, val[1] / pk, (val[5] + val[6]) / pk, (val[8] + val[9]) / pk
            found = 1; calls = 0
        }
        /^$/ { calls = 0 }
        END { if (!found) print id ": burst function not found" }'
done
