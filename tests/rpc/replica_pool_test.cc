// ReplicaPool with in-memory links: a replica that goes away hands its requests that streamed
// nothing to another healthy replica (the same Submit, same id) and fails the others with
// UNAVAILABLE; it may register again and is routed to; a stale stream's end leaves its successor
// alone.
#include "rpc/replica_pool.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

namespace mlaserve::rpc {
namespace {

using namespace std::chrono_literals;

class FakeLink final : public ReplicaLink {
 public:
  bool send(const internal::CoordinatorMessage& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(message);
    return true;
  }
  std::vector<internal::CoordinatorMessage> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  std::mutex mu_;
  std::vector<internal::CoordinatorMessage> sent_;
};

EngineRequest request(int64_t max_tokens) {
  EngineRequest r;
  r.prompt = {1, 2, 3};
  r.max_tokens = max_tokens;
  return r;
}

TEST(ReplicaPool, ALostReplicasUnstartedRequestsMoveTheStreamingOnesFail) {
  ReplicaPool pool({.replicas = 2});
  auto link0 = std::make_shared<FakeLink>(), link1 = std::make_shared<FakeLink>();
  pool.attach(0, link0);
  pool.attach(1, link1);
  // Replica 0 gets a long request first, so the two short ones both go to replica 1.
  pool.submit(request(1000));
  const auto streaming = pool.submit(request(4));
  const auto waiting = pool.submit(request(4));
  ASSERT_EQ(streaming.replica, 1);
  ASSERT_EQ(waiting.replica, 1);
  internal::RequestOutput out;
  out.set_id(streaming.id);
  out.add_new_tokens(7);
  pool.deliver(1, out);

  pool.detach(1, link1.get(), "test");
  const auto failed = streaming.channel->take(1s);
  ASSERT_TRUE(failed.failure.has_value());
  EXPECT_EQ(failed.failure->code(), ErrorCode::kUnavailable);
  EXPECT_EQ(failed.outputs.size(), 1u);  // what streamed before stays delivered
  const auto sent0 = link0->sent();
  ASSERT_EQ(sent0.size(), 2u);
  EXPECT_EQ(sent0[1].submit().id(), waiting.id);
  EXPECT_EQ(pool.requests_requeued(), 1);
  EXPECT_EQ(pool.in_flight(), 2);

  // Replica 0 now delivers the moved request; it finishes normally.
  internal::RequestOutput done;
  done.set_id(waiting.id);
  done.set_finished(true);
  done.set_finish_reason("length");
  pool.deliver(0, done);
  const auto news = waiting.channel->take(1s);
  EXPECT_FALSE(news.failure.has_value());
  ASSERT_EQ(news.outputs.size(), 1u);
  EXPECT_EQ(news.outputs[0].finish_reason(), "length");
}

TEST(ReplicaPool, ALostReplicaRegistersAgainAndAStaleStreamEndIsIgnored) {
  ReplicaPool pool({.replicas = 1});
  auto old_link = std::make_shared<FakeLink>(), new_link = std::make_shared<FakeLink>();
  pool.attach(0, old_link);
  pool.detach(0, old_link.get(), "test");
  EXPECT_EQ(pool.attached_replicas(), 0);
  EXPECT_THROW(pool.submit(request(4)), Error);  // no healthy replica
  pool.attach(0, new_link);
  pool.detach(0, old_link.get(), "the old stream ended late");
  EXPECT_EQ(pool.attached_replicas(), 1);
  const auto admitted = pool.submit(request(4));
  EXPECT_EQ(admitted.replica, 0);
  EXPECT_EQ(new_link->sent().size(), 1u);
  EXPECT_EQ(pool.replicas_lost(), 1);
}

}  // namespace
}  // namespace mlaserve::rpc
