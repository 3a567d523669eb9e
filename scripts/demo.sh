#!/usr/bin/env bash
# make demo: mediafwd relaying 1,000 calls, end to end, on this machine.
#
#   namespace mfw-dN-gen                            namespace mfw-dN-relay
#   rtpgen: 1,000 callers  a0 <===== veth =====> a1  mediafwd "public"  198.18.0.1
#           1,000 callees  b0 <===== veth =====> b1  mediafwd "private" 198.19.0.1
#           gRPC client    c0 <===== veth =====> c1  API 198.18.255.2:7070
#
# Installs what is missing, builds, creates the two namespaces, starts
# mediafwd (af_packet on its veths, ordinary memory), sets the calls up over
# gRPC (leg a SRTP AES_CM_128_HMAC_SHA1_80, leg b plain RTP; plain RTP on
# both legs when the node refuses SRTP keys), streams G.711 both ways for
# DEMO_SECONDS (20) with a progress line, prints a report and removes
# everything it made, also on Ctrl-C. Needs root and 2 CPUs.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_OF_MEDIA="${DEMO_SECONDS:-20}"
CALLS="${DEMO_CALLS:-1000}"

[ "$(id -u)" = 0 ] || { echo "make demo needs root (namespaces, DPDK): sudo make demo" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "make demo needs 2 CPUs (the relay's worker polls one)" >&2; exit 1; }

"$REPO/scripts/deps.sh"
BIN="${MFW_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}"
if [ -z "${MFW_BIN_DIR:-}" ]; then
	echo "building mediafwd and rtpgen (release; the first build takes a few minutes)..."
	(cd "$REPO" && cargo build --release -q -p mediafwd-controlplane -p mediafwd-perf)
fi

# shellcheck source=perf/topology.sh
. "$REPO/perf/topology.sh"

TAG="d$$"
DIR="$(mktemp -d /tmp/mediafwd-demo.XXXXXX)"
PIDS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	topo_down
	rm -rf "$DIR" "/var/run/dpdk/mfw-$TAG-node" "/var/run/dpdk/mfw-$TAG-gen"
	case "$rc" in
	0) echo "done: the namespaces, their veths and mediafwd are gone" ;;
	130 | 143) echo "interrupted: the namespaces, their veths and mediafwd are gone" >&2 ;;
	*) echo "demo failed (exit $rc); the namespaces, their veths and mediafwd are gone" >&2 ;;
	esac
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "creating the topology: namespaces mfw-$TAG-gen and mfw-$TAG-relay, three veth pairs"
topo_up "$TAG"

cat >"$DIR/mediafwd.toml" <<EOF
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "mfw-$TAG-node"
stats_log_seconds = 60

[dataplane]
rx_desc = 4096
tx_desc = 4096

[api]
listen = "$TOPO_CTL_RELAY:7070"
metrics_listen = "$TOPO_CTL_RELAY:9100"

[[interface]]
name = "public"
device = "net_af_packet0,iface=a1,framecnt=4096"
addresses = ["198.18.0.1/24"]
gateway4 = "198.18.0.2"

[[interface]]
name = "private"
device = "net_af_packet1,iface=b1,framecnt=4096"
addresses = ["198.19.0.1/24"]
gateway4 = "198.19.0.2"
EOF

# Both poll their cores; SCHED_RR keeps other tasks of a busy machine from
# stalling them (the kernel's RT throttle still leaves 5% to others).
echo "starting mediafwd (worker on CPU 1, API on $TOPO_CTL_RELAY:7070)"
ip netns exec "$TOPO_RELAY" chrt -r 10 "$BIN/mediafwd" --config "$DIR/mediafwd.toml" >"$DIR/mediafwd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
	grep -q " ready" "$DIR/mediafwd.log" && break
	kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$DIR/mediafwd.log" >&2; exit 1; }
	sleep 0.1
done
grep -q " ready" "$DIR/mediafwd.log" || { echo "mediafwd did not get ready:" >&2; tail "$DIR/mediafwd.log" >&2; exit 1; }

echo "setting $CALLS calls up over gRPC and streaming G.711 both ways for $SECONDS_OF_MEDIA s"
echo
ip netns exec "$TOPO_GEN" chrt -r 10 "$BIN/rtpgen" \
	--api "http://$TOPO_CTL_RELAY:7070" --metrics "$TOPO_CTL_RELAY:9100" \
	--sessions "$CALLS" --direction both --duration "$SECONDS_OF_MEDIA" \
	--srtp-a AES_CM_128_HMAC_SHA1_80 --srtp-fallback --desc 4096 \
	--port net_af_packet0 --port net_af_packet1 -- \
	--lcores=0@0 --no-pci --no-huge -m 512 --no-shconf --no-telemetry --log-level=warning \
	--file-prefix="mfw-$TAG-gen" --vdev=net_af_packet0,iface=a0,framecnt=4096 --vdev=net_af_packet1,iface=b0,framecnt=4096 &
GEN=$!
PIDS+=("$GEN")
wait "$GEN"
echo
