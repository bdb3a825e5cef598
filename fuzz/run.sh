#!/usr/bin/env bash
# Builds every fuzz target on stable (no sanitizer) and runs each for a bounded number
# of executions from a fixed seed: about a minute in all, and the same inputs on every
# run, so that CI's verdict does not depend on the machine's speed. CI calls this; see
# docs/oracle.md for long runs.
#
#   fuzz/run.sh                     # fixed seed, fixed executions per target
#   FUZZ_SECONDS=1800 fuzz/run.sh   # the long run: 30 minutes per target, random seed
#
# A crash stops the script with status 1; the input is in fuzz/artifacts/<target>/ and
# belongs, once fixed, in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(exec_bytes lockstep_fastpath pe_load wow64_service library_call serve_request state_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

target_dir_args=()
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  target_dir_args=(--target-dir "$CARGO_TARGET_DIR")
fi

cargo fuzz build --sanitizer none "${target_dir_args[@]}"

# Executions per target in the bounded run (each about 10 s here).
runs_for() {
  case "$1" in
    exec_bytes) echo 200000 ;;
    lockstep_fastpath) echo 100000 ;;
    pe_load|wow64_service) echo 15000 ;;
    library_call|serve_request) echo 3000 ;;
    state_json) echo 400000 ;;
  esac
}

dict_for() {
  case "$1" in
    exec_bytes|lockstep_fastpath) echo "-dict=x86.dict" ;;
    state_json) echo "-dict=state.dict" ;;
    *) echo "" ;;
  esac
}

for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Work on a copy of the committed corpus so that a CI run leaves the tree clean.
  work="$(mktemp -d)"
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  if [[ -n "${FUZZ_SECONDS:-}" ]]; then
    bound=(-max_total_time="$FUZZ_SECONDS")
    echo "== $t: ${FUZZ_SECONDS}s"
  else
    bound=(-runs="$(runs_for "$t")" -seed=1)
    echo "== $t: $(runs_for "$t") executions, seed 1"
  fi
  log="$work.log"
  status=0
  # shellcheck disable=SC2046
  cargo fuzz run --sanitizer none "${target_dir_args[@]}" "$t" "$work" -- \
    "${bound[@]}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 $(dict_for "$t") >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY|thread .* panicked)' "$log" || true
  if [[ "$status" -ne 0 ]]; then
    tail -n 40 "$log"
  fi
  rm -f "$log"
  rm -rf "$work"
  if [[ "$status" -ne 0 ]]; then
    echo "fuzz target $t failed (status $status): see fuzz/artifacts/$t/"
    exit 1
  fi
done
echo "fuzz: all targets ran without a crash"
