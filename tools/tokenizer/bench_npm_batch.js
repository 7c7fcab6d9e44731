#!/usr/bin/env node
// The npm `tokenizers` binding's best single-thread case: encodeBatch over 1,000
// documents per call (no per-document async round trip). Run with RAYON_NUM_THREADS=1
// so the Rust side uses one thread, as bench_tokenizer does.
//   RAYON_NUM_THREADS=1 node tools/tokenizer/bench_npm_batch.js TOKENIZER_JSON CORPUS [REPEATS=2]
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.resolve(__dirname, '../../tests/tokenizer/oracle/node_modules/tokenizers'));

(async () => {
  const [tokPath, corpus, repeats = '2'] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokPath);
  const docs = fs.readFileSync(corpus, 'utf8').split('\u001e');
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
  let best = Infinity, bestCpu = Infinity, tokens = 0;
  for (let rep = 0; rep < Number(repeats); ++rep) {
    tokens = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = 0; i < docs.length; i += 1000) {
      const encs = await tok.encodeBatch(docs.slice(i, i + 1000), { addSpecialTokens: false });
      for (const e of encs) tokens += e.getLength();
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
  }
  console.log(JSON.stringify({ impl: 'npm tokenizers 0.23.2 encodeBatch', docs: docs.length, bytes, tokens,
    seconds: best, mb_per_s: bytes / 1e6 / best, cpu_seconds: bestCpu }));
})();
