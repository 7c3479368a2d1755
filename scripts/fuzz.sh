#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan + UBSan) into ${FUZZ_BUILD_DIR:-build-fuzz}
# and runs each for FUZZ_SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/<target>.
# New inputs go to build-fuzz/corpus/<target> (not committed); a crash leaves its input in
# build-fuzz/artifacts/ and makes this script fail. Prints one summary line per target.
#   FUZZ_SECONDS=600 FUZZ_TARGETS="fuzz_model" bash scripts/fuzz.sh
# The mutation seed is fixed (FUZZ_SEED, default 1) so that CI's bounded run repeats the same
# inputs from run to run; long exploratory runs should pass other seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
command -v "$CXX_FUZZ" >/dev/null || { echo "fuzz: $CXX_FUZZ not found (scripts/install_deps.sh installs clang-14)"; exit 1; }
cmake -S tests/fuzz -B "$B" -DCMAKE_CXX_COMPILER="$CXX_FUZZ" >/dev/null
targets=${FUZZ_TARGETS:-"fuzz_model fuzz_sidecar fuzz_ivf_load fuzz_npy fuzz_vecs"}
avail=()
known=$(cmake --build "$B" --target help)
for t in $targets; do
  # fuzz_sidecar and fuzz_ivf_load exist only where FAISS was found.
  if grep -qw "$t" <<<"$known"; then avail+=("$t"); else echo "fuzz: $t not configured, skipped"; fi
done
cmake --build "$B" -j"${JOBS:-$(nproc)}" --target "${avail[@]}"
mkdir -p "$B/artifacts"
# libFuzzer runs in-process with ASan; leak checks at exit see OpenBLAS/OpenMP thread pools.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
status=0
for t in "${avail[@]}"; do
  mkdir -p "$B/corpus/$t"
  log="$B/$t.log"
  if "$B/$t" "$B/corpus/$t" "tests/fuzz/corpus/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -seed="${FUZZ_SEED:-1}" \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/artifacts/$t-" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED; status=1
    tail -40 "$log"
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || echo '?')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  echo "fuzz: $t $result: $runs executions in ${SECONDS_EACH} s, ${cov:-cov: ?}, corpus $(ls "$B/corpus/$t" | wc -l) new inputs"
done
exit $status
