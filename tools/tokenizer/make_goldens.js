#!/usr/bin/env node
// Writes the committed tokenizer goldens from the oracle (Hugging Face tokenizers, the
// npm package pinned in tests/tokenizer/oracle). Never from our own code.
//
//   node tools/tokenizer/make_goldens.js [--tokenizer ../shared/qwen3guard/tokenizer/tokenizer.json]
//
// Outputs (tests/tokenizer/golden/):
//   corpus.jsonl           encode/decode cases: >= 60 languages and scripts, adversarial
//                          strings, invalid UTF-8 (as hex; the oracle encodes the text
//                          TextDecoder gives, i.e. one U+FFFD per maximal ill-formed
//                          subpart, as Rust's from_utf8_lossy), decodes of partial UTF-8.
//   unicode_classes.txt    the class (L letter, N number, W white space, O other) the
//                          oracle's pre-tokenizer regex gives every code point, as ranges.
//   unicode_nfc.txt        the oracle's NFC on probes covering every code point: alone,
//                          before U+0334 (ccc 1), after U+0345 (ccc 240), and every
//                          canonical decomposition; only changed probes are listed.
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..', '..');
const { Tokenizer } = require(path.join(root, 'tests/tokenizer/oracle/node_modules/tokenizers'));
const { rng, randomText } = require(path.join(root, 'tests/tokenizer/gen_text'));
const { LANGUAGES, ADVERSARIAL, INVALID_UTF8 } = require('./golden_inputs');

const argv = process.argv.slice(2);
const tokPath = argv[0] === '--tokenizer' ? argv[1] : path.join(root, '../shared/qwen3guard/tokenizer/tokenizer.json');
const outDir = path.join(root, 'tests/tokenizer/golden');
fs.mkdirSync(outDir, { recursive: true });
const base = fs.readFileSync(tokPath, 'utf8');
const full = Tokenizer.fromString(base);
const noAdded = Tokenizer.fromString(JSON.stringify({ ...JSON.parse(base), added_tokens: [] }));
const enc = async (t, s) => (await t.encode(s, null, { addSpecialTokens: false })).getIds();

async function corpus() {
  const lines = [];
  const add = async (name, text, hex) => {
    for (const mode of ['template', 'content']) {
      const ids = await enc(mode === 'template' ? full : noAdded, text);
      lines.push(JSON.stringify(hex ? { name, mode, hex, ids } : { name, mode, text, ids }));
    }
  };
  for (const [name, text] of LANGUAGES) await add(`lang/${name}`, text);
  for (const [name, text] of ADVERSARIAL) await add(`adv/${name}`, text);
  // Real prompts: two per RTP-LX locale, a few English moderation samples.
  const rtp = fs.readFileSync(path.join(root, '../shared/qwen3guard/datasets/rtp-lx-sample.jsonl'), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l));
  const perLocale = {};
  for (const r of rtp) {
    perLocale[r.locale] = (perLocale[r.locale] || 0) + 1;
    if (perLocale[r.locale] <= 2) await add(`rtp/${r.locale}/${perLocale[r.locale]}`, r.prompt);
  }
  for (const [name, bytes] of INVALID_UTF8) {
    const buf = Buffer.from(bytes, 'hex');
    await add(`invalid/${name}`, new TextDecoder('utf-8').decode(buf), bytes);
  }
  // Deterministic random strings (the same generator as the fuzz test, other seed).
  const r = rng(20260101);
  for (let i = 0; i < 300; ++i) await add(`random/${i}`, randomText(r, 20));
  // Decodes: ids whose bytes are partial UTF-8, special tokens, unknown ids.
  const vocab = full.getVocab(false);
  const partial = Object.entries(vocab).filter(([t]) => /^[\u00c0-\u00ff\u0100-\u0143]+$/.test(t) && t.length <= 2)
    .map(([, id]) => id).sort((a, b) => a - b).slice(0, 400);
  const dr = rng(99);
  for (let i = 0; i < 200; ++i) {
    const ids = [];
    for (let n = dr.range(1, 8); n > 0; --n) {
      const k = dr.int(10);
      ids.push(k < 6 ? dr.pick(partial) : k < 8 ? dr.int(151643) : 151643 + dr.int(26));
    }
    for (const skip of [false, true]) {
      lines.push(JSON.stringify({ name: `decode/${i}`, decode: ids, skip, text: await full.decode(ids, skip) }));
    }
  }
  fs.writeFileSync(path.join(outDir, 'corpus.jsonl'), lines.join('\n') + '\n');
  console.log(`corpus.jsonl: ${lines.length} cases`);
}

function classes() {
  const pt = full.getPreTokenizer();
  const n = (s) => pt.preTokenizeString(s).length;
  const out = [];
  let prev = null, start = 0;
  for (let cp = 0; cp <= 0x10FFFF; cp++) {
    let c;
    if (cp >= 0xD800 && cp <= 0xDFFF) c = 'O';
    else if (cp === 10 || cp === 13) c = 'W';
    else {
      // "!X" is one piece iff X is a letter or "other"; "XX" is one piece iff X is a letter,
      // "other" or white space; "aX" is one piece iff X is a letter.
      const X = String.fromCodePoint(cp);
      const a = n('!' + X), b = n(X + X), d = n('a' + X);
      c = a === 1 ? (d === 1 ? 'L' : 'O') : (b === 1 ? 'W' : 'N');
    }
    if (c !== prev) { if (prev !== null) out.push(`${start.toString(16)} ${(cp - 1).toString(16)} ${prev}`); prev = c; start = cp; }
  }
  out.push(`${start.toString(16)} 10ffff ${prev}`);
  fs.writeFileSync(path.join(outDir, 'unicode_classes.txt'), out.join('\n') + '\n');
  console.log(`unicode_classes.txt: ${out.length} ranges`);
}

function nfc() {
  const nz = full.getNormalizer();
  const probes = [];
  for (let cp = 1; cp <= 0x10FFFF; cp++) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp === 0x7C) continue;
    const X = String.fromCodePoint(cp);
    probes.push(X, 'b' + X + '\u0334', 'b\u0345' + X);
    const d = X.normalize('NFD');
    if (d !== X) probes.push(d);
  }
  const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(' ');
  const lines = [];
  for (let i = 0; i < probes.length; i += 20000) {
    const chunk = probes.slice(i, i + 20000);
    // '|' composes with nothing and no NFC output contains it: a safe separator.
    const outs = nz.normalizeString(chunk.join('|')).split('|');
    if (outs.length !== chunk.length) throw new Error('separator broke');
    chunk.forEach((p, k) => { if (outs[k] !== p) lines.push(`${hex(p)}\t${hex(outs[k])}`); });
  }
  fs.writeFileSync(path.join(outDir, 'unicode_nfc.txt'), lines.join('\n') + '\n');
  console.log(`unicode_nfc.txt: ${lines.length} changed probes of ${probes.length}`);
}

(async () => {
  await corpus();
  classes();
  nfc();
})().catch((e) => { console.error(e); process.exit(1); });
