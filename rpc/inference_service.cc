#include "rpc/inference_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "rpc/bearer_metadata.h"
#include "rpc/proto/inference.grpc.pb.h"
#include "rpc/status_mapping.h"
#include "runtime/core/logging.h"

namespace mlaserve::rpc {
namespace {

// How often a waiting Generate call looks at its client (gone? deadline passed?).
constexpr std::chrono::milliseconds kPollInterval{50};

void append_tokens(const internal::RequestOutput& out, v1::GenerateResponse& response) {
  for (int i = 0; i < out.new_tokens_size(); ++i) {
    v1::Token* token = response.add_tokens();
    token->set_token_id(out.new_tokens(i));
    if (i >= out.top_logprobs_size()) continue;
    for (const internal::TopLogprob& top : out.top_logprobs(i).top()) {
      v1::TopLogprob* t = token->add_top_logprobs();
      t->set_token_id(top.token_id());
      t->set_logprob(top.logprob());
      if (top.token_id() == out.new_tokens(i)) token->set_logprob(top.logprob());
    }
  }
}

// Every ending is logged at debug level with the client's request id; the ones that are not the
// client's doing (a replica lost, a bug) at warning level.
grpc::Status ended(const v1::GenerateRequest& request, const ReplicaPool::Admitted& admitted,
                   int64_t tokens, const grpc::Status& status, const std::string& reason) {
  const bool ours = !status.ok() && (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                                     status.error_code() == grpc::StatusCode::INTERNAL);
  const LogLevel level = ours ? LogLevel::kWarning : LogLevel::kDebug;
  if (log_enabled(level))
    LogLine(level) << "request '" << request.request_id() << "' (#" << admitted.id
                   << ", replica " << admitted.replica << "): " << tokens << " tokens, "
                   << (status.ok() ? reason : status.error_message());
  return status;
}

class InferenceService final : public v1::Inference::Service {
 public:
  InferenceService(ReplicaPool& pool, const ServedModel& model, std::string token)
      : pool_(pool), model_(model), token_(std::move(token)) {}

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    if (auto denied = check_bearer(*context, token_, kGuarded); !denied.ok()) return denied;
    ReplicaPool::Admitted admitted;
    try {
      admitted = pool_.submit(to_engine_request(*request, model_.limits));
    } catch (const std::exception& e) {
      return to_grpc_status(e);
    }
    int64_t completion_tokens = 0;
    for (;;) {
      const RequestChannel::News news = admitted.channel->take(kPollInterval);
      v1::GenerateResponse response;
      response.set_request_id(request->request_id());
      bool finished = false;
      for (const internal::RequestOutput& out : news.outputs) {
        append_tokens(out, response);
        completion_tokens += out.new_tokens_size();
        if (out.finished()) {
          finished = true;
          response.set_finish_reason(out.finish_reason());
          response.mutable_usage()->set_prompt_tokens(request->prompt_token_ids_size());
          response.mutable_usage()->set_completion_tokens(completion_tokens);
        }
      }
      if (response.tokens_size() > 0 || finished) {
        if (!writer->Write(response)) {
          pool_.abort(admitted.id);
          return ended(*request, admitted, completion_tokens,
                       to_grpc_status(Error(ErrorCode::kCancelled, "the client closed the stream")),
                       "");
        }
      }
      if (finished)
        return ended(*request, admitted, completion_tokens, grpc::Status::OK,
                     response.finish_reason());
      if (news.failure) {
        pool_.forget(admitted.id);
        return ended(*request, admitted, completion_tokens, to_grpc_status(*news.failure), "");
      }
      if (context->IsCancelled()) {
        pool_.abort(admitted.id);
        const bool late = std::chrono::system_clock::now() >= context->deadline();
        const Error error =
            late ? Error(ErrorCode::kDeadlineExceeded,
                         str_cat("deadline passed after ", completion_tokens, " generated tokens"))
                 : Error(ErrorCode::kCancelled, "the client cancelled the request");
        return ended(*request, admitted, completion_tokens, to_grpc_status(error), "");
      }
    }
  }

  grpc::Status GetModelInfo(grpc::ServerContext* context, const v1::GetModelInfoRequest*,
                            v1::ModelInfo* info) override {
    if (auto denied = check_bearer(*context, token_, kGuarded); !denied.ok()) return denied;
    info->set_model(model_.name);
    info->set_vocab_size(model_.limits.vocab_size);
    info->set_max_model_len(model_.limits.max_model_len);
    info->set_bos_token_id(model_.bos_token_id);
    info->set_eos_token_id(model_.eos_token_id);
    info->set_tensor_parallel_size(model_.tp);
    info->set_expert_parallel_size(model_.ep);
    info->set_replicas(pool_.options().replicas);
    int healthy = 0;
    for (const ReplicaStatus& r : pool_.status()) healthy += r.healthy;
    info->set_healthy_replicas(healthy);
    info->set_dtype(model_.dtype);
    info->set_max_queued_requests(pool_.options().max_queued_requests);
    return grpc::Status::OK;
  }

  grpc::Status GetServerStats(grpc::ServerContext* context, const v1::GetServerStatsRequest*,
                              v1::ServerStats* stats) override {
    if (auto denied = check_bearer(*context, token_, kGuarded); !denied.ok()) return denied;
    stats->set_in_flight(pool_.in_flight());
    const std::vector<ReplicaStatus> replicas = pool_.status();
    for (size_t i = 0; i < replicas.size(); ++i) {
      const ReplicaStatus& r = replicas[i];
      v1::ReplicaStats* out = stats->add_replicas();
      out->set_replica(static_cast<int32_t>(i));
      out->set_healthy(r.healthy);
      out->set_outstanding_requests(r.outstanding_requests);
      out->set_running(r.running);
      out->set_waiting(r.waiting);
      out->set_cache_usage(r.cache_usage);
      out->set_generated_tokens(r.generated_tokens);
    }
    return grpc::Status::OK;
  }

 private:
  static constexpr const char* kGuarded = "mlaserve.v1.Inference (serve --auth-token-file)";
  ReplicaPool& pool_;
  const ServedModel model_;
  const std::string token_;  // empty: open
};

}  // namespace

std::unique_ptr<grpc::Service> make_inference_service(ReplicaPool& pool, const ServedModel& model,
                                                      const std::string& token) {
  return std::make_unique<InferenceService>(pool, model, token);
}

}  // namespace mlaserve::rpc
