#!/usr/bin/env bash
# The main job on a small built-in model. Today: generate the demo checkpoint and inspect it.
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
