#include "rpc/grpc_store.h"

#include <grpcpp/grpcpp.h>

#include "rpc/bearer_metadata.h"
#include "rpc/proto/store.grpc.pb.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {

namespace pb = ::mlaserve::internal;
using std::chrono::milliseconds;

struct GrpcStore::Impl {
  std::string address, token;
  milliseconds rpc_timeout;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Store::Stub> stub;

  // Waits for the server to come up (workers may start before the coordinator listens), but
  // never past the deadline.
  void prepare(grpc::ClientContext& context, milliseconds budget) const {
    add_bearer(context, token);
    context.set_deadline(std::chrono::system_clock::now() + budget);
    context.set_wait_for_ready(true);
  }

  // A deadline hit while the channel never got connected means nobody is listening there.
  [[noreturn]] void raise(const grpc::Status& status, const char* op, milliseconds budget) const {
    const bool never_connected = channel->GetState(false) != GRPC_CHANNEL_READY;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && never_connected))
      fail(ErrorCode::kUnavailable, "store server at ", address, " is not reachable (", op,
           " gave up after ", budget.count(), " ms): ", status.error_message());
    throw_status(status, "store at " + address);
  }
};

GrpcStore::GrpcStore(const std::string& address, milliseconds rpc_timeout, std::string token)
    : impl_(std::make_unique<Impl>()) {
  impl_->address = address;
  impl_->token = std::move(token);
  impl_->rpc_timeout = rpc_timeout;
  impl_->channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  impl_->stub = pb::Store::NewStub(impl_->channel);
}

GrpcStore::~GrpcStore() = default;

const std::string& GrpcStore::address() const { return impl_->address; }

void GrpcStore::set(const std::string& key, const parallel::Bytes& value) {
  grpc::ClientContext context;
  impl_->prepare(context, impl_->rpc_timeout);
  pb::SetRequest req;
  req.set_key(key);
  req.set_value(value.data(), value.size());
  pb::SetResponse resp;
  const auto status = impl_->stub->Set(&context, req, &resp);
  if (!status.ok()) impl_->raise(status, "set", impl_->rpc_timeout);
}

parallel::Bytes GrpcStore::get(const std::string& key, milliseconds timeout) {
  grpc::ClientContext context;
  const milliseconds budget = timeout + impl_->rpc_timeout;
  impl_->prepare(context, budget);
  pb::GetRequest req;
  req.set_key(key);
  req.set_timeout_ms(timeout.count());
  pb::GetResponse resp;
  const auto status = impl_->stub->Get(&context, req, &resp);
  if (!status.ok()) impl_->raise(status, "get", budget);
  return parallel::Bytes(resp.value().begin(), resp.value().end());
}

void GrpcStore::wait(const std::vector<std::string>& keys, milliseconds timeout) {
  grpc::ClientContext context;
  const milliseconds budget = timeout + impl_->rpc_timeout;
  impl_->prepare(context, budget);
  pb::WaitRequest req;
  for (const auto& key : keys) req.add_keys(key);
  req.set_timeout_ms(timeout.count());
  pb::WaitResponse resp;
  const auto status = impl_->stub->Wait(&context, req, &resp);
  if (!status.ok()) impl_->raise(status, "wait", budget);
}

int64_t GrpcStore::add(const std::string& key, int64_t delta) {
  grpc::ClientContext context;
  impl_->prepare(context, impl_->rpc_timeout);
  pb::AddRequest req;
  req.set_key(key);
  req.set_delta(delta);
  pb::AddResponse resp;
  const auto status = impl_->stub->Add(&context, req, &resp);
  if (!status.ok()) impl_->raise(status, "add", impl_->rpc_timeout);
  return resp.value();
}

}  // namespace mlaserve::rpc
