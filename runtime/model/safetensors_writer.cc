#include "runtime/model/safetensors_writer.h"

#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/model/safetensors.h"

namespace mlaserve {

std::string_view safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  fail(ErrorCode::kInternal, "unknown dtype ", static_cast<int>(dtype));
}

SafetensorsStreamWriter::SafetensorsStreamWriter(std::filesystem::path path,
                                                 const std::vector<TensorEntry>& entries,
                                                 const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp") {
  // Ordered, so the file lists tensors in the order their bytes follow.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  for (const TensorEntry& e : entries) {
    MLA_ENSURE(!e.name.empty() && e.name != "__metadata__", kInvalidArgument, path_.string(),
               ": invalid tensor name '", e.name, "'");
    MLA_ENSURE(seen.insert(e.name).second, kInvalidArgument, path_.string(), ": tensor '", e.name,
               "' given twice");
    for (int64_t d : e.shape)
      MLA_ENSURE(d >= 0, kInvalidArgument, path_.string(), ": tensor '", e.name,
                 "' has negative dimension in ", shape_string(e.shape));
    const uint64_t bytes = static_cast<uint64_t>(shape_numel(e.shape)) * dtype_size(e.dtype);
    header[e.name] = {{"dtype", safetensors_dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {total_, total_ + bytes}}};
    total_ += bytes;
  }
  std::string text = header.dump();
  // The data section must start 8-byte aligned; the format pads the header with spaces.
  text.append((8 - text.size() % 8) % 8, ' ');

  file_ = std::fopen(tmp_.c_str(), "wb");
  MLA_ENSURE(file_ != nullptr, kNotFound, tmp_.string(), ": cannot create: ", std::strerror(errno));
  uint8_t size_le[8];
  for (int i = 0; i < 8; ++i) size_le[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  if (std::fwrite(size_le, 1, 8, file_) != 8 || std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    fail(ErrorCode::kResourceExhausted, tmp_.string(), ": write failed: ", std::strerror(errno));
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::error_code ignored;
    std::filesystem::remove(tmp_, ignored);
  }
}

void SafetensorsStreamWriter::append(const void* data, size_t bytes) {
  MLA_ENSURE(file_ != nullptr, kFailedPrecondition, path_.string(), ": append after finish");
  MLA_ENSURE(written_ + bytes <= total_, kInvalidArgument, path_.string(), ": ", written_ + bytes,
             " bytes of tensor data exceed the ", total_, " declared in the header");
  if (std::fwrite(data, 1, bytes, file_) != bytes)
    fail(ErrorCode::kResourceExhausted, tmp_.string(), ": write failed: ", std::strerror(errno));
  written_ += bytes;
}

void SafetensorsStreamWriter::finish() {
  MLA_ENSURE(file_ != nullptr, kFailedPrecondition, path_.string(), ": finish called twice");
  MLA_ENSURE(written_ == total_, kFailedPrecondition, path_.string(), ": only ", written_, " of ",
             total_, " bytes of tensor data were written");
  const bool ok = std::fflush(file_) == 0;
  const int close_rc = std::fclose(file_);
  file_ = nullptr;
  if (!ok || close_rc != 0) {
    std::error_code ignored;
    std::filesystem::remove(tmp_, ignored);
    fail(ErrorCode::kResourceExhausted, tmp_.string(), ": write failed: ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  MLA_ENSURE(!ec, kInternal, "cannot rename ", tmp_.string(), " to ", path_.string(), ": ", ec.message());
}

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorEntry> entries;
  for (const NamedTensor& t : tensors) {
    MLA_ENSURE(t.tensor.defined() && t.tensor.device().is_cpu() && t.tensor.is_contiguous(),
               kInvalidArgument, path.string(), ": tensor '", t.name,
               "' must be a defined, contiguous CPU tensor, got ",
               t.tensor.defined() ? t.tensor.describe() : std::string("undefined"));
    entries.push_back({t.name, t.tensor.dtype(), t.tensor.shape()});
  }
  SafetensorsStreamWriter writer(path, entries, metadata);
  for (const NamedTensor& t : tensors) writer.append(t.tensor.raw_data(), t.tensor.nbytes());
  writer.finish();
}

}  // namespace mlaserve
