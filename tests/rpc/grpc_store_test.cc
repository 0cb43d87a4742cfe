// The store over a real gRPC server on 127.0.0.1 (port 0: the kernel picks a free port).
#include "rpc/grpc_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "parallel/gloo_communicator.h"
#include "rpc/store_service.h"
#include "runtime/core/error.h"

namespace mlaserve::rpc {
namespace {

using namespace std::chrono_literals;
using parallel::Bytes;
using ::testing::HasSubstr;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(GrpcStore, SetGetAddWaitThroughTheServer) {
  auto server = start_store_server("127.0.0.1", 0);
  ASSERT_GT(server->port(), 0);
  GrpcStore store(server->address());
  store.set("k", bytes(std::string("bin\0ary", 7)));
  EXPECT_EQ(store.get("k", 1s), bytes(std::string("bin\0ary", 7)));
  EXPECT_EQ(store.add("n", 3), 3);
  EXPECT_EQ(store.add("n", 4), 7);
  store.wait({"k", "n"}, 1s);
  // The hosting process sees the same map without RPC.
  EXPECT_EQ(server->store()->get("n", 0ms), bytes("7"));
}

TEST(GrpcStore, GetBlocksUntilAnotherClientSets) {
  auto server = start_store_server("127.0.0.1", 0);
  std::thread writer([&] {
    GrpcStore other(server->address());
    std::this_thread::sleep_for(100ms);
    other.set("late", bytes("v"));
  });
  GrpcStore store(server->address());
  EXPECT_EQ(store.get("late", 5s), bytes("v"));
  writer.join();
}

TEST(GrpcStore, ServerSideDeadlineComesBackNamingTheKey) {
  auto server = start_store_server("127.0.0.1", 0);
  GrpcStore store(server->address());
  const auto start = std::chrono::steady_clock::now();
  try {
    store.get("nobody/sets/this", 300ms);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_THAT(e.what(), HasSubstr("'nobody/sets/this'"));
    EXPECT_THAT(e.what(), HasSubstr(server->address()));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  try {
    store.wait({"x", "y"}, 100ms);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_THAT(e.what(), HasSubstr("'x', 'y'"));
  }
}

TEST(GrpcStore, ServerErrorsKeepTheirCode) {
  auto server = start_store_server("127.0.0.1", 0);
  GrpcStore store(server->address());
  store.set("text", bytes("not a number"));
  try {
    store.add("text", 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("store key 'text' holds a value that is not a counter"));
  }
}

TEST(GrpcStore, NobodyListeningIsUnavailableNamingTheAddress) {
  // Bind a port, then stop the server: nothing listens there any more.
  std::string address;
  { address = start_store_server("127.0.0.1", 0)->address(); }
  GrpcStore store(address, 500ms);
  const auto start = std::chrono::steady_clock::now();
  try {
    store.set("k", bytes("v"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("store server at " + address + " is not reachable"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(GrpcStore, StoppingTheServerReleasesBlockedCallsPromptly) {
  // A client blocked in a long get must not pin the server's shutdown until its timeout, and
  // must itself learn that the server is gone.
  auto server = start_store_server("127.0.0.1", 0);
  const std::string address = server->address();
  std::string error;
  ErrorCode code = ErrorCode::kInternal;
  std::thread client([&] {
    GrpcStore store(address, 1s);
    try {
      store.get("never", 60s);
    } catch (const Error& e) {
      code = e.code();
      error = e.what();
    }
  });
  std::this_thread::sleep_for(200ms);
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  client.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(code, ErrorCode::kUnavailable) << error;
  EXPECT_THAT(error, HasSubstr(address));
}

TEST(GrpcStore, ManyClientsCountTogether) {
  auto server = start_store_server("127.0.0.1", 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      GrpcStore store(server->address());
      for (int i = 0; i < 50; ++i) store.add("count", 1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(server->store()->add("count", 0), 200);
}

TEST(GrpcStore, GlooRendezvousThroughGrpcNamesTheMissingRank) {
  // Ranks 0 and 1 of 3 meet through the gRPC store; rank 2 never comes.
  auto server = start_store_server("127.0.0.1", 0);
  parallel::GlooOptions options;
  options.timeout = 1000ms;
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        parallel::connect_gloo(std::make_shared<GrpcStore>(server->address()), r, 3, options);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_THAT(e, HasSubstr("rank(s) 2 of 3 did not join"));
}

}  // namespace
}  // namespace mlaserve::rpc
