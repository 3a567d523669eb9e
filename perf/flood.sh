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

# shellcheck source=perf/lib.sh
. "$REPO/perf/lib.sh"
lib_require flood
lib_build 0 mediafwd-controlplane mediafwd-perf
lib_on_exit() { [ -n "${FLOOD_KEEP_LOG:-}" ] && cp "$DIR/mediafwd.log" "$FLOOD_KEEP_LOG" 2>/dev/null; }
lib_begin f
ip link add f0 netns "$TOPO_GEN" type veth peer name f1 netns "$TOPO_RELAY"
ip -n "$TOPO_GEN" link set f0 up
ip -n "$TOPO_RELAY" link set f1 up
ip netns exec "$TOPO_GEN" sysctl -qw net.ipv6.conf.f0.disable_ipv6=1
ip netns exec "$TOPO_RELAY" sysctl -qw net.ipv6.conf.f1.disable_ipv6=1
tc -n "$TOPO_RELAY" qdisc add dev f1 clsact
tc -n "$TOPO_RELAY" filter add dev f1 ingress u32 match u32 0 0 action mirred ingress redirect dev a1

cat >"$DIR/mediafwd.toml" <<EOF
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "mfw-$TAG-node"
stats_log_seconds = 600

[dataplane]
rx_desc = 4096
tx_desc = 4096

[api]
listen = "$TOPO_CTL_RELAY:7070"
metrics_listen = "$TOPO_CTL_RELAY:9100"

[[interface]]
name = "public"
device = "net_af_packet0,iface=a1,framecnt=4096"
addresses = ["198.18.0.1/24", "2001:db8::1/64"]
gateway4 = "198.18.0.2"

[[interface]]
name = "private"
device = "net_af_packet1,iface=b1,framecnt=4096"
addresses = ["198.19.0.1/24"]
gateway4 = "198.19.0.2"
EOF
# The generators poll the control core: under SCHED_RR they would hold it
# for whole 100 ms time slices and the API's latency would measure the
# scheduler, so everything there runs under the ordinary one.
# FLOOD_RT=1: everything SCHED_RR, as make demo runs (higher flood rates,
# API latency in time slices).
RT=(nice -n 0)
[ -n "${FLOOD_RT:-}" ] && RT=(chrt -r 10)
lib_relay "$DIR/mediafwd.log" ip netns exec "$TOPO_RELAY" "${RT[@]}" "$BIN/mediafwd" --config "$DIR/mediafwd.toml"
# The relay's worker, alone on its core, runs SCHED_RR (as a production
# node's isolated core would be); its control thread and the generators
# share the other core under the ordinary scheduler.
for tid in $(ps -L -o tid=,comm= -p "$RELAY" | awk '$2 ~ /^rte-worker/ { print $1 }'); do chrt -r -p 10 "$tid"; done
MAC_A="$(ip netns exec "$TOPO_RELAY" cat /sys/class/net/a1/address)"
G=(ip netns exec "$TOPO_GEN")
METRICS="http://$TOPO_CTL_RELAY:9100/metrics"

# counters NAME...: the relay's counters, summed per metric and label set,
# as "metric{labels} value" lines.
snapshot() { "${G[@]}" curl -sf "$METRICS" | grep -E '^mediafwd_(dropped_packets_total|slowpath_|port_rx_packets_total|worker_slow_path|neighbors)'; }
# delta FILE1 FILE2 PATTERN: the sum of the matching counters' increase.
delta() { awk -v pat="$3" 'NR==FNR { if ($1 ~ pat) a[$1]=$2; next } $1 ~ pat { s += $2 - a[$1] } END { printf "%d", s }' "$1" "$2"; }

printf '%-17s %9s %9s %8s %9s %8s %9s %8s %8s %8s %7s %7s %6s %9s %9s\n' kind "sent/s" "relay/s" missed policed ringfull "slowpath" replies learned unresolv txfull "calls" "lost" "lat.max" "grpc.p99"
for kind in $KINDS; do
	"${G[@]}" "${RT[@]}" "$BIN/rtpgen" --api "http://$TOPO_CTL_RELAY:7070" --sessions "$CALLS" --direction both \
		--duration "$((SECS + 8))" --quiet --json --port net_af_packet0 --port net_af_packet1 -- \
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
	"${G[@]}" "${RT[@]}" "$BIN/mfw-blast" --port net_af_packet0 --flood "$kind" --dst-mac "$MAC_A" \
		--flood-ports 30000-30999 --duration "$SECS" --drain-ms 0 -- \
		--lcores=0@0 --no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=warning \
		--file-prefix="mfw-$TAG-flood" --vdev=net_af_packet0,iface=f0,framecnt=4096 >"$DIR/blast.json" 2>"$DIR/blast.log" &
	BLAST=$!
	PIDS+=("$BLAST")
	"${G[@]}" "$BIN/mfw-control-load" --server "http://$TOPO_CTL_RELAY:7070" --rate 20 --concurrency 1 \
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
		"$(delta "$DIR/before" "$DIR/after" '^mediafwd_dropped_packets_total.*reason="tx_full"')" <<'EOF'
import json, sys
kind, d, secs, relay_rx, policed, slow_rx, slow_tx, learned, missed, unresolved, ring_full, tx_full = sys.argv[1:]
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
print(f"{kind:<17} {blast['offered_pps']:>9.0f} {int(relay_rx) / secs:>9.0f} {int(missed):>8} {int(policed):>9} {int(ring_full):>8} "
      f"{int(slow_rx):>9} {int(slow_tx):>8} {int(learned):>8} {int(unresolved):>8} {int(tx_full):>7} {s.get('sent', 0):>7} "
      f"{s.get('lost', -1):>6} {(lat or 0) / 1000:>6.1f} ms {probe.get('create', {}).get('p99_us', 0) / 1000:>6.1f} ms",
      flush=True)
EOF
done
