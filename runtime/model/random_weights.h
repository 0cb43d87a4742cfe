#pragma once
// Counter-based normal numbers for random checkpoints: element i of a tensor depends only on
// (seed, tensor name, i), so output is identical however the work is split into chunks, shards
// or threads.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlaserve {

// The stream of one tensor.
uint64_t random_stream_key(uint64_t seed, std::string_view tensor_name);

// out[j] = bf16(mean + std · N_{first + j}) for the stream `key`, where N_i are standard normals.
void fill_normal_bf16(uint64_t key, uint64_t first, size_t count, float mean, float std,
                      uint16_t* out);

}  // namespace mlaserve
