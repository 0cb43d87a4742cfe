#include "rpc/dispatch_messages.h"

#include "rpc/status_mapping.h"

namespace mlaserve::rpc {

internal::Submit to_submit(RequestId id, const EngineRequest& r) {
  internal::Submit s;
  s.set_id(id);
  s.mutable_prompt()->Add(r.prompt.begin(), r.prompt.end());
  s.set_temperature(r.sampling.temperature);
  s.set_top_k(r.sampling.top_k);
  s.set_top_p(r.sampling.top_p);
  s.set_seed(r.sampling.seed);
  s.set_max_tokens(r.max_tokens);
  s.mutable_stop_token_ids()->Add(r.stop_token_ids.begin(), r.stop_token_ids.end());
  s.set_ignore_eos(r.ignore_eos);
  s.set_top_logprobs(r.top_logprobs);
  return s;
}

EngineRequest from_submit(const internal::Submit& s) {
  EngineRequest r;
  r.prompt.assign(s.prompt().begin(), s.prompt().end());
  r.sampling = {s.temperature(), s.top_k(), s.top_p(), s.seed()};
  r.max_tokens = s.max_tokens();
  r.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  r.ignore_eos = s.ignore_eos();
  r.top_logprobs = s.top_logprobs();
  return r;
}

internal::RequestOutput to_proto(const RequestOutput& o) {
  internal::RequestOutput p;
  p.set_id(o.id);
  p.mutable_new_tokens()->Add(o.new_tokens.begin(), o.new_tokens.end());
  for (const TopLogprobs& step : o.top_logprobs) {
    internal::TokenLogprobs* t = p.add_top_logprobs();
    for (const auto& [token, logprob] : step) {
      internal::TopLogprob* e = t->add_top();
      e->set_token_id(token);
      e->set_logprob(logprob);
    }
  }
  p.set_finished(o.finished);
  p.set_finish_reason(o.finish_reason);
  if (o.finish_reason == "error") {
    // The engine gives up on a request only when it can never fit in the whole cache.
    p.set_error_code(static_cast<int32_t>(to_grpc_code(ErrorCode::kResourceExhausted)));
    p.set_error(o.error);
  }
  return p;
}

internal::RequestOutput refused_output(RequestId id, const Error& error) {
  internal::RequestOutput p;
  p.set_id(id);
  p.set_finished(true);
  p.set_finish_reason("error");
  p.set_error_code(static_cast<int32_t>(to_grpc_code(error.code())));
  p.set_error(error.what());
  return p;
}

}  // namespace mlaserve::rpc
