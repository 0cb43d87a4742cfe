#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test with CTest. Tests labelled `gpu` skip
# themselves cleanly where no CUDA device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
