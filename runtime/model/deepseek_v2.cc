#include "runtime/model/deepseek_v2.h"

#include <algorithm>

#include "runtime/core/error.h"
#include "runtime/model/device_weights.h"
#include "runtime/model/mla.h"
#include "runtime/model/moe.h"
#include "runtime/model/rope_options.h"
#include "runtime/model/step_context.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/embedding.h"
#include "runtime/ops/gather.h"
#include "runtime/ops/linear.h"
#include "runtime/ops/mla_attention.h"
#include "runtime/ops/rms_norm.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {
namespace {

// This rank's weights on `device`. For a GPU the fit check comes first, against the bytes the
// CPU views (already only this rank's slices) would occupy, so a layout that cannot fit is
// refused before anything is uploaded.
ModelWeights load_rank_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                               const parallel::WorldConfig& world, Device device) {
  ModelWeights weights = load_weights(checkpoint, config, world);
  if (device.is_cpu()) return weights;
  const int64_t need = weight_bytes(weights);
  const ops::DeviceMemory memory = ops::device_memory(device);
  MLA_ENSURE(need < memory.free_bytes, kResourceExhausted, world.describe(), ": its weights need ",
             need, " bytes on ", device.name(), ", which has ", memory.free_bytes, " of ",
             memory.total_bytes, " bytes free; use more GPUs (--tp / --ep) or a smaller model");
  return upload_weights(weights, config, device);
}

}  // namespace

std::unique_ptr<DeepseekV2Model> DeepseekV2Model::load(const std::filesystem::path& dir,
                                                       DType activation_dtype,
                                                       const ModelParallel& parallel,
                                                       Device device) {
  ModelConfig config = load_model_config(dir);
  // Before the checkpoint is even opened: a bad layout must not cost a read of the weights.
  validate_model_parallel(config, parallel);
  return std::make_unique<DeepseekV2Model>(std::move(config), Checkpoint::open(dir),
                                           activation_dtype, parallel, device);
}

DeepseekV2Model::DeepseekV2Model(ModelConfig config, Checkpoint checkpoint, DType activation_dtype,
                                 const ModelParallel& parallel, Device device)
    // Validated again here (load() did so before opening the checkpoint) for direct callers.
    : config_((validate_model_parallel(config, parallel), std::move(config))),
      parallel_(parallel),
      tp_group_(parallel.world.tp() > 1 ? parallel.tp_group : nullptr),
      checkpoint_(std::move(checkpoint)),
      weights_(load_rank_weights(checkpoint_, config_, parallel_.world, device)),
      rope_(ops::to_device(
          ops::make_rope_table(rope_options(config_), config_.max_position_embeddings), device)),
      softmax_scale_(static_cast<float>(config_.softmax_scale())),
      act_(activation_dtype),
      device_(device) {
  MLA_ENSURE(act_ == DType::kF32 || act_ == DType::kBF16, kInvalidArgument,
             "activation dtype must be float32 or bfloat16, got ", dtype_name(act_));
}

