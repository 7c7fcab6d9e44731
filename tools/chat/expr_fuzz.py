"""Random Jinja expressions and small templates for the semantic fuzz phase of
fuzz_chat.py: literals of every type, names (defined, undefined, from messages),
operators, filters, tests, methods, slicing, loops and macros. Each generated template
is rendered by jinja2 and by us; outputs must match or both must raise."""
import random

STRINGS = ["'a'", "'héllo'", "''", "' x '", "'A,b,,c'", "\"it's\"", "'日本'", "'a\\nb'", "'<|im_end|>'", "'Ab cD'",
           "'  '", "'\\u00e9'", "'x\\ty'"]
NUMS = ["0", "1", "2", "3", "-1", "7", "10", "0.5", "2.0", "-0.0", "1e20", "1.5e-7", "3.25", "100"]
NAMES = ["messages", "m", "m.content", "m.role", "m['content']", "nope", "nope2", "ns.v", "messages[-1]",
         "messages|length", "extra", "extra.n", "extra.l", "flag"]
FILTERS = ["length", "string", "trim", "upper", "lower", "join(',')", "join", "first", "last", "list", "tojson",
           "tojson(indent=2)", "default('d')", "default('d', true)", "reverse|list", "sort", "capitalize", "title",
           "replace('a', 'X')", "abs", "wordcount", "count", "items|list", "unique|list", "sort(reverse=true)",
           "map('upper')|list", "map(attribute='role')|list", "selectattr('role', 'equalto', 'user')|list",
           "rejectattr('role')|list", "select|list", "dictsort", "min", "max", "sum", "int", "float",
           "indent(2)", "trim('a')"]
TESTS = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "sequence",
         "iterable", "boolean", "true", "false", "odd", "even", "divisibleby(3)", "sameas(none)", "in([1, 'a'])",
         "equalto('a')", "lower", "upper", "callable"]
METHODS = [".split()", ".split(',')", ".split(',', 1)", ".rsplit(',', 1)", ".strip()", ".lstrip('a')",
           ".rstrip()", ".startswith('a')", ".endswith(('b', 'c'))", ".upper()", ".lower()", ".title()",
           ".replace('a', 'X')", ".replace('', '-')", ".find('b')", ".count('a')", ".splitlines()",
           "|string)[::-1]", "|string)[1:]", "|list)[:-1]", "[0]", "[-1]", "|list)[1:3]", "|string)[::2]",
           ".get('k')", ".get('k', 0)", ".items()|list", ".keys()|list", ".values()|list", ".index(1)", ".append(1)", "|length"]
BINOPS = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]


def expr(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.3:
        k = rng.random()
        if k < 0.3:
            return rng.choice(STRINGS)
        if k < 0.55:
            return rng.choice(NUMS)
        if k < 0.85:
            return rng.choice(NAMES)
        return rng.choice(["none", "true", "false", "[]", "{}", "[1, 2, 3]", "['b', 'a', 'B']",
                           "{'k': 'v', 'n': 1}", "(1, 'a')", "[{'role': 'user'}, {'role': 'x'}]", "range(4)|list"])
    if r < 0.5:
        op = rng.choice(BINOPS)
        return f"({expr(rng, depth + 1)} {op} {expr(rng, depth + 1)})"
    if r < 0.65:
        return f"({expr(rng, depth + 1)})|{rng.choice(FILTERS)}"
    if r < 0.75:
        neg = rng.choice(["", "not "])
        return f"({expr(rng, depth + 1)} is {neg}{rng.choice(TESTS)})"
    if r < 0.88:
        m = rng.choice(METHODS)
        if m.startswith("|") and ")[" in m:  # slicing: only of str/list (see docs/chat.md)
            return f"(({expr(rng, depth + 1)}){m}"
        return f"({expr(rng, depth + 1)}){m}"
    if r < 0.93:
        return f"(not {expr(rng, depth + 1)})"
    if r < 0.97:
        return f"({expr(rng, depth + 1)} if {expr(rng, depth + 1)} else {expr(rng, depth + 1)})"
    return f"[{expr(rng, depth + 1)}, {expr(rng, depth + 1)}]"


def template(rng):
    parts = ["{% set m = messages[0] %}{% set ns = namespace(v=1) %}"]
    for _ in range(rng.randint(1, 4)):
        k = rng.random()
        if k < 0.5:
            parts.append("{{ " + expr(rng) + " }}|")
        elif k < 0.65:
            parts.append("{% if " + expr(rng) + " %}T{% elif " + expr(rng) + " %}E{% else %}F{% endif %}|")
        elif k < 0.8:
            parts.append("{% for x in " + expr(rng) + " %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}:{{ x }},"
                         "{% if loop.previtem is defined %}p{{ loop.previtem }}{% endif %}{% else %}empty{% endfor %}|")
        elif k < 0.9:
            parts.append("{% set ns.v = " + expr(rng) + " %}{{ ns.v }}|")
        else:
            parts.append("{% macro f(a, b='B') %}[{{ a }}{{ b }}{{ varargs }}]{% endmacro %}{{ f(" + expr(rng) +
                         ") }}{{ f(1, 2, 3) }}|")
        parts.append(rng.choice(["", "\n", "  \n  ", "\n{# c #}\n", "{%- if true -%}  {%+ endif +%}"]))
    return "".join(parts)


def request(rng, rand_text):
    msgs = [{"role": rng.choice(["user", "assistant", "system"]), "content": rand_text(rng, 20)}
            for _ in range(rng.randint(1, 3))]
    return {"source": template(rng), "messages": msgs, "add_generation_prompt": False,
            "kwargs": {"extra": {"n": rng.randint(-3, 9), "l": [1, 2.5, "s", None, True], "k": "v"},
                       "flag": rng.choice([True, False, None, 0, ""])}}
