#include "runtime/engine/step_plan.h"

#include <limits>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// Reads words front to back; every read names the field so a short plan says what it lacked.
class WordReader {
 public:
  explicit WordReader(std::span<const int64_t> words) : words_(words) {}

  int64_t next(std::string_view field) {
    MLA_ENSURE(pos_ < words_.size(), kDataLoss, "step plan: truncated at word ", pos_,
               ", expected ", field);
    return words_[pos_++];
  }
  // A count of words that must still follow; rejects negative and oversized counts before
  // anything is allocated for them.
  int64_t count(std::string_view field, int64_t min) {
    const int64_t n = next(field);
    MLA_ENSURE(n >= min, kDataLoss, "step plan: ", field, " = ", n, " (must be >= ", min, ")");
    MLA_ENSURE(static_cast<uint64_t>(n) <= remaining(), kDataLoss, "step plan: ", field, " = ",
               n, " but only ", remaining(), " words follow");
    return n;
  }
  size_t remaining() const { return words_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  std::span<const int64_t> words_;
  size_t pos_ = 0;
};

DType decode_cache_dtype(int64_t code) {
  for (DType d : {DType::kF32, DType::kBF16})
    if (code == static_cast<int64_t>(d)) return d;
  fail(ErrorCode::kDataLoss, "step plan: cache dtype code ", code, " is not f32 or bf16");
}

}  // namespace

std::string_view step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kSetupCache: return "setup-cache";
    case StepKind::kForward: return "forward";
    case StepKind::kStop: return "stop";
    case StepKind::kKeepAlive: return "keep-alive";
  }
  return "unknown";
}

StepPlan StepPlan::setup_cache(const CacheGeometry& geometry) {
  StepPlan p;
  p.kind = StepKind::kSetupCache;
  p.cache = geometry;
  return p;
}

StepPlan StepPlan::keep_alive() {
  StepPlan p;
  p.kind = StepKind::kKeepAlive;
  return p;
}

StepPlan StepPlan::forward(const ForwardBatch& batch) {
  StepPlan p;
  p.kind = StepKind::kForward;
  p.all_logits = batch.all_logits;
  p.sequences.reserve(batch.sequences.size());
  for (const SequenceInput& s : batch.sequences) {
    MLA_INTERNAL_CHECK(s.block_table != nullptr);
    p.sequences.push_back({s.tokens, s.start_pos, *s.block_table});
  }
  return p;
}

StepPlan StepPlan::stop() { return StepPlan{}; }

ForwardBatch StepPlan::as_batch() const {
  ForwardBatch batch;
  batch.all_logits = all_logits;
  batch.sequences.reserve(sequences.size());
  for (const PlannedSequence& s : sequences)
    batch.sequences.push_back({s.tokens, s.start_pos, &s.block_table});
  return batch;
}

std::vector<int64_t> encode_step_plan(const StepPlan& plan) {
  std::vector<int64_t> w = {kStepPlanMagic, static_cast<int64_t>(plan.kind)};
  switch (plan.kind) {
    case StepKind::kSetupCache:
      w.insert(w.end(), {plan.cache.num_blocks, plan.cache.block_size,
                         static_cast<int64_t>(plan.cache.dtype)});
      break;
    case StepKind::kForward: {
      size_t total = w.size() + 2;
      for (const auto& s : plan.sequences) total += 3 + s.tokens.size() + s.block_table.size();
      w.reserve(total);
      w.push_back(plan.all_logits ? 1 : 0);
      w.push_back(static_cast<int64_t>(plan.sequences.size()));
      for (const auto& s : plan.sequences) {
        w.push_back(s.start_pos);
        w.push_back(static_cast<int64_t>(s.tokens.size()));
        w.push_back(static_cast<int64_t>(s.block_table.size()));
        w.insert(w.end(), s.tokens.begin(), s.tokens.end());
        w.insert(w.end(), s.block_table.begin(), s.block_table.end());
      }
      break;
    }
    case StepKind::kStop:
    case StepKind::kKeepAlive:
      break;
  }
  return w;
}

