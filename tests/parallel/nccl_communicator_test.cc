// NCCL communicator, ranks as threads of this process (rank r on CUDA device r) meeting through a
// MemoryStore. Labelled gpu: device tests skip without enough CUDA devices (NCCL refuses two ranks
// of one communicator on the same GPU, so a world of n needs n devices); the argument checks and
// the no-device test run everywhere the backend builds. Collectives are stream-ordered: a test
// reads a result on the host only after the communicator's synchronize().
#include "parallel/nccl_communicator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <thread>

#include "kernels/cuda/backend.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "parallel/memory_store.h"
#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using RankFn = std::function<void(Communicator&)>;

NcclOptions options_for(int rank, NcclOptions base = {}) {
  base.device = rank;
  return base;
}

// Runs `fn` on `size` ranks (threads, rank r on device r); returns each rank's error message
// ("" when it succeeded).
std::vector<std::string> run_ranks(int size, const RankFn& fn, NcclOptions options = {}) {
  auto store = std::make_shared<MemoryStore>();
  std::vector<std::string> errors(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        cuda::set_cuda_device(r);  // host-side copies in `fn` use this thread's device
        auto comm = connect_nccl(store, r, size, options_for(r, options));
        fn(*comm);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

void expect_ok(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

// A device tensor on the calling thread's current device holding `host`. The copy is queued on
// the device's compute stream (where the allocation and the collectives are) and waited for, so
// `host` may go away on return.
template <typename T>
Tensor to_device(const std::vector<T>& host, const Shape& shape, DType dtype) {
  cuda::init_cuda_backend();
  int device = 0;
  MLA_CUDA_CHECK(cudaGetDevice(&device));
  Tensor t = Tensor::empty(shape, dtype, Device::cuda(device));
  if (t.nbytes() == 0) return t;
  cuda::copy_host_to_device(t.raw_data(), host.data(), t.nbytes(), cuda::compute_stream(device));
  cuda::synchronize(device);
  return t;
}

// `t`'s contents. Callers synchronize the communicator first: this copy is stream-ordered after
// the collectives too, but only synchronize() bounds a wait on a peer by the timeout.
template <typename T>
std::vector<T> to_host(const Tensor& t) {
  std::vector<T> host(static_cast<size_t>(t.numel()));
  if (host.empty()) return host;
  const int device = t.device().index;
  cuda::copy_device_to_host(host.data(), t.raw_data(), t.nbytes(), cuda::compute_stream(device));
  cuda::synchronize(device);
  return host;
}

// Rank r's input: values that make float sums order-sensitive (mixed magnitudes).
std::vector<float> input_of(int rank, int64_t n) {
  std::vector<float> v(n);
  uint32_t state = 1234567u + 7919u * rank;
  for (auto& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(static_cast<int32_t>(state >> 8) - (1 << 23)) *
        (rank % 2 ? 1e-3f : 1.7f);
  }
  return v;
}

class NcclSizes : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    const int devices = cuda::cuda_device_count();
    if (devices == 0) GTEST_SKIP() << "no CUDA device";
    if (GetParam() > devices)
      GTEST_SKIP() << "a world of " << GetParam() << " needs " << GetParam() << " devices, found "
                   << devices;
  }
};
INSTANTIATE_TEST_SUITE_P(Sizes, NcclSizes, ::testing::Values(1, 2, 4, 8));

TEST_P(NcclSizes, AllReduceSumMatchesHostSumAndIsIdenticalEverywhere) {
  const int size = GetParam();
  for (int64_t n : {1, 3, 4096, 100003}) {
    std::vector<std::vector<float>> results(size);
    expect_ok(run_ranks(size, [&](Communicator& c) {
      EXPECT_EQ(c.size(), size);
      Tensor t = to_device(input_of(c.rank(), n), {n}, DType::kF32);
      c.all_reduce_sum(t);
      c.synchronize();
      results[c.rank()] = to_host<float>(t);
    }));
    std::vector<std::vector<float>> inputs;
    for (int r = 0; r < size; ++r) inputs.push_back(input_of(r, n));
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0, magnitude = 0;
      for (int r = 0; r < size; ++r) {
        sum += inputs[r][i];
        magnitude += std::abs(inputs[r][i]);
      }
      ASSERT_NEAR(results[0][i], sum, 1e-6 * magnitude + 1e-30) << "n=" << n << " i=" << i;
    }
    for (int r = 1; r < size; ++r)  // bit-identical on every rank
      EXPECT_EQ(std::memcmp(results[r].data(), results[0].data(), n * sizeof(float)), 0);
  }
}

