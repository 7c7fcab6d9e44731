#!/usr/bin/python3
"""ctest FIXTURES_SETUP for test_gguf_golden: GGUF files written by tools/ (numpy), never
by the engine.

  make_fixtures.py --out BUILD/tests/gguf/fixtures

  OUT/blocks-<type>.gguf + .npy  one tensor "x" [3, 512] per type and its numpy dequantization
  OUT/q/                          a small random checkpoint (bf16 safetensors, untied), the same
                                  weights as model-<type>.gguf for every type and q4_k_m, and
                                  dequant-<type>/ (f32 safetensors of the numpy-dequantized weights)
  OUT/tok/                        the tiny preset (real vocabulary and tokenizer) + model-f32.gguf
                                  with the tokenizer and chat-template metadata
Skips the work when OUT/stamp matches the inputs.
"""
import argparse
import hashlib
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.normpath(os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, TOOLS)
import gguf_io  # noqa: E402

TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]


def digest():
    h = hashlib.sha256()
    for p in [__file__, os.path.join(TOOLS, "make_test_model.py"), os.path.join(TOOLS, "gguf_io.py"),
              os.path.join(TOOLS, "safetensors_io.py")]:
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
    rng = np.random.default_rng(42)
    x = rng.standard_normal((3, 512)).astype(np.float32)
    x[0] *= 0.01
    x[1] *= 3.0
    x[2, 256:288] = 0.0  # an all-zero 32-block
    x[2, :16] = np.abs(x[2, :16])  # a sub-block without negative values
    for t in TYPES:
        w = gguf_io.GgufWriter(os.path.join(a.out, f"blocks-{t}.gguf"), [("general.architecture", gguf_io.STRING, "test")],
                               [("x", t, [3, 512])])
        b = gguf_io.quantize(t, x)
        w.write("x", b)
        w.done_tensor()
        w.close()
        np.save(os.path.join(a.out, f"blocks-{t}.npy"), gguf_io.dequantize(t, b, 3, 512))
    mk = [sys.executable, os.path.join(TOOLS, "make_test_model.py")]
    subprocess.check_call(mk + ["--hidden", "256", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "64",
                                "--intermediate", "512", "--vocab", "1024", "--no-tie", "--dtype", "bf16", "--seed", "3",
                                "--no-tokenizer", "--gguf", ",".join(TYPES + ["q4_k_m"]), "--gguf-dequant",
                                "--out", os.path.join(a.out, "q")])
    subprocess.check_call(mk + ["--preset", "tiny", "--dtype", "bf16", "--seed", "5", "--gguf", "f32",
                                "--out", os.path.join(a.out, "tok")])
    with open(stamp, "w") as f:
        f.write(want)


if __name__ == "__main__":
    main()
