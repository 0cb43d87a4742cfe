#include "kernels/cpu/sampling.h"

#include <algorithm>
#include <cmath>

namespace mlaserve::cpu {
namespace {

bool by_logit_then_id(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}

}  // namespace

int64_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t j = 1; j < vocab; ++j)
    if (logits[j] > logits[best]) best = j;
  return best;
}

int64_t sample_row(const float* logits, int64_t vocab, const sampling::RowParams& p,
                   SamplingScratch& scratch) {
  if (p.temperature == 0.0) return argmax(logits, vocab);

  auto& candidates = scratch.candidates;
  candidates.clear();
  candidates.reserve(static_cast<size_t>(vocab));
  for (int64_t j = 0; j < vocab; ++j)
    candidates.emplace_back(sampling::scaled_logit(logits[j], p.temperature), j);
  const int64_t keep = sampling::kept(p.top_k, vocab);
  std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                    by_logit_then_id);

  // Weights of the kept candidates and their prefix sums, in the chunked order of
  // sampling_math.h (the CUDA kernel sums the chunks in parallel and must get the same bits).
  std::vector<double>& probs = scratch.probs;
  std::vector<double>& prefix = scratch.prefix;
  probs.resize(static_cast<size_t>(keep));
  prefix.resize(static_cast<size_t>(keep));
  const double top = candidates[0].first;
  double base = 0, local = 0;
  for (int64_t i = 0; i < keep; ++i) {
    if (i % sampling::kSumChunk == 0) {
      base += local;
      local = 0;
    }
    probs[i] = sampling::exp_nonpositive(static_cast<double>(candidates[i].first) - top);
    local += probs[i];
    prefix[i] = base + local;
  }
  const double total = prefix[keep - 1];

  // top_p: the smallest prefix whose share of the kept mass reaches top_p.
  int64_t n = keep;
  if (p.top_p < 1.0) {
    base = 0;
    local = 0;
    for (int64_t i = 0; i < keep; ++i) {
      if (i % sampling::kSumChunk == 0) {
        base += local;
        local = 0;
      }
      local += probs[i] / total;
      if (base + local >= p.top_p) {
        n = i + 1;
        break;
      }
    }
  }

  // Inverse CDF over the first n candidates.
  const double u = sampling::uniform(p.seed, p.position) * prefix[n - 1];
  for (int64_t i = 0; i < n; ++i)
    if (u < prefix[i]) return candidates[i].second;
  return candidates[n - 1].second;
}

void top_logprobs_row(const float* logits, int64_t vocab, int64_t k, int64_t* ids,
                      float* logprobs, SamplingScratch& scratch) {
  const float max_logit = logits[argmax(logits, vocab)];
  double sum = 0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(logits[j]) - max_logit);
  const double log_z = max_logit + std::log(sum);
  auto& all = scratch.candidates;
  all.clear();
  all.reserve(static_cast<size_t>(vocab));
  for (int64_t j = 0; j < vocab; ++j) all.emplace_back(logits[j], j);
  k = std::min(k, vocab);
  std::partial_sort(all.begin(), all.begin() + k, all.end(), by_logit_then_id);
  for (int64_t i = 0; i < k; ++i) {
    ids[i] = all[i].second;
    logprobs[i] = static_cast<float>(all[i].first - log_z);
  }
}

}  // namespace mlaserve::cpu
