// Gloo over real TCP on 127.0.0.1, ranks as threads of this process meeting through a MemoryStore.
// (Ranks as separate processes, including killing one mid-collective, are in tests/rpc, where a
// store can be shared across processes.)
#include "parallel/gloo_communicator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <thread>

#include "parallel/memory_store.h"
#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using RankFn = std::function<void(Communicator&)>;

// Runs `fn` on `size` ranks (threads); returns each rank's error message ("" when it succeeded).
std::vector<std::string> run_ranks(int size, const RankFn& fn, GlooOptions options = {},
                                   std::shared_ptr<Store> store = nullptr) {
  if (!store) store = std::make_shared<MemoryStore>();
  std::vector<std::string> errors(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm = connect_gloo(store, r, size, options);
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

std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

class GlooSizes : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Sizes, GlooSizes, ::testing::Values(1, 2, 4));

TEST_P(GlooSizes, AllReduceSumMatchesPlainSumAndIsIdenticalEverywhere) {
  const int size = GetParam();
  for (int64_t n : {1, 3, 4096, 100003}) {
    std::vector<std::vector<float>> results(size);
    expect_ok(run_ranks(size, [&](Communicator& c) {
      EXPECT_EQ(c.size(), size);
      Tensor t = Tensor::from_floats({n}, input_of(c.rank(), n));
      c.all_reduce_sum(t);
      results[c.rank()] = values(t);
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

TEST_P(GlooSizes, AllReduceIsBitIdenticalRunAfterRun) {
  const int size = GetParam();
  const int64_t n = 50001;
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 3; ++run) {
    std::vector<float> rank0;
    expect_ok(run_ranks(size, [&](Communicator& c) {
      Tensor t = Tensor::from_floats({n}, input_of(c.rank(), n));
      c.all_reduce_sum(t);
      c.all_reduce_sum(t);  // a second pass over data that is now identical everywhere
      if (c.rank() == 0) rank0 = values(t);
    }));
    runs.push_back(rank0);
  }
  for (int run = 1; run < 3; ++run)
    EXPECT_EQ(std::memcmp(runs[run].data(), runs[0].data(), n * sizeof(float)), 0);
}

TEST_P(GlooSizes, AllGatherConcatenatesInRankOrder) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    Tensor t = Tensor::empty({2, 3}, DType::kI32);
    for (int i = 0; i < 6; ++i) t.data<int32_t>()[i] = 100 * c.rank() + i;
    Tensor all = c.all_gather(t);
    ASSERT_EQ(all.shape(), (Shape{2 * size, 3}));
    for (int r = 0; r < size; ++r)
      for (int i = 0; i < 6; ++i) EXPECT_EQ(all.data<int32_t>()[6 * r + i], 100 * r + i);
  }));
}

TEST_P(GlooSizes, BroadcastCopiesTheRootFromAnyRoot) {
  const int size = GetParam();
  expect_ok(run_ranks(size, [&](Communicator& c) {
    for (int root = 0; root < size; ++root) {
      Tensor t = Tensor::from_floats({5}, std::vector<float>(5, static_cast<float>(c.rank())));
      c.broadcast(t, root);
      EXPECT_EQ(values(t), std::vector<float>(5, static_cast<float>(root)));
    }
  }));
}

TEST_P(GlooSizes, AllToAllVRoutesRowsIncludingEmptyOnes) {
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
    Tensor input = n_in ? Tensor::from_floats({n_in, 2}, in) : Tensor::empty({0, 2}, DType::kF32);
    Tensor out = c.all_to_all_v(input, send, recv);
    std::vector<float> expected;
    for (int s = 0; s < size; ++s)
      for (int64_t i = 0; i < rows(s, me); ++i)
        for (int k = 0; k < 2; ++k) expected.push_back(1000.f * s + 100.f * me + 10.f * i + k);
    ASSERT_EQ(out.dim(0), static_cast<int64_t>(expected.size()) / 2);
    EXPECT_EQ(values(out), expected);
    if (size > 1) {
      EXPECT_GT(c.bytes_sent(), 0u);
    }
  }));
}

TEST_P(GlooSizes, BarrierHoldsEveryRankUntilTheLastArrives) {
  const int size = GetParam();
  std::atomic<int> arrived{0};
  expect_ok(run_ranks(size, [&](Communicator& c) {
    if (c.rank() == size - 1) std::this_thread::sleep_for(200ms);
    arrived++;
    c.barrier();
    EXPECT_EQ(arrived.load(), size);
    c.synchronize();  // Gloo's calls complete on return: nothing outstanding, no peer involved
  }));
}

