#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET seconds (default 60) and prints
# one summary line per target. Installs cargo-fuzz if it is missing. Works on the stable
# toolchain (sanitizer "none"); set FUZZ_SANITIZER=address (needs nightly) for ASan.
#
# New inputs go to fuzz/work/<target>/ (ignored by git), so fuzz/corpus/ keeps only the seeds.
# Any crash, timeout or OOM input is copied to fuzz/regressions/<target>/, which `cargo test`
# replays (tests/tests/fuzz_corpus.rs): fix the bug, then keep the file as a regression test.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Exit status: 0 if no target crashed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

secs="${1:-60}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
mkdir -p "$root/fuzz/work"
# cargo-fuzz passes a few unstable flags to rustc; on a stable toolchain RUSTC_BOOTSTRAP lets
# them through (only needed when the plain build fails).
if ! cargo fuzz build -s "$sanitizer" >"$root/fuzz/work/build.log" 2>&1; then
  echo "cargo fuzz build failed on this toolchain; retrying with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  if ! cargo fuzz build -s "$sanitizer" >"$root/fuzz/work/build.log" 2>&1; then
    cat "$root/fuzz/work/build.log"
    exit 1
  fi
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

failed=0
for t in "${targets[@]}"; do
  work="$root/fuzz/work/$t"
  log="$root/fuzz/work/$t.log"
  mkdir -p "$work" "$root/fuzz/corpus/$t"
  rm -rf "$root/fuzz/artifacts/$t"
  set +e
  cargo fuzz run "$t" "$work" "$root/fuzz/corpus/$t" -s "$sanitizer" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -aoE '[0-9]+$' | tail -1 || true)
  last=$(grep -aE '#[0-9]+' "$log" | grep -aE ' (cov|ft): ' | tail -1 || true)
  cov=$(grep -aoE 'cov: [0-9]+' <<<"$last" | grep -aoE '[0-9]+' || true)
  ft=$(grep -aoE 'ft: [0-9]+' <<<"$last" | grep -aoE '[0-9]+' || true)
  corp=$(grep -aoE 'corp: [0-9]+/[0-9a-zA-Z]+' <<<"$last" | cut -d' ' -f2 || true)
  status=ok
  found=()
  if [ -d "$root/fuzz/artifacts/$t" ]; then
    while IFS= read -r -d '' f; do found+=("$f"); done \
      < <(find "$root/fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) -print0)
  fi
  if [ ${#found[@]} -gt 0 ] || [ $rc -ne 0 ]; then
    status=CRASH
    failed=1
    mkdir -p "$root/fuzz/regressions/$t"
    for f in "${found[@]}"; do
      cp "$f" "$root/fuzz/regressions/$t/"
    done
  fi
  printf '%-16s %-5s execs=%s cov=%s ft=%s corpus=%s secs=%s artifacts=%s log=%s\n' \
    "$t" "$status" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs" "${#found[@]}" "fuzz/work/$t.log"
  if [ "$status" = CRASH ]; then
    grep -a -m1 -A3 -E "panicked at|ERROR: libFuzzer" "$log" | sed 's/^/    /' || true
  fi
done
exit $failed
