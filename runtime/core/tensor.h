#pragma once
// Tensor: a strided view (shape, strides, offset) over reference-counted storage on one device.
// Views share storage; nothing here computes — runtime/ops does.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/device.h"
#include "runtime/core/dtype.h"

namespace mlaserve {

using Shape = std::vector<int64_t>;

// Allocates and frees raw device memory. CPU is built in; a backend (kernels/cuda) registers its
// own for its device type, so core never includes a device runtime.
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes, Device device) = 0;
  virtual void deallocate(void* ptr, Device device) = 0;
};
void register_allocator(DeviceType type, Allocator* allocator);
Allocator& allocator_for(DeviceType type);  // throws kUnimplemented if none is registered

// Owns (or borrows, keeping an owner alive) a block of device memory.
class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  // Wraps memory owned elsewhere (an mmap'd file, a pinned buffer); `owner` keeps it alive.
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, Device device,
                                       std::shared_ptr<const void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device, bool owned, std::shared_ptr<const void> owner)
      : data_(data), bytes_(bytes), device_(device), owned_(owned), owner_(std::move(owner)) {}
  void* data_;
  size_t bytes_;
  Device device_;
  bool owned_;
  std::shared_ptr<const void> owner_;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // A contiguous tensor over existing memory; `owner` keeps that memory alive.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device,
                     std::shared_ptr<const void> owner);
  // A CPU f32 tensor holding `values`; handy in tests and for small tables.
  static Tensor from_floats(const Shape& shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int d) const;  // negative d counts from the end
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* raw_data() const;
  // Typed access: checks that T matches dtype() (uint16_t for bf16/f16).
  template <typename T>
  T* data() const {
    check_element_type(sizeof(T), type_tag<T>());
    return static_cast<T*>(raw_data());
  }

  // Views (share storage).
  Tensor slice(int d, int64_t start, int64_t end) const;  // [start, end) along d
  Tensor select(int d, int64_t index) const;              // drops dimension d
  Tensor view(const Shape& shape) const;                  // contiguous tensors only; one -1 allowed

  // A contiguous copy on the CPU (a no-op view when already contiguous).
  Tensor contiguous() const;
  Tensor clone() const;

  std::string describe() const;  // "[2, 3] f32 cpu"

 private:
  enum class Tag { kFloat, kHalf, kI32, kI64, kOther };
  template <typename T>
  static constexpr Tag type_tag() {
    if constexpr (std::is_same_v<std::remove_cv_t<T>, float>) return Tag::kFloat;
    else if constexpr (std::is_same_v<std::remove_cv_t<T>, uint16_t>) return Tag::kHalf;
    else if constexpr (std::is_same_v<std::remove_cv_t<T>, int32_t>) return Tag::kI32;
    else if constexpr (std::is_same_v<std::remove_cv_t<T>, int64_t>) return Tag::kI64;
    else return Tag::kOther;
  }
  void check_element_type(size_t size, Tag tag) const;
  int normalize_dim(int d) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::kF32;
};

std::string shape_string(const Shape& shape);  // "[2, 3]"
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);

}  // namespace mlaserve
