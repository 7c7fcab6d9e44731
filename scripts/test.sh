#!/usr/bin/env bash
# The whole test suite: dependencies, release build + every ctest, then the
# sanitizer build (ASan + UBSan) running the unit tests, then the fuzz targets for a few
# seconds each. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
ctest --preset release -j "$(nproc)"
scripts/build.sh sanitize
ctest --preset sanitize -j "$(nproc)" -L unit
# libFuzzer targets (fuzz/, clang + ASan + UBSan), each for a bounded time: the whole step
# (build included) stays within ~4 minutes on 2 cores. Longer runs: docs/fuzzing.md.
scripts/fuzz.sh "${QG_CI_FUZZ_SECONDS:-8}"
