#!/usr/bin/env bash
# WebRTC interop: aiortc (a real ICE + DTLS-SRTP stack) calls a plain RTP
# endpoint through mediafwd, whose ng listener gets the SDP with the flags
# Kamailio's WebRTC configurations send.
#
#   namespace mfw-wN-web            namespace mfw-wN-relay              namespace mfw-wN-sip
#   aiortc 198.18.0.2  a0 <== veth ==> a1 mediafwd "public"  198.18.0.1
#                                      b1 mediafwd "private" 198.19.0.1 <== veth ==> b0 198.19.0.2 RTP endpoint
#                                      c1 198.18.255.2 ng, /metrics     <== veth ==> c0 198.18.255.1 ng client
#
# Cases: aiortc offers and mediafwd answers passive, then active (both DTLS
# roles); the SIP side offers and aiortc answers; an offer whose
# a=fingerprint is not aiortc's certificate, and an answer with an ice-pwd
# that is not mediafwd's: both refused, and counted in mediafwd's /metrics.
# Each media case: aiortc sends a 440 Hz tone and hears the SIP side's
# 1000 Hz one; both count packets. Prints per media case
#   webrtc: peer=aiortc ice=ok dtls=ok suite=S sent=N received=M
# and exits non-zero when anything is not as expected. Bounded in time;
# everything it made is removed, also on failure. Needs root.
#
# --browser: the same call with headless Chromium (Debian's `chromium`, its
# fake microphone) instead of aiortc, to an RTP echo on the SIP side; prints
#   webrtc: peer=chromium ice=ok dtls=ok suite=S sent=N received=M
#
# MFW_BIN: the mediafwd binary (default: target/debug/mediafwd, built if missing).
# WEBRTC_VENV: the virtualenv with aiortc (default target/webrtc-venv, made if missing).
# WEBRTC_SECONDS: seconds of media per case (default 3).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${MFW_BIN:-$REPO/target/debug/mediafwd}"
VENV="${WEBRTC_VENV:-$REPO/target/webrtc-venv}"
MEDIA_SECONDS="${WEBRTC_SECONDS:-3}"
BROWSER=0
[ "${1:-}" = --browser ] && BROWSER=1

[ "$(id -u)" = 0 ] || { echo "webrtc-interop needs root (namespaces, DPDK)" >&2; exit 1; }
if [ ! -x "$BIN" ]; then
	(cd "$REPO" && cargo build -q -p mediafwd-controlplane --bin mediafwd)
fi
"$REPO/scripts/webrtc-venv.sh" "$VENV"
PY="$VENV/bin/python"

TAG="w$$"
NS_WEB="mfw-$TAG-web"
NS_RELAY="mfw-$TAG-relay"
NS_SIP="mfw-$TAG-sip"
DIR="$(mktemp -d "/tmp/mediafwd-webrtc-$TAG.XXXXXX")"
PIDS=()

# shellcheck source=perf/lib.sh
. "$REPO/perf/lib.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	lib_stop_pids 50
	if [ "$rc" != 0 ] && [ -f "$DIR/mediafwd.log" ]; then
		echo "--- mediafwd log (last 30 lines)" >&2
		tail -30 "$DIR/mediafwd.log" >&2
	fi
	for ns in "$NS_WEB" "$NS_RELAY" "$NS_SIP"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$DIR" "/var/run/dpdk/mfw-$TAG"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ns in "$NS_WEB" "$NS_RELAY" "$NS_SIP"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add a0 netns "$NS_WEB" type veth peer name a1 netns "$NS_RELAY"
ip link add b0 netns "$NS_SIP" type veth peer name b1 netns "$NS_RELAY"
ip link add c0 netns "$NS_SIP" type veth peer name c1 netns "$NS_RELAY"
ip netns exec "$NS_WEB" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS_SIP" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS_RELAY" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$NS_WEB" addr add 198.18.0.2/24 dev a0
ip -n "$NS_SIP" addr add 198.19.0.2/24 dev b0
ip -n "$NS_SIP" addr add 198.18.255.1/30 dev c0
ip -n "$NS_RELAY" addr add 198.18.255.2/30 dev c1
for l in "$NS_WEB:a0" "$NS_SIP:b0" "$NS_SIP:c0" "$NS_RELAY:a1" "$NS_RELAY:b1" "$NS_RELAY:c1"; do
	ip -n "${l%%:*}" link set "${l##*:}" up
