#!/usr/bin/env bash
# The main job on a small built-in model. Until serving exists: make the demo checkpoint, inspect
# it, and generate from it.
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
# Greedy generation from two prompts run together as one ragged batch.
prompts=$build/models/demo-prompts.jsonl
printf '%s\n' '{"prompt_ids": [17, 923, 4051, 88, 1200]}' '{"prompt_ids": [5, 6, 7]}' >"$prompts"
"$build/mlaserve" generate --model "$model" --prompts-file "$prompts" --max-new-tokens 16 --json
