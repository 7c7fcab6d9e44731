#!/usr/bin/python3
"""Writes a Hugging Face-format Qwen3ForCausalLM (or, with --stream, Qwen3ForGuardModel)
checkpoint with random weights.

  make_test_model.py --preset tiny --out /tmp/tiny
  make_test_model.py --preset 0.6B --dtype bf16 --out /work/models/qwen3-0.6B-random
  make_test_model.py --preset 0.6B --stream --out /work/models/stream-0.6B-random
  make_test_model.py --preset tiny --hidden 48 --heads 3 --kv-heads 1 --head-dim 24 \
      --vocab 700 --no-tie --shards 3 --dtype f32 --seed 7 --out /tmp/odd

Output: config.json, model.safetensors (or model-0000i-of-0000N.safetensors +
model.safetensors.index.json), generation_config.json, and the tokenizer files from
../shared/qwen3guard (tokenizer.json, vocab.json, merges.txt, and the Gen
tokenizer_config.json that carries the guard chat template).

--stream writes a Qwen3Guard-Stream checkpoint: the config keys of
../shared/qwen3guard/stream/config-0.6B.json (guard_inner_size, the four head sizes and
label maps), the backbone, then the two head pairs (shared/spec/QWEN3GUARD.md §4.1):
{,query_}risk_level_category_pre [G, H], {,query_}risk_level_category_layernorm [G],
{,query_}risk_level_head [n_risk, G], {,query_}category_head [n_cat, G]; and the
standard Qwen3 tokenizer_config.json (the Stream tokenizer's chat template).

Every tensor is drawn from its own generator seeded by (seed, tensor index), so the
weights do not depend on the shard count: a 1-shard and a 3-shard model with the same
seed and shape are the same model. Scales keep activations O(1) through any depth:
projections N(0, 1/fan_in), norm weights 1 + N(0, 0.1^2), embeddings and lm_head
scaled so logits have a standard deviation of about 3 (a spread, not all-equal and
not one-hot). Tensors are generated and written in row blocks, so the 8B shape
(16 GB) streams to disk in bounded memory.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import StreamingWriter, f32_to_bf16_bits  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "qwen3guard"))

TINY = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "intermediate_size": 192, "vocab_size": 151936, "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}
DTYPE_NAMES = {"bf16": ("BF16", "bfloat16"), "f16": ("F16", "float16"), "f32": ("F32", "float32")}
BLOCK_ELEMS = 1 << 22  # rows generated at a time: ~16 MB of f32


def preset_config(name, shared, stream=False):
    if stream:
        with open(os.path.join(shared, "stream", "config-0.6B.json")) as f:
            scfg = json.load(f)
        if name == "tiny":
            scfg.update(TINY)
            scfg["max_window_layers"] = TINY["num_hidden_layers"]
            scfg["guard_inner_size"] = 32
        elif name != "0.6B":
            # The backbone dims are the Gen ones; guard_inner_size of 4B/8B is unknown.
            scfg.update({k: v for k, v in preset_config(name, shared).items() if k in TINY})
            scfg["max_window_layers"] = scfg["num_hidden_layers"]
        return scfg
    if name == "tiny":
        with open(os.path.join(shared, "gen", "config-0.6B.json")) as f:
            cfg = json.load(f)
        cfg.update(TINY)
        cfg["max_window_layers"] = TINY["num_hidden_layers"]
        return cfg
    with open(os.path.join(shared, "gen", f"config-{name}.json")) as f:
        return json.load(f)


HEAD_PAIRS = [("", "num_risk_level", "num_category"), ("query_", "num_query_risk_level", "num_query_category")]


def tensor_specs(cfg, write_lm_head):
    """[(name, shape, kind)] in HF order; kind picks the initialisation."""
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    d = cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    specs = [("model.embed_tokens.weight", (V, H), "embed")]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", (H,), "norm"),
            (p + "self_attn.q_proj.weight", (q, H), "proj"),
            (p + "self_attn.k_proj.weight", (kv, H), "proj"),
            (p + "self_attn.v_proj.weight", (kv, H), "proj"),
            (p + "self_attn.o_proj.weight", (H, q), "proj"),
            (p + "self_attn.q_norm.weight", (d,), "norm"),
            (p + "self_attn.k_norm.weight", (d,), "norm"),
            (p + "post_attention_layernorm.weight", (H,), "norm"),
            (p + "mlp.gate_proj.weight", (I, H), "proj"),
            (p + "mlp.up_proj.weight", (I, H), "proj"),
            (p + "mlp.down_proj.weight", (H, I), "proj"),
        ]
    specs.append(("model.norm.weight", (H,), "norm"))
    if "guard_inner_size" in cfg:
        G = cfg["guard_inner_size"]
        for p, n_risk, n_cat in HEAD_PAIRS:
            specs += [
                (p + "risk_level_category_pre.weight", (G, H), "proj"),
                (p + "risk_level_category_layernorm.weight", (G,), "norm"),
                (p + "risk_level_head.weight", (cfg[n_risk], G), "cls"),
                (p + "category_head.weight", (cfg[n_cat], G), "cls"),
            ]
    if write_lm_head:
        specs.append(("lm_head.weight", (V, H), "head"))
    return specs


def generate_blocks(shape, kind, rng, tied):
    """Yields f32 row blocks of one tensor."""
    if kind == "norm":
        yield (1.0 + 0.1 * rng.standard_normal(shape[0], dtype=np.float32)).astype(np.float32)
        return
    rows, cols = shape
    if kind == "proj":
        scale = 1.0 / np.sqrt(cols)
    elif kind == "cls":  # Stream head: logits std ~1.5, so argmax labels vary by position
        scale = 1.5 / np.sqrt(cols)
    else:  # embed / head: logits = hidden(norm ~1 per element) . row  -> std 3
        scale = 3.0 / np.sqrt(cols)
    step = max(1, BLOCK_ELEMS // cols)
    for r in range(0, rows, step):
        n = min(step, rows - r)
        yield (rng.standard_normal((n, cols), dtype=np.float32) * np.float32(scale))


def to_file_dtype(block, st_dtype):
    if st_dtype == "BF16":
        return f32_to_bf16_bits(block)
    if st_dtype == "F16":
        return block.astype(np.float16)
    return block.astype(np.float32)


def split_shards(specs, n_shards, elem):
    """Contiguous groups of tensors with about equal bytes each."""
    sizes = [int(np.prod(s[1], dtype=np.int64)) * elem for s in specs]
    total = sum(sizes)
    groups, cur, acc = [], [], 0
    for spec, size in zip(specs, sizes):
        cur.append(spec)
        acc += size
        remaining_groups = n_shards - len(groups) - 1
        if remaining_groups > 0 and acc >= total * (len(groups) + 1) / n_shards:
            groups.append(cur)
            cur = []
    groups.append(cur)
    while len(groups) < n_shards:  # fewer tensors than shards: split off single tensors
        big = max(range(len(groups)), key=lambda i: len(groups[i]))
        if len(groups[big]) < 2:
            raise SystemExit(f"cannot split {len(specs)} tensors into {n_shards} shards")
        groups.insert(big + 1, [groups[big].pop()])
    return groups


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--preset", default="tiny", choices=["tiny", "0.6B", "4B", "8B"])
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", type=int)
    ap.add_argument("--head-dim", type=int)
    ap.add_argument("--intermediate", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--max-pos", type=int, help="max_position_embeddings")
    ap.add_argument("--rope-theta", type=float)
    ap.add_argument("--tie", dest="tie", action="store_true", default=None, help="tie lm_head to embed_tokens")
    ap.add_argument("--no-tie", dest="tie", action="store_false", help="separate lm_head.weight")
    ap.add_argument("--write-lm-head", action="store_true",
                    help="with --tie: also store lm_head.weight (a copy of embed_tokens, as some tied checkpoints do)")
    ap.add_argument("--stream", action="store_true", help="a Qwen3ForGuardModel (Qwen3Guard-Stream) checkpoint")
    ap.add_argument("--guard-inner", type=int, help="guard_inner_size (with --stream)")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--dtype", default="bf16", choices=sorted(DTYPE_NAMES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tokenizer", action="store_true", help="do not copy the tokenizer files")
    ap.add_argument("--shared", default=SHARED, help="the shared/qwen3guard data folder")
    a = ap.parse_args()

    cfg = preset_config(a.preset, a.shared, a.stream)
    if a.guard_inner is not None:
        if not a.stream:
            raise SystemExit("--guard-inner only makes sense with --stream")
        cfg["guard_inner_size"] = a.guard_inner
    for flag, key in [("hidden", "hidden_size"), ("layers", "num_hidden_layers"), ("heads", "num_attention_heads"),
                      ("kv_heads", "num_key_value_heads"), ("head_dim", "head_dim"),
                      ("intermediate", "intermediate_size"), ("vocab", "vocab_size"),
                      ("max_pos", "max_position_embeddings"), ("rope_theta", "rope_theta"),
                      ("tie", "tie_word_embeddings")]:
        v = getattr(a, flag)
        if v is not None:
            cfg[key] = v
    if cfg["num_attention_heads"] % cfg["num_key_value_heads"]:
        raise SystemExit("--kv-heads must divide --heads")
    if "max_window_layers" in cfg:
        cfg["max_window_layers"] = cfg["num_hidden_layers"]
    st_dtype, torch_dtype = DTYPE_NAMES[a.dtype]
    cfg["torch_dtype"] = torch_dtype
    if cfg["vocab_size"] <= 151645:  # small test vocabulary: keep the special ids inside it
        cfg["bos_token_id"], cfg["eos_token_id"] = cfg["vocab_size"] - 2, cfg["vocab_size"] - 1
    tied = cfg["tie_word_embeddings"]
    if a.write_lm_head and not tied:
        raise SystemExit("--write-lm-head only makes sense with --tie")
    elem = 4 if st_dtype == "F32" else 2

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    eos = [151645, 151643] if cfg["vocab_size"] > 151645 else [cfg["eos_token_id"]]
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": eos, "do_sample": False,
           "pad_token_id": cfg["bos_token_id"]}
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)

    specs = tensor_specs(cfg, write_lm_head=(not tied) or a.write_lm_head)
    index = {name: i for i, (name, _, _) in enumerate(specs)}
    groups = split_shards(specs, a.shards, elem) if a.shards > 1 else [specs]
    weight_map, total = {}, 0
    for gi, group in enumerate(groups):
        fname = "model.safetensors" if a.shards == 1 else f"model-{gi + 1:05d}-of-{a.shards:05d}.safetensors"
        w = StreamingWriter(os.path.join(a.out, fname), [(n, st_dtype, s) for n, s, _ in group],
                            metadata={"format": "pt"})
        total += w.total
        for name, shape, kind in group:
            weight_map[name] = fname
            # A duplicated tied lm_head re-draws the embedding from the embedding's seed.
            src = "model.embed_tokens.weight" if (name == "lm_head.weight" and tied) else name
            rng = np.random.default_rng([a.seed, index[src]])
            kind = "embed" if src != name else kind
            for block in generate_blocks(shape, kind, rng, tied):
                w.write(name, to_file_dtype(block, st_dtype))
            w.done_tensor()
        w.close()
    if a.shards > 1:
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    if not a.no_tokenizer:
        for name in ["tokenizer.json", "vocab.json", "merges.txt"]:
            shutil.copyfile(os.path.join(a.shared, "tokenizer", name), os.path.join(a.out, name))
        shutil.copyfile(os.path.join(a.shared, "tokenizer" if a.stream else "gen", "tokenizer_config.json"),
                        os.path.join(a.out, "tokenizer_config.json"))
    print(f"wrote {a.out}: {len(specs)} tensors, {total / 1e6:.1f} MB {st_dtype} in {len(groups)} file(s)")


if __name__ == "__main__":
    main()
