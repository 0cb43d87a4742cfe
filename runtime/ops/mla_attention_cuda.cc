#include "runtime/ops/mla_attention_cuda.h"

#if MLASERVE_WITH_CUDA
#include "kernels/cuda/mla_attention.h"
#include "runtime/core/error.h"
#include "runtime/ops/dispatch.h"

namespace mlaserve::ops::detail {
namespace {

cuda::MlaBatchView view_of(const MlaDeviceBatch& d) {
  cuda::MlaBatchView v;
  v.token_start = d.token_start.data<int32_t>();
  v.pos_start = d.pos_start.data<int32_t>();
  v.token_seq = d.token_seq.data<int32_t>();
  v.block_tables = d.max_blocks > 0 ? d.block_tables.data<int32_t>() : nullptr;
  v.max_blocks = d.max_blocks;
  v.num_tokens = d.num_tokens;
  return v;
}

cuda::MlaCacheView view_of_cache(const Tensor& cache, int64_t kv_lora) {
  cuda::MlaCacheView v;
  v.data = cache.raw_data();
  v.bf16 = cache.dtype() == DType::kBF16;
  v.num_blocks = cache.dim(0);
  v.block_size = cache.dim(1);
  v.kv_lora = kv_lora;
  v.rope = cache.dim(2) - kv_lora;
  return v;
}

}  // namespace

void mla_cache_write_cuda(const Tensor& cache, const Rows& c_kv, const Rows& k_pe,
                          const MlaBatch& batch) {
  const Device device = cache.device();
  cuda::MlaCacheWriteArgs a;
  a.cache = view_of_cache(cache, c_kv.cols);
  a.batch = view_of(device_batch(batch, device, "mla_cache_write"));
  a.c_kv = c_kv.data;
  a.c_kv_bf16 = c_kv.dtype == DType::kBF16;
  a.c_kv_ld = c_kv.ld;
  a.k_pe = k_pe.data;
  a.k_pe_bf16 = k_pe.dtype == DType::kBF16;
  a.k_pe_ld = k_pe.ld;
  cuda::mla_cache_write(a, stream_for(device));
}

Tensor mla_attention_cuda(const Tensor& q, const Tensor& w_uk, const Tensor& w_uv,
                          const Tensor& cache, const MlaBatch& batch, float softmax_scale) {
  const Device device = q.device();
  const MlaDeviceBatch& d = device_batch(batch, device, "mla_attention");
  const int64_t T = batch.num_tokens(), H = w_uk.dim(0), nope = w_uk.dim(1), v = w_uv.dim(1),
                kv_lora = w_uk.dim(2);
  Tensor out = Tensor::empty({T, H, v}, DType::kF32, device);  // [T, H, v]
  if (T == 0) return out;

  cuda::MlaAttentionArgs a;
  a.plan = cuda::plan_mla_launch(T, H, d.max_context, cuda::multiprocessor_count(device.index));
  Tensor q_lat = Tensor::empty({T, H, kv_lora}, DType::kF32, device);  // [T, H, kv_lora]
  Tensor o_lat = Tensor::empty({T, H, kv_lora}, DType::kF32, device);  // [T, H, kv_lora]
  // Split-K partials (none for one split): plan_mla_launch keeps them to a few MB.
  Tensor partial_o, partial_ml;
  if (a.plan.num_splits > 1) {
    partial_o = Tensor::empty({cuda::mla_partial_o_floats(a.plan, T, H, kv_lora)}, DType::kF32,
                              device);
    partial_ml = Tensor::empty({cuda::mla_partial_ml_floats(a.plan, T, H)}, DType::kF32, device);
    a.partial_o = partial_o.data<float>();
    a.partial_ml = partial_ml.data<float>();
  }
  a.q = q.data<float>();
  a.w_uk = w_uk.data<uint16_t>();
  a.w_uk_head_stride = w_uk.strides()[0];
  a.w_uv = w_uv.data<uint16_t>();
  a.w_uv_head_stride = w_uv.strides()[0];
  a.cache = view_of_cache(cache, kv_lora);
  a.batch = view_of(d);
  a.num_heads = H;
  a.nope = nope;
  a.v = v;
  a.softmax_scale = softmax_scale;
  a.q_lat = q_lat.data<float>();
  a.o_lat = o_lat.data<float>();
  a.out = out.data<float>();
  // The workspaces are freed onto the compute stream when they go out of scope: stream order
  // keeps them alive for the kernels queued here (kernels/cuda/backend.h).
  cuda::mla_attention(a, device.index, stream_for(device));
  return out;
}

}  // namespace mlaserve::ops::detail
#endif
