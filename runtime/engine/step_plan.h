#pragma once
// The step plan: what a replica's leader tells its followers before each forward pass so that
// every TP rank runs the identical collective forward (DESIGN "One decode step", step 2). The
// leader owns the cache allocator and the block tables; followers only mirror them from here.
//
// Wire format: a flat array of int64 words (every field is an integer; one dtype keeps the
// broadcast to a single tensor). All plans start with [kStepPlanMagic, kind]:
//   setup cache: num_blocks, block_size, cache dtype (DType as integer)
//   forward:     all_logits (0/1), num_sequences, then per sequence
//                start_pos, num_tokens, num_blocks, tokens[num_tokens], blocks[num_blocks]
//   stop:        nothing
//   keep-alive:  nothing; an idle leader's proof of life, so that a follower waiting for the
//                next plan can keep a finite timeout (a serving replica may idle for hours)
// Decoding is a pure function over untrusted words: every count is checked against what is left
// before it is used, and errors (kDataLoss) name the field and sequence that are malformed.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/model/deepseek_v2.h"

namespace mlaserve {

// "MLAPLAN1": catches a follower reading something that is not a plan (or another version).
constexpr int64_t kStepPlanMagic = 0x4d4c41504c414e31;

enum class StepKind : int64_t { kSetupCache = 1, kForward = 2, kStop = 3, kKeepAlive = 4 };
std::string_view step_kind_name(StepKind kind);

struct CacheGeometry {
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  DType dtype = DType::kF32;
  bool operator==(const CacheGeometry&) const = default;
};

struct PlannedSequence {
  std::vector<int64_t> tokens;
  int64_t start_pos = 0;
  std::vector<int32_t> block_table;
  bool operator==(const PlannedSequence&) const = default;
};

struct StepPlan {
  StepKind kind = StepKind::kStop;
  CacheGeometry cache;                     // kSetupCache only
  std::vector<PlannedSequence> sequences;  // kForward only
  bool all_logits = false;                 // kForward only

  static StepPlan setup_cache(const CacheGeometry& geometry);
  static StepPlan forward(const ForwardBatch& batch);  // copies tokens and block tables
  static StepPlan stop();
  static StepPlan keep_alive();

  // A ForwardBatch whose block-table pointers point into this plan (keep the plan alive).
  ForwardBatch as_batch() const;
  bool operator==(const StepPlan&) const = default;
};

std::vector<int64_t> encode_step_plan(const StepPlan& plan);
// Throws kDataLoss naming what is malformed: magic, kind, a negative or oversized count, a
// sequence with no tokens, a block id outside int32, an unknown cache dtype, trailing words.
StepPlan decode_step_plan(std::span<const int64_t> words);

}  // namespace mlaserve
