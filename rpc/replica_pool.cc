#include "rpc/replica_pool.h"

#include <algorithm>
#include <iterator>

#include "rpc/dispatch_messages.h"
#include "rpc/routing.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {

using Clock = std::chrono::steady_clock;

ReplicaPool::ReplicaPool(const PoolOptions& options)
    : options_(options), replicas_(static_cast<size_t>(options.replicas)) {
  MLA_ENSURE(options.replicas >= 1, kInvalidArgument, "replicas must be >= 1, got ",
             options.replicas);
  MLA_ENSURE(options.max_queued_requests >= 1, kInvalidArgument,
             "--max-queued-requests must be >= 1, got ", options.max_queued_requests);
}

bool ReplicaPool::healthy(const Replica& r, Clock::time_point now) const {
  return r.link != nullptr && now - r.last_heard <= options_.heartbeat_timeout;
}

void ReplicaPool::attach(int replica, std::shared_ptr<ReplicaLink> link) {
  std::lock_guard<std::mutex> lock(mu_);
  MLA_ENSURE(replica >= 0 && replica < options_.replicas, kInvalidArgument, "replica ", replica,
             " is outside [0, ", options_.replicas, ")");
  Replica& r = replicas_[replica];
  MLA_ENSURE(r.link == nullptr && !r.lost, kFailedPrecondition, "replica ", replica,
             r.lost ? " was lost and cannot rejoin" : " is already registered");
  r.link = std::move(link);
  r.last_heard = Clock::now();
}

void ReplicaPool::heard_from(int replica, const internal::Heartbeat* heartbeat) {
  std::lock_guard<std::mutex> lock(mu_);
  Replica& r = replicas_.at(replica);
  r.last_heard = Clock::now();
  if (heartbeat != nullptr) {
    r.running = heartbeat->running();
    r.waiting = heartbeat->waiting();
    r.cache_usage = heartbeat->cache_usage();
    r.generated_tokens = heartbeat->generated_tokens();
  }
}

void ReplicaPool::erase_locked(std::unordered_map<RequestId, InFlight>::iterator it) {
  Replica& r = replicas_[it->second.replica];
  r.outstanding_requests -= 1;
  r.outstanding_work -= it->second.remaining_work;
  requests_.erase(it);
  if (requests_.empty()) idle_cv_.notify_all();
}

void ReplicaPool::deliver(int replica, const internal::RequestOutput& output) {
  std::lock_guard<std::mutex> lock(mu_);
  replicas_.at(replica).last_heard = Clock::now();
  auto it = requests_.find(output.id());
  if (it == requests_.end() || it->second.replica != replica) return;  // aborted meanwhile
  InFlight& f = it->second;
  int64_t done = output.new_tokens_size();
  if (!f.prefilled && (done > 0 || output.finished())) {
    f.prefilled = true;
    done += f.prompt_len;
  }
  done = std::min(done, f.remaining_work);
  f.remaining_work -= done;
  replicas_[replica].outstanding_work -= done;
  if (output.finish_reason() == "error") {
    const auto code = static_cast<grpc::StatusCode>(output.error_code());
    f.channel->fail(Error(from_grpc_code(code), output.error()));
  } else {
    f.channel->push(output);
  }
  if (output.finished()) erase_locked(it);
}

void ReplicaPool::detach_locked(int replica, const std::string& why) {
  Replica& r = replicas_[replica];
  if (r.link == nullptr) return;
  r.retired = std::move(r.link);
  r.lost = true;
  const Error error(ErrorCode::kUnavailable,
                    str_cat("replica ", replica, " went out of service (", why, ")"));
  for (auto it = requests_.begin(); it != requests_.end();) {
    auto next = std::next(it);
    if (it->second.replica == replica) {
      it->second.channel->fail(error);
      erase_locked(it);
    }
    it = next;
  }
}

void ReplicaPool::detach(int replica, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  detach_locked(replica, why);
}

void ReplicaPool::expire_silent_replicas() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  for (int i = 0; i < options_.replicas; ++i) {
    const Replica& r = replicas_[i];
    if (r.link != nullptr && !healthy(r, now))
      detach_locked(i, str_cat("silent for more than ", options_.heartbeat_timeout.count(),
                               " ms"));
  }
}

ReplicaPool::Admitted ReplicaPool::submit(const EngineRequest& request) {
  Admitted admitted;
  std::shared_ptr<ReplicaLink> link;
  {
    std::lock_guard<std::mutex> lock(mu_);
    MLA_ENSURE(!draining_, kUnavailable, "the server is shutting down");
    MLA_ENSURE(static_cast<int64_t>(requests_.size()) < options_.max_queued_requests,
               kResourceExhausted, "the server holds ", requests_.size(),
               " unfinished requests, its limit (--max-queued-requests); retry later");
    const auto now = Clock::now();
    std::vector<ReplicaLoad> loads;
    for (const Replica& r : replicas_)
      loads.push_back({healthy(r, now), r.outstanding_work, r.outstanding_requests});
    admitted.replica = pick_replica(loads);
    MLA_ENSURE(admitted.replica >= 0, kUnavailable, "no healthy replica (",
               attached_replicas_locked(), " of ", options_.replicas, " in service)");
    admitted.id = next_id_++;
    admitted.channel = std::make_shared<RequestChannel>();
    InFlight f;
    f.replica = admitted.replica;
    f.prompt_len = static_cast<int64_t>(request.prompt.size());
    f.remaining_work = f.prompt_len + request.max_tokens;
    f.channel = admitted.channel;
    Replica& r = replicas_[admitted.replica];
    r.outstanding_requests += 1;
    r.outstanding_work += f.remaining_work;
    requests_.emplace(admitted.id, std::move(f));
    link = r.link;
  }
  internal::CoordinatorMessage message;
  *message.mutable_submit() = to_submit(admitted.id, request);
  if (!link->send(message)) detach(admitted.replica, "its stream broke while submitting");
  return admitted;
}

void ReplicaPool::abort(RequestId id) {
  std::shared_ptr<ReplicaLink> link;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    link = replicas_[it->second.replica].link;
    erase_locked(it);
  }
  if (link == nullptr) return;
  internal::CoordinatorMessage message;
  message.mutable_abort()->set_id(id);
  link->send(message);  // a broken stream takes the request with it anyway
}

void ReplicaPool::forget(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_.find(id);
  if (it != requests_.end()) erase_locked(it);
}

int ReplicaPool::attached_replicas_locked() const {
  int n = 0;
  for (const Replica& r : replicas_) n += r.link != nullptr;
  return n;
}

int ReplicaPool::attached_replicas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attached_replicas_locked();
}

std::vector<ReplicaStatus> ReplicaPool::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  std::vector<ReplicaStatus> out;
  for (const Replica& r : replicas_)
    out.push_back({r.link != nullptr, healthy(r, now), r.outstanding_requests,
                   r.outstanding_work, r.running, r.waiting, r.cache_usage,
                   r.generated_tokens});
  return out;
}

int64_t ReplicaPool::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(requests_.size());
}

void ReplicaPool::start_draining() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool ReplicaPool::draining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return draining_;
}

bool ReplicaPool::wait_idle(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_until(lock, deadline, [&] { return requests_.empty(); });
}

void ReplicaPool::shutdown_replicas() {
  std::vector<std::shared_ptr<ReplicaLink>> links;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Replica& r : replicas_) {
      if (r.link != nullptr) links.push_back(r.link);
      if (r.retired != nullptr) links.push_back(r.retired);  // a closed stream refuses quietly
    }
  }
  internal::CoordinatorMessage message;
  message.mutable_shutdown();
  for (const auto& link : links) link->send(message);
}

}  // namespace mlaserve::rpc