Tensor DeepseekV2Model::forward(const ForwardBatch& in, KvCache& cache, ForwardTrace* trace) const {
  const ModelConfig& c = config_;
  MLA_ENSURE(!in.sequences.empty(), kInvalidArgument, "forward: the batch has no sequences");
  MLA_ENSURE(cache.num_layers() == c.num_hidden_layers, kInvalidArgument, "forward: the cache has ",
             cache.num_layers(), " layers, the model ", c.num_hidden_layers);

  // Flatten the ragged batch: token ids, positions, and which rows get logits.
  ops::MlaBatch batch;
  batch.token_start.push_back(0);
  std::vector<int64_t> logit_rows;
  for (size_t s = 0; s < in.sequences.size(); ++s) {
    const SequenceInput& seq = in.sequences[s];
    const int64_t n = static_cast<int64_t>(seq.tokens.size());
    MLA_ENSURE(n > 0, kInvalidArgument, "forward: sequence ", s, " has no new tokens");
    MLA_ENSURE(seq.start_pos >= 0 && seq.start_pos + n <= c.max_position_embeddings,
               kInvalidArgument, "forward: sequence ", s, " spans positions [", seq.start_pos,
               ", ", seq.start_pos + n, "), beyond max_position_embeddings = ",
               c.max_position_embeddings);
    for (int64_t i = 0; i < n; ++i)
      MLA_ENSURE(seq.tokens[i] >= 0 && seq.tokens[i] < c.vocab_size, kInvalidArgument,
                 "forward: sequence ", s, " token ", i, " has id ", seq.tokens[i],
                 " outside the vocabulary [0, ", c.vocab_size, ")");
    const int64_t first = batch.token_start.back();
    for (int64_t i = in.all_logits ? 0 : n - 1; i < n; ++i) logit_rows.push_back(first + i);
    batch.token_start.push_back(first + n);
    batch.pos_start.push_back(seq.start_pos);
    batch.block_tables.push_back(seq.block_table);
  }
  const int64_t T = batch.num_tokens();
  Tensor ids = Tensor::empty({T}, DType::kI64);        // [T] (host)
  Tensor positions = Tensor::empty({T}, DType::kI64);  // [T] (host)
  for (size_t s = 0; s < in.sequences.size(); ++s)
    for (size_t i = 0; i < in.sequences[s].tokens.size(); ++i) {
      ids.data<int64_t>()[batch.token_start[s] + i] = in.sequences[s].tokens[i];
      positions.data<int64_t>()[batch.token_start[s] + i] = in.sequences[s].start_pos + i;
    }

  const bool every_row = static_cast<int64_t>(logit_rows.size()) == T;
  Tensor logit_index;  // [R] i64: rows of the residual stream that get logits (built valid)
  if (!every_row) {
    logit_index = Tensor::empty({static_cast<int64_t>(logit_rows.size())}, DType::kI64);
    std::copy(logit_rows.begin(), logit_rows.end(), logit_index.data<int64_t>());
  }
  // Everything a step needs on the device goes up once, here, while the stream is idle: ids,
  // positions, the batch with its block tables and the logits' row index. Nothing is copied up
  // later, behind queued collectives, where a copy from pageable memory may wait for them.
  ids = ops::to_device(ids, device_);              // [T]
  positions = ops::to_device(positions, device_);  // [T]
  ops::upload_batch(batch, device_);
  if (!every_row) logit_index = ops::to_device(logit_index, device_);  // [R]
  const StepContext ctx{c, batch, positions, rope_, act_, softmax_scale_, tp_group_};
  if (trace) *trace = ForwardTrace{};

  // The residual stream stays f32 in every mode: it accumulates one update per block, and
  // rounding each sum to bf16 compounds into flipped expert choices downstream.
  Tensor h = embed(ids);  // [T, hidden]
  const auto norm = [&](const Tensor& w) {
    Tensor x = Tensor::empty(h.shape(), act_, device_);  // [T, hidden]
    ops::rms_norm(h, w, c.rms_norm_eps, x);
    return x;
  };
  if (trace) trace->residual.push_back(ops::to_cpu(ops::to_dtype(h, DType::kF32)));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& layer = weights_.layers[l];
    Tensor x = norm(layer.input_layernorm);                                  // [T, hidden]
    ops::add_(h, mla_forward(ctx, layer.attn, x, cache.layer(l)));          // [T, hidden]
    x = norm(layer.post_attention_layernorm);                                // [T, hidden]
    ops::MoeRouting routing;
    Tensor ffn = layer.moe ? moe_forward(ctx, *layer.moe, x, &routing)
                           : dense_mlp_forward(ctx, *layer.mlp, x);          // [T, hidden]
    ops::add_(h, ffn);
    if (trace) {
      trace->residual.push_back(ops::to_cpu(ops::to_dtype(h, DType::kF32)));
      if (routing.ids.defined())
        routing = {ops::to_cpu(routing.ids), ops::to_cpu(routing.weights)};
      trace->routing.push_back(std::move(routing));
    }
  }

  Tensor rows = every_row ? h : ops::gather_rows_at(h, logit_index);    // [R, hidden]
  Tensor normed = ops::rms_norm(rows, weights_.norm, c.rms_norm_eps);   // [R, hidden]
  if (trace) trace->final_norm = ops::to_cpu(ops::to_dtype(normed, DType::kF32));
  Tensor logits = ops::linear(normed, weights_.lm_head, DType::kF32);  // [R, vocab rows held]
  if (!tp_group_) return logits;                                        // [R, vocab]
  logits = gather_vocab(*tp_group_, logits, c.vocab_size, parallel_.world);  // [R, vocab]
  // The step's one wait on the group, with its deadline: on a GPU the collectives were only
  // enqueued, and a dead peer must surface here as an error, not as a hang in a later copy.
  tp_group_->synchronize();
  return logits;
}

Tensor DeepseekV2Model::embed(const Tensor& ids) const {
  if (!tp_group_) return ops::embedding(ids, weights_.embed_tokens, DType::kF32);  // [T, hidden]
  // Vocabulary-parallel: ids outside this rank's rows give zero rows; the sum completes the
  // lookup exactly (x + 0 == x), whatever the reduction order.
  Tensor h = ops::embedding(ids, weights_.embed_tokens, DType::kF32, weights_.vocab.begin,
                            /*zero_outside_shard=*/true);  // [T, hidden]
  return sum_partials(tp_group_, std::move(h), DType::kF32);  // [T, hidden]
}

}  // namespace mlaserve
