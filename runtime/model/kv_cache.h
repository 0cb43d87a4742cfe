#pragma once
// The latent KV cache: per layer [num_blocks, block_size, kv_lora_rank + qk_rope_head_dim],
// holding c_kv (after kv_a_layernorm) then the rotated k_pe of each token. A sequence reaches its
// tokens through a block table (position p lives in block table[p / block_size]).
//
// The allocator here is deliberately simple (a free list handing out the lowest block first);
// the paged allocator with prefix sharing belongs to runtime/engine.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/config.h"

namespace mlaserve {

class KvCache {
 public:
  static constexpr int64_t kDefaultBlockSize = 64;

  // dtype: kF32 (exactness tests) or kBF16. `device`: where the layers live (the model's).
  KvCache(const ModelConfig& config, int64_t num_blocks, int64_t block_size = kDefaultBlockSize,
          DType dtype = DType::kF32, Device device = Device::cpu());

  // Blocks needed for `num_tokens` positions.
  int64_t blocks_for(int64_t num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

  const Tensor& layer(int64_t index) const;  // [num_blocks, block_size, latent_dim]
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  // A 64-bit digest of every layer's bytes (used and unused blocks alike): TP ranks that mirrored
  // the same step plans hold identical caches, so their checksums must agree. A GPU cache is
  // copied to the host for it (a check at shutdown, not a per-step cost).
  uint64_t checksum() const;

  // Appends blocks to `table` until it covers `num_tokens` positions; kResourceExhausted (and
  // `table` unchanged) when the cache has too few free blocks.
  void reserve(std::vector<int32_t>& table, int64_t num_tokens);
  // Returns the table's blocks to the free list and clears it.
  void release(std::vector<int32_t>& table);

 private:
  int64_t num_blocks_;
  int64_t block_size_;
  DType dtype_;
  Device device_;
  std::vector<Tensor> layers_;
  std::vector<int32_t> free_;  // kept sorted descending: back() is the lowest free block
};

}  // namespace mlaserve
