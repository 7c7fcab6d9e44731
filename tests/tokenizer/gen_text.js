// Deterministic random text for the tokenizer tests: a seeded PRNG and generators that
// mix scripts, white space, punctuation, digits, contractions, combining marks, non-NFC
// sequences, emoji sequences and added-token texts. Shared by fuzz.js (differential
// test against the live oracle) and tools/tokenizer/make_goldens.js.
'use strict';

// mulberry32: tiny, fast, good enough for test data, identical on every platform.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
  };
  return r;
}

const cp = (c) => String.fromCodePoint(c);

// Script blocks: [first, last] code points to sample letters from.
const SCRIPTS = [
  [0x41, 0x5A], [0x61, 0x7A], [0xC0, 0x24F], [0x370, 0x3FF], [0x400, 0x4FF], [0x531, 0x587],
  [0x5D0, 0x5EA], [0x620, 0x64A], [0x660, 0x669], [0x900, 0x97F], [0x980, 0x9FF], [0xA00, 0xA7F],
  [0xB80, 0xBFF], [0xC00, 0xC7F], [0xD00, 0xD7F], [0xE00, 0xE5B], [0xE80, 0xEDF], [0xF00, 0xFFF],
  [0x1000, 0x109F], [0x10A0, 0x10FF], [0x1100, 0x11FF], [0x1200, 0x137F], [0x13A0, 0x13FF],
  [0x1780, 0x17FF], [0x1800, 0x18AF], [0x1E00, 0x1EFF], [0x1F00, 0x1FFF], [0x3040, 0x30FF],
  [0x3100, 0x312F], [0x4E00, 0x9FFF], [0xAC00, 0xD7A3], [0xA000, 0xA4CF], [0xFF00, 0xFFEF],
  [0x10400, 0x1044F], [0x1D400, 0x1D7FF], [0x20000, 0x2A6DF], [0x1F300, 0x1FAFF],
];
const SPACES = [' ', ' ', ' ', '  ', '\t', '\n', '\n\n', '\r\n', '\r', '\u000B', '\u000C', '\u0085',
  '\u00A0', '\u1680', '\u2000', '\u2003', '\u2009', '\u200A', '\u2028', '\u2029', '\u202F', '\u205F',
  '\u3000', '\u180E', '\u200B', '\uFEFF', ' \n ', '\t\t', '   \n\n  '];
const PUNCT = [...'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~', '\'', '\'', '’', '“', '”', '«', '»', '…', '—', '–',
  '¿', '¡', '。', '、', '！', '？', '：', '「', '」', '《', '》', '·', '•', '€', '£', '¥', '₹', '©', '®', '°', '±'];
const CONTRACTIONS = ['\'s', '\'S', '\'t', '\'T', '\'re', '\'RE', '\'Re', '\'rE', '\'ve', '\'VE', '\'m', '\'M',
  '\'ll', '\'LL', '\'lL', '\'d', '\'D', '\'ſ', '\'ſt', '\'Ss', '\'llama', '\'ſſ', '\'\u212A', 'n\'t', '\'\'s', '\'x', '\' s'];
const ADDED = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|box_end|>',
  '<|vision_pad|>', '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_pad|>', '<|repo_name|>',
  '<|file_sep|>', '<tool_response>', '</tool_response>', '<think>', '</think>', '<|im_', 'im_end|>',
  '<|', '|>', '<<|im_end|>>', '<|im_start|><|im_end|>'];
const EMOJI = ['😀', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷', '🇯🇵', '❤️', '✋🏿', '🧑🏻‍🤝‍🧑🏿', '#️⃣', '🫠',
  '\u200D', '\uFE0F', '\u{1F3FB}'];
const COMBINING = [0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x331, 0x334, 0x338,
  0x345, 0x5B0, 0x5BC, 0x64B, 0x670, 0x93C, 0x94D, 0x9BC, 0x9BE, 0x9D7, 0xB3E, 0xBBE, 0xE38, 0xE48,
  0x1DC0, 0x20D7, 0x302A, 0x3099, 0x309A, 0x1161, 0x11A8, 0x7FD, 0x1AC0, 0x1DFA, 0x11930];

function randomCodePoint(r) {
  // Any scalar value except surrogates: JS strings cannot carry lone surrogates to the
  // oracle meaningfully, and invalid UTF-8 is tested separately (goldens).
  for (;;) {
    const c = r.next() < 0.8 ? r.int(0x30000) : r.int(0x110000);
    if (c < 0xD800 || c > 0xDFFF) return c;
  }
}

function chunk(r) {
  const k = r.int(14);
  switch (k) {
    case 0: case 1: case 2: {  // a word from one script
      const [a, b] = r.pick(SCRIPTS);
      let s = '';
      for (let n = r.range(1, 8); n > 0; --n) s += cp(r.range(a, b));
      return s;
    }
    case 3: return r.pick(SPACES);
    case 4: return r.pick(PUNCT).repeat(r.range(1, 3));
    case 5: {  // digits and number formats
      const forms = ['0', '1', '42', '3.14', '1,000,000', '2024-01-31', '٣٤٥', '１２３', '²', 'Ⅻ', '½', '-7', '1e10', '0x1F'];
      return r.pick(forms);
    }
    case 6: return r.pick(CONTRACTIONS);
    case 7: return r.pick(ADDED);
    case 8: return r.pick(EMOJI);
    case 9: {  // combining marks, possibly stacked, possibly after a base
      let s = r.next() < 0.7 ? r.pick(['a', 'e', 'o', 'A', 'u', 'n', 'c', 'ᄀ', '가', '<', '>', '=', 'ि', 'க', '\u1100', '\u{11935}']) : '';
      for (let n = r.range(1, 3); n > 0; --n) s += cp(r.pick(COMBINING));
      return s;
    }
    case 10: {  // non-NFC text: NFD (or NFKD) of a precomposed word
      const words = ['Crème brûlée', 'Ångström', 'naïve café', 'Ελληνικά', 'Tiếng Việt', '한국어 텍스트', 'ﬁle', 'Ω', 'Å', 'ḱṷ'];
      const w = r.pick(words);
      return r.next() < 0.5 ? w.normalize('NFD') : w.normalize('NFKD');
    }
    case 11: {  // random code points from anywhere
      let s = '';
      for (let n = r.range(1, 4); n > 0; --n) s += cp(randomCodePoint(r));
      return s;
    }
    case 12: return r.pick(['Hello', 'world', 'the', ' The', 'don\'t', 'I\'m', 'USER:', 'ASSISTANT:', 'Safety: Unsafe', '\n\n']);
    default: return r.pick(SPACES) + r.pick(['a', 'Б', '中', '1', '!', 'ñ', '\n']);
  }
}

// A random string of 1..maxChunks chunks.
function randomText(r, maxChunks = 12) {
  let s = '';
  for (let n = r.range(1, maxChunks); n > 0; --n) s += chunk(r);
  return s;
}

module.exports = { rng, randomText, chunk, SCRIPTS, ADDED };
