#include "runtime/core/tensor.h"

#include <array>
#include <cstdlib>
#include <cstring>

#include <malloc.h>
#include <mutex>

#include "absl/strings/str_join.h"
#include "runtime/core/error.h"

namespace mlaserve {
namespace {

constexpr size_t kCpuAlignment = 64;  // a cache line: lets SIMD kernels use aligned loads

// Decode allocates and frees a few hundred small activation tensors per step; aligned_alloc +
// free (glibc's memalign path, no tcache) showed up in profiles. Blocks up to kCacheMaxBytes are
// rounded up to a power of two and kept in a small per-thread free list per size class. A block
// may be freed on another thread than the one that allocated it; it then joins that thread's
// list (any block of class c has >= 2^c usable bytes, which is all allocate relies on).
constexpr int kMinClass = 6;                  // 64 B
constexpr int kMaxClass = 20;                 // 1 MiB
constexpr size_t kCacheMaxBytes = size_t{1} << kMaxClass;
constexpr int kPerClass = 16;

struct BlockCache {
  void* blocks[kMaxClass + 1][kPerClass];
  int count[kMaxClass + 1] = {};
  ~BlockCache();
};
thread_local bool t_cache_dead = false;  // trivially destructible: safe to read during exit
thread_local BlockCache t_cache;
BlockCache::~BlockCache() {
  t_cache_dead = true;
  for (int c = 0; c <= kMaxClass; ++c)
    for (int i = 0; i < count[c]; ++i) std::free(blocks[c][i]);
}

int class_for_request(size_t bytes) {  // smallest c with 2^c >= bytes
  int c = kMinClass;
  while ((size_t{1} << c) < bytes) ++c;
  return c;
}

struct CpuAllocator final : Allocator {
  void* allocate(size_t bytes, Device) override {
    if (bytes <= kCacheMaxBytes) {
      const int c = class_for_request(bytes);
      if (!t_cache_dead) {
        BlockCache& cache = t_cache;
        if (cache.count[c] > 0) return cache.blocks[c][--cache.count[c]];
      }
      void* p = std::aligned_alloc(kCpuAlignment, size_t{1} << c);
      MLA_ENSURE(p != nullptr, kResourceExhausted, "out of host memory allocating ", bytes,
                 " bytes");
      return p;
    }
    const size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    MLA_ENSURE(p != nullptr, kResourceExhausted, "out of host memory allocating ", bytes, " bytes");
    return p;
  }
  void deallocate(void* ptr, Device) override {
    if (ptr == nullptr) return;
    const size_t usable = malloc_usable_size(ptr);
    if (usable <= 2 * kCacheMaxBytes && !t_cache_dead) {
      int c = kMinClass;
      while (c < kMaxClass && (size_t{1} << (c + 1)) <= usable) ++c;
      if ((size_t{1} << c) <= usable) {
        BlockCache& cache = t_cache;
        if (cache.count[c] < kPerClass) {
          cache.blocks[c][cache.count[c]++] = ptr;
          return;
        }
      }
    }
    std::free(ptr);
  }
};

std::array<Allocator*, 2>& allocators() {
  static CpuAllocator cpu;
  static std::array<Allocator*, 2> table{&cpu, nullptr};
  return table;
}

}  // namespace

void register_allocator(DeviceType type, Allocator* allocator) {
  allocators()[static_cast<size_t>(type)] = allocator;
}

Allocator& allocator_for(DeviceType type) {
  Allocator* a = allocators()[static_cast<size_t>(type)];
  MLA_ENSURE(a != nullptr, kUnimplemented, "no allocator for device type ",
             static_cast<int>(type), ": this build has no such backend");
  return *a;
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  void* p = allocator_for(device.type).allocate(bytes, device);
  return std::shared_ptr<Storage>(new Storage(p, bytes, device, /*owned=*/true, nullptr));
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, Device device,
                                       std::shared_ptr<const void> owner) {
  return std::shared_ptr<Storage>(new Storage(data, bytes, device, false, std::move(owner)));
}

Storage::~Storage() {
  if (owned_ && data_ != nullptr) allocator_for(device_.type).deallocate(data_, device_);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

std::string shape_string(const Shape& shape) { return "[" + absl::StrJoin(shape, ", ") + "]"; }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) MLA_ENSURE(d >= 0, kInvalidArgument, "negative dimension in shape ", shape_string(shape));
  Tensor t;
  t.storage_ = Storage::allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  MLA_ENSURE(device.is_cpu(), kUnimplemented, "Tensor::zeros on ", device.name(), ": use ops::fill");
  Tensor t = empty(shape, dtype, device);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device,
                    std::shared_ptr<const void> owner) {
  Tensor t;
  t.storage_ = Storage::wrap(data, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype),
                             device, std::move(owner));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::from_floats(const Shape& shape, const std::vector<float>& values) {
  MLA_ENSURE(shape_numel(shape) == static_cast<int64_t>(values.size()), kInvalidArgument,
             "shape ", shape_string(shape), " needs ", shape_numel(shape), " values, got ",
             values.size());
  Tensor t = empty(shape, DType::kF32);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

int Tensor::normalize_dim(int d) const {
  const int r = rank();
  const int nd = d < 0 ? d + r : d;
  MLA_ENSURE(nd >= 0 && nd < r, kOutOfRange, "dimension ", d, " out of range for tensor ", describe());
  return nd;
}

int64_t Tensor::dim(int d) const { return shape_[normalize_dim(d)]; }
int64_t Tensor::numel() const { return shape_numel(shape_); }

bool Tensor::is_contiguous() const {
  int64_t s = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != s) return false;
    s *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  MLA_ENSURE(defined(), kFailedPrecondition, "access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_element_type(size_t size, Tag tag) const {
  bool ok = false;
  switch (dtype_) {
    case DType::kF32: ok = tag == Tag::kFloat; break;
    case DType::kBF16:
    case DType::kF16: ok = tag == Tag::kHalf; break;
    case DType::kI32: ok = tag == Tag::kI32; break;
    case DType::kI64: ok = tag == Tag::kI64; break;
  }
  MLA_ENSURE(ok && size == dtype_size(dtype_), kInvalidArgument,
             "typed access of element size ", size, " to tensor ", describe());
}

Tensor Tensor::slice(int d, int64_t start, int64_t end) const {
  const int nd = normalize_dim(d);
  MLA_ENSURE(0 <= start && start <= end && end <= shape_[nd], kOutOfRange, "slice [", start, ", ",
             end, ") of dimension ", d, " of tensor ", describe());
  Tensor t = *this;
  t.shape_[nd] = end - start;
  t.offset_ += start * strides_[nd];
  return t;
}

Tensor Tensor::select(int d, int64_t index) const {
  const int nd = normalize_dim(d);
  MLA_ENSURE(0 <= index && index < shape_[nd], kOutOfRange, "index ", index, " of dimension ", d,
             " of tensor ", describe());
  Tensor t = *this;
  t.offset_ += index * strides_[nd];
  t.shape_.erase(t.shape_.begin() + nd);
  t.strides_.erase(t.strides_.begin() + nd);
  return t;
}

Tensor Tensor::view(const Shape& shape) const {
  MLA_ENSURE(is_contiguous(), kFailedPrecondition, "view of non-contiguous tensor ", describe());
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MLA_ENSURE(infer < 0, kInvalidArgument, "view shape ", shape_string(shape), " has two -1");
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known > 0) s[infer] = numel() / known;
  MLA_ENSURE(shape_numel(s) == numel(), kInvalidArgument, "cannot view tensor ", describe(),
             " as ", shape_string(shape));
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  MLA_ENSURE(device().is_cpu(), kUnimplemented, "Tensor::clone on ", device().name());
  Tensor out = empty(shape_, dtype_);
  const size_t esize = dtype_size(dtype_);
  const int64_t n = numel();
  if (n == 0) return out;
  if (is_contiguous()) {
    std::memcpy(out.raw_data(), raw_data(), nbytes());
    return out;
  }
  // Walk the source in row-major order, copying one innermost run at a time.
  const int r = rank();
  const int64_t inner = r == 0 ? 1 : shape_[r - 1];
  const int64_t inner_stride = r == 0 ? 1 : strides_[r - 1];
  std::vector<int64_t> idx(r > 0 ? r - 1 : 0, 0);
  auto* dst = static_cast<char*>(out.raw_data());
  const auto* base = static_cast<const char*>(raw_data());
  for (int64_t row = 0; row < n / inner; ++row) {
    int64_t off = 0;
    for (int i = 0; i + 1 < r; ++i) off += idx[i] * strides_[i];
    for (int64_t j = 0; j < inner; ++j) {
      std::memcpy(dst, base + (off + j * inner_stride) * static_cast<int64_t>(esize), esize);
      dst += esize;
    }
    for (int i = r - 2; i >= 0; --i) {
      if (++idx[i] < shape_[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

std::string Tensor::describe() const {
  return shape_string(shape_) + " " + std::string(dtype_name(dtype_)) + " " + device().name();
}

}  // namespace mlaserve
