#pragma once
// Streams one .safetensors file to disk: the header is written first from the tensors' names,
// dtypes and shapes, then their bytes are appended in that order, in chunks of any size, so a
// checkpoint far larger than memory can be produced. The file appears under its final name only
// after finish() (written to "<path>.tmp", then renamed), so readers never see a partial file.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve {

struct TensorEntry {
  std::string name;
  DType dtype;
  Shape shape;
};

// The safetensors spelling of a dtype ("BF16", "F32", ...).
std::string_view safetensors_dtype_name(DType dtype);

class SafetensorsStreamWriter {
 public:
  SafetensorsStreamWriter(std::filesystem::path path, const std::vector<TensorEntry>& entries,
                          const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsStreamWriter();  // removes the temporary file unless finish() succeeded
  SafetensorsStreamWriter(const SafetensorsStreamWriter&) = delete;
  SafetensorsStreamWriter& operator=(const SafetensorsStreamWriter&) = delete;

  // Appends the next bytes of tensor data; throws if they overrun the declared total.
  void append(const void* data, size_t bytes);
  // Checks that every declared byte arrived, flushes and renames into place.
  void finish();

  uint64_t data_bytes() const { return total_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  std::FILE* file_ = nullptr;
  uint64_t total_ = 0;
  uint64_t written_ = 0;
};

}  // namespace mlaserve
