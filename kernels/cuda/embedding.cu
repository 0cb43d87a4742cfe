#include "kernels/cuda/embedding.h"

#include <cuda_bf16.h>

#include "kernels/cuda/row_map.cuh"

namespace mlaserve::cuda {
namespace {

// One block row per token (grid.x), the embedding dimension split over grid.y (row_map.cuh).
template <typename Id, typename Table, typename Out>
__global__ void embedding_kernel(const Id* ids, const Table* table, int64_t table_rows,
                                 int64_t dim, int64_t row_offset, Out* out, int64_t ldo) {
  const int64_t r = static_cast<int64_t>(ids[blockIdx.x]) - row_offset;
  const bool inside = r >= 0 && r < table_rows;
  const Table* src = table + (inside ? r : 0) * dim;
  Out* dst = out + int64_t{blockIdx.x} * ldo;
  for_row_columns(dim, [&](int64_t c) {
    dst[c] = inside ? from_f32<Out>(to_f32(src[c])) : from_f32<Out>(0.0f);
  });
}

template <typename Id, typename Table, typename Out>
void launch(const EmbeddingArgs& a, cudaStream_t stream) {
  embedding_kernel<Id, Table, Out><<<row_grid(a.n_ids, a.dim), kRowThreads, 0, stream>>>(
      static_cast<const Id*>(a.ids), static_cast<const Table*>(a.table), a.table_rows, a.dim,
      a.row_offset, static_cast<Out*>(a.out), a.ldo);
}

template <typename Id, typename Table>
void launch_out(const EmbeddingArgs& a, cudaStream_t stream) {
  if (a.out_bf16) launch<Id, Table, __nv_bfloat16>(a, stream);
  else launch<Id, Table, float>(a, stream);
}

template <typename Id>
void launch_table(const EmbeddingArgs& a, cudaStream_t stream) {
  if (a.table_bf16) launch_out<Id, __nv_bfloat16>(a, stream);
  else launch_out<Id, float>(a, stream);
}

}  // namespace

void embedding(const EmbeddingArgs& a, cudaStream_t stream) {
  check_row_shape("embedding", a.n_ids, a.dim);
  MLA_ENSURE(a.table_rows >= 0, kInvalidArgument, "embedding: a table of ", a.table_rows,
             " rows");
  if (a.n_ids == 0 || a.dim == 0) return;
  if (a.ids_i64) launch_table<int64_t>(a, stream);
  else launch_table<int32_t>(a, stream);
  MLA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlaserve::cuda
