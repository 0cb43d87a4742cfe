#include "rpc/store_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "rpc/bearer_metadata.h"
#include "rpc/proto/store.grpc.pb.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {
namespace {

namespace pb = ::mlaserve::internal;
using std::chrono::milliseconds;

// A waiting call holds a server thread until it is answered or cancelled; cap the wait so a
// forgotten client cannot hold one for hours.
constexpr milliseconds kMaxWait{10 * 60 * 1000};

milliseconds wait_bound(int64_t timeout_ms) {
  return std::clamp(milliseconds(timeout_ms), milliseconds(0), kMaxWait);
}

class StoreService final : public pb::Store::Service {
 public:
  StoreService(std::shared_ptr<parallel::MemoryStore> store, std::string token)
      : store_(std::move(store)), token_(std::move(token)) {}

  grpc::Status Set(grpc::ServerContext* context, const pb::SetRequest* req,
                   pb::SetResponse*) override {
    return handle(*context,
                  [&] { store_->set(req->key(), {req->value().begin(), req->value().end()}); });
  }

  grpc::Status Get(grpc::ServerContext* context, const pb::GetRequest* req,
                   pb::GetResponse* resp) override {
    return handle(*context, [&] {
      const auto value = store_->get(req->key(), wait_bound(req->timeout_ms()),
                                     [context] { return context->IsCancelled(); });
      resp->set_value(value.data(), value.size());
    });
  }

  grpc::Status Add(grpc::ServerContext* context, const pb::AddRequest* req,
                   pb::AddResponse* resp) override {
    return handle(*context, [&] { resp->set_value(store_->add(req->key(), req->delta())); });
  }

  grpc::Status Wait(grpc::ServerContext* context, const pb::WaitRequest* req,
                    pb::WaitResponse*) override {
    return handle(*context, [&] {
      store_->wait({req->keys().begin(), req->keys().end()}, wait_bound(req->timeout_ms()),
                   [context] { return context->IsCancelled(); });
    });
  }

 private:
  // Every method: the caller's token first, then the call with its Error mapped.
  template <typename Fn>
  grpc::Status handle(const grpc::ServerContext& context, Fn&& fn) {
    if (auto denied = check_bearer(context, token_, "mlaserve.internal.Store (the cluster token)");
        !denied.ok())
      return denied;
    try {
      fn();
      return grpc::Status::OK;
    } catch (const std::exception& e) {
      return to_grpc_status(e);
    }
  }

  std::shared_ptr<parallel::MemoryStore> store_;
  const std::string token_;  // empty: open
};

class StandaloneStoreServer final : public StoreServer {
 public:
  StandaloneStoreServer(const std::string& host, int port)
      : store_(std::make_shared<parallel::MemoryStore>()), service_(store_, "") {
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &bound);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    MLA_ENSURE(server_ != nullptr && bound != 0, kUnavailable, "store server cannot listen on ",
               host, ":", port);
    port_ = bound;
    address_ = host + ":" + std::to_string(bound);
  }

  ~StandaloneStoreServer() override {
    // Calls blocked in Get/Wait finish with their own deadline; don't wait for them forever.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  int port() const override { return port_; }
  std::string address() const override { return address_; }
  const std::shared_ptr<parallel::MemoryStore>& store() const override { return store_; }

 private:
  std::shared_ptr<parallel::MemoryStore> store_;
  StoreService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_store_service(std::shared_ptr<parallel::MemoryStore> store,
                                                  const std::string& token) {
  return std::make_unique<StoreService>(std::move(store), token);
}

std::unique_ptr<StoreServer> start_store_server(const std::string& host, int port) {
  return std::make_unique<StandaloneStoreServer>(host, port);
}

}  // namespace mlaserve::rpc
