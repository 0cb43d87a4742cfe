#pragma once
// Sizing the latent KV cache from a memory budget, and the process-memory figures the budget
// flags are resolved against. Flags: --kv-cache-memory SIZE (absolute) or --kv-cache-fraction F
// (a share of MemAvailable, like vLLM's --gpu-memory-utilization but of what is free now).
#include <cstdint>
#include <string_view>

#include "runtime/core/dtype.h"
#include "runtime/model/config.h"

namespace mlaserve {

// Cache bytes one token occupies across all layers: the latent (kv_lora_rank) plus the rotated
// rope key (qk_rope_head_dim), per layer. 69,120 for DeepSeek-V2 236B in bf16.
int64_t kv_bytes_per_token(const ModelConfig& config, DType cache_dtype);

// Whole blocks of `block_size` tokens that fit in `budget_bytes`. kInvalidArgument naming
// --kv-cache-memory when not even one block fits.
int64_t blocks_for_budget(const ModelConfig& config, DType cache_dtype, int64_t block_size,
                          int64_t budget_bytes);

// `fraction` of `available_bytes`, rounded down. kInvalidArgument naming --kv-cache-fraction
// unless 0 < fraction <= 1.
int64_t kv_budget_from_fraction(double fraction, int64_t available_bytes);

// MemAvailable from /proc/meminfo (what the kernel can hand out without swapping), in bytes.
// kUnavailable when the file or the field cannot be read.
int64_t available_memory_bytes();

// This process's peak resident set (VmHWM in /proc/self/status), in bytes; kUnavailable when
// unreadable.
int64_t peak_rss_bytes();

// "1073741824", "512MiB", "2GB", "1.5GiB", "64k": bytes. Decimal units (k/KB, MB, GB, TB) are
// powers of 1000, binary ones (KiB, MiB, GiB, TiB) powers of 1024, case-insensitive, optional
// space before the unit. kInvalidArgument naming `flag` and `text` when malformed, negative or
// beyond int64.
int64_t parse_byte_size(std::string_view flag, std::string_view text);

}  // namespace mlaserve
