#!/usr/bin/env bash
# make soak: mediafwd under everything at once for DURATION seconds.
#
#   namespace mfw-sN-gen                              namespace mfw-sN-relay
#   rtpgen: CALLS calls, leg a SRTP   a0 <== veth ==> a1  mediafwd "public"
#                                     b0 <== veth ==> b1  mediafwd "private"
#   soak.py barrage (malformed)       d0 <== veth ==> d1 --tc mirred--> into b1
#   mfw-control-load (gRPC + ng churn), soak.py sample
#                                     c0 <== veth ==> c1  API, metrics, ng
#
# The barrage enters b1 (the callees' interface) from its own veth,
# redirected by tc, so rtpgen's ports carry nothing but the calls and a call
# packet lost can only have been lost by the relay or by rtpgen's own links.
# rtpgen prints its totals every second (SOAK_OUT/rtpgen.log), so a loss
# has a time; SOAK_OUT/kernel-counters.txt has the links' kernel counters
# at the start and the end.
#
# Every SOAK_EVERY (10) seconds soak.py samples the relay's resident memory,
# the packet pool's buffers in use, sessions, drops by reason and the frames
# the kernel dropped on the relay's and rtpgen's full receive rings into
# soak.csv; at the end it draws soak.png and fails (exit 1) if memory or
# buffers grew after the warm-up (SOAK_WARMUP, default a tenth of the run,
# at least 60 s), rtpgen lost a call packet or the relay died. Results go
# to SOAK_OUT (default target/soak). The af_packet rings of the relay's and
# rtpgen's ports hold SOAK_FRAMES (16384) frames each: 1.6 s of the calls.
#
# The relay and the call generator run under SCHED_RR at priority SOAK_RT
# (20; empty: the ordinary scheduler at nice SOAK_PRIO, -5): the machine may
# be shared with builds and with benchmarks that poll under SCHED_RR
# themselves, and a relay or generator kept off its CPU for a second
# overflows its receive rings (the kernel's RT throttle still leaves others
# 5% of each second); the churn, the barrage and the sampler run at
# SOAK_NICE (10). The relay's worker and rtpgen sleep SOAK_IDLE_SLEEP_US
# (20) once idle (dataplane.idle_sleep_us, rtpgen --idle-sleep-us), so that
# neither holds a whole CPU for 10,000 packets a second. The relay's log (stdout and stderr,
# with LIBC_FATAL_STDERR_ and RUST_BACKTRACE set) goes straight to
# SOAK_OUT/mediafwd.log, and a core file, if it dumps one, stays there too;
# a relay that did not live to the end fails the run. Needs root and 2
# CPUs. Everything it made is removed at the end, also on Ctrl-C.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-600}"
CALLS="${SOAK_CALLS:-100}"
CHURN_RATE="${SOAK_CHURN_RATE:-5}"
BARRAGE_PPS="${SOAK_BARRAGE_PPS:-500}"
EVERY="${SOAK_EVERY:-10}"
NICE="${SOAK_NICE:-10}"
PRIO="${SOAK_PRIO:--5}"
RT="${SOAK_RT-20}"
IDLE_US="${SOAK_IDLE_SLEEP_US:-20}"
OUT="$(mkdir -p "${SOAK_OUT:-$REPO/target/soak}" && cd "${SOAK_OUT:-$REPO/target/soak}" && pwd)"
WARMUP="${SOAK_WARMUP:-$((DURATION / 10 > 60 ? DURATION / 10 : 60))}"

# shellcheck source=perf/lib.sh
. "$REPO/perf/lib.sh"
lib_require soak
# Debian's python3, where python3-matplotlib is (scripts/deps.sh).
PY="$(command -v /usr/bin/python3 || command -v python3)"
lib_build "$NICE" mediafwd-controlplane mediafwd-perf
lib_begin s
lib_side_link d0 d1 b1
if [ -n "$RT" ]; then SCHED=(chrt -r "$RT"); else SCHED=(nice -n "$PRIO"); fi
lib_relay_config "${SOAK_FRAMES:-16384}" "$IDLE_US" "[sessions]
max_sessions = $((CALLS + 64))"

# The kernel's side of the links, read before the namespaces go: veth drops
# (`ip -s link`) and the per-CPU backlog drops (softnet_stat's second column),
# at the start and at the end, so that a loss outside the relay has a place.
kernel_counters() {
	{
		echo "== $1 $(date -u +%FT%TZ)"
		ip -n "$TOPO_GEN" -s -s link show
		ip -n "$TOPO_RELAY" -s -s link show
		echo "-- softnet_stat"
		cat /proc/net/softnet_stat
	} >>"$OUT/kernel-counters.txt" 2>&1 || true
}
lib_on_exit() { kernel_counters end; }
rm -f "$OUT/kernel-counters.txt"
kernel_counters start

