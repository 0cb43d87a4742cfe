#!/usr/bin/env bash
# The whole GPU path in one short run, on a machine with at least one NVIDIA GPU (<= 8 minutes on
# a 16-core machine):
#   1. configure with -DMLASERVE_CUDA=ON for this GPU's architecture and build what the checks use;
#   2. every gpu-labelled test: CUDA kernels, the op-parity suite (every op and dtype, CUDA against
#      the CPU), the reference cases with the model on CUDA, every reference case through
#      `generate --device cuda` in float32 and bfloat16, NCCL (tp 2 only where 2 GPUs exist; the
#      tests say so when they skip);
#   3. the op-parity suite again under compute-sanitizer (memcheck);
#   4. `bench decode --device cuda` on small-v2 beside the HBM bandwidth and bf16 GEMM probes;
#   5. one summary table (also written to $GPU_CHECK_OUT/summary.md when that is set).
#
#   bash scripts/gpu-check.sh                   build here (needs scripts/setup.sh's packages)
#   bash scripts/gpu-check.sh --prebuilt DIR[.tar.xz]   use what scripts/gpu-bundle.sh built, on
#                                               GPU machines without the build dependencies
# Exit code: 0 when every check passed, 1 when one failed, 2 when there is no GPU to check.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prebuilt=
[ "${1:-}" = "--prebuilt" ] && prebuilt=${2:?--prebuilt needs a directory}
out=${GPU_CHECK_OUT:-$(mktemp -d -t mlaserve-gpu-check.XXXXXX)}
mkdir -p "$out"
started=$(date +%s)
rows=()
failed=0
# record NAME STATUS DETAIL: one row of the summary.
record() {
  rows+=("| $1 | $2 | $3 |")
  [ "$2" = "PASS" ] || [ "$2" = "INFO" ] || [ "$2" = "SKIP" ] || failed=1
}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU is visible (nvidia-smi missing or failing): nothing to check" >&2
  exit 2
fi
gpus=$(nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader)
ngpus=$(echo "$gpus" | wc -l)
arch=$(echo "$gpus" | head -1 | awk -F', ' '{gsub(/\./, "", $3); print $3}')
record "GPUs" INFO "$ngpus × $(echo "$gpus" | head -1) (sm_$arch), driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"

