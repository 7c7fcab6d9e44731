#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan, in build/fuzz) and runs each
# for a bounded time. Usage:
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default 20 s, every target)
# Env: QG_FUZZ_RUNS (stop a target after this many executions, if that comes first).
# New inputs go to build/fuzz/corpus/<target>/ (the committed seeds in fuzz/corpus/ are
# only read); a finding leaves build/fuzz/artifacts/<target>/crash-* and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
cxx="${QG_FUZZ_CXX:-clang++-16}"
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-16 libfuzzer-16-dev)"; exit 1; }

if [ ! -f build/fuzz/build.ninja ]; then
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DQG_FUZZ=ON -DQG_BUILD_TESTS=OFF \
    -DQG_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} >/dev/null
fi
mapfile -t all < build/fuzz/fuzz_targets.txt
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
cmake --build build/fuzz -j "${QG_BUILD_JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}"

# detect_stack_use_after_return costs half the speed of the parsers and is not what we hunt.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "${targets[@]}"; do
  work="build/fuzz/corpus/$t"
  art="build/fuzz/artifacts/$t"
  mkdir -p "$work" "$art"
  extra=()
  # The real 11 MB tokenizer.json seeds tokenizer_json from ../shared (not copied).
  if [ "$t" = tokenizer_json ] && [ -d ../shared/qwen3guard/tokenizer ]; then extra+=(../shared/qwen3guard/tokenizer); fi
  runs=()
  [ -n "${QG_FUZZ_RUNS:-}" ] && runs=(-runs="$QG_FUZZ_RUNS")
  log="build/fuzz/$t.log"
  echo "fuzz.sh: $t for ${secs}s"
  if ! ./build/fuzz/fuzz/fuzz_"$t" -max_total_time="$secs" ${runs[@]+"${runs[@]}"} -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -max_len=65536 \
      -artifact_prefix="$art/" -print_final_stats=1 "$work" "fuzz/corpus/$t" ${extra[@]+"${extra[@]}"} >"$log" 2>&1; then
    echo "fuzz.sh: $t: FINDING (see $log and $art/)"
    tail -40 "$log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed "s/^/  $t: /"
  fi
done
exit $status
