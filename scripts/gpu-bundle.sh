#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs, for one GPU architecture, on this (GPU-less) build
# machine, and gathers it into a small folder that can travel to a GPU machine lacking the build
# dependencies (gRPC, Gloo, OpenBLAS, ...): the binaries, stripped, and every shared library
# they load that is neither glibc's nor CUDA's, packed as DIR.tar.xz (~14 MB; the folder itself is
# ~80 MB, over what a device run carries). Then, there:
#   bash scripts/gpu-check.sh --prebuilt DIR.tar.xz
#
#   bash scripts/gpu-bundle.sh [ARCH] [DIR]      ARCH default 90 (H100/H200), DIR default .gpu-bundle
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
dest=${2:-.gpu-bundle}
build=${BUILD_DIR:-build-gpu-bundle}
targets=(mlaserve cuda_kernels_test op_parity_test deepseek_v2_cuda_test generate_cuda_test
         nccl_communicator_test)
bash scripts/setup.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLASERVE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DMLASERVE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
rm -rf "$dest"
mkdir -p "$dest/lib"
for t in "${targets[@]}"; do
  exe=$(find "$build" -name "$t" -type f -perm -u+x | head -1)
  strip --strip-unneeded -o "$dest/$t" "$exe"
done
# Shared libraries: all but the C runtime's and CUDA's own.
for t in "${targets[@]}"; do ldd "$dest/$t"; done |
  awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' |
  grep -v -E '/usr/local/cuda|libcuda\.so|libnccl|libcublas' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
echo "$arch" >"$dest/ARCH"
git rev-parse --short HEAD >"$dest/COMMIT"
pwd >"$dest/SOURCE_DIR"
echo "$(cd "$build" && pwd)/mlaserve" >"$dest/BINARY"
tar -cJf "$dest.tar.xz" -C "$(dirname "$dest")" "$(basename "$dest")"
du -sh "$dest" "$dest.tar.xz"
