// One rank of a sharded DeepseekV2Model in its own process, meeting the others through the gRPC
// store. Driven by sharded_model_processes_test.cc:  model_rank ADDRESS RANK TP EP MODEL_DIR
// Runs every case of MODEL_DIR/cases.json (one ragged prefill, then teacher-forced decode steps
// of all cases together) and publishes result/<rank>: per case, the last prefill row then each
// decode row, f32 [vocab] each.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parallel/gloo_communicator.h"
#include "rpc/grpc_store.h"
#include "runtime/model/deepseek_v2.h"

using namespace mlaserve;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s ADDRESS RANK TP EP MODEL_DIR\n", argv[0]);
    return 2;
  }
  const std::string address = argv[1], dir = argv[5];
  const int rank = std::atoi(argv[2]), tp = std::atoi(argv[3]), ep = std::atoi(argv[4]);
  try {
    auto store = std::make_shared<rpc::GrpcStore>(address);
    std::unique_ptr<parallel::Communicator> comm;
    ModelParallel p{parallel::WorldConfig::create(tp, rank, tp, ep)};
    if (tp > 1) {
      comm = parallel::connect_gloo(store, rank, tp, {.name = "model"});
      p.tp_group = comm.get();
    }
    auto model = DeepseekV2Model::load(dir, DType::kF32, p);
    const int64_t vocab = model->config().vocab_size;
    std::ifstream in(dir + "/cases.json");
    const auto cases = nlohmann::json::parse(in)["cases"];
    const size_t n = cases.size();
    KvCache cache(model->config(), 64, 16, DType::kF32);
    std::vector<std::vector<int64_t>> prompts(n), greedy(n);
    std::vector<std::vector<int32_t>> tables(n);
    std::vector<std::vector<float>> rows(n);  // per case: [steps * vocab]
    ForwardBatch batch;
    for (size_t i = 0; i < n; ++i) {
      prompts[i] = cases[i]["prompt"].get<std::vector<int64_t>>();
      greedy[i] = cases[i]["greedy_tokens"].get<std::vector<int64_t>>();
      cache.reserve(tables[i], static_cast<int64_t>(prompts[i].size() + greedy[i].size()));
      batch.sequences.push_back({prompts[i], 0, &tables[i]});
    }
    for (size_t step = 0; step < greedy[0].size(); ++step) {
      Tensor logits = model->forward(batch, cache);  // [n, vocab]
      for (size_t i = 0; i < n; ++i) {
        const float* row = logits.data<float>() + i * vocab;
        rows[i].insert(rows[i].end(), row, row + vocab);
      }
      batch.sequences.clear();
      for (size_t i = 0; i < n; ++i)
        batch.sequences.push_back(
            {{greedy[i][step]}, static_cast<int64_t>(prompts[i].size() + step), &tables[i]});
    }
    parallel::Bytes out;
    for (const auto& r : rows) {
      const char* b = reinterpret_cast<const char*>(r.data());
      out.insert(out.end(), b, b + r.size() * sizeof(float));
    }
    store->set("result/" + std::to_string(rank), out);
    if (comm) comm->barrier();  // leave only when every rank is done with the group
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_rank %d: %s\n", rank, e.what());
    return 1;
  }
}
