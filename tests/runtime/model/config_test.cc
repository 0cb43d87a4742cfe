#include "runtime/model/config.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

json tiny_v2() { return read_json(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2/config.json"); }

// The message of the error parse_model_config throws for `j` (empty when it does not throw).
std::string parse_error(const json& j, ErrorCode expected_code = ErrorCode::kInvalidArgument) {
  try {
    parse_model_config(j, "configs/x.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected_code) << e.what();
    return e.what();
  }
  return "";
}

TEST(ModelConfig, ParsesTinyV2) {
  const ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-v2");
  EXPECT_EQ(c.vocab_size, 384);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.intermediate_size, 352);
  EXPECT_EQ(c.moe_intermediate_size, 40);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.n_shared_experts, 2);
  EXPECT_EQ(c.n_routed_experts, 16);
  EXPECT_EQ(c.num_experts_per_tok, 4);
  EXPECT_EQ(c.first_k_dense_replace, 1);
  ASSERT_TRUE(c.q_lora_rank.has_value());
  EXPECT_EQ(*c.q_lora_rank, 96);
  EXPECT_EQ(c.kv_lora_rank, 64);
  EXPECT_EQ(c.qk_nope_head_dim, 16);
  EXPECT_EQ(c.qk_rope_head_dim, 16);
  EXPECT_EQ(c.v_head_dim, 24);
  EXPECT_EQ(c.n_group, 4);
  EXPECT_EQ(c.topk_group, 2);
  EXPECT_EQ(c.topk_method, TopkMethod::kGroupLimitedGreedy);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 16.0);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_DOUBLE_EQ(c.rope_scaling->factor, 40.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 64);
  EXPECT_DOUBLE_EQ(c.rope_scaling->beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->beta_slow, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->mscale, 0.707);
  EXPECT_DOUBLE_EQ(c.rope_scaling->mscale_all_dim, 0.707);
  EXPECT_EQ(c.max_position_embeddings, 2560);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 1);
  EXPECT_EQ(c.qk_head_dim(), 32);
  EXPECT_EQ(c.latent_dim(), 80);
}

TEST(ModelConfig, ParsesTinyLiteWithoutQCompressionOrYarn) {
  const ModelConfig c = load_model_config(fs::path(MLASERVE_TEST_DATA_DIR) / "tiny-lite/config.json");
  EXPECT_FALSE(c.q_lora_rank.has_value());
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_EQ(c.topk_method, TopkMethod::kGreedy);
  EXPECT_EQ(c.n_routed_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_NEAR(c.softmax_scale(), 0.20412414523193154, 1e-12);  // 24^-0.5
}

TEST(ModelConfig, ShippedConfigsParse) {
  const fs::path dir = fs::path(MLASERVE_SOURCE_DIR) / "configs/models";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_NO_THROW(load_model_config(entry.path())) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 4);
}

TEST(ModelConfig, DeepSeekV2Values) {
  const ModelConfig c = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models/deepseek-v2-236b.json");
  EXPECT_EQ(c.vocab_size, 102400);
  EXPECT_EQ(c.hidden_size, 5120);
  EXPECT_EQ(c.num_hidden_layers, 60);
  EXPECT_EQ(c.num_attention_heads, 128);
  EXPECT_EQ(c.n_routed_experts, 160);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 3);
  EXPECT_EQ(c.latent_dim(), 576);  // DESIGN.md: 576 cached values per token and layer
  // 192^-0.5 · (0.1·0.707·ln 40 + 1)², worked out by hand.
  EXPECT_NEAR(c.softmax_scale(), 0.11472138679292612, 1e-12);
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_TRUE(c.is_moe_layer(59));

  const ModelConfig lite = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models/deepseek-v2-lite.json");
  EXPECT_FALSE(lite.q_lora_rank.has_value());
  EXPECT_EQ(lite.num_hidden_layers, 27);
  EXPECT_EQ(lite.n_routed_experts, 64);
  EXPECT_EQ(lite.topk_method, TopkMethod::kGreedy);
}

TEST(ModelConfig, SoftmaxScaleUnderYarn) {
  const ModelConfig c = parse_model_config(tiny_v2(), "tiny-v2");
  EXPECT_NEAR(c.softmax_scale(), 0.28100886022713406, 1e-12);  // 32^-0.5 · 1.2608²
  json j = tiny_v2();
  j["rope_scaling"]["mscale_all_dim"] = 0;  // m = 0: no correction
  EXPECT_NEAR(parse_model_config(j, "x").softmax_scale(), 1 / std::sqrt(32.0), 1e-12);
  j["rope_scaling"]["mscale_all_dim"] = 0.707;
  j["rope_scaling"]["factor"] = 1;  // f <= 1: no correction
  EXPECT_NEAR(parse_model_config(j, "x").softmax_scale(), 1 / std::sqrt(32.0), 1e-12);
  EXPECT_DOUBLE_EQ(yarn_mscale(0.5, 1.0), 1.0);
  EXPECT_NEAR(yarn_mscale(4, 0.707), 1.0980110113311763, 1e-12);
}

