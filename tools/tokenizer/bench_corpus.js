#!/usr/bin/env node
// Builds the ~10 MB multilingual benchmark corpus from ../shared/qwen3guard/datasets
// (RTP-LX in 26 languages, XSTest prompts and completions, OpenAI moderation samples,
// SimpleSafetyTests), shuffled and repeated with a fixed seed. Not committed: written at
// bench time. Documents are separated by U+001E (record separator), which no document
// contains.
//   node tools/tokenizer/bench_corpus.js OUT [MEGABYTES=10] [CHUNK_BYTES=0]
// CHUNK_BYTES > 0 joins consecutive documents with "\n" into records of about that size
// (raw throughput without per-call overhead).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { rng } = require('../../tests/tokenizer/gen_text');

const data = path.resolve(__dirname, '../../../shared/qwen3guard/datasets');
const docs = [];
for (const l of fs.readFileSync(path.join(data, 'rtp-lx-sample.jsonl'), 'utf8').trim().split('\n')) docs.push(JSON.parse(l).prompt);
for (const l of zlib.gunzipSync(fs.readFileSync(path.join(data, 'openai_moderation_samples-1680.jsonl.gz'))).toString('utf8').trim().split('\n')) {
  docs.push(JSON.parse(l).prompt);
}
for (const f of ['xstest_prompts.csv', 'xstest_v2_completions_mistralinstruct.csv', 'simple_safety_tests.csv']) {
  // CSV records are kept whole (quotes and all): realistic text is all the benchmark needs.
  const text = fs.readFileSync(path.join(data, f), 'utf8');
  for (const rec of text.split(/\n(?=[a-z0-9_-]+,)/i)) docs.push(rec);
}
const out = process.argv[2];
const target = Number(process.argv[3] || 10) * 1e6;
const r = rng(42);
const parts = [];
let size = 0;
while (size < target) {
  const order = docs.map((d, i) => [r.next(), i]).sort((a, b) => a[0] - b[0]);
  for (const [, i] of order) {
    if (size >= target) break;
    parts.push(docs[i]);
    size += Buffer.byteLength(docs[i]) + 1;
  }
}
const chunk = Number(process.argv[4] || 0);
let records = parts;
if (chunk > 0) {
  records = [];
  let cur = [], n = 0;
  for (const d of parts) {
    cur.push(d);
    n += Buffer.byteLength(d) + 1;
    if (n >= chunk) { records.push(cur.join('\n')); cur = []; n = 0; }
  }
  if (cur.length) records.push(cur.join('\n'));
}
fs.writeFileSync(out, records.join('\u001e'));
console.error(`bench_corpus: ${records.length} records (${parts.length} documents), ${(size / 1e6).toFixed(1)} MB -> ${out}`);
