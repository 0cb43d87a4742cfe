#pragma once
// The coordinator's view of its replicas and of every request in flight: admission (a limit on
// requests admitted and not finished), routing (rpc/routing.h), delivery of each leader's
// outputs to the request's channel, and what happens when a replica goes away: its requests that
// have streamed nothing yet move to another healthy replica, the rest fail with kUnavailable.
// A replica that went away may register again (the launcher restarted its workers) and is back
// in service. Thread-safe: Generate handlers, the dispatch streams and the watchdog all call in.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <unordered_map>
#include <vector>

#include "rpc/proto/dispatch.pb.h"
#include "rpc/request_channel.h"
#include "runtime/engine/request.h"

namespace mlaserve::rpc {

// The coordinator's end of one leader's Connect stream.
class ReplicaLink {
 public:
  virtual ~ReplicaLink() = default;
  // False when the stream is already broken.
  virtual bool send(const internal::CoordinatorMessage& message) = 0;
};

struct PoolOptions {
  int replicas = 1;
  int64_t max_queued_requests = 1024;  // admitted and not finished, over all replicas
  // A leader silent this long (no output, no heartbeat) is taken out of service.
  std::chrono::milliseconds heartbeat_timeout{30000};
};

struct ReplicaStatus {
  bool attached = false;  // registered, and its stream has not broken
  bool healthy = false;   // attached and heard from within the heartbeat timeout
  int64_t outstanding_requests = 0;
  int64_t outstanding_work = 0;
  int64_t running = 0, waiting = 0;  // from its last heartbeat
  double cache_usage = 0;
  int64_t generated_tokens = 0;
};

class ReplicaPool {
 public:
  explicit ReplicaPool(const PoolOptions& options);

  // --- the dispatch side (one Connect stream per replica) ---
  // kInvalidArgument for an index outside [0, replicas), kFailedPrecondition if it is attached.
  // A replica detached before (its workers restarted) attaches again.
  void attach(int replica, std::shared_ptr<ReplicaLink> link);
  void heard_from(int replica, const internal::Heartbeat* heartbeat);
  void deliver(int replica, const internal::RequestOutput& output);
  // The stream `link` broke: the replica's requests move or fail (kUnavailable naming `why`).
  // Nothing happens when `link` is no longer the replica's (a stale stream of a replica that has
  // registered again since).
  void detach(int replica, const ReplicaLink* link, const std::string& why);
  // Detaches every replica silent for longer than the heartbeat timeout.
  void expire_silent_replicas();

  // --- the Generate side ---
  struct Admitted {
    RequestId id = 0;
    int replica = -1;
    std::shared_ptr<RequestChannel> channel;
  };
  // kUnavailable while draining or with no healthy replica, kResourceExhausted at the limit.
  Admitted submit(const EngineRequest& request);
  // The client left or its deadline passed: the leader aborts it and frees its blocks.
  void abort(RequestId id);
  // The handler is done with a request that ended on its own (finish reason or failure).
  void forget(RequestId id);

  // --- lifecycle ---
  int attached_replicas() const;
  std::vector<ReplicaStatus> status() const;
  // Times a replica went out of service (detached), over all replicas.
  int64_t replicas_lost() const;
  // Requests moved to another replica because theirs went away before streaming a token.
  int64_t requests_requeued() const;
  int64_t in_flight() const;
  void start_draining();  // new requests get kUnavailable from now on
  bool draining() const;
  // True when nothing is in flight before `deadline`.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  void shutdown_replicas();  // every leader still connected gets Shutdown
  const PoolOptions& options() const { return options_; }

 private:
  struct Replica {
    std::shared_ptr<ReplicaLink> link;  // null until attached, and after detach
    // A lost replica's stream, if it is still open (its leader went silent): it still gets
    // Shutdown, so a leader that wakes up exits cleanly.
    std::shared_ptr<ReplicaLink> retired;
    std::chrono::steady_clock::time_point last_heard;
    int64_t outstanding_requests = 0, outstanding_work = 0;
    int64_t running = 0, waiting = 0;
    double cache_usage = 0;
    int64_t generated_tokens = 0;
  };
  struct InFlight {
    int replica = -1;
    int64_t prompt_len = 0;
    int64_t remaining_work = 0;
    int64_t total_work = 0;  // remaining_work at admission
    bool prefilled = false;
    std::shared_ptr<RequestChannel> channel;
    internal::Submit submit;  // kept to send it again elsewhere while nothing has streamed
  };
  // A Submit to send once the lock is released (a stream write may block).
  struct PendingSend {
    int replica = -1;
    std::shared_ptr<ReplicaLink> link;
    internal::CoordinatorMessage message;
  };
  bool healthy(const Replica& r, std::chrono::steady_clock::time_point now) const;
  int attached_replicas_locked() const;
  int pick_locked(std::chrono::steady_clock::time_point now) const;
  void detach_locked(int replica, const std::string& why, std::vector<PendingSend>& resend);
  // Sends `resend`; a replica whose stream refuses is detached in turn.
  void send_all(std::vector<PendingSend> resend);
  void erase_locked(std::unordered_map<RequestId, InFlight>::iterator it);

  const PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<Replica> replicas_;
  std::unordered_map<RequestId, InFlight> requests_;
  RequestId next_id_ = 1;
  bool draining_ = false;
  int64_t replicas_lost_ = 0, requests_requeued_ = 0;
};

}  // namespace mlaserve::rpc