TEST(ModelConfig, MoeLayerFrequency) {
  json j = tiny_v2();
  j["num_hidden_layers"] = 6;
  j["moe_layer_freq"] = 2;
  const ModelConfig c = parse_model_config(j, "x");
  EXPECT_FALSE(c.is_moe_layer(0));  // dense: below first_k_dense_replace
  EXPECT_FALSE(c.is_moe_layer(1));  // odd
  EXPECT_TRUE(c.is_moe_layer(2));
  EXPECT_FALSE(c.is_moe_layer(3));
  EXPECT_TRUE(c.is_moe_layer(4));
  j["n_routed_experts"] = nullptr;  // a dense model
  const ModelConfig dense = parse_model_config(j, "x");
  EXPECT_EQ(dense.n_routed_experts, 0);
  EXPECT_FALSE(dense.is_moe_layer(2));
}

TEST(ModelConfig, AcceptsSpellingVariants) {
  json j = tiny_v2();
  j["topk_method"] = "gready";
  j["rope_scaling"].erase("type");
  j["rope_scaling"]["rope_type"] = "yarn";
  j["eos_token_id"] = {1, 2};
  j["hidden_size"] = 128.0;
  const ModelConfig c = parse_model_config(j, "x");
  EXPECT_EQ(c.topk_method, TopkMethod::kGreedy);
  EXPECT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.eos_token_id, 1);
  EXPECT_EQ(c.hidden_size, 128);
}

TEST(ModelConfig, MissingOptionalFieldsGetHfDefaults) {
  json j = tiny_v2();
  for (const char* f : {"rms_norm_eps", "rope_theta", "topk_method", "norm_topk_prob", "moe_layer_freq",
                        "routed_scaling_factor", "scoring_func", "hidden_act", "attention_bias",
                        "tie_word_embeddings", "n_shared_experts", "first_k_dense_replace"})
    j.erase(f);
  j["rope_scaling"].erase("original_max_position_embeddings");
  j["rope_scaling"].erase("mscale_all_dim");
  j["n_group"] = nullptr;
  j["topk_group"] = nullptr;
  j["topk_method"] = "greedy";
  const ModelConfig c = parse_model_config(j, "x");
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_EQ(c.moe_layer_freq, 1);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 1.0);
  EXPECT_EQ(c.n_shared_experts, 0);
  EXPECT_EQ(c.first_k_dense_replace, 0);
  EXPECT_EQ(c.n_group, 1);
  EXPECT_EQ(c.topk_group, 1);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rope_scaling->mscale_all_dim, 0.0);
}

