// Randomised differential test of qg::tok against the live oracle (Hugging Face
// tokenizers, npm package pinned in tests/tokenizer/oracle). Fixed seed; zero mismatches
// allowed. Registered with ctest (LABELS fuzz); QG_FUZZ_ITERS=N runs a longer session.
//
//   node fuzz.js --driver PATH/tokenizer_driver --tokenizer PATH/tokenizer.json
//                [--iters 10000] [--seed 1] [--workdir DIR]
//
// Cases (all compared id for id, decodes compared string for string):
//  * template text: oracle = the full tokenizer on the same string;
//  * user content: oracle = a copy of tokenizer.json with added_tokens emptied (nothing
//    can match, everything else identical);
//  * mixed segments: added-token matches are those the full oracle finds inside each
//    maximal run of template segments (its offsets); the text between matches, content
//    and template alike, is one piece encoded by the no-added-token oracle;
//  * template text under a variant tokenizer.json whose added tokens use lstrip, rstrip,
//    single_word and normalized (checked against that variant);
//  * decode of random id sequences (partial UTF-8 included), skip_special_tokens both
//    ways, and the incremental decoder; round trip decode(encode(s)) == NFC(s) for content.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { Tokenizer } = require(path.join(__dirname, 'oracle', 'node_modules', 'tokenizers'));
const { rng, randomText } = require('./gen_text');

function args() {
  const a = { iters: 10000, seed: 1, workdir: os.tmpdir() };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) a[v[i].replace(/^--/, '')] = v[i + 1];
  if (process.env.QG_FUZZ_ITERS) a.iters = process.env.QG_FUZZ_ITERS;
  a.iters = Number(a.iters);
  a.seed = Number(a.seed);
  if (!a.driver || !a.tokenizer) throw new Error('usage: fuzz.js --driver PATH --tokenizer PATH');
  return a;
}

// The variant: flags on existing added tokens plus normalized tokens whose NFC differs.
function variantJson(base) {
  const j = JSON.parse(base);
  const byContent = Object.fromEntries(j.added_tokens.map((t) => [t.content, t]));
  byContent['<|im_start|>'].lstrip = true;
  byContent['<|im_end|>'].rstrip = true;
  byContent['<tool_call>'].single_word = true;
  byContent['<think>'].lstrip = true;
  byContent['<think>'].rstrip = true;
  byContent['<think>'].single_word = true;
  byContent['</think>'].normalized = true;
  let id = Math.max(...j.added_tokens.map((t) => t.id)) + 1;
  for (const content of ['Cafe\u0301', 'mask', '\u212B']) {
    j.added_tokens.push({ id: id++, content, single_word: content === 'mask', lstrip: false, rstrip: false,
      normalized: true, special: content !== 'mask' });
  }
  return JSON.stringify(j);
}

