#!/bin/sh
# Prompt processing and generation speed on GGUF files: qwen3guard (bench_model) and, when
# LLAMA_CPP_DIR is set (a llama.cpp build folder holding bin/llama-bench, or bin itself),
# llama-bench on the same file in the same run, with the ratio. Peer builds stay outside
# the repository.
#
#   bench/gguf_vs_llama.sh FILE.gguf [FILE2.gguf ...]
#   LLAMA_CPP_DIR=/work/peers/llama.cpp/build PP=512 TG=128 THREADS=2 bench/gguf_vs_llama.sh m-q8_0.gguf
#
# Make 0.6B-shaped files with
#   tools/make_test_model.py --preset 0.6B --dtype bf16 --gguf q8_0,q4_k_m --gguf-only --out DIR
# Both engines are timed by wall clock on the same machine one after the other, so only the
# ratios mean something on a shared machine; bench_model also prints an estimate from its CPU
# time ("idle-machine estimate"), which removes the time other processes held the cores.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$HERE/build/release}
PP=${PP:-512}
TG=${TG:-128}
THREADS=${THREADS:-2}
[ $# -ge 1 ] || { sed -n 2,16p "$0"; exit 2; }

llama_bench=""
if [ -n "${LLAMA_CPP_DIR:-}" ]; then
  for c in "$LLAMA_CPP_DIR/bin/llama-bench" "$LLAMA_CPP_DIR/llama-bench"; do
    [ -x "$c" ] && llama_bench=$c && break
  done
  [ -n "$llama_bench" ] || { echo "LLAMA_CPP_DIR=$LLAMA_CPP_DIR: no llama-bench there" >&2; exit 1; }
fi

for f in "$@"; do
  echo "== $f (pp$PP, tg$TG, $THREADS threads)"
  out=$("$BUILD/bench/bench_model" --model "$f" --threads "$THREADS" --prompt "$PP" --decode "$TG" --reps 1)
  qpp=$(echo "$out" | awk '/^prefill  /{for(i=1;i<=NF;i++) if($i=="tok/s") print $(i-1); exit}')
  qtg=$(echo "$out" | awk '/^decode  /{for(i=1;i<=NF;i++) if($i=="tok/s") print $(i-1); exit}')
  est=$(echo "$out" | sed -n 's/.*idle-machine estimate: //p')
  echo "qwen3guard   pp$PP $qpp tok/s   tg$TG $qtg tok/s   (cpu-time estimate: $est)"
  if [ -n "$llama_bench" ]; then
    lj=$("$llama_bench" -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -r 1 -o csv 2>/dev/null)
    # csv columns include n_prompt, n_gen, avg_ts; one row per test
    lpp=$(echo "$lj" | python3 -c 'import csv,sys
r=list(csv.DictReader(sys.stdin)); print(next((x["avg_ts"] for x in r if x["n_prompt"]!="0"), "nan"))')
    ltg=$(echo "$lj" | python3 -c 'import csv,sys
r=list(csv.DictReader(sys.stdin)); print(next((x["avg_ts"] for x in r if x["n_gen"]!="0"), "nan"))')
    echo "llama.cpp    pp$PP $lpp tok/s   tg$TG $ltg tok/s"
    python3 -c "print(f'ratio        pp {float(\"$qpp\")/float(\"$lpp\"):.2f}x   tg {float(\"$qtg\")/float(\"$ltg\"):.2f}x')"
  fi
done
