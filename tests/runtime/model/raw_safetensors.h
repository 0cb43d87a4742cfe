#pragma once
// Test-only: emits safetensors bytes exactly as told (header text, claimed length, data), so tests
// can build valid files without the library's writer and craft every kind of malformed one.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlaserve::testing {

// 8-byte little-endian header length (the real one unless `claimed_length` overrides it),
// header text, data.
inline std::string safetensors_bytes(std::string_view header, std::string_view data,
                                     std::optional<uint64_t> claimed_length = std::nullopt) {
  const uint64_t length = claimed_length.value_or(header.size());
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out.append(header);
  out.append(data);
  return out;
}

struct RawEntry {
  std::string name;
  std::string dtype;  // as written: "BF16", "F64", ...
  std::string shape;  // JSON text: "[2, 3]"
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Header JSON with the entries in order; `metadata` is raw JSON text for __metadata__ (or empty).
inline std::string header_json(const std::vector<RawEntry>& entries,
                               std::string_view metadata = R"({"format":"pt"})") {
  std::string out = "{";
  if (!metadata.empty()) out += "\"__metadata__\":" + std::string(metadata);
  for (const RawEntry& e : entries) {
    if (out.size() > 1) out += ",";
    out += "\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":" + e.shape +
           ",\"data_offsets\":[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]}";
  }
  return out + "}";
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("mlaserve-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace mlaserve::testing
