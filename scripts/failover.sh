#!/bin/sh
# Failover of calls between two mediafwd nodes of one group (run as root).
#
# Two nodes with the same media addresses on one L2 segment (a bridge per
# side) between a caller and a callee namespace, DPDK net_af_packet ports on
# veths (a --file-prefix per node), a real redis-server on 127.0.0.1;
# FAILOVER_CALLS calls (default 50: plain, SRTP to RTP, SRTP to SRTP, with
# libsrtp endpoints, streaming both ways, the SRTP streams past a sequence
# number wrap); the active is killed with SIGKILL mid-call. The scenario is
# the test harness of controlplane/tests/ha_failover.rs (`failover_scenario`),
# built here unless FAILOVER_RUNNER names that test binary already. Prints,
# last:
#   failover: calls=N continued=M max_gap_ms=G lost_packets=L srtp_auth_failures=F
# With --all, first the split-brain case (the active frozen with SIGSTOP past
# its lease, then continued) and the store stopped for 10 s.
set -eu
cd "$(dirname "$0")/.."
runner=${FAILOVER_RUNNER:-}
if [ -z "$runner" ]; then
    runner=$(nice -n 10 cargo test -q -p mediafwd-controlplane --test ha_failover --no-run --message-format=json |
        grep '"name":"ha_failover"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
    [ -x "$runner" ] || { echo "failover: the ha_failover test binary did not build" >&2; exit 1; }
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
if [ "${1:-}" = "--all" ]; then
    "$runner" --test-threads 1 --nocapture an_active_frozen with_redis_stopped >"$out" 2>&1 || status=$?
    grep -oE '(split-brain|redis-outage): .*' "$out" || tail -n 40 "$out" >&2
fi
"$runner" --ignored --exact failover_scenario --test-threads 1 --nocapture >"$out" 2>&1 || status=$?
# The harness prints its "test ... " on the line the scenario's own begins.
if ! grep -oE 'failover: calls=.*' "$out"; then
    tail -n 40 "$out" >&2
    exit 1
fi
exit $status
