// Loading a checkpoint through Checkpoint (open, view every tensor, copy it into owned memory:
// what a model load does) against its floor, a plain sequential read() of the same files into
// memory. The page cache is warm after the first iteration; both copy into the same pre-faulted
// buffer so that neither pays for fresh pages.
//
// MLASERVE_BENCH_CHECKPOINT_MB (default 1024) sets the size and MLASERVE_BENCH_DIR where the
// generated checkpoint lives (written once, reused by later runs). Compare the bytes_per_second:
//   build/benchmarks/runtime/model/checkpoint_load_bench --benchmark_repetitions=3
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/model/safetensors.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;

constexpr int kShards = 4;

struct Fixture {
  fs::path dir;
  std::vector<fs::path> shards;
  uint64_t file_bytes = 0;    // everything read() reads
  uint64_t tensor_bytes = 0;  // everything a load copies
  std::vector<uint8_t> arena;
};

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

// Shapes of a DeepSeek-like layer, scaled down: projections of a few MB, experts, norms.
const std::vector<std::pair<std::string, std::vector<int64_t>>> kLayer = {
    {"self_attn.q_b_proj", {3072, 1536}},     {"self_attn.kv_b_proj", {2048, 512}},
    {"self_attn.o_proj", {1024, 2048}},       {"input_layernorm", {1024}},
    {"mlp.experts.0.gate_proj", {512, 1024}}, {"mlp.experts.0.up_proj", {512, 1024}},
    {"mlp.experts.0.down_proj", {1024, 512}}, {"mlp.experts.1.gate_proj", {512, 1024}},
    {"mlp.experts.1.up_proj", {512, 1024}},   {"mlp.experts.1.down_proj", {1024, 512}},
};

void write_shard(const fs::path& path, const std::vector<std::pair<std::string, Shape>>& tensors) {
  nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
  uint64_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(shape_numel(shape)) * 2;
    header[name] = {
        {"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out << text;
  std::vector<char> chunk(1 << 22);
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 131 + 7);
  for (uint64_t left = offset; left > 0;) {
    const uint64_t n = std::min<uint64_t>(left, chunk.size());
    out.write(chunk.data(), static_cast<std::streamsize>(n));
    left -= n;
  }
}

void generate(const fs::path& dir, uint64_t target_bytes) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Shape>> tensors;
  uint64_t total = 0;
  for (int layer = 0; total < target_bytes; ++layer) {
    for (const auto& [part, shape] : kLayer) {
      tensors.emplace_back("model.layers." + std::to_string(layer) + "." + part + ".weight", shape);
      total += static_cast<uint64_t>(shape_numel(shape)) * 2;
    }
  }
  nlohmann::json weight_map = nlohmann::json::object();
  size_t next = 0;
  uint64_t written = 0;
  for (int s = 0; s < kShards; ++s) {
    const std::string shard =
        "model-" + std::to_string(s + 1) + "-of-" + std::to_string(kShards) + ".safetensors";
    std::vector<std::pair<std::string, Shape>> mine;
    while (next < tensors.size() && (s == kShards - 1 || written < total * (s + 1) / kShards)) {
      written += static_cast<uint64_t>(shape_numel(tensors[next].second)) * 2;
      weight_map[tensors[next].first] = shard;
      mine.push_back(tensors[next++]);
    }
    write_shard(dir / shard, mine);
  }
  // Written last: its presence marks a complete checkpoint that later runs reuse.
  std::ofstream(dir / "model.safetensors.index.json")
      << nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump();
}

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    const uint64_t mb = env_or("MLASERVE_BENCH_CHECKPOINT_MB", 1024);
    const char* dir = std::getenv("MLASERVE_BENCH_DIR");
    f.dir = dir != nullptr ? fs::path(dir)
                           : fs::temp_directory_path() /
                                 ("mlaserve-checkpoint-bench-" + std::to_string(mb) + "MB");
    if (!fs::exists(f.dir / "model.safetensors.index.json")) generate(f.dir, mb << 20);
    for (const auto& entry : fs::directory_iterator(f.dir)) {
      if (entry.path().extension() != ".safetensors") continue;
      f.shards.push_back(entry.path());
      f.file_bytes += entry.file_size();
    }
    const Checkpoint ckpt = Checkpoint::open(f.dir);
    for (const std::string& name : ckpt.tensor_names()) {
      const TensorInfo& info = ckpt.info(name);
      f.tensor_bytes += info.end - info.begin;
    }
    f.arena.assign(f.file_bytes, 1);  // faulted in now, so no iteration pays for fresh pages
    for (const fs::path& shard : f.shards) {  // and the page cache warmed
      std::ifstream in(shard, std::ios::binary);
      in.read(reinterpret_cast<char*>(f.arena.data()), static_cast<std::streamsize>(f.file_bytes));
    }
    return f;
  }();
  return f;
}

void BM_SequentialRead(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    uint64_t at = 0;
    for (const fs::path& shard : f.shards) {
      const int fd = ::open(shard.c_str(), O_RDONLY);
      if (fd < 0) state.SkipWithError("cannot open a shard");
      for (ssize_t n; (n = ::read(fd, f.arena.data() + at, f.file_bytes - at)) > 0;) at += n;
      ::close(fd);
    }
    benchmark::DoNotOptimize(f.arena.data());
    if (at != f.file_bytes) state.SkipWithError("short read");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.file_bytes));
  state.counters["GB"] = static_cast<double>(f.file_bytes) / 1e9;
}

void BM_CheckpointLoad(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    const Checkpoint ckpt = Checkpoint::open(f.dir);
    uint64_t at = 0;
    for (const std::string& name : ckpt.tensor_names()) {
      const Tensor t = ckpt.view(name);
      std::memcpy(f.arena.data() + at, t.raw_data(), t.nbytes());
      at += t.nbytes();
    }
    benchmark::DoNotOptimize(f.arena.data());
    state.counters["tensors"] = static_cast<double>(ckpt.tensor_names().size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.tensor_bytes));
  state.counters["GB"] = static_cast<double>(f.tensor_bytes) / 1e9;
}

BENCHMARK(BM_SequentialRead)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CheckpointLoad)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace mlaserve
