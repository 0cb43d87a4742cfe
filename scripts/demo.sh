#!/usr/bin/env bash
# The main job on a small built-in model: build, make the demo checkpoint if missing, serve it
# with `mlaserve serve --tp 2` on a free loopback port, stream one request with `mlaserve client`
# (tokens as they arrive, then time to first token and per-token time on stderr), stop the server
# with SIGTERM (it drains, then exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build=${BUILD_DIR:-build}
model=$build/models/demo
if [ ! -f "$model/config.json" ]; then
  "$build/mlaserve" make-model --config configs/models/demo.json --seed 1 --out "$model"
fi
"$build/mlaserve" inspect --model "$model"

log=$(mktemp -t mlaserve-demo-serve.XXXXXX)
"$build/mlaserve" serve --model "$model" --tp 2 --host 127.0.0.1 --port 0 >"$log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
}
trap stop_server EXIT
# "mlaserve: serving demo on 127.0.0.1:PORT ..." once both ranks have loaded the weights.
addr=
for _ in $(seq 1 1200); do
  addr=$(sed -n 's/^mlaserve: serving .* on \([0-9.]*:[0-9]*\) .*/\1/p' "$log")
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "demo: the server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "demo: the server did not start within 120 s" >&2; exit 1; }
echo "demo: server ready at $addr"
"$build/mlaserve" client --addr "$addr" --prompt-ids 17,923,4051,88,1200 --max-tokens 32 \
  --ignore-eos
trap - EXIT
kill -TERM "$server"
code=0
wait "$server" || code=$?
echo "demo: server log:"
cat "$log"
echo "demo: the server drained and exited with code $code"
exit "$code"
