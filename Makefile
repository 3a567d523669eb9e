# mediafwd: the two commands of the quick start.
#   make demo   build and show packets relayed through a worker on virtual ports
#   make test   the whole suite (formatting, lints, unit, property and DPDK tests)
# Both install missing Debian packages (as root) and prepare hugepages when a
# step needs them; what is already there is left alone.

CARGO ?= cargo
HUGEPAGES ?= 512
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build release test lint fmt hugepages demo bench clean

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
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --workspace

# Reserves 2 MiB hugepages and mounts hugetlbfs, unless already done.
hugepages: deps
	@have=$$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages); \
	if [ "$$have" -lt $(HUGEPAGES) ]; then \
	  $(CARGO) run -q --release -p mediafwd-hugepage-setup -- reserve --count $(HUGEPAGES) --size 2M; \
	fi
	$(CARGO) run -q --release -p mediafwd-hugepage-setup -- mount --size 2M

demo: release hugepages
	$(CARGO) run -q --release -p mediafwd-dataplane --example selfcheck

bench: release hugepages
	$(CARGO) bench -p mediafwd-dataplane --bench relay
	perf/bench-forward.sh

clean:
	$(CARGO) clean
