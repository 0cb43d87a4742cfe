#include "runtime/engine/engine.h"

#include <algorithm>
#include <chrono>

#include "runtime/core/error.h"
#include "runtime/core/logging.h"
#include "runtime/engine/cache_budget.h"
#include "runtime/engine/gpu_memory_plan.h"
#include "runtime/ops/sampling.h"
#include "runtime/ops/transfer.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A step's sampled tokens and requested logprobs, on the host. The sampling ops run on the
// logits' device over the whole logits tensor and only their results come back (DESIGN
// "Devices"): the step's only device-to-host copies, plus the logits themselves when a request
// keeps them (a debugging aid).
struct StepSamples {
  Tensor tokens;                    // [chunks] i32 (rows of chunks that do not sample: unused)
  std::vector<int64_t> top_index;   // per chunk: its row in `top`, or -1
  ops::TopLogprobs top;             // [chunks asking for logprobs, max k]
  Tensor logits;                    // CPU copy, when some request keeps its logits
};

// Chunks whose sequence has fed its last token sample at output position num_generated(); the
// others take a greedy row (an argmax whose result is dropped) so one call covers the tensor.
StepSamples sample_step(const std::vector<ScheduledChunk>& chunks, const Tensor& logits) {
  StepSamples s;
  std::vector<ops::SamplingRow> rows(chunks.size());
  std::vector<int64_t> top_rows;
  int64_t k = 0;
  bool keep_logits = false;
  s.top_index.assign(chunks.size(), -1);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Sequence& seq = *chunks[i].seq;
    if (seq.num_pending() > 0) continue;
    const EngineRequest& r = seq.request;
    rows[i] = sampling_row(r.sampling, seq.num_generated());
    if (r.top_logprobs > 0) {
      s.top_index[i] = static_cast<int64_t>(top_rows.size());
      top_rows.push_back(static_cast<int64_t>(i));
      k = std::max(k, r.top_logprobs);
    }
    keep_logits = keep_logits || r.keep_logits;
  }
  s.tokens = ops::to_cpu(ops::sample_tokens(logits, rows));
  if (!top_rows.empty()) {
    const ops::TopLogprobs top = ops::top_logprobs(logits, k, top_rows);
    s.top = {ops::to_cpu(top.ids), ops::to_cpu(top.logprobs)};
  }
  if (keep_logits) s.logits = ops::to_cpu(logits);
  return s;
}

// The first k of chunk i's top logprobs (the ops return the largest k asked for in the step; a
// shorter list is its prefix, both being sorted the same way).
TopLogprobs top_logprobs_of(const StepSamples& s, size_t i, int64_t k) {
  const int64_t row = s.top_index[i], width = s.top.ids.dim(1);
  const int32_t* ids = s.top.ids.data<int32_t>() + row * width;
  const float* logprobs = s.top.logprobs.data<float>() + row * width;
  TopLogprobs out;
  for (int64_t j = 0; j < std::min(k, width); ++j) out.emplace_back(ids[j], logprobs[j]);
  return out;
}

// On a GPU the cache is sized (or checked) against --gpu-memory-utilization now that the weights
// are on the device and what they took is known; the plan is logged, as vLLM logs its KV cache
// size. CPU configs pass through.
EngineConfig fit_cache_to_device(const DeepseekV2Model& model, EngineConfig config) {
  const Device device = model.device();
  if (device.is_cpu()) return config;
  const int64_t per_block = kv_bytes_per_token(model.config(), config.cache_dtype) * config.block_size;
  const ops::DeviceMemory memory = ops::device_memory(device);
  const GpuMemoryPlan plan = plan_gpu_memory(
      config.gpu_memory_utilization, memory.free_bytes, memory.total_bytes,
      gpu_workspace_bytes(model.config(), model.parallel().world.tp(),
                          config.scheduler.max_num_batched_tokens),
      config.num_blocks * per_block);
  config.num_blocks = plan.cache_bytes / per_block;
  MLA_ENSURE(config.num_blocks >= 1, kResourceExhausted, "no room for one KV cache block of ",
             per_block, " bytes on ", device.name(), ": ", plan.describe());
  MLA_LOG(Info) << device.name() << ": " << plan.describe() << " = " << config.num_blocks
                << " blocks of " << config.block_size << " tokens";
  return config;
}

}  // namespace

