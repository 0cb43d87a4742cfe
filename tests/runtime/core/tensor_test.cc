#include "runtime/core/tensor.h"

#include <gtest/gtest.h>

#include "runtime/core/error.h"

namespace mlaserve {
namespace {

Tensor iota(const Shape& shape) {
  std::vector<float> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_floats(shape, v);
}

TEST(Tensor, EmptyHasContiguousStridesAndAlignedData) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::kBF16);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 48u);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  EXPECT_EQ(t.dim(-1), 4);
}

TEST(Tensor, SliceAndSelectShareStorage) {
  Tensor t = iota({3, 4});
  Tensor rows = t.slice(0, 1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 4}));
  EXPECT_EQ(rows.data<float>()[0], 4.0f);
  EXPECT_TRUE(rows.is_contiguous());

  Tensor cols = t.slice(1, 1, 3);
  EXPECT_FALSE(cols.is_contiguous());
  Tensor c = cols.contiguous();
  EXPECT_EQ(std::vector<float>(c.data<float>(), c.data<float>() + 6),
            (std::vector<float>{1, 2, 5, 6, 9, 10}));

  Tensor row2 = t.select(0, 2);
  EXPECT_EQ(row2.shape(), (Shape{4}));
  EXPECT_EQ(row2.data<float>()[3], 11.0f);
  row2.data<float>()[3] = -1.0f;
  EXPECT_EQ(t.data<float>()[11], -1.0f);  // a view writes through
}

TEST(Tensor, ViewInfersOneDimension) {
  Tensor t = iota({2, 6});
  EXPECT_EQ(t.view({3, -1}).shape(), (Shape{3, 4}));
  EXPECT_THROW(t.view({5, -1}), Error);
  EXPECT_THROW(t.slice(1, 0, 3).view({6}), Error);
}

TEST(Tensor, BadAccessIsAnErrorNotACrash) {
  Tensor t = iota({2, 2});
  EXPECT_THROW(t.data<uint16_t>(), Error);
  EXPECT_THROW(t.slice(0, 1, 3), Error);
  EXPECT_THROW(t.select(2, 0), Error);
  EXPECT_THROW(Tensor().raw_data(), Error);
  EXPECT_THROW(Tensor::empty({4}, DType::kF32, Device::cuda(0)).raw_data(), Error)
      << "no CUDA allocator is registered in a CPU-only test";
}

TEST(Tensor, CloneOfStridedViewWalksAllDimensions) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.slice(2, 1, 3).slice(1, 1, 3);  // [2, 2, 2]
  Tensor c = v.clone();
  EXPECT_EQ(std::vector<float>(c.data<float>(), c.data<float>() + 8),
            (std::vector<float>{5, 6, 9, 10, 17, 18, 21, 22}));
}

}  // namespace
}  // namespace mlaserve
