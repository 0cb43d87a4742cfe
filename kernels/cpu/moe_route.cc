#include "kernels/cpu/moe_route.h"

#include "kernels/cpu/softmax.h"

namespace mlaserve::cpu {
namespace {

// Index of the largest value among v[i] with allowed(i); ties go to the lowest index, so the
// selection is deterministic. -1 if none is allowed.
template <typename Allowed>
int64_t argmax(const float* v, int64_t n, Allowed allowed) {
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (!allowed(i)) continue;
    if (best < 0 || v[i] > v[best]) best = i;
  }
  return best;
}

}  // namespace

void moe_route(const float* logits, int64_t n_tokens, const MoeRouteParams& p, int32_t* ids,
               float* weights, float* scratch) {
  const int64_t E = p.n_experts;
  const int64_t k = p.top_k;
  const bool grouped = p.n_group > 1;
  const int64_t group_size = grouped ? E / p.n_group : E;
  float* scores = scratch;
  float* group_score = scratch + E;
  // Bit sets of taken groups / experts; E and n_group are small (<= a few hundred).
  constexpr int64_t kMaxBits = 1024;
  bool group_ok[kMaxBits];
  bool taken[kMaxBits];
  for (int64_t t = 0; t < n_tokens; ++t) {
    softmax_row(logits + t * E, scores, E);
    for (int64_t e = 0; e < E; ++e) taken[e] = false;
    if (grouped) {
      for (int64_t g = 0; g < p.n_group; ++g) {
        float m = scores[g * group_size];
        for (int64_t e = 1; e < group_size; ++e) m = scores[g * group_size + e] > m ? scores[g * group_size + e] : m;
        group_score[g] = m;
        group_ok[g] = false;
      }
      for (int64_t r = 0; r < p.topk_group; ++r) {
        const int64_t g = argmax(group_score, p.n_group, [&](int64_t i) { return !group_ok[i]; });
        group_ok[g] = true;
      }
    }
    int32_t* out_ids = ids + t * k;
    float* out_w = weights + t * k;
    float sum = 0.0f;
    for (int64_t r = 0; r < k; ++r) {
      const int64_t e = argmax(scores, E, [&](int64_t i) {
        return !taken[i] && (!grouped || group_ok[i / group_size]);
      });
      taken[e] = true;
      out_ids[r] = static_cast<int32_t>(e);
      out_w[r] = scores[e];
      sum += scores[e];
    }
    if (p.norm_topk_prob) {
      const float denom = sum + 1e-20f;
      for (int64_t r = 0; r < k; ++r) out_w[r] /= denom;
    } else {
      for (int64_t r = 0; r < k; ++r) out_w[r] *= p.routed_scaling_factor;
    }
  }
}

}  // namespace mlaserve::cpu
