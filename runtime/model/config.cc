#include "runtime/model/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using nlohmann::json;

// Reads typed fields out of one JSON object and names `source` and the field in every error.
// Defaults are the ones of HF's DeepseekV2Config where it has a sensible one.
class Fields {
 public:
  Fields(const json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  [[noreturn]] void bad(std::string_view field, const std::string& what) const {
    fail(ErrorCode::kInvalidArgument, source_, ": field '", prefix_, field, "' ", what);
  }
  // Present and not null.
  bool has(std::string_view field) const {
    auto it = object_.find(std::string(field));
    return it != object_.end() && !it->is_null();
  }
  const json& get(std::string_view field) const {
    if (!has(field)) bad(field, "is required but missing or null");
    return *object_.find(std::string(field));
  }

  int64_t integer(std::string_view field) const {
    const json& v = get(field);
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some exporters write integral values as 16.0.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    bad(field, "must be an integer, got " + v.dump());
  }
  int64_t integer(std::string_view field, int64_t fallback) const {
    return has(field) ? integer(field) : fallback;
  }
  std::optional<int64_t> nullable_integer(std::string_view field) const {
    if (!object_.contains(std::string(field))) bad(field, "is required but missing (use null for none)");
    return has(field) ? std::optional<int64_t>(integer(field)) : std::nullopt;
  }
  double number(std::string_view field) const {
    const json& v = get(field);
    if (!v.is_number()) bad(field, "must be a number, got " + v.dump());
    const double d = v.get<double>();
    if (!std::isfinite(d)) bad(field, "must be finite");
    return d;
  }
  double number(std::string_view field, double fallback) const {
    return has(field) ? number(field) : fallback;
  }
  bool boolean(std::string_view field, bool fallback) const {
    if (!has(field)) return fallback;
    const json& v = get(field);
    if (!v.is_boolean()) bad(field, "must be true or false, got " + v.dump());
    return v.get<bool>();
  }
  std::string string(std::string_view field, std::string fallback) const {
    if (!has(field)) return fallback;
    const json& v = get(field);
    if (!v.is_string()) bad(field, "must be a string, got " + v.dump());
    return v.get<std::string>();
  }

 private:
  const json& object_;
  std::string source_;
  std::string prefix_;
};

// Upper bounds far above any real model keep every parameter count within int64 and stop an
// absurd config from allocating the world.
constexpr int64_t kMaxSize = int64_t{1} << 18;
constexpr int64_t kMaxCount = 1024;  // layers, experts
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxPositions = int64_t{1} << 30;

void check_positive(const Fields& f, std::string_view field, int64_t value, int64_t max = kMaxSize) {
  if (value <= 0 || value > max) f.bad(field, str_cat("(", value, ") must be in [1, ", max, "]"));
}

YarnScaling parse_rope_scaling(const json& value, const std::string& source) {
  Fields top(value, source);
  if (!value.is_object()) top.bad("rope_scaling", "must be null or an object, got " + value.dump());
  Fields f(value, source, "rope_scaling.");
  // HF wrote "type" first and later renamed it "rope_type"; checkpoints carry either.
  const char* type_key = f.has("type") ? "type" : "rope_type";
  const std::string type = f.string(type_key, "");
  if (type.empty()) f.bad("type", "is required but missing");
  if (type == "linear" || type == "dynamic")
    fail(ErrorCode::kUnimplemented, source, ": field 'rope_scaling.", type_key, "' \"", type,
         "\" is not supported (only \"yarn\")");
  if (type != "yarn") f.bad(type_key, "\"" + type + "\" is unknown (supported: \"yarn\")");

  YarnScaling y;
  y.factor = f.number("factor");
  y.original_max_position_embeddings = f.integer("original_max_position_embeddings", 4096);
  y.beta_fast = f.number("beta_fast", y.beta_fast);
  y.beta_slow = f.number("beta_slow", y.beta_slow);
  y.mscale = f.number("mscale", y.mscale);
  y.mscale_all_dim = f.number("mscale_all_dim", y.mscale_all_dim);

  if (y.factor < 1) f.bad("factor", str_cat("(", y.factor, ") must be >= 1"));
  check_positive(f, "original_max_position_embeddings", y.original_max_position_embeddings, kMaxPositions);
  if (y.beta_slow <= 0) f.bad("beta_slow", str_cat("(", y.beta_slow, ") must be positive"));
  if (y.beta_fast <= y.beta_slow)
    f.bad("beta_fast", str_cat("(", y.beta_fast, ") must exceed beta_slow (", y.beta_slow, ")"));
  if (y.mscale < 0) f.bad("mscale", str_cat("(", y.mscale, ") must be >= 0"));
  if (y.mscale_all_dim < 0)
    f.bad("mscale_all_dim", str_cat("(", y.mscale_all_dim, ") must be >= 0"));
  return y;
}

void validate(const ModelConfig& c, const Fields& f) {
  check_positive(f, "vocab_size", c.vocab_size);
  check_positive(f, "hidden_size", c.hidden_size);
  check_positive(f, "intermediate_size", c.intermediate_size);
  check_positive(f, "num_hidden_layers", c.num_hidden_layers, kMaxCount);
  check_positive(f, "num_attention_heads", c.num_attention_heads, kMaxHeads);
  check_positive(f, "kv_lora_rank", c.kv_lora_rank);
  check_positive(f, "qk_nope_head_dim", c.qk_nope_head_dim);
  check_positive(f, "qk_rope_head_dim", c.qk_rope_head_dim);
  check_positive(f, "v_head_dim", c.v_head_dim);
  check_positive(f, "max_position_embeddings", c.max_position_embeddings, kMaxPositions);
  if (c.q_lora_rank) check_positive(f, "q_lora_rank", *c.q_lora_rank);
  // RoPE rotates pairs of values.
  if (c.qk_rope_head_dim % 2 != 0)
    f.bad("qk_rope_head_dim", str_cat("(", c.qk_rope_head_dim, ") must be even"));
  if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers)
    f.bad("first_k_dense_replace", str_cat("(", c.first_k_dense_replace,
                                           ") must be in [0, num_hidden_layers (",
                                           c.num_hidden_layers, ")]"));
  check_positive(f, "moe_layer_freq", c.moe_layer_freq, kMaxCount);
  if (!(c.rms_norm_eps > 0)) f.bad("rms_norm_eps", str_cat("(", c.rms_norm_eps, ") must be positive"));
  // θ_i = base^(-2i/d) must decay, and YaRN divides by ln(base).
  if (!(c.rope_theta > 1)) f.bad("rope_theta", str_cat("(", c.rope_theta, ") must exceed 1"));
  for (auto [field, id] : {std::pair{"bos_token_id", c.bos_token_id}, {"eos_token_id", c.eos_token_id}})
    if (id < 0 || id >= c.vocab_size)
      f.bad(field, str_cat("(", id, ") must be in [0, vocab_size (", c.vocab_size, "))"));

