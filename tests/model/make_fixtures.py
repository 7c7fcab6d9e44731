#!/usr/bin/python3
"""ctest FIXTURES_SETUP for test_model_golden: writes the tiny test checkpoints with
tools/make_test_model.py and their goldens with tools/reference/make_goldens.py.

  make_fixtures.py --out BUILD/tests/model/fixtures

Layout: OUT/<name>/model/ (checkpoint), OUT/<name>/goldens/ (case_L.json, logits_L.npy).
The names are the test parameters of golden_test.cpp; keep the two lists in step.
Skips the work when OUT/stamp matches the inputs (this file and the tools).
"""
import argparse
import hashlib
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "..", "tools"))

# name: (make_test_model.py flags, prompt lengths, greedy lengths)
FIXTURES = {
    # GQA 4/2, tied (lm_head absent), bf16, one file.
    "tied_bf16": ("--hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 96 "
                  "--vocab 1000 --tie --dtype bf16 --seed 1", "1,7,64,300", "7,64"),
    # Odd heads 3 q / 1 kv, head_dim 24, untied, f32, three shards, 520 tokens crosses a chunk.
    "untied_f32_3shards": ("--hidden 48 --layers 3 --heads 3 --kv-heads 1 --head-dim 24 --intermediate 80 "
                           "--vocab 700 --no-tie --shards 3 --dtype f32 --seed 7", "1,7,64,300,520", "7"),
    # 5 heads, plain MHA, head_dim 8, tied but lm_head stored, f16, two shards.
    "tied_lmhead_f16_2shards": ("--hidden 40 --layers 2 --heads 5 --kv-heads 5 --head-dim 8 --intermediate 64 "
                                "--vocab 500 --tie --write-lm-head --shards 2 --dtype f16 --seed 3",
                                "1,7,64,300", "7"),
    # The real head_dim 128 (and hidden != heads * head_dim, as in Qwen3-0.6B).
    "hd128_bf16": ("--hidden 192 --layers 2 --heads 2 --kv-heads 1 --head-dim 128 --intermediate 256 "
                   "--vocab 300 --dtype bf16 --seed 5", "1,7,300", "7"),
    # The tiny preset: real vocabulary size 151936, tokenizer files included.
    "tiny_preset": ("--preset tiny --seed 11", "1,7", "7"),
    # Qwen3Guard-Stream (Qwen3ForGuardModel): backbone + the two head pairs, bf16; the
    # goldens also hold the reference's head logits and hidden states (heads_L, hidden_L).
    "stream_bf16": ("--stream --hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 96 "
                    "--vocab 1000 --guard-inner 48 --dtype bf16 --seed 21", "1,7,64,300", ""),
    # Stream with the real vocabulary and the tokenizer files (sessions, CLI).
    "stream_tiny_preset": ("--stream --preset tiny --seed 23", "1,7", ""),
}


def digest():
    h = hashlib.sha256()
    for p in [__file__, os.path.join(TOOLS, "make_test_model.py"), os.path.join(TOOLS, "safetensors_io.py"),
              os.path.join(TOOLS, "reference", "qwen3_ref.py"), os.path.join(TOOLS, "reference", "make_goldens.py")]:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    stamp = os.path.join(a.out, "stamp")
    want = digest()
    if os.path.exists(stamp) and open(stamp).read() == want:
        print("fixtures up to date")
        return
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    for name, (flags, lengths, greedy) in FIXTURES.items():
        model = os.path.join(a.out, name, "model")
        gold = os.path.join(a.out, name, "goldens")
        extra = [] if name.endswith("tiny_preset") else ["--no-tokenizer"]
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_test_model.py"), "--out", model]
                       + flags.split() + extra, check=True)
        subprocess.run([sys.executable, os.path.join(TOOLS, "reference", "make_goldens.py"), "--model", model,
                        "--out", gold, "--lengths", lengths, "--greedy-lengths", greedy, "--greedy", "32"],
                       check=True)
    with open(stamp, "w") as f:
        f.write(want)
    print(f"fixtures written in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
