#!/usr/bin/python3
"""Differential fuzz test: random conversations rendered by python3-jinja2 (configured as
transformers does, render_oracle.py) and by our renderer (the chat_render_batch test
binary); the outputs must be byte-identical, and where jinja2 raises we must raise too.

  fuzz_chat.py BATCH_BINARY TEMPLATES_DIR [--n N] [--seed S]

N defaults to $QG_CHAT_FUZZ_N or 2100 (spread over the seven templates); then
--n-expr ($QG_CHAT_FUZZ_EXPR_N, 1500) random small templates (expr_fuzz.py) exercise
operators, filters, tests, methods, loops and macros on their own. Exit 1 on any
difference, printing the first few (the request line reproduces it). Some message
contents carry a marker (qgmark<i>x); every occurrence of it in our output must lie in a
content span, which checks provenance through every template."""
import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chat_cases  # noqa: E402
import expr_fuzz  # noqa: E402
import render_oracle  # noqa: E402


def add_markers(req, rng):
    """Puts a unique marker into some message contents: text no template can produce,
    so every place it appears in the output must be marked content."""
    for i, m in enumerate(req["messages"]):
        if isinstance(m.get("content"), str) and rng.random() < 0.6:
            c = m["content"]
            k = rng.randint(0, len(c))
            m["content"] = c[:k] + f"qgmark{i}x" + c[k:]


def provenance_ok(got):
    data = got["text"].encode("utf-8")
    covered = bytearray(len(data))
    for b, e in got["content"]:
        covered[b:e] = b"\x01" * (e - b)
    at = data.find(b"qgmark")
    while at >= 0:
        end = data.index(b"x", at)
        if not all(covered[at:end + 1]):
            return False
        at = data.find(b"qgmark", at + 1)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("templates")
    ap.add_argument("--n", type=int, default=int(os.environ.get("QG_CHAT_FUZZ_N", "2100")))
    ap.add_argument("--n-expr", type=int, default=int(os.environ.get("QG_CHAT_FUZZ_EXPR_N", "1500")),
                    help="random small templates exercising expressions, filters, tests, loops")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("QG_CHAT_FUZZ_SEED", "20261127")))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    names = sorted(chat_cases.TEMPLATES)
    sources = {}
    for n in names:
        with open(os.path.join(args.templates, n), encoding="utf-8", newline="") as f:
            sources[n] = f.read()
    reqs = []
    for i in range(args.n):
        r = chat_cases.random_conversation(rng, names[i % len(names)])
        r["template"] = os.path.join(args.templates, r["template"])
        add_markers(r, rng)
        reqs.append(r)
    for i in range(args.n_expr):
        reqs.append(expr_fuzz.request(rng, chat_cases.random_text))
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reqs)
    proc = subprocess.run([args.binary], input=payload.encode("utf-8"), capture_output=True, check=True)
    ours = [json.loads(l) for l in proc.stdout.decode("utf-8").split("\n") if l]
    assert len(ours) == len(reqs), f"driver answered {len(ours)} of {len(reqs)} requests"
    diffs = 0
    rendered = errors = skipped = 0
    for req, got in zip(reqs, ours):
        src = req["source"] if "source" in req else sources[os.path.basename(req["template"])]
        try:
            want = {"text": render_oracle.render(src, req["messages"], req["add_generation_prompt"],
                                                 req.get("kwargs"), req.get("special_tokens"))}
        except Exception as e:  # noqa: BLE001 - any jinja2 failure must be a failure for us too
            want = {"error": f"{type(e).__name__}: {e}"}
        if "text" in want and "error" in got and "integer overflow" in got["error"]:
            skipped += 1  # Python's unbounded ints; ours are 64-bit and say so (docs/chat.md)
            continue
        ok = ("error" in want and "error" in got) or ("text" in want and got.get("text") == want["text"])
        if ok and "text" in got:
            rendered += 1
            prev = 0
            for b, e in got["content"]:
                ok &= prev <= b < e <= len(got["text"].encode("utf-8"))
                prev = e
            if ok and not provenance_ok(got):
                ok = False
                got = dict(got, provenance="a message's content appears outside the content spans")
        elif ok:
            errors += 1
        if not ok:
            diffs += 1
            if diffs <= int(os.environ.get("QG_CHAT_FUZZ_SHOW", "5")):
                print("DIFFERENCE for request:", json.dumps(req, ensure_ascii=False))
                print("  jinja2:", json.dumps(want, ensure_ascii=False)[:2000])
                print("  ours:  ", json.dumps(got, ensure_ascii=False)[:2000])
    marked = sum(1 for g in ours if "qgmark" in g.get("text", ""))
    print(f"{len(reqs)} renderings (seed {args.seed}): {rendered} rendered identically ({marked} with provenance markers checked), "
          f"{errors} raised in both, {skipped} beyond 64-bit integers, {diffs} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
