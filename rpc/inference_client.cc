#include "rpc/inference_client.h"

#include <grpcpp/grpcpp.h>

#include "rpc/bearer_metadata.h"
#include "rpc/proto/inference.grpc.pb.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {

struct InferenceClient::Impl {
  std::string address, token;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Inference::Stub> stub;
};

InferenceClient::InferenceClient(const std::string& address,
                                 std::chrono::milliseconds connect_timeout,
                                 const ClientSecurity& security)
    : impl_(std::make_unique<Impl>()) {
  impl_->address = address;
  impl_->token = security.token;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!security.tls_roots_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = security.tls_roots_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  impl_->channel = grpc::CreateCustomChannel(address, credentials, args);
  // A TLS handshake that fails (plaintext server, untrusted certificate) also ends here.
  MLA_ENSURE(impl_->channel->WaitForConnected(std::chrono::system_clock::now() + connect_timeout),
             kUnavailable, "cannot reach the server at ", address, " within ",
             connect_timeout.count(), " ms",
             security.tls_roots_pem.empty() ? "" : " over TLS (is --tls-ca the server's CA, "
                                                   "and does the server use TLS?)");
  impl_->stub = v1::Inference::NewStub(impl_->channel);
}

InferenceClient::~InferenceClient() = default;

const std::string& InferenceClient::address() const { return impl_->address; }

void InferenceClient::generate(const v1::GenerateRequest& request, const OnResponse& on_response,
                               std::optional<std::chrono::milliseconds> timeout) {
  grpc::ClientContext context;
  add_bearer(context, impl_->token);
  if (timeout) context.set_deadline(std::chrono::system_clock::now() + *timeout);
  auto reader = impl_->stub->Generate(&context, request);
  v1::GenerateResponse response;
  try {
    while (reader->Read(&response)) on_response(response);
  } catch (...) {
    // The caller gave up mid-stream: cancel the call (the server aborts the request) and end
    // it properly before the exception leaves.
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    reader->Finish();
    throw;
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) throw_status(status, "server at " + impl_->address);
}

v1::ModelInfo InferenceClient::model_info() {
  grpc::ClientContext context;
  add_bearer(context, impl_->token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ModelInfo info;
  const grpc::Status status =
      impl_->stub->GetModelInfo(&context, v1::GetModelInfoRequest{}, &info);
  if (!status.ok()) throw_status(status, "server at " + impl_->address);
  return info;
}

}  // namespace mlaserve::rpc

namespace mlaserve::rpc {

v1::ServerStats InferenceClient::server_stats() {
  grpc::ClientContext context;
  add_bearer(context, impl_->token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ServerStats stats;
  const grpc::Status status =
      impl_->stub->GetServerStats(&context, v1::GetServerStatsRequest{}, &stats);
  if (!status.ok()) throw_status(status, "server at " + impl_->address);
  return stats;
}

}  // namespace mlaserve::rpc
