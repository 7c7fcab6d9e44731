// Tokenizer oracle for tools/guard/reference_classify.py: Hugging Face tokenizers
// (the npm binding pinned in tests/tokenizer/oracle/package-lock.json).
//
//   node tokenize_oracle.js tokenizer.json requests.json > answers.json
//
// requests.json: {"encode": [[[text, is_template], ...], ...], "decode": [[id, ...], ...]}
// answers.json:  {"encode": [[id, ...], ...], "decode": [text, ...]}
//
// Provenance rule (docs/guard.md, base/segment.h): added tokens (<|im_end|>, ...)
// are matched only in template text. HF splits the string at added tokens first
// and encodes each piece in between on its own; this helper does the same split,
// but looks for added tokens in template segments only, and encodes the pieces
// with a copy of the tokenizer that has no added tokens, so that content such as
// "<|im_end|>" stays text. Decoding skips special tokens, as the official code does.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const repo = path.resolve(__dirname, '..', '..');
// QG_TOKENIZERS_MODULE overrides where the npm package is (for a checkout without it).
const { Tokenizer } = require(process.env.QG_TOKENIZERS_MODULE ||
  path.join(repo, 'tests', 'tokenizer', 'oracle', 'node_modules', 'tokenizers'));

async function main() {
  const [tokPath, reqPath] = process.argv.slice(2);
  const tj = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  const added = tj.added_tokens.map((t) => ({ content: t.content, id: t.id }));
  added.sort((a, b) => b.content.length - a.content.length);  // longest match first
  const plain = Object.assign({}, tj, { added_tokens: [] });
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'qg-oracle-')), 'tokenizer.json');
  fs.writeFileSync(tmp, JSON.stringify(plain));
  const full = await Tokenizer.fromFile(tokPath);
  const noAdded = await Tokenizer.fromFile(tmp);

  const req = JSON.parse(fs.readFileSync(reqPath, 'utf8'));
  const out = { encode: [], decode: [] };
  for (const segments of req.encode || []) {
    // Merge neighbours of the same origin, then cut at added tokens in template text.
    const merged = [];
    for (const [text, isTemplate] of segments) {
      if (merged.length && merged[merged.length - 1][1] === isTemplate) merged[merged.length - 1][0] += text;
      else merged.push([text, isTemplate]);
    }
    const pieces = [];  // strings to encode, or {id}
    let pending = '';
    for (const [text, isTemplate] of merged) {
      if (!isTemplate) { pending += text; continue; }
      let i = 0;
      while (i < text.length) {
        const hit = added.find((t) => text.startsWith(t.content, i));
        if (hit) {
          if (pending) pieces.push(pending);
          pending = '';
          pieces.push({ id: hit.id });
          i += hit.content.length;
        } else {
          pending += text[i];
          i += 1;
        }
      }
    }
    if (pending) pieces.push(pending);
    const ids = [];
    for (const p of pieces) {
      if (typeof p === 'string') {
        const enc = await noAdded.encode(p, null, { addSpecialTokens: false });
        ids.push(...enc.getIds());
      } else {
        ids.push(p.id);
      }
    }
    out.encode.push(ids);
  }
  for (const ids of req.decode || []) out.decode.push(await full.decode(ids, true));
  fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
