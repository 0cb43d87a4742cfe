#include "runtime/model/make_model.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/model/random_weights.h"
#include "runtime/model/safetensors_writer.h"

namespace mlaserve {
namespace fs = std::filesystem;

InitSpec init_spec(const ExpectedTensor& t) {
  switch (t.group) {
    case TensorGroup::kEmbedding:
      return {0.0f, 1.0f};
    case TensorGroup::kNorm:
      return {1.0f, 0.02f};
    case TensorGroup::kGate:
      // Logits with std ~3: the chosen experts clearly beat the rest.
      return {0.0f, static_cast<float>(3.0 / std::sqrt(static_cast<double>(t.shape.back())))};
    default:
      return {0.0f, static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.shape.back())))};
  }
}

namespace {

constexpr size_t kChunkElements = size_t{1} << 20;

void write_text(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    MLA_ENSURE(out.good(), kResourceExhausted, tmp.string(), ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  MLA_ENSURE(!ec, kResourceExhausted, "cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message());
}

// Consecutive runs of the layout, each at most `limit` bytes unless one tensor alone is larger.
std::vector<std::vector<ExpectedTensor>> plan_shards(const std::vector<ExpectedTensor>& layout,
                                                     std::optional<uint64_t> limit) {
  std::vector<std::vector<ExpectedTensor>> shards(1);
  uint64_t bytes = 0;
  for (const ExpectedTensor& t : layout) {
    const uint64_t n = static_cast<uint64_t>(shape_numel(t.shape)) * dtype_size(DType::kBF16);
    if (limit && !shards.back().empty() && bytes + n > *limit) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(t);
    bytes += n;
  }
  return shards;
}

std::string shard_name(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

}  // namespace

MakeModelResult make_random_model(const ModelConfig& config, uint64_t seed, const fs::path& out,
                                  std::optional<uint64_t> shard_bytes) {
  MLA_ENSURE(!shard_bytes || *shard_bytes > 0, kInvalidArgument, "--shard-size must be positive");
  MLA_ENSURE(!fs::exists(out) || (fs::is_directory(out) && fs::is_empty(out)), kFailedPrecondition,
             out.string(), ": output directory exists and is not empty");
  std::error_code ec;
  fs::create_directories(out, ec);
  MLA_ENSURE(!ec, kFailedPrecondition, out.string(), ": cannot create output directory: ", ec.message());

  const auto shards = plan_shards(checkpoint_layout(config), shard_bytes);
  MakeModelResult result;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::vector<uint16_t> buffer(kChunkElements);
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shard_bytes ? shard_name(s, shards.size()) : "model.safetensors";
    std::vector<TensorEntry> entries;
    for (const ExpectedTensor& t : shards[s]) entries.push_back({t.name, DType::kBF16, t.shape});
    SafetensorsStreamWriter writer(out / file, entries, {{"format", "pt"}});
    for (const ExpectedTensor& t : shards[s]) {
      const InitSpec spec = init_spec(t);
      const uint64_t key = random_stream_key(seed, t.name);
      const uint64_t numel = static_cast<uint64_t>(shape_numel(t.shape));
      for (uint64_t first = 0; first < numel; first += kChunkElements) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkElements, numel - first));
        fill_normal_bf16(key, first, n, spec.mean, spec.std, buffer.data());
        writer.append(buffer.data(), n * sizeof(uint16_t));
      }
      weight_map[t.name] = file;
    }
    result.total_bytes += writer.data_bytes();
    writer.finish();
  }
  result.num_files = static_cast<int>(shards.size());
  if (shard_bytes) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", result.total_bytes}};
    index["weight_map"] = std::move(weight_map);
    write_text(out / "model.safetensors.index.json", index.dump(2) + "\n");
  }
  write_text(out / "config.json", model_config_to_json(config));
  return result;
}

}  // namespace mlaserve
