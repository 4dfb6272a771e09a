#!/usr/bin/env bash
# The main job (`bash cmake/run.sh main`): prune a layer with every method and report sparsity,
# N:M validity and reconstruction error; then measure the real model stories260K (WikiText-2
# perplexity, and its divergence report against itself as the zero point of the scale).
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