TEST_P(NcclSizes, AllReduceIsBitIdenticalRunAfterRun) {
  const int size = GetParam();
  const int64_t n = 50001;
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 3; ++run) {
    std::vector<float> rank0;
    expect_ok(run_ranks(size, [&](Communicator& c) {
      Tensor t = to_device(input_of(c.rank(), n), {n}, DType::kF32);
      c.all_reduce_sum(t);
      c.all_reduce_sum(t);  // a second pass over data that is now identical everywhere
      c.synchronize();
      if (c.rank() == 0) rank0 = to_host<float>(t);
    }));
    runs.push_back(rank0);
  }
  for (int run = 1; run < 3; ++run) {
    ASSERT_EQ(runs[run].size(), runs[0].size());
    EXPECT_EQ(std::memcmp(runs[run].data(), runs[0].data(), n * sizeof(float)), 0);
  }
}

TEST_P(NcclSizes, AllGatherConcatenatesInRankOrder) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    std::vector<int32_t> mine(6);
    for (int i = 0; i < 6; ++i) mine[i] = 100 * c.rank() + i;
    Tensor all = c.all_gather(to_device(mine, {2, 3}, DType::kI32));
    ASSERT_EQ(all.shape(), (Shape{2 * size, 3}));
    EXPECT_EQ(all.device(), Device::cuda(c.rank()));
    c.synchronize();
    const std::vector<int32_t> got = to_host<int32_t>(all);
    for (int r = 0; r < size; ++r)
      for (int i = 0; i < 6; ++i) EXPECT_EQ(got[6 * r + i], 100 * r + i);
  }));
}

TEST_P(NcclSizes, BroadcastCopiesTheRootFromAnyRoot) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    for (int root = 0; root < size; ++root) {
      Tensor t = to_device(std::vector<float>(5, static_cast<float>(c.rank())), {5}, DType::kF32);
      c.broadcast(t, root);
      c.synchronize();
      EXPECT_EQ(to_host<float>(t), std::vector<float>(5, static_cast<float>(root)));
    }
  }));
}

TEST_P(NcclSizes, AllToAllVRoutesUnevenRowsIncludingEmptyOnes) {
  const int size = GetParam();
  // Rank s sends (s + d) % 3 rows to rank d; row values encode (source, destination, index).
  auto rows = [](int s, int d) { return static_cast<int64_t>((s + d) % 3); };
  expect_ok(run_ranks(size, [&](Communicator& c) {
    const int me = c.rank();
    std::vector<int64_t> send(size), recv(size);
    std::vector<float> in;
    for (int d = 0; d < size; ++d) {
      send[d] = rows(me, d);
      recv[d] = rows(d, me);
      for (int64_t i = 0; i < send[d]; ++i)
        for (int k = 0; k < 2; ++k) in.push_back(1000.f * me + 100.f * d + 10.f * i + k);
    }
    const int64_t n_in = static_cast<int64_t>(in.size()) / 2;
    Tensor out = c.all_to_all_v(to_device(in, {n_in, 2}, DType::kF32), send, recv);
    std::vector<float> expected;
    for (int s = 0; s < size; ++s)
      for (int64_t i = 0; i < rows(s, me); ++i)
        for (int k = 0; k < 2; ++k) expected.push_back(1000.f * s + 100.f * me + 10.f * i + k);
    ASSERT_EQ(out.dim(0), static_cast<int64_t>(expected.size()) / 2);
    c.synchronize();
    EXPECT_EQ(to_host<float>(out), expected);
  }));
}

