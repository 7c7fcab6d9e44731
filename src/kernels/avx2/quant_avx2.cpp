// AVX2 path of the quantized matmul (kernels/quant.h). Must equal ref/quant_ref.cpp up to
// float summation order (1e-5 relative to Σ|terms|, tests/kernels/quant_test.cpp); the
// activation quantizer is bit-identical to the reference's.
//
// Per call: x is quantized per token (int8 per 32-block, f32 scale). Then threads take
// tiles of 4 weight rows; a tile is unpacked once into canonical form in the thread's
// scratch (int8 q, a per-block vector of 8 scales — lanes 0-3 cover elements 0-15, lanes
// 4-7 elements 16-31, which is where vpmaddwd leaves them — and per-16 offsets), and then
// every token (2 at a time) is swept over it with vpmaddubsw/vpmaddwd: |w| · (x · sign w)
// summed in int16 pairs, then int32 quads, converted, scaled by s·d and accumulated in an
// 8-lane f32 vector per output. Every output (token, row) sees the same operations in the
// same order whatever the tile shapes, token count or thread split: batch-invariant.
//
// Compiled with -mavx2 -mfma -mf16c. No inline function here may be emitted as a weak
// symbol (docs/kernels.md): everything is in an anonymous namespace, no std containers.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace qg::kernels::quant::avx2 {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
#include "kernels/quant_unpack.inc"

constexpr int kTileRows = 4;

inline size_t al32(size_t n) { return (n + 31) & ~size_t{31}; }

// ---- activations: bit-identical to ref::quantize_act ----

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

ActRow quantize_act_avx2(const float* x, int64_t cols, void* buf) {
  const size_t c = static_cast<size_t>(cols);
  auto* q = static_cast<int8_t*>(buf);
  auto* d = reinterpret_cast<float*>(static_cast<uint8_t*>(buf) + al32(c));
  auto* xs = reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(d) + al32(c / 32 * sizeof(float)));
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const float* xb = x + 32 * b;
    __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
    __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float db = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    auto qv = [&](__m256 v) {
      v = _mm256_round_ps(_mm256_mul_ps(v, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
    };
    const __m256i i0 = qv(v0), i1 = qv(v1), i2 = qv(v2), i3 = qv(v3);
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), _mm256_permutevar8x32_epi32(p, perm));
    d[b] = db;
    xs[2 * b] = db * static_cast<float>(hsum_epi32(_mm256_add_epi32(i0, i1)));
    xs[2 * b + 1] = db * static_cast<float>(hsum_epi32(_mm256_add_epi32(i2, i3)));
  }
  return ActRow{q, d, xs};
}

// ---- one unpacked tile row ----

struct Tile {
  int8_t* q;   // [cols]
  float* sv;   // [cols / 32, 8]  lanes 0-3: scale of elements 0-15, lanes 4-7: 16-31
  float* off;  // [cols / 16]
};

size_t tile_row_bytes(int64_t cols) {
  const size_t c = static_cast<size_t>(cols);
  return al32(c) + al32(c / 32 * 8 * sizeof(float)) + 2 * al32(c / 16 * sizeof(float));
}

Tile tile_row(uint8_t* base, int64_t cols) {
  const size_t c = static_cast<size_t>(cols);
  Tile t;
  t.q = reinterpret_cast<int8_t*>(base);
  t.sv = reinterpret_cast<float*>(base + al32(c));
  t.off = reinterpret_cast<float*>(base + al32(c) + al32(c / 32 * 8 * sizeof(float)));
  return t;
}

// Unpacks one weight row into a tile row; `s16` is [cols / 16] floats of working space.
void unpack_tile_row(DType type, const uint8_t* row, int64_t cols, Tile t, float* s16) {
  unpack_row_impl(type, row, cols, t.q, s16, t.off);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const __m128 a = _mm_set1_ps(s16[2 * b]), c = _mm_set1_ps(s16[2 * b + 1]);
    _mm256_storeu_ps(t.sv + 8 * b, _mm256_set_m128(c, a));
  }
}

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Σ off[h] · xs[h], 8 lanes then the tail in order: the same for every output.
inline float offset_dot(const float* off, const float* xs, int64_t nh) {
  __m256 acc = _mm256_setzero_ps();
  int64_t h = 0;
  for (; h + 8 <= nh; h += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(off + h), _mm256_loadu_ps(xs + h), acc);
  float s = hsum_ps(acc);
  for (; h < nh; ++h) s += off[h] * xs[h];
  return s;
}

// Where a row's int8 weights come from. kTile: the unpacked tile (any type). The others read
// the row's blocks in place (`raw`), for decode-sized calls where unpacking a tile would
// cost as much as the dot itself: the canonical q bytes are rebuilt in registers, and the
// scale vector is the one the tile would hold (Q8_0: the block's d broadcast; Q4_K/Q6_K:
// from the per-16 scales that scales_only() wrote into the tile) — so every mode performs
// the same operations on the same values, bit for bit.
enum class Src { kTile, kQ8_0, kQ4_K, kQ6_K };

