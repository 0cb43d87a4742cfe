// libFuzzer entry for the safetensors header parser. Input: 8 bytes of data-section size
// (little-endian), then the header text. An accepted header must describe only in-range,
// non-overlapping tensors whose byte length matches shape x dtype; a rejected one must throw
// mlaserve::Error. Anything else aborts, which libFuzzer reports with the input.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_bytes = 0;
  for (int i = 7; i >= 0; --i) data_bytes = data_bytes << 8 | data[i];
  const std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  std::map<std::string, mlaserve::TensorInfo> tensors;
  try {
    tensors = mlaserve::parse_safetensors_header(header, data_bytes, "fuzz-input");
  } catch (const mlaserve::Error&) {
    return 0;
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, info] : tensors) {
    if (info.begin > info.end || info.end > data_bytes) std::abort();
    unsigned __int128 bytes = mlaserve::dtype_size(info.dtype);
    for (int64_t d : info.shape) {
      if (d < 0) std::abort();
      bytes = std::min<unsigned __int128>(bytes * static_cast<uint64_t>(d),
                                          static_cast<unsigned __int128>(data_bytes) + 1);
    }
    if (bytes != info.end - info.begin) std::abort();
    if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) std::abort();
  return 0;
}