Engine::Engine(const DeepseekV2Model& model, StepExecutor& executor, const EngineConfig& config)
    : model_(model),
      executor_(executor),
      config_(fit_cache_to_device(model, config)),
      cache_(model.config(), config_.num_blocks, config_.block_size, config_.cache_dtype,
             model.device()),
      blocks_(config_.num_blocks, config_.block_size, config_.prefix_caching),
      scheduler_(config_.scheduler, blocks_) {}

void Engine::warm_up() {
  MLA_ENSURE(sequences_.empty() && pending_.empty(), kFailedPrecondition,
             "warm_up: the engine already has requests");
  if (!cache_announced_) {
    executor_.setup_cache(cache_);
    cache_announced_ = true;
  }
  const std::optional<BlockId> block = blocks_.allocate();
  MLA_INTERNAL_CHECK(block.has_value());  // a fresh engine has every block free
  const std::vector<int32_t> table = {static_cast<int32_t>(*block)};
  ForwardBatch batch;
  batch.sequences.push_back({{model_.config().vocab_size - 1}, 0, &table});
  const Tensor logits = executor_.forward(batch, cache_);  // [1, vocab]
  ops::SamplingRow sampled;
  sampled.temperature = 1;
  sampled.top_p = 0.9;
  ops::to_cpu(ops::sample_tokens(logits, {ops::SamplingRow{}}));  // greedy
  ops::to_cpu(ops::sample_tokens(logits, {sampled}));             // the sorted path
  blocks_.release(*block);
}

void Engine::validate(const EngineRequest& r) const {
  const ModelConfig& c = model_.config();
  MLA_ENSURE(!r.prompt.empty(), kInvalidArgument, "prompt is empty");
  for (size_t i = 0; i < r.prompt.size(); ++i)
    MLA_ENSURE(r.prompt[i] >= 0 && r.prompt[i] < c.vocab_size, kInvalidArgument, "prompt token ",
               i, " = ", r.prompt[i], " is outside the vocabulary [0, ", c.vocab_size, ")");
  MLA_ENSURE(r.max_tokens >= 1, kInvalidArgument, "max_tokens must be >= 1, got ", r.max_tokens);
  const int64_t total = static_cast<int64_t>(r.prompt.size()) + r.max_tokens;
  MLA_ENSURE(total <= c.max_position_embeddings, kInvalidArgument, "prompt (", r.prompt.size(),
             " tokens) + max_tokens (", r.max_tokens, ") = ", total,
             " exceeds max_position_embeddings = ", c.max_position_embeddings);
  MLA_ENSURE(r.top_logprobs >= 0, kInvalidArgument, "top_logprobs must be >= 0, got ",
             r.top_logprobs);
  for (int64_t t : r.stop_token_ids)
    MLA_ENSURE(t >= 0 && t < c.vocab_size, kInvalidArgument, "stop_token_ids: ", t,
               " is outside the vocabulary [0, ", c.vocab_size, ")");
  r.sampling.validate();
}

void Engine::add_request(RequestId id, EngineRequest request) {
  try {
    validate(request);
  } catch (const Error& e) {
    fail(e.code(), "request ", id, ": ", e.what());
  }
  MLA_ENSURE(!sequences_.contains(id), kFailedPrecondition, "request ", id,
             ": the id is already in use by an unfinished request");
  totals_.prompt_tokens += request.prompt.size();
  // The last generated token is never fed, so the cache holds at most prompt + max_tokens - 1.
  const int64_t need = scheduler_.blocks_for(static_cast<int64_t>(request.prompt.size()) +
                                             request.max_tokens - 1);
  if (need > config_.num_blocks) {
    RequestOutput out;
    out.id = id;
    out.finished = true;
    out.finish_reason = "error";
    out.error = str_cat("request ", id, " needs ", need, " cache blocks of ", config_.block_size,
                        " tokens (prompt ", request.prompt.size(), " + max_tokens ",
                        request.max_tokens, "), the whole cache has ", config_.num_blocks);
    pending_.push_back(std::move(out));
    return;
  }
  auto seq = std::make_unique<Sequence>(id, std::move(request));
  scheduler_.add(seq.get());
  sequences_.emplace(id, std::move(seq));
}

