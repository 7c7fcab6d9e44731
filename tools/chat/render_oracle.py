#!/usr/bin/python3
"""Reference chat-template renderer: Python jinja2 configured the way transformers'
apply_chat_template configures it (written from its documented behaviour, not copied):

  * jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
    extensions=[loopcontrols])  (transformers also adds an AssistantTracker extension for
    {% generation %} blocks; here that tag renders its body unchanged, as it does when
    return_assistant_tokens_mask is off)
  * filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent,
    separators=separators, sort_keys=sort_keys)   (no HTML escaping)
  * globals raise_exception(message) -> jinja2.exceptions.TemplateError(message) and
    strftime_now(format) -> datetime.now().strftime(format)
  * render(messages=..., tools=None, documents=None, add_generation_prompt=...,
    **special_tokens, **kwargs)

Usage as a filter: JSON lines on stdin, one per request
  {"template": "<path>", "messages": [...], "add_generation_prompt": bool,
   "kwargs": {...}, "special_tokens": {...}}
and one JSON line per request on stdout: {"text": "..."} or {"error": "..."}.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(Extension):
    """{% generation %}...{% endgeneration %} renders its body (transformers' tag)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


_ENV = make_env()
_CACHE = {}


def compile_template(source):
    t = _CACHE.get(source)
    if t is None:
        t = _ENV.from_string(source)
        _CACHE[source] = t
    return t


def render(source, messages, add_generation_prompt=False, kwargs=None, special_tokens=None):
    variables = dict(special_tokens or {})
    variables.update(kwargs or {})
    return compile_template(source).render(
        messages=messages, tools=variables.pop("tools", None),
        documents=variables.pop("documents", None),
        add_generation_prompt=add_generation_prompt, **variables)


def main():
    sources = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        path = req["template"]
        if path not in sources:
            with open(path, encoding="utf-8", newline="") as f:
                sources[path] = f.read()
        try:
            out = {"text": render(sources[path], req["messages"], req.get("add_generation_prompt", False),
                                  req.get("kwargs"), req.get("special_tokens"))}
        except Exception as e:  # the error text is not compared, only that both fail
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
