#!/usr/bin/env bash
# make flood: floods of slow-path and stray traffic against mediafwd while a
# call streams and the gRPC API is probed; one line per flood kind.
#
#   namespace mfw-fN-gen                              namespace mfw-fN-relay
#   rtpgen: FLOOD_CALLS calls       a0 <== veth ==> a1  mediafwd "public"
#                                   b0 <== veth ==> b1  mediafwd "private"
#   mfw-blast --flood KIND          f0 <== veth ==> f1 --tc mirred--> into a1
#   mfw-control-load (gRPC probe)   c0 <== veth ==> c1  API, metrics
#
# The flood enters a1 (the calls' interface) from its own veth, redirected
# by tc, so the call generator's port never sees it. For each kind (arp, ns,
# echo, udp-closed, udp-wrong-source): rtpgen streams, and for FLOOD_SECONDS
# (20) mfw-blast floods as fast as it can from 4096 spoofed sources while
# mfw-control-load creates and deletes sessions (20 a second, one at a time).
# Printed per kind: the rate the flood reached the relay at, what the
# relay did with it (policed on the worker, served by the slow path,
# replies sent), the call's loss and worst latency, and the gRPC p99.
#
# Needs root and 2 CPUs; everything it made is removed at the end, also on
# Ctrl-C.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CALLS="${FLOOD_CALLS:-20}"
SECS="${FLOOD_SECONDS:-20}"
KINDS="${FLOOD_KINDS:-arp ns echo udp-closed udp-wrong-source}"
PPS="${FLOOD_PPS:-0}"

# shellcheck source=perf/lib.sh
. "$REPO/perf/lib.sh"
lib_require flood
lib_build 0 mediafwd-controlplane mediafwd-perf
lib_on_exit() { [ -n "${FLOOD_KEEP_LOG:-}" ] && cp "$DIR/mediafwd.log" "$FLOOD_KEEP_LOG" 2>/dev/null; }
lib_begin f
lib_side_link f0 f1 a1

lib_relay_config "${FLOOD_FRAMES:-16384}" 0
# Scheduling, as on a production node whose flood comes from elsewhere:
# the relay's worker has core 1 to itself in all but name (nice -20 there,
# against the builds a shared machine may run at nice 10); its control
# threads, the call generator and the API probe share core 0 with the flood
# generator, at nice FLOOD_NICE (-15) against the flood generator's 0, so
# that they run as soon as they wake and the flood takes whatever CPU is
# left. Nothing here runs real-time: a SCHED_RR poller is throttled for
# 50 ms of every second (kernel.sched_rt_runtime_us), which at these rates
# overflows its port's receive ring, and on core 0 it would starve the
# softirq threads that carry the veths' traffic. rtpgen sleeps once idle
# (--idle-sleep-us).
PRIO=(nice -n "${FLOOD_NICE:--15}")
lib_relay "$DIR/mediafwd.log" ip netns exec "$TOPO_RELAY" "${PRIO[@]}" "$BIN/mediafwd" --config "$DIR/mediafwd.toml"
for tid in $(ps -L -o tid=,comm= -p "$RELAY" | awk '$2 ~ /^rte-worker/ { print $1 }'); do renice -n -20 -p "$tid" >/dev/null; done
MAC_A="$(ip netns exec "$TOPO_RELAY" cat /sys/class/net/a1/address)"
G=(ip netns exec "$TOPO_GEN")
METRICS="http://$TOPO_CTL_RELAY:9100/metrics"

# counters NAME...: the relay's counters, summed per metric and label set,
# as "metric{labels} value" lines.
snapshot() { "${G[@]}" curl -sf "$METRICS" | grep -E '^mediafwd_(dropped_packets_total|slowpath_|port_rx_packets_total|worker_slow_path|worker_busy_seconds|worker_loop_seconds|neighbors)'; }
# delta FILE1 FILE2 PATTERN: the sum of the matching counters' increase.
delta() { awk -v pat="$3" 'NR==FNR { if ($1 ~ pat) a[$1]=$2; next } $1 ~ pat { s += $2 - a[$1] } END { printf "%d", s }' "$1" "$2"; }

