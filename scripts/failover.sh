#!/bin/sh
# Failover of calls between two mediafwd nodes of one group (run as root).
#
# Runs controlplane/tests/ha_failover.rs: two nodes with the same media
# addresses on one L2 segment (a bridge per side) between a caller and a
# callee namespace, DPDK net_af_packet ports on veths (a --file-prefix per
# node), a real redis-server on 127.0.0.1; FAILOVER_CALLS calls (default 50:
# plain, SRTP to RTP, SRTP to SRTP, with libsrtp endpoints, the SRTP streams
# past a sequence number wrap); the active is killed with SIGKILL mid-call.
# Prints, last:
#   failover: calls=N continued=M max_gap_ms=G lost_packets=L srtp_auth_failures=F
# With --all, also the split-brain case (the active frozen with SIGSTOP past
# its lease, then continued) and the store stopped for 10 s.
set -eu
cd "$(dirname "$0")/.."
filter=the_standby_takes_over_every_call_when_the_active_is_killed
[ "${1:-}" = "--all" ] && filter=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
nice -n 10 cargo test -q -p mediafwd-controlplane --test ha_failover -- --test-threads 1 --nocapture $filter >"$out" 2>&1 || status=$?
grep -E '^(split-brain|redis-outage):' "$out" || true
if ! grep -E '^failover:' "$out"; then
    tail -n 40 "$out" >&2
    exit 1
fi
exit $status
