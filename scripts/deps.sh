#!/usr/bin/env bash
# Installs the Debian packages mediafwd needs that are missing; does nothing
# when everything is there. Run as root (make does this for you).
# --bench: also what perf/bench compares mediafwd with (rtpengine).
# --browser: also what make webrtc-browser runs (chromium).
set -euo pipefail

packages=(
  # DPDK 22.11 LTS: libraries, PMDs, headers, dpdk-testpmd.
  libdpdk-dev dpdk dpdk-dev pkg-config
  # Bindings are generated with bindgen, which needs libclang.
  libclang-dev clang
  # Network namespaces and veth pairs for the end-to-end tests.
  iproute2 iputils-ping ethtool python3
  # SRTP's crypto engine: Intel's multi-buffer library (AES-CTR, HMAC-SHA1, AES-GCM).
  libipsec-mb-dev
  # SRTP interoperability tests run against libsrtp.
  libsrtp2-dev
  # DTLS-SRTP handshakes of WebRTC legs (dtls/) use OpenSSL.
  libssl-dev
  # The gRPC API is compiled with protoc.
  protobuf-compiler
  # The ng end-to-end tests run the real SIP tier: Kamailio (with its
  # rtpengine module) between sipp callers and callees.
  kamailio sip-tester
  # The pktgen-dpdk profile is checked with the Lua compiler.
  lua5.4
  # The session store's tests run a real Redis (and its Sentinel).
  redis-server redis-sentinel
  # make soak draws its plot with matplotlib.
  python3-matplotlib
  # The WebRTC interop test runs aiortc in a virtualenv (scripts/webrtc-venv.sh).
  python3-venv
)
if [[ "${1:-}" == --bench ]]; then
  # perf/bench relays the same calls through rtpengine (userspace mode).
  packages+=(rtpengine-daemon)
fi
if [[ "${1:-}" == --browser ]]; then
  # make webrtc-browser calls through mediafwd from headless Chromium.
  packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installing kamailio may start its system service on port 5060; the tests
  # run their own Kamailio, so the service freshly installed here is stopped.
  if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now kamailio.service >/dev/null 2>&1 || true
  fi
  # Likewise Redis's: its tests start their own on a random port.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now redis-server.service redis-sentinel.service >/dev/null 2>&1 || true
  fi
  # Likewise rtpengine's: perf/bench runs its own.
  if [[ " ${missing[*]} " == *" rtpengine-daemon "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now rtpengine-daemon.service >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust 1.88 or newer (https://rustup.rs), then run make again" >&2
  exit 1
fi