done
# The kernel ends leave UDP checksums to an offload veth does not do.
ip netns exec "$NS_WEB" ethtool -K a0 tx off >/dev/null
ip netns exec "$NS_SIP" ethtool -K b0 tx off >/dev/null

cat >"$DIR/mediafwd.toml" <<EOF
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
memory_mb = 256
file_prefix = "mfw-$TAG"
eal_args = ["--no-telemetry"]

[dataplane]
mbufs = 8191
# Two cores shared with aiortc and the RTP endpoint: the worker rests when idle.
idle_sleep_us = 50

[api]
listen = "127.0.0.1:0"
metrics_listen = "198.18.255.2:9100"

[ng]
listen = "198.18.255.2:22222"

[[interface]]
name = "public"
device = "net_af_packet0,iface=a1"
addresses = ["198.18.0.1/24"]

[[interface]]
name = "private"
device = "net_af_packet1,iface=b1"
addresses = ["198.19.0.1/24"]
EOF

ip netns exec "$NS_RELAY" "$BIN" --config "$DIR/mediafwd.toml" >"$DIR/mediafwd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
	grep -q " ready" "$DIR/mediafwd.log" && break
	kill -0 "${PIDS[0]}" 2>/dev/null || { echo "mediafwd exited" >&2; exit 1; }
	sleep 0.1
done
grep -q " ready" "$DIR/mediafwd.log" || { echo "mediafwd did not get ready in 30 s" >&2; exit 1; }

