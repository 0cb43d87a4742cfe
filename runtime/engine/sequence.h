#pragma once
// A request inside the engine: its tokens so far, how many of them the cache holds, and the
// cache blocks that hold them. The scheduler moves it between waiting and running; the engine
// appends the tokens it samples.
#include <cstdint>
#include <vector>

#include "runtime/engine/block_allocator.h"
#include "runtime/engine/request.h"

namespace mlaserve {

struct Sequence {
  Sequence(RequestId id_, EngineRequest request_)
      : id(id_),
        request(std::move(request_)),
        tokens(request.prompt) {}

  RequestId id;
  EngineRequest request;
  // Prompt then generated tokens. After a preemption all of them are recomputed like a prompt,
  // so "prompt" for the scheduler means tokens[0, size - 1) when a token is still to be fed.
  std::vector<int64_t> tokens;
  // Tokens whose latents are in the cache: positions [0, num_computed). The next forward feeds
  // tokens[num_computed, ...); a sequence samples when it has fed its last token.
  int64_t num_computed = 0;
  std::vector<BlockId> block_table;  // covers at least num_computed positions
  // Prefix hashes of the leading full blocks (block_hashes[b] covers tokens[0, (b+1)*block_size)),
  // each published once its block is full and computed.
  std::vector<uint64_t> block_hashes;
  bool running = false;
  uint64_t admitted_at = 0;  // admission counter: the latest admitted is preempted first

  int64_t num_prompt_tokens() const { return static_cast<int64_t>(request.prompt.size()); }
  int64_t num_generated() const { return static_cast<int64_t>(tokens.size()) - num_prompt_tokens(); }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Tokens still to feed before the next sample.
  int64_t num_pending() const { return num_tokens() - num_computed; }
};

}  // namespace mlaserve
