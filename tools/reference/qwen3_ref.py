"""Reference Qwen3ForCausalLM forward pass in numpy float64.

Written from the architecture description (shared/spec/QWEN3GUARD.md §3.1 and the
Qwen3 papers/HF docs), not from the C++ engine, so that the two can disagree.
Deliberately naive: no KV cache (every call runs the whole sequence with a causal
mask), no batching, float64 everywhere. The stored weights are widened exactly
(bf16/f16/f32 -> f64), so the only differences from the engine are the engine's
f32 rounding and summation order.

Per layer (x is the residual stream, [n, H]):
  h = rmsnorm(x) * input_layernorm
  q = h Wq^T -> [n, heads, d];  k, v = h Wk^T, h Wv^T -> [n, kv_heads, d]
  q, k = rmsnorm over d (per head) * q_norm / k_norm      (before RoPE)
  q, k = rope(q), rope(k)     rotate-half, inv_freq_i = theta^(-2i/d), angle = pos * inv_freq
  a = softmax(q k^T / sqrt(d) + causal mask) v             query head j reads kv head j // (heads/kv_heads)
  x = x + (a reshaped [n, heads*d]) Wo^T
  h = rmsnorm(x) * post_attention_layernorm
  x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T
logits = (rmsnorm(x) * norm) W_lm^T, W_lm = lm_head or embed_tokens when tied and absent.

Qwen3ForGuardModel (Qwen3Guard-Stream, QWEN3GUARD.md §4.1): on h = rmsnorm(x) * norm,
two head pairs, p in {"", "query_"}:
  z = rmsnorm(h W_{p}risk_level_category_pre^T) * {p}risk_level_category_layernorm
  {p}risk = z W_{p}risk_level_head^T;   {p}category = z W_{p}category_head^T
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from safetensors_io import load_checkpoint  # noqa: E402


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, theta):
    """x: [n, heads, d]; rotate-half (non-interleaved) form."""
    d = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # [d/2]
    ang = pos[:, None].astype(np.float64) * inv_freq[None, :]          # [n, d/2]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], axis=-1)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rot = np.concatenate([-x2, x1], axis=-1)
    return x * cos + rot * sin


def silu(x):
    return x / (1.0 + np.exp(-x))


class Qwen3Reference:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        assert c["architectures"][0] in ("Qwen3ForCausalLM", "Qwen3ForGuardModel"), c["architectures"]
        self.stream = c["architectures"][0] == "Qwen3ForGuardModel"
        self.cfg = c
        self.H = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.d = c.get("head_dim") or self.H // self.heads
        self.layers = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        self.w = load_checkpoint(model_dir)
        if "lm_head.weight" in self.w:
            self.lm_head = self.w["lm_head.weight"]
        else:
            assert c.get("tie_word_embeddings", False), "lm_head.weight missing in an untied model"
            self.lm_head = self.w["model.embed_tokens.weight"]

    def hidden(self, ids):
        """Final-normed hidden states [n, H] for token ids [n]."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        w, d = self.w, self.d
        x = w["model.embed_tokens.weight"][ids]  # [n, H]
        pos = np.arange(n)
        mask = np.triu(np.full((n, n), -np.inf), k=1)  # [n, n]: row i sees columns 0..i
        group = self.heads // self.kv_heads
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = rmsnorm(x, w[p + "input_layernorm.weight"], self.eps)
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(n, self.heads, d)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(n, self.kv_heads, d)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(n, self.kv_heads, d)
            q = rope(rmsnorm(q, w[p + "self_attn.q_norm.weight"], self.eps), pos, self.theta)
            k = rope(rmsnorm(k, w[p + "self_attn.k_norm.weight"], self.eps), pos, self.theta)
            out = np.empty((n, self.heads, d))
            for hq in range(self.heads):
                kv = hq // group
                s = q[:, hq, :] @ k[:, kv, :].T / np.sqrt(d) + mask  # [n, n]
                s = np.exp(s - s.max(axis=-1, keepdims=True))
                s /= s.sum(axis=-1, keepdims=True)
                out[:, hq, :] = s @ v[:, kv, :]
            x = x + out.reshape(n, self.heads * d) @ w[p + "self_attn.o_proj.weight"].T
            h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], self.eps)
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
        return rmsnorm(x, w["model.norm.weight"], self.eps)

    def stream_heads_from_hidden(self, h):
        """The four Stream heads of hidden states h [n, H]: [n, n_risk + n_cat + n_qrisk + n_qcat],
        in the order risk | category | query_risk | query_category."""
        assert self.stream, "not a Qwen3ForGuardModel checkpoint"
        w, out = self.w, []
        for p in ("", "query_"):
            z = rmsnorm(h @ w[p + "risk_level_category_pre.weight"].T,
                        w[p + "risk_level_category_layernorm.weight"], self.eps)
            out += [z @ w[p + "risk_level_head.weight"].T, z @ w[p + "category_head.weight"].T]
        return np.concatenate(out, axis=-1)

    def stream_heads(self, ids):
        return self.stream_heads_from_hidden(self.hidden(ids))

    def logits(self, ids):
        """All-position logits [n, V], float64."""
        return self.hidden(ids) @ self.lm_head.T

    def greedy(self, ids, n_new):
        """Greedy continuation without a cache (the whole sequence every step).
        Returns (new tokens, margins): margin = top1 - top2 logit at each step, so a
        test can tell a real mismatch from a near-tie that f32 rounding may flip."""
        seq = list(ids)
        toks, margins = [], []
        for _ in range(n_new):
            last = self.hidden(seq)[-1] @ self.lm_head.T
            best = int(np.argmax(last))  # argmax: the lowest id among exact ties
            toks.append(best)
            srt = np.partition(last, -2)[-2:]
            margins.append(float(srt[1] - srt[0]))
            seq.append(best)
        return toks, margins
