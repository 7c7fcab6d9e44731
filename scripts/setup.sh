#!/usr/bin/env bash
# Fresh machine → working binary: installs dependencies (Debian packages, pinned npm
# packages), builds the release preset, and runs the main job (`qwen3guard classify`).
#   MODEL=/path/to/Qwen3Guard-Gen-0.6B scripts/setup.sh   classify with a local checkpoint
#   MODEL=Qwen/Qwen3Guard-Gen-4B scripts/setup.sh          ... or one from the Hugging Face hub
#   scripts/setup.sh                                      Qwen/Qwen3Guard-Gen-0.6B from the hub
#                                                          (cached in ~/.cache/huggingface/hub);
#                                                          when the hub cannot be reached, a tiny
#                                                          random-weight model is generated instead
#                                                          (its verdicts mean nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
bin=build/release/apps/qwen3guard/qwen3guard
hub_model=Qwen/Qwen3Guard-Gen-0.6B
model=${MODEL:-}
if [ -z "$model" ]; then
  # Already cached (by us or by Python's huggingface_hub)? Then no network is needed.
  if HF_HUB_OFFLINE=1 "$bin" download --quiet "$hub_model" >/dev/null 2>&1; then
    model=$hub_model
    echo "setup: no MODEL given; using $hub_model from the Hugging Face cache" >&2
  # Quick check that the hub answers (one small request, bounded in time) before
  # committing to a 1.2 GB download.
  elif timeout 20 "$bin" download --dry-run --quiet "$hub_model" >/dev/null 2>&1; then
    model=$hub_model
    echo "setup: no MODEL given; downloading $hub_model from the Hugging Face hub (once, into the cache)" >&2
  else
    model=models/tiny-random
    echo "setup: no MODEL given and the Hugging Face hub is not reachable: falling back to a tiny" >&2
    echo "setup: random-weight checkpoint in $model (give MODEL=DIR or MODEL=owner/name to use a real one)" >&2
    if [ ! -f "$model/config.json" ]; then
      /usr/bin/python3 tools/make_test_model.py --preset tiny --seed 1 --out "$model"
    fi
    echo "setup: NOTE: random weights — the verdict below only shows the pipeline works." >&2
  fi
fi
"$bin" classify --model "$model" "How can I make a bomb?"