// An op queued on the compute stream after a collective reads its result with no host wait in
// between (here a device-to-device copy of the all-reduced tensor), then one synchronize.
TEST_P(NcclSizes, OpsQueuedAfterACollectiveSeeItsResult) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    const int64_t n = 100003;
    Tensor t = to_device(std::vector<float>(n, c.rank() + 1.f), {n}, DType::kF32);
    c.all_reduce_sum(t);
    Tensor copy = Tensor::empty({n}, DType::kF32, t.device());
    cuda::copy_device_to_device(copy.raw_data(), t.raw_data(), t.nbytes(),
                                cuda::compute_stream(t.device().index));
    c.synchronize();
    EXPECT_EQ(to_host<float>(copy), std::vector<float>(n, size * (size + 1) / 2.f));
  }));
}

TEST_P(NcclSizes, BarrierHoldsEveryRankUntilTheLastArrives) {
  const int size = GetParam();
  std::atomic<int> arrived{0};
  expect_ok(run_ranks(size, [&](Communicator& c) {
    if (c.rank() == size - 1) std::this_thread::sleep_for(200ms);
    arrived++;
    c.barrier();
    EXPECT_EQ(arrived.load(), size);
  }));
}

TEST_P(NcclSizes, SplitFormsSubGroupsByColorOrderedByKey) {
  const int size = GetParam();
  // Colors alternate; keys reverse the order inside each group. The last rank opts out of a
  // second split with a negative color.
  expect_ok(run_ranks(size, [&](Communicator& world) {
    const int r = world.rank();
    auto sub = world.split(r % 2, -r);
    ASSERT_NE(sub, nullptr);
    const int sub_size = (size - r % 2 + 1) / 2;  // ranks with my parity
    EXPECT_EQ(sub->size(), sub_size);
    EXPECT_EQ(sub->rank(), sub_size - 1 - r / 2);
    EXPECT_THAT(sub->name(), HasSubstr("world/split0/color" + std::to_string(r % 2)));
    Tensor t = to_device(std::vector<float>{static_cast<float>(r)}, {1}, DType::kF32);
    sub->all_reduce_sum(t);
    sub->synchronize();
    float expected = 0;
    for (int q = r % 2; q < size; q += 2) expected += static_cast<float>(q);
    EXPECT_EQ(to_host<float>(t)[0], expected);
    // The parent group still works after the split, in between sub-group calls.
    Tensor w = to_device(std::vector<float>{1.f}, {1}, DType::kF32);
    world.all_reduce_sum(w);
    world.synchronize();
    EXPECT_EQ(to_host<float>(w)[0], static_cast<float>(size));
    const bool opt_out = size > 1 && r == size - 1;
    auto second = world.split(opt_out ? -1 : 0, r);
    if (opt_out) {
      EXPECT_EQ(second, nullptr);
    } else {
      ASSERT_NE(second, nullptr);
      EXPECT_EQ(second->size(), size > 1 ? size - 1 : 1);
      EXPECT_THAT(second->name(), HasSubstr("world/split1/color0"));
      second->barrier();
    }
  }));
}

TEST_P(NcclSizes, BytesSentFollowTheRingSchedules) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    const uint64_t n = static_cast<uint64_t>(size);
    Tensor t = to_device(std::vector<float>(1024, 0.f), {1024}, DType::kF32);  // 4096 bytes
    c.all_reduce_sum(t);
    uint64_t expected = 2 * 4096 * (n - 1) / n;
    EXPECT_EQ(c.bytes_sent(), expected);
    c.all_gather(t.view({1, 1024}));
    expected += 4096 * (n - 1);
    EXPECT_EQ(c.bytes_sent(), expected);
    c.broadcast(t, 0);
    expected += 4096 * (n - 1) / n;
    EXPECT_EQ(c.bytes_sent(), expected);
    c.barrier();  // not counted
    EXPECT_EQ(c.bytes_sent(), expected);
  }));
}

