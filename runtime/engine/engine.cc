#include "runtime/engine/engine.h"

#include <algorithm>
#include <chrono>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

Engine::Engine(const DeepseekV2Model& model, StepExecutor& executor, const EngineConfig& config)
    : model_(model),
      executor_(executor),
      config_(config),
      cache_(model.config(), config.num_blocks, config.block_size, config.cache_dtype),
      blocks_(config.num_blocks, config.block_size, config.prefix_caching),
      scheduler_(config.scheduler, blocks_) {}

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

bool Engine::sample(Sequence& seq, const float* row, RequestOutput& out) {
  const ModelConfig& c = model_.config();
  const EngineRequest& r = seq.request;
  const int64_t token = seq.sampler.sample(row, c.vocab_size);
  seq.tokens.push_back(token);
  ++totals_.generated_tokens;
  out.new_tokens.push_back(token);
  if (r.top_logprobs > 0) out.top_logprobs.push_back(top_logprobs(row, c.vocab_size, r.top_logprobs));
  if (r.keep_logits) out.logits.emplace_back(row, row + c.vocab_size);
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
  std::vector<Sequence*> finished;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    Sequence& seq = *plan.chunks[i].seq;
    if (seq.num_pending() > 0) continue;  // a prompt chunk that is not the last: no token yet
    RequestOutput out;
    out.id = seq.id;
    if (sample(seq, logits.data<float>() + static_cast<int64_t>(i) * vocab, out))
      finished.push_back(&seq);
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
