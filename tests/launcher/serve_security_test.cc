// `mlaserve serve`'s security as real processes on loopback (docs/serve.md "Security"): a bearer
// token guards Inference but not health; TLS on the public port with a certificate made at run
// time; the internal services live only on the cluster port and refuse callers without the
// cluster token; unusable security files are refused by name (exit 2) before anything starts.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "rpc/grpc_store.h"
#include "rpc/inference_client.h"
#include "rpc/proto/dispatch.grpc.pb.h"
#include "runtime/core/error.h"
#include "tests/launcher/cli_output.h"
#include "tests/launcher/run_cli.h"
#include "tests/support/serve_process.h"

namespace mlaserve {
namespace {

using testing::test_data;

using testing::run_cli;
using testing::ServeProcess;

// A scratch directory removed with the test.
class TempDir {
 public:
  TempDir() {
    path_ = ::testing::TempDir() + "mlaserve_security_" + std::to_string(getpid()) + "_" +
            std::to_string(counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string path(const std::string& name) const { return path_ + "/" + name; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Reference case 1 of tiny-v2: its prompt as --prompt-ids, and DeepSeek's greedy tokens (which
// `generate` gives, tests/launcher/serve_cli_test.cc).
struct Reference {
  std::string prompt_ids;
  std::vector<int64_t> prompt, tokens;
};
Reference reference() {
  std::ifstream in(test_data("tiny-v2") + "/cases.json");
  const auto c = nlohmann::json::parse(in)["cases"][1];
  Reference r;
  r.prompt = c["prompt"].get<std::vector<int64_t>>();
  for (int64_t id : r.prompt) {
    if (!r.prompt_ids.empty()) r.prompt_ids += ",";
    r.prompt_ids += std::to_string(id);
  }
  r.tokens = c["greedy_tokens"].get<std::vector<int64_t>>();
  return r;
}

std::vector<int64_t> json_tokens(const std::string& out) {
  const size_t start = out.find('{');
  if (start == std::string::npos) return {};
  return nlohmann::json::parse(out.substr(start, out.find('\n', start) - start))["tokens"]
      .get<std::vector<int64_t>>();
}

v1::GenerateRequest greedy16(const Reference& ref) {
  v1::GenerateRequest r;
  r.mutable_prompt_token_ids()->Add(ref.prompt.begin(), ref.prompt.end());
  r.set_max_tokens(16);
  r.set_ignore_eos(true);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

// grpc.health.v1.Health/Check for the whole server, without the health protos: the request is
// empty and SERVING is the response bytes {field 1: 1}.
grpc::Status health_check(const std::string& address, std::string& response_bytes) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(s); });
  auto future = done.get_future();
  if (future.wait_for(std::chrono::seconds(15)) != std::future_status::ready)
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer");
  const grpc::Status status = future.get();
  std::vector<grpc::Slice> slices;
  if (status.ok() && response.Dump(&slices).ok())
    for (const auto& s : slices) response_bytes.append(reinterpret_cast<const char*>(s.begin()),
                                                       s.size());
  return status;
}

ErrorCode generate_error(rpc::InferenceClient& client, const v1::GenerateRequest& request) {
  try {
    client.generate(request, [](const v1::GenerateResponse&) {});
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "the call succeeded";
  return ErrorCode::kInternal;
}

TEST(ServeSecurity, BearerTokenGuardsInferenceButHealthStaysOpen) {
  TempDir dir;
  const std::string token_file = dir.file("token", "  s3cret-token\t\nsecond line ignored\n");
  const std::string wrong_file = dir.file("wrong", "s3cret-tokeN\n");
  ServeProcess server({"--model", test_data("tiny-v2"), "--auth-token-file", token_file});
  ASSERT_TRUE(server.ready());
  const Reference ref = reference();

  rpc::InferenceClient anonymous(server.address(), std::chrono::seconds(10));
  EXPECT_EQ(generate_error(anonymous, greedy16(ref)), ErrorCode::kUnauthenticated);
  try {
    anonymous.model_info();
    ADD_FAILURE() << "GetModelInfo without the token succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnauthenticated) << e.what();
    EXPECT_NE(std::string(e.what()).find("authorization: Bearer"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  }
  rpc::InferenceClient wrong(server.address(), std::chrono::seconds(10),
                             {.tls_roots_pem = "", .token = "s3cret-tokeN"});
  EXPECT_EQ(generate_error(wrong, greedy16(ref)), ErrorCode::kUnauthenticated);

  rpc::InferenceClient authorized(server.address(), std::chrono::seconds(10),
                                  {.tls_roots_pem = "", .token = "s3cret-token"});
  std::vector<int64_t> tokens;
  authorized.generate(greedy16(ref), [&](const v1::GenerateResponse& r) {
    for (const auto& t : r.tokens()) tokens.push_back(t.token_id());
  });
  EXPECT_EQ(tokens, ref.tokens);

  // The CLI: the token file served, none or the wrong one refused (exit 1, the header named).
  const std::vector<std::string> client = {"client",         "--addr",    server.address(),
                                           "--prompt-ids",   ref.prompt_ids, "--max-tokens",
                                           "16",             "--ignore-eos", "--json"};
  auto with = client;
  with.insert(with.end(), {"--auth-token-file", token_file});
  const auto ok = run_cli(with);
  ASSERT_EQ(ok.exit_code, 0) << ok.output << "\nserver:\n" << server.log();
  EXPECT_EQ(json_tokens(ok.output), ref.tokens) << ok.output;
  const auto none = run_cli(client);
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("authorization: Bearer"), std::string::npos) << none.output;
  auto bad = client;
  bad.insert(bad.end(), {"--auth-token-file", wrong_file});
  EXPECT_EQ(run_cli(bad).exit_code, 1);

  // Kubernetes probes carry no token: health answers SERVING without one.
  std::string health;
  const grpc::Status status = health_check(server.address(), health);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(health, std::string("\x08\x01", 2));
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI.
bool make_certificate(const TempDir& dir, const std::string& name) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
      dir.path(name + ".key") + "' -out '" + dir.path(name + ".crt") + "' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

TEST(ServeSecurity, TlsServesTlsClientsAndRefusesPlaintextOnes) {
  if (std::system("openssl version >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "the openssl CLI is not installed: cannot make a test certificate";
  TempDir dir;
  ASSERT_TRUE(make_certificate(dir, "server"));
  ServeProcess server({"--model", test_data("tiny-v2"), "--tls-cert", dir.path("server.crt"),
                       "--tls-key", dir.path("server.key")});
  ASSERT_TRUE(server.ready());
  const Reference ref = reference();
  const std::vector<std::string> client = {"client",       "--addr",       server.address(),
                                           "--prompt-ids", ref.prompt_ids, "--max-tokens",
                                           "16",           "--ignore-eos", "--json",
                                           "--connect-timeout", "3"};
  auto tls = client;
  tls.insert(tls.end(), {"--tls-ca", dir.path("server.crt")});
  const auto ok = run_cli(tls);
  ASSERT_EQ(ok.exit_code, 0) << ok.output << "\nserver:\n" << server.log();
  EXPECT_EQ(json_tokens(ok.output), ref.tokens) << ok.output;
  // A plaintext client never completes a connection.
  const auto plain = run_cli(client);
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  EXPECT_NE(plain.output.find("cannot reach the server"), std::string::npos) << plain.output;
  // Nor does one that trusts another certificate.
  ASSERT_TRUE(make_certificate(dir, "other"));
  auto untrusted = client;
  untrusted.insert(untrusted.end(), {"--tls-ca", dir.path("other.crt")});
  const auto refused = run_cli(untrusted);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

TEST(ServeSecurity, InternalServicesOnlyOnTheClusterPortBehindTheClusterToken) {
  TempDir dir;
  const std::string token = "cluster-secret";
  const std::string token_file = dir.file("cluster", token + "\n");
  const int cluster_port = ServeProcess::free_port();
  ServeProcess server({"--model", test_data("tiny-v2"), "--cluster-port", std::to_string(cluster_port),
                       "--cluster-token-file", token_file});
  ASSERT_TRUE(server.ready());
  const std::string cluster = "127.0.0.1:" + std::to_string(cluster_port);
  // The code a Store.Add to `address` with `with_token` fails with; nullopt when it succeeds.
  const auto store_error = [](const std::string& address,
                              const std::string& with_token) -> std::optional<ErrorCode> {
    rpc::GrpcStore store(address, std::chrono::seconds(5), with_token);
    try {
      store.add("security-test/counter", 1);
    } catch (const Error& e) {
      return e.code();
    }
    return std::nullopt;
  };
  EXPECT_EQ(store_error(cluster, ""), ErrorCode::kUnauthenticated);
  EXPECT_EQ(store_error(cluster, "cluster-secreT"), ErrorCode::kUnauthenticated);
  EXPECT_EQ(store_error(cluster, token), std::nullopt);
  // The public port does not offer Store, token or not.
  EXPECT_EQ(store_error(server.address(), token), ErrorCode::kUnimplemented);

  // Dispatch.Connect: refused on the cluster port without the token, absent on the public one.
  const auto connect_status = [](const std::string& address) {
    auto stub = internal::Dispatch::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Connect(&context);
    internal::WorkerMessage hello;
    hello.mutable_registration()->set_replica(0);
    stream->Write(hello);
    stream->WritesDone();
    internal::CoordinatorMessage ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish().error_code();
  };
  EXPECT_EQ(connect_status(cluster), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(connect_status(server.address()), grpc::StatusCode::UNIMPLEMENTED);
  // The real replica was not disturbed: it still serves.
  const Reference ref = reference();
  rpc::InferenceClient client(server.address(), std::chrono::seconds(10));
  std::vector<int64_t> tokens;
  client.generate(greedy16(ref), [&](const v1::GenerateResponse& r) {
    for (const auto& t : r.tokens()) tokens.push_back(t.token_id());
  });
  EXPECT_EQ(tokens, ref.tokens);
  // The token reaches the workers through the environment, never their command line.
  std::FILE* pipe = ::popen("ps -eo args", "r");
  ASSERT_NE(pipe, nullptr);
  std::string listing;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) listing.append(buf, n);
  ::pclose(pipe);
  EXPECT_NE(listing.find("worker"), std::string::npos) << listing;
  EXPECT_EQ(listing.find(token), std::string::npos) << listing;
  EXPECT_EQ(server.stop(std::chrono::seconds(60)), 0) << server.log();
}

// A node started with another cluster token file is turned away at the rendezvous: its worker
// fails with the store's UNAUTHENTICATED message and the node exits 1, while node 0 keeps
// waiting for the replica (and is stopped by the test).
TEST(ServeSecurity, NodeWithAnotherClusterTokenIsRefused) {
  TempDir dir;
  const int cluster_port = ServeProcess::free_port();
  const std::vector<std::string> common = {"--model", test_data("tiny-v2"), "--replicas", "2",
                                           "--nnodes", "2", "--timeout", "5"};
  auto node0 = common;
  node0.insert(node0.end(), {"--node-rank", "0", "--cluster-port", std::to_string(cluster_port),
                             "--cluster-token-file", dir.file("a", "token-a\n")});
  ServeProcess server(node0, {.port = 0, .wait_until_serving = false});
  auto node1 = common;
  node1.insert(node1.end(), {"--node-rank", "1", "--coordinator",
                             "127.0.0.1:" + std::to_string(cluster_port), "--cluster-token-file",
                             dir.file("b", "token-b\n")});
  ServeProcess other(node1, {.port = 0, .wait_until_serving = false});
  EXPECT_EQ(other.wait(std::chrono::seconds(90)), 1) << other.log();
  const std::string log = other.log();
  EXPECT_NE(log.find("mlaserve.internal.Store (the cluster token)"), std::string::npos) << log;
  EXPECT_NE(log.find("did not match"), std::string::npos) << log;
  EXPECT_EQ(log.find("token-a"), std::string::npos) << log;
  EXPECT_EQ(server.log().find("replica 1 registered"), std::string::npos) << server.log();
  server.stop(std::chrono::seconds(60));
}

// Unusable security files and flag combinations: exit 2 naming the flag and file, nothing
// spawned.
TEST(ServeSecurity, BadSecurityFilesExitWithCode2BeforeStarting) {
  TempDir dir;
  const std::string model = test_data("tiny-v2");
  const std::string empty = dir.file("empty", "  \n");
  const std::string missing = dir.path("missing");
  const bool have_openssl = std::system("openssl version >/dev/null 2>&1") == 0 &&
                            make_certificate(dir, "a") && make_certificate(dir, "b");
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Case> bad = {
      {{"serve", "--model", model, "--auth-token-file", empty}, "--auth-token-file " + empty},
      {{"serve", "--model", model, "--auth-token-file", missing}, "--auth-token-file " + missing},
      {{"serve", "--model", model, "--cluster-token-file", empty},
       "--cluster-token-file " + empty},
      {{"serve", "--model", model, "--tls-cert", missing}, "--tls-cert and --tls-key"},
      {{"serve", "--model", model, "--tls-cert", missing, "--tls-key", missing},
       "--tls-cert " + missing},
      {{"serve", "--model", model, "--tls-cert", empty, "--tls-key", empty},
       "not a PEM certificate"},
      {{"serve", "--model", model, "--replicas", "2", "--nnodes", "2"}, "--cluster-token-file"},
      {{"client", "--addr", "127.0.0.1:1", "--prompt-ids", "5", "--auth-token-file", missing},
       "--auth-token-file " + missing},
      {{"client", "--addr", "127.0.0.1:1", "--prompt-ids", "5", "--tls-ca", empty},
       "--tls-ca " + empty},
      {{"bench", "serve", "--addr", "127.0.0.1:1", "--auth-token-file", empty},
       "--auth-token-file " + empty},
  };
  if (have_openssl)
    bad.push_back({{"serve", "--model", model, "--tls-cert", dir.path("a.crt"), "--tls-key",
                    dir.path("b.key")},
                   "--tls-key " + dir.path("b.key") + " is not the private key"});
  for (const Case& c : bad) {
    auto args = c.args;
    if (args[0] == "serve") args.insert(args.end(), {"--port", "0"});
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.needle << "\n" << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.needle << "\n" << r.output;
    EXPECT_EQ(r.output.find("[launcher]"), std::string::npos) << "spawned workers:\n" << r.output;
    EXPECT_EQ(r.output.find("coordinator on"), std::string::npos) << "listened:\n" << r.output;
  }
}

}  // namespace
}  // namespace mlaserve
