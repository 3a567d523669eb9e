# mediafwd: the two commands of the quick start.
#   make demo   1,000 calls set up over gRPC and relayed through mediafwd for
#               20 seconds, between two network namespaces; a report, then
#               everything it made is removed (scripts/demo.sh)
#   make test   the whole suite (formatting, lints, unit, property and DPDK tests,
#               the packet logic built without DPDK, and a few seconds of each
#               fuzz target; make fuzz runs them longer, docs/testing.md)
#   make soak DURATION=3600   calls, session churn and malformed frames at once;
#               memory, packet buffers, sessions and drops sampled to CSV and a
#               plot; fails if anything grows after warm-up or a call packet is
#               lost (perf/soak.sh; SOAK_OUT=dir for the results)
# Both install missing Debian packages (as root); what is already there is
# left alone.

CARGO ?= cargo
HUGEPAGES ?= 512
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build release test lint fmt hugepages demo soak flood selfcheck bench bench-matrix clean fuzz fuzz-smoke webrtc-venv webrtc-interop webrtc-browser

all: build

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --workspace --all-targets

release: deps
	$(CARGO) build --release --workspace

fmt:
	$(CARGO) fmt --all

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p mediafwd-dataplane --no-default-features --all-targets -- -D warnings

test: lint webrtc-venv
	$(CARGO) test --workspace
	$(CARGO) test -p mediafwd-dataplane --no-default-features --lib
	$(MAKE) fuzz-smoke

# The virtualenv with aiortc (PyPI) that the WebRTC interop test runs
# (controlplane/tests/webrtc_interop.rs, scripts/webrtc-interop.sh).
WEBRTC_VENV ?= $(CURDIR)/target/webrtc-venv
export WEBRTC_VENV
webrtc-venv: deps
	scripts/webrtc-venv.sh $(WEBRTC_VENV)

# aiortc through mediafwd to a plain RTP endpoint, alone (root).
webrtc-interop: webrtc-venv
	$(CARGO) build -p mediafwd-controlplane --bin mediafwd
	scripts/webrtc-interop.sh

# The same call from headless Chromium (Debian's chromium, installed here:
# scripts/deps.sh --browser) with its fake microphone, to an RTP echo.
webrtc-browser: webrtc-venv
	scripts/deps.sh --browser
	$(CARGO) build -p mediafwd-controlplane --bin mediafwd
	scripts/webrtc-interop.sh --browser

# Every fuzz target (fuzz/, docs/testing.md) for FUZZ_SECONDS each, from the
# checked-in seeds; cargo-fuzz is installed when missing. Needs the nightly
# toolchain.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# What make test runs: each target for a few seconds.
FUZZ_SMOKE_SECONDS ?= 5
fuzz-smoke:
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

# Reserves 2 MiB hugepages and mounts hugetlbfs, unless already done.
hugepages: deps
	@have=$$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages); \
	if [ "$$have" -lt $(HUGEPAGES) ]; then \
	  $(CARGO) run -q --release -p mediafwd-hugepage-setup -- reserve --count $(HUGEPAGES) --size 2M; \
	fi
	$(CARGO) run -q --release -p mediafwd-hugepage-setup -- mount --size 2M

demo: deps
	@scripts/demo.sh

DURATION ?= 600
soak: deps
	DURATION=$(DURATION) perf/soak.sh

# Floods of ARP, NS, ICMP echo and UDP while a call streams (perf/flood.sh).
flood: deps
	perf/flood.sh

# The packet engine alone: one worker between two virtual ports.
selfcheck: release hugepages
	$(CARGO) run -q --release -p mediafwd-dataplane --example selfcheck

bench: release hugepages
	$(CARGO) bench -p mediafwd-dataplane --bench relay
	perf/bench-forward.sh

# The scenario matrix against testpmd and rtpengine (docs/performance.md).
bench-matrix: release
	perf/bench

clean:
	$(CARGO) clean