TEST(GlooBytesSent, FollowsTheAlgorithmSchedules) {
  expect_ok(run_ranks(2, [](Communicator& c) {
    Tensor t = Tensor::zeros({1024}, DType::kF32);  // 4096 bytes
    c.all_reduce_sum(t);
    EXPECT_EQ(c.bytes_sent(), 4096u);  // ring: 2 (n-1)/n of the data
    c.all_gather(t.view({1, 1024}));
    EXPECT_EQ(c.bytes_sent(), 8192u);  // (n-1) blocks
    c.broadcast(t, 0);
    EXPECT_EQ(c.bytes_sent(), c.rank() == 0 ? 12288u : 8192u);  // only the root sends
  }));
}

TEST(GlooSplit, FormsSubGroupsByColorOrderedByKey) {
  // 4 ranks -> colors {0,1,0,1}; keys reverse the order inside each group. Rank 3 opts out of a
  // second split with a negative color.
  expect_ok(run_ranks(4, [](Communicator& world) {
    const int r = world.rank();
    auto sub = world.split(r % 2, -r);
    ASSERT_NE(sub, nullptr);
    EXPECT_EQ(sub->size(), 2);
    EXPECT_EQ(sub->rank(), r < 2 ? 1 : 0);
    EXPECT_THAT(sub->name(), HasSubstr("world/split0/color" + std::to_string(r % 2)));
    Tensor t = Tensor::from_floats({1}, {static_cast<float>(r)});
    sub->all_reduce_sum(t);
    EXPECT_EQ(values(t)[0], r % 2 == 0 ? 0.f + 2.f : 1.f + 3.f);
    // The parent group still works after the split, in between sub-group calls.
    Tensor w = Tensor::from_floats({1}, {1.f});
    world.all_reduce_sum(w);
    EXPECT_EQ(values(w)[0], 4.f);
    auto second = world.split(r == 3 ? -1 : 0, r);
    if (r == 3) {
      EXPECT_EQ(second, nullptr);
    } else {
      ASSERT_NE(second, nullptr);
      EXPECT_EQ(second->size(), 3);
      second->barrier();
    }
  }));
}

TEST(GlooFailure, AMissingRankIsNamedWithinTheDeadline) {
  // A group of 3 where rank 2 never starts: ranks 0 and 1 must fail within the timeout, naming 2.
  auto store = std::make_shared<MemoryStore>();
  GlooOptions options;
  options.timeout = 1500ms;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        connect_gloo(store, r, 3, options);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  for (const auto& e : errors) {
    EXPECT_THAT(e, HasSubstr("group 'world': rank(s) 2 of 3 did not join within 1500 ms"));
  }
}

TEST(GlooFailure, ARankThatStopsCallingTimesOutAsUnavailableAndStaysBroken) {
  GlooOptions options;
  options.timeout = 1000ms;
  auto store = std::make_shared<MemoryStore>();
  std::atomic<bool> rank1_done{false};
  std::string error0;
  std::thread rank1([&] {
    auto c = connect_gloo(store, 1, 2, options);
    // Joins, then never enters the collective; stays alive until rank 0 has given up.
    while (!rank1_done) std::this_thread::sleep_for(10ms);
  });
  auto c = connect_gloo(store, 0, 2, options);
  Tensor t = Tensor::from_floats({4}, {1, 2, 3, 4});
  const auto start = std::chrono::steady_clock::now();
  try {
    c->all_reduce_sum(t);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("all_reduce_sum in group 'world' failed at rank 0"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  try {
    c->barrier();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("broken by an earlier failure"));
  }
  // synchronize has nothing to wait for, but a broken group still says so.
  try {
    c->synchronize();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("synchronize in group 'world' at rank 0"));
  }
  rank1_done = true;
  rank1.join();
}

TEST(GlooContract, RejectsWrongDtypeAndBadCounts) {
  expect_ok(run_ranks(1, [](Communicator& c) {
    Tensor i = Tensor::empty({2}, DType::kI32);
    EXPECT_THROW(c.all_reduce_sum(i), Error);
    Tensor f = Tensor::from_floats({2, 1}, {1, 2});
    EXPECT_THROW(c.all_to_all_v(f, {3}, {3}), Error);
    EXPECT_THROW(c.all_to_all_v(f, {1, 1}, {1, 1}), Error);
    EXPECT_THROW(c.broadcast(f, 1), Error);
  }));
}

}  // namespace
}  // namespace mlaserve::parallel
