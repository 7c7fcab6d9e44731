#!/usr/bin/python3
"""Next-token log-probabilities of qwen3guard and llama.cpp (llama-server, n_probs) on the
same GGUF files, each against an f32 reference (qwen3guard on the bf16/f32 checkpoint, whose
forward pass the numpy reference checks to 1e-4): how far each engine's quantized result is
from the unquantized model. Peer builds stay outside the repository.

  bench/llama_logits_compare.py --server /work/peers/llama.cpp/build/bin/llama-server \
      --ref DIR_OR_BF16.gguf FILE_Q8_0.gguf FILE_Q4_K_M.gguf
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
QG = os.path.join(HERE, "..", "build", "release", "apps", "qwen3guard", "qwen3guard")
PROMPTS = [
    [151644, 872, 198, 785, 3974, 13876, 38835, 34208, 916, 279, 15678, 5562, 13, 151645, 198, 151644, 77091, 198],
    [151644, 872, 198, 4340, 646, 358, 1281, 264, 12764, 30, 151645, 198, 151644, 77091, 198, 14582, 25],
    [9707, 1879, 11, 419, 374, 264, 1273, 315, 279, 9471, 1849, 13],
]


def our_logprobs(model, ids):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "l.npy")
        subprocess.check_call([QG, "logits", "--model", model, "--ids", ",".join(map(str, ids)), "--out", out],
                              env=dict(os.environ, QG_THREADS="2"))
        x = np.load(out).astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def llama_logprobs(server, model, prompts, k, port):
    p = subprocess.Popen([server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", "2", "-c", "256",
                          "-np", "1", "--no-warmup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                    break
            except Exception:
                time.sleep(1)
        res = []
        for ids in prompts:
            body = json.dumps({"prompt": ids, "n_predict": 1, "n_probs": k, "temperature": 0.0,
                               "post_sampling_probs": False, "cache_prompt": False}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=body,
                                         headers={"Content-Type": "application/json"})
            r = json.load(urllib.request.urlopen(req, timeout=600))
            top = r["completion_probabilities"][0]["top_logprobs"]
            res.append({t["id"]: t["logprob"] for t in top})
        return res
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--port", type=int, default=18089)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    refs = [our_logprobs(a.ref, ids) for ids in PROMPTS]
    for f in a.files:
        ours = [our_logprobs(f, ids) for ids in PROMPTS]
        ll = llama_logprobs(a.server, f, PROMPTS, a.k, a.port)
        e_ours, e_llama, e_between, top1 = [], [], [], 0
        for ref, o, l in zip(refs, ours, ll):
            ids = list(l.keys())
            e_ours += [abs(o[i] - ref[i]) for i in ids]
            e_llama += [abs(l[i] - ref[i]) for i in ids]
            e_between += [abs(o[i] - l[i]) for i in ids]
            top1 += int(np.argmax(o) == max(l, key=l.get))
        print(f"{os.path.basename(f)}: top-{a.k} next-token logprobs over {len(PROMPTS)} prompts\n"
              f"  |qwen3guard - f32 ref|  max {max(e_ours):.4f}  mean {np.mean(e_ours):.4f}\n"
              f"  |llama.cpp  - f32 ref|  max {max(e_llama):.4f}  mean {np.mean(e_llama):.4f}\n"
              f"  |qwen3guard - llama.cpp| max {max(e_between):.4f}  mean {np.mean(e_between):.4f}\n"
              f"  same top-1: {top1}/{len(PROMPTS)}")


if __name__ == "__main__":
    main()
