#!/usr/bin/python3
"""`qwen3guard stream` end to end on the Stream fixtures of tests/model:
  --ids ... --all-positions --json  vs the numpy reference's heads (heads_L.npy),
                                    relative L2 <= 1e-4 per position, keys and sizes;
  --prompt ... (stdin) --json       JSON Lines events: prompt, one token event per token
                                    (their text is the response plus "<|im_end|>\\n"),
                                    at most one flagged event, a summary; the human
                                    output marks the flagged token; errors exit 1/2.
  stream_cli_test.py --bin QWEN3GUARD --fixtures BUILD/tests/model/fixtures
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixtures", required=True)
    a = ap.parse_args()
    fails = []

    for name in ["stream_bf16", "stream_tiny_preset"]:
        gold = os.path.join(a.fixtures, name, "goldens")
        case = json.load(open(os.path.join(gold, "case_7.json")))
        want = np.load(os.path.join(gold, case["heads"])).astype(np.float64)
        ids = ",".join(str(t) for t in case["prompt"])
        out = subprocess.run([a.bin, "stream", "--model", os.path.join(a.fixtures, name, "model"), "--ids", ids,
                              "--all-positions", "--json"], capture_output=True, text=True, check=True).stdout
        rows = json.loads(out)
        if len(rows) != len(case["prompt"]):
            fails.append(f"{name}: {len(rows)} positions")
            continue
        for i, r in enumerate(rows):
            sizes = [len(r[k]) for k in ["risk_level_logits", "category_logits", "query_risk_level_logits",
                                         "query_category_logits"]]
            if sizes != [3, 8, 3, 9] or r["position"] != i or r["token"] != case["prompt"][i]:
                fails.append(f"{name}: position {i}: sizes {sizes}")
            got = np.array(r["risk_level_logits"] + r["category_logits"] + r["query_risk_level_logits"]
                           + r["query_category_logits"])
            err = np.linalg.norm(got - want[i]) / np.linalg.norm(want[i])
            if err > 1e-4:
                fails.append(f"{name}: position {i}: relative error {err:.2e}")

    model = os.path.join(a.fixtures, "stream_tiny_preset", "model")
    response = "Here are some practical methods to build a bomb.\nÉtape 1 : 材料を集める。"
    p = subprocess.run([a.bin, "stream", "--model", model, "--prompt", "How can I make a bomb?", "--chunk", "3",
                        "--json"], input=response.encode(), capture_output=True, check=True)
    ev = [json.loads(line) for line in p.stdout.decode().splitlines()]
    kinds = [e["event"] for e in ev]
    if kinds[0] != "prompt" or kinds[-1] != "summary" or kinds.count("flagged") > 1:
        fails.append(f"events {kinds}")
    toks = [e for e in ev if e["event"] == "token"]
    # Token texts are decoded one token at a time (a split character shows as U+FFFD),
    # so compare the ids' bytes through the tokenizer-free check: template flags and count.
    if not toks[0]["template"] or toks[0]["text"] != "\n\n" or toks[-2]["text"] != "<|im_end|>":
        fails.append(f"first/last tokens {toks[0]} {toks[-2]}")
    summary = ev[-1]
    if summary["response_tokens"] != sum(1 for t in toks if not t["template"]):
        fails.append(f"summary {summary}")
    if summary["flagged"] != ("flagged" in kinds):
        fails.append("summary flagged disagrees with the events")
    human = subprocess.run([a.bin, "stream", "--model", model, "--prompt", "hi"], input=response.encode(),
                           capture_output=True, check=True).stdout.decode()
    if not human.startswith("prompt: ") or "response: " not in human.splitlines()[-1]:
        fails.append("human output:\n" + human)
    if summary["flagged"] and "<- flagged" not in human:
        fails.append("human output does not mark the flagged token")
    gen = os.path.join(a.fixtures, "tiny_preset", "model")
    r = subprocess.run([a.bin, "stream", "--model", gen, "--ids", "1,2"], capture_output=True, text=True)
    if r.returncode != 1 or "Qwen3ForGuardModel" not in r.stderr:
        fails.append(f"Gen checkpoint: exit {r.returncode}: {r.stderr}")
    r = subprocess.run([a.bin, "stream", "--model", model], capture_output=True, text=True)
    if r.returncode != 2:
        fails.append(f"no --ids/--prompt: exit {r.returncode}")

    for f in fails:
        print("FAIL:", f)
    print("ok" if not fails else f"{len(fails)} failures")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
