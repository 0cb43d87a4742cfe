#include "runtime/model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "runtime/core/error.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {

KvCache::KvCache(const ModelConfig& config, int64_t num_blocks, int64_t block_size, DType dtype,
                 Device device)
    : num_blocks_(num_blocks), block_size_(block_size), dtype_(dtype), device_(device) {
  MLA_ENSURE(num_blocks > 0 && num_blocks <= INT32_MAX, kInvalidArgument,
             "kv cache: num_blocks must be in [1, 2^31), got ", num_blocks);
  MLA_ENSURE(block_size > 0, kInvalidArgument, "kv cache: block_size must be positive, got ",
             block_size);
  MLA_ENSURE(dtype == DType::kF32 || dtype == DType::kBF16, kInvalidArgument,
             "kv cache: dtype must be f32 or bf16, got ", dtype_name(dtype));
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    layers_.push_back(ops::zeros({num_blocks, block_size, config.latent_dim()}, dtype, device));
  free_.resize(num_blocks);
  for (int64_t b = 0; b < num_blocks; ++b) free_[b] = static_cast<int32_t>(num_blocks - 1 - b);
}

const Tensor& KvCache::layer(int64_t index) const {
  MLA_ENSURE(index >= 0 && index < num_layers(), kOutOfRange, "kv cache: layer ", index,
             " outside [0, ", num_layers(), ")");
  return layers_[index];
}

uint64_t KvCache::checksum() const {
  // FNV-1a over 8-byte words (then the tail bytes): fast enough for a check at shutdown.
  uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](uint64_t word) { h = (h ^ word) * 0x100000001b3ull; };
  for (const Tensor& layer : layers_) {
    const Tensor t = ops::to_cpu(layer);
    const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
    const size_t n = t.nbytes();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      mix(word);
    }
    for (; i < n; ++i) mix(bytes[i]);
  }
  return h;
}

void KvCache::reserve(std::vector<int32_t>& table, int64_t num_tokens) {
  const int64_t need = blocks_for(num_tokens) - static_cast<int64_t>(table.size());
  if (need <= 0) return;
  MLA_ENSURE(need <= free_blocks(), kResourceExhausted, "kv cache full: ", num_tokens,
             " positions need ", need, " more blocks of ", block_size_, ", ", free_blocks(),
             " of ", num_blocks_, " are free");
  for (int64_t i = 0; i < need; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
}

void KvCache::release(std::vector<int32_t>& table) {
  free_.insert(free_.end(), table.begin(), table.end());
  std::sort(free_.begin(), free_.end(), std::greater<>());
  table.clear();
}

}  // namespace mlaserve
