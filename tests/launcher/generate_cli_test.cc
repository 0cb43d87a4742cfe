// Runs the real `mlaserve generate` binary on the reference checkpoints: greedy tokens must equal
// DeepSeek's, a prompts file runs as one batch with the same results, logits dumps hold the
// reference rows, and bad input exits with code 2 and a message naming what is wrong.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/launcher/cli_output.h"

namespace {

using mlaserve::testing::test_data;
using mlaserve::testing::json_lines;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

RunResult run(const std::string& args) {
  const std::string cmd = std::string(MLASERVE_BINARY) + " " + args + " 2>&1";
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

nlohmann::json cases(const std::string& model) {
  std::ifstream in(test_data(model) + "/cases.json");
  return nlohmann::json::parse(in);
}

std::string join(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mlaserve_generate_cli_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(GenerateCli, GreedyTokensMatchReference) {
  for (const std::string model : {"tiny-v2", "tiny-lite"}) {
    const auto c = cases(model)["cases"][2];
    const auto prompt = c["prompt"].get<std::vector<int64_t>>();
    const RunResult r = run("generate --model " + test_data(model) + " --prompt-ids " + join(prompt) +
                            " --max-new-tokens 16 --ignore-eos --json --top-logprobs 3");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0]["index"], 0);
    EXPECT_EQ(lines[0]["prompt_ids"].get<std::vector<int64_t>>(), prompt);
    EXPECT_EQ(lines[0]["tokens"].get<std::vector<int64_t>>(),
              c["greedy_tokens"].get<std::vector<int64_t>>())
        << model;
    EXPECT_EQ(lines[0]["finish_reason"], "length");
    ASSERT_EQ(lines[0]["top_logprobs"].size(), 16u);
    // The most likely token of each step is the greedy choice, with a logprob <= 0.
    for (size_t i = 0; i < 16; ++i) {
      const auto& top = lines[0]["top_logprobs"][i];
      ASSERT_EQ(top.size(), 3u);
      EXPECT_EQ(top[0][0].get<int64_t>(), c["greedy_tokens"][i].get<int64_t>());
      EXPECT_LE(top[0][1].get<double>(), 0.0);
      EXPECT_GE(top[0][1].get<double>(), top[1][1].get<double>());
    }
  }
}

TEST(GenerateCli, PromptsFileRunsAsOneBatchAndDumpsLogits) {
  const auto all = cases("tiny-v2");
  const auto dir = temp_dir("batch");
  {
    std::ofstream f(dir / "prompts.jsonl");
    for (int i : {1, 4, 0}) f << nlohmann::json{{"prompt_ids", all["cases"][i]["prompt"]}}.dump() << "\n";
  }
  const RunResult r = run("generate --model " + test_data("tiny-v2") + " --prompts-file " +
                          (dir / "prompts.jsonl").string() + " --max-new-tokens 16 --ignore-eos" +
                          " --json --dump-logits " + (dir / "logits").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  const int ids[] = {1, 4, 0};
  for (int k = 0; k < 3; ++k) {
    const auto& c = all["cases"][ids[k]];
    EXPECT_EQ(lines[k]["index"], k);
    EXPECT_EQ(lines[k]["tokens"].get<std::vector<int64_t>>(),
              c["greedy_tokens"].get<std::vector<int64_t>>());
    // <k>.npy: float32 [16, vocab]; row 0 is the prefill's last row, row i the decode row i-1.
    std::ifstream npy(dir / "logits" / (std::to_string(k) + ".npy"), std::ios::binary);
    ASSERT_TRUE(npy.good());
    std::string bytes((std::istreambuf_iterator<char>(npy)), std::istreambuf_iterator<char>());
    ASSERT_EQ(bytes.substr(0, 6), "\x93NUMPY");
    const size_t header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    EXPECT_NE(bytes.find("'shape': (16, 384)"), std::string::npos);
    ASSERT_EQ(bytes.size(), 10 + header_len + 16 * 384 * sizeof(float));
    const float* rows = reinterpret_cast<const float*>(bytes.data() + 10 + header_len);
    const auto check_row = [&](const float* got, const nlohmann::json& want) {
      double diff = 0, scale = 0;
      for (size_t j = 0; j < 384; ++j) {
        diff = std::max(diff, std::fabs(got[j] - want[j].get<double>()));
        scale = std::max(scale, std::fabs(want[j].get<double>()));
      }
      EXPECT_LE(diff / scale, 1e-4);
    };
    check_row(rows, c["prefill_logits"]);
    for (size_t i = 1; i < 16; ++i) check_row(rows + i * 384, c["decode_logits"][i - 1]);
  }
  std::filesystem::remove_all(dir);
}

TEST(GenerateCli, SamplingIsSeededPerRequest) {
  const std::string base = "generate --model " + test_data("tiny-lite") +
                           " --max-new-tokens 12 --ignore-eos --json --temperature 1.0 --top-k 50" +
                           " --top-p 0.9 --seed 7 ";
  const auto dir = temp_dir("seed");
  {
    std::ofstream f(dir / "two.jsonl");
    f << "{\"prompt_ids\": [5, 6, 7]}\n{\"prompt_ids\": [9, 10]}\n";
  }
  const RunResult a = run(base + "--prompt-ids 5,6,7");
  const RunResult b = run(base + "--prompt-ids 5,6,7");
  const RunResult batch = run(base + "--prompts-file " + (dir / "two.jsonl").string());
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(batch.exit_code, 0) << batch.out;
  const auto ta = json_lines(a.out)[0]["tokens"], tb = json_lines(b.out)[0]["tokens"];
  EXPECT_EQ(ta, tb);  // same seed, same tokens
  EXPECT_EQ(json_lines(batch.out)[0]["tokens"], ta);  // request 0 unaffected by its batch mate
  const RunResult other = run("generate --model " + test_data("tiny-lite") +
                              " --max-new-tokens 12 --ignore-eos --json --temperature 1.0" +
                              " --top-k 50 --top-p 0.9 --seed 8 --prompt-ids 5,6,7");
  EXPECT_NE(json_lines(other.out)[0]["tokens"], ta);
  std::filesystem::remove_all(dir);
}

TEST(GenerateCli, BadInputExitsWithCode2) {
  const std::string model = " --model " + test_data("tiny-lite");
  const auto dir = temp_dir("bad");
  {
    std::ofstream(dir / "bad.jsonl") << "{\"prompt_ids\": [5, 6]}\n{\"prompt_ids\": [5, \"x\"]}\n";
    std::ofstream(dir / "notjson.jsonl") << "{\"prompt_ids\": [5]}\n\nnot json\n";
  }
  struct Case {
    std::string args, needle;
  };
  const std::vector<Case> bad = {
      {"--prompt-ids 5,256 --max-new-tokens 2", "vocabulary"},
      {"--prompt-ids 5,-3 --max-new-tokens 2", "vocabulary"},
      {"--prompt-ids '' --max-new-tokens 2", "prompt-ids"},
      {"--prompt-ids 5,x --max-new-tokens 2", "'x'"},
      {"--prompt-ids 5,6 --max-new-tokens 511", "max_position_embeddings"},
      {"--prompts-file " + (dir / "bad.jsonl").string(), "bad.jsonl:2"},
      {"--prompts-file " + (dir / "notjson.jsonl").string(), "notjson.jsonl:3"},
      {"--prompts-file " + (dir / "missing.jsonl").string(), "missing.jsonl"},
      {"--prompt-ids 5 --top-p 0", "top_p"},
      {"--prompt-ids 5 --dtype float16", "dtype"},
      {"--prompt-ids 5 --max-num-seqs 0", "--max-num-seqs"},
      {"--prompt-ids 5 --max-num-batched-tokens 0", "--max-num-batched-tokens"},
      {"--prompt-ids 5 --block-size 0", "--block-size"},
      {"--prompt-ids 5 --kv-cache-memory 12X", "--kv-cache-memory"},
      {"--prompt-ids 5 --kv-cache-memory 100", "--kv-cache-memory"},  // not one block
      {"--prompt-ids 5 --kv-cache-fraction 2", "--kv-cache-fraction"},
      // Fits no cache of 1 block of 64: the request ends with an error, the command exits 2.
      {"--prompt-ids 5 --max-new-tokens 100 --kv-cache-memory 20480", "cache blocks"},
  };
  for (const auto& b : bad) {
    const RunResult r = run("generate" + model + " " + b.args);
    EXPECT_EQ(r.exit_code, 2) << b.args << "\n" << r.out;
    EXPECT_NE(r.out.find(b.needle), std::string::npos) << b.args << "\n" << r.out;
  }
  const RunResult no_model = run("generate --model " + (dir / "nowhere").string() + " --prompt-ids 5");
  EXPECT_EQ(no_model.exit_code, 2) << no_model.out;
  std::filesystem::remove_all(dir);
}

// tiny-lite: (kv_lora_rank 32 + rope 8) x 4 bytes x 2 layers = 320 bytes per token in f32.
TEST(BenchThroughputCli, ReportsThroughputStepShareCacheBytesAndPeakMemory) {
  const RunResult r = run("bench throughput --model " + test_data("tiny-lite") +
                          " --num-prompts 12 --input-len 20 --output-len 8 --block-size 16");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* needle :
       {"requests/s", "output tokens/s", "decode, 1-16 running", "outside forward",
        "= 320 bytes/token", "allocated 320.0 bytes/token slot (24 blocks",
        "379.3 bytes/token with block rounding (32 slots for 27 cached tokens)", "VmHWM"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << "\n" << r.out;
  const RunResult bad = run("bench throughput --model " + test_data("tiny-lite") + " --input-len 0");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--input-len"), std::string::npos) << bad.out;
}

}  // namespace
