#!/usr/bin/env bash
# The whole test suite: dependencies, release build + every ctest, then the
# sanitizer build (ASan + UBSan) running the unit tests. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
ctest --preset release -j "$(nproc)"
scripts/build.sh sanitize
ctest --preset sanitize -j "$(nproc)" -L unit