# run_case NAME PEER_ARGS SIP_ARGS: one call; leaves peer.json and sip.json in $DIR/NAME.
run_case() {
	local name=$1 peer_args=$2 sip_args=$3 d="$DIR/$1" port=$((26000 + ${#PIDS[@]} * 2))
	mkdir -p "$d"
	# shellcheck disable=SC2086
	timeout 60 ip netns exec "$NS_WEB" "$PY" "$REPO/scripts/webrtc/peer.py" --dir "$d" \
		--seconds "$MEDIA_SECONDS" $peer_args >"$d/peer.log" 2>&1 &
	local peer=$!
	PIDS+=("$peer")
	# shellcheck disable=SC2086
	timeout 60 ip netns exec "$NS_SIP" "$PY" "$REPO/scripts/webrtc/sip.py" --dir "$d" \
		--ng 198.18.255.2:22222 --metrics http://198.18.255.2:9100/metrics \
		--call "$TAG-$name" --local "198.19.0.2:$port" $sip_args >"$d/sip.log" 2>&1 || {
		echo "$name: the SIP side failed:" >&2
		cat "$d/sip.log" "$d/peer.log" >&2
		return 1
	}
	wait "$peer" || { echo "$name: aiortc failed:" >&2; cat "$d/peer.log" >&2; return 1; }
}

# field FILE KEY: a value of a JSON result ("a.b" for nested keys).
field() {
	"$PY" -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v.get(k, 0) if isinstance(v, dict) else 0
print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}

# report PEER DIR: reads DIR/peer.json into ice, dtls, suite, sent and
# received (the caller's locals) and prints the call's line.
report() {
	ice=$(field "$2/peer.json" ice)
	dtls=$(field "$2/peer.json" dtls)
	suite=$(field "$2/peer.json" suite)
	sent=$(field "$2/peer.json" sent)
	received=$(field "$2/peer.json" received)
	echo "webrtc: peer=$1 ice=$ice dtls=$dtls suite=$suite sent=$sent received=$received"
}

media_case() {
	local name=$1 d="$DIR/$1"
	run_case "$@"
	local ice dtls suite sent received sip_sent sip_received
	report aiortc "$d"
	sip_sent=$(field "$d/sip.json" sent)
	sip_received=$(field "$d/sip.json" received)
	echo "  ($name: SIP side sent=$sip_sent received=$sip_received; tones heard: aiortc $(field "$d/peer.json" tone_hz) Hz, SIP $(field "$d/sip.json" tone_hz) Hz)"
	[ "$ice" = ok ] && [ "$dtls" = ok ] && [ -n "$suite" ] || { echo "$name: not connected" >&2; return 1; }
	[ "$(field "$d/peer.json" tone_ok)" = true ] || { echo "$name: aiortc did not hear the 1000 Hz tone" >&2; return 1; }
	[ "$(field "$d/sip.json" tone_ok)" = true ] || { echo "$name: the SIP side did not hear the 440 Hz tone" >&2; return 1; }
	# What one side sent reached the other, but for the packets in flight at the ends.
	[ "$sip_received" -ge $((sent * 9 / 10)) ] && [ "$received" -ge $((MEDIA_SECONDS * 50 * 9 / 10)) ] || {
		echo "$name: packets lost: aiortc sent $sent, the SIP side received $sip_received; aiortc received $received" >&2
		return 1
	}
}

refused_case() {
	local name=$1 counter=$4 d="$DIR/$1"
	run_case "$1" "$2 --connect-timeout 10" "$3"
	local dtls before after
	dtls=$(field "$d/peer.json" dtls)
	before=$(field "$d/sip.json" "before.$counter")
	after=$(field "$d/sip.json" "after.$counter")
	echo "webrtc: peer=aiortc case=$name ice=$(field "$d/peer.json" ice) dtls=$dtls refused=$((after - before)) ($counter)"
	[ "$dtls" != ok ] || { echo "$name: the call connected" >&2; return 1; }
	[ "$after" -gt "$before" ] || { echo "$name: mediafwd did not count the refusal ($counter $before -> $after)" >&2; return 1; }
}

# browser_case: Chromium's offer through ng to an RTP echo, mediafwd passive.
browser_case() {
	local d="$DIR/chromium"
	mkdir -p "$d"
	timeout 240 ip netns exec "$NS_WEB" "$PY" "$REPO/scripts/webrtc/browser.py" --dir "$d" \
		--seconds "$MEDIA_SECONDS" >"$d/page.log" 2>&1 &
	local page=$!
	PIDS+=("$page")
	sleep 0.5
	timeout 240 ip netns exec "$NS_WEB" chromium --headless=new --no-sandbox --disable-gpu \
		--use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
		--autoplay-policy=no-user-gesture-required \
		--disable-features=WebRtcHideLocalIpsWithMdns --no-first-run --no-default-browser-check \
		--disable-background-networking --disable-component-update --disable-sync \
		--enable-logging=stderr --user-data-dir="$d/profile" http://127.0.0.1:8088/ >"$d/chromium.log" 2>&1 &
	PIDS+=($!)
	timeout 240 ip netns exec "$NS_SIP" "$PY" "$REPO/scripts/webrtc/sip.py" --dir "$d" \
		--ng 198.18.255.2:22222 --metrics http://198.18.255.2:9100/metrics \
		--call "$TAG-chromium" --local "198.19.0.2:26100" --mode web-offers --dtls passive --echo --offer-wait 120 --max-seconds 120 \
		>"$d/sip.log" 2>&1 || { echo "chromium: the SIP side failed:" >&2; cat "$d/sip.log" "$d/page.log" >&2; grep -v dbus "$d/chromium.log" | tail -20 >&2; return 1; }
	wait "$page" || { echo "chromium: the page server failed:" >&2; cat "$d/page.log" "$d/chromium.log" >&2; return 1; }
	local ice dtls suite sent received
	report chromium "$d"
	echo "  (chromium: the RTP echo received $(field "$d/sip.json" received) and sent back $(field "$d/sip.json" sent))"
	[ "$ice" = ok ] && [ "$dtls" = ok ] && [ "$received" -gt 0 ] || { echo "chromium: no call" >&2; cat "$d/peer.json" >&2; return 1; }
}

if [ "$BROWSER" = 1 ]; then
	command -v chromium >/dev/null || { echo "no chromium: apt-get install chromium (scripts/deps.sh --browser)" >&2; exit 1; }
	browser_case
	exit 0
fi

media_case offer-passive "--freq 440 --expect 1000" "--mode web-offers --dtls passive"
media_case offer-active "--freq 440 --expect 1000" "--mode web-offers --dtls active"
media_case answer "--answer --freq 440 --expect 1000" "--mode sip-offers"
refused_case wrong-fingerprint "--freq 440" "--mode web-offers --bad fingerprint" fingerprint_mismatch
refused_case wrong-ice-pwd "--freq 440" "--mode web-offers --bad ice-pwd" stun_refused
