#pragma once
// Reads safetensors checkpoints through mmap: a single file, or shards listed by
// model.safetensors.index.json. Only the bytes of the tensors (or row ranges) asked for are
// touched, so a rank that needs 1/T of a 236B checkpoint pages in about 1/T of it.
//
// Every malformed input (truncated file, bad header, overlapping or out-of-range offsets, shape
// that disagrees with the byte length, missing shard...) throws Error(kDataLoss / kNotFound /
// kInvalidArgument) whose message names the file and, where there is one, the tensor.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace mlaserve {

struct TensorInfo {
  std::string name;
  DType dtype;             // BF16, F16 or F32; other safetensors dtypes are rejected by name
  Shape shape;
  uint64_t begin = 0;      // byte offsets inside the file's data section
  uint64_t end = 0;
  std::filesystem::path file;
};

// One mmap'd .safetensors file. Parsing the header validates every entry.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Start of the data section in memory (the mapping stays alive while any view of it does).
  const uint8_t* data() const { return data_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint8_t* data_ = nullptr;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Parses a header's JSON text against a data section of `data_bytes` bytes; exposed for the
// fuzz test. `file` only labels errors.
std::map<std::string, TensorInfo> parse_safetensors_header(std::string_view json_text,
                                                           uint64_t data_bytes,
                                                           const std::filesystem::path& file);

// A whole checkpoint: a directory with model.safetensors, or with model.safetensors.index.json
// and its shards, or a single .safetensors file.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> tensor_names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // kNotFound names tensor + checkpoint

  // Zero-copy views into the mapping, in the stored dtype. Counted in bytes_read().
  Tensor view(const std::string& name) const;
  Tensor view_rows(const std::string& name, int64_t begin, int64_t end) const;  // dim 0 range
  // Copies [.., begin:end) of the last dimension into a new contiguous CPU tensor.
  Tensor read_columns(const std::string& name, int64_t begin, int64_t end) const;

  // Bytes of tensor data handed out so far (views + copies): what this process asked to read.
  uint64_t bytes_read() const { return bytes_read_->load(); }

 private:
  std::filesystem::path path_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> files_;  // by file name
  std::map<std::string, const TensorInfo*> index_;                 // tensor -> entry in a file
  std::shared_ptr<std::atomic<uint64_t>> bytes_read_ = std::make_shared<std::atomic<uint64_t>>(0);
};

// Writes tensors (CPU, contiguous) to one .safetensors file, in the order given.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mlaserve
