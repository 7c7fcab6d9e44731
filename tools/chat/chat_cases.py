"""Shared by make_goldens.py and fuzz_chat.py: the seven test templates with the
special tokens their checkpoints define, and generators of conversations (fixed
hand-written scenarios for the goldens, seeded random ones for the fuzz test)."""
import random

# template file (under tests/chat/templates/) -> special-token variables, as
# transformers passes tokenizer.special_tokens_map for that checkpoint.
TEMPLATES = {
    "qwen3guard-gen.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "qwen3.jinja": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "llama-3.2-3b-instruct.jinja": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral-nemo-instruct-2407.jinja": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "gemma-2-2b-it.jinja": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
    "phi-3.5-mini-instruct.jinja": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "deepseek-r1-distill-qwen-32b.jinja": {"bos_token": "<｜begin▁of▁sentence｜>",
                                           "eos_token": "<｜end▁of▁sentence｜>"},
}

# Text that must come out as plain content: Jinja syntax, special tokens of several
# families, quotes, backslashes, control characters, and Unicode of every width.
TRICKY = [
    "{{ messages }}", "{% if true %}x{% endif %}", "{# comment #}", "{%- raw -%}", "}}{{", "{%",
    "<|im_end|>", "<|im_start|>system\n", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
    "<|eot_id|>", "<|start_header_id|>", "[INST]", "[/INST]", "</s>", "<s>", "<start_of_turn>",
    "<end_of_turn>", "<|end|>", "<|user|>", "<｜User｜>", "<｜end▁of▁sentence｜>",
    "'", '"', "\\", "\\n", "\\u00e9", "\t", "\r\n", "\r", "\x00", "\x1b[0m", "\x7f", "\u0085",
    "\u00a0", "\u2028", "\u200b", "\ufeff", "é", "ß", "İ", "Σ", "日本語", "中文", "한국어", "עברית",
    "العربية", "😀", "👨‍👩‍👧", "🇫🇷", "e\u0301", "𝔘𝔫𝔦", "\U0010fffd", "  ", "\n\n", " \n ",
]
WORDS = ["how", "do", "I", "make", "a", "bomb", "cake", "hello", "world", "please", "explain", "the",
         "weather", "today", "Safety:", "Unsafe", "USER:", "ASSISTANT:", "ignore", "previous", "rules"]


def random_text(rng, max_len=60):
    """Random content mixing words, tricky fragments and random code points."""
    parts = []
    for _ in range(rng.randint(0, max_len // 4)):
        r = rng.random()
        if r < 0.45:
            parts.append(rng.choice(WORDS))
        elif r < 0.75:
            parts.append(rng.choice(TRICKY))
        elif r < 0.9:
            parts.append(chr(rng.randint(0x20, 0x7e)))
        else:
            while True:
                cp = rng.choice([rng.randint(0xa0, 0x2fff), rng.randint(0x3000, 0xd7ff),
                                 rng.randint(0xe000, 0xfffd), rng.randint(0x10000, 0x1faff)])
                if not (0xd800 <= cp <= 0xdfff):
                    break
            parts.append(chr(cp))
        parts.append(rng.choice(["", " ", " ", "\n"]))
    return "".join(parts)


def random_tool_call(rng, i):
    args = {"query": random_text(rng, 12), "n": rng.randint(-5, 100), "x": rng.choice([0.5, 1e20, -0.0, 3.14159, 1.0]),
            "flag": rng.choice([True, False, None]), "list": [1, "two", {"three": 3}]}
    call_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(9))
    return {"id": call_id, "type": "function",
            "function": {"name": rng.choice(["get_weather", "search", "calc"]), "arguments": args}}


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather \"now\" in a city",
                                      "parameters": {"type": "object", "properties": {
                                          "city": {"type": "string", "description": "City name, e.g. Zürich"},
                                          "days": {"type": "integer", "minimum": 1, "maximum": 7.5}},
                                          "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Web search: <|im_end|> {{ q }}",
                                      "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                     "required": []}}},
]


def random_conversation(rng, template):
    """A random request for `template`: mostly well-formed for it (so the template renders),
    sometimes not (so both engines must raise)."""
    n = rng.randint(1, 6)
    roles = []
    alternate = rng.random() < 0.8
    if rng.random() < 0.3:
        roles.append("system")
    for i in range(n):
        if alternate:
            roles.append("user" if i % 2 == 0 else "assistant")
        else:
            roles.append(rng.choice(["user", "assistant", "system", "user", "tool"]))
    msgs = []
    for role in roles:
        m = {"role": role, "content": random_text(rng)}
        if role == "assistant" and rng.random() < 0.2:
            m["content"] = "<think>\n" + random_text(rng, 20) + "\n</think>\n\n" + random_text(rng, 20)
        if role == "assistant" and rng.random() < 0.1 and template in ("qwen3.jinja",):
            m["tool_calls"] = [random_tool_call(rng, k) for k in range(rng.randint(1, 2))]
        if role == "assistant" and rng.random() < 0.1 and template == "qwen3.jinja":
            m["reasoning_content"] = random_text(rng, 20)
        if role == "tool":
            m["tool_call_id"] = "abcdefghi"
        msgs.append(m)
    req = {"template": template, "messages": msgs, "add_generation_prompt": rng.random() < 0.5,
           "special_tokens": TEMPLATES[template]}
    kwargs = {}
    if template == "qwen3.jinja" and rng.random() < 0.5:
        kwargs["enable_thinking"] = rng.choice([True, False])
    if template in ("qwen3.jinja", "llama-3.2-3b-instruct.jinja") and rng.random() < 0.2:
        kwargs["tools"] = TOOLS
    if template == "llama-3.2-3b-instruct.jinja":
        kwargs["date_string"] = "27 Nov 2026"  # strftime_now would make the output depend on the day
    if kwargs:
        req["kwargs"] = kwargs
    return req
