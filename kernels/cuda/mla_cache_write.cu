// mla_cache_write on CUDA: one CTA per batch token writes its latent row [c_kv | k_pe] into the
// cache slot its sequence's block table gives for its position. Rounds to bf16 like the CPU
// (round to nearest even), so both devices hold bitwise the same cache.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/mla_attention.h"

namespace mlaserve::cuda {
namespace {

constexpr int kThreads = 128;  // latent rows are 80..576 values

template <typename C, typename K, typename Out>
__global__ void __launch_bounds__(kThreads) mla_cache_write_kernel(MlaCacheWriteArgs a) {
  // Positions and token indices are below 2^31 (upload_batch): 32-bit index arithmetic.
  const int t = static_cast<int>(blockIdx.x);
  const int s = a.batch.token_seq[t];
  const int pos = a.batch.pos_start[s] + (t - a.batch.token_start[s]);
  const int block_size = static_cast<int>(a.cache.block_size);
  const int b = pos / block_size;
  // The op checked the host tables against the cache; a device copy that disagrees (uploaded
  // before the host tables changed) must not scribble over another sequence's blocks.
  if (b >= a.batch.max_blocks) __trap();
  const int64_t block = a.batch.block_tables[static_cast<int64_t>(s) * a.batch.max_blocks + b];
  if (block < 0 || block >= a.cache.num_blocks) __trap();
  const int64_t latent = a.cache.kv_lora + a.cache.rope;
  Out* row = static_cast<Out*>(a.cache.data) + (block * block_size + pos % block_size) * latent;
  const C* c_kv = static_cast<const C*>(a.c_kv) + static_cast<int64_t>(t) * a.c_kv_ld;
  const K* k_pe = static_cast<const K*>(a.k_pe) + static_cast<int64_t>(t) * a.k_pe_ld;
  for (int64_t c = threadIdx.x; c < a.cache.kv_lora; c += kThreads)
    row[c] = from_f32<Out>(to_f32(c_kv[c]));
  for (int64_t c = threadIdx.x; c < a.cache.rope; c += kThreads)
    row[a.cache.kv_lora + c] = from_f32<Out>(to_f32(k_pe[c]));
}

template <typename C, typename K>
void launch_out(const MlaCacheWriteArgs& a, cudaStream_t stream) {
  const unsigned grid = static_cast<unsigned>(a.batch.num_tokens);
  if (a.cache.bf16) mla_cache_write_kernel<C, K, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(a);
  else mla_cache_write_kernel<C, K, float><<<grid, kThreads, 0, stream>>>(a);
}

template <typename C>
void launch_k(const MlaCacheWriteArgs& a, cudaStream_t stream) {
  if (a.k_pe_bf16) launch_out<C, __nv_bfloat16>(a, stream);
  else launch_out<C, float>(a, stream);
}

}  // namespace

void mla_cache_write(const MlaCacheWriteArgs& a, cudaStream_t stream) {
  MLA_ENSURE(a.batch.num_tokens >= 0 && a.batch.num_tokens <= 0x7fffffff &&
                 a.cache.block_size >= 1 && a.cache.block_size <= 0x7fffffff &&
                 a.cache.kv_lora >= 1 && a.cache.rope >= 0,
             kInvalidArgument, "mla_cache_write (cuda): ", a.batch.num_tokens,
             " tokens, block size ", a.cache.block_size, ", kv_lora ", a.cache.kv_lora, ", rope ",
             a.cache.rope);
  if (a.batch.num_tokens == 0) return;
  if (a.c_kv_bf16) launch_k<__nv_bfloat16>(a, stream);
  else launch_k<float>(a, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