StepPlan decode_step_plan(std::span<const int64_t> words) {
  WordReader in(words);
  const int64_t magic = in.next("magic");
  MLA_ENSURE(magic == kStepPlanMagic, kDataLoss, "step plan: bad magic ", magic,
             " (not a step plan, or a different format version)");
  const int64_t kind = in.next("kind");
  StepPlan plan;
  switch (kind) {
    case static_cast<int64_t>(StepKind::kSetupCache): {
      plan.kind = StepKind::kSetupCache;
      plan.cache.num_blocks = in.next("num_blocks");
      plan.cache.block_size = in.next("block_size");
      MLA_ENSURE(plan.cache.num_blocks >= 1 && plan.cache.num_blocks <= (int64_t{1} << 31),
                 kDataLoss, "step plan: num_blocks = ", plan.cache.num_blocks,
                 " is outside [1, 2^31]");
      MLA_ENSURE(plan.cache.block_size >= 1 && plan.cache.block_size <= (int64_t{1} << 20),
                 kDataLoss, "step plan: block_size = ", plan.cache.block_size,
                 " is outside [1, 2^20]");
      plan.cache.dtype = decode_cache_dtype(in.next("cache dtype"));
      break;
    }
    case static_cast<int64_t>(StepKind::kForward): {
      plan.kind = StepKind::kForward;
      const int64_t all_logits = in.next("all_logits");
      MLA_ENSURE(all_logits == 0 || all_logits == 1, kDataLoss, "step plan: all_logits = ",
                 all_logits, " (must be 0 or 1)");
      plan.all_logits = all_logits == 1;
      // Each sequence takes at least 4 words (3 header words and one token).
      const int64_t n = in.next("num_sequences");
      MLA_ENSURE(n >= 1 && static_cast<uint64_t>(n) <= in.remaining() / 4, kDataLoss,
                 "step plan: num_sequences = ", n, " does not fit the ", in.remaining(),
                 " words that follow");
      plan.sequences.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        PlannedSequence& s = plan.sequences[i];
        const std::string where = str_cat("sequence ", i, " ");
        s.start_pos = in.next(where + "start_pos");
        MLA_ENSURE(s.start_pos >= 0, kDataLoss, "step plan: ", where, "start_pos = ",
                   s.start_pos, " is negative");
        const int64_t num_tokens = in.next(where + "num_tokens");
        const int64_t num_blocks = in.next(where + "num_blocks");
        MLA_ENSURE(num_tokens >= 1, kDataLoss, "step plan: ", where, "num_tokens = ",
                   num_tokens, " (must be >= 1)");
        MLA_ENSURE(num_blocks >= 0, kDataLoss, "step plan: ", where, "num_blocks = ",
                   num_blocks, " is negative");
        MLA_ENSURE(static_cast<uint64_t>(num_tokens) <= in.remaining() &&
                       static_cast<uint64_t>(num_blocks) <= in.remaining() - num_tokens,
                   kDataLoss, "step plan: ", where, "claims ", num_tokens, " tokens and ",
                   num_blocks, " blocks but only ", in.remaining(), " words follow");
        s.tokens.resize(num_tokens);
        for (auto& t : s.tokens) t = in.next("token");
        s.block_table.resize(num_blocks);
        for (int64_t b = 0; b < num_blocks; ++b) {
          const int64_t id = in.next("block id");
          MLA_ENSURE(id >= 0 && id <= std::numeric_limits<int32_t>::max(), kDataLoss,
                     "step plan: ", where, "block ", b, " = ", id, " is outside int32");
          s.block_table[b] = static_cast<int32_t>(id);
        }
      }
      break;
    }
    case static_cast<int64_t>(StepKind::kStop):
      plan.kind = StepKind::kStop;
      break;
    case static_cast<int64_t>(StepKind::kKeepAlive):
      plan.kind = StepKind::kKeepAlive;
      break;
    default:
      fail(ErrorCode::kDataLoss, "step plan: unknown kind ", kind);
  }
  MLA_ENSURE(in.remaining() == 0, kDataLoss, "step plan: ", in.remaining(),
             " trailing words after a ", step_kind_name(plan.kind), " plan of ", in.position(),
             " words");
  return plan;
}

}  // namespace mlaserve
