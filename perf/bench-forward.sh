#!/usr/bin/env bash
# End-to-end forwarding rate of one mediafwd worker against dpdk-testpmd's
# io forwarding, on the same memif link, in one run.
#
#   generator (mfw-blast, memif server, CPU 0) <==memif==> forwarder (memif client, CPU 1)
#
# (a) forwarder = dpdk-testpmd --forward-mode=io (one forwarding core)
# (b) forwarder = mfw-relay-bench (mediafwd's Dataplane, one worker)
#
# Same generator, same sessions, same rate, same duration. Prints a
# markdown table. Needs root (hugepages, real-time scheduling).
#
# Usage: perf/bench-forward.sh [--sessions N] [--duration S] [--rate PPS]
#                              [--no-huge] [--copy] [--no-rt] [--table-memory hugepages|heap]
#                              [--keep-logs DIR]
set -euo pipefail

SESSIONS=50000      # 100,000 flows in mediafwd's table
DURATION=10         # seconds of traffic per forwarder
RATE=0              # packets/s offered; 0 = as fast as the link takes them
HUGE=1              # hugepages (--in-memory --single-file-segments) or --no-huge
ZERO_COPY=1         # memif client zero-copy (needs hugepages)
RT=1                # run the DPDK processes SCHED_RR
TABLES=hugepages    # mediafwd's flow tables: DPDK memory (hugepages) or the heap
KEEP_LOGS=""

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--sessions) SESSIONS="$2"; shift 2 ;;
	--duration) DURATION="$2"; shift 2 ;;
	--rate) RATE="$2"; shift 2 ;;
	--no-huge) HUGE=0; ZERO_COPY=0; shift ;;
	--copy) ZERO_COPY=0; shift ;;
	--no-rt) RT=0; shift ;;
	--table-memory) TABLES="$2"; shift 2 ;;
	--keep-logs) KEEP_LOGS="$2"; shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "unknown option: $1" >&2; usage 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "run as root (hugepages, SCHED_RR)" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not found: apt-get install dpdk" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (generator on 0, forwarder on 1)" >&2; exit 1; }

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${MFW_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}"
if [ ! -x "$BIN/mfw-blast" ] || [ ! -x "$BIN/mfw-relay-bench" ]; then
	echo "building mfw-blast and mfw-relay-bench (release)..." >&2
	(cd "$REPO" && cargo build --release -q -p mediafwd-perf)
fi

TAG="$$"
RUN_DIR="/run/mediafwd-bench.$TAG"
LOG="$RUN_DIR/logs"
SOCK="$RUN_DIR/memif.sock"
PREFIXES=()
PIDS=()
HP_ADDED=0
FIFO_OPEN=0
GEN_MAC=02:00:00:00:00:01
FWD_MAC=02:00:00:00:00:02

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ "$FIFO_OPEN" = 1 ] && exec 3>&- || true
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "$KEEP_LOGS" ] && [ -d "$LOG" ]; then
		mkdir -p "$KEEP_LOGS" && cp -r "$LOG"/. "$KEEP_LOGS"/
	fi
	rm -rf "$RUN_DIR"
	for p in "${PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
	if [ "$HP_ADDED" -gt 0 ]; then
		local now
		now=$(cat /proc/sys/vm/nr_hugepages)
		echo $((now > HP_ADDED ? now - HP_ADDED : 0)) >/proc/sys/vm/nr_hugepages || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$LOG"

# Hugepages: each DPDK process here takes under 150 MB; two run at once.
# With its tables in hugepages, mediafwd takes about 700 bytes more per flow
# (entry, statistics slot) and 256 KiB per relay address (the direct index;
# the plan puts 25,000 sessions on an address, two legs), reserved at its
# start (-m): a memif client in zero-copy mode under --in-memory leaves the
# EAL unable to grow its memory once connected.
MF_MEM=()
if [ "$HUGE" = 1 ]; then
	HP_FREE=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
	HP_WANT=256
	if [ "$TABLES" = hugepages ]; then
		TABLES_MB=$(((2 * SESSIONS * 700 + 2 * ((SESSIONS + 24999) / 25000) * 262144) / 1048576 + 16))
		HP_WANT=$((HP_WANT + TABLES_MB / 2))
		MF_MEM=(-m $((128 + TABLES_MB)))
	fi
	if [ "$HP_FREE" -lt "$HP_WANT" ]; then
		HP_NOW=$(cat /proc/sys/vm/nr_hugepages)
		echo $((HP_NOW + HP_WANT - HP_FREE)) >/proc/sys/vm/nr_hugepages
		HP_ADDED=$(($(cat /proc/sys/vm/nr_hugepages) - HP_NOW))
		HP_FREE=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
		[ "$HP_FREE" -ge "$HP_WANT" ] || { echo "could only get $HP_FREE free 2 MB hugepages" >&2; exit 1; }
	fi
	# --in-memory: hugepages through memfd, no hugetlbfs files to clean up.
	MEM="--in-memory --single-file-segments --no-telemetry"
