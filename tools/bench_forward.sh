#!/usr/bin/env bash
# Measures the forward pass on a checkpoint: load time, peak RSS, prefill and decode
# tokens/s (bench/bench_model.cpp). Without a model argument it uses (and creates
# once, ~16 s, 1.2 GB) a random Qwen3Guard-Gen-0.6B-shaped BF16 checkpoint.
#
#   tools/bench_forward.sh [MODEL_DIR] [--threads 2] [--prompt 512] [--decode 64]
#   QG_FORCE_ISA=scalar tools/bench_forward.sh      # the scalar reference kernels
set -euo pipefail
cd "$(dirname "$0")/.."
model=${QG_BENCH_MODEL:-/work/models/qwen3-0.6B-random-bf16}
if [[ $# -gt 0 && $1 != --* ]]; then model=$1; shift; fi
if [[ ! -f $model/config.json ]]; then
  echo "bench_forward: writing a random 0.6B-shaped checkpoint to $model" >&2
  /usr/bin/python3 tools/make_test_model.py --preset 0.6B --dtype bf16 --out "$model"
fi
cmake --preset release >/dev/null
cmake --build --preset release --target bench_model >/dev/null
threads_set=0
for a in "$@"; do [[ $a == --threads ]] && threads_set=1; done
extra=()
((threads_set)) || extra=(--threads 2)
exec build/release/bench/bench_model --model "$model" "${extra[@]}" "$@"
