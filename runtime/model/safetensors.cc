#include "runtime/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "nlohmann/json.hpp"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a larger length is a corrupt prefix.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

// nlohmann keeps the last of duplicate keys silently; a checkpoint with two entries for one
// tensor is corrupt, so the parse callback tracks the keys of every open object.
json parse_json_without_duplicates(std::string_view text, const std::filesystem::path& file,
                                   std::string_view what) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    fail(ErrorCode::kDataLoss, file.string(), ": invalid JSON in ", what, ": ", e.what());
  }
  MLA_ENSURE(duplicate.empty(), kDataLoss, file.string(), ": duplicate key \"", duplicate, "\" in ",
             what);
  MLA_ENSURE(root.is_object(), kDataLoss, file.string(), ": ", what, " is not a JSON object");
  return root;
}

DType parse_dtype_name(const std::string& name, const std::string& tensor,
                       const std::filesystem::path& file) {
  if (name == "BF16") return DType::kBF16;
  if (name == "F16") return DType::kF16;
  if (name == "F32") return DType::kF32;
  fail(ErrorCode::kInvalidArgument, file.string(), ": tensor ", tensor, " has dtype \"", name,
       "\", which mlaserve does not load (supported: BF16, F16, F32)");
}

// A non-negative JSON integer that fits in int64; anything else (negative, float, > 2^63) is not.
bool as_index(const json& value, uint64_t& out) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
  } else {
    const int64_t v = value.get<int64_t>();
    if (v < 0) return false;
    out = static_cast<uint64_t>(v);
  }
  return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

TensorInfo parse_entry(const std::string& name, const json& entry, uint64_t data_bytes,
                       const std::filesystem::path& file) {
  const std::string where = file.string() + ": tensor " + name;
  MLA_ENSURE(entry.is_object(), kDataLoss, where, ": entry is not a JSON object");
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  MLA_ENSURE(dtype_it != entry.end() && dtype_it->is_string(), kDataLoss, where,
             ": field \"dtype\" is missing or not a string");
  MLA_ENSURE(shape_it != entry.end() && shape_it->is_array(), kDataLoss, where,
             ": field \"shape\" is missing or not an array");
  MLA_ENSURE(offsets_it != entry.end() && offsets_it->is_array() && offsets_it->size() == 2,
             kDataLoss, where, ": field \"data_offsets\" is missing or not a [begin, end] pair");

  TensorInfo info;
  info.name = name;
  info.file = file;
  info.dtype = parse_dtype_name(dtype_it->get<std::string>(), name, file);

  uint64_t bytes = dtype_size(info.dtype);
  for (const json& dim : *shape_it) {
    uint64_t d = 0;
    MLA_ENSURE(as_index(dim, d), kDataLoss, where, ": shape ", shape_it->dump(),
               " holds a value that is not a dimension (a non-negative 64-bit integer)");
    MLA_ENSURE(!__builtin_mul_overflow(bytes, d, &bytes), kDataLoss, where, ": shape ",
               shape_it->dump(), " overflows 64 bits of bytes");
    info.shape.push_back(static_cast<int64_t>(d));
  }
  MLA_ENSURE(as_index((*offsets_it)[0], info.begin) && as_index((*offsets_it)[1], info.end),
             kDataLoss, where, ": data_offsets ", offsets_it->dump(),
             " are not non-negative integers");
  MLA_ENSURE(info.begin <= info.end && info.end <= data_bytes, kDataLoss, where, ": data_offsets [",
             info.begin, ", ", info.end, "] do not fit in the data section of ", data_bytes,
             " bytes");
  MLA_ENSURE(info.end - info.begin == bytes, kDataLoss, where, ": shape ", shape_string(info.shape),
             " of ", dtype_name(info.dtype), " needs ", bytes, " bytes but data_offsets hold ",
             info.end - info.begin);
  return info;
}

