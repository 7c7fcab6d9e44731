#!/usr/bin/python3
"""Replays the hostile-input corpus against the real qwen3guard binary (issue 9).

  run_hostile.py QWEN3GUARD MODEL_DIR WORK_DIR [NAME_FILTER]

Every case must end in a clear error: exit status 1 or 2 (never a signal, never 0), a
message on stderr containing the expected text, within TIME_LIMIT_S seconds and under
MEMORY_LIMIT bytes of address space. The small inputs are committed in files/; the big
ones (100,000-deep JSON, long templates, model folders with one bad file) are generated
here into WORK_DIR. MODEL_DIR is a random tiny checkpoint (tools/make_test_model.py).
A few cases expect success (status 0) where the point is that a large-but-valid input is
fast (many added tokens: no quadratic loading).
"""
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time

TIME_LIMIT_S = 10
MEMORY_LIMIT = 4 << 30  # RLIMIT_AS; the tiny model maps ~40 MB

BIN, MODEL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
ONLY = sys.argv[4] if len(sys.argv) > 4 else ""
HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")
MINI_TOKENIZER = os.path.join(HERE, "..", "..", "fuzz", "corpus", "tokenizer_json", "mini_tokenizer.json")
DEEP = 100_000

cases = []


def case(name, args, expect, status=(1, 2), stdout_has=None):
    cases.append((name, args, expect, status, stdout_has))


def f(name):
    return os.path.join(FILES, name)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    return path


def gen(name, data):
    return write(os.path.join(WORK, "gen", name), data)


