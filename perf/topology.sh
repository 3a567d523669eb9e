# The two-namespace topology of the benchmark's veth rows and of `make demo`,
# sourced by perf/bench and scripts/demo.sh.
#
#   namespace $TOPO_GEN                         namespace $TOPO_RELAY
#   rtpgen (DPDK)   a0 <=========== veth ==========> a1  relay side a (callers)
#                   b0 <=========== veth ==========> b1  relay side b (callees)
#   198.18.255.1/30 c0 <=========== veth ==========> c1  198.18.255.2/30 (API, metrics, ng)
#
# The DPDK ends carry no kernel address; every address is in 198.18.0.0/15,
# inside namespaces made here. topo_up sets TOPO_GEN and TOPO_RELAY;
# topo_down removes both namespaces (and with them the veths), whatever
# state they are in.

TOPO_CTL_GEN=198.18.255.1
TOPO_CTL_RELAY=198.18.255.2

# topo_up TAG: creates mfw-TAG-gen and mfw-TAG-relay.
topo_up() {
	TOPO_GEN="mfw-$1-gen"
	TOPO_RELAY="mfw-$1-relay"
	ip netns add "$TOPO_GEN"
	ip netns add "$TOPO_RELAY"
	local p
	for p in a b c; do
		ip link add "${p}0" netns "$TOPO_GEN" type veth peer name "${p}1" netns "$TOPO_RELAY"
	done
	for p in a b c; do
		ip -n "$TOPO_GEN" link set "${p}0" up
		ip -n "$TOPO_RELAY" link set "${p}1" up
	done
	ip -n "$TOPO_GEN" link set lo up
	ip -n "$TOPO_RELAY" link set lo up
	ip -n "$TOPO_GEN" addr add "$TOPO_CTL_GEN/30" dev c0
	ip -n "$TOPO_RELAY" addr add "$TOPO_CTL_RELAY/30" dev c1
	for p in a0 b0; do ip netns exec "$TOPO_GEN" sysctl -qw "net.ipv6.conf.$p.disable_ipv6=1"; done
	for p in a1 b1; do ip netns exec "$TOPO_RELAY" sysctl -qw "net.ipv6.conf.$p.disable_ipv6=1"; done
}

# topo_kernel_relay: gives the relay's side-a and side-b ends kernel addresses
# and routes to the endpoints (for a relay on kernel sockets, rtpengine).
# Checksum offload is off: veth would leave UDP checksums partial.
topo_kernel_relay() {
	ip -n "$TOPO_RELAY" addr add 198.18.0.1/24 dev a1
	ip -n "$TOPO_RELAY" addr add 198.19.0.1/24 dev b1
	ip -n "$TOPO_RELAY" route add 198.18.64.0/18 via 198.18.0.2
	ip -n "$TOPO_RELAY" route add 198.19.64.0/18 via 198.19.0.2
	ip netns exec "$TOPO_RELAY" ethtool -K a1 tx off >/dev/null
	ip netns exec "$TOPO_RELAY" ethtool -K b1 tx off >/dev/null
}

# topo_down: removes the namespaces (their veths go with them).
topo_down() {
	[ -n "${TOPO_GEN:-}" ] && ip netns del "$TOPO_GEN" 2>/dev/null || true
	[ -n "${TOPO_RELAY:-}" ] && ip netns del "$TOPO_RELAY" 2>/dev/null || true
}