TEST(ModelConfig, MissingRequiredFieldsNameTheField) {
  for (const char* f : {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                        "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                        "q_lora_rank", "intermediate_size", "moe_intermediate_size", "num_experts_per_tok"}) {
    json j = tiny_v2();
    j.erase(f);
    const std::string msg = parse_error(j);
    EXPECT_NE(msg.find("configs/x.json: field '" + std::string(f) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  }
  json j = tiny_v2();
  j["rope_scaling"].erase("factor");
  EXPECT_NE(parse_error(j).find("field 'rope_scaling.factor' is required"), std::string::npos);
}

struct BadCase {
  const char* field;   // what the error must name
  json::json_pointer where;
  json value;
};

TEST(ModelConfig, ValidationErrorsNameTheirField) {
  const std::vector<BadCase> cases = {
      {"vocab_size", json::json_pointer("/vocab_size"), 0},
      {"hidden_size", json::json_pointer("/hidden_size"), -128},
      {"hidden_size", json::json_pointer("/hidden_size"), "128"},
      {"hidden_size", json::json_pointer("/hidden_size"), 128.5},
      {"hidden_size", json::json_pointer("/hidden_size"), int64_t{1} << 40},  // would overflow counts
      {"num_hidden_layers", json::json_pointer("/num_hidden_layers"), 100000},
      {"n_routed_experts", json::json_pointer("/n_routed_experts"), -16},
      {"n_routed_experts", json::json_pointer("/n_routed_experts"), 1 << 20},
      {"num_attention_heads", json::json_pointer("/num_attention_heads"), 0},
      {"q_lora_rank", json::json_pointer("/q_lora_rank"), 0},
      {"kv_lora_rank", json::json_pointer("/kv_lora_rank"), 0},
      {"qk_rope_head_dim", json::json_pointer("/qk_rope_head_dim"), 15},
      {"v_head_dim", json::json_pointer("/v_head_dim"), 0},
      {"num_experts_per_tok", json::json_pointer("/num_experts_per_tok"), 17},
      {"num_experts_per_tok", json::json_pointer("/num_experts_per_tok"), 0},
      // 2 groups of 4 experts reachable: top-9 cannot be met.
      {"num_experts_per_tok", json::json_pointer("/num_experts_per_tok"), 9},
      {"n_group", json::json_pointer("/n_group"), 3},
      {"topk_group", json::json_pointer("/topk_group"), 5},
      {"topk_group", json::json_pointer("/topk_group"), 0},
      {"first_k_dense_replace", json::json_pointer("/first_k_dense_replace"), 4},
      {"first_k_dense_replace", json::json_pointer("/first_k_dense_replace"), -1},
      {"moe_layer_freq", json::json_pointer("/moe_layer_freq"), 0},
      {"moe_intermediate_size", json::json_pointer("/moe_intermediate_size"), 0},
      {"n_shared_experts", json::json_pointer("/n_shared_experts"), -1},
      {"rms_norm_eps", json::json_pointer("/rms_norm_eps"), 0},
      {"rope_theta", json::json_pointer("/rope_theta"), 1},
      {"routed_scaling_factor", json::json_pointer("/routed_scaling_factor"), 0},
      {"max_position_embeddings", json::json_pointer("/max_position_embeddings"), 0},
      {"eos_token_id", json::json_pointer("/eos_token_id"), 384},
      {"bos_token_id", json::json_pointer("/bos_token_id"), -1},
      {"topk_method", json::json_pointer("/topk_method"), "noaux_tc"},
      {"scoring_func", json::json_pointer("/scoring_func"), "sigmoid"},
      {"hidden_act", json::json_pointer("/hidden_act"), "gelu"},
      {"attention_bias", json::json_pointer("/attention_bias"), true},
      {"norm_topk_prob", json::json_pointer("/norm_topk_prob"), "no"},
      {"rope_scaling", json::json_pointer("/rope_scaling"), 40},
      {"rope_scaling.type", json::json_pointer("/rope_scaling/type"), "ntk"},
      {"rope_scaling.factor", json::json_pointer("/rope_scaling/factor"), 0.5},
      {"rope_scaling.beta_fast", json::json_pointer("/rope_scaling/beta_fast"), 1},
      {"rope_scaling.beta_slow", json::json_pointer("/rope_scaling/beta_slow"), 0},
      {"rope_scaling.mscale", json::json_pointer("/rope_scaling/mscale"), -1},
      {"rope_scaling.original_max_position_embeddings",
       json::json_pointer("/rope_scaling/original_max_position_embeddings"), 0},
  };
  for (const BadCase& c : cases) {
    json j = tiny_v2();
    j[c.where] = c.value;
    const std::string msg = parse_error(j);
    EXPECT_NE(msg.find("configs/x.json: field '" + std::string(c.field) + "'"), std::string::npos)
        << c.where.to_string() << " = " << c.value.dump() << " gave: " << msg;
  }
}

TEST(ModelConfig, ErrorMessageShowsValueAndConstraint) {
  json j = tiny_v2();
  j["n_group"] = 3;
  EXPECT_EQ(parse_error(j), "configs/x.json: field 'n_group' (3) must divide n_routed_experts (16)");
}

TEST(ModelConfig, UnimplementedRopeScalingIsNamed) {
  json j = tiny_v2();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_NE(parse_error(j, ErrorCode::kUnimplemented).find("rope_scaling.type"), std::string::npos);
}

TEST(ModelConfig, JsonRoundTrip) {
  for (const char* name : {"deepseek-v2-236b.json", "deepseek-v2-lite.json", "demo.json"}) {
    const ModelConfig a = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models" / name);
    const std::string text = model_config_to_json(a);
    const json written = json::parse(text);
    // What HF's DeepseekV2Config expects to find.
    EXPECT_EQ(written.at("model_type"), "deepseek_v2");
    EXPECT_EQ(written.at("num_key_value_heads"), a.num_attention_heads);
    const ModelConfig b = parse_model_config(written, name);
    EXPECT_EQ(model_config_to_json(b), text) << name;
    EXPECT_EQ(b.q_lora_rank, a.q_lora_rank);
    EXPECT_EQ(b.topk_method, a.topk_method);
    EXPECT_EQ(b.rope_scaling.has_value(), a.rope_scaling.has_value());
    EXPECT_DOUBLE_EQ(b.softmax_scale(), a.softmax_scale());
    EXPECT_DOUBLE_EQ(b.rms_norm_eps, a.rms_norm_eps);
  }
  const ModelConfig lite = load_model_config(fs::path(MLASERVE_SOURCE_DIR) / "configs/models/deepseek-v2-lite.json");
  EXPECT_TRUE(json::parse(model_config_to_json(lite)).at("q_lora_rank").is_null());
}

TEST(ModelConfig, LoadErrorsNameTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("mlaserve_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  try {
    load_model_config(dir);
    ADD_FAILURE() << "no config.json, no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
  }
  std::ofstream(dir / "config.json") << "{ not json";
  try {
    load_model_config(dir);
    ADD_FAILURE() << "bad JSON, no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find((dir / "config.json").string()), std::string::npos);
  }
  EXPECT_NE(parse_error(json::array()).find("configs/x.json"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlaserve
