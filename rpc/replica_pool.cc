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
  MLA_ENSURE(r.link == nullptr, kFailedPrecondition, "replica ", replica,
             " is already registered");
  r.link = std::move(link);
  r.last_heard = Clock::now();
  // A fresh leader starts with an empty engine; the old one's figures no longer hold.
  r.running = r.waiting = 0;
  r.cache_usage = 0;
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

int ReplicaPool::pick_locked(Clock::time_point now) const {
  std::vector<ReplicaLoad> loads;
  for (const Replica& r : replicas_)
    loads.push_back({healthy(r, now), r.outstanding_work, r.outstanding_requests});
  return pick_replica(loads);
}

void ReplicaPool::detach_locked(int replica, const std::string& why,
                                std::vector<PendingSend>& resend) {
  Replica& r = replicas_[replica];
  if (r.link == nullptr) return;
  r.retired = std::move(r.link);
  replicas_lost_ += 1;
  const Error error(ErrorCode::kUnavailable,
                    str_cat("replica ", replica, " went out of service (", why, ")"));
  const auto now = Clock::now();
  for (auto it = requests_.begin(); it != requests_.end();) {
    auto next = std::next(it);
    InFlight& f = it->second;
    if (f.replica == replica) {
      // Nothing streamed yet: the client cannot tell a second replica from the first, so the
      // request runs there from the start (same seed, same tokens) instead of failing.
      const int other = f.prefilled || draining_ ? -1 : pick_locked(now);
      if (other < 0) {
        f.channel->fail(error);
        erase_locked(it);
      } else {
        r.outstanding_requests -= 1;
        r.outstanding_work -= f.remaining_work;
        f.replica = other;
        f.remaining_work = f.total_work;
        Replica& o = replicas_[other];
        o.outstanding_requests += 1;
        o.outstanding_work += f.remaining_work;
        PendingSend send{other, o.link, {}};
        *send.message.mutable_submit() = f.submit;
        resend.push_back(std::move(send));
        requests_requeued_ += 1;
      }
    }
    it = next;
  }
}

void ReplicaPool::send_all(std::vector<PendingSend> resend) {
  while (!resend.empty()) {
    std::vector<PendingSend> again;
    for (PendingSend& s : resend) {
      if (s.link->send(s.message)) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (replicas_[s.replica].link == s.link)
        detach_locked(s.replica, "its stream broke while submitting", again);
    }
    resend = std::move(again);
  }
}

void ReplicaPool::detach(int replica, const ReplicaLink* link, const std::string& why) {
  std::vector<PendingSend> resend;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (replicas_.at(replica).link.get() != link) return;
    detach_locked(replica, why, resend);
  }
  send_all(std::move(resend));
}

void ReplicaPool::expire_silent_replicas() {
  std::vector<PendingSend> resend;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    for (int i = 0; i < options_.replicas; ++i) {
      const Replica& r = replicas_[i];
      if (r.link != nullptr && !healthy(r, now))
        detach_locked(i, str_cat("silent for more than ", options_.heartbeat_timeout.count(),
                                 " ms"), resend);
    }
  }
  send_all(std::move(resend));
}

ReplicaPool::Admitted ReplicaPool::submit(const EngineRequest& request) {
  Admitted admitted;
  std::shared_ptr<ReplicaLink> link;
  internal::CoordinatorMessage message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    MLA_ENSURE(!draining_, kUnavailable, "the server is shutting down");
    MLA_ENSURE(static_cast<int64_t>(requests_.size()) < options_.max_queued_requests,
               kResourceExhausted, "the server holds ", requests_.size(),
               " unfinished requests, its limit (--max-queued-requests); retry later");
    admitted.replica = pick_locked(Clock::now());
    MLA_ENSURE(admitted.replica >= 0, kUnavailable, "no healthy replica (",
               attached_replicas_locked(), " of ", options_.replicas, " in service)");
    admitted.id = next_id_++;
    admitted.channel = std::make_shared<RequestChannel>();
    InFlight f;
    f.replica = admitted.replica;
    f.prompt_len = static_cast<int64_t>(request.prompt.size());
    f.remaining_work = f.total_work = f.prompt_len + request.max_tokens;
    f.channel = admitted.channel;
    f.submit = to_submit(admitted.id, request);
    Replica& r = replicas_[admitted.replica];
    r.outstanding_requests += 1;
    r.outstanding_work += f.remaining_work;
    *message.mutable_submit() = f.submit;
    requests_.emplace(admitted.id, std::move(f));
    link = r.link;
  }
  send_all({{admitted.replica, std::move(link), std::move(message)}});
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

int64_t ReplicaPool::replicas_lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  return replicas_lost_;
}

int64_t ReplicaPool::requests_requeued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_requeued_;
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
