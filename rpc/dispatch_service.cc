#include "rpc/dispatch_service.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "rpc/bearer_metadata.h"
#include "rpc/proto/dispatch.grpc.pb.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {
namespace {

using Stream = grpc::ServerReaderWriter<internal::CoordinatorMessage, internal::WorkerMessage>;

// Writes from any thread, one at a time; nothing once the handler that owns the stream is gone.
class StreamLink final : public ReplicaLink {
 public:
  explicit StreamLink(Stream* stream) : stream_(stream) {}
  bool send(const internal::CoordinatorMessage& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    return stream_ != nullptr && stream_->Write(message);
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = nullptr;
  }

 private:
  std::mutex mu_;
  Stream* stream_;
};

class DispatchService final : public internal::Dispatch::Service {
 public:
  DispatchService(ReplicaPool& pool, std::function<void(int)> on_register, std::string token)
      : pool_(pool), on_register_(std::move(on_register)), token_(std::move(token)) {}

  grpc::Status Connect(grpc::ServerContext* context, Stream* stream) override {
    if (auto denied = check_bearer(*context, token_, "mlaserve.internal.Dispatch (the cluster token)");
        !denied.ok())
      return denied;
    internal::WorkerMessage message;
    if (!stream->Read(&message)) return grpc::Status::OK;
    if (!message.has_registration())
      return to_grpc_status(Error(ErrorCode::kInvalidArgument,
                                  "a leader's first message must be Register"));
    const internal::Register& reg = message.registration();
    const int replica = reg.replica();
    auto link = std::make_shared<StreamLink>(stream);
    try {
      pool_.attach(replica, link);
    } catch (const Error& e) {
      return to_grpc_status(e);
    }
    std::fprintf(stderr,
                 "mlaserve: replica %d registered (leader pid %d, %lld cache blocks of %lld)\n",
                 replica, reg.pid(), static_cast<long long>(reg.num_blocks()),
                 static_cast<long long>(reg.block_size()));
    if (on_register_) on_register_(replica);
    while (stream->Read(&message)) {
      if (message.has_heartbeat()) {
        pool_.heard_from(replica, &message.heartbeat());
      } else if (message.has_outputs()) {
        for (const internal::RequestOutput& out : message.outputs().outputs())
          pool_.deliver(replica, out);
      }
    }
    link->close();
    pool_.detach(replica, link.get(), "its leader's stream closed");
    return grpc::Status::OK;
  }

 private:
  ReplicaPool& pool_;
  std::function<void(int)> on_register_;
  const std::string token_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_dispatch_service(ReplicaPool& pool,
                                                     std::function<void(int)> on_register,
                                                     const std::string& token) {
  return std::make_unique<DispatchService>(pool, std::move(on_register), token);
}

}  // namespace mlaserve::rpc
