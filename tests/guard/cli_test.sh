#!/usr/bin/env bash
# The classify CLI end to end on a random tiny checkpoint: exit statuses (0, 1, 2, 3),
# JSON output, JSONL batch with a bad line. Usage: cli_test.sh QWEN3GUARD MODEL_DIR
set -u
bin=$1 model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect() {  # expect STATUS DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
  else
    echo "ok: $what"
  fi
}

expect 0 "classify one prompt" -- "$bin" classify --model "$model" "How can I make a bomb?"
grep -q '^Safety: ' "$tmp/out" || { echo "FAIL: human output"; fails=$((fails + 1)); }
expect 0 "response moderation as JSON" -- "$bin" classify --model "$model" --json --prompt "How can I make a bomb?" \
  --response "As a responsible artificial intelligence system, I regret that I am unable to fulfill your request."
grep -q '"mode":"response"' "$tmp/out" && grep -q '"refusal":"' "$tmp/out" \
  || { echo "FAIL: response JSON"; cat "$tmp/out"; fails=$((fails + 1)); }
# A threshold of 0 flags everything: --fail-on flagged must exit 3.
expect 3 "--fail-on flagged" -- "$bin" classify --model "$model" --thresholds Violent=0 --fail-on flagged "hello"
expect 2 "bad flag value" -- "$bin" classify --model "$model" --mode turbo "x"
expect 2 "two inputs" -- "$bin" classify --model "$model" --prompt a "b"
expect 1 "context too small" -- "$bin" classify --model "$model" --ctx 64 "hello"
grep -q "exceeds the context" "$tmp/err" || { echo "FAIL: context message"; fails=$((fails + 1)); }

printf '%s\n' '{"prompt": "one"}' 'not json' '{"prompt": "three", "response": "ok"}' > "$tmp/in.jsonl"
expect 1 "batch with a bad line" -- "$bin" classify --model "$model" --input "$tmp/in.jsonl" --output "$tmp/o.jsonl"
[ "$(wc -l < "$tmp/o.jsonl")" -eq 3 ] || { echo "FAIL: batch output lines"; cat "$tmp/o.jsonl"; fails=$((fails + 1)); }
grep -q '"line":2,"error"' "$tmp/o.jsonl" || { echo "FAIL: bad line record"; fails=$((fails + 1)); }
grep -q "in.jsonl:2" "$tmp/err" || { echo "FAIL: bad line on stderr"; fails=$((fails + 1)); }
expect 1 "--strict-input stops" -- "$bin" classify --model "$model" --strict-input --input "$tmp/in.jsonl" --output "$tmp/o2.jsonl"
[ "$(wc -l < "$tmp/o2.jsonl")" -eq 2 ] || { echo "FAIL: strict-input output"; cat "$tmp/o2.jsonl"; fails=$((fails + 1)); }
expect 0 "bench" -- "$bin" bench --model "$model" --n 5 --warmup 1
grep -q "mod/s" "$tmp/out" || { echo "FAIL: bench output"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "all CLI checks passed"
exit $((fails > 0))
