#include "parallel/gloo_store.h"

#include <algorithm>

#include "runtime/core/error.h"

namespace mlaserve::parallel {
namespace {

// Gloo's full-mesh rendezvous keys each rank's address by its rank: "<r>" (older Gloo) or
// "rank_<r>" (newer).
std::string rank_key_digits(const std::string& key) {
  const std::string digits = key.rfind("rank_", 0) == 0 ? key.substr(5) : key;
  const bool numeric = !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos;
  return numeric ? digits : "";
}

bool is_rank_key(const std::string& key) { return !rank_key_digits(key).empty(); }

}  // namespace

void GlooStore::set(const std::string& key, const std::vector<char>& data) {
  store_->set(key, data);
}

std::vector<char> GlooStore::get(const std::string& key) {
  try {
    return store_->get(key, timeout_);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kDeadlineExceeded && is_rank_key(key))
      fail_missing_ranks(key, e.what());
    throw;
  }
}

void GlooStore::wait(const std::vector<std::string>& keys,
                     const std::chrono::milliseconds& timeout) {
  // Gloo passes its context timeout here; never wait longer than the group's own bound.
  const auto bound = std::min(timeout, timeout_);
  try {
    store_->wait(keys, bound);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kDeadlineExceeded &&
        std::any_of(keys.begin(), keys.end(), is_rank_key))
      fail_missing_ranks(keys.front(), e.what());
    throw;
  }
}

void GlooStore::fail_missing_ranks(const std::string& example_key, const std::string& cause) {
  // Gloo waits for one rank at a time; list every rank still absent, so one error says it all.
  std::string missing;
  for (int r = 0; r < size_; ++r) {
    try {
      const std::string prefix = example_key.rfind("rank_", 0) == 0 ? "rank_" : "";
      store_->wait({prefix + std::to_string(r)}, std::chrono::milliseconds(0));
    } catch (const Error&) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
  }
  fail(ErrorCode::kDeadlineExceeded, "group '", group_, "': rank(s) ", missing, " of ", size_,
       " did not join within ", timeout_.count(), " ms (", cause, ")");
}

}  // namespace mlaserve::parallel
