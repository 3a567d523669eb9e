# The set-up that make soak, make flood and make demo share, sourced by
# perf/soak.sh, perf/flood.sh and scripts/demo.sh beside perf/topology.sh:
#
#   lib_require WHAT          root and 2 CPUs, or exit with a message naming `make WHAT`
#   lib_build NICE PKG...     BIN: the release binaries (built here, niced, unless MFW_BIN_DIR is set)
#   lib_stop_pids TENTHS      TERM to every PID in PIDS, then KILL to those alive after TENTHS/10 s
#   lib_begin LETTER          TAG, DIR (a scratch directory), PIDS; the namespaces up, and a
#                             trap that ends every PID in PIDS (TERM, then KILL), calls
#                             lib_on_exit RC if the caller defined it, removes the namespaces,
#                             DIR and the DPDK runtime directories of file prefixes mfw-TAG-*
#   lib_relay LOG CMD...      starts CMD (the relay, in its namespace) with stdout and stderr in
#                             LOG, appends its PID to PIDS and sets RELAY; waits for "ready"
#   lib_relay_config FRAMES IDLE_US [SECTIONS]
#                             DIR/mediafwd.toml: the relay of this topology (worker on CPU 1,
#                             API, metrics and ng on the c link, "public" on a1 and "private"
#                             on b1 as af_packet ports of FRAMES frames, the worker sleeping
#                             IDLE_US once idle), then SECTIONS (more TOML tables) as given
#   lib_side_link GEN REL INTO  a veth GEN (generator's namespace) to REL (relay's) whose
#                             frames tc redirects into the relay's INTO, as if received there:
#                             a second sender onto a relay port that keeps the first's link clean
#
# Needs bash; everything it makes is removed on exit, also on Ctrl-C.

LIB_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=perf/topology.sh
. "$LIB_REPO/perf/topology.sh"

lib_require() {
	[ "$(id -u)" = 0 ] || { echo "make $1 needs root (namespaces, DPDK): sudo make $1" >&2; exit 1; }
	[ "$(nproc)" -ge 2 ] || { echo "make $1 needs 2 CPUs (the relay's worker polls one)" >&2; exit 1; }
}

lib_build() {
	local nice="$1"
	shift
	BIN="${MFW_BIN_DIR:-${CARGO_TARGET_DIR:-$LIB_REPO/target}/release}"
	if [ -z "${MFW_BIN_DIR:-}" ]; then
		echo "building $* (release; the first build takes a few minutes)..."
		local pkgs=() p
		for p in "$@"; do pkgs+=(-p "$p"); done
		(cd "$LIB_REPO" && nice -n "$nice" cargo build --release -q "${pkgs[@]}")
	fi
}

# Ends every PID in PIDS: TERM to all, then up to $1 tenths of a second each
# before KILL.
lib_stop_pids() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq "$1"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

lib_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	lib_stop_pids 100
	if declare -F lib_on_exit >/dev/null; then lib_on_exit "$rc" || true; fi
	topo_down
	rm -rf "$DIR" /var/run/dpdk/mfw-"$TAG"-*
	exit "$rc"
}

lib_begin() {
	TAG="$1$$"
	DIR="$(mktemp -d "/tmp/mediafwd-$1.XXXXXX")"
	PIDS=()
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	topo_up "$TAG"
}

lib_relay() {
	local log="$1"
	shift
	"$@" >"$log" 2>&1 &
	RELAY=$!
	PIDS+=("$RELAY")
	for _ in $(seq 300); do
		grep -q " ready" "$log" && return 0
		kill -0 "$RELAY" 2>/dev/null || { cat "$log" >&2; exit 1; }
		sleep 0.1
	done
	echo "mediafwd did not get ready:" >&2
	tail "$log" >&2
	exit 1
}

lib_side_link() {
	ip link add "$1" netns "$TOPO_GEN" type veth peer name "$2" netns "$TOPO_RELAY"
	ip -n "$TOPO_GEN" link set "$1" up
	ip -n "$TOPO_RELAY" link set "$2" up
	ip netns exec "$TOPO_GEN" sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
	ip netns exec "$TOPO_RELAY" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
	tc -n "$TOPO_RELAY" qdisc add dev "$2" clsact
	tc -n "$TOPO_RELAY" filter add dev "$2" ingress u32 match u32 0 0 action mirred ingress redirect dev "$3"
}

lib_relay_config() {
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
idle_sleep_us = $2

[api]
listen = "$TOPO_CTL_RELAY:7070"
metrics_listen = "$TOPO_CTL_RELAY:9100"

[ng]
listen = "$TOPO_CTL_RELAY:22222"

[[interface]]
name = "public"
device = "net_af_packet0,iface=a1,framecnt=$1"
addresses = ["198.18.0.1/24", "2001:db8::1/64"]
gateway4 = "198.18.0.2"

[[interface]]
name = "private"
device = "net_af_packet1,iface=b1,framecnt=$1"
addresses = ["198.19.0.1/24"]
gateway4 = "198.19.0.2"
${3:-}
EOF
}