std::map<std::string, TensorInfo> parse_header(std::string_view json_text, uint64_t data_bytes,
                                               const std::filesystem::path& file,
                                               std::map<std::string, std::string>* metadata) {
  const json root = parse_json_without_duplicates(json_text, file, "safetensors header");
  std::map<std::string, TensorInfo> tensors;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      MLA_ENSURE(value.is_object(), kDataLoss, file.string(), ": __metadata__ is not an object");
      for (const auto& [mkey, mvalue] : value.items()) {
        MLA_ENSURE(mvalue.is_string(), kDataLoss, file.string(), ": __metadata__ field \"", mkey,
                   "\" is not a string");
        if (metadata != nullptr) (*metadata)[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    tensors.emplace(key, parse_entry(key, value, data_bytes, file));
  }

  // Empty tensors occupy no bytes, so only non-empty ranges can collide.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, info] : tensors)
    if (info.end > info.begin) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur = *by_offset[i];
    MLA_ENSURE(cur.begin >= prev.end, kDataLoss, file.string(), ": tensor ", cur.name, " (bytes ",
               cur.begin, "..", cur.end, ") overlaps tensor ", prev.name, " (bytes ", prev.begin,
               "..", prev.end, ")");
  }
  return tensors;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MLA_ENSURE(in, kNotFound, path.string(), ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::map<std::string, TensorInfo> parse_safetensors_header(std::string_view json_text,
                                                           uint64_t data_bytes,
                                                           const std::filesystem::path& file) {
  return parse_header(json_text, data_bytes, file, nullptr);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO must fail the regular-file check below, not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    fail(err == ENOENT || err == ENOTDIR ? ErrorCode::kNotFound : ErrorCode::kFailedPrecondition,
         path.string(), ": cannot open safetensors file: ", std::strerror(err));
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const int stat_errno = errno;
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  if (stat_ok && S_ISREG(st.st_mode) && st.st_size >= 8) {
    file->map_ = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (file->map_ == MAP_FAILED)
      file->map_ = nullptr;
    else
      file->map_bytes_ = static_cast<size_t>(st.st_size);
  }
  const int map_errno = errno;
  ::close(fd);
  MLA_ENSURE(stat_ok, kFailedPrecondition, path.string(),
             ": cannot stat: ", std::strerror(stat_errno));
  MLA_ENSURE(S_ISREG(st.st_mode), kInvalidArgument, path.string(), ": not a regular file");
  MLA_ENSURE(st.st_size >= 8, kDataLoss, path.string(), ": truncated: ", st.st_size,
             " bytes, shorter than the 8-byte header length");
  MLA_ENSURE(file->map_ != nullptr, kResourceExhausted, path.string(),
             ": mmap failed: ", std::strerror(map_errno));

  const auto* bytes = static_cast<const uint8_t*>(file->map_);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | bytes[i];  // little-endian
  const uint64_t available = file->map_bytes_ - 8;
  MLA_ENSURE(header_bytes <= available, kDataLoss, path.string(),
             ": truncated or corrupt: header length ", header_bytes,
             " runs past the end of the file (", available, " bytes follow the length)");
  MLA_ENSURE(header_bytes <= kMaxHeaderBytes, kDataLoss, path.string(), ": corrupt: header length ",
             header_bytes, " exceeds the format's limit of ", kMaxHeaderBytes, " bytes");
  file->data_ = bytes + 8 + header_bytes;
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8), header_bytes);
  file->tensors_ = parse_header(header, available - header_bytes, path, &file->metadata_);

  // Loads read each tensor front to back: on a cold file, let the kernel read ahead in big steps.
  ::madvise(file->map_, file->map_bytes_, MADV_SEQUENTIAL);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  Checkpoint ckpt;
  ckpt.path_ = path;
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  const fs::path index_path = path / "model.safetensors.index.json";
  if (!is_dir || !fs::exists(index_path, ec)) {
    const fs::path single = is_dir ? path / "model.safetensors" : path;
    MLA_ENSURE(fs::exists(single, ec), kNotFound, path.string(),
               is_dir ? ": checkpoint directory has neither model.safetensors.index.json nor "
                        "model.safetensors"
                      : ": no such checkpoint");
    auto file = SafetensorsFile::open(single);
    for (const auto& [name, info] : file->tensors()) ckpt.index_[name] = &info;
    ckpt.files_[single.filename().string()] = std::move(file);
    return ckpt;
  }

  const std::string index_name = index_path.string();
  const json root =
      parse_json_without_duplicates(read_text_file(index_path), index_path, "checkpoint index");
  const auto map_it = root.find("weight_map");
  MLA_ENSURE(map_it != root.end() && map_it->is_object(), kDataLoss, index_name,
             ": field \"weight_map\" is missing or not an object");
  std::map<std::string, std::string> shard_of;  // tensor -> shard file name
  for (const auto& [tensor, shard] : map_it->items()) {
    MLA_ENSURE(shard.is_string(), kDataLoss, index_name, ": weight_map entry for tensor ", tensor,
               " is not a file name");
    const std::string shard_name = shard.get<std::string>();
    // Shards sit beside the index; a path could name a file outside the checkpoint.
    MLA_ENSURE(!shard_name.empty() && fs::path(shard_name).filename() == shard_name &&
                   shard_name != "." && shard_name != "..",
               kDataLoss, index_name, ": tensor ", tensor, " maps to \"", shard_name,
               "\", which is not a plain file name beside the index");
    shard_of[tensor] = shard_name;
    if (ckpt.files_.count(shard_name) != 0) continue;
    const fs::path shard_path = path / shard_name;
    MLA_ENSURE(fs::exists(shard_path, ec), kNotFound, index_name, " names shard ", shard_name,
               " (for tensor ", tensor, "), which does not exist at ", shard_path.string());
    ckpt.files_[shard_name] = SafetensorsFile::open(shard_path);
  }

  for (const auto& [shard_name, file] : ckpt.files_) {
    for (const auto& [tensor, info] : file->tensors()) {
      const auto it = shard_of.find(tensor);
      MLA_ENSURE(it != shard_of.end(), kDataLoss, file->path().string(), " holds tensor ", tensor,
                 ", which ", index_name, " does not list");
      MLA_ENSURE(it->second == shard_name, kDataLoss, file->path().string(), " holds tensor ",
                 tensor, ", which ", index_name, " assigns to shard ", it->second);
      ckpt.index_[tensor] = &info;
    }
  }
  for (const auto& [tensor, shard_name] : shard_of) {
    MLA_ENSURE(ckpt.index_.count(tensor) != 0, kDataLoss, index_name, " lists tensor ", tensor,
               " in shard ", shard_name, ", which does not hold it");
  }
  return ckpt;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& entry : index_) names.push_back(entry.first);
  return names;
}