else
	MEM="--no-huge -m 512 --no-shconf --no-telemetry"
fi
ZC=""
[ "$ZERO_COPY" = 1 ] && ZC=",zero-copy=yes"
PRIO=()
[ "$RT" = 1 ] && command -v chrt >/dev/null && PRIO=(chrt -r 10)

MEMIF="socket=$SOCK,socket-abstract=no"
GEN_EAL="--lcores=0@0 --no-pci $MEM --log-level=notice --vdev=net_memif0,role=server,$MEMIF,mac=$GEN_MAC"
FWD_EAL="--lcores=0@1,1@1 --no-pci $MEM --log-level=notice --vdev=net_memif0,role=client,$MEMIF,mac=$FWD_MAC$ZC"

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		n=$((n - 1))
		sleep 0.1
	done
	return 1
}
# json FILE KEY: a number from a one-line JSON report.
json() { grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2; }

# start_generator NAME: starts mfw-blast; sets GEN_PID.
start_generator() {
	local name=$1 prefix="mfw-gen-$TAG-$1"
	PREFIXES+=("$prefix")
	rm -f "$RUN_DIR/ready" "$RUN_DIR/done" "$SOCK"
	"${PRIO[@]}" "$BIN/mfw-blast" --sessions "$SESSIONS" --duration "$DURATION" --rate "$RATE" \
		--dst-mac "$FWD_MAC" --label "$name" --link-timeout 240 --start-file "$RUN_DIR/ready" --hold-file "$RUN_DIR/done" \
		-- $GEN_EAL --file-prefix="$prefix" >"$LOG/gen-$name.json" 2>"$LOG/gen-$name.log" &
	GEN_PID=$!
	PIDS+=("$GEN_PID")
	wait_for 30 test -S "$SOCK" || { echo "generator did not open $SOCK; see $LOG/gen-$name.log" >&2; exit 1; }
}

# wait_report NAME: waits for the generator's JSON line.
wait_report() {
	local name=$1
	wait_for $((DURATION + 60)) test -s "$LOG/gen-$name.json" ||
		{ echo "no report from the generator; see $LOG/gen-$name.log" >&2; exit 1; }
}
# reap PID...: waits (30 s at most, then TERM) for processes that are leaving.
reap() {
	local pid p keep
	for pid in "$@"; do
		wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		keep=()
		for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
		PIDS=("${keep[@]}")
	done
}

echo "mediafwd forwarding benchmark: $SESSIONS sessions ($((2 * SESSIONS)) flows), ${DURATION}s per forwarder," \
	"rate ${RATE} pps (0 = max), $([ "$HUGE" = 1 ] && echo hugepages || echo no-huge)," \
	"memif client $([ "$ZERO_COPY" = 1 ] && echo zero-copy || echo copy), $([ ${#PRIO[@]} -gt 0 ] && echo SCHED_RR || echo CFS)," \
	"mediafwd tables: $TABLES" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# (a) testpmd io forwarding, driven through its prompt so that its
# statistics (with busy cycles per packet) are read while the link is up.
start_generator testpmd
TP_PREFIX="mfw-tp-$TAG"
PREFIXES+=("$TP_PREFIX")
mkfifo "$RUN_DIR/testpmd.cmd"
"${PRIO[@]}" dpdk-testpmd $FWD_EAL --file-prefix="$TP_PREFIX" -- -i --forward-mode=io --port-topology=loop \
	--nb-cores=1 --rxq=1 --txq=1 --burst=32 --total-num-mbufs=16384 --record-core-cycles --record-burst-stats \
	<"$RUN_DIR/testpmd.cmd" >"$LOG/testpmd.log" 2>&1 &
TP_PID=$!
PIDS+=("$TP_PID")
exec 3>"$RUN_DIR/testpmd.cmd"
FIFO_OPEN=1
echo "start" >&3
wait_for 30 grep -qs "io packet forwarding" "$LOG/testpmd.log" ||
	{ echo "testpmd did not start forwarding; see $LOG/testpmd.log" >&2; exit 1; }
