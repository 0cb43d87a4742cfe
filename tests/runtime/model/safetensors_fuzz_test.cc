// Seeded mutation fuzzing of the safetensors reader. Inputs are valid headers (the reference
// checkpoints' and small hand-made ones) under byte flips, truncations, insertions, splices and
// JSON-aware token and number substitutions. The reader must either accept an input with entries
// that are safe to read or throw mlaserve::Error; any other exception, or a crash, fails the test.
// The seed is fixed; the time budget (MLASERVE_FUZZ_SECONDS, default 8) bounds the iterations.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "runtime/core/error.h"
#include "runtime/model/safetensors.h"
#include "tests/runtime/model/raw_safetensors.h"

namespace mlaserve {
namespace {

using testing::header_json;
using testing::safetensors_bytes;

struct Seed {
  std::string header;
  uint64_t data_bytes;
};

Seed reference_header(const std::string& name) {
  std::ifstream in(std::filesystem::path(MLASERVE_TEST_DATA_DIR) / name / "model.safetensors",
                   std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<uint8_t>(bytes[i]);
  return {bytes.substr(8, length), bytes.size() - 8 - length};
}

std::vector<Seed> seeds() {
  return {
      reference_header("tiny-v2"),
      reference_header("tiny-lite"),
      {header_json({{"a", "BF16", "[4, 3]", 0, 24},
                    {"b", "F32", "[2, 5]", 24, 64},
                    {"c", "F16", "[6]", 64, 76}}),
       76},
      {header_json({{"s", "F32", "[]", 0, 4}, {"e", "BF16", "[0, 5]", 4, 4}}, ""), 4},
      {R"({"__metadata__":{"format":"pt","x":"y"},"w":{"dtype":"F32","shape":[1,1,1,2],)"
       R"("data_offsets":[8,16]}})",
       16},
  };
}

const std::vector<std::string> kTokens = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    " ",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "\"F64\"",
    "\"BF16\"",
    "\"F32\"",
    "\"I8\"",
    "null",
    "true",
    "-1",
    "0",
    "1.5",
    "1e309",
    "-0",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "4294967296",
    "\\u0000",
    "\\ud800",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":",
    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"};

const std::vector<std::string> kNumbers = {"0",
                                           "1",
                                           "2",
                                           "3",
                                           "7",
                                           "8",
                                           "-1",
                                           "255",
                                           "65536",
                                           "4294967295",
                                           "4294967296",
                                           "9223372036854775807",
                                           "9223372036854775808",
                                           "18446744073709551615",
                                           "18446744073709551616",
                                           "1e3",
                                           "0.5",
                                           "-9223372036854775808"};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  size_t below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  uint64_t any() { return rng_(); }

  void mutate(std::string& s, const std::vector<Seed>& all) {
    const size_t pos = below(s.size() + 1);
    switch (below(9)) {
      case 0:
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:
        if (!s.empty()) s[below(s.size())] = static_cast<char>(below(256));
        break;
      case 2:
        s.resize(pos);
        break;
      case 3:
        for (size_t n = 1 + below(8); n > 0; --n)
          s.insert(below(s.size() + 1), 1, static_cast<char>(below(256)));
        break;
      case 4:
        s.insert(pos, kTokens[below(kTokens.size())]);
        break;
      case 5:
        replace_number(s);
        break;
      case 6: {  // copy a span elsewhere: duplicates keys, entries, brackets
        const size_t from = below(s.size() + 1);
        const std::string span = s.substr(from, below(64));
        s.insert(below(s.size() + 1), span);
        break;
      }
      case 7:
        s.erase(pos, below(32));
        break;
      case 8: {  // splice: our prefix, another seed's suffix
        const std::string& other = all[below(all.size())].header;
        s = s.substr(0, pos) + other.substr(below(other.size() + 1));
        break;
      }
    }
  }

 private:
  void replace_number(std::string& s) {
    std::vector<size_t> starts;
    for (size_t i = 0; i < s.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(s[i])) &&
          (i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]))))
        starts.push_back(i);
    if (starts.empty()) return;
    const size_t begin = starts[below(starts.size())];
    size_t end = begin;
    while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
    s.replace(begin, end - begin, kNumbers[below(kNumbers.size())]);
  }
  std::mt19937_64 rng_;
};

