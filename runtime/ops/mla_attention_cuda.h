#pragma once
// Internal to runtime/ops: the CUDA branches of mla_cache_write and mla_attention
// (mla_attention.h), called once the op has checked its contract on the host fields of the batch.
// They read the batch's device copy (upload_batch) and allocate outputs and workspaces on the
// tensors' device; nothing waits on the host.
#if MLASERVE_WITH_CUDA
#include "runtime/core/tensor.h"
#include "runtime/ops/mla_batch.h"
#include "runtime/ops/rows.h"

namespace mlaserve::ops::detail {

void mla_cache_write_cuda(const Tensor& cache, const Rows& c_kv, const Rows& k_pe,
                          const MlaBatch& batch);

// q [T, H, nope + rope] f32 contiguous; w_uk [H, nope, kv_lora], w_uv [H, v, kv_lora] bf16 with
// contiguous rows; cache [num_blocks, block_size, kv_lora + rope] f32/bf16. Returns [T, H, v].
Tensor mla_attention_cuda(const Tensor& q, const Tensor& w_uk, const Tensor& w_uv,
                          const Tensor& cache, const MlaBatch& batch, float softmax_scale);

}  // namespace mlaserve::ops::detail
#endif
