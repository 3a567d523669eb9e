#!/bin/sh
# Runs a command where the system's DPDK cannot be found: in a private mount
# namespace (root; nothing outside it changes) with DPDK's pkg-config files,
# headers, libraries (librte_*, libdpdk*) and PMD directory hidden behind
# empty bind mounts. Shows that the packet logic builds and tests without
# DPDK:
#   scripts/without-dpdk.sh cargo test -p mediafwd-dataplane --no-default-features
set -eu
[ "$#" -gt 0 ] || { echo "usage: $0 command [args...]" >&2; exit 2; }
if [ -z "${MEDIAFWD_NO_DPDK_NS:-}" ]; then
    MEDIAFWD_NO_DPDK_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
empty=$(mktemp -d)
hide() { # hide PATH: an empty directory over a directory, /dev/null over a file
    if [ -d "$1" ]; then mount --bind "$empty" "$1"; else mount --bind /dev/null "$1"; fi
}
for d in /usr/lib /usr/local/lib /usr/share; do
    for p in "$d"/pkgconfig "$d"/*-linux-gnu*/pkgconfig; do
        for f in "$p"/libdpdk*.pc; do [ -e "$f" ] && hide "$f"; done
    done
done
for f in /usr/include/dpdk /usr/local/include/dpdk /usr/include/*-linux-gnu*/dpdk \
         /usr/lib/*-linux-gnu*/dpdk /usr/lib/*-linux-gnu*/librte_* /usr/lib/*-linux-gnu*/libdpdk* \
         /usr/local/lib/librte_* /usr/local/lib/*-linux-gnu*/librte_*; do
    [ -e "$f" ] && hide "$f"
done
if pkg-config --exists libdpdk 2>/dev/null; then
    echo "without-dpdk: pkg-config still finds libdpdk" >&2
    exit 1
fi
exec "$@"
