#include "runtime/engine/cache_budget.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

// The value of a "Key:   N kB" line in a /proc file, in bytes.
int64_t read_proc_kb_field(const char* path, std::string_view key) {
  std::ifstream in(path);
  MLA_ENSURE(in, kUnavailable, "cannot read ", path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 ||
        line[key.size()] != ':')
      continue;
    const char* p = line.data() + key.size() + 1;
    const char* end = line.data() + line.size();
    while (p < end && std::isspace(static_cast<unsigned char>(*p))) ++p;
    int64_t kb = 0;
    auto [next, ec] = std::from_chars(p, end, kb);
    MLA_ENSURE(ec == std::errc() && next != p, kUnavailable, path, ": cannot parse ", key,
               " in '", line, "'");
    return kb * 1024;  // /proc's "kB" is KiB
  }
  fail(ErrorCode::kUnavailable, path, " has no ", key, " field");
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Multiplier for a unit suffix, 0 when unknown.
int64_t unit_multiplier(std::string_view unit) {
  const std::string u = lower(unit);
  constexpr int64_t kKi = 1024, kK = 1000;
  if (u.empty() || u == "b") return 1;
  if (u == "k" || u == "kb") return kK;
  if (u == "m" || u == "mb") return kK * kK;
  if (u == "g" || u == "gb") return kK * kK * kK;
  if (u == "t" || u == "tb") return kK * kK * kK * kK;
  if (u == "kib") return kKi;
  if (u == "mib") return kKi * kKi;
  if (u == "gib") return kKi * kKi * kKi;
  if (u == "tib") return kKi * kKi * kKi * kKi;
  return 0;
}

}  // namespace

int64_t kv_bytes_per_token(const ModelConfig& config, DType cache_dtype) {
  return config.latent_dim() * static_cast<int64_t>(dtype_size(cache_dtype)) *
         config.num_hidden_layers;
}

int64_t blocks_for_budget(const ModelConfig& config, DType cache_dtype, int64_t block_size,
                          int64_t budget_bytes) {
  MLA_ENSURE(block_size > 0, kInvalidArgument, "block size must be positive, got ", block_size);
  const int64_t per_block = kv_bytes_per_token(config, cache_dtype) * block_size;
  MLA_ENSURE(per_block > 0, kInvalidArgument, "model config gives 0 KV cache bytes per token");
  const int64_t blocks = budget_bytes / per_block;
  MLA_ENSURE(blocks >= 1, kInvalidArgument, "--kv-cache-memory: ", budget_bytes,
             " bytes hold no KV cache block; one block of ", block_size, " tokens in ",
             dtype_name(cache_dtype), " needs ", per_block, " bytes");
  return blocks;
}

int64_t kv_budget_from_fraction(double fraction, int64_t available_bytes) {
  MLA_ENSURE(fraction > 0.0 && fraction <= 1.0, kInvalidArgument,
             "--kv-cache-fraction must be in (0, 1], got ", fraction);
  return static_cast<int64_t>(std::floor(fraction * static_cast<double>(available_bytes)));
}

int64_t available_memory_bytes() { return read_proc_kb_field("/proc/meminfo", "MemAvailable"); }

int64_t peak_rss_bytes() { return read_proc_kb_field("/proc/self/status", "VmHWM"); }

int64_t parse_byte_size(std::string_view flag, std::string_view text) {
  auto bad = [&](std::string_view why) {
    fail(ErrorCode::kInvalidArgument, flag, ": '", text, "' is not a byte size (", why,
         "); expected e.g. 1073741824, 512MiB, 2GB");
  };
  size_t digits_end = 0;
  while (digits_end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits_end])) || text[digits_end] == '.'))
    ++digits_end;
  const std::string_view number = text.substr(0, digits_end);
  std::string_view unit = text.substr(digits_end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (number.empty()) bad("no number");
  const int64_t multiplier = unit_multiplier(unit);
  if (multiplier == 0) bad(str_cat("unknown unit '", unit, "'"));

  if (number.find('.') == std::string_view::npos) {
    int64_t value = 0;
    auto [next, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || next != number.data() + number.size()) bad("number out of range");
    if (value > std::numeric_limits<int64_t>::max() / multiplier) bad("beyond 2^63 bytes");
    return value * multiplier;
  }
  double value = 0;
  auto [next, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || next != number.data() + number.size()) bad("malformed number");
  const double bytes = std::floor(value * static_cast<double>(multiplier));
  if (!(bytes < 9.2e18)) bad("beyond 2^63 bytes");
  return static_cast<int64_t>(bytes);
}

}  // namespace mlaserve
