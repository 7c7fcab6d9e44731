// tokenizer/json_scan: fast path for tokenizer.json (see tokenizer_json.h). Strict where it
// reads (the vocab and merges), lenient where it only skips (the skipped text is parsed
// again, strictly, by nlohmann as part of `rest`).
#include "tokenizer/tokenizer_json.h"

#include <algorithm>
#include <cstdint>

#include "tokenizer/unicode.h"

namespace qg::tok {
namespace {

struct Scanner {
  const char* p;
  const char* end;

  void ws() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  }
  bool lit(char c) {
    ws();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p < end && *p == c;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(uint32_t& v) {
    if (end - p < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(p[i]);
      if (h < 0) return false;
      v = v * 16 + static_cast<uint32_t>(h);
    }
    p += 4;
    return true;
  }

  // A JSON string, decoded into out (strict: no raw control characters, valid escapes,
  // no lone surrogates, valid UTF-8).
  bool string(std::string& out) {
    out.clear();
    if (!lit('"')) return false;
    for (;;) {
      const char* q = p;
      while (q < end && *q != '"' && *q != '\\' && static_cast<unsigned char>(*q) >= 0x20) ++q;
      out.append(p, q);
      p = q;
      if (p >= end || static_cast<unsigned char>(*p) < 0x20) return false;
      if (*p == '"') {
        ++p;
        return is_valid_utf8(out);
      }
      if (++p >= end) return false;  // backslash
      const char e = *p++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return false;
            p += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
  }

  bool skip_string() {
    if (!lit('"')) return false;
    while (p < end && *p != '"') p += (*p == '\\') ? 2 : 1;
    if (p >= end) return false;
    ++p;
    return true;
  }

  bool skip_value(int depth) {
    if (depth > 200) return false;
    ws();
    if (p >= end) return false;
    if (*p == '"') return skip_string();
    if (*p == '{' || *p == '[') {
      const char close = *p == '{' ? '}' : ']';
      const bool object = *p == '{';
      ++p;
      if (lit(close)) return true;
      for (;;) {
        if (object && !(skip_string() && lit(':'))) return false;
        if (!skip_value(depth + 1)) return false;
        if (lit(close)) return true;
        if (!lit(',')) return false;
      }
    }
    const char* q = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') ++p;
    return p > q;
  }

  bool uint31(int32_t& v) {
    ws();
    const char* q = p;
    int64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - q < 11) x = x * 10 + (*p++ - '0');
    if (p == q || (*q == '0' && p - q > 1) || x > INT32_MAX) return false;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return false;
    v = static_cast<int32_t>(x);
    return true;
  }

  // Entries are read in batches of kBatch: hash and prefetch all, then insert in order.
  static constexpr int kBatch = 16;

  bool vocab(StringIdMap& out) {
    if (!lit('{')) return false;
    // Sized for Qwen's 151k tokens, but never beyond what the text can hold (an entry
    // takes at least 6 bytes): a small or hostile file must not cost a full-size table.
    out.reserve(std::min<size_t>(1 << 17, static_cast<size_t>(end - p) / 6 + 16));
    if (lit('}')) return true;
    std::string keys[kBatch];
    int32_t ids[kBatch];
    uint64_t hashes[kBatch];
    for (bool more = true; more;) {
      int n = 0;
      while (n < kBatch) {
        if (!string(keys[n]) || !lit(':') || !uint31(ids[n])) return false;
        hashes[n] = StringIdMap::hash_of(keys[n]);
        out.prefetch(hashes[n]);
        ++n;
        if (lit('}')) {
          more = false;
          break;
        }
        if (!lit(',')) return false;
      }
      for (int i = 0; i < n; ++i) out.set(keys[i], ids[i], hashes[i]);
    }
    return true;
  }

  // vocab non-null: resolve each merge to ids now (a missing token returns false, so the
  // SAX path reports it with its index); else keep the strings.
  bool merges(const StringIdMap* vocab, HugeVector<MergeIds>& ids,
              std::vector<std::pair<std::string, std::string>>& out) {
    if (!lit('[')) return false;
    if (vocab) ids.reserve(std::min<size_t>(1 << 18, static_cast<size_t>(end - p) / 6 + 16));
    // Resolution is batched like the vocab: hash and prefetch 3 x kBatch keys, then look up.
    std::string left[kBatch], right[kBatch], joined[kBatch];
    uint64_t h[kBatch][3];
    int pending = 0;
    auto flush = [&] {
      for (int i = 0; i < pending; ++i) {
        const MergeIds m{vocab->find(left[i], h[i][0]), vocab->find(right[i], h[i][1]), vocab->find(joined[i], h[i][2])};
        if (m.left < 0 || m.right < 0 || m.merged < 0) return false;
        ids.push_back(m);
      }
      pending = 0;
      return true;
    };
    auto add = [&](std::string_view a, std::string_view b) {
      if (!vocab) {
        out.emplace_back(a, b);
        return true;
      }
      left[pending].assign(a);
      right[pending].assign(b);
      joined[pending].assign(a).append(b);
      for (int k = 0; k < 3; ++k) {
        const std::string& s = k == 0 ? left[pending] : k == 1 ? right[pending] : joined[pending];
        h[pending][k] = StringIdMap::hash_of(s);
        vocab->prefetch(h[pending][k]);
      }
      return ++pending < kBatch || flush();
    };
    if (lit(']')) return true;
    int form = 0;  // 1: "a b", 2: ["a", "b"]; mixing is an error (left to the SAX reader)
    std::string a, b;
    for (;;) {
      if (peek('"')) {
        if (form == 2 || !string(a)) return false;
        form = 1;
        const size_t sp = a.find(' ');
        if (sp == std::string::npos || a.find(' ', sp + 1) != std::string::npos) return false;
        if (!add(std::string_view(a).substr(0, sp), std::string_view(a).substr(sp + 1))) return false;
      } else {
        if (form == 1 || !lit('[') || !string(a) || !lit(',') || !string(b) || !lit(']')) return false;
        form = 2;
        if (!add(a, b)) return false;
      }
      if (lit(']')) return !vocab || flush();
      if (!lit(',')) return false;
    }
  }
};

}  // namespace

bool scan_tokenizer_json(std::string_view text, FastTokenizerJson& out) {
  Scanner s{text.data(), text.data() + text.size()};
  const char* vb = nullptr;
  const char* ve = nullptr;
  const char* mb = nullptr;
  const char* me = nullptr;
  std::string key;
  if (!s.lit('{')) return false;
  if (!s.lit('}')) {
    for (;;) {
      if (!s.string(key) || !s.lit(':')) return false;
      if (key == "model" && s.peek('{')) {
        ++s.p;
        if (!s.lit('}')) {
          for (;;) {
            if (!s.string(key) || !s.lit(':')) return false;
            s.ws();
            if (key == "vocab") {
              if (vb) return false;
              vb = s.p;
              if (!s.vocab(out.vocab)) return false;
              ve = s.p;
            } else if (key == "merges") {
              if (mb) return false;
              mb = s.p;
              if (!s.merges(vb ? &out.vocab : nullptr, out.merge_ids, out.merges)) return false;
              me = s.p;
            } else if (!s.skip_value(1)) {
              return false;
            }
            if (s.lit('}')) break;
            if (!s.lit(',')) return false;
          }
        }
      } else if (!s.skip_value(1)) {
        return false;
      }
      if (s.lit('}')) break;
      if (!s.lit(',')) return false;
    }
  }
  s.ws();
  if (s.p != s.end) return false;
  // rest: the text with the two big values replaced by empty ones, in file order.
  struct Cut {
    const char* b;
    const char* e;
    const char* with;
  };
  std::vector<Cut> cuts;
  if (vb) cuts.push_back({vb, ve, "{}"});
  if (mb) cuts.push_back({mb, me, "[]"});
  if (cuts.size() == 2 && cuts[1].b < cuts[0].b) std::swap(cuts[0], cuts[1]);
  const char* pos = text.data();
  for (const Cut& c : cuts) {
    out.rest.append(pos, c.b);
    out.rest.append(c.with);
    pos = c.e;
  }
  out.rest.append(pos, text.data() + text.size());
  out.has_vocab = vb != nullptr;
  out.has_merges = mb != nullptr;
  return true;
}

}  // namespace qg::tok
