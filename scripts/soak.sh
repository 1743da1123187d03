#!/usr/bin/env bash
# The long runs of the simulation tests (release build), with figures:
#   * the signaling model test (backends/sim/tests/signaling_model.rs), MODEL_CASES cases
#     (default 10 000);
#   * the seeded fault simulation (backends/sim/tests/fault_sim.rs), FAULT_SEEDS seeds
#     (default 1 000) starting at FAULT_FIRST_SEED (default 1).
# The CI versions of both run in `cargo test` with a few hundred cases and 50 seeds.
#
# Usage: scripts/soak.sh [model|faults|all]   (default all)
# A failing fault seed is printed with the one-line command that replays it
# (FAULT_SIM_SEED=<seed> cargo test -p genesys-webrtc-sim --test fault_sim -- --nocapture);
# a failing model case is printed by proptest (minimal input) and saved in
# backends/sim/tests/signaling_model.proptest-regressions.
# Exit status: 0 if both passed.
set -uo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
cases="${MODEL_CASES:-10000}"
seeds="${FAULT_SEEDS:-1000}"
first="${FAULT_FIRST_SEED:-1}"
status=0

echo "building the release test binaries"
cargo test --release -p genesys-webrtc-sim --test signaling_model --test fault_sim --no-run \
  >/dev/null 2>&1 || { echo "build failed"; exit 1; }

if [[ "$what" == all || "$what" == model ]]; then
  start=$(date +%s.%N)
  if PROPTEST_CASES="$cases" cargo test --release -q -p genesys-webrtc-sim \
      --test signaling_model -- signaling_matches_the_model >/tmp/soak-model.log 2>&1; then
    result=passed
  else
    result=FAILED
    status=1
    grep -E "minimal failing input|Test failed" -A3 /tmp/soak-model.log | head -40
  fi
  end=$(date +%s.%N)
  printf 'signaling model: %s cases %s in %.1f s (release)\n' "$cases" "$result" \
    "$(echo "$end - $start" | bc)"
fi

if [[ "$what" == all || "$what" == faults ]]; then
  start=$(date +%s.%N)
  if FAULT_SIM_SEEDS="$seeds" FAULT_SIM_FIRST_SEED="$first" cargo test --release -p \
      genesys-webrtc-sim --test fault_sim -- seeded_fault_scenarios --nocapture \
      >/tmp/soak-faults.log 2>&1; then
    result=passed
  else
    result=FAILED
    status=1
  fi
  end=$(date +%s.%N)
  grep -E '^fault_sim: seed|^  reproduce' /tmp/soak-faults.log | head -40
  grep -E '^fault_sim: [0-9]+ seed' /tmp/soak-faults.log
  printf 'fault simulation: %s seeds (%s..%s) %s in %.1f s (release)\n' "$seeds" "$first" \
    "$((first + seeds - 1))" "$result" "$(echo "$end - $start" | bc)"
fi

exit "$status"
