#!/usr/bin/env bash
# The main job (`bash cmake/run.sh main`): prune a layer with every method and report sparsity,
# N:M validity and reconstruction error; then measure the real models: stories260K's perplexity
# on WikiText-2 and TinyStories, SmolLM2's perplexity on WikiText-2, and the per-token divergence
# of SmolLM2 written back as F16 from its Q4_1 original.
# Expects the release build (cmake --workflow --preset release) and POLLARD_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/examples
work="$(mktemp -d "${TMPDIR:-/tmp}/pollard-main.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== a generated layer: 512 x 1024, 2048 calibration tokens with 8 outlier channels"
"$bin/make_layer_example" "$work" --d-out 512 --d-in 1024 --tokens 2048 --outliers 8
for method in magnitude wanda ria sparsegpt; do
  for pattern in "--sparsity 0.5" "--n-m 2:4"; do
    echo
    "$bin/prune_layer" --weights "$work/W.npy" --activations "$work/X.npy" --method "$method" \
      $pattern --out "$work/W_$method.npy" --mask-out "$work/mask_$method.npy"
  done
done

data="${POLLARD_DATA_DIR:-}"
model="$data/models/stories260K/stories260K.bin"
if [ -z "$data" ] || [ ! -f "$model" ]; then
  echo
  echo "POLLARD_DATA_DIR is not set (or has no stories260K): the real-model part is skipped"
  exit 0
fi
echo
echo "== stories260K (real llama2.c model)"
"$bin/pollard" info "$model" | head -12
echo
"$bin/pollard" eval "$model" --text "$data/text/wikitext2_raw/test.rows.jsonl" --window 512
echo
"$bin/pollard" eval "$model" --text "$data/text/tinystories/tinystories_train_head.txt" --window 512

smollm2="${POLLARD_SMOLLM2_GGUF:-${XDG_CACHE_HOME:-$HOME/.cache}/pollard/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -f "$smollm2" ]; then
  echo
  echo "SmolLM2 is not at $smollm2 (cmake/fetch_smollm2.sh): its part is skipped"
  exit 0
fi
echo
echo "== SmolLM2-135M-Instruct (real GGUF, Q4_1)"
"$bin/pollard" eval "$smollm2" --text "$data/text/wikitext2_raw/test.rows.jsonl" --window 512 --max-windows 8
echo
echo "== the same model written back as F16 by pollard: its divergence from the Q4_1 original"
"$bin/pollard" convert "$smollm2" "$work/smollm2-f16.gguf" --type f16
"$bin/pollard" compare "$smollm2" "$work/smollm2-f16.gguf" \
  --text "$data/text/wikitext2_raw/test.rows.jsonl" --window 512 --max-windows 4 \
  --markdown "$work/compare.md"
