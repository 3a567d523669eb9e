#!/usr/bin/env bash
# Runs mediafwd's fuzz targets (fuzz/, cargo-fuzz and libFuzzer on the nightly
# toolchain), each for SECONDS, one after the other, from the checked-in seeds
# (fuzz/seeds/<target>) and the working corpus (fuzz/corpus/<target>, not
# checked in). Installs cargo-fuzz from crates.io when it is missing.
#
#   scripts/fuzz.sh SECONDS [TARGET...]     all targets when none is named
#
# Prints each target's executions and coverage (libFuzzer's cov and ft) at the
# end; exits non-zero if any target crashed (the input is kept under
# fuzz/artifacts/<target>/ and named in the output).
set -euo pipefail

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")/.."

toolchain=${FUZZ_TOOLCHAIN:-nightly}
if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
  echo "fuzzing needs the $toolchain toolchain (rustup toolchain install $toolchain)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi
# One build of every target; -O keeps the dependencies' debug assertions off,
# mediafwd's crates keep theirs (fuzz/Cargo.toml).
cargo "+$toolchain" fuzz build -O

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log=$(mktemp)
  echo "== $t: ${seconds}s"
  if cargo "+$toolchain" fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20 >&2 || true
  fi
  done_line=$(grep -E '^#[0-9]+ +DONE' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  summary+=("$(printf '%-16s %-6s execs=%-10s %s' "$t" "$status" "${execs:-?}" "$(sed -E 's/^#[0-9]+ +DONE +//' <<<"$done_line")")")
  rm -f "$log"
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "crashed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
