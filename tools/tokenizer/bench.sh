#!/usr/bin/env bash
# Tokenizer benchmark: builds the ~10 MB multilingual corpus, then encodes it with ours
# (bench_tokenizer, one thread) and with the npm `tokenizers` binding (one encode in
# flight, and encodeBatch on one Rayon thread) in the same run, and prints the lines and ratios.
#   tools/tokenizer/bench.sh [MEGABYTES=10] [REPEATS=3] [CHUNK_BYTES=0]
# CHUNK_BYTES=0 encodes document by document (each prompt on its own, as the guard
# does); e.g. 1000000 encodes ~1 MB records (raw throughput, no per-call overhead).
# Needs: cmake --build --preset release --target bench_tokenizer; scripts/deps.sh (npm).
set -euo pipefail
cd "$(dirname "$0")/../.."
mb=${1:-10}
repeats=${2:-3}
chunk=${3:-0}
tok=${QG_TOKENIZER_JSON:-../shared/qwen3guard/tokenizer/tokenizer.json}
bin=build/release/bench/bench_tokenizer
[ -x "$bin" ] || cmake --build --preset release --target bench_tokenizer >&2
corpus=$(mktemp /tmp/qg_tok_corpus.XXXXXX)
trap 'rm -f "$corpus"' EXIT
node tools/tokenizer/bench_corpus.js "$corpus" "$mb" "$chunk"
ours=$("$bin" "$tok" "$corpus" "$repeats")
theirs=$(node tools/tokenizer/bench_npm.js "$tok" "$corpus" "$repeats")
# The binding's best single-thread case too: encodeBatch, no per-document round trip.
batch=$(RAYON_NUM_THREADS=1 node tools/tokenizer/bench_npm_batch.js "$tok" "$corpus" "$repeats")
echo "$ours"
echo "$theirs"
echo "$batch"
node -e '
const a = JSON.parse(process.argv[1]), b = JSON.parse(process.argv[2]);
if (a.tokens !== b.tokens) { console.log(`TOKEN COUNTS DIFFER: ${a.tokens} vs ${b.tokens}`); process.exit(1); }
console.log(`same ${a.tokens} tokens; throughput ours/npm = ${(a.mb_per_s / b.mb_per_s).toFixed(2)}x ` +
            `(${a.mb_per_s.toFixed(1)} vs ${b.mb_per_s.toFixed(1)} MB/s wall); CPU time ${a.cpu_seconds.toFixed(2)} s vs ` +
            `${b.cpu_seconds.toFixed(2)} s = ${(b.cpu_seconds / a.cpu_seconds).toFixed(2)}x; load ${a.load_ms.toFixed(0)} ms vs ${b.load_ms.toFixed(0)} ms wall`);
' "$ours" "$theirs"
node -e '
const a = JSON.parse(process.argv[1]), c = JSON.parse(process.argv[2]);
if (a.tokens !== c.tokens) { console.log(`TOKEN COUNTS DIFFER (encodeBatch): ${a.tokens} vs ${c.tokens}`); process.exit(1); }
console.log(`vs encodeBatch on one thread: ours/npm = ${(a.mb_per_s / c.mb_per_s).toFixed(2)}x ` +
            `(${a.mb_per_s.toFixed(1)} vs ${c.mb_per_s.toFixed(1)} MB/s wall)`);
' "$ours" "$batch"
