#pragma once
// How the CUDA MLA attention (mla_attention.h) cuts its work into CTAs, decided on the host from
// sizes the host knows (no device-to-host copy). Plain C++ with no CUDA headers, so host-only
// tests check the policy on machines without a GPU.
//
// A CTA owns up to kRowsPerCta query rows — (token, head) pairs of ONE sequence — and walks one
// split of their context in tiles of kTileRows cache rows. All heads of a token read the same
// latent rows, so a tile loaded once serves every row of the CTA:
//   - heads are cut into head_groups groups of at most kRowsPerCta heads (H = 16 local heads of
//     the 236B at TP 8: one group; H = 128 at TP 1: eight);
//   - when a group has fewer than kRowsPerCta heads, a CTA takes tokens_per_cta consecutive
//     tokens (a prefill chunk reuses each tile for several queries; H = 8: two tokens). Tokens of
//     a CTA that belong to different sequences are processed one sequence after the other.
// Split-K: the context is cut into num_splits ranges of split_len positions when there are too
// few CTAs to fill the GPU (decode at small batch), each CTA writing an unnormalised partial
// (o_lat, max, sum) that a second kernel merges. Long prefills have CTAs enough: one split, no
// merge, no partial buffers.
#include <algorithm>
#include <cstdint>

namespace mlaserve::cuda {

inline constexpr int64_t kMlaRowsPerCta = 16;   // query rows (token, head) per CTA
inline constexpr int64_t kMlaTileRows = 32;     // cache rows per shared-memory tile
inline constexpr int64_t kMlaMinSplitLen = 64;  // positions a split must have (2 tiles)
inline constexpr int64_t kMlaMaxSplits = 128;   // bounds the merge's per-row work and buffers
inline constexpr int64_t kMlaCtasPerSm = 2;     // CTAs per SM that count as "filled"

struct MlaLaunchPlan {
  int64_t head_groups = 1;      // CTAs per token along the heads
  int64_t heads_per_group = 1;  // <= kMlaRowsPerCta
  int64_t tokens_per_cta = 1;   // tokens_per_cta * heads_per_group <= kMlaRowsPerCta
  int64_t row_blocks = 0;       // grid.x = ceil(T / tokens_per_cta) * head_groups
  int64_t split_len = 0;        // positions per split, a multiple of kMlaTileRows
  int64_t num_splits = 1;       // grid.y; > 1 means partials + merge
};

inline int64_t mla_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// num_tokens, num_heads, max_context >= 1; sm_count: the device's multiprocessors.
inline MlaLaunchPlan plan_mla_launch(int64_t num_tokens, int64_t num_heads, int64_t max_context,
                                     int64_t sm_count) {
  MlaLaunchPlan p;
  p.head_groups = mla_ceil_div(num_heads, kMlaRowsPerCta);
  p.heads_per_group = mla_ceil_div(num_heads, p.head_groups);  // balanced groups
  p.tokens_per_cta = std::max<int64_t>(1, kMlaRowsPerCta / p.heads_per_group);
  p.row_blocks = mla_ceil_div(num_tokens, p.tokens_per_cta) * p.head_groups;

  const int64_t target = kMlaCtasPerSm * std::max<int64_t>(sm_count, 1);
  int64_t splits = p.row_blocks >= target ? 1 : mla_ceil_div(target, p.row_blocks);
  splits = std::min({splits, mla_ceil_div(max_context, kMlaMinSplitLen), kMlaMaxSplits});
  splits = std::max<int64_t>(splits, 1);
  p.split_len = mla_ceil_div(mla_ceil_div(max_context, splits), kMlaTileRows) * kMlaTileRows;
  p.num_splits = mla_ceil_div(max_context, p.split_len);  // rounding may drop a split
  return p;
}

}  // namespace mlaserve::cuda
