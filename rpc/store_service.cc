#include "rpc/store_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

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
  explicit StoreService(std::shared_ptr<parallel::MemoryStore> store) : store_(std::move(store)) {}

  grpc::Status Set(grpc::ServerContext*, const pb::SetRequest* req, pb::SetResponse*) override {
    return handle([&] { store_->set(req->key(), {req->value().begin(), req->value().end()}); });
  }

  grpc::Status Get(grpc::ServerContext* context, const pb::GetRequest* req,
                   pb::GetResponse* resp) override {
    return handle([&] {
      const auto value = store_->get(req->key(), wait_bound(req->timeout_ms()),
                                     [context] { return context->IsCancelled(); });
      resp->set_value(value.data(), value.size());
    });
  }

  grpc::Status Add(grpc::ServerContext*, const pb::AddRequest* req,
                   pb::AddResponse* resp) override {
    return handle([&] { resp->set_value(store_->add(req->key(), req->delta())); });
  }

  grpc::Status Wait(grpc::ServerContext* context, const pb::WaitRequest* req,
                    pb::WaitResponse*) override {
    return handle([&] {
      store_->wait({req->keys().begin(), req->keys().end()}, wait_bound(req->timeout_ms()),
                   [context] { return context->IsCancelled(); });
    });
  }

 private:
  template <typename Fn>
  static grpc::Status handle(Fn&& fn) {
    try {
      fn();
      return grpc::Status::OK;
    } catch (const std::exception& e) {
      return to_grpc_status(e);
    }
  }

  std::shared_ptr<parallel::MemoryStore> store_;
};

class StandaloneStoreServer final : public StoreServer {
 public:
  StandaloneStoreServer(const std::string& host, int port)
      : store_(std::make_shared<parallel::MemoryStore>()), service_(store_) {
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

std::unique_ptr<grpc::Service> make_store_service(std::shared_ptr<parallel::MemoryStore> store) {
  return std::make_unique<StoreService>(std::move(store));
}

std::unique_ptr<StoreServer> start_store_server(const std::string& host, int port) {
  return std::make_unique<StandaloneStoreServer>(host, port);
}

}  // namespace mlaserve::rpc