  if (c.n_routed_experts < 0 || c.n_routed_experts > kMaxCount)
    f.bad("n_routed_experts", str_cat("(", c.n_routed_experts, ") must be in [0, ", kMaxCount, "]"));
  if (c.n_routed_experts == 0) return;  // a dense model: the MoE fields are unused
  check_positive(f, "moe_intermediate_size", c.moe_intermediate_size);
  if (c.n_shared_experts < 0 || c.n_shared_experts > kMaxCount)
    f.bad("n_shared_experts", str_cat("(", c.n_shared_experts, ") must be in [0, ", kMaxCount, "]"));
  if (c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.n_routed_experts)
    f.bad("num_experts_per_tok", str_cat("(", c.num_experts_per_tok,
                                         ") must be in [1, n_routed_experts (", c.n_routed_experts,
                                         ")]"));
  check_positive(f, "n_group", c.n_group, kMaxCount);
  if (c.n_routed_experts % c.n_group != 0)
    f.bad("n_group", str_cat("(", c.n_group, ") must divide n_routed_experts (",
                             c.n_routed_experts, ")"));
  if (c.topk_group <= 0 || c.topk_group > c.n_group)
    f.bad("topk_group", str_cat("(", c.topk_group, ") must be in [1, n_group (", c.n_group, ")]"));
  if (c.topk_method == TopkMethod::kGroupLimitedGreedy) {
    const int64_t reachable = c.topk_group * (c.n_routed_experts / c.n_group);
    if (c.num_experts_per_tok > reachable)
      f.bad("num_experts_per_tok",
            str_cat("(", c.num_experts_per_tok, ") exceeds the ", reachable,
                    " experts in topk_group (", c.topk_group, ") groups of ",
                    c.n_routed_experts / c.n_group));
  }
  if (!(c.routed_scaling_factor > 0))
    f.bad("routed_scaling_factor", str_cat("(", c.routed_scaling_factor, ") must be positive"));
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  if (factor <= 1 || mscale == 0) return 1.0;
  return 0.1 * mscale * std::log(factor) + 1.0;
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
  return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
}

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (rope_scaling) {
    const double m = yarn_mscale(rope_scaling->factor, rope_scaling->mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

ModelConfig parse_model_config(const json& j, std::string_view source_view) {
  const std::string source(source_view);
  if (!j.is_object()) fail(ErrorCode::kInvalidArgument, source, ": config must be a JSON object");
  Fields f(j, source);

  ModelConfig c;
  c.vocab_size = f.integer("vocab_size");
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_hidden_layers = f.integer("num_hidden_layers");
  c.num_attention_heads = f.integer("num_attention_heads");
  c.q_lora_rank = f.nullable_integer("q_lora_rank");
  c.kv_lora_rank = f.integer("kv_lora_rank");
  c.qk_nope_head_dim = f.integer("qk_nope_head_dim");
  c.qk_rope_head_dim = f.integer("qk_rope_head_dim");
  c.v_head_dim = f.integer("v_head_dim");
  c.max_position_embeddings = f.integer("max_position_embeddings", 2048);

  // HF: n_routed_experts null means a dense model; then the other MoE fields may be absent.
  c.n_routed_experts = f.integer("n_routed_experts", 0);
  const bool moe = c.n_routed_experts != 0;
  c.moe_intermediate_size = moe ? f.integer("moe_intermediate_size") : f.integer("moe_intermediate_size", 0);
  c.num_experts_per_tok = moe ? f.integer("num_experts_per_tok") : f.integer("num_experts_per_tok", 0);
  c.n_shared_experts = f.integer("n_shared_experts", 0);
  c.first_k_dense_replace = f.integer("first_k_dense_replace", 0);
  c.moe_layer_freq = f.integer("moe_layer_freq", 1);
  c.n_group = f.integer("n_group", 1);
  c.topk_group = f.integer("topk_group", 1);
  const std::string topk = f.string("topk_method", "greedy");
  if (topk == "greedy" || topk == "gready") {  // "gready": HF's default spelling
    c.topk_method = TopkMethod::kGreedy;
  } else if (topk == "group_limited_greedy") {
    c.topk_method = TopkMethod::kGroupLimitedGreedy;
  } else {
    f.bad("topk_method", "\"" + topk + "\" is unknown (supported: \"greedy\", \"group_limited_greedy\")");
  }
  c.routed_scaling_factor = f.number("routed_scaling_factor", 1.0);
  c.norm_topk_prob = f.boolean("norm_topk_prob", false);

  // Variants we do not implement must fail loudly rather than run the wrong maths.
  if (const auto s = f.string("scoring_func", "softmax"); s != "softmax")
    f.bad("scoring_func", "\"" + s + "\" is not supported (only \"softmax\")");
  if (const auto s = f.string("hidden_act", "silu"); s != "silu")
    f.bad("hidden_act", "\"" + s + "\" is not supported (only \"silu\")");
  if (f.boolean("attention_bias", false)) f.bad("attention_bias", "true is not supported");

  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  if (f.has("rope_scaling")) c.rope_scaling = parse_rope_scaling(j.at("rope_scaling"), source);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.bos_token_id = f.integer("bos_token_id", 100000);
  if (f.has("eos_token_id") && j.at("eos_token_id").is_array()) {
    // Newer configs list several stop ids; the first is the canonical one.
    const json& ids = j.at("eos_token_id");
    if (ids.empty() || !ids.front().is_number_integer())
      f.bad("eos_token_id", "must be an integer or a non-empty list of integers, got " + ids.dump());
    c.eos_token_id = ids.front().get<int64_t>();
  } else {
    c.eos_token_id = f.integer("eos_token_id", 100001);
  }

  validate(c, f);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(file)) file /= "config.json";
  std::ifstream in(file);
  MLA_ENSURE(in.good(), kNotFound, file.string(), ": cannot open model config");
  std::stringstream text;
  text << in.rdbuf();
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::parse_error& e) {
    fail(ErrorCode::kInvalidArgument, file.string(), ": not valid JSON: ", e.what());
  }
  return parse_model_config(j, file.string());
}

std::string model_config_to_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"DeepseekV2ForCausalLM"};
  j["model_type"] = "deepseek_v2";
  j["torch_dtype"] = "bfloat16";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_attention_heads;  // HF keeps it; MLA does not use it
  j["n_shared_experts"] = c.n_shared_experts;
  j["n_routed_experts"] = c.n_routed_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["first_k_dense_replace"] = c.first_k_dense_replace;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["q_lora_rank"] = c.q_lora_rank ? nlohmann::ordered_json(*c.q_lora_rank) : nullptr;
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["topk_method"] =
      c.topk_method == TopkMethod::kGroupLimitedGreedy ? "group_limited_greedy" : "greedy";
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["scoring_func"] = "softmax";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling) {
    const YarnScaling& y = *c.rope_scaling;
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", y.factor},
                         {"original_max_position_embeddings", y.original_max_position_embeddings},
                         {"beta_fast", y.beta_fast},
                         {"beta_slow", y.beta_slow},
                         {"mscale", y.mscale},
                         {"mscale_all_dim", y.mscale_all_dim}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  return j.dump(2) + "\n";
}

}  // namespace mlaserve