// What an accepted header must guarantee to every reader of the mapping. Computed here from
// the entries alone, with 128-bit arithmetic the parser does not use.
void expect_safe(const std::map<std::string, TensorInfo>& tensors, uint64_t data_bytes,
                 const std::string& input) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, info] : tensors) {
    ASSERT_EQ(name, info.name) << input;
    ASSERT_TRUE(info.dtype == DType::kBF16 || info.dtype == DType::kF16 ||
                info.dtype == DType::kF32)
        << input;
    ASSERT_LE(info.begin, info.end) << input;
    ASSERT_LE(info.end, data_bytes) << input;
    unsigned __int128 bytes = dtype_size(info.dtype);
    for (int64_t d : info.shape) {
      ASSERT_GE(d, 0) << input;
      bytes *= static_cast<uint64_t>(d);
      if (bytes > data_bytes) bytes = static_cast<unsigned __int128>(data_bytes) + 1;  // saturate
    }
    ASSERT_TRUE(bytes == info.end - info.begin) << input;
    if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    ASSERT_GE(ranges[i].first, ranges[i - 1].second) << input;
}

// Whole files through the public loader: the 8-byte length is mutated too, and every accepted
// tensor is read in full (a bad offset would fault here, outside the mapping).
void fuzz_file(const std::filesystem::path& path, const std::string& bytes) {
  testing::write_bytes(path, bytes);
  try {
    const Checkpoint ckpt = Checkpoint::open(path);
    uint64_t expected = 0;
    for (const std::string& name : ckpt.tensor_names()) {
      const Tensor t = ckpt.view(name);
      const auto* p = static_cast<const uint8_t*>(t.raw_data());
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.nbytes(); ++i) sink = sink ^ p[i];
      expected += t.nbytes();
      if (t.rank() > 0 && t.dim(-1) > 0) expected += ckpt.read_columns(name, 0, 1).nbytes();
    }
    ASSERT_EQ(ckpt.bytes_read(), expected);
  } catch (const Error&) {
  }
}

TEST(SafetensorsFuzz, MutatedHeadersAreAcceptedSafelyOrRejectedWithError) {
  const char* env = std::getenv("MLASERVE_FUZZ_SECONDS");
  const double budget_s = env != nullptr ? std::atof(env) : 8.0;
  const std::vector<Seed> all = seeds();
  Mutator m(0x5AFE7E45u);
  testing::TempDir dir;
  const auto file = dir / "fuzz.safetensors";

  const auto start = std::chrono::steady_clock::now();
  uint64_t iterations = 0, accepted = 0, files = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         budget_s) {
    const Seed& seed = all[m.below(all.size())];
    std::string header = seed.header;
    for (size_t n = 1 + m.below(4); n > 0; --n) m.mutate(header, all);
    uint64_t data_bytes = seed.data_bytes;
    switch (m.below(8)) {
      case 0:
        data_bytes = m.any();
        break;
      case 1:
        data_bytes = m.below(data_bytes + 2);
        break;
      default:
        break;
    }
    ++iterations;
    try {
      const auto tensors = parse_safetensors_header(header, data_bytes, "fuzz");
      ++accepted;
      ASSERT_NO_FATAL_FAILURE(expect_safe(tensors, data_bytes, header));
    } catch (const Error&) {
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iterations << " threw a non-mlaserve exception: " << e.what()
             << "\ninput: " << header;
    }

    if (iterations % 16 == 0) {
      ++files;
      const std::string data(std::min<uint64_t>(seed.data_bytes + m.below(16), 1 << 22), '\x3c');
      std::optional<uint64_t> length;
      if (m.below(4) == 0) length = m.below(4) == 0 ? m.any() : header.size() + m.below(16) - 8;
      std::string bytes = safetensors_bytes(header, data, length);
      if (m.below(4) == 0) bytes.resize(m.below(bytes.size() + 1));
      try {
        ASSERT_NO_FATAL_FAILURE(fuzz_file(file, bytes));
      } catch (const std::exception& e) {
        FAIL() << "iteration " << iterations
               << " (file) threw a non-mlaserve exception: " << e.what();
      }
    }
  }
  std::cout << "safetensors fuzz: " << iterations << " headers (" << accepted << " accepted), "
            << files << " whole files, in " << budget_s << " s\n";
  RecordProperty("iterations", static_cast<int>(iterations));
  EXPECT_GT(iterations, 1000u) << "the budget should allow far more iterations";
  EXPECT_GT(accepted, 0u) << "mutations should sometimes keep a header valid";
}

}  // namespace
}  // namespace mlaserve
