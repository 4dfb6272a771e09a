#!/usr/bin/env bash
# The main job (`bash cmake/run.sh main`): prune real models block by block on real calibration
# data, write the pruned checkpoints, and report what the pruning cost.
#   1. stories260K (llama2.c, seconds): Wanda 50 % on TinyStories, its training text;
#   2. SmolLM2-135M-Instruct (GGUF Q4_1): Wanda 50 % and SparseGPT 2:4 on C4 calibration
#      (32 sequences x 512 tokens, seed 0), both written as GGUFs with F16 linears (Q4_1 cannot
#      hold exact zeros); for the dense and each pruned model: WikiText-2 perplexity ± SE and
#      the per-token divergence from the dense model.
# Expects the release build (cmake --workflow --preset release) and POLLARD_DATA_DIR;
# POLLARD_THREADS=N gives every command --threads N (default 0: all hardware threads);
# POLLARD_BIN_DIR names the folder holding the pollard binary (default build/release/examples).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${POLLARD_BIN_DIR:-build/release/examples}"
work="$(mktemp -d "${TMPDIR:-/tmp}/pollard-main.XXXXXX")"
trap 'rm -rf "$work"' EXIT
threads="${POLLARD_THREADS:-0}"

data="${POLLARD_DATA_DIR:-}"
stories="$data/models/stories260K/stories260K.bin"
if [ -z "$data" ] || [ ! -f "$stories" ]; then
  echo "POLLARD_DATA_DIR is not set (or has no stories260K): nothing to prune" >&2
  exit 1
fi
wikitext="$data/text/wikitext2_raw/test.rows.jsonl"
c4="$data/text/c4/c4-sample.00000-of-00001.json.gz"
tinystories="$data/text/tinystories/tinystories_train_head.txt"
seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

echo "== stories260K: Wanda 50 % on TinyStories (64 x 256 tokens)"
start=$(seconds)
"$bin/pollard" prune "$stories" "$work/stories-wanda50.bin" --method wanda --sparsity 0.5 \
  --calibration "text:$tinystories" --samples 64 --length 256 --threads "$threads" --quiet
echo "pruned in $(elapsed "$start") s"
cp "$(dirname "$stories")/tok512.bin" "$work/"  # llama2.c keeps the tokenizer beside the model
"$bin/pollard" compare "$stories" "$work/stories-wanda50.bin" --text "$tinystories" --window 256 \
  --max-windows 16 --threads "$threads"

smollm2="${POLLARD_SMOLLM2_GGUF:-${XDG_CACHE_HOME:-$HOME/.cache}/pollard/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -f "$smollm2" ]; then
  echo
  echo "SmolLM2 is not at $smollm2 (cmake/fetch_smollm2.sh): its part is skipped"
  exit 0
fi
echo
echo "== SmolLM2-135M-Instruct (GGUF Q4_1, $(du -h "$smollm2" | cut -f1))"
for run in "wanda50:--method wanda --sparsity 0.5" "sparsegpt24:--method sparsegpt --n-m 2:4"; do
  name="${run%%:*}"
  echo
  echo "-- prune: ${run#*:}, C4 calibration 32 x 512 tokens, linears written as F16"
  start=$(seconds)
  # shellcheck disable=SC2086
  "$bin/pollard" prune "$smollm2" "$work/smollm2-$name.gguf" ${run#*:} \
    --calibration "c4:$c4" --samples 32 --length 512 --seed 0 --type f16 --threads "$threads" \
    --quiet --report "$work/$name.json"
  echo "pruned in $(elapsed "$start") s; $(du -h "$work/smollm2-$name.gguf" | cut -f1) written"
done
for model in "$smollm2" "$work/smollm2-wanda50.gguf" "$work/smollm2-sparsegpt24.gguf"; do
  echo
  echo "-- WikiText-2 perplexity of $(basename "$model") (window protocol, 8 windows of 512)"
  "$bin/pollard" eval "$model" --text "$wikitext" --window 512 --max-windows 8 \
    --threads "$threads"
done
for name in wanda50 sparsegpt24; do
  echo
  echo "-- divergence of smollm2-$name from the dense model (WikiText-2, 4 windows of 512)"
  "$bin/pollard" compare "$smollm2" "$work/smollm2-$name.gguf" --text "$wikitext" --window 512 \
    --max-windows 4 --threads "$threads"
done
