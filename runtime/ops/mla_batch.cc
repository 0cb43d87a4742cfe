#include "runtime/ops/mla_batch.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "runtime/core/error.h"
#include "runtime/ops/transfer.h"

namespace mlaserve::ops {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

}  // namespace

MlaPackedBatch pack_batch(const MlaBatch& batch) {
  const int64_t s = batch.num_sequences();
  MLA_ENSURE(static_cast<int64_t>(batch.token_start.size()) == s + 1 &&
                 static_cast<int64_t>(batch.block_tables.size()) == s,
             kInvalidArgument, "upload_batch: token_start must have ", s + 1,
             " entries and block_tables ", s, ", got ", batch.token_start.size(), " and ",
             batch.block_tables.size());
  MLA_ENSURE(batch.token_start[0] == 0, kInvalidArgument, "upload_batch: token_start[0] is ",
             batch.token_start[0], ", must be 0");
  MlaPackedBatch p;
  p.num_sequences = s;
  p.num_tokens = batch.num_tokens();
  MLA_ENSURE(p.num_tokens <= kInt32Max, kInvalidArgument, "upload_batch: ", p.num_tokens,
             " tokens exceed the int32 range of the device batch");
  for (int64_t i = 0; i < s; ++i) {
    const int64_t n = batch.token_start[i + 1] - batch.token_start[i];
    MLA_ENSURE(n >= 0, kInvalidArgument, "upload_batch: token_start decreases at sequence ", i);
    MLA_ENSURE(batch.pos_start[i] >= 0 && batch.pos_start[i] + n <= kInt32Max, kInvalidArgument,
               "upload_batch: sequence ", i, " spans positions [", batch.pos_start[i], ", ",
               batch.pos_start[i] + n, "), outside [0, 2^31)");
    MLA_ENSURE(batch.block_tables[i] != nullptr, kInvalidArgument, "upload_batch: sequence ", i,
               " has no block table");
    p.max_blocks = std::max<int64_t>(p.max_blocks, batch.block_tables[i]->size());
    p.max_context = std::max(p.max_context, batch.pos_start[i] + n);
  }
  const int64_t total = p.block_tables_offset() + s * p.max_blocks;
  MLA_ENSURE(total <= kInt32Max, kInvalidArgument, "upload_batch: ", s, " block tables of ",
             p.max_blocks, " entries exceed the int32 range of the device batch");

  p.data.assign(static_cast<size_t>(total), -1);  // -1 pads the block tables
  int32_t* d = p.data.data();
  for (int64_t i = 0; i <= s; ++i) d[i] = static_cast<int32_t>(batch.token_start[i]);
  for (int64_t i = 0; i < s; ++i) {
    d[p.pos_start_offset() + i] = static_cast<int32_t>(batch.pos_start[i]);
    for (int64_t t = batch.token_start[i]; t < batch.token_start[i + 1]; ++t)
      d[p.token_seq_offset() + t] = static_cast<int32_t>(i);
    const std::vector<int32_t>& table = *batch.block_tables[i];
    std::copy(table.begin(), table.end(), d + p.block_tables_offset() + i * p.max_blocks);
  }
  return p;
}

void upload_batch(MlaBatch& batch, Device device) {
  if (device.is_cpu()) {
    batch.on_device = MlaDeviceBatch{};
    return;
  }
  const MlaPackedBatch p = pack_batch(batch);
  Tensor host = Tensor::empty({static_cast<int64_t>(p.data.size())}, DType::kI32);
  std::memcpy(host.raw_data(), p.data.data(), p.data.size() * sizeof(int32_t));
  const Tensor all = to_device(host, device);  // one copy; the host buffer is free on return

  MlaDeviceBatch d;
  d.device = device;
  d.num_sequences = p.num_sequences;
  d.num_tokens = p.num_tokens;
  d.max_blocks = p.max_blocks;
  d.max_context = p.max_context;
  d.token_start = all.slice(0, 0, p.pos_start_offset());
  d.pos_start = all.slice(0, p.pos_start_offset(), p.token_seq_offset());
  d.token_seq = all.slice(0, p.token_seq_offset(), p.block_tables_offset());
  d.block_tables = all.slice(0, p.block_tables_offset(), all.dim(0))
                       .view({p.num_sequences, p.max_blocks});
  batch.on_device = std::move(d);
}

const MlaDeviceBatch& device_batch(const MlaBatch& batch, Device device, const char* op) {
  const MlaDeviceBatch& d = batch.on_device;
  MLA_ENSURE(d.on(device), kInvalidArgument, op, ": the batch is not on ", device.name(),
             d.device.is_cpu() ? std::string(" (never uploaded)")
                               : " (it is on " + d.device.name() + ")",
             "; call ops::upload_batch(batch, ", device.name(), ") once per step");
  int64_t max_context = 0;
  for (int64_t s = 0; s < batch.num_sequences(); ++s)
    max_context = std::max(max_context, batch.pos_start[s] + batch.token_start[s + 1] -
                                            batch.token_start[s]);
  MLA_ENSURE(d.num_sequences == batch.num_sequences() && d.num_tokens == batch.num_tokens() &&
                 d.max_context == max_context,
             kInvalidArgument, op, ": the batch's device copy (", d.num_sequences,
             " sequences, ", d.num_tokens, " tokens, max context ", d.max_context,
             ") is stale: the host fields say ", batch.num_sequences(), ", ", batch.num_tokens(),
             ", ", max_context, "; call ops::upload_batch again after changing the batch");
  return d;
}

}  // namespace mlaserve::ops