// Canonical q of 32-block b of a raw row (see quant_unpack.inc for the layouts).
template <Src S>
inline __m256i raw_q(const uint8_t* row, int64_t b) {
  if constexpr (S == Src::kQ8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 34 * b + 2));
  } else if constexpr (S == Src::kQ4_K) {
    const uint8_t* sb = row + 144 * (b / 8);
    const int k = static_cast<int>(b % 8);
    const __m256i qs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16 + 32 * (k / 2)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    return (k & 1) ? _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4) : _mm256_and_si256(qs, m4);
  } else {
    const uint8_t* sb = row + 210 * (b / 8);
    const int k = static_cast<int>(b % 8), n = k / 4, g = k % 4;
    const __m256i L = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * n + 32 * (g & 1)));
    const __m256i H = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * n));
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
    const __m256i lo = (g & 2) ? _mm256_and_si256(_mm256_srli_epi16(L, 4), m4) : _mm256_and_si256(L, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(H, 2 * g), m3);
    return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
  }
}

// NR rows × NT tokens over all blocks. out[t][r] = dot(row r, act t).
template <int NR, int NT, Src S>
void micro(const Tile* tr, const uint8_t* const* raw, const ActRow* a, int64_t cols, bool has_off,
           float out[][kTileRows]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT][NR];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_setzero_ps();
  const int64_t nb = cols / 32;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i xv[NT];
    __m256 dx[NT];
    for (int t = 0; t < NT; ++t) {
      xv[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t].q + 32 * b));
      dx[t] = _mm256_broadcast_ss(a[t].d + b);
    }
    for (int r = 0; r < NR; ++r) {
      __m256i wv;
      __m256 sv;
      if constexpr (S == Src::kQ8_0) {
        const uint8_t* blk = raw[r] + 34 * b;
        wv = raw_q<S>(raw[r], b);
        sv = _mm256_set1_ps(_cvtsh_ss(rd16(blk)));
        if (b + 8 < nb) _mm_prefetch(reinterpret_cast<const char*>(blk + 34 * 8), _MM_HINT_T0);
      } else if constexpr (S == Src::kTile) {
        wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tr[r].q + 32 * b));
        sv = _mm256_loadu_ps(tr[r].sv + 8 * b);
      } else {
        wv = raw_q<S>(raw[r], b);
        sv = _mm256_loadu_ps(tr[r].sv + 8 * b);
      }
      const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w| (w = -128 reads as 128 unsigned)
      for (int t = 0; t < NT; ++t) {
        const __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[t], wv));
        const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        acc[t][r] = _mm256_fmadd_ps(p, _mm256_mul_ps(sv, dx[t]), acc[t][r]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < NR; ++r) {
      float v = hsum_ps(acc[t][r]);
      if (has_off) v -= offset_dot(tr[r].off, a[t].xs, cols / 16);
      out[t][r] = v;
    }
  }
}

template <int NT, Src S>
void micro_rows(int nr, const Tile* tr, const uint8_t* const* raw, const ActRow* a, int64_t cols,
                bool has_off, float out[][kTileRows]) {
  switch (nr) {
    case 1: return micro<1, NT, S>(tr, raw, a, cols, has_off, out);
    case 2: return micro<2, NT, S>(tr, raw, a, cols, has_off, out);
    case 3: return micro<3, NT, S>(tr, raw, a, cols, has_off, out);
    default: return micro<4, NT, S>(tr, raw, a, cols, has_off, out);
  }
}

template <int NT>
void tile_dot(Src src, int nr, const Tile* tr, const uint8_t* const* raw, const ActRow* a, int64_t cols,
              bool has_off, float out[][kTileRows]) {
  switch (src) {
    case Src::kQ8_0: return micro_rows<NT, Src::kQ8_0>(nr, tr, raw, a, cols, has_off, out);
    case Src::kQ4_K: return micro_rows<NT, Src::kQ4_K>(nr, tr, raw, a, cols, has_off, out);
    case Src::kQ6_K: return micro_rows<NT, Src::kQ6_K>(nr, tr, raw, a, cols, has_off, out);
    default: return micro_rows<NT, Src::kTile>(nr, tr, raw, a, cols, has_off, out);
  }
}

// Q4_K / Q6_K rows read in place: only the per-16 scales (into the tile's scale vectors)
// and offsets are unpacked, with the same formulas as unpack_q4_k / unpack_q6_k.
void scales_only(DType t, const uint8_t* row, int64_t cols, Tile tile) {
  for (int64_t i = 0; i < cols / 256; ++i) {
    float s[16], m[16];
    if (t == DType::kQ4_K) {
      const uint8_t* b = row + 144 * i;
      const float d = h2f(rd16(b)), dmin = h2f(rd16(b + 2));
      for (int j = 0; j < 8; ++j) {
        int scv, mnv;
        k4_scale_min(j, b + 4, &scv, &mnv);
        s[2 * j] = s[2 * j + 1] = d * static_cast<float>(scv);
        m[2 * j] = m[2 * j + 1] = dmin * static_cast<float>(mnv);
      }
    } else {
      const uint8_t* b = row + 210 * i;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
      const float d = h2f(rd16(b + 208));
      for (int h = 0; h < 16; ++h) {
        s[h] = d * static_cast<float>(sc[h]);
        m[h] = 0.0f;
      }
    }
    for (int k = 0; k < 8; ++k) {
      const __m128 a = _mm_set1_ps(s[2 * k]), c = _mm_set1_ps(s[2 * k + 1]);
      _mm256_storeu_ps(tile.sv + 8 * (8 * i + k), _mm256_set_m128(c, a));
    }
    for (int h = 0; h < 16; ++h) tile.off[16 * i + h] = m[h];
  }
}

}  // namespace

