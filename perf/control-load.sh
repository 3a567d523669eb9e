#!/usr/bin/env bash
# Control-plane load while the dataplane forwards: a real mediafwd node on
# two veth pairs into namespaces, one call streaming RTP through it (1,000
# packets per second each way from kernel sockets), and session create +
# delete churn over gRPC from mfw-control-load. Reports set-ups per second,
# create/delete latency, and whether the streaming call lost anything.
#
#   sudo perf/control-load.sh [--duration S] [--concurrency N]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
concurrency=32
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--concurrency N]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run as root (namespaces, DPDK)" >&2; exit 1; }

tag=cl$$
caller=mfw-$tag-caller callee=mfw-$tag-callee
dir=$(mktemp -d)
node_pid= stream_pid=
cleanup() {
  [[ -n $stream_pid ]] && kill "$stream_pid" 2>/dev/null || true
  [[ -n $node_pid ]] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
  ip link del m${tag}a 2>/dev/null || true
  ip link del m${tag}b 2>/dev/null || true
  ip netns del $caller 2>/dev/null || true
  ip netns del $callee 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

cargo build -q --release -p mediafwd-controlplane --bin mediafwd -p mediafwd-perf --bin mfw-control-load

for side in a:$caller:198.18.0.2 b:$callee:198.19.0.2; do
  IFS=: read -r s ns addr <<<"$side"
  ip netns add "$ns"
  ip link add m$tag$s type veth peer name eth0 netns "$ns"
  sysctl -qw net.ipv6.conf.m$tag$s.disable_ipv6=1
  ip link set m$tag$s up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
  ip netns exec "$ns" ip addr add "$addr/24" dev eth0
done

cat >"$dir/mediafwd.toml" <<TOML
[node]
worker_cores = [1]
control_cores = [0]
hugepages = false
file_prefix = "mfw-$tag"
[api]
listen = "127.0.0.1:0"
[sessions]
port_quarantine = 1
[[interface]]
name = "public"
device = "net_af_packet0,iface=m${tag}a"
addresses = ["198.18.0.1/24"]
rtp_ports = "10000-65535"
[[interface]]
name = "private"
device = "net_af_packet1,iface=m${tag}b"
addresses = ["198.19.0.1/24"]
rtp_ports = "10000-65535"
[[static_session]]
id = "streaming"
legs = [
  { interface = "public", local_port = 10000, remote = "198.18.0.2:5000" },
  { interface = "private", local_port = 10000, remote = "198.19.0.2:6000" },
]
TOML
RUST_LOG=warn,mediafwd_controlplane::api=info ./target/release/mediafwd -c "$dir/mediafwd.toml" 2>"$dir/node.log" &
node_pid=$!
for _ in $(seq 100); do grep -q "API listening" "$dir/node.log" && break; sleep 0.1; done
api=$(grep -o 'addr=[0-9.:]*' "$dir/node.log" | head -1 | cut -d= -f2)
[[ -n $api ]] || { cat "$dir/node.log"; exit 1; }

# The streaming call: 1,000 RTP packets per second from the caller, counted at the callee.
stream_seconds=$((duration + 4))
ip netns exec $callee python3 - "$stream_seconds" >"$dir/received" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.19.0.2", 6000)); s.settimeout(0.5)
n, end = 0, time.monotonic() + float(sys.argv[1]) + 2
while time.monotonic() < end:
    try: s.recv(2048); n += 1
    except socket.timeout: pass
print(n)
PY
recv_pid=$!
sleep 0.5
ip netns exec $caller python3 - "$stream_seconds" >"$dir/sent" <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.2", 5000))
n, start = 0, time.monotonic()
while time.monotonic() - start < float(sys.argv[1]):
    s.sendto(struct.pack("!BBHII", 0x80, 0, n & 0xffff, n * 160 & 0xffffffff, 0x5eed) + bytes(160), ("198.18.0.1", 10000))
    n += 1
    time.sleep(max(0, start + n / 1000 - time.monotonic()))
print(n)
PY
stream_pid=$!
sleep 2 # neighbors resolve, the stream settles

taskset -c 0 ./target/release/mfw-control-load --server "http://$api" --concurrency "$concurrency" --duration "$duration" \
  --a-remote 198.18.0.2:7000 --b-remote 198.19.0.2:8000 | tee "$dir/load"
wait $stream_pid; stream_pid=
wait $recv_pid
sent=$(cat "$dir/sent") received=$(cat "$dir/received")
echo "streaming call during the churn: $sent sent, $received received, $((sent - received)) lost"
echo "(the first packets, before the caller's ARP for mediafwd resolved, may be among them)"
