#include "launcher/commands/generate_job.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "CLI/CLI.hpp"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

std::vector<int64_t> parse_id_list(const std::string& text) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t used = 0;
    int64_t id = 0;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = std::string::npos;
    }
    MLA_ENSURE(used == item.size() && !item.empty(), kInvalidArgument,
               "--prompt-ids: '", item, "' is not an integer token id (expected e.g. 5,6,7)");
    ids.push_back(id);
    start = comma + 1;
  }
  return ids;
}

std::vector<std::vector<int64_t>> read_prompts_file(const std::string& path) {
  std::ifstream in(path);
  MLA_ENSURE(in.good(), kNotFound, "--prompts-file: cannot open ", path);
  std::vector<std::vector<int64_t>> prompts;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::kInvalidArgument, where, ": not valid JSON (", e.what(), ")");
    }
    MLA_ENSURE(j.is_object() && j.contains("prompt_ids") && j["prompt_ids"].is_array(),
               kInvalidArgument, where, ": expected an object with a \"prompt_ids\" array");
    std::vector<int64_t> ids;
    for (const auto& v : j["prompt_ids"]) {
      MLA_ENSURE(v.is_number_integer(), kInvalidArgument, where,
                 ": prompt_ids must hold integers, found ", v.dump());
      ids.push_back(v.get<int64_t>());
    }
    MLA_ENSURE(!ids.empty(), kInvalidArgument, where, ": prompt_ids is empty");
    prompts.push_back(std::move(ids));
  }
  MLA_ENSURE(!prompts.empty(), kInvalidArgument, "--prompts-file ", path, " holds no prompts");
  return prompts;
}

// A float32 [rows, cols] .npy file (format 1.0).
void write_npy(const std::filesystem::path& path, const std::vector<std::vector<float>>& rows,
               int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows.size()) + ", " + std::to_string(cols) + "), }";
  const size_t unpadded = 10 + header.size() + 1;  // magic + version + length, header, '\n'
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  MLA_ENSURE(out.good(), kInvalidArgument, "--dump-logits: cannot write ", path.string());
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  for (const auto& row : rows)
    out.write(reinterpret_cast<const char*>(row.data()),
              static_cast<std::streamsize>(row.size() * sizeof(float)));
  MLA_ENSURE(out.good(), kInvalidArgument, "--dump-logits: failed writing ", path.string());
}

}  // namespace

void add_generate_job_options(CLI::App& app, GenerateFlags& f) {
  CLI::App* cmd = &app;
  cmd->add_option("--model", f.model, "Checkpoint directory (config.json + safetensors)")
      ->required();
  auto* ids = cmd->add_option("--prompt-ids", f.prompt_ids, "Comma-separated token ids");
  auto* file = cmd->add_option("--prompts-file", f.prompts_file,
                               "JSONL, one {\"prompt_ids\": [...]} per line; all submitted at once");
  ids->excludes(file);
  cmd->add_option("--max-new-tokens", f.max_new_tokens, "Tokens to generate per prompt")
      ->capture_default_str();
  cmd->add_option("--temperature", f.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", f.top_k, "0 = no limit")->capture_default_str();
  cmd->add_option("--top-p", f.top_p, "Nucleus sampling mass")->capture_default_str();
  cmd->add_option("--seed", f.seed, "Sampling seed; prompt i of a file samples with seed + i")
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", f.ignore_eos, "Do not stop at the eos token");
  cmd->add_option("--top-logprobs", f.top_logprobs, "Report the K most likely tokens per step")
      ->capture_default_str();
  cmd->add_option("--dump-logits", f.dump_logits,
                  "Write DIR/<index>.npy: float32 [steps, vocab] logits that chose each token");
  cmd->add_flag("--json", f.json, "One JSON line per prompt");
  cmd->add_option("--dtype", f.dtype, "Activations and KV cache: float32 or bfloat16")
      ->capture_default_str();
  add_engine_options(*cmd, f.engine);
}

GenerateOptions generate_job_options(const GenerateFlags& f) {
  return engine_options(f.engine, generate_job_dtype(f));
}

std::vector<std::string> generate_job_args(const GenerateFlags& f) {
  // Every option, even at its default: the worker must not depend on defaults matching.
  std::vector<std::string> a = {"--model", f.model};
  if (!f.prompt_ids.empty()) a.insert(a.end(), {"--prompt-ids", f.prompt_ids});
  if (!f.prompts_file.empty()) a.insert(a.end(), {"--prompts-file", f.prompts_file});
  auto number = [](auto v) {
    std::ostringstream s;
    s.precision(17);  // doubles survive the round trip exactly
    s << v;
    return s.str();
  };
  a.insert(a.end(), {"--max-new-tokens", number(f.max_new_tokens), "--temperature",
                     number(f.temperature), "--top-k", number(f.top_k), "--top-p",
                     number(f.top_p), "--seed", number(f.seed), "--top-logprobs",
                     number(f.top_logprobs), "--dtype", f.dtype});
  if (f.ignore_eos) a.push_back("--ignore-eos");
  if (!f.dump_logits.empty()) a.insert(a.end(), {"--dump-logits", f.dump_logits});
  if (f.json) a.push_back("--json");
  const std::vector<std::string> engine = engine_args(f.engine);
  a.insert(a.end(), engine.begin(), engine.end());
  return a;
}

DType generate_job_dtype(const GenerateFlags& f) {
  const DType dtype = parse_dtype(f.dtype);
  MLA_ENSURE(dtype == DType::kF32 || dtype == DType::kBF16, kInvalidArgument,
             "--dtype must be float32 or bfloat16, got ", f.dtype);
  return dtype;
}

std::vector<GenerationRequest> generate_job_requests(const GenerateFlags& f) {
  MLA_ENSURE(f.prompt_ids.empty() != f.prompts_file.empty(), kInvalidArgument,
             "give exactly one of --prompt-ids and --prompts-file");
  std::vector<std::vector<int64_t>> prompts =
      f.prompts_file.empty() ? std::vector<std::vector<int64_t>>{parse_id_list(f.prompt_ids)}
                             : read_prompts_file(f.prompts_file);
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt = std::move(prompts[i]);
    r.max_new_tokens = f.max_new_tokens;
    // Prompt i samples with seed S + i: distinct streams for the prompts of one file, and the
    // same tokens as `mlaserve client --seed S` sends for prompt i (docs/engine.md).
    r.sampling = {f.temperature, f.top_k, f.top_p, f.seed + i};
    r.ignore_eos = f.ignore_eos;
    r.top_logprobs = f.top_logprobs;
    r.keep_logits = !f.dump_logits.empty();
    requests.push_back(std::move(r));
  }
  return requests;
}

