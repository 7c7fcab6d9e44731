#!/usr/bin/python3
"""Writes golden outputs of the numpy reference (qwen3_ref.py) for a model folder.

  make_goldens.py --model DIR --out DIR [--lengths 1,7,64,300] [--greedy-lengths 7]
                  [--greedy 32] [--seed 0]

For each prompt length L: a prompt of L token ids drawn from a generator seeded by
(seed, L) over [0, vocab_size), then
  logits_L.npy   float32 [L, vocab] — the reference's all-position logits
  case_L.json    {"prompt": [...], "logits": "logits_L.npy",
                  "greedy": [...], "greedy_margins": [...]}  (greedy only for
                  --greedy-lengths; margins = top1 - top2 logit at each step)
For a Qwen3ForGuardModel (Stream) checkpoint, also
  heads_L.npy    float32 [L, 23] — the Stream head logits, risk|category|query_risk|query_category
  hidden_L.npy   float32 [L, H]  — the final normed hidden states (input of the heads)
  and case_L.json names them ("heads", "hidden").
The C++ tests read these; nothing here comes from the C++ engine.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen3_ref import Qwen3Reference  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", default="1,7,64,300")
    ap.add_argument("--greedy-lengths", default="7")
    ap.add_argument("--greedy", type=int, default=32, help="greedy tokens to generate")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    ref = Qwen3Reference(a.model)
    vocab = ref.cfg["vocab_size"]
    greedy_lengths = {int(x) for x in a.greedy_lengths.split(",") if x}
    os.makedirs(a.out, exist_ok=True)
    for L in [int(x) for x in a.lengths.split(",") if x]:
        prompt = np.random.default_rng([a.seed, L]).integers(0, vocab, size=L).tolist()
        logits = ref.logits(prompt)
        np.save(os.path.join(a.out, f"logits_{L}.npy"), logits.astype(np.float32))
        case = {"prompt": prompt, "logits": f"logits_{L}.npy", "greedy": [], "greedy_margins": []}
        if ref.stream:
            h = ref.hidden(prompt)
            np.save(os.path.join(a.out, f"heads_{L}.npy"), ref.stream_heads_from_hidden(h).astype(np.float32))
            np.save(os.path.join(a.out, f"hidden_{L}.npy"), h.astype(np.float32))
            case["heads"], case["hidden"] = f"heads_{L}.npy", f"hidden_{L}.npy"
        if L in greedy_lengths:
            case["greedy"], case["greedy_margins"] = ref.greedy(prompt, a.greedy)
        with open(os.path.join(a.out, f"case_{L}.json"), "w") as f:
            json.dump(case, f)
    print(f"goldens for {a.model} -> {a.out}")


if __name__ == "__main__":
    main()