void qmatmul(ThreadPool& pool, const MatRef& w, const int32_t* rows, int64_t n_rows,
             const float* x, int64_t n, float* y) {
  const int64_t cols = w.cols;
  const size_t abytes = al32(act_row_bytes(cols));
  const size_t tbytes = kTileRows * tile_row_bytes(cols) + al32(static_cast<size_t>(cols / 16) * 4);
  // Thread 0's scratch holds the quantized activations of every token, then its tile.
  const size_t need0 = abytes * static_cast<size_t>(n) + tbytes;
  auto* s0 = reinterpret_cast<uint8_t*>(pool.thread_scratch(0, need0 / 4 + 8));
  const auto act = [&](int64_t t) {
    const size_t c = static_cast<size_t>(cols);
    uint8_t* b = s0 + static_cast<size_t>(t) * abytes;
    return ActRow{reinterpret_cast<const int8_t*>(b), reinterpret_cast<const float*>(b + al32(c)),
                  reinterpret_cast<const float*>(b + al32(c) + al32(c / 32 * sizeof(float)))};
  };
  if (n >= 8) {
    pool.parallel_for(n, [&](int64_t t) { quantize_act_avx2(x + t * cols, cols, s0 + t * abytes); });
  } else {
    for (int64_t t = 0; t < n; ++t) quantize_act_avx2(x + t * cols, cols, s0 + t * abytes);
  }
  const size_t rb = dtype_row_bytes(w.dtype, cols);
  const bool off = has_offset(w.dtype);
  // Q8_0 rows are read in place for decode-sized calls; for more tokens, unpacking once and
  // sweeping the tokens over the tile is faster. Both give identical results.
  const bool small = n <= 4;
  const Src src = !small                    ? Src::kTile
                  : w.dtype == DType::kQ8_0 ? Src::kQ8_0
                  : w.dtype == DType::kQ4_K ? Src::kQ4_K
                  : w.dtype == DType::kQ6_K ? Src::kQ6_K
                                            : Src::kTile;
  const int64_t n_tiles = (n_rows + kTileRows - 1) / kTileRows;
  const auto* wdata = static_cast<const uint8_t*>(w.data);
  pool.parallel_ranges(n_tiles, [&](int64_t t0, int64_t t1, int thread) {
    uint8_t* tb = thread == 0 ? s0 + abytes * static_cast<size_t>(n)
                              : reinterpret_cast<uint8_t*>(pool.thread_scratch(thread, tbytes / 4 + 8));
    Tile tr[kTileRows];
    for (int r = 0; r < kTileRows; ++r) tr[r] = tile_row(tb + r * tile_row_bytes(cols), cols);
    float* s16 = reinterpret_cast<float*>(tb + kTileRows * tile_row_bytes(cols));
    for (int64_t ti = t0; ti < t1; ++ti) {
      const int64_t i0 = ti * kTileRows;
      const int nr = static_cast<int>(n_rows - i0 < kTileRows ? n_rows - i0 : kTileRows);
      const uint8_t* raw[kTileRows] = {};
      for (int r = 0; r < nr; ++r) {
        const int64_t row = rows != nullptr ? rows[i0 + r] : i0 + r;
        raw[r] = wdata + static_cast<size_t>(row) * rb;
        if (src == Src::kTile) {
          unpack_tile_row(w.dtype, raw[r], cols, tr[r], s16);
        } else if (src != Src::kQ8_0) {
          scales_only(w.dtype, raw[r], cols, tr[r]);
        }
      }
      float out[2][kTileRows];
      int64_t t = 0;
      for (; t + 2 <= n; t += 2) {
        const ActRow a[2] = {act(t), act(t + 1)};
        tile_dot<2>(src, nr, tr, raw, a, cols, off, out);
        for (int r = 0; r < nr; ++r) {
          y[t * n_rows + i0 + r] = out[0][r];
          y[(t + 1) * n_rows + i0 + r] = out[1][r];
        }
      }
      if (t < n) {
        const ActRow a[1] = {act(t)};
        tile_dot<1>(src, nr, tr, raw, a, cols, off, out);
        for (int r = 0; r < nr; ++r) y[t * n_rows + i0 + r] = out[0][r];
      }
    }
  });
}

}  // namespace qg::kernels::quant::avx2