int run_generate_job(const GenerateFlags& f, const DeepseekV2Model& model,
                     StepExecutor& executor, uint64_t* cache_checksum) {
  const std::vector<GenerationRequest> requests = generate_job_requests(f);
  const GenerationRun run = generate(model, requests, generate_job_options(f), executor);
  if (cache_checksum) *cache_checksum = run.cache_checksum;
  const EngineStats& st = run.stats;
  std::fprintf(stderr,
               "engine: %lld cache blocks of %lld tokens, %llu steps, %llu preemptions, prefix "
               "cache hits %llu/%llu blocks\n",
               static_cast<long long>(run.num_blocks), static_cast<long long>(f.engine.block_size),
               static_cast<unsigned long long>(st.steps),
               static_cast<unsigned long long>(st.preemptions),
               static_cast<unsigned long long>(st.blocks.prefix_hits),
               static_cast<unsigned long long>(st.blocks.prefix_queries));
  const std::vector<GenerationResult>& results = run.results;
  int rc = 0;
  for (size_t i = 0; i < results.size(); ++i)
    if (results[i].finish_reason == "error") {
      std::fprintf(stderr, "error: %s\n", results[i].error.c_str());
      rc = 2;  // the budget the user gave cannot hold this request
    }
  if (!f.dump_logits.empty()) {
    std::filesystem::create_directories(f.dump_logits);
    for (size_t i = 0; i < results.size(); ++i)
      write_npy(std::filesystem::path(f.dump_logits) / (std::to_string(i) + ".npy"),
                results[i].logits, model.config().vocab_size);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const GenerationResult& r = results[i];
    if (f.json) {
      nlohmann::json line = {{"index", i},
                             {"prompt_ids", requests[i].prompt},
                             {"tokens", r.tokens},
                             {"finish_reason", r.finish_reason}};
      nlohmann::json logprobs = nlohmann::json::array();
      for (const auto& step : r.top_logprobs) {
        nlohmann::json entries = nlohmann::json::array();
        for (const auto& [id, lp] : step) entries.push_back({id, lp});
        logprobs.push_back(entries);
      }
      line["top_logprobs"] = logprobs;
      std::printf("%s\n", line.dump().c_str());
    } else {
      std::string tokens;
      for (int64_t t : r.tokens) tokens += (tokens.empty() ? "" : ",") + std::to_string(t);
      std::printf("[%zu] %s (%s)\n", i, tokens.c_str(), r.finish_reason.c_str());
    }
  }
  return rc;
}


}  // namespace mlaserve