printf '%-17s %9s %9s %5s %8s %9s %8s %9s %8s %8s %8s %7s %7s %11s %9s %9s\n' kind "sent/s" "relay/s" load missed policed ringfull "slowpath" replies learned unresolv txfull "calls" "lost a>b/b>a" "lat.max" "grpc.p99"
for kind in $KINDS; do
	"${G[@]}" "${PRIO[@]}" "$BIN/rtpgen" --api "http://$TOPO_CTL_RELAY:7070" --sessions "$CALLS" --direction both \
		--duration "$((SECS + 8))" --idle-sleep-us 20 --quiet --json --port net_af_packet0 --port net_af_packet1 -- \
		--lcores=0@0 --no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=warning \
		--file-prefix="mfw-$TAG-gen" --vdev=net_af_packet0,iface=a0,framecnt=4096 \
		--vdev=net_af_packet1,iface=b0,framecnt=4096 >"$DIR/rtpgen.json" 2>"$DIR/rtpgen.log" &
	GEN=$!
	PIDS+=("$GEN")
	# The calls are set up and streaming within a few seconds.
	for _ in $(seq 200); do
		[ "$(snapshot | awk '$1 ~ /^mediafwd_port_rx_packets_total/ { s += $2 } END { print s+0 }')" -gt $((CALLS * 200)) ] && break
		sleep 0.1
	done
	sleep 2
	snapshot >"$DIR/before"
	"${G[@]}" nice -n 0 "$BIN/mfw-blast" --port net_af_packet0 --flood "$kind" --dst-mac "$MAC_A" \
		--flood-ports 30000-30999 --rate "$PPS" --duration "$SECS" --drain-ms 0 -- \
		--lcores=0@0 --no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=warning \
		--file-prefix="mfw-$TAG-flood" --vdev=net_af_packet0,iface=f0,framecnt=4096 >"$DIR/blast.json" 2>"$DIR/blast.log" &
	BLAST=$!
	PIDS+=("$BLAST")
	"${G[@]}" "${PRIO[@]}" "$BIN/mfw-control-load" --server "http://$TOPO_CTL_RELAY:7070" --rate 20 --concurrency 1 \
		--duration "$SECS" >"$DIR/probe.txt" 2>&1 &
	PROBE=$!
	PIDS+=("$PROBE")
	wait "$BLAST" || { echo "mfw-blast failed:" >&2; cat "$DIR/blast.log" >&2; exit 1; }
	wait "$PROBE" || true
	snapshot >"$DIR/after"
	wait "$GEN" || true
	python3 - "$kind" "$DIR" "$SECS" "$(delta "$DIR/before" "$DIR/after" '^mediafwd_port_rx_packets_total.*port="0"')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_dropped_packets_total.*reason="policed')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_slowpath_rx_packets_total')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_slowpath_tx_packets_total')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_slowpath_neighbors_learned_total')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_port_rx_missed_packets_total.*port="0"')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_dropped_packets_total.*reason="neighbor_unresolved"')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_dropped_packets_total.*reason="slow_path_full"')" \
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_dropped_packets_total.*reason="tx_full"')" \
		"$(awk '$1 ~ /^mediafwd_worker_busy_seconds_total/ { print $2 }' "$DIR/before")" \
		"$(awk '$1 ~ /^mediafwd_worker_busy_seconds_total/ { print $2 }' "$DIR/after")" \
		"$(awk '$1 ~ /^mediafwd_worker_loop_seconds_total/ { print $2 }' "$DIR/before")" \
		"$(awk '$1 ~ /^mediafwd_worker_loop_seconds_total/ { print $2 }' "$DIR/after")" <<'EOF'
import json, sys
kind, d, secs, relay_rx, policed, slow_rx, slow_tx, learned, missed, unresolved, ring_full, tx_full = sys.argv[1:13]
busy0, busy1, loop0, loop1 = (float(v or 0) for v in sys.argv[13:17])
load = (busy1 - busy0) / (loop1 - loop0) if loop1 > loop0 else 0.0
secs = float(secs)
blast = json.load(open(f"{d}/blast.json"))
try:
    r = json.load(open(f"{d}/rtpgen.json"))
    s = (r.get("result") or {}).get("summary", {})
except (OSError, ValueError):
    s = {}
probe = {}
for line in open(f"{d}/probe.txt"):
    if line.startswith("{"):
        probe = json.loads(line)
lat = (s.get("latency_us") or {}).get("max")
lost = {x.get("direction"): x.get("sent", 0) - x.get("received", 0) for x in s.get("directions") or []}
lost_dirs = f"{lost.get('a->b', '-')}/{lost.get('b->a', '-')}"
print(f"{kind:<17} {blast['offered_pps']:>9.0f} {int(relay_rx) / secs:>9.0f} {load:>5.2f} {int(missed):>8} {int(policed):>9} {int(ring_full):>8} "
      f"{int(slow_rx):>9} {int(slow_tx):>8} {int(learned):>8} {int(unresolved):>8} {int(tx_full):>7} {s.get('sent', 0):>7} "
      f"{lost_dirs:>11} {(lat or 0) / 1000:>6.1f} ms {probe.get('create', {}).get('p99_us', 0) / 1000:>6.1f} ms",
      flush=True)
EOF
done
