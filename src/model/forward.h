// CONTRACT HEADER (written first so runtime/, guard/ and the Stream work can code
// against it; the engine work implements it and may add to it).
//
// The batched Qwen3 forward pass as one plain function over explicit, caller-owned
// state: immutable weights (shared by every caller), a paged KV pool (owned by the
// engine's block allocator), a batch of sequences, and scratch (owned by the caller).
//
//   forward(ctx, model, kv, batch, scratch)
//
// The linear layers (q/k/v/o, gate/up/down, lm_head) run once over all tokens of the
// batch; attention runs per sequence over that sequence's blocks. Because every kernel
// is batch-invariant (kernels/kernels.h), a sequence's outputs are bitwise identical
// whether it runs alone, in any batch, or under any prefill chunking.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/dtype.h"
#include "kernels/kernels.h"
#include "model/config.h"

namespace qg::model {

class Qwen3Model;

// The paged KV storage of every layer: K and V pools of n_blocks blocks each.
// Layer l's K pool starts at k_layer(l); block b of it at + b * block_stride elements;
// a block holds [block_tokens, kv_heads, head_dim] elements of dtype.
struct KvStorage {
  void* k = nullptr;             // [layers, n_blocks, block_tokens, kv_heads, head_dim] of dtype
  void* v = nullptr;             // same
  int64_t n_layers = 0;
  int64_t n_blocks = 0;
  int64_t block_tokens = 16;
  int64_t block_stride = 0;      // elements per block = block_tokens * kv_heads * head_dim
  DType dtype = DType::kF32;     // kF32 (exact) or kF16 (--kv-dtype f16)
  void* k_layer(int64_t l) const;
  void* v_layer(int64_t l) const;
};

// One sequence's part of a forward call.
struct SeqStep {
  std::span<const int32_t> tokens;   // [n] new tokens, at positions pos0 .. pos0+n-1
  int64_t pos0 = 0;                  // positions already in the sequence's KV blocks
  std::span<const int32_t> blocks;   // block table covering positions [0, pos0 + n)
  // Outputs, at `out_positions` (indices into `tokens`, ascending; empty: none):
  std::span<const int32_t> out_positions;
  bool want_logits = false;          // logits at those positions ...
  std::span<const int32_t> vocab_rows;  // ... over these vocabulary rows (empty: full vocabulary)
  std::span<float> logits;           // [out_positions.size(), n_rows]
  bool want_hidden = false;          // final normed hidden states (Qwen3Guard-Stream heads)
  std::span<float> hidden;           // [out_positions.size(), H]
};

// Caller-owned scratch, grown on demand (never shrinks), so a steady stream of steps
// allocates nothing.
class ForwardScratch {
 public:
  ForwardScratch();
  ~ForwardScratch();
  ForwardScratch(ForwardScratch&&) noexcept;
  ForwardScratch& operator=(ForwardScratch&&) noexcept;
  struct Buffers;
  Buffers& buffers();

 private:
  std::unique_ptr<Buffers> b_;
};

// Runs every sequence's new tokens, writes their K/V into their blocks and fills the
// requested outputs. Validates everything (token ids, positions vs block tables, output
// span sizes, shapes) before writing anything: a bad call changes no KV block.
void forward(const kernels::Context& ctx, const Qwen3Model& model, const KvStorage& kv,
             std::span<const SeqStep> batch, ForwardScratch& scratch);

}  // namespace qg::model
