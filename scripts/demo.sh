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

# shellcheck source=perf/lib.sh
. "$REPO/perf/lib.sh"
lib_require demo
"$REPO/scripts/deps.sh"
lib_build 0 mediafwd-controlplane mediafwd-perf
lib_on_exit() {
	case "$1" in
	0) echo "done: the namespaces, their veths and mediafwd are gone" ;;
	130 | 143) echo "interrupted: the namespaces, their veths and mediafwd are gone" >&2 ;;
	*) echo "demo failed (exit $1); the namespaces, their veths and mediafwd are gone" >&2 ;;
	esac
}
echo "creating the topology: namespaces mfw-d$$-gen and mfw-d$$-relay, three veth pairs"
lib_begin d

lib_relay_config 4096 0

# Both poll their cores; SCHED_RR keeps other tasks of a busy machine from
# stalling them (the kernel's RT throttle still leaves 5% to others).
echo "starting mediafwd (worker on CPU 1, API on $TOPO_CTL_RELAY:7070)"
lib_relay "$DIR/mediafwd.log" ip netns exec "$TOPO_RELAY" chrt -r 10 "$BIN/mediafwd" --config "$DIR/mediafwd.toml"

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
