#!/usr/bin/env bash
# Fresh machine → working binary: installs dependencies (Debian packages, pinned npm
# packages), builds the release preset, and runs the main job (`qwen3guard classify`).
#   MODEL=/path/to/Qwen3Guard-Gen-0.6B scripts/setup.sh   classify with a real checkpoint
#   scripts/setup.sh                                      no checkpoint: a tiny random-weight
#                                                          model is generated (its verdicts mean nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
bin=build/release/apps/qwen3guard/qwen3guard
model=${MODEL:-}
if [ -z "$model" ]; then
  model=models/tiny-random
  if [ ! -f "$model/config.json" ]; then
    echo "setup: no MODEL given; generating a tiny random-weight checkpoint in $model" >&2
    /usr/bin/python3 tools/make_test_model.py --preset tiny --seed 1 --out "$model"
  fi
  echo "setup: NOTE: random weights — the verdict below only shows the pipeline works." >&2
fi
"$bin" classify --model "$model" "How can I make a bomb?"
