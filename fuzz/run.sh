#!/usr/bin/env bash
# Builds every fuzz target on stable (no sanitizer) and runs each for a bounded time:
# about a minute in all. CI calls this; see docs/oracle.md for long runs.
#
#   fuzz/run.sh                 # ~12 s per target
#   FUZZ_SECONDS=1800 fuzz/run.sh   # the long run: 30 minutes per target
#
# A crash stops the script with status 1; the input is in fuzz/artifacts/<target>/ and
# belongs, once fixed, in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-12}"
TARGETS=(exec_bytes lockstep_fastpath pe_load wow64_service state_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

target_dir_args=()
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  target_dir_args=(--target-dir "$CARGO_TARGET_DIR")
fi

cargo fuzz build --sanitizer none "${target_dir_args[@]}"

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
  echo "== $t: ${SECONDS_PER_TARGET}s"
  log="$work.log"
  status=0
  # shellcheck disable=SC2046
  cargo fuzz run --sanitizer none "${target_dir_args[@]}" "$t" "$work" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
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