touch "$RUN_DIR/ready"
wait_report testpmd
echo "stop" >&3
wait_for 30 grep -qs "CPU cycles/packet" "$LOG/testpmd.log" || true
touch "$RUN_DIR/done"
echo "quit" >&3
exec 3>&-
FIFO_OPEN=0
reap "$GEN_PID" "$TP_PID"

# (b) mediafwd: one worker relaying the same sessions.
start_generator mediafwd
FWD_PREFIX="mfw-fwd-$TAG"
PREFIXES+=("$FWD_PREFIX")
"${PRIO[@]}" "$BIN/mfw-relay-bench" --sessions "$SESSIONS" --peer-mac "$GEN_MAC" --timeout $((DURATION + 240)) \
	--table-memory "$TABLES" \
	-- $FWD_EAL "${MF_MEM[@]}" --file-prefix="$FWD_PREFIX" >"$LOG/mediafwd.json" 2>"$LOG/mediafwd.log" &
FWD_PID=$!
PIDS+=("$FWD_PID")
wait_for 240 grep -qs "mfw-relay-bench: ready" "$LOG/mediafwd.log" ||
	{ echo "mfw-relay-bench did not get ready; see $LOG/mediafwd.log" >&2; exit 1; }
touch "$RUN_DIR/ready"
wait_report mediafwd
touch "$RUN_DIR/done"
reap "$GEN_PID" "$FWD_PID"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The table.
TP_CPP=$(grep -o "CPU cycles/packet=[0-9.]*" "$LOG/testpmd.log" | tail -1 | cut -d= -f2)
TP_MHZ=$(grep -o "at [0-9]* MHz Clock" "$LOG/testpmd.log" | tail -1 | cut -d' ' -f2)
MF_CPP=$(json "$LOG/mediafwd.json" busy_cycles_per_packet)
MF_HZ=$(json "$LOG/mediafwd.json" tsc_hz)
row() { # name gen-json cycles/packet tsc-MHz reference-forwarded
	awk -v name="$1" -v off="$(json "$2" offered_mpps)" -v fwd="$(json "$2" received_mpps)" \
		-v loss="$(json "$2" loss_pct)" -v blk="$(json "$2" tx_blocked_pct)" -v cpp="$3" -v mhz="$4" -v ref="$5" \
		'BEGIN {
			cap = (cpp > 0) ? mhz / cpp : 0
			printf "| %s | %.2f | %.2f | %.3f | %.1f | %.0f | %.2f | %s |\n", name, off, fwd, loss, blk, cpp, cap,
				(ref > 0) ? sprintf("%.2f", fwd / ref) : "1.00"
		}'
}
TP_FWD=$(json "$LOG/gen-testpmd.json" received_mpps)
echo
echo "| forwarder | offered Mpps | forwarded Mpps | loss % | ring full % | cycles/packet | 1-core capacity Mpps | forwarded ratio mediafwd/testpmd |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "testpmd io" "$LOG/gen-testpmd.json" "${TP_CPP:-0}" "${TP_MHZ:-0}" 0
row "mediafwd" "$LOG/gen-mediafwd.json" "${MF_CPP:-0}" "$(awk -v h="${MF_HZ:-0}" 'BEGIN{print h/1e6}')" "$TP_FWD"
# One line per forwarder, for scripts.
forward() { # name gen-json cycles/packet
	awk -v name="$1" -v n="$SESSIONS" -v off="$(json "$2" offered_mpps)" -v fwd="$(json "$2" received_mpps)" -v cpp="$3" \
		'BEGIN { printf "forward: sessions=%d forwarder=%s offered_mpps=%.3f forwarded_mpps=%.3f cycles_per_packet=%.0f\n", n, name, off, fwd, cpp }'
}
echo
forward testpmd "$LOG/gen-testpmd.json" "${TP_CPP:-0}"
forward mediafwd "$LOG/gen-mediafwd.json" "${MF_CPP:-0}"
awk -v a="${TP_CPP:-0}" -v b="${MF_CPP:-0}" 'BEGIN { if (a > 0 && b > 0) printf "\nper-packet cost ratio testpmd/mediafwd (1-core capacity ratio mediafwd/testpmd): %.2f\n", a / b }'
echo
echo "ring full %: share of the sending time the forwarder's ring was full (high: the forwarder is the bottleneck;"
echo "near 0: the generator is). cycles/packet: the forwarder's busy TSC cycles per packet (rx + work + tx)."