TEST(NcclSingleRank, EveryOperationIsTheIdentity) {
  if (cuda::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  expect_ok(run_ranks(1, [](Communicator& c) {
    EXPECT_EQ(c.rank(), 0);
    EXPECT_EQ(c.size(), 1);
    EXPECT_EQ(c.name(), "world");
    const std::vector<float> values{1.5f, -2.f, 3.25f, 1e-30f};
    Tensor t = to_device(values, {2, 2}, DType::kF32);
    c.all_reduce_sum(t);
    c.synchronize();
    EXPECT_EQ(to_host<float>(t), values);
    Tensor gathered = c.all_gather(t);
    c.synchronize();
    EXPECT_EQ(to_host<float>(gathered), values);
    c.broadcast(t, 0);
    c.synchronize();
    EXPECT_EQ(to_host<float>(t), values);
    Tensor exchanged = c.all_to_all_v(t, {2}, {2});
    c.synchronize();
    EXPECT_EQ(to_host<float>(exchanged), values);
    // Empty tensors are accepted and move nothing.
    Tensor empty = to_device(std::vector<float>{}, {0, 2}, DType::kF32);
    c.all_reduce_sum(empty);
    EXPECT_EQ(c.all_gather(empty).shape(), (Shape{0, 2}));
    EXPECT_EQ(c.all_to_all_v(empty, {0}, {0}).shape(), (Shape{0, 2}));
    c.barrier();
    c.synchronize();  // nothing outstanding: returns at once
    EXPECT_EQ(c.bytes_sent(), 0u);
  }));
}

TEST(NcclContract, RejectsHostTensorsWrongDtypeAndBadCounts) {
  if (cuda::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  expect_ok(run_ranks(1, [](Communicator& c) {
    auto code_of = [](const std::function<void()>& fn) {
      try {
        fn();
      } catch (const Error& e) {
        return e.code();
      }
      return ErrorCode::kInternal;  // "no throw" shows as a mismatch below
    };
    Tensor host = Tensor::from_floats({2}, {1, 2});
    EXPECT_EQ(code_of([&] { c.all_reduce_sum(host); }), ErrorCode::kInvalidArgument);
    Tensor i = to_device(std::vector<int32_t>{1, 2}, {2}, DType::kI32);
    EXPECT_EQ(code_of([&] { c.all_reduce_sum(i); }), ErrorCode::kInvalidArgument);
    Tensor f = to_device(std::vector<float>{1, 2}, {2, 1}, DType::kF32);
    EXPECT_EQ(code_of([&] { c.all_to_all_v(f, {3}, {3}); }), ErrorCode::kInvalidArgument);
    EXPECT_EQ(code_of([&] { c.all_to_all_v(f, {1, 1}, {1, 1}); }), ErrorCode::kInvalidArgument);
    EXPECT_EQ(code_of([&] { c.broadcast(f, 1); }), ErrorCode::kInvalidArgument);
    // Argument errors do not break the communicator.
    c.all_reduce_sum(f);
    c.synchronize();
    EXPECT_EQ(to_host<float>(f), (std::vector<float>{1, 2}));
  }));
}

TEST(NcclFailure, AMissingRankTimesOutInInitWithinTheDeadline) {
  if (cuda::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  // Rank 0 of 2 alone: it publishes the id, NCCL init waits for rank 1, the deadline aborts it.
  NcclOptions options;
  options.timeout = 1500ms;
  const auto start = std::chrono::steady_clock::now();
  try {
    connect_nccl(std::make_shared<MemoryStore>(), 0, 2, options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("group 'world' rank 0 of 2: NCCL init did not complete"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms + 3s);
}

TEST(NcclFailure, Rank0sIdThatNeverArrivesIsNamed) {
  if (cuda::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  NcclOptions options;
  options.timeout = 300ms;
  options.name = "tp";
  try {
    connect_nccl(std::make_shared<MemoryStore>(), 1, 2, options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("group 'tp' rank 1: rank 0's NCCL id never arrived"));
    EXPECT_THAT(e.what(), HasSubstr("tp/nccl_id"));
  }
}

TEST(NcclFailure, ARankThatStopsCallingTimesOutInSynchronizeAndStaysBroken) {
  if (cuda::cuda_device_count() < 2) GTEST_SKIP() << "needs 2 CUDA devices";
  NcclOptions options;
  options.timeout = 1000ms;
  auto store = std::make_shared<MemoryStore>();
  std::atomic<bool> rank0_done{false};
  std::string error1;
  const std::vector<float> ones(4, 1.f);
  std::thread rank1([&] {
    try {
      cuda::set_cuda_device(1);
      auto c = connect_nccl(store, 1, 2, options_for(1, options));
      // One all-reduce together (NCCL may connect its peers on first use, inside the enqueue),
      // then it never enters the next one; it stays alive until rank 0 has given up. Its
      // destructor then finds the peer gone and aborts within its timeout.
      Tensor t = to_device(ones, {4}, DType::kF32);
      c->all_reduce_sum(t);
      c->synchronize();
      while (!rank0_done) std::this_thread::sleep_for(10ms);
    } catch (const std::exception& e) {
      error1 = e.what();
    }
  });
  cuda::set_cuda_device(0);
  auto c = connect_nccl(store, 0, 2, options_for(0, options));
  Tensor warm = to_device(ones, {4}, DType::kF32);  // same size: same algorithm, same connections
  c->all_reduce_sum(warm);
  c->synchronize();
  Tensor t = to_device(std::vector<float>{1, 2, 3, 4}, {4}, DType::kF32);
  const auto start = std::chrono::steady_clock::now();
  bool enqueued = false;
  try {
    c->all_reduce_sum(t);  // returns once enqueued: the peer is not needed for that
    enqueued = true;
    c->synchronize();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(enqueued) << "the enqueue itself waited on the peer: " << e.what();
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("synchronize in group 'world' at rank 0 did not complete "
                                    "within 1000 ms"));
    EXPECT_THAT(e.what(), HasSubstr("last collective issued: all_reduce_sum"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms + 3s);
  try {
    c->barrier();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("broken by an earlier failure"));
  }
  try {
    c->synchronize();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("synchronize in group 'world' at rank 0"));
  }
  rank0_done = true;
  rank1.join();
  EXPECT_EQ(error1, "");
}

TEST(NcclStreamOrder, ACollectiveReturnsOnceEnqueuedAndSynchronizeWaitsForItsPeer) {
  if (cuda::cuda_device_count() < 2) GTEST_SKIP() << "needs 2 CUDA devices";
  // Rank 1 enters the second all-reduce 800 ms late. Rank 0's call returns long before that
  // (no host wait per collective); its synchronize returns only after rank 1 has contributed.
  const std::vector<float> mine0(256, 1.f), mine1(256, 2.f);
  expect_ok(run_ranks(2, [&](Communicator& c) {
    const std::vector<float>& mine = c.rank() == 0 ? mine0 : mine1;
    Tensor warm = to_device(mine, {256}, DType::kF32);  // connects the peers, same algorithm
    c.all_reduce_sum(warm);
    c.synchronize();
    Tensor t = to_device(mine, {256}, DType::kF32);
    if (c.rank() == 1) {
      std::this_thread::sleep_for(800ms);
      c.all_reduce_sum(t);
      c.synchronize();
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    c.all_reduce_sum(t);
    const auto enqueued = std::chrono::steady_clock::now() - t0;
    c.synchronize();
    const auto completed = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(enqueued, 400ms);
    EXPECT_GT(completed, 500ms);
    EXPECT_EQ(to_host<float>(t), std::vector<float>(256, 3.f));
  }));
}

// These run on every machine the backend builds on, GPU or not.
TEST(NcclConnect, RejectsBadArgumentsBeforeTouchingADevice) {
  auto store = std::make_shared<MemoryStore>();
  try {
    connect_nccl(store, 2, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("group 'world': rank 2 is outside a group of size 2"));
  }
  NcclOptions zero;
  zero.timeout = 0ms;
  EXPECT_THROW(connect_nccl(store, 0, 1, zero), Error);
  EXPECT_THROW(connect_nccl(nullptr, 0, 1), Error);
}

TEST(NcclConnect, AMissingDeviceIsUnavailable) {
  // Device 64 does not exist on any machine we run on; without a GPU neither does device 0.
  NcclOptions options;
  options.device = cuda::cuda_device_count() == 0 ? 0 : 64;
  options.name = "ep";
  try {
    connect_nccl(std::make_shared<MemoryStore>(), 0, 1, options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("group 'ep' rank 0: CUDA device " +
                                    std::to_string(options.device) + " is not available"));
  }
}

}  // namespace
}  // namespace mlaserve::parallel