bool Engine::abort(RequestId id) {
  const auto it = sequences_.find(id);
  if (it == sequences_.end()) return false;
  scheduler_.remove(it->second.get());
  sequences_.erase(it);
  RequestOutput out;
  out.id = id;
  out.finished = true;
  out.finish_reason = "abort";
  pending_.push_back(std::move(out));
  return true;
}

void Engine::finish(Sequence& seq) {
  scheduler_.remove(&seq);
  sequences_.erase(seq.id);  // destroys seq
}

bool Engine::accept(Sequence& seq, int64_t token, RequestOutput& out) {
  const ModelConfig& c = model_.config();
  const EngineRequest& r = seq.request;
  seq.tokens.push_back(token);
  ++totals_.generated_tokens;
  out.new_tokens.push_back(token);
  const bool stop = (token == c.eos_token_id && !r.ignore_eos) ||
                    std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(), token) !=
                        r.stop_token_ids.end();
  if (stop) out.finish_reason = "stop";
  else if (seq.num_generated() >= r.max_tokens) out.finish_reason = "length";
  out.finished = !out.finish_reason.empty();
  return out.finished;
}

std::vector<RequestOutput> Engine::step() {
  const auto t0 = Clock::now();
  std::vector<RequestOutput> outputs;
  outputs.swap(pending_);
  last_step_ = {};
  const SchedulerOutput plan = scheduler_.schedule();
  if (plan.chunks.empty()) {
    // Nothing runnable while requests wait would be a hang; the admission check in
    // add_request makes it impossible, so it is a bug if it happens.
    MLA_INTERNAL_CHECK(sequences_.empty());
    return outputs;
  }
  if (!cache_announced_) {
    executor_.setup_cache(cache_);
    cache_announced_ = true;
  }

  ForwardBatch batch;
  batch.sequences.reserve(plan.chunks.size());
  bool decode_only = true;
  for (const ScheduledChunk& c : plan.chunks) {
    const Sequence& s = *c.seq;
    batch.sequences.push_back({std::vector<int64_t>(s.tokens.begin() + s.num_computed,
                                                    s.tokens.begin() + s.num_computed + c.num_tokens),
                               s.num_computed, &s.block_table});
    decode_only = decode_only && c.num_tokens == 1;
  }
  const auto f0 = Clock::now();
  const Tensor logits = executor_.forward(batch, cache_);  // [chunks, vocab]
  const auto f1 = Clock::now();
  scheduler_.commit(plan);
  totals_.computed_tokens += plan.num_tokens;
  ++totals_.steps;

  const int64_t vocab = model_.config().vocab_size;
  const StepSamples samples = sample_step(plan.chunks, logits);
  std::vector<Sequence*> finished;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    Sequence& seq = *plan.chunks[i].seq;
    if (seq.num_pending() > 0) continue;  // a prompt chunk that is not the last: no token yet
    const EngineRequest& r = seq.request;
    RequestOutput out;
    out.id = seq.id;
    if (r.top_logprobs > 0) out.top_logprobs.push_back(top_logprobs_of(samples, i, r.top_logprobs));
    if (r.keep_logits) {
      const float* row = samples.logits.data<float>() + static_cast<int64_t>(i) * vocab;
      out.logits.emplace_back(row, row + vocab);
    }
    if (accept(seq, samples.tokens.data<int32_t>()[i], out)) finished.push_back(&seq);
    outputs.push_back(std::move(out));
  }
  for (Sequence* seq : finished) finish(*seq);
  last_step_ = {static_cast<int64_t>(plan.chunks.size()), plan.num_tokens, decode_only,
                seconds_between(t0, Clock::now()), seconds_between(f0, f1)};
  return outputs;
}

EngineStats Engine::stats() const {
  EngineStats s = totals_;
  s.running = scheduler_.num_running();
  s.waiting = scheduler_.num_waiting();
  s.preemptions = scheduler_.num_preemptions();
  s.blocks = blocks_.stats();
  s.cache_usage = static_cast<double>(s.blocks.in_use) / static_cast<double>(s.blocks.num_blocks);
  s.prefix_hit_rate = s.blocks.prefix_queries == 0
                          ? 0.0
                          : static_cast<double>(s.blocks.prefix_hits) / s.blocks.prefix_queries;
  return s;
}

}  // namespace mlaserve
