#include "rpc/coordinator.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "rpc/dispatch_service.h"
#include "rpc/store_service.h"
#include "runtime/core/error.h"

namespace mlaserve::rpc {

namespace {

// Shared by both servers.
void configure(grpc::ServerBuilder& builder) {
  // Prompts of long-context models exceed gRPC's 4 MiB default only in the pathological case,
  // but step outputs with top logprobs for many requests can be large: allow 64 MiB.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  // A leader's machine that vanishes (no FIN, no RST) must break its Dispatch stream within
  // seconds, not at TCP's retransmission timeout: ping every 10 s, give up 10 s later. Leaders
  // ping us as often; accept that without counting it as abuse.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
}

std::shared_ptr<grpc::ServerCredentials> public_credentials(const CoordinatorOptions& options) {
  if (options.tls_cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

struct Coordinator::Impl {
  std::string host, cluster_host;
  int port = 0, cluster_port = 0;
  std::unique_ptr<ReplicaPool> pool;
  std::shared_ptr<parallel::MemoryStore> store;
  std::unique_ptr<grpc::Service> inference, dispatch, store_service;
  std::unique_ptr<grpc::Server> server, cluster_server;
  // Takes silent replicas out of service (a hung leader keeps its stream open).
  std::thread watchdog;
  std::mutex mu;
  std::condition_variable stop_cv;
  bool stopping = false;

  void set_health(bool serving) {
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    health->SetServingStatus(serving);
    health->SetServingStatus("mlaserve.v1.Inference", serving);
  }
  void stop_watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    stop_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  }
};

std::unique_ptr<Coordinator> Coordinator::start(const CoordinatorOptions& options) {
  MLA_INTERNAL_CHECK(!options.cluster_token.empty());
  auto impl = std::make_unique<Impl>();
  impl->host = options.host;
  impl->cluster_host = options.cluster_host;
  impl->pool = std::make_unique<ReplicaPool>(options.pool);
  impl->store = std::make_shared<parallel::MemoryStore>();
  impl->inference = make_inference_service(*impl->pool, options.model, options.auth_token);
  impl->dispatch = make_dispatch_service(*impl->pool, options.on_register, options.cluster_token);
  impl->store_service = make_store_service(impl->store, options.cluster_token);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // The internal services get their own port so that the public one, which may face users,
  // offers only Inference (and health, reflection): Dispatch and Store are never reachable there.
  // gRPC adds health and reflection to every server in the process, so the cluster port answers
  // them too; they expose no state beyond the service names.
  grpc::ServerBuilder cluster;
  const std::string cluster_address =
      options.cluster_host + ":" + std::to_string(options.cluster_port);
  cluster.AddListeningPort(cluster_address, grpc::InsecureServerCredentials(),
                           &impl->cluster_port);
  cluster.RegisterService(impl->dispatch.get());
  cluster.RegisterService(impl->store_service.get());
  configure(cluster);
  impl->cluster_server = cluster.BuildAndStart();
  MLA_ENSURE(impl->cluster_server != nullptr && impl->cluster_port > 0, kUnavailable,
             "cannot listen on ", cluster_address,
             " (--cluster-host / --cluster-port: in use, or not an address of this machine?)");

  grpc::ServerBuilder builder;
  const std::string address = options.host + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, public_credentials(options), &impl->port);
  builder.RegisterService(impl->inference.get());
  configure(builder);
  impl->server = builder.BuildAndStart();
  MLA_ENSURE(impl->server != nullptr && impl->port > 0, kUnavailable, "cannot listen on ",
             address, " (in use, or not an address of this machine?)");
  impl->set_health(false);

  Impl* raw = impl.get();
  impl->watchdog = std::thread([raw] {
    std::unique_lock<std::mutex> lock(raw->mu);
    while (!raw->stop_cv.wait_for(lock, std::chrono::milliseconds(500),
                                  [raw] { return raw->stopping; }))
      raw->pool->expire_silent_replicas();
  });
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Coordinator::~Coordinator() {
  impl_->stop_watchdog();
  for (auto* server : {&impl_->server, &impl_->cluster_server}) {
    if (!*server) continue;
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    (*server)->Wait();
  }
}

int Coordinator::port() const { return impl_->port; }
std::string Coordinator::address() const {
  return impl_->host + ":" + std::to_string(impl_->port);
}
int Coordinator::cluster_port() const { return impl_->cluster_port; }
std::string Coordinator::cluster_address() const {
  return impl_->cluster_host + ":" + std::to_string(impl_->cluster_port);
}
ReplicaPool& Coordinator::pool() { return *impl_->pool; }
const std::shared_ptr<parallel::MemoryStore>& Coordinator::store() const { return impl_->store; }

void Coordinator::set_serving(bool serving) { impl_->set_health(serving); }

bool Coordinator::drain(std::chrono::steady_clock::time_point deadline) {
  impl_->pool->start_draining();
  impl_->set_health(false);
  return impl_->pool->wait_idle(deadline);
}

void Coordinator::shutdown(std::chrono::steady_clock::time_point deadline) {
  impl_->pool->start_draining();
  impl_->pool->shutdown_replicas();
  impl_->stop_watchdog();
  const auto left = deadline - std::chrono::steady_clock::now();
  const auto until = std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
  // Public first (no new requests), then the leaders' streams.
  for (auto* server : {&impl_->server, &impl_->cluster_server}) {
    (*server)->Shutdown(until);
    (*server)->Wait();
    server->reset();
  }
}

}  // namespace mlaserve::rpc
