#!/usr/bin/python3
"""Golden test of the `qwen3guard logits` and `generate` subcommands against the
numpy reference's goldens (made by make_fixtures.py):
  - logits --all-positions --out F.npy writes a valid float32 [n, vocab] .npy equal to
    the reference (max relative L2 error per position <= 1e-4); without
    --all-positions a [vocab] array equal to the last row
  - logits --top K prints K lines, the first being the reference's argmax
  - generate --no-stop -n 32 prints the reference's greedy tokens (up to a near-tie)
  - bad input exits with status 1 and a message naming the problem

  check_cli.py --bin build/release/apps/qwen3guard/qwen3guard --fixtures DIR
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def run(cmd, expect_rc=0):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect_rc:
        sys.exit(f"FAIL: {' '.join(cmd[:4])}...: exit {p.returncode}, expected {expect_rc}\n{p.stderr}")
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixtures", required=True)
    a = ap.parse_args()
    model_name = "untied_f32_3shards"
    model = os.path.join(a.fixtures, model_name, "model")
    gold = os.path.join(a.fixtures, model_name, "goldens")
    case = json.load(open(os.path.join(gold, "case_7.json")))
    ids = ",".join(map(str, case["prompt"]))
    ref = np.load(os.path.join(gold, case["logits"]))

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "all.npy")
        run([a.bin, "logits", "--model", model, "--ids", ids, "--all-positions", "--out", out, "--threads", "2"])
        got = np.load(out)
        assert got.dtype == np.float32 and got.shape == ref.shape, (got.dtype, got.shape, ref.shape)
        err = (np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)).max()
        assert err <= 1e-4, f"logits --all-positions: max relative L2 error {err}"
        last = os.path.join(tmp, "last.npy")
        run([a.bin, "logits", "--model", model, "--ids", ids, "--out", last])
        got_last = np.load(last)
        assert got_last.shape == (ref.shape[1],), got_last.shape
        assert np.linalg.norm(got_last - ref[-1]) / np.linalg.norm(ref[-1]) <= 1e-4

    p = run([a.bin, "logits", "--model", model, "--ids", ids, "--top", "3"])
    rows = [l.split() for l in p.stdout.splitlines() if l.startswith("  ")]
    assert len(rows) == 3, p.stdout
    assert int(rows[0][0]) == int(np.argmax(ref[-1])), (rows, int(np.argmax(ref[-1])))

    p = run([a.bin, "generate", "--model", model, "--ids", ids, "--max-new-tokens", "32", "--no-stop", "-v"])
    got_tokens = [int(t) for t in p.stdout.split()]
    want, margins = case["greedy"], case["greedy_margins"]
    assert len(got_tokens) == len(want), (got_tokens, want)
    for i, (g, w) in enumerate(zip(got_tokens, want)):
        if g != w:
            assert margins[i] < 1e-3, f"generate: step {i}: {g} != {w} (margin {margins[i]})"
            break
    assert "tok/s" in p.stderr and "load" in p.stderr, p.stderr
    forced = os.environ.get("QG_FORCE_ISA")
    if forced:
        assert forced in p.stderr, f"QG_FORCE_ISA={forced} not honoured: {p.stderr}"

    p = run([a.bin, "logits", "--model", model, "--ids", "1,x,3"], expect_rc=1)
    assert '"x"' in p.stderr and "--ids" in p.stderr, p.stderr
    p = run([a.bin, "logits", "--model", model, "--ids", "1,700"], expect_rc=1)
    assert "token id 700" in p.stderr, p.stderr
    p = run([a.bin, "generate", "--model", os.path.join(tmp, "nope"), "--ids", "1"], expect_rc=1)
    assert "nope" in p.stderr, p.stderr
    print("cli ok")


if __name__ == "__main__":
    main()
