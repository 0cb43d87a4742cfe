// `mlaserve inspect`: sizes of a model (from its config) and, for a checkpoint directory, whether
// its tensors match the config. Exit code 2 when they do not.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "CLI/CLI.hpp"
#include "launcher/commands/commands.h"
#include "launcher/exit_code.h"
#include "runtime/model/checkpoint_layout.h"
#include "runtime/model/model_stats.h"
#include "runtime/model/safetensors.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return n < 0 ? "-" + digits : digits;
}

std::string human(double n, const char* unit = "") {
  const char* suffix[] = {"", " K", " M", " G", " T"};
  int i = 0;
  while (n >= 1000 && i < 4) n /= 1000, ++i;
  char buf[48];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f%s%s" : "%.2f%s%s", n, suffix[i], unit);
  return buf;
}

std::string architecture(const ModelConfig& c) {
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) moe_layers += c.is_moe_layer(l);
  std::string s = str_cat(c.num_hidden_layers, " layers (", c.num_hidden_layers - moe_layers,
                          " dense, ", moe_layers, " MoE), hidden ", c.hidden_size, ", vocab ",
                          c.vocab_size, "\nattention:    MLA, ", c.num_attention_heads,
                          " heads, q_lora ",
                          c.q_lora_rank ? std::to_string(*c.q_lora_rank) : std::string("none"),
                          ", kv_lora ", c.kv_lora_rank, ", head dims nope ", c.qk_nope_head_dim,
                          " rope ", c.qk_rope_head_dim, " v ", c.v_head_dim, ", rope ");
  s += c.rope_scaling ? str_cat("YaRN x", c.rope_scaling->factor, " over ",
                                c.rope_scaling->original_max_position_embeddings)
                      : std::string("plain");
  s += str_cat(", softmax scale ", c.softmax_scale());
  if (moe_layers > 0)
    s += str_cat("\nexperts:      ", c.n_routed_experts, " routed (top-", c.num_experts_per_tok,
                 c.topk_method == TopkMethod::kGroupLimitedGreedy
                     ? str_cat(", ", c.n_group, " groups, keep ", c.topk_group)
                     : std::string(", greedy"),
                 ") + ", c.n_shared_experts, " shared, width ", c.moe_intermediate_size);
  return s;
}

nlohmann::ordered_json stats_json(const ModelStats& s) {
  nlohmann::ordered_json j;
  j["total_params"] = s.total_params;
  j["activated_params"] = s.activated_params;
  for (int g = 0; g < kNumTensorGroups; ++g)
    j["groups"][std::string(tensor_group_name(static_cast<TensorGroup>(g)))] = {
        {"params", s.params_by_group[g]},
        {"bytes_bf16", s.params_by_group[g] * 2},
        {"activated_params", s.activated_by_group[g]}};
  for (DType d : {DType::kBF16, DType::kF32}) {
    j["kv_cache_bytes_per_token"]["latent"][std::string(dtype_name(d))] = s.latent_kv_bytes_per_token(d);
    j["kv_cache_bytes_per_token"]["mha"][std::string(dtype_name(d))] = s.mha_kv_bytes_per_token(d);
  }
  return j;
}

void print_stats(const ModelConfig& c, const ModelStats& s) {
  std::printf("architecture: %s\n\n", architecture(c).c_str());
  std::printf("%-16s %18s %12s %18s\n", "tensor group", "parameters", "bf16 bytes", "activated/token");
  for (int g = 0; g < kNumTensorGroups; ++g) {
    if (s.params_by_group[g] == 0) continue;
    std::printf("%-16s %18s %12s %18s\n",
                std::string(tensor_group_name(static_cast<TensorGroup>(g))).c_str(),
                with_commas(s.params_by_group[g]).c_str(), human(2.0 * s.params_by_group[g], "B").c_str(),
                with_commas(s.activated_by_group[g]).c_str());
  }
  std::printf("%-16s %18s %12s %18s\n", "total", with_commas(s.total_params).c_str(),
              human(2.0 * s.total_params, "B").c_str(), with_commas(s.activated_params).c_str());
  std::printf("\nparameters:   %s total, %s activated per token (%.1f%%; embedding table counted once)\n",
              human(static_cast<double>(s.total_params)).c_str(),
              human(static_cast<double>(s.activated_params)).c_str(),
              100.0 * s.activated_params / s.total_params);
  std::printf("\nKV cache per token, all %lld layers:\n", static_cast<long long>(c.num_hidden_layers));
  std::printf("  MLA latent (%lld values/layer): bf16 %s B, f32 %s B\n",
              static_cast<long long>(c.latent_dim()),
              with_commas(s.latent_kv_bytes_per_token(DType::kBF16)).c_str(),
              with_commas(s.latent_kv_bytes_per_token(DType::kF32)).c_str());
  std::printf("  standard MHA (K+V, %lld heads):  bf16 %s B, f32 %s B\n",
              static_cast<long long>(c.num_attention_heads),
              with_commas(s.mha_kv_bytes_per_token(DType::kBF16)).c_str(),
              with_commas(s.mha_kv_bytes_per_token(DType::kF32)).c_str());
  std::printf("  MLA caches %.2f%% of what MHA would (%.1fx less)\n",
              100.0 * s.latent_kv_values_per_token / s.mha_kv_values_per_token,
              static_cast<double>(s.mha_kv_values_per_token) / s.latent_kv_values_per_token);
}

int run_inspect(const std::string& model, bool as_json) {
  const ModelConfig config = load_model_config(model);
  const ModelStats stats = compute_model_stats(config);
  nlohmann::ordered_json j;
  j["model"] = model;
  j["stats"] = stats_json(stats);
  if (!as_json) {
    std::printf("model:        %s\n", model.c_str());
    print_stats(config, stats);
  }
  int rc = kExitOk;
  if (fs::is_directory(model)) {
    const Checkpoint checkpoint = Checkpoint::open(model);
    const CheckpointReport report = validate_checkpoint(checkpoint, config);
    rc = report.ok() ? kExitOk : kExitBadInput;
    j["checkpoint"] = {{"path", model},
                       {"tensors", checkpoint.tensor_names().size()},
                       {"valid", report.ok()},
                       {"missing", report.missing},
                       {"unexpected", report.unexpected},
                       {"bad_shape", report.bad_shape},
                       {"bad_dtype", report.bad_dtype}};
    if (!as_json)
      std::printf("\ncheckpoint:   %zu tensors: %s%s", checkpoint.tensor_names().size(),
                  report.ok() ? "" : "INVALID\n", report.summary().c_str());
    if (!as_json && report.ok()) std::printf(" (names, shapes and dtypes match the config)\n");
  }
  if (as_json) std::printf("%s\n", j.dump(2).c_str());
  return rc;
}

}  // namespace

void add_inspect_command(CLI::App& app, std::function<int()>& action) {
  struct Options {
    std::string model;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Print a model's sizes and KV-cache footprint; validate a checkpoint directory");
  cmd->add_option("--model", opts->model, "Checkpoint directory, or a config.json")->required();
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->callback([opts, &action] { action = [opts] { return run_inspect(opts->model, opts->json); }; });
}

}  // namespace mlaserve
