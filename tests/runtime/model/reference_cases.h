#pragma once
// Helpers for the DeepSeek reference cases in tests/data/<model>/ (see tests/data/REFERENCE.md).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/tensor.h"
#include "runtime/model/deepseek_v2.h"
#include "runtime/model/kv_cache.h"
#include "runtime/ops/transfer.h"

namespace mlaserve::refcases {

inline std::string model_dir(const std::string& name) {
  return std::string(MLASERVE_TEST_DATA_DIR) + "/" + name;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// rel = max_j |got_j - ref_j| / max_j |ref_j|, the REFERENCE.md metric.
inline double rel_error(const float* got, const std::vector<float>& ref) {
  double max_diff = 0, max_ref = 0;
  for (size_t j = 0; j < ref.size(); ++j) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[j]) - ref[j]));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[j])));
  }
  return max_diff / max_ref;
}

inline int64_t argmax(const float* row, int64_t n) {
  return std::max_element(row, row + n) - row;
}

inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

// One sequence living in a cache: prefill, then feed tokens one by one.
class Session {
 public:
  Session(const DeepseekV2Model& model, KvCache& cache) : model_(model), cache_(cache) {}
  ~Session() { cache_.release(table_); }

  // Feeds `tokens` after what is cached; returns logits [rows, vocab] (every row, or the last),
  // on the CPU whatever the model's device.
  Tensor feed(const std::vector<int64_t>& tokens, bool all_logits = false) {
    cache_.reserve(table_, pos_ + static_cast<int64_t>(tokens.size()));
    ForwardBatch batch;
    batch.sequences.push_back({tokens, pos_, &table_});
    batch.all_logits = all_logits;
    Tensor logits = ops::to_cpu(model_.forward(batch, cache_));  // read on the host
    pos_ += static_cast<int64_t>(tokens.size());
    return logits;
  }

 private:
  const DeepseekV2Model& model_;
  KvCache& cache_;
  std::vector<int32_t> table_;
  int64_t pos_ = 0;
};

}  // namespace mlaserve::refcases