bool Checkpoint::contains(const std::string& name) const { return index_.count(name) != 0; }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const auto it = index_.find(name);
  MLA_ENSURE(it != index_.end(), kNotFound, "tensor ", name, " is not in checkpoint ",
             path_.string());
  return *it->second;
}

namespace {

// Bytes of one index along dim 0 (the product of the other dims times the element size).
uint64_t row_bytes(const TensorInfo& info) {
  uint64_t bytes = dtype_size(info.dtype);
  for (size_t d = 1; d < info.shape.size(); ++d) bytes *= static_cast<uint64_t>(info.shape[d]);
  return bytes;
}

void check_range(const TensorInfo& info, int dim, int64_t begin, int64_t end,
                 std::string_view what) {
  MLA_ENSURE(!info.shape.empty(), kInvalidArgument, info.file.string(), ": tensor ", info.name,
             " is a scalar and has no ", what);
  const int64_t extent = info.shape[dim < 0 ? info.shape.size() - 1 : dim];
  MLA_ENSURE(0 <= begin && begin <= end && end <= extent, kOutOfRange, info.file.string(),
             ": tensor ", info.name, " ", shape_string(info.shape), ": ", what, " [", begin, ", ",
             end, ") is outside [0, ", extent, ")");
}

Tensor map_or_copy(const std::shared_ptr<SafetensorsFile>& file, const TensorInfo& meta,
                   uint64_t offset, const Shape& shape) {
  const uint8_t* data = file->data() + offset;
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(meta.dtype) == 0) {
    // The mapping is read-only: kernels read views; loaders copy before changing anything.
    return Tensor::wrap(const_cast<uint8_t*>(data), shape, meta.dtype, Device::cpu(), file);
  }
  // The format does not promise aligned offsets, and typed loads from a misaligned pointer are UB.
  Tensor out = Tensor::empty(shape, meta.dtype);
  std::memcpy(out.raw_data(), data, out.nbytes());
  return out;
}

}  // namespace

Tensor Checkpoint::view(const std::string& name) const {
  const TensorInfo& meta = info(name);
  Tensor out = map_or_copy(files_.at(meta.file.filename().string()), meta, meta.begin, meta.shape);
  *bytes_read_ += out.nbytes();
  return out;
}

Tensor Checkpoint::view_rows(const std::string& name, int64_t begin, int64_t end) const {
  const TensorInfo& meta = info(name);
  check_range(meta, 0, begin, end, "rows");
  Shape shape = meta.shape;
  shape[0] = end - begin;
  const uint64_t offset = meta.begin + static_cast<uint64_t>(begin) * row_bytes(meta);
  Tensor out = map_or_copy(files_.at(meta.file.filename().string()), meta, offset, shape);
  *bytes_read_ += out.nbytes();
  return out;
}

Tensor Checkpoint::read_columns(const std::string& name, int64_t begin, int64_t end) const {
  const TensorInfo& meta = info(name);
  check_range(meta, -1, begin, end, "columns");
  Shape shape = meta.shape;
  const int64_t columns = shape.back();
  shape.back() = end - begin;
  Tensor out = Tensor::empty(shape, meta.dtype);
  const size_t elem = dtype_size(meta.dtype);
  const size_t src_stride = static_cast<size_t>(columns) * elem;
  const size_t width = static_cast<size_t>(end - begin) * elem;
  const int64_t rows = columns == 0 ? 0 : shape_numel(meta.shape) / columns;
  const uint8_t* src = files_.at(meta.file.filename().string())->data() + meta.begin +
                       static_cast<size_t>(begin) * elem;
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  if (width == src_stride) {
    std::memcpy(dst, src, out.nbytes());
  } else {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * width, src + r * src_stride, width);
  }
  *bytes_read_ += out.nbytes();
  return out;
}

}  // namespace mlaserve
