// One rank of a Gloo group in its own process, meeting the others through the gRPC store.
// Driven by gloo_processes_test.cc:  gloo_rank ADDRESS RANK SIZE MODE [TIMEOUT_MS]
//   collectives: run every collective, check it, publish the all-reduce result as result/<rank>
//   stall:       join, publish joined/<rank>, then sleep until killed
//   survivor:    join, publish joined/<rank>, all-reduce until it fails; publish error/<rank> and
//                error_at_ns/<rank> (steady clock, shared by all processes on the machine)
//   bench:       all-reduce latency medians (1 and 4096 floats), Gloo ring vs gather-and-sum
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "parallel/gloo_communicator.h"
#include "rpc/grpc_store.h"
#include "runtime/core/error.h"

using namespace mlaserve;
using namespace std::chrono_literals;

namespace {

std::vector<float> input_of(int rank, int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (rank + 1) * 0.1f + i * 1e-3f * (rank % 2 ? -1 : 1);
  return v;
}

parallel::Bytes as_bytes(const Tensor& t) {
  const char* p = static_cast<const char*>(t.raw_data());
  return parallel::Bytes(p, p + t.nbytes());
}

void check(bool ok, const std::string& what) {
  if (!ok) fail(ErrorCode::kInternal, "check failed: ", what);
}

void collectives(parallel::Communicator& c, parallel::Store& store) {
  const int n = c.size(), me = c.rank();
  Tensor t = Tensor::from_floats({1000}, input_of(me, 1000));
  c.all_reduce_sum(t);
  store.set("result/" + std::to_string(me), as_bytes(t));

  Tensor row = Tensor::from_floats({1, 2}, {static_cast<float>(me), 7.f});
  Tensor all = c.all_gather(row);
  for (int r = 0; r < n; ++r) check(all.data<float>()[2 * r] == r, "all_gather order");

  Tensor b = Tensor::from_floats({3}, std::vector<float>(3, static_cast<float>(me)));
  c.broadcast(b, n - 1);
  check(b.data<float>()[2] == n - 1, "broadcast from the last rank");

  // Everyone sends one row to every rank, holding (source, destination).
  std::vector<float> rows;
  for (int d = 0; d < n; ++d) rows.insert(rows.end(), {static_cast<float>(me), static_cast<float>(d)});
  Tensor out = c.all_to_all_v(Tensor::from_floats({n, 2}, rows), std::vector<int64_t>(n, 1),
                              std::vector<int64_t>(n, 1));
  for (int s = 0; s < n; ++s)
    check(out.data<float>()[2 * s] == s && out.data<float>()[2 * s + 1] == me, "all_to_all_v");

  auto pair = c.split(me / 2, me);
  Tensor one = Tensor::from_floats({1}, {1.f});
  pair->all_reduce_sum(one);
  check(one.data<float>()[0] == std::min(2, n - (me / 2) * 2), "split group size");
  c.barrier();
}

double median_us(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void bench(parallel::Communicator& c) {
  for (int64_t n : {1, 4096}) {
    const std::vector<float> input = input_of(c.rank(), n);
    Tensor t = Tensor::from_floats({n}, input);
    std::vector<double> ring, gather_sum;
    for (int i = 0; i < 1200; ++i) {
      std::copy(input.begin(), input.end(), t.data<float>());
      c.barrier();  // time each call from a common start, not the peers' skew
      auto t0 = std::chrono::steady_clock::now();
      c.all_reduce_sum(t);
      auto t1 = std::chrono::steady_clock::now();
      c.barrier();
      // The alternative: gather every rank's tensor, sum in rank order locally.
      auto t2 = std::chrono::steady_clock::now();
      Tensor all = c.all_gather(t.view({1, n}));
      Tensor sum = Tensor::zeros({n}, DType::kF32);
      for (int r = 0; r < c.size(); ++r)
        for (int64_t k = 0; k < n; ++k) sum.data<float>()[k] += all.data<float>()[r * n + k];
      auto t3 = std::chrono::steady_clock::now();
      if (i < 200) continue;  // warm-up
      ring.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      gather_sum.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
    }
    if (c.rank() == 0)
      std::printf("size %d, %lld floats: gloo ring all-reduce median %.1f us; "
                  "all_gather + rank-order sum median %.1f us\n",
                  c.size(), static_cast<long long>(n), median_us(ring), median_us(gather_sum));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s ADDRESS RANK SIZE MODE [TIMEOUT_MS]\n", argv[0]);
    return 2;
  }
  const std::string address = argv[1], mode = argv[4];
  const int rank = std::atoi(argv[2]), size = std::atoi(argv[3]);
  parallel::GlooOptions options;
  if (argc > 5) options.timeout = std::chrono::milliseconds(std::atoi(argv[5]));
  auto store = std::make_shared<rpc::GrpcStore>(address);
  try {
    auto comm = parallel::connect_gloo(store, rank, size, options);
    if (mode == "collectives") {
      collectives(*comm, *store);
    } else if (mode == "bench") {
      bench(*comm);
    } else if (mode == "stall" || mode == "survivor") {
      store->set("joined/" + std::to_string(rank), {});
      if (mode == "stall") {
        std::this_thread::sleep_for(60s);
        return 0;
      }
      Tensor t = Tensor::from_floats({256}, input_of(rank, 256));
      for (;;) comm->all_reduce_sum(t);
    } else {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const Error& e) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    const std::string at = std::to_string(std::chrono::nanoseconds(now).count());
    const std::string message = e.what();
    std::fprintf(stderr, "rank %d: %s: %s\n", rank, std::string(error_code_name(e.code())).c_str(),
                 message.c_str());
    if (mode == "survivor") {
      store->set("error/" + std::to_string(rank), parallel::Bytes(message.begin(), message.end()));
      store->set("error_at_ns/" + std::to_string(rank), parallel::Bytes(at.begin(), at.end()));
      return e.code() == ErrorCode::kUnavailable ? 3 : 4;
    }
    return 1;
  }
  return 0;
}
