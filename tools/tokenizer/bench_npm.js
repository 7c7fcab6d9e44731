#!/usr/bin/env node
// The npm `tokenizers` side of the tokenizer benchmark: encodes every document of the
// corpus (sequentially: one encode in flight, so one thread works) and prints one JSON
// line like bench_tokenizer does.
//   node tools/tokenizer/bench_npm.js TOKENIZER_JSON CORPUS [REPEATS=3]
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.resolve(__dirname, '../../tests/tokenizer/oracle/node_modules/tokenizers'));

(async () => {
  const [tokPath, corpus, repeats = '3'] = process.argv.slice(2);
  let t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokPath);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const docs = fs.readFileSync(corpus, 'utf8').split('\u001e');
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  let best = Infinity, bestCpu = Infinity, tokens = 0;
  for (let rep = 0; rep < Number(repeats); ++rep) {
    tokens = 0;
    t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();  // all threads: the encode runs on a libuv worker
    for (const d of docs) tokens += (await tok.encode(d, null, { addSpecialTokens: false })).getLength();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
  }
  console.log(JSON.stringify({ impl: 'npm tokenizers 0.23.2', docs: docs.length, bytes, tokens, seconds: best,
    mb_per_s: bytes / 1e6 / best, cpu_seconds: bestCpu, load_ms: loadMs }));
})();
