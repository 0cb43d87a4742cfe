"""A Python client of `mlaserve serve`, written the way a user would with plain grpcio and
protoc-generated messages (no grpc_tools): one reference case streamed through Generate must give
DeepSeek's greedy tokens, exactly what `mlaserve generate` gives, logprobs within 1e-4;
grpc.health.v1 says SERVING; server reflection lists and describes the services (what grpcurl
needs); a bad request gets INVALID_ARGUMENT; SIGTERM exits 0.

usage: serve_client_test.py --mlaserve BIN --stubs DIR --model DIR [serve flags...]
"""
import argparse
import json
import re
import signal
import subprocess
import sys
import time

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlaserve", required=True)
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--model", required=True)
    args, serve_flags = parser.parse_known_args()
    sys.path.insert(0, args.stubs)
    import health_pb2  # noqa: E402 (generated at build time)
    import inference_pb2  # noqa: E402
    import reflection_pb2  # noqa: E402

    case = json.load(open(args.model + "/cases.json"))["cases"][3]
    server = subprocess.Popen(
        [args.mlaserve, "serve", "--model", args.model, "--host", "127.0.0.1", "--port", "0"]
        + serve_flags,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = wait_ready(server, deadline_s=180)
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=10)
        check_health(channel, health_pb2)
        check_reflection(channel, reflection_pb2)
        tokens, logprobs, last = generate(channel, inference_pb2, case["prompt"])
        assert tokens == case["greedy_tokens"], (tokens, case["greedy_tokens"])
        assert last.finish_reason == "length", last
        assert last.usage.prompt_tokens == len(case["prompt"]), last.usage
        assert last.usage.completion_tokens == 16, last.usage
        compare_with_generate(args, case["prompt"], tokens, logprobs)
        check_invalid_argument(channel, inference_pb2)
        info = channel.unary_unary(
            "/mlaserve.v1.Inference/GetModelInfo",
            request_serializer=inference_pb2.GetModelInfoRequest.SerializeToString,
            response_deserializer=inference_pb2.ModelInfo.FromString)(
                inference_pb2.GetModelInfoRequest(), timeout=10)
        assert info.healthy_replicas == info.replicas >= 1, info
        channel.close()
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            _, err = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    if server.returncode != 0:
        sys.stderr.write(err)
        raise AssertionError(f"serve exited with {server.returncode} after SIGTERM")
    print("ok: tokens, logprobs, health, reflection, INVALID_ARGUMENT, SIGTERM")


def wait_ready(server, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = server.stdout.readline()
        if not line:
            sys.stderr.write(server.stderr.read())
            raise AssertionError("serve exited before it was ready")
        m = re.search(r"serving .* on ([0-9.]+:[0-9]+)", line)
        if m:
            return m.group(1)
    raise AssertionError("serve not ready in time")


def check_health(channel, health_pb2):
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString)
    for service in ("", "mlaserve.v1.Inference"):
        status = check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, (service, status)


def check_reflection(channel, reflection_pb2):
    from google.protobuf import descriptor_pb2
    info = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol="mlaserve.v1.Inference")]
    listed, described = list(info(iter(requests), timeout=10))
    names = {s.name for s in listed.list_services_response.service}
    for service in ("mlaserve.v1.Inference", "grpc.health.v1.Health"):
        assert service in names, names
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in described.file_descriptor_response.file_descriptor_proto]
    methods = {m.name: m for f in files if f.package == "mlaserve.v1"
               for s in f.service if s.name == "Inference" for m in s.method}
    assert methods["Generate"].server_streaming, methods
    assert "GetModelInfo" in methods, methods


def generate(channel, inference_pb2, prompt):
    call = channel.unary_stream(
        "/mlaserve.v1.Inference/Generate",
        request_serializer=inference_pb2.GenerateRequest.SerializeToString,
        response_deserializer=inference_pb2.GenerateResponse.FromString)
    request = inference_pb2.GenerateRequest(
        prompt_token_ids=prompt, max_tokens=16, ignore_eos=True, top_logprobs=3,
        sampling=inference_pb2.SamplingParams(temperature=0.0), request_id="py-1")
    tokens, logprobs, last = [], [], None
    for response in call(request, timeout=120):
        assert response.request_id == "py-1"
        for t in response.tokens:
            tokens.append(t.token_id)
            logprobs.append([(e.token_id, e.logprob) for e in t.top_logprobs])
            assert t.HasField("logprob") and t.logprob == t.top_logprobs[0].logprob
        last = response
    return tokens, logprobs, last


def compare_with_generate(args, prompt, tokens, logprobs):
    out = subprocess.run(
        [args.mlaserve, "generate", "--model", args.model, "--prompt-ids",
         ",".join(map(str, prompt)), "--max-new-tokens", "16", "--ignore-eos", "--json",
         "--top-logprobs", "3"], capture_output=True, text=True, timeout=300, check=True)
    line = json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][0])
    assert line["tokens"] == tokens, (line["tokens"], tokens)
    for want, got in zip(line["top_logprobs"], logprobs):
        assert [w[0] for w in want] == [g[0] for g in got], (want, got)
        for w, g in zip(want, got):
            assert abs(w[1] - g[1]) <= 1e-4, (want, got)


def check_invalid_argument(channel, inference_pb2):
    call = channel.unary_stream(
        "/mlaserve.v1.Inference/Generate",
        request_serializer=inference_pb2.GenerateRequest.SerializeToString,
        response_deserializer=inference_pb2.GenerateResponse.FromString)
    bad = inference_pb2.GenerateRequest(
        prompt_token_ids=[5, 6], max_tokens=4,
        sampling=inference_pb2.SamplingParams(top_p=1.5))
    try:
        list(call(bad, timeout=30))
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "top_p" in e.details(), e.details()
        return
    raise AssertionError("top_p 1.5 was accepted")


if __name__ == "__main__":
    main()
