#include "runtime/engine/sampler.h"

#include <algorithm>
#include <cmath>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// splitmix64: spreads the seed over the whole state so neighbouring seeds' streams differ.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int64_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t j = 1; j < vocab; ++j)
    if (logits[j] > logits[best]) best = j;
  return best;
}

bool by_logit_then_id(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}

}  // namespace

void SamplingParams::validate() const {
  MLA_ENSURE(std::isfinite(temperature) && temperature >= 0, kInvalidArgument,
             "temperature must be >= 0, got ", temperature);
  MLA_ENSURE(top_k >= 0, kInvalidArgument, "top_k must be >= 0 (0 = no limit), got ", top_k);
  MLA_ENSURE(top_p > 0 && top_p <= 1, kInvalidArgument, "top_p must be in (0, 1], got ", top_p);
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(mix(params.seed)) {
  params_.validate();
}

int64_t Sampler::sample(const float* logits, int64_t vocab) {
  if (params_.temperature == 0.0) return argmax(logits, vocab);

  candidates_.clear();
  for (int64_t j = 0; j < vocab; ++j)
    candidates_.emplace_back(static_cast<float>(logits[j] / params_.temperature), j);
  const int64_t keep = params_.top_k > 0 ? std::min(params_.top_k, vocab) : vocab;
  std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(),
                    by_logit_then_id);
  candidates_.resize(keep);

  // Probabilities of the kept tokens (in double), then the smallest prefix reaching top_p.
  std::vector<double> probs(keep);
  double total = 0;
  for (int64_t i = 0; i < keep; ++i)
    total += probs[i] = std::exp(static_cast<double>(candidates_[i].first) - candidates_[0].first);
  int64_t n = keep;
  if (params_.top_p < 1.0) {
    double cumulative = 0;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= params_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  double mass = 0;
  for (int64_t i = 0; i < n; ++i) mass += probs[i];
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * mass;
  double cumulative = 0;
  for (int64_t i = 0; i < n; ++i) {
    cumulative += probs[i];
    if (u < cumulative) return candidates_[i].second;
  }
  return candidates_[n - 1].second;
}

std::vector<std::pair<int64_t, float>> top_logprobs(const float* logits, int64_t vocab,
                                                    int64_t k) {
  const float max_logit = logits[argmax(logits, vocab)];
  double sum = 0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(logits[j]) - max_logit);
  const double log_z = max_logit + std::log(sum);
  std::vector<std::pair<float, int64_t>> all;
  for (int64_t j = 0; j < vocab; ++j) all.emplace_back(logits[j], j);
  k = std::min(k, vocab);
  std::partial_sort(all.begin(), all.begin() + k, all.end(), by_logit_then_id);
  std::vector<std::pair<int64_t, float>> out;
  for (int64_t i = 0; i < k; ++i)
    out.emplace_back(all[i].second, static_cast<float>(all[i].first - log_z));
  return out;
}

}  // namespace mlaserve