def model_variant(name, replace=None, drop=()):
    """A copy of MODEL (symlinks) with some files replaced or removed."""
    d = os.path.join(WORK, "models", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for e in os.listdir(MODEL):
        if e in drop or (replace and e in replace):
            continue
        os.symlink(os.path.join(os.path.abspath(MODEL), e), os.path.join(d, e))
    for fname, data in (replace or {}).items():
        write(os.path.join(d, fname), data)
    return d


def safetensors(header_text, data=b""):
    h = header_text.encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def tokenizer_dir(name, tok=None, cfg=None):
    """A folder with the mini tokenizer.json (edited by `tok`) and a tokenizer_config.json."""
    t = json.load(open(MINI_TOKENIZER))
    text = json.dumps(tok(t) if tok else t) if not isinstance(tok, str) else tok
    d = os.path.join(WORK, "tok", name)
    write(os.path.join(d, "tokenizer.json"), text)
    if cfg is not None:
        write(os.path.join(d, "tokenizer_config.json"), cfg if isinstance(cfg, str) else json.dumps(cfg))
    return os.path.join(d, "tokenizer.json")


def deep_array(n=DEEP):
    return "[" * n + "]" * n


def render(template_path, messages=None):
    return ["render", "--chat-template", template_path, "--messages", messages or f("messages_ok.json")]


def classify(*extra):
    return ["classify", "--model", MODEL] + list(extra)


def build_cases():
    config = open(os.path.join(MODEL, "config.json")).read()
    cfg = json.loads(config)

    # ---- Unbounded recursion: JSON
    deep = gen("deep.json", deep_array())
    deep_obj = gen("deep_obj.json", '{"a":' * DEEP + "1" + "}" * DEEP)
    case("config.json 100k-deep array", ["logits", "--model", model_variant("deep_config", {"config.json": deep_array()}), "--ids", "1"], "nested deeper than")
    case("config.json 100k-deep object", ["logits", "--model", model_variant("deep_config_obj", {"config.json": open(deep_obj).read()}), "--ids", "1"], "nested deeper than")
    case("safetensors header 100k deep", ["logits", "--model", model_variant("deep_st", {"model.safetensors": safetensors('{"a":' + deep_array() + "}")}, drop=("model.safetensors.index.json",)), "--ids", "1"], "nested deeper than")
    case("shard index 100k deep", ["logits", "--model", model_variant("deep_index", {"model.safetensors.index.json": '{"weight_map":' + deep_array() + "}"}), "--ids", "1"], "nested deeper than")
    case("--messages 100k deep", classify("--messages", deep), "nested deeper than")
    case("--messages 100k-deep object", classify("--messages", deep_obj), "nested deeper than")
    case("render --messages 100k deep", render(f("int_add_overflow.jinja"), deep), "nested deeper than")
    batch = gen("batch_deep.jsonl", '{"prompt": ' + deep_array() + "}\n" + '{"prompt": "fine"}\n')
    case("batch line 100k deep, next line still moderated", classify("--input", batch), "batch_deep.jsonl:1", stdout_has='"line":2,"mode"')
    case("tokenizer.json 100k deep (SAX path)", ["tokenize", "--model", tokenizer_dir("deep", lambda t: {**t, "normalizer": json.loads("[" * 150 + "]" * 150)}), "x"], "nested deeper than")
    case("tokenizer.json 100k deep (text)", ["tokenize", "--model", tokenizer_dir("deep_text", open(MINI_TOKENIZER).read()[:-1] + ', "x": ' + deep_array() + "}"), "x"], "nested deeper than")
    case("tokenizer_config.json 100k deep", ["tokenize", "--model", tokenizer_dir("deep_cfg", cfg='{"a":' + deep_array() + "}"), "x"], "nested deeper than")

    # ---- Unbounded recursion: templates
    for name, src in [
        ("parentheses", "{{ " + "(" * DEEP + "1" + ")" * DEEP + " }}"),
        ("list literals", "{{ " + "[" * DEEP + "]" * DEEP + " }}"),
        ("if blocks", "{% if true %}" * 10000 + "{% endif %}" * 10000),
        ("for blocks", "{% for x in [1] %}" * 10000 + "{% endfor %}" * 10000),
        ("elif chain", "{% if false %}" + "{% elif false %}" * 10000 + "{% endif %}"),
        ("+ chain", "{{ " + "+".join(["1"] * DEEP) + " }}"),
        ("~ chain", "{{ " + "~".join(["'a'"] * DEEP) + " }}"),
        ("filter chain", "{{ 'a'" + "|trim" * DEEP + " }}"),
        ("not chain", "{{ " + "not " * DEEP + "true }}"),
        ("unary minus chain", "{{ " + "-" * DEEP + "1 }}"),
        ("attribute chain", "{{ messages" + ".x" * DEEP + " }}"),
        ("call chain", "{{ range" + "(1)" * DEEP + " }}"),
        ("and chain", "{{ " + " and ".join(["true"] * DEEP) + " }}"),
        ("conditional chain", "{{ " + "1 if true else " * DEEP + "1 }}"),
    ]:
        case("template: deep " + name, render(gen("deep_" + name.replace(" ", "_") + ".jinja", src)), "nested deeper than")
    case("template: macro recursion", render(f("macro_recursion.jinja")), "recursion")
    case("template: 1000-deep run-time list printed", render(f("deep_runtime_list.jinja")), "nested")
    case("template: 1000-deep run-time lists compared", render(f("deep_runtime_compare.jinja")), "nested")
    case("template: namespace holding itself", render(f("namespace_cycle.jinja")), "cannot hold a namespace")
    case("template: namespace holding a list of itself", render(f("namespace_cycle_list.jinja")), "cannot hold a namespace")

    # ---- Integer edge cases
    for name in ["int_min_floordiv", "int_min_neg", "int_add_overflow", "int_mul_overflow", "pow_two_64", "abs_int_min"]:
        case("template: " + name, render(f(name + ".jinja")), "integer overflow")
    case("tokenizer.json: vocab id INT32_MAX", ["tokenize", "--model", tokenizer_dir("id_max", lambda t: {**t, "model": {**t["model"], "vocab": {**t["model"]["vocab"], "zz": 2147483647}}}), "x"], "out of range")
    case("tokenizer.json: vocab id 2^33", ["tokenize", "--model", tokenizer_dir("id_2_33", lambda t: {**t, "model": {**t["model"], "vocab": {**t["model"]["vocab"], "zz": 8589934592}}}), "x"], "out of range")
    case("tokenizer.json: vocab id 10^8 (gigabytes of id table)", ["tokenize", "--model", tokenizer_dir("id_1e8", lambda t: {**t, "model": {**t["model"], "vocab": {**t["model"]["vocab"], "zz": 100000000}}}), "x"], "out of range")
    case("tokenizer_config: added_tokens_decoder id INT32_MAX-1", ["tokenize", "--model", tokenizer_dir("dec_id_max", cfg={"added_tokens_decoder": {"2147483646": {"content": "<x>"}}}), "x"], "token id from 0 to")
    case("tokenizer_config: added_tokens_decoder id 10^8", ["tokenize", "--model", tokenizer_dir("dec_id_1e8", cfg={"added_tokens_decoder": {"100000000": {"content": "<x>"}}}), "x"], "token id from 0 to")
    case("tokenizer_config: added_tokens_decoder id -1", ["tokenize", "--model", tokenizer_dir("dec_id_neg", cfg={"added_tokens_decoder": {"-1": {"content": "<x>"}}}), "x"], "token id from 0 to")
    tok_ok = tokenizer_dir("ok")
    for ids, what in [("-1", "negative"), ("99999999999", "past int64 of int32"), ("4294967297", "wraps to 1"), ("400000", "past the vocabulary")]:
        case("tokenize --decode " + ids + " (" + what + ")", ["tokenize", "--model", tok_ok, "--decode", ids], "out of range")
    case("logits --ids past the vocabulary", ["logits", "--model", MODEL, "--ids", "999999999"], "outside the vocabulary")
    case("logits --ids 2^40", ["logits", "--model", MODEL, "--ids", "1099511627776"], "is not a token id")

    # ---- No resource budget
    for name, expect in [("loop_1e10", "budget"), ("loop_nested_output", "budget"), ("string_repeat_1e10", "exceeds the limit"),
                         ("list_repeat", "exceeds the limit"), ("string_doubling", "exceeds the limit"),
                         ("indent_huge", "exceeds the limit"), ("tojson_indent_huge", "out of range"),
                         ("replace_blowup", "exceeds the limit"), ("output_flood", "rendered output exceeds"),
                         ("join_shared_blowup", "exceeds the limit"), ("print_shared_blowup", "larger than"),
                         ("pow_huge_exponent", "integer overflow"), ("unique_quadratic", "budget"),
                         ("split_many", "RenderLimits::max_items"), ("iterate_long_string", "RenderLimits::max_items"),
                         ("sum_strings_quadratic", "budget"), ("dict_quadratic", "budget")]:
        case("template: " + name, render(f(name + ".jinja")), expect)
    for name, expect in [("config_layers_1e7", "num_hidden_layers 10000000 is out of range (allowed: 1 to 1024)"),
                         ("config_vocab_huge", "vocab_size 1000000000000 is out of range"),
                         ("config_heads_x_dim", "out of range"),
                         ("config_rope_theta_tiny", "rope_theta"), ("config_eps_huge", "rms_norm_eps"),
                         ("config_1e400", "1e400")]:
        case("config.json: " + name, ["logits", "--model", model_variant(name, {"config.json": open(f(name + ".json")).read()}), "--ids", "1"], expect)
    more_layers = dict(cfg, num_hidden_layers=1000)
    case("config.json: 1000 layers, checkpoint has 2", ["logits", "--model", model_variant("layers_1000", {"config.json": json.dumps(more_layers)}), "--ids", "1"], "is missing")
    n_added = 100_000
    case("tokenizer_config: 100k added tokens refused", ["tokenize", "--model", tokenizer_dir("added_100k", cfg={"added_tokens_decoder": {str(1000 + i): {"content": "<t%d>" % i} for i in range(n_added)}}), "x"], "entries (allowed: up to 65536)")
    case("tokenizer.json: 100k added tokens refused", ["tokenize", "--model", tokenizer_dir("added_tj_100k", lambda t: {**t, "added_tokens": [{"id": 1000 + i, "content": "<t%d>" % i, "special": True} for i in range(n_added)]}), "x"], "entries (allowed: up to 65536)")
    case("tokenizer_config: 60k added tokens load fast (not quadratic)", ["tokenize", "--model", tokenizer_dir("added_60k", cfg={"added_tokens_decoder": {str(1000 + i): {"content": "<t%d>" % i} for i in range(60000)}}), "x"], "", status=(0,))
    case("--messages /dev/zero", classify("--messages", "/dev/zero"), "not a regular file")
    case("--input /dev/zero", classify("--input", "/dev/zero"), "not a regular file")
    case("--chat-template /dev/zero", classify("--chat-template", "/dev/zero", "hi"), "not a regular file")
    case("render --messages /dev/zero", render(f("int_add_overflow.jinja"), "/dev/zero"), "not a regular file")

    # ---- Silent successes
    case("--output /dev/full", classify("--input", f("batch_bad_types.jsonl"), "--output", "/dev/full"), "cannot write")
    case("stdout is /dev/full", ["tokenize", "--model", tok_ok, "hello"], "cannot write standard output")  # stdout redirected below
    empty_dir = os.path.join(WORK, "empty_dir")
    os.makedirs(empty_dir, exist_ok=True)
    case("--input is a directory", classify("--input", empty_dir), "is a directory")
    case("--messages is a directory", classify("--messages", empty_dir), "is a directory")
    case("--chat-template is a directory", classify("--chat-template", empty_dir, "hi"), "is a directory")
    case("tokenize --model tokenizer.json is a directory", ["tokenize", "--model", os.path.join(empty_dir, "x")], "no such file or directory")
    os.makedirs(os.path.join(WORK, "tokdir", "tokenizer.json"), exist_ok=True)
    case("tokenizer.json is a directory", ["tokenize", "--model", os.path.join(WORK, "tokdir"), "x"], "is a directory")
    case("index: NUL byte in a shard name", ["logits", "--model", model_variant("nul_shard", {"model.safetensors.index.json": open(f("index_nul_shard.json")).read()}), "--ids", "1"], "control characters")
    case("index: ../ in a shard name", ["logits", "--model", model_variant("dotdot_shard", {"model.safetensors.index.json": open(f("index_dotdot_shard.json")).read()}), "--ids", "1"], "not a plain file name")
    case("--ctx beyond max_position_embeddings", classify("--ctx", "100000", "hi"), "not in range 1 to 4096 (the model's max_position_embeddings)")
    case("bench --ctx beyond max_position_embeddings", ["bench", "--model", MODEL, "--ctx", "5000"], "not in range 1 to 4096")
    case("--ctx negative", classify("--ctx", "-5", "hi"), "not in range")
    case("--ctx huge", classify("--ctx", "99999999999", "hi"), "not in range")
    case("--threads negative", classify("--threads", "-1", "hi"), "not in range 0 to 1024")
    case("--threads huge", classify("--threads", "100000", "hi"), "not in range 0 to 1024")
    case("bench --n -1", ["bench", "--model", MODEL, "--n", "-1"], "not in range")
    case("bench --threads -3", ["bench", "--model", MODEL, "--threads", "-3"], "not in range")
    case("generate --max-new-tokens 0", ["generate", "--model", MODEL, "--ids", "1", "--max-new-tokens", "0"], "not in range")
    case("generate --threads 5000", ["generate", "--model", MODEL, "--ids", "1", "--threads", "5000"], "not in range")

    # ---- One bad line ends a batch
    case("batch: 1e400 on line 2, line 3 still moderated", classify("--input", f("batch_1e400.jsonl")), "batch_1e400.jsonl:2", stdout_has='"line":3,"mode"')
    case("batch: bad types on lines 1-3, line 4 still moderated", classify("--input", f("batch_bad_types.jsonl")), "batch_bad_types.jsonl:3", stdout_has='"line":4,"mode"')
    case("--messages with 1e400", classify("--messages", f("messages_1e400.json")), "1e400")

    # ---- Safetensors
    case("safetensors: header length past the end", ["logits", "--model", model_variant("st_trunc", {"model.safetensors": struct.pack("<Q", 1 << 40) + b"{}"}, drop=("model.safetensors.index.json",)), "--ids", "1"], "runs past the end")
    case("safetensors: 1e400 offset", ["logits", "--model", model_variant("st_1e400", {"model.safetensors": safetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}}')}, drop=("model.safetensors.index.json",)), "--ids", "1"], "not valid JSON")
    case("safetensors: shape overflows 64 bits", ["logits", "--model", model_variant("st_shape", {"model.safetensors": safetensors('{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}', b"\0" * 8)}, drop=("model.safetensors.index.json",)), "--ids", "1"], "too large")


def run_case(name, args, expect, status, stdout_has):
    stdout = subprocess.PIPE
    if name == "stdout is /dev/full":
        stdout = open("/dev/full", "w")
    t0 = time.monotonic()
    try:
        p = subprocess.run([BIN] + args, stdout=stdout, stderr=subprocess.PIPE, timeout=TIME_LIMIT_S,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)))
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIME_LIMIT_S
    dt = time.monotonic() - t0
    err = p.stderr.decode(errors="replace")
    out = p.stdout.decode(errors="replace") if p.stdout else ""
    if p.returncode < 0:
        return "killed by signal %d\n%s" % (-p.returncode, err[-2000:])
    if p.returncode not in status:
        return "exit status %d, expected %s\n%s" % (p.returncode, status, err[-2000:])
    if expect not in err:
        return "stderr lacks %r:\n%s" % (expect, err[-2000:])
    if stdout_has and stdout_has not in out:
        return "stdout lacks %r:\n%s" % (stdout_has, out[-2000:])
    return "ok (%.2f s)" % dt


def main():
    os.makedirs(WORK, exist_ok=True)
    build_cases()
    failed = 0
    for name, args, expect, status, stdout_has in cases:
        if ONLY and ONLY not in name:
            continue
        verdict = run_case(name, args, expect, status, stdout_has)
        ok = verdict.startswith("ok")
        failed += not ok
        print(("PASS " if ok else "FAIL ") + name + ": " + verdict, flush=True)
    print("%d cases, %d failed" % (len(cases), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
