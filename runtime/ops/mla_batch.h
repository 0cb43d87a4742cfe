#pragma once
// The ragged batch MLA attention and the latent-cache write run over, on the host and (after
// upload_batch) on a GPU. The model builds the host fields once per forward, calls upload_batch
// once, and passes the same batch to every layer: the kernels read the device copy, and the host
// fields stay the source of the contract checks and of every launch size, so no layer ever copies
// anything back from the device.
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve::ops {

// The device copy of an MlaBatch: int32 arrays viewing one buffer that upload_batch copies to the
// device in one transfer. int32 is enough: positions are bounded by max_position_embeddings and
// token counts by max_num_batched_tokens (upload_batch refuses anything above 2^31 - 1).
struct MlaDeviceBatch {
  Device device = Device::cpu();  // CPU: not uploaded
  Tensor token_start;   // [S + 1]
  Tensor pos_start;     // [S]
  Tensor token_seq;     // [T]: the sequence of each token
  Tensor block_tables;  // [S, max_blocks]: row s is block_tables[s], padded with -1
  // Host-known sizes, so grids are sized on the host.
  int64_t num_sequences = 0;
  int64_t num_tokens = 0;
  int64_t max_blocks = 0;   // the longest block table
  int64_t max_context = 0;  // max over s of pos_start[s] + (new tokens of s)

  bool on(Device d) const { return !device.is_cpu() && device == d; }
};

// Where each sequence's new tokens sit: sequence s owns rows [token_start[s], token_start[s+1])
// of the batch and its first new token is at position pos_start[s]; block_tables[s] maps
// position / block_size to a cache block and covers positions [0, pos_start[s] + new tokens).
struct MlaBatch {
  std::vector<int64_t> token_start;  // [S + 1], token_start[0] == 0
  std::vector<int64_t> pos_start;    // [S]
  std::vector<const std::vector<int32_t>*> block_tables;  // [S], not owned
  MlaDeviceBatch on_device;  // filled by upload_batch; GPU ops require it

  int64_t num_sequences() const { return static_cast<int64_t>(pos_start.size()); }
  int64_t num_tokens() const { return token_start.empty() ? 0 : token_start.back(); }
};

// The host image of MlaDeviceBatch: [token_start | pos_start | token_seq | block_tables], int32.
struct MlaPackedBatch {
  std::vector<int32_t> data;
  int64_t num_sequences = 0, num_tokens = 0, max_blocks = 0, max_context = 0;
  int64_t pos_start_offset() const { return num_sequences + 1; }
  int64_t token_seq_offset() const { return 2 * num_sequences + 1; }
  int64_t block_tables_offset() const { return 2 * num_sequences + 1 + num_tokens; }
};

// Checks the batch's shape (sizes, order, non-negative positions, tables present, int32 range)
// and packs it. kInvalidArgument naming "upload_batch" and the sequence otherwise. Whether the
// tables cover the context and point inside the cache is checked by each op (it knows the cache).
MlaPackedBatch pack_batch(const MlaBatch& batch);

// Copies the batch to `device` (one host-to-device copy queued on its compute stream; the host
// buffer may be dropped on return) and records it in batch.on_device. On the CPU: clears
// batch.on_device (CPU ops read the host fields). Call again whenever the host fields change.
void upload_batch(MlaBatch& batch, Device device);

// For ops on `device`: batch.on_device, checked to be there and to describe the same batch as the
// host fields (sequence and token counts, max_context). kInvalidArgument naming `op` otherwise.
const MlaDeviceBatch& device_batch(const MlaBatch& batch, Device device, const char* op);

}  // namespace mlaserve::ops
