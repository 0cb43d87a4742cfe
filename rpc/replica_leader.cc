#include "rpc/replica_leader.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "rpc/bearer_metadata.h"
#include "rpc/dispatch_messages.h"
#include "rpc/proto/dispatch.grpc.pb.h"
#include "rpc/status_mapping.h"

namespace mlaserve::rpc {
namespace {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<internal::WorkerMessage, internal::CoordinatorMessage>;

// What the reader thread hands the engine thread.
class Inbox {
 public:
  void push(internal::CoordinatorMessage message) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(std::move(message));
    }
    cv_.notify_all();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Waits up to `timeout` when empty (and not closed); `closed` is set once the stream ended.
  std::deque<internal::CoordinatorMessage> take(std::chrono::milliseconds timeout, bool& closed) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !messages_.empty() || closed_; });
    std::deque<internal::CoordinatorMessage> out;
    out.swap(messages_);
    closed = closed_;
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<internal::CoordinatorMessage> messages_;
  bool closed_ = false;
};

// The call ended from the coordinator's side. A verdict on us (a wrong cluster token, a bad
// Register) is reported with its own code; the coordinator going away is kUnavailable. Only
// once nothing else reads the stream.
[[noreturn]] void raise_closed(Stream& stream, const std::string& where) {
  const grpc::Status status = stream.Finish();
  const grpc::StatusCode code = status.error_code();
  if (!status.ok() && code != grpc::StatusCode::CANCELLED &&
      code != grpc::StatusCode::UNAVAILABLE)
    throw_status(status, "coordinator at " + where);
  fail(ErrorCode::kUnavailable, "the coordinator at ", where, " closed the stream");
}

void write(Stream& stream, const internal::WorkerMessage& message, const std::string& where) {
  MLA_ENSURE(stream.Write(message), kUnavailable, "the stream to the coordinator at ", where,
             " broke");
}

}  // namespace

void run_replica_leader(Engine& engine, const LeaderOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // A coordinator whose machine vanishes breaks the stream within ~20 s (coordinator.cc).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  auto channel = grpc::CreateCustomChannel(options.coordinator,
                                           grpc::InsecureChannelCredentials(), args);
  MLA_ENSURE(channel->WaitForConnected(std::chrono::system_clock::now() + options.connect_timeout),
             kUnavailable, "cannot reach the coordinator at ", options.coordinator, " within ",
             options.connect_timeout.count(), " ms");
  auto stub = internal::Dispatch::NewStub(channel);
  grpc::ClientContext context;
  add_bearer(context, options.token);
  std::unique_ptr<Stream> stream = stub->Connect(&context);

  internal::WorkerMessage hello;
  internal::Register* reg = hello.mutable_registration();
  reg->set_replica(options.replica);
  reg->set_pid(static_cast<int32_t>(getpid()));
  reg->set_num_blocks(options.num_blocks);
  reg->set_block_size(options.block_size);
  if (!stream->Write(hello)) raise_closed(*stream, options.coordinator);

  Inbox inbox;
  std::thread reader([&] {
    internal::CoordinatorMessage message;
    while (stream->Read(&message)) inbox.push(message);
    inbox.close();
  });
  // However the loop ends, the reader must be unblocked and joined before `stream` goes away.
  struct JoinReader {
    grpc::ClientContext& context;
    std::thread& reader;
    ~JoinReader() {
      context.TryCancel();
      reader.join();
    }
  } join_reader{context, reader};

  // Heartbeats go out on a fixed period, busy or idle: they carry the engine's stats
  // (GetServerStats) as well as proof of life.
  auto last_beat = Clock::now() - options.heartbeat_interval;
  for (;;) {
    bool closed = false;
    // Busy: take what arrived and step again. Idle: sleep until a message or the next beat.
    const auto wait = engine.has_unfinished()
                          ? std::chrono::milliseconds(0)
                          : std::chrono::duration_cast<std::chrono::milliseconds>(
                                last_beat + options.heartbeat_interval - Clock::now());
    bool shutdown = false;
    internal::WorkerMessage refusals;
    for (internal::CoordinatorMessage& m : inbox.take(wait, closed)) {
      if (m.has_submit()) {
        try {
          engine.add_request(m.submit().id(), from_submit(m.submit()));
        } catch (const Error& e) {
          *refusals.mutable_outputs()->add_outputs() = refused_output(m.submit().id(), e);
        }
      } else if (m.has_abort()) {
        engine.abort(m.abort().id());
      } else if (m.has_shutdown()) {
        shutdown = true;
      }
    }
    if (refusals.has_outputs()) write(*stream, refusals, options.coordinator);
    if (shutdown) break;
    if (closed) raise_closed(*stream, options.coordinator);  // the reader has finished
    if (engine.has_unfinished()) {
      internal::WorkerMessage step;
      for (const RequestOutput& out : engine.step())
        if (out.finish_reason != "abort") *step.mutable_outputs()->add_outputs() = to_proto(out);
      if (step.has_outputs()) write(*stream, step, options.coordinator);
    }
    if (Clock::now() - last_beat >= options.heartbeat_interval) {
      const EngineStats stats = engine.stats();
      internal::WorkerMessage beat;
      beat.mutable_heartbeat()->set_running(stats.running);
      beat.mutable_heartbeat()->set_waiting(stats.waiting);
      beat.mutable_heartbeat()->set_cache_usage(stats.cache_usage);
      beat.mutable_heartbeat()->set_generated_tokens(static_cast<int64_t>(stats.generated_tokens));
      write(*stream, beat, options.coordinator);
      if (options.on_heartbeat) options.on_heartbeat();
      last_beat = Clock::now();
    }
  }
  stream->WritesDone();
}

}  // namespace mlaserve::rpc