# 1. Build (or take the bundle).
if [ -n "$prebuilt" ]; then
  case "$prebuilt" in
    *.tar.xz)  # as gpu-bundle.sh packs it: unpack beside the archive
      tar -xJf "$prebuilt" -C "$(dirname "$prebuilt")" || { echo "gpu-check: cannot unpack $prebuilt" >&2; exit 1; }
      prebuilt=${prebuilt%.tar.xz} ;;
  esac
  prebuilt=$(cd "$prebuilt" && pwd)
  bin=$prebuilt
  # The bundle's own libraries, then CUDA's (cuBLAS, NCCL are not bundled: the toolkit or its
  # pip wheels on the GPU machine provide them).
  cuda_libs=$(ls -d /usr/local/cuda/lib64 /usr/local/lib/python3*/dist-packages/nvidia/*/lib \
                /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="$prebuilt/lib:${cuda_libs}${LD_LIBRARY_PATH:-}"
  # Tests find the checkout and the mlaserve binary at the paths they were built with: make
  # those paths lead here.
  src=$(cat "$prebuilt/SOURCE_DIR")
  if [ "$src" != "$root" ] && [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$root" "$src"; fi
  orig=$(cat "$prebuilt/BINARY")
  mkdir -p "$(dirname "$orig")" && ln -sf "$prebuilt/mlaserve" "$orig"
  record "build" INFO "prebuilt bundle $prebuilt (sm_$(cat "$prebuilt/ARCH"), commit $(cat "$prebuilt/COMMIT"))"
else
  build=${BUILD_DIR:-build-gpu}
  t0=$(date +%s)
  if cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLASERVE_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES="$arch" -DMLASERVE_BUILD_BENCHMARKS=OFF >"$out/configure.log" 2>&1 &&
     cmake --build "$build" -j "$(nproc)" --target mlaserve cuda_kernels_test op_parity_test \
       deepseek_v2_cuda_test generate_cuda_test nccl_communicator_test >"$out/build.log" 2>&1; then
    record "build (sm_$arch)" PASS "$(( $(date +%s) - t0 )) s"
  else
    record "build (sm_$arch)" FAIL "see $out/configure.log, $out/build.log"
    tail -30 "$out/build.log" "$out/configure.log" 2>/dev/null
  fi
  bin=$build
fi
# Where each binary lives: the build tree's folders, or flat in a bundle.
find_bin() { if [ -n "$prebuilt" ]; then echo "$bin/$1"; else find "$bin" -name "$1" -type f | head -1; fi; }
mlaserve=$(find_bin mlaserve)

# 2. Every gpu-labelled test binary, each a row: passed / failed / skipped test counts.
run_gtest() {  # NAME [gtest args...]
  local name=$1 exe
  shift
  exe=$(find_bin "$name")
  if [ ! -x "$exe" ]; then record "$name" FAIL "not built"; return; fi
  local t0 log=$out/$name.log
  t0=$(date +%s)
  (cd "$root" && timeout 300 "$exe" "$@") >"$log" 2>&1
  local code=$?
  local passed skipped failed_n
  passed=$(grep -c '^\[       OK \]' "$log")
  skipped=$(grep -c '^\[  SKIPPED \]' "$log")
  failed_n=$(grep -c '^\[  FAILED  \]' "$log")
  local status=PASS
  [ "$code" -eq 0 ] || status=FAIL
  record "$name" "$status" "$passed passed, $(( failed_n > 0 ? failed_n / 2 : 0 )) failed, $(( skipped / 2 )) skipped, $(( $(date +%s) - t0 )) s (exit $code)"
  [ "$status" = PASS ] || grep -E '^\[  FAILED  \]|Failure|error' "$log" | head -20
}
for t in cuda_kernels_test op_parity_test deepseek_v2_cuda_test generate_cuda_test nccl_communicator_test; do
  run_gtest "$t"
done
if [ -z "$prebuilt" ]; then
  (cd "$bin" && ctest -L gpu --timeout 600 >"$out/ctest-gpu.log" 2>&1)
  code=$?
  record "ctest -L gpu" "$([ $code -eq 0 ] && echo PASS || echo FAIL)" "$(grep -E 'tests passed|tests failed' "$out/ctest-gpu.log" | tail -1)"
fi
grep -h '^\[tiny' "$out"/deepseek_v2_cuda_test.log "$out"/generate_cuda_test.log 2>/dev/null >"$out/reference.txt"
[ -s "$out/reference.txt" ] && record "reference cases" INFO "$(wc -l <"$out/reference.txt") lines in $out/reference.txt"

# 3. The op-parity suite under compute-sanitizer: out-of-bounds and misaligned accesses, races
# through shared memory, uninitialised device memory read by a kernel.
if command -v compute-sanitizer >/dev/null; then
  exe=$(find_bin op_parity_test)
  for tool in memcheck racecheck; do
    t0=$(date +%s)
    timeout 240 compute-sanitizer --tool "$tool" --error-exitcode 3 "$exe" >"$out/sanitizer-$tool.log" 2>&1
    code=$?
    record "compute-sanitizer $tool (op_parity_test)" "$([ $code -eq 0 ] && echo PASS || echo FAIL)" \
      "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizer-$tool.log" | tail -1) $(( $(date +%s) - t0 )) s (exit $code)"
  done
else
  record "compute-sanitizer" FAIL "not on PATH"
fi

# 4. Decode speed on small-v2 beside the device's own roofline probes.
model=$out/small-v2
if "$mlaserve" make-model --config configs/models/small-v2.json --seed 1 --out "$model" >"$out/make-model.log" 2>&1; then
  for dtype in bfloat16 float32; do
    timeout 240 "$mlaserve" bench decode --device cuda --model "$model" --dtype "$dtype" \
      --batch 1,32,128 --prompt-len 128 --new-tokens 32 >"$out/bench-decode-$dtype.log" 2>&1
    code=$?
    record "bench decode --device cuda ($dtype)" "$([ $code -eq 0 ] && echo PASS || echo FAIL)" \
      "$(grep -E 'probe|ms/step|batch' "$out/bench-decode-$dtype.log" | tr '\n' ';' | cut -c1-400)"
  done
else
  record "make-model small-v2" FAIL "see $out/make-model.log"
fi

# 5. Summary.
{
  echo "## gpu-check $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || cat COMMIT 2>/dev/null || echo '?'), $(( $(date +%s) - started )) s"
  echo
  echo "| check | result | detail |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} | tee "$out/summary.md"
echo "gpu-check: logs in $out"
exit "$failed"