function runDriver(driver, tokenizer, requests) {
  const res = spawnSync(driver, [tokenizer], { input: requests.map((r) => JSON.stringify(r)).join('\n') + '\n',
    maxBuffer: 1 << 30, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`driver failed (${res.status}): ${res.stderr}`);
  return res.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
}

async function main() {
  const a = args();
  const base = fs.readFileSync(a.tokenizer, 'utf8');
  const full = Tokenizer.fromString(base);
  const noAdded = Tokenizer.fromString(JSON.stringify({ ...JSON.parse(base), added_tokens: [] }));
  const variantText = variantJson(base);
  const variant = Tokenizer.fromString(variantText);
  const variantPath = path.join(a.workdir, `qg_fuzz_variant_${process.pid}.json`);
  fs.writeFileSync(variantPath, variantText);
  const enc = async (t, s) => (await t.encode(s, null, { addSpecialTokens: false })).getIds();
  const r = rng(a.seed);
  const vocabSize = full.getVocabSize(true);

  const cases = [];  // {what, req, expect: ids|text, tok: 'base'|'variant'}
  for (let i = 0; i < a.iters; ++i) {
    const kind = r.int(10);
    if (kind < 3) {
      const s = randomText(r);
      cases.push({ what: ['template', s], req: { segments: [[s, 't']] }, expect: await enc(full, s) });
    } else if (kind < 5) {
      const s = randomText(r);
      const ids = await enc(noAdded, s);
      cases.push({ what: ['content', s], req: { segments: [[s, 'c']] }, expect: ids });
      cases.push({ what: ['roundtrip', s], req: { decode: ids }, expect: noAdded.getNormalizer().normalizeString(s) });
    } else if (kind < 8) {
      const segs = [];
      for (let n = r.range(2, 6); n > 0; --n) segs.push([randomText(r, 4), r.next() < 0.5 ? 't' : 'c']);
      cases.push({ what: ['mixed', segs], req: { segments: segs }, expect: await mixedOracle(segs) });
    } else if (kind < 9) {
      const s = randomText(r);
      cases.push({ what: ['variant', s], req: { segments: [[s, 't']] }, expect: await enc(variant, s), tok: 'variant' });
    } else {
      const ids = [];
      for (let n = r.range(1, 12); n > 0; --n) ids.push(r.next() < 0.1 ? 151643 + r.int(26) : r.int(vocabSize));
      const skip = r.next() < 0.5;
      const text = await full.decode(ids, skip);
      cases.push({ what: ['decode', ids, skip], req: { decode: ids, skip }, expect: text });
      cases.push({ what: ['stream', ids, skip], req: { stream: ids, skip }, expect: text });
    }
  }

  // 1 MB inputs (deterministic): mixed text, one 1 MB word (the long-word merge path),
  // a 1 MB CJK letter run, and 1 MB of white space with line breaks.
  const big = [];
  let mixed = '';
  while (mixed.length < 1 << 20) mixed += randomText(r, 20);
  big.push(mixed, 'a'.repeat(1 << 20), '語'.repeat(350000), ' \t\n \r\n  '.repeat(1 << 17));
  for (const s of big) {
    cases.push({ what: ['big', s.length], req: { segments: [[s, 't']] }, expect: await enc(full, s) });
  }

  // Mixed segments: see the file comment.
  async function mixedOracle(segs) {
    const chars = [];   // code points of the joined text
    const matches = []; // [startChar, endChar, id]
    let i = 0;
    while (i < segs.length) {
      if (segs[i][1] === 'c') { chars.push(...Array.from(segs[i][0])); ++i; continue; }
      let run = '';
      while (i < segs.length && segs[i][1] === 't') run += segs[i++][0];
      const base = chars.length;
      chars.push(...Array.from(run));
      const e = await full.encode(run, null, { addSpecialTokens: false });
      const ids = e.getIds(), offs = e.getOffsets();
      for (let k = 0; k < ids.length; ++k) if (ids[k] >= 151643) matches.push([base + offs[k][0], base + offs[k][1], ids[k]]);
    }
    const out = [];
    let pos = 0;
    for (const [s, e, id] of matches) {
      if (s > pos) out.push(...await enc(noAdded, chars.slice(pos, s).join('')));
      out.push(id);
      pos = e;
    }
    if (pos < chars.length) out.push(...await enc(noAdded, chars.slice(pos).join('')));
    return out;
  }

  const baseCases = cases.filter((c) => c.tok !== 'variant');
  const varCases = cases.filter((c) => c.tok === 'variant');
  const replies = runDriver(a.driver, a.tokenizer, baseCases.map((c) => c.req));
  const vreplies = varCases.length ? runDriver(a.driver, variantPath, varCases.map((c) => c.req)) : [];
  fs.unlinkSync(variantPath);
  let bad = 0;
  const check = (c, rep) => {
    const got = rep.ids !== undefined ? rep.ids : rep.text;
    if (JSON.stringify(got) !== JSON.stringify(c.expect)) {
      if (++bad <= 20) {
        console.error(`MISMATCH ${JSON.stringify(c.what)}\n  oracle: ${JSON.stringify(c.expect)}\n  ours:   ${JSON.stringify(rep)}`);
      }
    }
  };
  baseCases.forEach((c, k) => check(c, replies[k]));
  varCases.forEach((c, k) => check(c, vreplies[k]));
  const counts = {};
  for (const c of cases) counts[c.what[0]] = (counts[c.what[0]] || 0) + 1;
  console.log(`fuzz: seed ${a.seed}, ${a.iters} random inputs, ${cases.length} checks ${JSON.stringify(counts)}, ${bad} mismatches`);
  process.exit(bad ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