# A core file lands in the relay's working directory.
rm -f "$OUT"/core*
ulimit -c unlimited
cd "$OUT"
lib_relay "$OUT/mediafwd.log" env LIBC_FATAL_STDERR_=1 RUST_BACKTRACE=1 \
	ip netns exec "$TOPO_RELAY" "${SCHED[@]}" "$BIN/mediafwd" --config "$DIR/mediafwd.toml"
MAC_B="$(ip netns exec "$TOPO_RELAY" cat /sys/class/net/b1/address)"

echo "soak: $DURATION s, $CALLS calls (leg a SRTP), churn $CHURN_RATE/s over gRPC and ng, barrage $BARRAGE_PPS frames/s; results in $OUT"
G=(ip netns exec "$TOPO_GEN" nice -n "$NICE")
ip netns exec "$TOPO_GEN" "${SCHED[@]}" "$BIN/rtpgen" --api "http://$TOPO_CTL_RELAY:7070" --sessions "$CALLS" --direction both \
	--duration "$DURATION" --srtp-a AES_CM_128_HMAC_SHA1_80 --desc 4096 --idle-sleep-us "$IDLE_US" --json \
	--port net_af_packet0 --port net_af_packet1 -- \
	--lcores=0@0 --no-pci --no-huge -m 512 --no-shconf --no-telemetry --log-level=warning \
	--file-prefix="mfw-$TAG-gen" --vdev=net_af_packet0,iface=a0,framecnt=${SOAK_FRAMES:-16384} \
	--vdev=net_af_packet1,iface=b0,framecnt=${SOAK_FRAMES:-16384} >"$OUT/rtpgen.json" 2>"$OUT/rtpgen.log" &
GEN=$!
PIDS+=("$GEN")
"${G[@]}" "$PY" "$REPO/perf/soak/soak.py" sample --pid "$RELAY" --gen-pid "$GEN" \
	--metrics "http://$TOPO_CTL_RELAY:9100/metrics" --csv "$OUT/soak.csv" --seconds "$((DURATION + 30))" \
	--every "$EVERY" &
PIDS+=($!)
SAMPLER=$!
# The churn and the barrage start once the calls stream.
sleep 20
"${G[@]}" "$BIN/mfw-control-load" --server "http://$TOPO_CTL_RELAY:7070" --ng "$TOPO_CTL_RELAY:22222" \
	--rate "$CHURN_RATE" --concurrency 2 --duration "$((DURATION - 30))" >"$DIR/churn.txt" 2>&1 &
PIDS+=($!)
CHURN=$!
"${G[@]}" "$PY" "$REPO/perf/soak/soak.py" barrage --iface d0 --dst-mac "$MAC_B" --src 198.19.0.77 \
	--dst 198.19.0.1 --pps "$BARRAGE_PPS" --seconds "$((DURATION - 30))" >"$DIR/barrage.json" 2>&1 &
PIDS+=($!)
BARRAGE=$!

rc=0
wait "$GEN" || { echo "rtpgen failed:" >&2; tail -20 "$OUT/rtpgen.log" >&2; rc=1; }
wait "$CHURN" || { echo "the churn failed:" >&2; tail "$DIR/churn.txt" >&2; rc=1; }
wait "$BARRAGE" || rc=1
kill -TERM "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
if kill -0 "$RELAY" 2>/dev/null; then
	RELAY_EXIT=running
else
	st=0
	wait "$RELAY" || st=$?
	RELAY_EXIT="exited with status $st$([ "$st" -gt 128 ] && echo " (signal $((st - 128)))") before the end"
	echo "mediafwd $RELAY_EXIT; its log ends:" >&2
	tail -5 "$OUT/mediafwd.log" >&2
	rc=1
fi
tail -1 "$DIR/churn.txt" >"$OUT/churn.json" || true
cp "$DIR/barrage.json" "$OUT/barrage.json"
grep -v '^{' "$DIR/churn.txt" || true
cat "$DIR/barrage.json"
"$PY" "$REPO/perf/soak/soak.py" verdict --csv "$OUT/soak.csv" --png "$OUT/soak.png" --warmup "$WARMUP" \
	--rtpgen "$OUT/rtpgen.json" --churn "$OUT/churn.json" --relay-exit "$RELAY_EXIT" | tee "$OUT/summary.json" || rc=1
[ "$rc" = 0 ] && echo "soak: passed" || echo "soak: FAILED" >&2
exit "$rc"
