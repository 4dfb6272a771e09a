#!/usr/bin/env bash
# Runs the pollard command-line tool as a user would and checks what it prints and writes.
#   cli_test.sh CASE POLLARD_BINARY WORK_FOLDER
# Real data comes from $POLLARD_DATA_DIR; a case that needs it prints "SKIPPED: ..." without it.
set -u
case_name=$1
pollard=$2
work=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$work" || exit 1

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}
skip() {
  [ "$failures" -eq 0 ] || finish
  echo "SKIPPED: $*"
  exit 0
}

data=${POLLARD_DATA_DIR:-}
stories=$data/models/stories260K/stories260K.bin
tinystories=$data/text/tinystories/tinystories_train_head.txt
need_data() {
  if [ -z "$data" ] || [ ! -f "$stories" ]; then
    skip "POLLARD_DATA_DIR ('$data') does not hold models/stories260K"
  fi
}
smollm2=${POLLARD_SMOLLM2_GGUF:-${XDG_CACHE_HOME:-$HOME/.cache}/pollard/SmolLM2-135M-Instruct.Q4_1.gguf}

# run NAME ARGS...: runs pollard, keeping stdout in NAME.out, stderr in NAME.err, status in $status.
run() {
  local name=$1
  shift
  "$pollard" "$@" >"$name.out" 2>"$name.err"
  status=$?
}

# expect_error NAME STATUS ARGS...: pollard must exit with STATUS and say one line on stderr,
# "pollard: error: ...".
expect_error() {
  local name=$1 want=$2
  shift 2
  run "$name" "$@"
  if [ "$status" -ne "$want" ]; then fail "$name: exit status $status, expected $want"; fi
  # Progress lines may come first; the error is one line, the last one.
  if [ "$(grep -c 'error' "$name.err")" -ne 1 ] || ! tail -n 1 "$name.err" | grep -q '^pollard: error: '; then
    fail "$name: stderr does not end with one 'pollard: error: ...' line:"
    cat "$name.err"
  fi
}

# expect_line NAME REGEX: NAME.out has a line matching REGEX (extended).
expect_line() {
  if ! grep -Eq "$2" "$1.out"; then fail "$1: no line matches '$2'"; fi
}

# expect_message NAME TEXT: NAME.err holds TEXT (fixed, not a pattern).
expect_message() {
  grep -qF -- "$2" "$1.err" || fail "$1: the message does not say '$2': $(cat "$1.err")"
}

# json_check FILE PYTHON_EXPRESSION: FILE parses as JSON and the expression (over `j`) is true.
json_check() {
  if ! command -v python3 >/dev/null; then
    [ -s "$1" ] || fail "$1 is missing or empty"
    return
  fi
  if ! python3 -c 'import json, math, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; then
    fail "$1: JSON check failed: $2"
  fi
}

# small_layer: sets $prune_layer (skips when it is not built) and writes a 4x8 layer W.npy, X.npy
# and H.npy (8 tokens) here with make_layer_example.
small_layer() {
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built"
  "$(dirname "$prune_layer")/make_layer_example" . --d-out 4 --d-in 8 --tokens 8 >/dev/null ||
    fail "make_layer_example failed"
}

# A small slice of TinyStories (whole paragraphs), so tokenizing and evaluating stay fast.
tinystories_slice() {
  awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 12' "$tinystories" >"$1"
}

case $case_name in
prune)
  need_data
  # Wanda 50 % on TinyStories: every linear exactly half zero (the per-row policy prunes
  # floor(d_in / 2) of each row), in the file written and in the report; the report parses.
  tinystories_slice text.txt
  run prune prune "$stories" pruned.bin --method wanda --sparsity 0.5 --calibration "text:text.txt" \
    --samples 4 --length 64 --report report.json --save-calibration tokens.json
  [ "$status" -eq 0 ] || { fail "prune: exit status $status"; cat prune.err; }
  expect_line prune '^pruned 35 linears of .* with wanda \(sequential\): 0\.5000 of their weights are zero$'
  expect_line prune '^blk\.4\.ffn_down +64x172 +mlp_out +sparsity 0\.5000'
  json_check report.json 'len(j["linears"]) == 35 and all(abs(l["sparsity"] - 0.5) < 1e-12 for l in j["linears"]) and j["calibration"]["sequences"] == 4'
  json_check tokens.json 'j["sequences"] == 4 and j["length"] == 64 and all(len(r) == 64 for r in j["tokens"])'
  run info_pruned info pruned.bin
  [ "$status" -eq 0 ] || fail "info of the pruned model: exit status $status"
  # The same seed gives the same file; the dense model is untouched.
  run prune_again prune "$stories" again.bin --method wanda --sparsity 0.5 --calibration "text:text.txt" \
    --samples 4 --length 64 --quiet
  cmp -s pruned.bin again.bin || fail "prune: the same seed gave a different file"
  # 2:4 with SparseGPT: every window of 4 holds 2 zeros.
  run prune_24 prune "$stories" p24.bin --method sparsegpt --n-m 2:4 --calibration "text:text.txt" \
    --samples 4 --length 64 --report r24.json --quiet
  [ "$status" -eq 0 ] || { fail "prune 2:4: exit status $status"; cat prune_24.err; }
  json_check r24.json 'all(l["n_m_valid"] and math.isfinite(l["loss"]) for l in j["linears"])'
  # --n-m N:M counts pruned weights: 1:4 prunes exactly a quarter of every linear.
  run prune_14 prune "$stories" p14.bin --method magnitude --n-m 1:4 --report r14.json --quiet
  [ "$status" -eq 0 ] || { fail "prune 1:4: exit status $status"; cat prune_14.err; }
  json_check r14.json 'all(abs(l["sparsity"] - 0.25) < 1e-12 and l["n_m_valid"] for l in j["linears"])'
  expect_error prune_nm_text 2 prune "$stories" x.bin --method magnitude --n-m 2-4
  grep -q -- "--n-m.*needs N:M" prune_nm_text.err || fail "prune_nm_text: message"
  # A model pruned again to less than it holds: every linear departs from the request, and the
  # warning reaches stderr even under --quiet.
  run prune_warns prune pruned.bin again30.bin --method magnitude --sparsity 0.3 --quiet
  [ "$status" -eq 0 ] || fail "prune of a pruned model: exit status $status"
  [ "$(grep -c '^pollard: warning: blk\.[0-9]*\.[a-z_]*: pruned 0\.5.* more than the 0\.3' prune_warns.err)" -eq 35 ] ||
    fail "prune --quiet does not warn for each of the 35 linears: $(cat prune_warns.err)"
  # Magnitude needs no calibration.
  run prune_mag prune "$stories" mag.bin --method magnitude --sparsity 0.3 --quiet
  [ "$status" -eq 0 ] || fail "prune magnitude without calibration: exit status $status"
  # Bad input: each a clear error, nothing written.
  expect_error prune_method 2 prune "$stories" x.bin --method obc --calibration "text:text.txt"
  expect_error prune_sparsity 2 prune "$stories" x.bin --sparsity 1 --calibration "text:text.txt"
  expect_error prune_nm 2 prune "$stories" x.bin --n-m 3:8 --calibration "text:text.txt" --samples 2 --length 16
  grep -q "does not divide the 172 input columns of blk.0.ffn_down" prune_nm.err || fail "prune_nm: message"
  grep -q "prune_model:" prune_nm.err && fail "prune_nm: the message carries an internal prefix"
  expect_error prune_nocal 2 prune "$stories" x.bin --method wanda
  expect_error prune_missing 2 prune "$stories" x.bin --calibration "c4:missing.json.gz"
  : >empty.txt
  expect_error prune_empty 1 prune "$stories" x.bin --calibration "text:empty.txt"
  printf 'Once upon a time.\n' >short.txt
  expect_error prune_short 1 prune "$stories" x.bin --calibration "text:short.txt" --length 64
  expect_error prune_kind 2 prune "$stories" x.bin --calibration "pile:text.txt"
  cp "$stories" copy.bin
  expect_error prune_same 2 prune copy.bin copy.bin --method magnitude
  cmp -s copy.bin "$stories" || fail "prune onto its own input changed it"
  [ ! -e x.bin ] || fail "a failed prune left x.bin behind"
  ls ./*.tmp* >/dev/null 2>&1 && fail "a failed prune left a temporary file"
  finish
  ;;
info)
  need_data
  run info info "$stories"
  [ "$status" -eq 0 ] || fail "info: exit status $status"
  # The expected values are the header of stories260K.bin as its README describes it.
  expect_line info '^format: llama2\.c'
  expect_line info '^  dim +64$'
  expect_line info '^  hidden_dim +172$'
  expect_line info '^  layers +5$'
  expect_line info '^  heads +8$'
  expect_line info '^  kv_heads +4$'
  expect_line info '^  vocab_size +512$'
  expect_line info '^  context +512$'
  expect_line info '^  tied +yes$'
  expect_line info '^parameters: 260,032 '
  expect_line info '^tokenizer: llama2\.c BPE'
  expect_line info '^  wk +5 x 32 x 64 +f32$'
  expect_line info '^  w2 +5 x 64 x 172 +f32$'
  # --sparsity: the dense model has no zero; after 2:4 magnitude pruning every linear is half
  # zero and 2:4 (also 4:8 where 8 divides the width; ffn_down's 172 columns do not).
  run dense_sparsity info "$stories" --sparsity
  expect_line dense_sparsity '^all linears: 0\.0000 of 226,560 weights are zero$'
  expect_line dense_sparsity '^  blk\.0\.attn_q +64x64 +0\.0000 +-$'
  cp "$(dirname "$stories")/tok512.bin" .
  run prune_mag24 prune "$stories" mag24.bin --method magnitude --n-m 2:4 --quiet
  [ "$status" -eq 0 ] || { fail "prune_mag24: exit status $status"; cat prune_mag24.err; }
  run sparsity info mag24.bin --sparsity
  [ "$status" -eq 0 ] || { fail "info --sparsity: exit status $status"; cat sparsity.err; }
  expect_line sparsity '^all linears: 0\.5000 of 226,560 weights are zero$'
  expect_line sparsity '^  blk\.3\.ffn_gate +172x64 +0\.5000 +2:4 4:8$'
  expect_line sparsity '^  blk\.4\.ffn_down +64x172 +0\.5000 +2:4$'
  [ "$(grep -c ' 0\.5000  2:4' sparsity.out)" -eq 35 ] || fail "info --sparsity: not 35 linears at 2:4"
  # The tables --include-embeddings prunes are listed apart (stories260K's classifier is tied).
  expect_line dense_sparsity '^  token_embd +512x64 +0\.0000 +-$'
  run prune_tables prune "$stories" tables.bin --method magnitude --n-m 2:4 --include-embeddings --quiet
  [ "$status" -eq 0 ] || { fail "prune_tables: exit status $status"; cat prune_tables.err; }
  run tables_sparsity info tables.bin --sparsity
  expect_line tables_sparsity '^  token_embd +512x64 +0\.5000 +2:4 4:8$'
  expect_line tables_sparsity '^  output +the embedding table \(tied weights\)$'
  finish
  ;;
info_gguf)
  [ -f "$smollm2" ] || skip "the SmolLM2 GGUF is not at '$smollm2' (run cmake/fetch_smollm2.sh)"
  run info info "$smollm2"
  [ "$status" -eq 0 ] || fail "info: exit status $status"
  # SmolLM2-135M's model card: 30 layers, hidden 576, FFN 1536, 9/3 heads, 49152 tokens, tied.
  expect_line info '^format: GGUF v3'
  expect_line info '^  dim +576$'
  expect_line info '^  hidden_dim +1536$'
  expect_line info '^  layers +30$'
  expect_line info '^  heads +9$'
  expect_line info '^  kv_heads +3$'
  expect_line info '^  vocab_size +49152$'
  expect_line info '^  tied +yes$'
  expect_line info '^tokenizer: byte-level BPE'
  expect_line info '^  token_embd\.weight +49152 x 576 +'
  expect_line info '^  blk\.29\.ffn_down\.weight +576 x 1536 +Q4_1$'
  expect_error info_tokenizer 2 info "$smollm2" --tokenizer "$smollm2"
  expect_line info '^tokenizer: byte-level BPE .*, pre-tokenizer smollm)$'
  # Without tokenizer.ggml.pre (the key renamed in a copy) llama.cpp falls back to its 'default'
  # pre-tokenizer with a warning; pollard does the same and says so.
  python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
assert data.count(b"tokenizer.ggml.pre") == 1
open("no_pre.gguf", "wb").write(data.replace(b"tokenizer.ggml.pre", b"tokenizer.ggml.prx"))' "$smollm2" ||
    fail "could not write no_pre.gguf"
  run no_pre info no_pre.gguf
  [ "$status" -eq 0 ] || fail "no_pre: exit status $status: $(cat no_pre.err)"
  expect_line no_pre '^tokenizer: byte-level BPE .*, pre-tokenizer default)$'
  grep -q "warning: no_pre.gguf has no tokenizer.ggml.pre: its text is split with llama.cpp's 'default' pre-tokenizer" no_pre.err ||
    fail "no_pre: no warning: $(cat no_pre.err)"
  finish
  ;;
generate)
  need_data
  expected=$data/models/stories260K/greedy-256-steps.txt
  run greedy generate "$stories" --steps 256 --llama2c-bytes
  [ "$status" -eq 0 ] || fail "greedy: exit status $status"
  cmp greedy.out "$expected" || fail "greedy output differs from llama2.c's greedy-256-steps.txt"
  # Sampling is reproducible from its seed, and the seed matters.
  run s1 generate "$stories" --prompt "Once upon a time" --steps 60 --temperature 0.9 \
    --top-k 40 --top-p 0.95 --repeat-penalty 1.1 --seed 7
  run s2 generate "$stories" --prompt "Once upon a time" --steps 60 --temperature 0.9 \
    --top-k 40 --top-p 0.95 --repeat-penalty 1.1 --seed 7
  run s3 generate "$stories" --prompt "Once upon a time" --steps 60 --temperature 0.9 \
    --top-k 40 --top-p 0.95 --repeat-penalty 1.1 --seed 8
  cmp -s s1.out s2.out || fail "the same seed gave different text"
  cmp -s s1.out s3.out && fail "seeds 7 and 8 gave the same text"
  grep -q '^Once upon a time' s1.out || fail "the prompt is not echoed first"
  # Characters spread over byte-fallback tokens are printed whole.
  run emoji generate "$stories" --prompt "A cup of ☕ and a 🐕" --steps 30
  grep -q '^A cup of ☕ and a 🐕' emoji.out || fail "byte-fallback characters of the prompt vanished"
  expect_error too_few_steps 2 generate "$stories" --prompt "Once upon a time there was" --steps 3
  if [ -f "$smollm2" ]; then
    # A GGUF model without BOS: the whole prompt is echoed, then the continuation.
    run smol generate "$smollm2" --prompt "The capital of France is" --steps 8
    [ "$status" -eq 0 ] || { fail "smol: exit status $status"; cat smol.err; }
    grep -q '^The capital of France is.' smol.out || fail "the GGUF prompt is not echoed whole"
  fi
  finish
  ;;
eval)
  need_data
  tinystories_slice slice.txt
  run eval eval "$stories" --text slice.txt --window 128 --max-windows 4 --json ppl.json
  [ "$status" -eq 0 ] || { fail "eval: exit status $status"; cat eval.err; }
  expect_line eval '^perplexity +: [0-9.]+ ± [0-9.]+$'
  expect_line eval '^window +: 128 tokens x 4 windows$'
  expect_line eval '^scored +: 508 tokens$'
  # stories260K was trained on this split; its README gives 4.35 on held-out TinyStories.
  json_check ppl.json 'j["window"] == 128 and j["windows"] == 4 and j["tokens"] == 4 * 127'
  json_check ppl.json 'j["format"] == "text" and 2.0 < j["perplexity"] < 10.0'
  json_check ppl.json 'abs(math.exp(j["mean_nll"]) - j["perplexity"]) < 1e-9 * j["perplexity"]'
  json_check ppl.json '0.0 < j["standard_error"] < j["perplexity"]'
  ls ppl.json.tmp-* >/dev/null 2>&1 && fail "a temporary file was left behind"
  # A file name that is not UTF-8 (byte 0xFF) still gives valid JSON, the byte as U+FFFD.
  cp slice.txt "$(printf 'slice\377.txt')"
  run latin eval "$stories" --text "$(printf 'slice\377.txt')" --window 128 --max-windows 1 --json latin.json
  [ "$status" -eq 0 ] || { fail "latin: exit status $status"; cat latin.err; }
  json_check latin.json 'j["text"] == "slice\ufffd.txt"'
  # The format follows the file name: WikiText rows (.jsonl), C4 documents (.gz).
  head -n 40 "$data/text/wikitext2_raw/test.rows.jsonl" >rows.jsonl
  run rows eval "$stories" --text rows.jsonl --window 64 --max-windows 2 --json rows.json
  [ "$status" -eq 0 ] || { fail "rows: exit status $status"; cat rows.err; }
  json_check rows.json 'j["format"] == "rows-jsonl" and j["windows"] == 2 and j["tokens"] == 126'
  # The protocol field says what was done: 40 rows, 2 of the stream's windows, a window shorter
  # than the model's context, so not the WikiText-2 protocol of the reference scripts.
  json_check rows.json 'j["protocol"].startswith("40 rows joined with \"\\n\\n\", 2 windows (not the SparseGPT/Wanda WikiText-2 protocol: 2 windows instead of ")'
  json_check rows.json 'j["protocol"].endswith(", window 64 instead of the model\x27s context 512)")'
  gzip -dc "$data/text/c4/c4-sample.00000-of-00001.json.gz" | head -n 2 | gzip >docs.json.gz
  run docs eval "$stories" --text docs.json.gz --window 64 --max-windows 2 --json docs.json
  [ "$status" -eq 0 ] || { fail "docs: exit status $status"; cat docs.err; }
  json_check docs.json 'j["format"] == "jsonl-gz" and j["windows"] == 2'
  json_check docs.json '"not the SparseGPT/Wanda C4 protocol" in j["protocol"]'
  # The SparseGPT/Wanda C4 join: documents joined with one space, at most 256 windows; with 2
  # documents and a 16-token window it is not their protocol, and the output says so.
  run c4 eval "$stories" --text docs.json.gz --format c4 --window 16 --json c4.json
  [ "$status" -eq 0 ] || { fail "c4: exit status $status"; cat c4.err; }
  expect_line c4 '^protocol +: 2 documents joined with " ", [0-9]+ windows \(not the SparseGPT/Wanda C4 protocol: 2 documents instead of 1100, window 16 instead of the model.s context 512\)$'
  # 1200 documents, windows of the model's context (512), 256 windows: the reference protocol.
  { gzip -dc "$data/text/c4/c4-sample.00000-of-00001.json.gz"; gzip -dc "$data/text/c4/c4-sample.00000-of-00001.json.gz"; } |
    head -n 1200 | gzip >c4_1200.json.gz
  run c4_reference eval "$stories" --text c4_1200.json.gz --format c4 --window 512 --json c4_reference.json
  [ "$status" -eq 0 ] || { fail "c4_reference: exit status $status"; cat c4_reference.err; }
  json_check c4_reference.json 'j["windows"] == 256 and j["protocol"] == "the first 1100 of 1200 documents joined with \" \", 256 windows (the SparseGPT/Wanda C4 protocol)"'
  # --max-windows below 256 departs from it, and says so.
  run c4_short eval "$stories" --text c4_1200.json.gz --format c4 --window 512 --max-windows 3 --json c4_short.json
  json_check c4_short.json 'j["protocol"].endswith("3 windows (not the SparseGPT/Wanda C4 protocol: 3 windows instead of 256)")'
  json_check c4.json 'j["format"] == "c4" and j["windows"] == min(256, j["text_tokens"] // 16)'
  json_check c4.json 'j["text_tokens"] < json.load(open("docs.json"))["text_tokens"]'
  # The same text read as plain text tokenizes the JSON syntax too: more tokens.
  run docs_text eval "$stories" --text rows.jsonl --format text --window 64 --max-windows 2 \
    --json rows_text.json
  json_check rows_text.json 'j["format"] == "text"'
  python3 -c 'import json, sys; a = json.load(open("rows.json")); b = json.load(open("rows_text.json")); sys.exit(0 if b["text_tokens"] > a["text_tokens"] else 1)' ||
    fail "--format text did not read the file as it is"
  # llama.cpp's protocol: BOS at each window start, only positions 65..127 of each scored; the
  # window protocol's JSON says which it used.
  run chunks eval "$stories" --text slice.txt --window 128 --max-windows 4 --protocol llama-cpp \
    --json chunks.json
  [ "$status" -eq 0 ] || { fail "chunks: exit status $status"; cat chunks.err; }
  expect_line chunks '^positions +: llama.cpp chunks of 128 tokens \(BOS at each chunk start, positions 65..127 of each scored\)$'
  json_check chunks.json 'j["perplexity_protocol"] == "llama-cpp" and j["tokens"] == 4 * 63'
  json_check ppl.json 'j["perplexity_protocol"] == "windows" and "positions 1..127" in j["positions"]'
  expect_error bad_protocol 2 eval "$stories" --text slice.txt --protocol wikitext
  finish
  ;;
compare)
  need_data
  tinystories_slice slice.txt
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:8], open("alpaca8.json", "w"))' \
    "$data/text/alpaca/alpaca_5000.json"
  run self compare "$stories" "$stories" --text slice.txt --window 128 --max-windows 2 \
    --instructions alpaca8.json --max-examples 5 --json self.json --markdown self.md
  [ "$status" -eq 0 ] || { fail "self: exit status $status"; cat self.err; }
  expect_line self '^Same top p: 100\.000 ± 0\.000 %$'
  # A model compared with itself: no divergence anywhere (up to double rounding in the
  # metric's exp/log), the same top token everywhere.
  json_check self.json 'j["windows"]["report"]["positions"] == 2 * 127'
  json_check self.json 'abs(j["windows"]["report"]["js_nats"]["mean"]) < 1e-12 and abs(j["windows"]["report"]["kl"]["mean"]) < 1e-12'
  json_check self.json 'max(abs(v) for v in j["windows"]["report"]["js_bits"]["percentiles"].values()) < 1e-12'
  json_check self.json 'max(abs(v) for v in j["windows"]["report"]["delta_p"]["percentiles"].values()) < 1e-12'
  json_check self.json 'j["windows"]["report"]["same_top"]["fraction"] == 1'
  json_check self.json 'j["instructions"]["examples"] == 5 and j["instructions"]["report"]["positions"] > 0'
  json_check self.json 'abs(j["instructions"]["report"]["js_nats"]["mean"]) < 1e-12 and j["instructions"]["report"]["same_top"]["fraction"] == 1'
  json_check self.json 'j["windows"]["report"]["perplexity_p"] == j["windows"]["report"]["perplexity_q"]'
  grep -q '^| mean ± SE |' self.md || fail "the Markdown file has no table"
  grep -q '^## Instructions' self.md || fail "the Markdown file has no instructions section"
  # Under llama.cpp's protocol the divergence is taken on the second half of each window only.
  run self_chunks compare "$stories" "$stories" --text slice.txt --window 128 --max-windows 2 \
    --protocol llama-cpp --json self_chunks.json
  [ "$status" -eq 0 ] || { fail "self_chunks: exit status $status"; cat self_chunks.err; }
  json_check self_chunks.json 'j["windows"]["report"]["positions"] == 2 * 63 and j["windows"]["perplexity_protocol"] == "llama-cpp"'
  # The same weights with a tokenizer whose tokens 300 and 301 swap strings (same size, same
  # BOS/EOS): the ids mean other strings, so the tokenizers differ; the first difference, found
  # here by reading both files, is named.
  mkdir -p alt && cp "$stories" alt/m.bin
  python3 - "$(dirname "$stories")/tok512.bin" alt/tok512.bin <<'PY'
import struct, sys
raw = open(sys.argv[1], "rb").read()
head, pos, tokens = raw[:4], 4, []
while pos < len(raw):
    score, n = struct.unpack_from("<fi", raw, pos)
    tokens.append((score, raw[pos + 8:pos + 8 + n]))
    pos += 8 + n
tokens[300], tokens[301] = (tokens[300][0], tokens[301][1]), (tokens[301][0], tokens[300][1])
open(sys.argv[2], "wb").write(head + b"".join(struct.pack("<fi", s, len(b)) + b for s, b in tokens))
PY
  cp "$(dirname "$stories")/tok512.bin" base_tok.bin
  python3 -c 'import sys; a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(); import struct
def toks(r):
    p, t = 4, []
    while p < len(r):
        s, n = struct.unpack_from("<fi", r, p); t.append((s, r[p + 8:p + 8 + n])); p += 8 + n
    return t
i = next(i for i, (x, y) in enumerate(zip(toks(a), toks(b))) if x != y)
print(f"token {i} is \x27{toks(a)[i][1].decode()}\x27 (score ")
print(f") in BASE but \x27{toks(b)[i][1].decode()}\x27 (score ")' base_tok.bin alt/tok512.bin >first_difference.txt
  expect_error swapped_tokens 1 compare "$stories" alt/m.bin --text slice.txt --window 64 --max-windows 2
  while IFS= read -r part; do
    grep -qF "do not share a tokenizer: " swapped_tokens.err && grep -qF -- "$part" swapped_tokens.err ||
      fail "swapped tokens: '$part' (the first difference) is not named: $(cat swapped_tokens.err)"
  done <first_difference.txt
  if [ -f "$smollm2" ]; then
    expect_error vocab 1 compare "$stories" "$smollm2" --text slice.txt --json vocab.json
    [ -e vocab.json ] && fail "a failed compare wrote its JSON file"
  fi
  finish
  ;;
errors)
  expect_error unknown_command 2 prune-everything
  expect_error unknown_option 2 info model.bin --colour
  expect_error missing_model 2 info does-not-exist.bin
  grep -q "cannot read MODEL does-not-exist.bin: No such file or directory" missing_model.err ||
    fail "missing_model: message: $(cat missing_model.err)"
  expect_error missing_value 2 eval does-not-exist.bin --text
  expect_error no_text 2 eval does-not-exist.bin
  expect_error bad_steps 2 generate does-not-exist.bin --steps abc
  expect_error bad_window 2 eval does-not-exist.bin --text t.txt --window 1
  expect_error bad_top_p 2 generate does-not-exist.bin --top-p 1.5
  expect_error bad_temperature 2 generate does-not-exist.bin --temperature -1
  expect_error bad_format 2 eval does-not-exist.bin --text t.txt --format csv
  expect_error twice 2 generate does-not-exist.bin --seed 1 --seed 2
  expect_error two_models 2 eval a.bin b.bin --text t.txt
  printf 'not a model' >garbage.bin
  expect_error garbage 1 info garbage.bin
  expect_error bad_threads 2 eval does-not-exist.bin --text t.txt --threads -1
  grep -q -- "--threads" bad_threads.err || fail "bad_threads: the error does not name --threads"
  expect_error format_without_text 2 compare a.bin b.bin --instructions i.json --format text
  grep -q -- "--format" format_without_text.err || fail "the error does not name --format"
  run help --help
  [ "$status" -eq 0 ] || fail "--help: exit status $status"
  for c in info generate eval compare tasks convert prune layer; do
    grep -Eq "^  $c " help.out || fail "--help does not list the command $c"
  done
  run version --version
  [ "$status" -eq 0 ] || fail "--version: exit status $status"
  grep -qx "pollard ${POLLARD_VERSION:-?}" version.out || fail "--version does not print the project version"
  for c in info generate eval compare tasks convert prune; do
    run "help_$c" "$c" --help
    [ "$status" -eq 0 ] || fail "$c --help: exit status $status"
    grep -q "^usage: pollard $c" "help_$c.out" || fail "$c --help prints no usage line"
  done
  # --help shows the defaults the commands apply.
  grep -Eq -- "--steps N=256 " help_generate.out || fail "generate --help does not show --steps' default"
  grep -Eq -- "--max-new-tokens N=64 " help_tasks.out || fail "tasks --help does not show a default"
  grep -Eq -- "--samples N=128 " help_prune.out || fail "prune --help does not show --samples' default"
  grep -Eq -- "--method [^ ]*=wanda" help_prune.out || fail "prune --help does not show --method's default"
  # The N:M reading is stated: N counts the pruned weights.
  grep -q "N PRUNED of every M" help_prune.out || fail "prune --help does not say what N counts"
  need_data
  tinystories_slice slice.txt
  # Failures after the model is loaded leave no output file (and no temporary) behind.
  # A window longer than the model's context is a command-line mistake (exit status 2).
  expect_error window_too_long 2 eval "$stories" --text slice.txt --window 4096 --json out.json
  grep -q -- "--window 4096 exceeds the model's context of 512 tokens" window_too_long.err ||
    fail "window_too_long: message: $(cat window_too_long.err)"
  printf 'Tom had a red ball.\n' >short.txt
  expect_error text_too_short 1 eval "$stories" --text short.txt --window 64 --json short.json
  expect_error no_folder 2 eval "$stories" --text slice.txt --json missing/out.json
  expect_error missing_text 2 eval "$stories" --text nothing.txt --json out.json
  expect_error compare_nothing 2 compare "$stories" "$stories" --json out.json
  ls -A | grep -Eq '^(out|short)\.json' && fail "a failed command left an output file: $(ls -A)"
  finish
  ;;
tasks)
  need_data
  # Two instruction examples; the first one's reference is the model's own greedy answer, taken
  # from `pollard generate`, so it must score 1 on every metric and the foreign one 0.
  run gen generate "$stories" --prompt "Once upon a time" --steps 16
  [ "$status" -eq 0 ] || fail "generate: exit status $status"
  answer=$(tr '\n' ' ' <gen.out | sed -e 's/^Once upon a time//' -e 's/^ *//' -e 's/ *$//')
  python3 -c 'import json, sys; json.dump([{"instruction": "Once upon a time", "input": "", "output": sys.argv[1]}, {"instruction": "Once upon a time", "input": "", "output": "zebra quantum"}], open("two.json", "w"))' "$answer"
  run tasks tasks "$stories" --instructions two.json --max-new-tokens 12 --json tasks.json
  [ "$status" -eq 0 ] || { fail "tasks: exit status $status"; cat tasks.err; }
  expect_line tasks '^examples +: 2 '
  json_check tasks.json 'j["examples"] == 2 and all(j[k]["mean"] == 0.5 for k in ("exact_match", "token_f1", "rouge1"))'
  expect_error tasks_no_data 2 tasks "$stories"
  expect_error tasks_zero 2 tasks "$stories" --instructions two.json --max-new-tokens 0
  finish
  ;;
export)
  need_data
  cp "$(dirname "$stories")/tok512.bin" .
  run prune_mag24 prune "$stories" mag24.bin --method magnitude --n-m 2:4 --quiet
  [ "$status" -eq 0 ] || { fail "prune_mag24: exit status $status"; cat prune_mag24.err; }
  # Both layouts, read back by numpy as compressed-tensors and torch define them, equal the
  # checkpoint's linears exactly.
  for layout in sparse-24-bitmask csr; do
    run "export_$layout" export mag24.bin "$layout.safetensors" --layout "$layout"
    [ "$status" -eq 0 ] || { fail "export $layout: exit status $status"; cat "export_$layout.err"; }
    expect_line "export_$layout" "^wrote $layout\.safetensors: 35 linears \(0\.5000 of their 226560 weights zero\) as $layout"
    if command -v python3 >/dev/null; then
      python3 "$(dirname "$0")/check_export.py" mag24.bin "$layout.safetensors" "$layout" >check.out 2>&1
      case $? in
        0) ;;
        3) echo "numpy/safetensors missing: the independent read-back of $layout was not run" ;;
        *) fail "export $layout: the read-back differs"; cat check.out ;;
      esac
    fi
  done
  # The 2:4 layout refuses a model that is not 2:4, naming the tensor; nothing is written.
  expect_error export_dense 1 export "$stories" dense.safetensors
  grep -q "blk\.0\.attn_q\.weight row 0, columns 0\.\.3 hold [34] nonzero values" export_dense.err ||
    fail "export_dense: the message does not name the tensor and group"
  [ -e dense.safetensors ] && fail "a refused export wrote its file"
  expect_error export_same 2 export mag24.bin mag24.bin --layout csr
  # Values below float16's range are stored as 0: CSR drops them and a warning says so (one kept
  # weight of the first linear set to 1e-9 by patching the checkpoint's bytes).
  if command -v python3 >/dev/null && python3 -c 'import numpy, safetensors' 2>/dev/null; then
    python3 - mag24.bin tiny.bin <<'PY' || fail "could not patch the checkpoint"
import sys
import numpy as np
raw = bytearray(open(sys.argv[1], "rb").read())
dim, _, layers, _, _, vocab, _ = (int(v) for v in np.frombuffer(bytes(raw[:28]), np.int32))
at = 28 + 4 * (abs(vocab) * dim + layers * dim)  # wq of layer 0, row 0
w = np.frombuffer(bytes(raw[at:at + 16]), np.float32).copy()
w[int(np.flatnonzero(w)[0])] = 1e-9
raw[at:at + 16] = w.tobytes()
open(sys.argv[2], "wb").write(raw)
PY
    run export_tiny export tiny.bin tiny.safetensors --layout csr --type f16
    [ "$status" -eq 0 ] || { fail "export_tiny: exit status $status"; cat export_tiny.err; }
    grep -q "1 nonzero weights are below f16's range and are stored as 0" export_tiny.err ||
      fail "export_tiny: no underflow warning"
    python3 -c 'import sys; from safetensors import safe_open; f = safe_open("tiny.safetensors", "numpy"); n = sum(len(f.get_tensor(k)) for k in f.keys() if k.endswith(".values")); sys.exit(0 if n == 226560 // 2 - 1 else 1)' ||
      fail "export_tiny: the CSR file does not drop the weight stored as 0"
  fi
  # The tokenizer read beside a llama2.c model is an input too (directly and through a link).
  cp tok512.bin tok512.orig
  expect_error export_tokenizer 2 export mag24.bin tok512.bin --layout csr
  ln -sf tok512.bin tok_link.bin
  expect_error export_tokenizer_link 2 export mag24.bin tok_link.bin --layout csr
  cmp -s tok512.bin tok512.orig || fail "export replaced the tokenizer read beside MODEL"
  finish
  ;;
capture)
  need_data
  tinystories_slice slice.txt
  run capture capture "$stories" --calibration text:slice.txt --samples 4 --length 64 --block 1 \
    --linear attn_q --weights-out W.npy --activations-out X.npy --hessian-out H.npy
  [ "$status" -eq 0 ] || { fail "capture: exit status $status"; cat capture.err; }
  expect_line capture '^blk\.1\.attn_q \[64x64\], input attn_in: 256 calibration rows of 4 sequences'
  # W is layer 1's wq as the checkpoint stores it (read here with numpy); X has one row per
  # calibration token; H = (2/N) X^T X with N = 4 sequences (SparseGPT's definition).
  if command -v python3 >/dev/null && python3 -c 'import numpy' 2>/dev/null; then
    python3 - "$stories" <<'PY' || fail "capture: W, X or H is not what the layer sees"
import sys
import numpy as np
dim, hidden, layers, heads, kv_heads, vocab, _ = (int(x) for x in np.fromfile(sys.argv[1], np.int32, 7))
data = np.fromfile(sys.argv[1], np.float32, offset=28)
at = abs(vocab) * dim + layers * dim
wq = data[at : at + layers * dim * dim].reshape(layers, dim, dim)
W, X, H = np.load("W.npy"), np.load("X.npy"), np.load("H.npy")
assert W.dtype == np.float32 and np.array_equal(W, wq[1])
assert X.shape == (256, dim) and np.isfinite(X).all() and np.abs(X).max() > 0
want = 2.0 / 4 * X.astype(np.float64).T @ X.astype(np.float64)
assert np.allclose(H, want, rtol=1e-4, atol=1e-5 * np.abs(want).max()), np.abs(H - want).max()
PY
  fi
  # `layer` normalises H as prune and capture do, (2/N)·XᵀX with N = --sequences: on the captured
  # X of 4 sequences it damps by the same λ = 0.01·mean(diag H) as prune on the same calibration
  # (and as numpy computes from X), gives the weights prune writes, and --hessian H.npy agrees.
  run prune_q1 prune "$stories" q1.bin --method sparsegpt --sparsity 0.5 --targets blk.1.attn_q \
    --calibration text:slice.txt --samples 4 --length 64 --report q1.json --quiet
  [ "$status" -eq 0 ] || { fail "prune_q1: exit status $status"; cat prune_q1.err; }
  run layer_x layer --weights W.npy --activations X.npy --sequences 4 --method sparsegpt --sparsity 0.5 --out LX.npy
  [ "$status" -eq 0 ] || { fail "layer_x: exit status $status"; cat layer_x.err; }
  run layer_h layer --weights W.npy --hessian H.npy --method sparsegpt --sparsity 0.5 --out LH.npy
  [ "$status" -eq 0 ] || { fail "layer_h: exit status $status"; cat layer_h.err; }
  run layer_x1 layer --weights W.npy --activations X.npy --method sparsegpt --sparsity 0.5 --out LX1.npy
  [ "$status" -eq 0 ] || { fail "layer_x1: exit status $status"; cat layer_x1.err; }
  if command -v python3 >/dev/null && python3 -c 'import numpy' 2>/dev/null; then
    python3 - "$stories" <<'PY' || fail "layer on the captured X: not prune's H or weights"
import json, re, sys
import numpy as np
dim, hidden, layers, heads, kv_heads, vocab, _ = (int(x) for x in np.fromfile(sys.argv[1], np.int32, 7))
X = np.load("X.npy").astype(np.float64)
want = 0.01 * np.mean(np.diag(2.0 / 4 * X.T @ X))  # SparseGPT's damp, H over 4 sequences
def damping(name):
    return float(re.search(r"sparsegpt: loss \S+, damping (\S+) ", open(name).read()).group(1))
report = json.load(open("q1.json"))["linears"][0]
assert report["name"] == "blk.1.attn_q", report["name"]
for got, what in ((damping("layer_x.out"), "layer --activations --sequences 4"),
                  (damping("layer_h.out"), "layer --hessian"), (report["damping_used"], "prune")):
    assert abs(got - want) <= 1e-5 * want, (what, got, want)
# One sequence: H is 4 times larger, and so is the damping.
assert abs(damping("layer_x1.out") - 4 * want) <= 1e-5 * 4 * want, damping("layer_x1.out")
data = np.fromfile("q1.bin", np.float32, offset=28)
at = abs(vocab) * dim + layers * dim
pruned = data[at : at + layers * dim * dim].reshape(layers, dim, dim)[1]
for name in ("LX.npy", "LH.npy"):
    w = np.load(name)
    same = np.isclose(w, pruned, rtol=1e-3, atol=1e-5)
    assert same.mean() > 0.995, (name, same.mean())
PY
  fi
  # The captured layer prunes with the layer-level tool.
  run layer_on_capture layer --weights W.npy --activations X.npy --method wanda --sparsity 0.5 \
    --out P.npy
  [ "$status" -eq 0 ] || { fail "layer on the captured layer: exit status $status"; cat layer_on_capture.err; }
  run rows capture "$stories" --calibration text:slice.txt --samples 4 --length 64 --block 4 \
    --linear blk.4.ffn_down --activations-out X2.npy --max-rows 10
  expect_line rows 'X X2\.npy \(10 rows\)'
  expect_error capture_linear 2 capture "$stories" --calibration text:slice.txt --linear attn_z \
    --weights-out Z.npy
  grep -q "block 0 has no linear blk.0.attn_z (it has blk.0.attn_q" capture_linear.err || fail "capture_linear: message"
  expect_error capture_block 2 capture "$stories" --calibration text:slice.txt --block 5 \
    --linear attn_q --weights-out Z.npy
  expect_error capture_nothing 2 capture "$stories" --calibration text:slice.txt --linear attn_q
  expect_error capture_selfgen 2 capture "$stories" --calibration selfgen:slice.txt --linear attn_q \
    --weights-out Z.npy
  expect_error capture_same 2 capture "$stories" --calibration text:slice.txt --linear attn_q \
    --weights-out slice.txt
  [ -e Z.npy ] && fail "a refused capture wrote its output"
  cp "$(dirname "$stories")/tok512.bin" tok512.bin
  cp "$stories" model.bin
  cp tok512.bin tok512.orig
  expect_error capture_tokenizer 2 capture model.bin --calibration text:slice.txt --linear attn_q \
    --weights-out tok512.bin
  cmp -s tok512.bin tok512.orig || fail "capture replaced the tokenizer read beside MODEL"
  finish
  ;;
tasks_suite)
  need_data
  [ -d "$data/tasks/arc" ] && [ -d "$data/tasks/boolq" ] || skip "POLLARD_DATA_DIR has no tasks/arc, tasks/boolq"
  # Zero-shot multiple choice: 3 items of each task; acc and acc_norm are counts of 3, the averages
  # are the means over the tasks of acc and of the metric the harness reports (acc_norm for ARC,
  # acc for BoolQ).
  run suite tasks "$stories" --suite arc_easy,boolq --limit 3 --tasks-dir "$data/tasks" --json suite.json
  [ "$status" -eq 0 ] || { fail "tasks --suite: exit status $status"; cat suite.err; }
  expect_line suite '^arc_easy +3 '
  expect_line suite '^boolq +3 '
  json_check suite.json '(lambda z, t: [x["task"] for x in t] == ["arc_easy", "boolq"] and all(x["items"] == 3 for x in t) and all(round(3 * x[m]["mean"], 9) in (0, 1, 2, 3) for x in t for m in ("acc", "acc_norm")) and t[0]["reports_acc_norm"] and not t[1]["reports_acc_norm"] and abs(z["average_acc"] - (t[0]["acc"]["mean"] + t[1]["acc"]["mean"]) / 2) < 1e-12 and abs(z["average_reported"] - (t[0]["acc_norm"]["mean"] + t[1]["acc"]["mean"]) / 2) < 1e-12 and z["add_bos"] is True)(j["zero_shot"], j["zero_shot"]["tasks"]) and "exact_match" not in j'
  # --limit past a task's items scores the task whole, and the output says so (it said "a random
  # 10 items" of a task of 4, with a Python expression that raises there).
  mkdir -p small/arc
  head -n 4 "$data/tasks/arc/ARC-Easy-Test.jsonl" >small/arc/ARC-Easy-Test.jsonl
  for how in random first; do
    run "limit_$how" tasks "$stories" --suite arc_easy --tasks-dir small --limit 10 $( [ $how = first ] && echo --limit-first)
    [ "$status" -eq 0 ] || fail "limit_$how: exit status $status: $(cat "limit_$how.err")"
    expect_line "limit_$how" '^arc_easy +4 '
    expect_line "limit_$how" '^items +: .*, every item of a task with (10 or )?fewer$'
  done
  # POLLARD_DATA_DIR/tasks is the default folder; --instructions and --suite together give both.
  python3 -c 'import json; json.dump([{"instruction": "Once upon a time", "input": "", "output": "there was"}], open("one.json", "w"))'
  run both tasks "$stories" --instructions one.json --max-new-tokens 4 --suite boolq --limit 2 --json both.json
  [ "$status" -eq 0 ] || { fail "tasks --instructions --suite: exit status $status"; cat both.err; }
  json_check both.json 'j["examples"] == 1 and j["zero_shot"]["tasks"][0]["items"] == 2'
  expect_error suite_unknown 2 tasks "$stories" --suite arc_easy,mmlu --json suite_unknown.json
  grep -q "mmlu" suite_unknown.err || fail "the error names the unknown task"
  expect_error suite_limit 2 tasks "$stories" --suite boolq --limit -1
  expect_error suite_dir 2 tasks "$stories" --suite boolq --tasks-dir no-such-folder
  POLLARD_DATA_DIR= expect_error suite_no_dir 2 tasks "$stories" --suite boolq
  [ -e suite_unknown.json ] && fail "a refused run wrote its JSON"
  # Every file of the tasks folder is an input: --json naming one (or a link to one) is refused.
  mkdir -p mytasks && cp -r "$data/tasks/boolq" mytasks/ && chmod -R u+w mytasks
  task_file=$(find mytasks/boolq -type f | head -n 1)
  cp "$task_file" task.orig
  expect_error suite_json_input 2 tasks "$stories" --suite boolq --limit 2 --tasks-dir mytasks \
    --json "$task_file"
  ln -sf "$task_file" task_link.json
  expect_error suite_json_link 2 tasks "$stories" --suite boolq --limit 2 --tasks-dir mytasks \
    --json task_link.json
  cmp -s "$task_file" task.orig || fail "tasks --suite replaced one of its task files"
  finish
  ;;
convert)
  need_data
  # A llama2.c checkpoint written back by pollard holds the same weights: the divergence of the
  # copy from the original is zero on every position.
  run convert convert "$stories" copy.bin
  [ "$status" -eq 0 ] || { fail "convert: exit status $status"; cat convert.err; }
  cp "$(dirname "$stories")/tok512.bin" .
  tinystories_slice slice.txt
  run compare_copy compare "$stories" copy.bin --text slice.txt --window 64 --max-windows 2 --json copy.json
  [ "$status" -eq 0 ] || { fail "compare with the copy: exit status $status"; cat compare_copy.err; }
  json_check copy.json 'abs(j["windows"]["report"]["js_nats"]["mean"]) < 1e-12 and j["windows"]["report"]["same_top"]["fraction"] == 1'
  expect_error convert_type 2 convert "$stories" other.bin --type f16
  expect_error convert_same 2 convert "$stories" "$stories"
  [ -e other.bin ] && fail "a refused convert left other.bin"
  finish
  ;;
interrupt)
  # Ctrl-C while pollard prune writes SmolLM2: the temporary is removed and the exit status says
  # the process was ended by SIGINT (128 + 2), as for a program without cleanup.
  need_data
  [ -f "$smollm2" ] || skip "no SmolLM2 GGUF at $smollm2 (bash cmake/fetch_smollm2.sh)"
  tinystories_slice slice.txt
  set -m # a script's background job otherwise starts with SIGINT ignored
  "$pollard" prune "$smollm2" pruned.gguf --method wanda --sparsity 0.5 --type f16 --calibration text:slice.txt \
    --samples 4 --length 128 --threads 1 --quiet >prune.out 2>prune.err &
  pid=$!
  set +m
  # The output's temporary appears once the calibration data is drawn; poll for it (generous:
  # the machine may be busy).
  temporary=""
  for _ in $(seq 1 1800); do
    temporary=$(ls -A | grep '^pruned\.gguf\.tmp-' | head -n 1)
    [ -n "$temporary" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$temporary" ]; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    fail "no temporary pruned.gguf.tmp-* appeared while pruning: $(ls -A); $(cat prune.err)"
    finish
  fi
  kill -INT "$pid"
  wait "$pid"
  status=$?
  [ "$status" -eq 130 ] || fail "exit status $status after SIGINT, expected 130 (128 + SIGINT)"
  [ -e "$temporary" ] && fail "the temporary $temporary remains after SIGINT"
  ls -A | grep -q '\.tmp-' && fail "a temporary remains after SIGINT: $(ls -A)"
  [ -e pruned.gguf ] && fail "an interrupted prune left pruned.gguf"
  finish
  ;;
outputs)
  # No command may write over one of its inputs or give two outputs one file: each refusal is a
  # command-line error naming the option, and the input is left as it was.
  need_data
  tinystories_slice slice.txt
  cp "$stories" model.bin
  cp "$(dirname "$stories")/tok512.bin" .
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:2], open("alpaca2.json", "w"))' \
    "$data/text/alpaca/alpaca_5000.json"
  ln -s slice.txt slice_link.txt
  ln slice.txt slice_hard.txt
  sums() { md5sum slice.txt model.bin tok512.bin alpaca2.json "$@"; }
  sums >before.md5
  # expect_refusal NAME OPTION ARGS...: exit status 2, the message names OPTION, inputs intact.
  expect_refusal() {
    local name=$1 option=$2
    shift 2
    expect_error "$name" 2 "$@"
    grep -q -- "$option" "$name.err" || fail "$name: the error does not name $option: $(cat "$name.err")"
    sums | cmp -s - before.md5 || fail "$name: an input changed"
  }
  expect_refusal eval_onto_text --json eval model.bin --text slice.txt --json slice.txt
  expect_refusal eval_onto_link --json eval model.bin --text slice.txt --json slice_link.txt
  expect_refusal eval_onto_hard_link --json eval model.bin --text slice.txt --json slice_hard.txt
  expect_refusal eval_onto_model --json eval model.bin --text slice.txt --json model.bin
  expect_refusal eval_onto_tokenizer --json eval model.bin --text slice.txt --tokenizer tok512.bin \
    --json ./tok512.bin
  expect_refusal compare_same_reports --markdown compare model.bin model.bin --text slice.txt \
    --json report --markdown ./report
  expect_refusal compare_onto_base --json compare model.bin model.bin --text slice.txt --json model.bin
  expect_refusal tasks_onto_data --json tasks model.bin --instructions alpaca2.json --json alpaca2.json
  expect_refusal convert_onto_model OUT convert model.bin model.bin
  ln -s model.bin model_link.bin
  expect_refusal convert_onto_link OUT convert model.bin model_link.bin
  expect_refusal convert_onto_tokenizer OUT convert model.bin tok512.bin
  ln model.bin model_hard.bin
  expect_refusal convert_onto_hard_link OUT convert model.bin model_hard.bin
  : >report.json
  ln report.json report_hard.md
  expect_refusal compare_reports_hard_link --markdown compare model.bin model.bin --text slice.txt \
    --json report.json --markdown report_hard.md
  expect_refusal tasks_onto_tokenizer --json tasks model.bin --instructions alpaca2.json \
    --json tok512.bin
  # prune: OUT, --report and --save-calibration against MODEL, the tokenizer beside it, the
  # calibration text and each other.
  expect_refusal prune_onto_model OUT prune model.bin model.bin --method magnitude
  expect_refusal prune_onto_link OUT prune model.bin model_link.bin --method magnitude
  expect_refusal prune_onto_hard_link OUT prune model.bin model_hard.bin --method magnitude
  expect_refusal prune_onto_tokenizer OUT prune model.bin tok512.bin --method magnitude
  expect_refusal prune_report_onto_calibration --report prune model.bin p.bin \
    --calibration text:slice.txt --report slice_link.txt
  expect_refusal prune_tokens_onto_calibration --save-calibration prune model.bin p.bin \
    --calibration text:slice.txt --save-calibration slice_hard.txt
  expect_refusal prune_report_onto_out --report prune model.bin p.bin --method magnitude \
    --report ./p.bin
  expect_refusal prune_two_outputs --save-calibration prune model.bin p.bin \
    --calibration text:slice.txt --report r.json --save-calibration r.json
  [ -e p.bin ] && fail "a refused prune wrote p.bin"
  [ -e r.json ] && fail "a refused prune wrote r.json"
  [ -s report.json ] && fail "a refused compare wrote report.json"
  # A command that fails once it has started leaves neither its output nor a temporary.
  printf 'Tom had a red ball.\n' >short.txt
  expect_error compare_fails 1 compare model.bin model.bin --text short.txt --window 64 \
    --json c.json --markdown c.md
  [ -e c.json ] || [ -e c.md ] && fail "a failed compare left an output"
  echo '[{"instruction": ' >broken.json
  expect_error tasks_fails 1 tasks model.bin --instructions broken.json --json t.json
  [ -e t.json ] && fail "a failed tasks left t.json"
  # (--n-m 3:8 does not fit ffn_down's 172 columns: a command-line mistake found before any work.)
  expect_error prune_fails 2 prune model.bin p.bin --n-m 3:8 --calibration text:slice.txt \
    --samples 2 --length 16 --report r.json --save-calibration s.json
  [ -e p.bin ] || [ -e r.json ] || [ -e s.json ] && fail "a failed prune left an output"
  [ -e report ] && fail "a refused compare wrote report"
  ls -A | grep -q '\.tmp-' && fail "a refused command left a temporary: $(ls -A)"

  # The layer tool, as `pollard layer` and as prune_layer.
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built (POLLARD_PRUNE_LAYER='$prune_layer')"
  "$(dirname "$prune_layer")/make_layer_example" . --d-out 8 --d-in 16 --tokens 20 >/dev/null ||
    fail "make_layer_example failed"
  ln -s W.npy W_link.npy
  sums() { md5sum W.npy X.npy H.npy; }
  sums >before.md5
  layer_args="--method wanda --sparsity 0.5 --weights W.npy --activations X.npy"
  # shellcheck disable=SC2086
  expect_refusal layer_onto_weights --out layer $layer_args --out W.npy
  expect_refusal layer_onto_activations --out layer $layer_args --out X.npy
  expect_refusal layer_onto_link --out layer $layer_args --out W_link.npy
  expect_refusal layer_onto_hessian --mask-out layer $layer_args --hessian H.npy --out o.npy --mask-out H.npy
  expect_refusal layer_same_outputs --mask-out layer $layer_args --out o.npy --mask-out ./o.npy
  ln W.npy W_hard.npy
  expect_refusal layer_onto_hard_link --out layer $layer_args --out W_hard.npy
  : >m.npy
  ln m.npy m_hard.npy
  expect_refusal layer_outputs_hard_link --mask-out layer $layer_args --out m.npy --mask-out m_hard.npy
  [ -s m.npy ] && fail "a refused layer command wrote m.npy"
  expect_error layer_fails 2 layer --method magnitude --n-m 2:3 --weights W.npy --out o.npy \
    --mask-out om.npy
  [ -e o.npy ] || [ -e om.npy ] && fail "a failed layer command left an output"
  "$prune_layer" $layer_args --out W_link.npy >tool.out 2>tool.err
  tool_status=$?
  [ "$tool_status" -eq 2 ] || fail "prune_layer --out onto --weights through a link: exit status $tool_status"
  grep -q -- "--out W_link.npy is the same file as --weights W.npy" tool.err ||
    fail "prune_layer: the error does not name --out and --weights: $(cat tool.err)"
  sums | cmp -s - before.md5 || fail "prune_layer changed an input"
  [ -e o.npy ] && fail "a refused layer command wrote o.npy"
  ls -A | grep -q '\.tmp-' && fail "a refused command left a temporary: $(ls -A)"
  finish
  ;;
interrupt_convert)
  # Ctrl-C (SIGINT) or SIGTERM while convert writes a large file: no OUT, no temporary.
  [ -f "$smollm2" ] || skip "the SmolLM2 GGUF is not at '$smollm2' (run cmake/fetch_smollm2.sh)"
  set -m  # background jobs keep the default SIGINT disposition
  for sig in INT TERM; do
    rm -f out.gguf out.gguf.tmp-*
    "$pollard" convert "$smollm2" out.gguf --type f32 >convert.out 2>convert.err &
    pid=$!
    # Wait until the temporary exists (the write has begun), then interrupt.
    for _ in $(seq 600); do
      compgen -G 'out.gguf.tmp-*' >/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    compgen -G 'out.gguf.tmp-*' >/dev/null || fail "SIG$sig: convert ended before it began to write"
    kill -s "$sig" "$pid"
    wait "$pid"
    status=$?
    want=$((128 + $(kill -l "$sig")))
    [ "$status" -eq "$want" ] || fail "SIG$sig: exit status $status, expected $want (killed by the signal)"
    [ -e out.gguf ] && fail "SIG$sig: an interrupted convert left out.gguf"
    compgen -G 'out.gguf.tmp-*' >/dev/null && fail "SIG$sig: an interrupted convert left $(ls out.gguf.tmp-*)"
  done
  finish
  ;;
layer)
  # `pollard layer` runs prune_layer's code in-process: the same options, the same files.
  run layer_help layer --help
  [ "$status" -eq 0 ] || fail "layer --help: exit status $status"
  grep -q "^usage: pollard layer" layer_help.out || fail "layer --help prints no usage line"
  grep -Eq -- "--sparsity S=0\.5" layer_help.out || fail "layer --help does not show --sparsity's default"
  expect_error layer_bad 2 layer --weights W.npy --method nonsense --out out.npy
  grep -q -- "--method must be" layer_bad.err || fail "layer: the error does not name --method"
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built (POLLARD_PRUNE_LAYER='$prune_layer')"
  "$(dirname "$prune_layer")/make_layer_example" . --d-out 16 --d-in 32 --tokens 40 >/dev/null ||
    fail "make_layer_example failed"
  run layer_run layer --weights W.npy --activations X.npy --method sparsegpt --sparsity 0.5 \
    --out pollard_out.npy --mask-out pollard_mask.npy --threads 1
  [ "$status" -eq 0 ] || { fail "layer: exit status $status"; cat layer_run.err; }
  "$prune_layer" --weights W.npy --activations X.npy --method sparsegpt --sparsity 0.5 \
    --out tool_out.npy --mask-out tool_mask.npy >tool.out 2>tool.err || fail "prune_layer failed"
  cmp -s pollard_out.npy tool_out.npy || fail "pollard layer and prune_layer wrote different weights"
  cmp -s pollard_mask.npy tool_mask.npy || fail "pollard layer and prune_layer wrote different masks"
  finish
  ;;
layer_reference_cases)
  # The issue examples of three fault classes, at the command line (needs numpy to write them):
  # SparseGPT N:M with an M that does not divide 128 on 12 inputs, the N:M property checked by
  # numpy; a Hessian given with one triangle changed, refused; f16 weights whose SparseGPT update
  # outgrows float16 (two nearly collinear inputs carrying 4e4 and 3e4, 3:4), refused naming the
  # position and value, with nothing written.
  python3 -c 'import numpy' 2>/dev/null || skip "numpy is not installed"
  python3 - <<'PY' || fail "could not write the layers"
import numpy as np
rng = np.random.default_rng(5)
np.save("W12.npy", rng.normal(size=(8, 12)).astype(np.float32))
np.save("X12.npy", rng.normal(size=(64, 12)).astype(np.float32))
x = rng.normal(size=(64, 12))
h = 2.0 * x.T @ x
h[0, 5] += 0.5 * abs(h[0, 5]) + 1.0
np.save("H_asym.npy", h.astype(np.float32))
x4 = rng.normal(size=(256, 4))
x4[:, 1] = x4[:, 0] + 1e-4 * rng.normal(size=256)
np.save("X4.npy", x4.astype(np.float32))
np.save("W4.npy", np.array([[4e4, 3e4, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float16))
PY
  for nm in 1:3 2:3 5:6; do
    run "sparsegpt_$nm" layer --weights W12.npy --activations X12.npy --method sparsegpt --n-m "$nm" \
      --out "w_$nm.npy" --mask-out "m_$nm.npy" --threads 1
    [ "$status" -eq 0 ] || { fail "sparsegpt --n-m $nm on 12 inputs: exit status $status"; cat "sparsegpt_$nm.err"; continue; }
    python3 - "$nm" <<'PY' || fail "sparsegpt --n-m $nm: the mask or the weights break N:M"
import sys, numpy as np
n, m = map(int, sys.argv[1].split(":"))
mask = np.load(f"m_{sys.argv[1]}.npy").reshape(8, 12 // m, m)
w = np.load(f"w_{sys.argv[1]}.npy").reshape(8, 12 // m, m)
sys.exit(0 if (mask.sum(axis=2) == n).all() and (w[mask == 1] == 0).all() else 1)
PY
  done
  expect_error asymmetric 1 layer --weights W12.npy --hessian H_asym.npy --method sparsegpt \
    --sparsity 0.5 --out asym.npy
  expect_message asymmetric "the Hessian is not symmetric: H(0, 5) = "
  expect_error f16_overflow 1 layer --weights W4.npy --activations X4.npy --method sparsegpt \
    --n-m 3:4 --dtype f16 --out w4.npy --mask-out m4.npy --threads 1
  # Kept alone, the surviving input of the collinear pair carries both weights: about 7e4.
  expect_message f16_overflow "--dtype f16: the pruned weight (0, "
  expect_message f16_overflow "of w4.npy is 69"
  expect_message f16_overflow "beyond float16's largest value 65504"
  [ -e asym.npy ] || [ -e w4.npy ] || [ -e m4.npy ] && fail "a refused layer wrote an output: $(ls)"
  finish
  ;;
transactions)
  # Several outputs are committed together: when the last one cannot be written, none is.
  need_data
  tinystories_slice slice.txt
  capture_args=(capture "$stories" --calibration text:slice.txt --samples 2 --length 32 --block 0
    --linear attn_q --weights-out W.npy --activations-out X.npy)
  expect_error capture_last_missing 2 "${capture_args[@]}" --hessian-out missing/H.npy
  grep -q -- "--hessian-out: output folder of 'missing/H.npy' does not exist" capture_last_missing.err ||
    fail "capture_last_missing: message: $(cat capture_last_missing.err)"
  [ -e W.npy ] || [ -e X.npy ] && fail "capture left W.npy or X.npy when --hessian-out failed"
  if [ "$(id -u)" -ne 0 ]; then  # root writes into read-only folders
    mkdir locked && chmod a-w locked
    expect_error capture_last_locked 2 "${capture_args[@]}" --hessian-out locked/H.npy
    grep -q "is not writable" capture_last_locked.err || fail "capture_last_locked: message"
    [ -e W.npy ] || [ -e X.npy ] && fail "capture left W.npy or X.npy when --hessian-out was read-only"
    chmod u+w locked
  fi
  # prune: OUT, --report, --save-calibration.
  expect_error prune_last_missing 2 prune "$stories" p.bin --calibration text:slice.txt --samples 2 \
    --length 16 --report r.json --save-calibration missing/s.json
  [ -e p.bin ] || [ -e r.json ] && fail "prune left an output when --save-calibration failed"
  # The layer tool: --out and --mask-out.
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  if [ -x "$prune_layer" ]; then
    "$(dirname "$prune_layer")/make_layer_example" layer --d-out 4 --d-in 8 --tokens 8 >/dev/null ||
      fail "make_layer_example failed"
    expect_error layer_last_missing 2 layer --weights layer/W.npy --activations layer/X.npy \
      --method wanda --out o.npy --mask-out missing/m.npy
    [ -e o.npy ] && fail "pollard layer left --out when --mask-out failed"
  fi
  # convert to a Hugging Face folder: model.safetensors, config.json and the tokenizer files;
  # one of them cannot be written (a folder holds its name): none of the others appears.
  if python3 -c 'import numpy, safetensors' 2>/dev/null; then
    python3 "$(dirname "$0")/make_hf_model.py" hf "$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json" 420 ||
      fail "could not make the Hugging Face folder"
    run convert_hf convert hf hf_copy
    [ "$status" -eq 0 ] || { fail "convert_hf: exit status $status"; cat convert_hf.err; }
    for f in model.safetensors config.json tokenizer.json tokenizer_config.json; do
      [ -f "hf_copy/$f" ] || fail "convert to a Hugging Face folder did not write $f"
    done
    cmp -s hf/tokenizer.json hf_copy/tokenizer.json || fail "convert changed tokenizer.json"
    mkdir -p hf_blocked/tokenizer_config.json
    expect_error convert_hf_blocked 2 convert hf hf_blocked
    for f in model.safetensors config.json tokenizer.json; do
      [ -e "hf_blocked/$f" ] && fail "convert wrote hf_blocked/$f though tokenizer_config.json failed"
    done
    # A folder that does not exist yet is created, and removed again when the run fails.
    expect_error convert_hf_no_parent 2 convert hf missing/hf_new
    [ -e missing ] && fail "a failed convert left the folder it would have created"
  else
    echo "numpy/safetensors missing: the Hugging Face cases were not run"
  fi
  ls -A | grep -q '\.tmp-' && fail "a failed command left a temporary: $(ls -A)"
  finish
  ;;
missing_folder)
  # An output in a folder that does not exist is a command-line mistake (exit 2), found at
  # once, naming the path as given.
  need_data
  tinystories_slice slice.txt
  expect_error eval_missing 2 eval "$stories" --text slice.txt --json x/y.json
  grep -q "output folder of 'x/y.json' does not exist" eval_missing.err ||
    fail "eval_missing: message: $(cat eval_missing.err)"
  expect_error convert_missing 2 convert "$stories" x/y.bin
  grep -q "output folder of 'x/y.bin' does not exist" convert_missing.err ||
    fail "convert_missing: message: $(cat convert_missing.err)"
  expect_error export_missing 2 export "$stories" x/y.safetensors --layout csr
  grep -q "output folder of 'x/y.safetensors' does not exist" export_missing.err ||
    fail "export_missing: message: $(cat export_missing.err)"
  expect_error prune_missing_out 2 prune "$stories" x/y.bin --method magnitude
  grep -q "OUT: output folder of 'x/y.bin' does not exist" prune_missing_out.err ||
    fail "prune_missing_out: message: $(cat prune_missing_out.err)"
  # Found before the model is pruned: no progress line precedes the error.
  [ "$(wc -l <prune_missing_out.err)" -eq 1 ] || fail "prune_missing_out: work began before the check"
  expect_error compare_missing 2 compare "$stories" "$stories" --text slice.txt --markdown x/y.md
  grep -q -- "--markdown: output folder of 'x/y.md' does not exist" compare_missing.err ||
    fail "compare_missing: message"
  # An output file that names an existing folder is a command-line mistake.
  mkdir -p adir
  expect_error convert_onto_folder 2 convert "$stories" adir
  grep -q "OUT adir is a folder: name a file to write" convert_onto_folder.err ||
    fail "convert_onto_folder: message: $(cat convert_onto_folder.err)"
  expect_error prune_report_onto_folder 2 prune "$stories" p.bin --method magnitude --report adir
  [ -z "$(ls -A adir)" ] || fail "a refused command wrote into adir"
  grep -q 'tmp-' ./*.err && fail "an error names a temporary file"
  finish
  ;;
symlink)
  # An output that is a symbolic link is written through, as cp does: the link stays, its
  # target gets the new content.
  need_data
  tinystories_slice slice.txt
  mkdir -p real
  printf 'old' >real/result.json
  ln -s real/result.json link.json
  run eval_link eval "$stories" --text slice.txt --window 64 --max-windows 1 --json link.json
  [ "$status" -eq 0 ] || { fail "eval_link: exit status $status"; cat eval_link.err; }
  [ -L link.json ] || fail "eval replaced the link itself"
  json_check real/result.json 'j["windows"] == 1 and j["window"] == 64'
  cp "$(dirname "$stories")/tok512.bin" .
  printf 'old' >real/copy.bin
  ln -s real/copy.bin copy_link.bin
  run convert_link convert "$stories" copy_link.bin
  [ "$status" -eq 0 ] || { fail "convert_link: exit status $status"; cat convert_link.err; }
  [ -L copy_link.bin ] || fail "convert replaced the link itself"
  run convert_plain convert "$stories" plain.bin
  cmp -s real/copy.bin plain.bin || fail "convert did not write the copy through the link"
  # A link whose target is an input is still refused.
  ln -s "$stories" model_link.bin
  expect_error convert_link_input 2 convert "$stories" model_link.bin
  # Two outputs through links to one file not created yet would leave only one of them.
  ln -s shared.json dangling_a.json
  ln -s shared.json dangling_b.md
  expect_error two_links_one_file 2 compare "$stories" "$stories" --text slice.txt --window 64 \
    --max-windows 1 --json dangling_a.json --markdown dangling_b.md
  grep -q "two outputs may not share a file" two_links_one_file.err ||
    fail "two_links_one_file: message: $(cat two_links_one_file.err)"
  [ -e shared.json ] && fail "two_links_one_file: shared.json was written"
  ls -A real | grep -q '\.tmp-' && fail "a temporary was left beside the link's target"
  run convert_help convert --help
  grep -q "symbolic link is written through" convert_help.out || fail "convert --help does not say how links are written"
  finish
  ;;
usage)
  # Every command-line mistake is exit status 2 with a message naming the option as typed (no
  # internal prefix such as 'unstructured:' or 'n_m:'), found before any work.
  need_data
  tinystories_slice slice.txt
  small_layer
  l=(layer --weights W.npy --activations X.npy --out o.npy)
  # The library's component and function names that must never reach a user.
  no_internal_prefix() {  # NAME
    grep -Eq '(^|[^-a-z_])(unstructured|n_m|sparsegpt|prune recipe|dsnot|sampler|obs_reconstruct|obs|owl_allocation|calibration|calibration mixture|sparsity table|prune_model|llama2c_tokenizer|gram_accumulator|moment_statistics|matrix|write_npy|make_view|cholesky|perplexity|divergence): ' "$1.err" &&
      fail "$1: the message carries an internal prefix: $(cat "$1.err")"
  }
  # check_failure NAME WANTED_TEXT ARGS...: a failure at run time (exit status 1), in the user's terms.
  check_failure() {
    local name=$1 want=$2
    shift 2
    expect_error "$name" 1 "$@"
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
    no_internal_prefix "$name"
  }
  check_usage() {  # NAME WANTED_TEXT ARGS...
    local name=$1 want=$2
    shift 2
    expect_error "$name" 2 "$@"
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
    no_internal_prefix "$name"
  }
  check_usage layer_sparsity_1 "--sparsity: must be in [0, 1), got 1" "${l[@]}" --method magnitude --sparsity 1
  check_usage layer_sparsity_negative "--sparsity: must be in [0, 1), got -0.5" "${l[@]}" --method magnitude --sparsity -0.5
  check_usage layer_sparsity_nan "--sparsity: needs a decimal number in [0, 1), got 'nan'" "${l[@]}" --method magnitude --sparsity nan
  check_usage layer_n_m_4_4 "--n-m: 4:4 prunes 4 of every 4 weights" "${l[@]}" --method magnitude --n-m 4:4
  check_usage layer_percdamp "--percdamp: must be in [0, 1), got -1" "${l[@]}" --method sparsegpt --percdamp -1
  check_usage layer_percdamp_1 "--percdamp: must be in [0, 1), got 1" "${l[@]}" --method sparsegpt --percdamp 1
  check_usage layer_group_row "use --group block:B" "${l[@]}" --method sparsegpt --group row
  check_usage prune_sparsity_1 "--sparsity: must be in [0, 1), got 1" prune "$stories" x.bin --method magnitude --sparsity 1
  check_usage prune_n_m_4_4 "--n-m: 4:4 prunes 4 of every 4 weights" prune "$stories" x.bin --method magnitude --n-m 4:4
  check_usage prune_percdamp "--percdamp: must be in [0, 1), got -1" prune "$stories" x.bin --method sparsegpt --calibration text:slice.txt --percdamp -1
  # λ = 1e308 · mean(diag H) overflows: refused up front, not after the calibration forward passes.
  check_usage prune_percdamp_huge "--percdamp: must be in [0, 1), got 1e308" prune "$stories" x.bin --method sparsegpt --calibration text:slice.txt --percdamp 1e308
  grep -q "drawing" prune_percdamp_huge.err && fail "prune_percdamp_huge: the work started"
  run layer_percdamp_ok "${l[@]}" --method sparsegpt --percdamp 0.5
  [ "$status" -eq 0 ] || fail "layer --percdamp 0.5: exit status $status: $(cat layer_percdamp_ok.err)"
  rm -f o.npy
  check_usage prune_group_row "--group row does not apply to sparsegpt, which chooses its mask per column block" prune "$stories" x.bin --method sparsegpt --calibration text:slice.txt --group row
  check_usage prune_group_matrix "--group matrix does not apply to sparsegpt, which chooses its mask per column block" prune "$stories" x.bin --method sparsegpt --calibration text:slice.txt --group matrix
  check_usage prune_n_m_owl "--allocation owl sets each linear's sparsity, which --n-m fixes" prune "$stories" x.bin --method wanda --calibration text:slice.txt --n-m 2:4 --allocation owl
  check_usage prune_sparsegpt_dsnot "--dsnot applies to magnitude, wanda and ria" prune "$stories" x.bin --method sparsegpt --calibration text:slice.txt --dsnot
  check_usage eval_window "--window 4096 exceeds the model's context of 512 tokens" eval "$stories" --text slice.txt --window 4096
  check_usage compare_window "--window 4096 exceeds the model's context of 512 tokens" compare "$stories" "$stories" --text slice.txt --window 4096
  check_usage generate_top_k "--top-k would change nothing" generate "$stories" --top-k 5
  # make_layer_example is its own tool (not a pollard command): checked directly.
  "$(dirname "$prune_layer")/make_layer_example" mle --d-in 8 --outliers 9 >mle.out 2>mle.err
  [ $? -eq 2 ] || fail "make_layer_example --outliers > --d-in: exit status not 2"
  grep -q -- "--outliers 9 exceeds --d-in 8" mle.err || fail "make_layer_example: message $(cat mle.err)"
  [ -e mle ] && fail "make_layer_example made its folder before refusing --outliers"
  # --tokenizer does not apply to a GGUF model (it carries its own): refused in every command
  # that opens one, before the model is read (any file named .gguf is taken as one).
  printf 'GGUF' >model.gguf
  cp "$(dirname "$stories")/tok512.bin" tok.bin
  check_usage generate_gguf_tokenizer "--tokenizer does not apply to MODEL model.gguf" generate model.gguf --tokenizer tok.bin
  check_usage eval_gguf_tokenizer "--tokenizer does not apply to MODEL model.gguf" eval model.gguf --text slice.txt --tokenizer tok.bin
  check_usage compare_gguf_tokenizer "--tokenizer does not apply to OTHER model.gguf" compare "$stories" model.gguf --text slice.txt --tokenizer tok.bin
  check_usage tasks_gguf_tokenizer "--tokenizer does not apply to MODEL model.gguf" tasks model.gguf --instructions slice.txt --tokenizer tok.bin
  check_usage capture_gguf_tokenizer "--tokenizer does not apply to MODEL model.gguf" capture model.gguf --calibration text:slice.txt --linear attn_q --weights-out W2.npy --tokenizer tok.bin
  check_usage prune_gguf_tokenizer "a GGUF carries its tokenizer" prune model.gguf x.gguf --calibration text:slice.txt --tokenizer tok.bin
  check_usage info_gguf_tokenizer "a GGUF carries its tokenizer" info model.gguf --tokenizer tok.bin
  # Bad option values found before any work, named as typed; the library's names never shown.
  check_usage owl_lambda "--owl-lambda 0.6 spreads the sparsities over 2 x 0.6" prune "$stories" x.bin --calibration text:slice.txt --allocation owl --owl-lambda 0.6
  # Below 0.5 the spread may still not fit around --sparsity for this model's outlier ratios:
  # found once they are known, still a command-line mistake naming the option.
  check_usage owl_lambda_model "--owl-lambda 0.49 with --sparsity 0.5 gives block" prune "$stories" x.bin --calibration text:slice.txt --samples 2 --length 32 --allocation owl --owl-lambda 0.49
  grep -q "give a smaller --owl-lambda" owl_lambda_model.err || fail "owl_lambda_model: no remedy given"
  check_usage calibration_kind "--calibration: " prune "$stories" x.bin --calibration pile:slice.txt
  grep -q -- "--calibration: calibration" calibration_kind.err && fail "calibration_kind: the prefix is doubled: $(cat calibration_kind.err)"
  check_usage capture_calibration_kind "--calibration: " capture "$stories" --calibration pile:slice.txt --linear attn_q --weights-out W2.npy
  check_usage length_twice "--length is given 2 times: give it once" prune "$stories" x.bin --calibration text:slice.txt --length 5 --length 6
  check_usage seed_twice "--seed is given 2 times: give it once" generate "$stories" --temperature 1 --seed 1 --seed 2
  "$(dirname "$prune_layer")/make_layer_example" "" >mle_empty.out 2>mle_empty.err
  [ $? -eq 2 ] || fail "make_layer_example '': exit status not 2: $(cat mle_empty.err)"
  grep -q "FOLDER is given an empty value" mle_empty.err || fail "make_layer_example '': message: $(cat mle_empty.err)"
  "$(dirname "$prune_layer")/make_layer_example" huge --d-out 2000000000 --d-in 2000000000 >mle_huge.out 2>mle_huge.err
  [ $? -eq 2 ] || fail "make_layer_example with a huge layer: exit status not 2: $(cat mle_huge.err)"
  grep -q -- "--d-out 2000000000 --d-in 2000000000 --tokens 512 need .* GB for W, X and H, more than this machine's" mle_huge.err ||
    fail "make_layer_example with a huge layer: message: $(cat mle_huge.err)"
  [ -e huge ] && fail "make_layer_example made its folder before refusing the sizes"
  # Failures at run time name the option they come from.
  printf 'Tom had a red ball.\n' >short.txt
  check_failure calibration_short "--calibration text:short.txt: " prune "$stories" x.bin --calibration text:short.txt --length 64
  check_failure capture_calibration_short "--calibration text:short.txt: " capture "$stories" --calibration text:short.txt --length 64 --linear attn_q --weights-out W2.npy
  check_failure eval_short "--text short.txt holds " eval "$stories" --text short.txt --window 64
  grep -q "too few for one --window of 64" eval_short.err || fail "eval_short: message: $(cat eval_short.err)"
  check_failure compare_short "--text short.txt holds " compare "$stories" "$stories" --text short.txt --window 64
  check_usage prune_n_m_2_3 "--n-m 2:3: M = 3 does not divide the 64 input columns of blk.0.attn_q" prune "$stories" x.bin --method magnitude --n-m 2:3
  printf 'blk.*.attn_* 0.5\n' >table.txt
  check_usage allocation_no_row "--allocation table.txt: no pattern matches the linear blk.0.ffn_gate" prune "$stories" x.bin --calibration text:slice.txt --samples 2 --length 16 --allocation table.txt
  grep -q "drawing" allocation_no_row.err && fail "allocation_no_row: found after the calibration data was drawn"
  check_usage prune_n_m_3_8 "--n-m 3:8: M = 8 does not divide the 172 input columns of blk.0.ffn_down" prune "$stories" x.bin --method sparsegpt --n-m 3:8 --calibration text:slice.txt --samples 2 --length 16
  grep -q "drawing" prune_n_m_3_8.err && fail "prune_n_m_3_8: found after the calibration data was drawn"
  printf 'blk.* 1.5\n' >bad_table.txt
  check_usage allocation_bad_row "--allocation bad_table.txt: " prune "$stories" x.bin --calibration text:slice.txt --allocation bad_table.txt
  [ -e o.npy ] || [ -e x.bin ] || [ -e W2.npy ] && fail "a refused command wrote its output"
  finish
  ;;
number_values)
  # Every number of every command and tool is read by one rule, plain decimal notation, the
  # whole text: hexadecimal, white space around it, '+', inf/nan, digit separators, a trailing
  # character and a number beyond its type are refused before any work as command-line mistakes
  # (exit 2), one line naming the option and the text; plain forms are accepted (010 is ten).
  need_data
  small_layer
  tinystories_slice slice.txt
  cp slice.txt slice2.txt
  mle="$(dirname "$prune_layer")/make_layer_example"
  # refused_value NAME OPTION VALUE TOOL ARGS...: TOOL ARGS OPTION VALUE, and OPTION=VALUE,
  # exit 2 with one line on stderr naming OPTION and VALUE.
  refused_value() {
    local name=$1 option=$2 value=$3
    shift 3
    local form st
    for form in word equals; do
      if [ $form = word ]; then
        "$@" "$option" "$value" >"$name.out" 2>"$name.err"
      else
        "$@" "$option=$value" >"$name.out" 2>"$name.err"
      fi
      st=$?
      [ $st -eq 2 ] || fail "$name ($form): $option '$value': exit status $st, expected 2: $(cat "$name.err")"
      [ "$(wc -l <"$name.err")" -eq 1 ] || fail "$name ($form): not one line on stderr: $(cat "$name.err")"
      grep -qF -- "$option" "$name.err" || fail "$name ($form): the message does not name $option: $(cat "$name.err")"
      grep -qF -- "'$value'" "$name.err" || grep -qF -- "got $value" "$name.err" ||
        fail "$name ($form): the message does not quote '$value': $(cat "$name.err")"
    done
  }
  # accepted_value NAME OPTION VALUE TOOL ARGS...: the value is not what stops TOOL ARGS (a
  # later check, or the work itself, may).
  accepted_value() {
    local name=$1 option=$2 value=$3
    shift 3
    timeout 120 "$@" "$option" "$value" >"$name.out" 2>"$name.err"
    grep -E -- "(: |^)$option(: | needs| must)" "$name.err" &&
      fail "$name: $option '$value' is refused: $(cat "$name.err")"
  }
  bad_integers=(" 5" "5 " "+5" "0x10" "1e1" "5.0" "1_000" "5x" "inf" "nan" "99999999999999999999")
  bad_reals=(" 0.5" "0.5 " "+0.5" "0x1p-1" "inf" "Infinity" "nan" "0.5x" "0,5" "1e999")
  bad_n_m=(" 2:4" "2:4 " "+2:4" "0x2:4" "2:4x" "inf:4" "2.0:4" "2:99999999999999999999")
  generate=("$pollard" generate "$stories")
  eval_=("$pollard" eval "$stories" --text slice.txt)
  compare=("$pollard" compare "$stories" "$stories" --text slice.txt)
  tasks=("$pollard" tasks "$stories")
  capture=("$pollard" capture "$stories" --calibration text:slice.txt --linear attn_q --weights-out W2.npy)
  prune=("$pollard" prune "$stories" x.bin --calibration text:slice.txt)
  layer=("$pollard" layer --weights W.npy --activations X.npy --out o.npy --method magnitude)
  tool=("$prune_layer" --weights W.npy --activations X.npy --out o.npy --method magnitude)
  make=("$mle" mle)
  compare_ex=("${compare[@]}" --instructions slice.txt)
  # COMMAND OPTION KIND (int, real or n_m): every numeric option of every command and tool.
  table="generate --steps int
generate --top-k int
generate --seed int
generate --threads int
generate --temperature real
generate --top-p real
generate --repeat-penalty real
eval_ --window int
eval_ --max-windows int
eval_ --threads int
compare --window int
compare --max-windows int
compare --threads int
compare_ex --max-examples int
tasks --max-examples int
tasks --max-new-tokens int
tasks --limit int
tasks --limit-seed int
tasks --threads int
capture --samples int
capture --length int
capture --seed int
capture --block int
capture --max-rows int
capture --threads int
prune --samples int
prune --length int
prune --seed int
prune --block-size int
prune --selfgen-sources int
prune --threads int
prune --sparsity real
prune --owl-m real
prune --owl-lambda real
prune --percdamp real
prune --n-m n_m
layer --sequences int
layer --threads int
layer --sparsity real
layer --ria-exponent real
layer --percdamp real
layer --n-m n_m
tool --sequences int
tool --threads int
tool --sparsity real
tool --ria-exponent real
tool --percdamp real
tool --n-m n_m
make --d-out int
make --d-in int
make --tokens int
make --outliers int
make --seed int"
  while read -r command option kind; do
    declare -n cmd="$command"
    name="${command}${option//-/_}"
    case $kind in
      int) bad=("${bad_integers[@]}") ;;
      real) bad=("${bad_reals[@]}") ;;
      n_m) bad=("${bad_n_m[@]}") ;;
    esac
    k=0
    for value in "${bad[@]}"; do
      refused_value "${name}_$k" "$option" "$value" "${cmd[@]}"
      k=$((k + 1))
    done
    unset -n cmd
  done <<<"$table"
  # The table is whole: every option that --help shows taking a number is in it.
  for command in generate eval_ compare tasks capture prune layer tool make; do
    declare -n cmd="$command"
    "${cmd[@]}" --help >"help_$command.out" 2>&1
    for option in $(grep -oE '^ +--[a-z-]+ (N|L|S|B|M|P|T|K|R|A|FLOAT|INT|UINT|N:M)( |=|$)' "help_$command.out" | awk '{print $1}'); do
      grep -qE -- "^${command}[a-z_]* $option " <<<"$table" ||
        fail "$command $option takes a number but is not in the table of number_values"
    done
    unset -n cmd
  done
  # The seeds take no '-', not even on zero; --threads none on zero either.
  refused_value seed_minus_zero --seed -0 "${generate[@]}"
  refused_value threads_minus_zero --threads -0 "${generate[@]}"
  refused_value sparsity_minus_zero --sparsity -0 "${layer[@]}"
  # Numbers inside a value: --group block:B, a --calibration @WEIGHT, an --allocation table.
  # refused_inside NAME WANTED TOOL ARGS...: exit status 2, the message holding WANTED.
  refused_inside() {
    local name=$1 want=$2
    shift 2
    "$@" >"$name.out" 2>"$name.err"
    local st=$?
    [ $st -eq 2 ] || fail "$name: exit status $st, expected 2: $(cat "$name.err")"
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
  }
  k=0
  for value in " 8" "8 " "+8" "0x8" "8x" "8.0" "inf" "99999999999999999999"; do
    refused_inside "block_$k" "--group block:B needs a positive integer, got '$value'" \
      "${layer[@]}" --group "block:$value"
    k=$((k + 1))
  done
  k=0
  for value in " 0.5" "+0.5" "0x1p-1" "inf" "nan" "0.5x" "1e999"; do
    refused_inside "weight_$k" "--calibration: the weight \"$value\" in \"text:slice.txt@$value\"" \
      "${prune[@]/text:slice.txt/text:slice.txt@$value,text:slice2.txt}"
    k=$((k + 1))
  done
  k=0
  for value in "0x1p-1" "inf" "nan" "+0.5" "0.5x" "1e999"; do
    printf 'blk.* %s\n' "$value" >"table_$k.txt"
    refused_inside "table_$k" "--allocation table_$k.txt: table_$k.txt line 1: \"$value\" is not a decimal number" \
      "$pollard" prune "$stories" x.bin --method magnitude --allocation "table_$k.txt"
    k=$((k + 1))
  done
  [ -e x.bin ] || [ -e o.npy ] || [ -e W2.npy ] || [ -e mle ] && fail "a refused command wrote its output"
  # Plain forms are accepted, leading zeros read as decimal.
  accepted_value steps_plain --steps 010 "${generate[@]}"
  accepted_value temperature_plain --temperature 1e-1 "${generate[@]}" --steps 2
  accepted_value top_p_plain --top-p .5 "${generate[@]}" --steps 2 --temperature 1
  accepted_value seed_plain --seed 18446744073709551615 "${generate[@]}" --steps 2 --temperature 1
  accepted_value window_plain --window 64 "${eval_[@]}" --max-windows 1
  accepted_value owl_plain --owl-lambda 0.05 "${prune[@]}" --allocation owl --samples 2 --length 16 --quiet
  rm -f x.bin
  accepted_value ria_plain --ria-exponent 5e-1 "${layer[@]/magnitude/ria}"
  rm -f o.npy
  accepted_value n_m_plain --n-m 02:04 "${tool[@]}"
  rm -f o.npy
  "${layer[@]}" --group block:08 --sparsity 0.5 >block_plain.out 2>block_plain.err ||
    fail "--group block:08: $(cat block_plain.err)"
  rm -f o.npy
  "${prune[@]/text:slice.txt/text:slice.txt@.5,text:slice2.txt@1e0}" --method wanda --samples 2 --length 16 --quiet \
    >weight_plain.out 2>weight_plain.err || fail "@.5 and @1e0: $(cat weight_plain.err)"
  rm -f x.bin
  # Weights up to a double's largest split the draw by their ratio: 1e308 twice is an even
  # split (their sum overflowed, and the draw was empty), 1 against 1e308 gives the first
  # none, which is refused (n·w overflowed, and the draw never ended).
  timeout 120 "${prune[@]/text:slice.txt/text:slice.txt@1e308,text:slice2.txt@1e308}" --method wanda \
    --samples 2 --length 16 --quiet --save-calibration huge.json >weight_huge.out 2>weight_huge.err ||
    fail "@1e308 and @1e308: $(cat weight_huge.err)"
  json_check huge.json 'j["origins"] == ["text:slice.txt", "text:slice2.txt"]'
  rm -f x.bin
  refused_inside weight_tiny_share "text:slice.txt (weight 1 of 1e+308 in all) would get 0 of the 2" \
    timeout 120 "${prune[@]/text:slice.txt/text:slice.txt@1,text:slice2.txt@1e308}" --method wanda --samples 2 --length 16
  # make_layer_example --d-out 010 makes W of ten rows, not eight (strtol's octal).
  "$mle" mle10 --d-out 010 --d-in 8 --tokens 8 >mle10.out 2>mle10.err || fail "make_layer_example --d-out 010: $(cat mle10.err)"
  python3 -c 'import numpy as np, sys; sys.exit(0 if np.load("mle10/W.npy").shape == (10, 8) else 1)' 2>/dev/null ||
    fail "make_layer_example --d-out 010: W is not 10x8"
  finish
  ;;
version)
  # --version works on every command and every tool, printing the project version.
  for c in info generate eval compare tasks convert export capture prune layer; do
    run "version_$c" "$c" --version
    [ "$status" -eq 0 ] || fail "$c --version: exit status $status"
    grep -qx "pollard ${POLLARD_VERSION:-?}" "version_$c.out" || fail "$c --version printed: $(cat "version_$c.out")"
  done
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  if [ -x "$prune_layer" ]; then
    for tool in "$prune_layer" "$(dirname "$prune_layer")/make_layer_example"; do
      out=$("$tool" --version)
      [ "$out" = "$(basename "$tool") ${POLLARD_VERSION:-?}" ] || fail "$tool --version printed '$out'"
    done
  fi
  finish
  ;;
useless)
  # An option that would change nothing is refused (exit status 2), saying why.
  need_data
  tinystories_slice slice.txt
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:4], open("alpaca4.json", "w"))' \
    "$data/text/alpaca/alpaca_5000.json"
  refused() {  # NAME WANTED_TEXT ARGS...
    local name=$1 want=$2
    shift 2
    expect_error "$name" 2 "$@"
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
  }
  refused responses_only "--responses-only would change nothing" prune "$stories" x.bin --calibration text:slice.txt --responses-only
  grep -q "no --calibration source is alpaca" responses_only.err || fail "responses_only: no reason given"
  refused dsnot_magnitude "--dsnot needs calibration data" prune "$stories" x.bin --method magnitude --dsnot
  refused percdamp_wanda "--percdamp would change nothing" prune "$stories" x.bin --calibration text:slice.txt --percdamp 0.1
  refused block_size_wanda "--block-size would change nothing" prune "$stories" x.bin --calibration text:slice.txt --block-size 64
  refused owl_m_uniform "--owl-m would change nothing" prune "$stories" x.bin --calibration text:slice.txt --owl-m 3
  refused selfgen_cache "--selfgen-cache would change nothing" prune "$stories" x.bin --calibration text:slice.txt --selfgen-cache c.json
  refused calibration_magnitude "--calibration would change nothing" prune "$stories" x.bin --method magnitude --calibration text:slice.txt
  refused samples_magnitude "--samples would change nothing" prune "$stories" x.bin --method magnitude --samples 8
  refused layer_percdamp "--percdamp would change nothing" layer --weights W.npy --method magnitude --out o.npy --percdamp 0.1
  refused generate_top_p "--top-p would change nothing" generate "$stories" --top-p 0.5
  refused generate_seed "--seed would change nothing" generate "$stories" --seed 3
  refused tasks_limit "--limit would change nothing" tasks "$stories" --instructions alpaca4.json --limit 2
  refused tasks_show "--show would change nothing" tasks "$stories" --suite boolq --show
  refused capture_max_rows "--max-rows would change nothing" capture "$stories" --calibration text:slice.txt --linear attn_q --weights-out W.npy --max-rows 4
  # --targets and --ignore that leave nothing to prune.
  expect_error targets_none 2 prune "$stories" x.bin --method magnitude --targets 'blk.*.ffn_*' --ignore 'blk.*'
  grep -q "selects no linear of" targets_none.err || fail "targets_none: message: $(cat targets_none.err)"
  refused text_field_text "--text-field would change nothing" prune "$stories" x.bin --calibration text:slice.txt --text-field body
  refused capture_text_field "--text-field would change nothing" capture "$stories" --calibration text:slice.txt --linear attn_q --weights-out W.npy --text-field body
  refused layer_hessian_unused "--hessian would change nothing" layer --weights W.npy --activations X.npy --hessian H.npy --method wanda --out o.npy
  refused compare_protocol "--protocol would change nothing" compare "$stories" "$stories" --instructions alpaca4.json --protocol llama-cpp
  refused prune_tokenizer_magnitude "--tokenizer would change nothing" prune "$stories" x.bin --method magnitude --tokenizer "$(dirname "$stories")/tok512.bin"
  refused prune_type_llama2c "--type would change nothing" prune "$stories" x.bin --method magnitude --type f32
  refused convert_type_llama2c "--type would change nothing" convert "$stories" x.bin --type f32
  refused convert_tokenizer "--tokenizer would change nothing: it reads no text" convert "$stories" x.bin --tokenizer "$(dirname "$stories")/tok512.bin"
  refused export_tokenizer "--tokenizer would change nothing: it reads no text" export "$stories" x.safetensors --tokenizer "$(dirname "$stories")/tok512.bin"
  refused compare_window "--window would change nothing" compare "$stories" "$stories" --instructions alpaca4.json --window 64
  refused compare_max_windows "--max-windows requires --text" compare "$stories" "$stories" --instructions alpaca4.json --max-windows 2
  refused compare_max_examples "--max-examples requires --instructions" compare "$stories" "$stories" --text slice.txt --max-examples 2
  # The layer tool says what each statistics input served: magnitude's X only measures the
  # error; sparsegpt given X and H solves with H.
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  if [ -x "$prune_layer" ]; then
    "$(dirname "$prune_layer")/make_layer_example" . --d-out 4 --d-in 8 --tokens 8 >/dev/null || fail "make_layer_example failed"
    run layer_magnitude_x layer --weights W.npy --activations X.npy --method magnitude --out o.npy
    [ "$status" -eq 0 ] || fail "layer_magnitude_x: exit status $status"
    expect_line layer_magnitude_x '^  --activations X\.npy: the reconstruction error only$'
    run layer_sparsegpt_xh layer --weights W.npy --activations X.npy --hessian H.npy --method sparsegpt --out o.npy
    [ "$status" -eq 0 ] || fail "layer_sparsegpt_xh: exit status $status"
    expect_line layer_sparsegpt_xh '^  --activations X\.npy: the reconstruction error only$'
    expect_line layer_sparsegpt_xh '^  --hessian H\.npy: the Hessian of the OBS solve$'
    run layer_wanda_x layer --weights W.npy --activations X.npy --method wanda --out o.npy
    expect_line layer_wanda_x "^  --activations X\.npy: wanda's scores and the reconstruction error$"
    rm -f o.npy W.npy X.npy H.npy
  fi
  # The same options where they do something are accepted.
  run alpaca_responses prune "$stories" a.bin --calibration alpaca:alpaca4.json --responses-only --samples 2 --length 128 --quiet
  [ "$status" -eq 0 ] || { fail "--responses-only with alpaca data: exit status $status"; cat alpaca_responses.err; }
  run sampled generate "$stories" --temperature 0.8 --top-k 5 --seed 3 --steps 8
  [ "$status" -eq 0 ] || fail "sampling options with --temperature 0.8: exit status $status"
  run prune_tokenizer_used prune "$stories" t.bin --calibration text:slice.txt --samples 2 --length 32 --tokenizer "$(dirname "$stories")/tok512.bin" --quiet
  [ "$status" -eq 0 ] || { fail "--tokenizer with calibration data: exit status $status"; cat prune_tokenizer_used.err; }
  run compare_window_used compare "$stories" "$stories" --text slice.txt --window 64 --max-windows 1
  [ "$status" -eq 0 ] || { fail "compare --window with --text: exit status $status"; cat compare_window_used.err; }
  [ -e x.bin ] || [ -e W.npy ] || [ -e x.safetensors ] && fail "a refused command wrote its output"
  # A combination that makes an option meaningless, and empty items of comma-separated lists.
  printf 'blk.*.attn_* 0.3\nblk.* 0.5\n' >table.txt
  refused sparsity_table "--sparsity would change nothing" \
    prune "$stories" x.bin --method magnitude --allocation table.txt --sparsity 0.6
  grep -qF -- "--allocation table.txt gives each linear its own" sparsity_table.err ||
    fail "sparsity_table: no reason given: $(cat sparsity_table.err)"
  # The table alone, and --sparsity with OWL (its mean), are meaningful.
  run table_alone prune "$stories" t.bin --method magnitude --allocation table.txt --quiet
  [ "$status" -eq 0 ] || fail "table_alone: exit status $status: $(cat table_alone.err)"
  refused layer_sequences "--sequences would change nothing" \
    layer --weights W.npy --hessian H.npy --method sparsegpt --out o.npy --sequences 4
  # Empty items of every list: --calibration (prune and capture), --targets, --ignore, --suite.
  for list in "text:slice.txt," ",text:slice.txt" "text:slice.txt,,text:slice.txt"; do
    refused "calibration_${#list}" "is empty: remove the extra comma" \
      prune "$stories" x.bin --calibration "$list"
    refused "capture_calibration_${#list}" "is empty: remove the extra comma" \
      capture "$stories" --calibration "$list" --linear attn_q --weights-out W.npy
  done
  refused targets_comma "--targets: item 2 of 'blk.0.attn_q,' is empty" \
    prune "$stories" x.bin --method magnitude --targets 'blk.0.attn_q,'
  refused ignore_comma "--ignore: item 1 of ',blk.0.attn_q' is empty" \
    prune "$stories" x.bin --method magnitude --ignore ',blk.0.attn_q'
  refused suite_comma "--suite: item 2 of 'boolq,' is empty" tasks "$stories" --suite 'boolq,'
  refused suite_unknown "unknown task 'mmlu'" tasks "$stories" --suite 'boolq,mmlu'
  # A pattern that matches no linear is refused in --ignore as in --targets, naming it.
  refused ignore_nomatch "--ignore 'nomatch' matches no linear of" \
    prune "$stories" x.bin --method magnitude --ignore nomatch
  refused targets_nomatch "--targets 'nomatch' matches no linear of" \
    prune "$stories" x.bin --method magnitude --targets 'blk.0.attn_q,nomatch'
  # An --ignore pattern that matches only linears --targets leaves out changes nothing.
  refused ignore_untargeted "--ignore 'blk.0.attn_q' would change nothing: it matches no linear that --targets 'blk.1.*' selects" \
    prune "$stories" x.bin --method magnitude --targets 'blk.1.*' --ignore 'blk.0.attn_q'
  run ignore_targeted prune "$stories" t.bin --method magnitude --targets 'blk.1.*' --ignore 'blk.*.attn_q' --report t.json --quiet
  [ "$status" -eq 0 ] || fail "ignore_targeted: exit status $status: $(cat ignore_targeted.err)"
  json_check t.json 'len(j["linears"]) == 6'
  run ignore_match prune "$stories" i.bin --method magnitude --ignore 'blk.*.ffn_down' --report i.json --quiet
  [ "$status" -eq 0 ] || fail "ignore_match: exit status $status: $(cat ignore_match.err)"
  json_check i.json 'len(j["linears"]) == 30 and not any(l["name"].endswith("ffn_down") for l in j["linears"])'
  finish
  ;;
markdown_utf8)
  # File names that are not UTF-8 (byte 0xFF) give valid UTF-8 Markdown and valid JSON.
  need_data
  tinystories_slice slice.txt
  name=$(printf 'm\377.bin')
  cp "$stories" "$name"
  cp "$(dirname "$stories")/tok512.bin" .
  run latin compare "$name" "$stories" --text slice.txt --window 64 --max-windows 1 --json r.json --markdown r.md
  [ "$status" -eq 0 ] || { fail "latin: exit status $status"; cat latin.err; }
  python3 -c 'import sys; open("r.md", "rb").read().decode("utf-8")' || fail "the Markdown is not valid UTF-8"
  python3 -c 'import sys; t = open("r.md", encoding="utf-8").read(); sys.exit(0 if t.startswith("# Divergence of stories260K.bin from m\ufffd.bin\n") else 1)' ||
    fail "the Markdown does not show the byte as U+FFFD: $(head -n 1 r.md)"
  json_check r.json 'j["base"].endswith("m\ufffd.bin")'
  finish
  ;;
text_model)
  # A text file where a binary model is expected says what it looks like.
  printf 'Once upon a time there was a model.\nIt was a text file.\n' >story.bin
  expect_error text_bin 1 info story.bin
  grep -q "story.bin is not a llama2.c checkpoint: it begins with text ('Once upon a time there was a model. It was a tex...'): is this a text file?" text_bin.err ||
    fail "text_bin: message: $(cat text_bin.err)"
  expect_error text_bin_eval 1 eval story.bin --text story.bin
  grep -q "is this a text file?" text_bin_eval.err || fail "text_bin_eval: message: $(cat text_bin_eval.err)"
  expect_error text_bin_convert 1 convert story.bin copy.bin
  grep -q "is this a text file?" text_bin_convert.err || fail "text_bin_convert: message"
  printf 'hello, I am not a GGUF\n' >text.gguf
  expect_error text_gguf 1 info text.gguf
  grep -q "text.gguf is not a GGUF file: it begins with text ('hello, I am not a GGUF ')" text_gguf.err ||
    fail "text_gguf: message: $(cat text_gguf.err)"
  # A binary file that is not a model keeps the reader's message (no text hint).
  head -c 64 /dev/urandom >noise.bin
  expect_error noise 1 info noise.bin
  grep -q "is this a text file" noise.err && fail "noise.bin was called a text file"
  # The layer tool's .npy inputs likewise.
  printf 'W = [[1, 2], [3, 4]]\n' >W.npy
  expect_error text_npy 1 layer --weights W.npy --method magnitude --out o.npy
  grep -q -- "--weights W.npy is not a .npy file: it begins with text ('W = \[\[1, 2\], \[3, 4\]\] ')" text_npy.err ||
    fail "text_npy: message: $(cat text_npy.err)"
  need_data
  # A llama2.c tokenizer that is text.
  printf 'a b c d e f g h\n' >tok.txt
  expect_error text_tokenizer 1 generate "$stories" --tokenizer tok.txt
  grep -q "tok.txt is not a llama2.c tokenizer: it begins with text" text_tokenizer.err ||
    fail "text_tokenizer: message: $(cat text_tokenizer.err)"
  finish
  ;;
hf_vocab)
  # A Hugging Face tokenizer with more tokens than the model has embedding rows is refused when
  # the model is opened, naming both sizes (the fixture tokenizer has 420 tokens).
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf300 "$tokenizer" 300 || fail "could not make hf300"
  python3 "$(dirname "$0")/make_hf_model.py" hf420 "$tokenizer" 420 || fail "could not make hf420"
  printf 'hello world, hello tokens\n' >t.txt
  for c in "generate hf300 --prompt hello --steps 4" "eval hf300 --text t.txt --window 4"; do
    name=vocab_$(echo "$c" | cut -d' ' -f1)
    # shellcheck disable=SC2086
    expect_error "$name" 1 $c
    grep -q "has 420 tokens but the model's vocabulary has 300" "$name.err" ||
      fail "$name: message: $(cat "$name.err")"
    grep -q "perplexity\|tokens in" "$name.err" && fail "$name: the mismatch was found after running"
  done
  # The same tokenizer given with --tokenizer for a model of the right size is accepted.
  run vocab_ok generate hf420 --prompt hello --steps 4 --tokenizer "$tokenizer"
  [ "$status" -eq 0 ] || { fail "vocab_ok: exit status $status"; cat vocab_ok.err; }
  # Embedding rows padded beyond the tokenizer (as many Hugging Face checkpoints do) are accepted.
  python3 "$(dirname "$0")/make_hf_model.py" hf448 "$tokenizer" 448 || fail "could not make hf448"
  run vocab_padded eval hf448 --text t.txt --window 4 --tokenizer "$tokenizer"
  [ "$status" -eq 0 ] || { fail "vocab_padded: exit status $status"; cat vocab_padded.err; }
  # Sampling from padded rows draws only the tokenizer's 420 ids: 100 samples at temperature 1
  # from 448 random-weight rows would otherwise reach ids 420-447 (no token) almost surely.
  run vocab_padded_generate generate hf448 --prompt hello --steps 100 --temperature 1 --seed 3 \
    --tokenizer "$tokenizer"
  [ "$status" -eq 0 ] || { fail "vocab_padded_generate: exit status $status"; cat vocab_padded_generate.err; }
  expect_error vocab_option 1 generate hf300 --prompt hello --steps 4 --tokenizer "$tokenizer"
  grep -q "has 420 tokens but the model's vocabulary has 300" vocab_option.err || fail "vocab_option: message"
  finish
  ;;
commit_signal)
  # SIGINT or SIGTERM arriving once the outputs are being renamed into place (the first output
  # already replaced) no longer ends the run: it completes its commit and exits 0 with every
  # output new. POLLARD_TEST_PAUSE_IN_COMMIT makes the commit pause right after its first rename
  # until a signal has arrived, so the signal lands there every time.
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built (POLLARD_PRUNE_LAYER='$prune_layer')"
  make_layer_example="$(dirname "$prune_layer")/make_layer_example"
  "$make_layer_example" . --d-out 8 --d-in 16 --tokens 20 >/dev/null || fail "make_layer_example failed"
  # wait_for PATH PID: until PATH exists or the process PID has ended (at most a minute).
  wait_for() {
    for _ in $(seq 1200); do
      [ -e "$1" ] && return
      kill -0 "$2" 2>/dev/null || return
      sleep 0.05
    done
  }
  # signal_in_commit NAME SIGNAL OUTPUTS -- COMMAND...: the outputs exist with old content first.
  signal_in_commit() {
    local name=$1 sig=$2
    shift 2
    local outputs=()
    while [ "$1" != "--" ]; do outputs+=("$1"); shift; done
    shift
    for f in "${outputs[@]}"; do printf 'old' >"$f"; done
    rm -f paused
    set -m  # background jobs keep the default SIGINT disposition
    POLLARD_TEST_PAUSE_IN_COMMIT=paused "$@" >"$name.out" 2>"$name.err" &
    local pid=$!
    set +m
    wait_for paused "$pid"
    [ -e paused ] || fail "$name: the commit did not pause: $(cat "$name.err")"
    kill -s "$sig" "$pid"
    wait "$pid"
    local got=$?
    [ "$got" -eq 0 ] || fail "$name: SIG$sig during the commit: exit status $got, expected 0 (the outputs are in place)"
    for f in "${outputs[@]}"; do
      [ "$(head -c 3 "$f")" != "old" ] || fail "$name: $f was not replaced"
    done
    ls -A | grep -q '\.tmp-' && fail "$name: a temporary remains: $(ls -A)"
  }
  for sig in INT TERM; do
    signal_in_commit "layer_$sig" "$sig" o.npy m.npy -- "$pollard" layer --weights W.npy \
      --activations X.npy --method wanda --out o.npy --mask-out m.npy
    signal_in_commit "prune_layer_$sig" "$sig" o.npy m.npy -- "$prune_layer" --weights W.npy \
      --activations X.npy --method wanda --out o.npy --mask-out m.npy
    mkdir -p made
    signal_in_commit "make_layer_example_$sig" "$sig" made/W.npy made/X.npy made/H.npy -- \
      "$make_layer_example" made --d-out 4 --d-in 8 --tokens 8
  done
  if command -v python3 >/dev/null && python3 -c 'import numpy' 2>/dev/null; then
    python3 -c 'import numpy as np; assert np.load("o.npy").shape == (8, 16) and np.load("m.npy").shape == (8, 16); assert np.load("made/H.npy").shape == (8, 8)' ||
      fail "the outputs written during the signal are not whole"
  fi
  # A signal before the commit still ends the run with its status and no output (SIGTERM while
  # make_layer_example computes a large layer): the folder it created is removed too.
  set -m
  "$make_layer_example" big --d-out 64 --d-in 4096 --tokens 8192 >big.out 2>big.err &
  pid=$!
  set +m
  wait_for big "$pid"
  [ -d big ] || fail "make_layer_example did not create its folder: $(cat big.err)"
  kill -TERM "$pid"
  wait "$pid"
  status=$?
  [ "$status" -eq 143 ] || fail "make_layer_example after SIGTERM: exit status $status, expected 143"
  [ -e big ] && fail "make_layer_example killed by SIGTERM left its folder: $(ls -A big)"
  need_data
  tinystories_slice slice.txt
  for sig in INT TERM; do
    signal_in_commit "eval_$sig" "$sig" e.json -- "$pollard" eval "$stories" --text slice.txt \
      --window 64 --max-windows 1 --json e.json
    json_check e.json 'j["windows"] == 1'
    signal_in_commit "prune_$sig" "$sig" p.bin r.json -- "$pollard" prune "$stories" p.bin \
      --method magnitude --sparsity 0.3 --report r.json --quiet
    json_check r.json 'len(j["linears"]) == 35'
  done
  finish
  ;;
help_wins)
  # --help (or -h) prints the help and exits 0 wherever it stands, even after a mistake.
  help_wins() {  # NAME USAGE_LINE ARGS...
    local name=$1 usage=$2
    shift 2
    run "$name" "$@"
    [ "$status" -eq 0 ] || fail "$name: exit status $status, expected 0: $(cat "$name.err")"
    grep -q "^usage: $usage" "$name.out" || fail "$name: no '$usage' usage line: $(head -n 2 "$name.out")"
    [ -s "$name.err" ] && fail "$name: printed an error: $(cat "$name.err")"
  }
  help_wins prune_sparsity "pollard prune" prune --sparsity 2 --help
  help_wins prune_h "pollard prune" prune m.bin out.bin --sparsity 2 -h
  help_wins prune_twice "pollard prune" prune --length 5 --length 6 --help
  help_wins prune_excludes "pollard prune" prune --sparsity 0.5 --n-m 2:4 --help
  help_wins layer_sparsity "pollard layer" layer --sparsity 2 --help
  help_wins generate_steps "pollard generate" generate --steps abc --help
  help_wins eval_window "pollard eval" eval --window 1 --help
  for c in info generate eval compare tasks convert export capture prune layer; do
    help_wins "unknown_$c" "pollard $c" "$c" --no-such-option --help
  done
  help_wins top "pollard" --no-such-option --help
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built (POLLARD_PRUNE_LAYER='$prune_layer')"
  pollard=$prune_layer help_wins prune_layer_tool "prune_layer" --sparsity 2 --help
  pollard="$(dirname "$prune_layer")/make_layer_example" help_wins make_layer_example_tool \
    "make_layer_example" --d-in 0 --help
  finish
  ;;
output_format_name)
  # OUT is written in MODEL's format: a name that promises another one is a command-line mistake
  # found before any work, and nothing is written.
  need_data
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    expect_error "${c}_llama2c_as_gguf" 2 "$c" "$stories" o.GGUF "${extra[@]}"
    grep -q "OUT o.GGUF ends in .gguf, but it is written in MODEL's format: llama2.c; give a name that does not promise another format" "${c}_llama2c_as_gguf.err" ||
      fail "${c}_llama2c_as_gguf: message: $(cat "${c}_llama2c_as_gguf.err")"
    expect_error "${c}_llama2c_as_safetensors" 2 "$c" "$stories" o.safetensors "${extra[@]}"
    if [ -e o.GGUF ] || [ -e o.safetensors ]; then fail "$c wrote an output it refused"; fi
    # Positive control: the format's own name, and a name without a known extension.
    run "${c}_llama2c_as_bin" "$c" "$stories" o.bin "${extra[@]}"
    [ "$status" -eq 0 ] && [ -s o.bin ] || fail "${c}_llama2c_as_bin: exit status $status"
    run "${c}_llama2c_no_extension" "$c" "$stories" o_model "${extra[@]}"
    [ "$status" -eq 0 ] && [ -s o_model ] || fail "${c}_llama2c_no_extension: exit status $status"
    rm -f o.bin o_model
  done
  finish
  ;;
prune_checks_up_front)
  # Found before any calibration data is drawn: a sparsity table row that decides no linear, and
  # (SmolLM2, Q4_1) pruned linears left in a type that cannot hold an exact zero.
  need_data
  printf 'blk.0.* 0.3\nblk.*.ffn_dwn 0.7\n* 0.5\n' >table.txt
  : >empty.txt
  expect_error table_unused_row 2 prune "$stories" o.bin --method wanda --allocation table.txt \
    --calibration text:empty.txt
  grep -q -- "--allocation table.txt: the row \"blk.\*.ffn_dwn 0.7\" (row 2) decides no linear of the model" table_unused_row.err ||
    fail "table_unused_row: message: $(cat table_unused_row.err)"
  if [ -e o.bin ]; then fail "a refused prune wrote o.bin"; fi
  [ -f "$smollm2" ] || skip "no SmolLM2 GGUF at $smollm2 (bash cmake/fetch_smollm2.sh)"
  expect_error q4_1_default 2 prune "$smollm2" p.gguf --method magnitude
  grep -q "is Q4_1, which cannot hold an exact zero (a value is d·q + min): give --type f16, bf16 or f32" q4_1_default.err ||
    fail "q4_1_default: message: $(cat q4_1_default.err)"
  if [ -e p.gguf ]; then fail "a refused prune wrote p.gguf"; fi
  finish
  ;;
special_outputs)
  # An output that is a FIFO (or a device) is refused before any work: a rename over it would
  # replace it by a regular file. A GGUF with a SentencePiece vocabulary (llama.cpp's conversion
  # of stories260K) loads in every command that reads its tokenizer.
  need_data
  tinystories_slice slice.txt
  mkfifo fifo
  expect_error json_to_fifo 2 eval "$stories" --text slice.txt --window 32 --max-windows 1 --json fifo
  grep -q -- "--json fifo is not a regular file but a device, FIFO or socket" json_to_fifo.err ||
    fail "json_to_fifo: message: $(cat json_to_fifo.err)"
  [ -p fifo ] || fail "the FIFO was replaced"
  ln -s fifo fifo_link
  expect_error prune_to_fifo_link 2 prune "$stories" fifo_link --method magnitude
  [ -p fifo ] || fail "the FIFO was replaced through a link"
  spm="$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf"
  run spm_eval eval "$spm" --text slice.txt --window 32 --max-windows 2
  [ "$status" -eq 0 ] || fail "spm_eval: exit status $status: $(cat spm_eval.err)"
  expect_line spm_eval '^perplexity'
  run spm_generate generate "$spm" --prompt "Once upon a time" --steps 12
  [ "$status" -eq 0 ] || fail "spm_generate: exit status $status: $(cat spm_generate.err)"
  finish
  ;;
hf_output)
  # A Hugging Face model is written as a folder: an OUT that is an existing file, or a folder
  # inside the model's own folder, is a command-line mistake found before any work.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  (cd hf && find . -type f | sort | xargs md5sum) >before.md5
  printf 'a file\n' >existing.bin
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    expect_error "${c}_onto_file" 2 "$c" hf existing.bin "${extra[@]}"
    grep -q "OUT existing.bin is a file: a Hugging Face model (hf) is written as a folder" "${c}_onto_file.err" ||
      fail "${c}_onto_file: message: $(cat "${c}_onto_file.err")"
    [ "$(cat existing.bin)" = "a file" ] || fail "$c replaced existing.bin"
    expect_error "${c}_inside" 2 "$c" hf hf/sub "${extra[@]}"
    grep -q "OUT hf/sub is inside MODEL's folder" "${c}_inside.err" || fail "${c}_inside: message: $(cat "${c}_inside.err")"
    expect_error "${c}_inside_deeper" 2 "$c" hf/ ./hf/a/b "${extra[@]}"
    [ -e hf/sub ] || [ -e hf/a ] && fail "$c wrote inside the input folder"
  done
  (cd hf && find . -type f | sort | xargs md5sum) | cmp -s - before.md5 || fail "the input folder changed"
  # Likewise a file output that names an existing folder (directly or through a link).
  mkdir -p adir
  ln -s adir adir_link
  printf 'hello world, hello tokens\n' >t.txt
  expect_error json_onto_folder 2 eval hf --text t.txt --window 4 --json adir
  grep -q -- "--json adir is a folder: name a file to write" json_onto_folder.err ||
    fail "json_onto_folder: message: $(cat json_onto_folder.err)"
  expect_error json_onto_folder_link 2 eval hf --text t.txt --window 4 --json adir_link
  [ -z "$(ls -A adir)" ] || fail "a refused command wrote into adir"
  # A sibling folder whose name begins like the input's is not inside it.
  run sibling convert hf hf2
  [ "$status" -eq 0 ] || { fail "convert hf hf2: exit status $status"; cat sibling.err; }
  finish
  ;;
tokenizer_format)
  # --tokenizer is read in the format its file shows, whatever the model's format: a
  # tokenizer.json for a llama2.c checkpoint, a llama2.c tokenizer for a Hugging Face folder;
  # a vocabulary larger than the model's is refused naming both sizes.
  need_data
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  cp "$stories" model.bin
  # The fixture tokenizer.json has 420 tokens; a llama2.c model needs one per embedding row
  # (tokenizer_size checks that 420 is refused), so ids 420-511 are added as unused tokens.
  python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
vocab = t["model"]["vocab"]
for k in range(max(vocab.values()) + 1, 512):
    vocab["<unused%03d>" % k] = k
json.dump(t, open("tok.json", "w"))' "$tokenizer" || fail "could not write tok.json"
  printf 'hello world, hello tokens\n' >t.txt
  run json_for_llama2c eval model.bin --tokenizer tok.json --text t.txt --window 4 --json j.json
  [ "$status" -eq 0 ] || { fail "json_for_llama2c: exit status $status"; cat json_for_llama2c.err; }
  # The same text tokenized by the tokenizer.json of a Hugging Face folder gives as many tokens.
  python3 "$(dirname "$0")/make_hf_model.py" hf512 "$tokenizer" 512 || fail "could not make hf512"
  run json_for_hf eval hf512 --text t.txt --window 4 --json h.json
  python3 -c 'import json, sys; sys.exit(0 if json.load(open("j.json"))["text_tokens"] == json.load(open("h.json"))["text_tokens"] else 1)' ||
    fail "the tokenizer.json read for a llama2.c model tokenized differently"
  # The same with a name that says nothing about the format.
  cp tok.json tokenizer.data
  run json_no_extension eval model.bin --tokenizer tokenizer.data --text t.txt --window 4
  [ "$status" -eq 0 ] || { fail "json_no_extension: exit status $status"; cat json_no_extension.err; }
  # A llama2.c tokenizer (512 tokens) for Hugging Face folders of 512 and 420 rows.
  cp "$(dirname "$stories")/tok512.bin" tok512.bin
  python3 "$(dirname "$0")/make_hf_model.py" hf420 "$tokenizer" 420 || fail "could not make hf420"
  run bin_for_hf generate hf512 --tokenizer tok512.bin --prompt hello --steps 4
  [ "$status" -eq 0 ] || { fail "bin_for_hf: exit status $status"; cat bin_for_hf.err; }
  expect_error bin_too_large_for_hf 1 generate hf420 --tokenizer tok512.bin --prompt hello --steps 4
  grep -q "tok512.bin has 512 tokens but the model's vocabulary (hf420) has 420" bin_too_large_for_hf.err ||
    fail "bin_too_large_for_hf: message: $(cat bin_too_large_for_hf.err)"
  # A llama2.c tokenizer with 600 tokens for stories260K (512 rows): both sizes named.
  python3 - <<'PY' || fail "could not write tok600.bin"
import struct
raw = open("tok512.bin", "rb").read()
extra = b"".join(struct.pack("<fi", -1e9, 4) + b"x%03d" % k for k in range(88))
open("tok600.bin", "wb").write(raw + extra)
PY
  expect_error bin_too_large 1 generate model.bin --tokenizer tok600.bin --prompt hello --steps 4
  grep -q "tok600.bin has 600 tokens but the model's vocabulary (model.bin) has 512" bin_too_large.err ||
    fail "bin_too_large: message: $(cat bin_too_large.err)"
  # A GGUF given as --tokenizer says what --tokenizer takes.
  printf 'GGUF\003\000\000\000' >tok.gguf
  expect_error gguf_tokenizer 1 generate model.bin --tokenizer tok.gguf --prompt hello --steps 4
  grep -q "is a GGUF file: a tokenizer is given as a Hugging Face tokenizer.json or a llama2.c tokenizer .bin" gguf_tokenizer.err ||
    fail "gguf_tokenizer: message: $(cat gguf_tokenizer.err)"
  finish
  ;;
dangling_output_links)
  # Two outputs of one command that resolve to the same file, through a link that dangles (its
  # target is another output not written yet), are refused before any work (exit 2) by every
  # command with several outputs; nothing is written.
  need_data
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built"
  mle="$(dirname "$prune_layer")/make_layer_example"
  mkdir -p d
  ln -s X.npy d/W.npy
  "$mle" d --d-out 4 --d-in 8 --tokens 8 >mle_link.out 2>mle_link.err
  st=$?
  if [ $st -ne 2 ]; then fail "make_layer_example W.npy -> X.npy: exit status $st: $(cat mle_link.err)"; fi
  if ! grep -q "FOLDER's X.npy d/X.npy is the same file as FOLDER's W.npy d/W.npy: two outputs may not share a file" mle_link.err; then
    fail "mle_link: message: $(cat mle_link.err)"
  fi
  if [ -e d/X.npy ] || [ -e d/H.npy ]; then fail "make_layer_example wrote into d"; fi
  # The same through a link to a link, and to H.npy by an absolute path.
  rm d/W.npy && ln -s "$PWD/d/H.npy" d/X.npy
  "$mle" d --d-out 4 --d-in 8 --tokens 8 >mle_abs.out 2>mle_abs.err
  st=$?
  if [ $st -ne 2 ]; then fail "make_layer_example X.npy -> abs H.npy: exit status $st"; fi
  rm d/X.npy
  "$mle" . --d-out 4 --d-in 8 --tokens 8 >/dev/null || fail "make_layer_example failed"
  ln -s out.npy mask_link.npy
  "$prune_layer" --weights W.npy --method magnitude --out out.npy --mask-out mask_link.npy >layer_link.out 2>layer_link.err
  st=$?
  if [ $st -ne 2 ]; then fail "prune_layer --mask-out -> --out: exit status $st"; fi
  if ! grep -q -- "--mask-out mask_link.npy is the same file as --out out.npy: two outputs may not share a file" layer_link.err; then
    fail "layer_link: message: $(cat layer_link.err)"
  fi
  if [ -e out.npy ]; then fail "prune_layer wrote out.npy"; fi
  tinystories_slice slice.txt
  ln -s w_cap.npy h_link.npy
  expect_error capture_link 2 capture "$stories" --calibration text:slice.txt --linear attn_q \
    --weights-out w_cap.npy --hessian-out h_link.npy
  grep -q "two outputs may not share a file" capture_link.err || fail "capture_link: message: $(cat capture_link.err)"
  if grep -q drawing capture_link.err || [ -e w_cap.npy ]; then fail "capture worked before refusing"; fi
  finish
  ;;
hf_output_folder)
  # A Hugging Face OUT folder is replaced as a whole: a folder pollard wrote before loses the
  # companion files the new model lacks (no stale tokenizer.json from another model); a folder
  # holding any file pollard did not write there is refused before any work (exit 2), and is
  # left as it was.
  need_data
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" with_tok "$tokenizer" 420 || fail "could not make with_tok"
  python3 "$(dirname "$0")/make_hf_model.py" plain "$tokenizer" 512 || fail "could not make plain"
  rm plain/tokenizer.json plain/tokenizer_config.json
  run first convert with_tok out
  if [ "$status" -ne 0 ]; then fail "convert with_tok out: exit status $status: $(cat first.err)"; fi
  [ -f out/tokenizer.json ] || fail "the first copy lacks tokenizer.json"
  run second convert plain out
  if [ "$status" -ne 0 ]; then fail "convert plain out: exit status $status: $(cat second.err)"; fi
  if [ -e out/tokenizer.json ] || [ -e out/tokenizer_config.json ]; then fail "a stale tokenizer file was left in out"; fi
  run info_out info out
  if [ "$status" -ne 0 ]; then fail "info out: exit status $status: $(cat info_out.err)"; fi
  grep -q "vocab_size     512" info_out.out || fail "info out does not describe the new model"
  run third prune with_tok out --method magnitude
  if [ "$status" -ne 0 ]; then fail "prune with_tok out: exit status $status: $(cat third.err)"; fi
  [ -f out/tokenizer.json ] || fail "prune did not write tokenizer.json"
  # Anything else in the folder is the user's: refused, nothing changes.
  mkdir -p mine && printf 'notes\n' >mine/notes.txt && cp "$tokenizer" mine/tokenizer.json
  (cd mine && find . -type f | sort | xargs md5sum) >mine.md5
  for c in convert prune; do
    extra=()
    if [ "$c" = prune ]; then extra=(--method magnitude); fi
    expect_error "${c}_foreign" 2 "$c" plain mine "${extra[@]}"
    grep -q "OUT mine holds notes.txt (and 1 more), which pollard did not write there" "${c}_foreign.err" ||
      fail "${c}_foreign: message: $(cat "${c}_foreign.err")"
  done
  rm mine/notes.txt
  (cd mine && find . -type f | sort | xargs md5sum) | grep -q tokenizer.json || fail "mine/tokenizer.json is gone"
  expect_error convert_no_model 2 convert plain mine
  grep -q "OUT mine holds tokenizer.json, which pollard did not write there" convert_no_model.err ||
    fail "convert_no_model: message: $(cat convert_no_model.err)"
  cmp -s mine/tokenizer.json "$tokenizer" || fail "a refused convert changed mine/tokenizer.json"
  # An input inside the folder (here --tokenizer) is never removed as a stale file.
  python3 "$(dirname "$0")/make_hf_model.py" hf2 "$tokenizer" 420 || fail "could not make hf2"
  run seed convert hf2 out2
  cp "$tokenizer" keep.json
  printf 'Once upon a time there was a cat.\n\nThe cat sat on a mat.\n' >cal.txt
  expect_error prune_input_inside 2 prune plain out2 --calibration text:cal.txt --tokenizer out2/tokenizer.json --samples 1 --length 8
  [ -f out2/tokenizer.json ] || fail "prune removed its --tokenizer from OUT"
  if ls -A out . | grep -q '\.tmp-'; then fail "a temporary was left behind"; fi
  run convert_help convert --help
  if ! grep -q "existing Hugging Face OUT folder must be empty or one pollard wrote" convert_help.out; then
    fail "convert --help does not say what an existing OUT folder may hold"
  fi
  finish
  ;;
config_keys)
  # Every config.json error names the file and the config.json key, never the internal names.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  edit() {  # KEY VALUE: sets config.json's KEY in a copy hf_KEY
    rm -rf "hf_$1" && cp -r hf "hf_$1"
    python3 -c 'import json, sys; p = sys.argv[1] + "/config.json"; c = json.load(open(p)); c[sys.argv[2]] = json.loads(sys.argv[3]); json.dump(c, open(p, "w"))' "hf_$1" "$1" "$2"
  }
  check_config() {  # KEY VALUE WANTED
    edit "$1" "$2"
    expect_error "config_$1" 1 info "hf_$1"
    grep -qF -- "hf_$1/config.json$3" "config_$1.err" || fail "config_$1: message: $(cat "config_$1.err")"
    if grep -Eq '(^|[^a-z_])(llama_config|n_kv_heads|n_heads|dim|hidden_dim|n_layers|seq_len|vocab)([^a-z_]|$)' "config_$1.err"; then
      fail "config_$1: an internal name leaks: $(cat "config_$1.err")"
    fi
  }
  check_config num_key_value_heads 3 ": num_key_value_heads 3 does not divide num_attention_heads 2"
  check_config num_attention_heads 3 ": num_attention_heads 3 does not divide hidden_size 8"
  check_config hidden_size 0 ": hidden_size must be positive, got 0"
  check_config intermediate_size 0 ": intermediate_size must be positive, got 0"
  check_config max_position_embeddings 0 ": max_position_embeddings must be positive, got 0"
  check_config rope_theta 0 ": rope_theta must be positive, got 0"
  check_config num_hidden_layers -1 " num_hidden_layers must be a non-negative integer"
  check_config rope_theta 1e39 ": rope_theta 1e+39 is beyond the range of float, which pollard computes in"
  # A count larger than the file's tensors can hold is refused by name before anything is sized
  # by it (not "out of memory").
  for key in num_hidden_layers hidden_size intermediate_size vocab_size; do
    edit "$key" 1099511627776
    expect_error "huge_$key" 1 info "hf_$key"
    if grep -q "out of memory" "huge_$key.err"; then fail "huge_$key: out of memory"; fi
  done
  grep -qF "hf_num_hidden_layers/model.safetensors: config.json's num_hidden_layers 1099511627776 needs 9 tensors per layer, and the file holds 11 tensors" huge_num_hidden_layers.err ||
    fail "huge_num_hidden_layers: message: $(cat huge_num_hidden_layers.err)"
  grep -qF "tensor 'model.embed_tokens.weight' has shape [420, 8] but config.json implies [420, 1099511627776]" huge_hidden_size.err ||
    fail "huge_hidden_size: message: $(cat huge_hidden_size.err)"
  grep -qF "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [16, 8] but config.json implies [1099511627776, 8]" huge_intermediate_size.err ||
    fail "huge_intermediate_size: message: $(cat huge_intermediate_size.err)"
  grep -qF "tensor 'model.embed_tokens.weight' has shape [420, 8] but config.json implies [1099511627776, 8]" huge_vocab_size.err ||
    fail "huge_vocab_size: message: $(cat huge_vocab_size.err)"
  # A vocab_size that disagrees with the embedding names both shapes.
  edit vocab_size 500
  expect_error vocab_shape 1 info hf_vocab_size
  grep -qF "tensor 'model.embed_tokens.weight' has shape [420, 8] but config.json implies [500, 8] (vocab_size 500, hidden_size 8)" vocab_shape.err ||
    fail "vocab_shape: message: $(cat vocab_shape.err)"
  finish
  ;;
filesystem_errors)
  # A filesystem error is a message naming the path and what was being done, not
  # std::filesystem's raw text.
  need_data
  mkdir -p tasks_loop
  ln -s a tasks_loop/arc
  ln -s arc tasks_loop/a
  expect_error tasks_loop 2 tasks "$stories" --suite arc_easy --tasks-dir tasks_loop
  grep -q -- "cannot read the task file tasks_loop/arc/ARC-Easy-Test.jsonl: Too many levels of symbolic links" tasks_loop.err ||
    fail "tasks_loop: message: $(cat tasks_loop.err)"
  if grep -q "filesystem error\|status:" tasks_loop.err; then fail "tasks_loop: raw filesystem message"; fi
  # A model path through a loop, for every command that opens one.
  ln -s loop2 loop1
  ln -s loop1 loop2
  for c in info eval convert; do
    extra=()
    if [ "$c" = eval ]; then extra=(--text "$tinystories"); fi
    if [ "$c" = convert ]; then extra=(x.bin); fi
    run "fs_$c" "$c" loop1 "${extra[@]}"
    if [ "$status" -eq 0 ] || grep -q "filesystem error" "fs_$c.err"; then fail "fs_$c: $(cat "fs_$c.err")"; fi
    grep -q "loop1" "fs_$c.err" || fail "fs_$c: the message does not name loop1: $(cat "fs_$c.err")"
  done
  finish
  ;;
tokenizer_size)
  # A llama2.c tokenizer must hold exactly the model's vocabulary: fewer tokens than the model
  # (ids it could not decode) is refused up front naming both sizes, as more is.
  need_data
  python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read()
max_len = struct.unpack_from("<i", data, 0)[0]
at, out = 4, [data[:4]]
for k in range(100):
    score, n = struct.unpack_from("<fi", data, at)
    out.append(data[at:at + 8 + n]); at += 8 + n
open("tok100.bin", "wb").write(b"".join(out))' "$(dirname "$stories")/tok512.bin" || fail "could not write tok100.bin"
  for c in generate eval; do
    extra=(--prompt hello --steps 4)
    if [ "$c" = eval ]; then extra=(--text "$tinystories" --window 16 --max-windows 1); fi
    expect_error "small_$c" 1 "$c" "$stories" --tokenizer tok100.bin "${extra[@]}"
    grep -q "tok100.bin has 100 tokens but the model's vocabulary (.*stories260K.bin) has 512" "small_$c.err" ||
      fail "small_$c: message: $(cat "small_$c.err")"
  done
  # The same holds for a tokenizer.json given to a llama2.c model: the 420-token fixture against
  # stories260K's 512 embedding rows is refused when the model is opened, not mid-generation.
  json_tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  for c in generate eval; do
    extra=(--prompt "Once upon" --steps 40 --temperature 1 --seed 3)
    if [ "$c" = eval ]; then extra=(--text "$tinystories" --window 16 --max-windows 1); fi
    expect_error "json_small_$c" 1 "$c" "$stories" --tokenizer "$json_tokenizer" "${extra[@]}"
    grep -q "has 420 tokens but the model's vocabulary has 512: the model would produce ids the tokenizer cannot decode" \
      "json_small_$c.err" || fail "json_small_$c: message: $(cat "json_small_$c.err")"
    [ -s "json_small_$c.out" ] && fail "json_small_$c: output before the refusal: $(cat "json_small_$c.out")"
  done
  finish
  ;;
special_tokens)
  # Text spelling SmolLM2's control tokens: one token each by default (transformers'
  # tokenizer(text), llama-tokenize), spelled out with --special-tokens plain (llama-perplexity).
  # Each of the 4 tags a turn holds is one token instead of several, so plain counts more.
  [ -f "$smollm2" ] || skip "no SmolLM2 GGUF at $smollm2 (bash cmake/fetch_smollm2.sh)"
  for k in $(seq 1 20); do
    printf '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n'
  done >chat.txt
  count_tokens() { sed -n 's/^text  *: .*, \([0-9]*\) tokens)$/\1/p' "$1.out"; }
  for mode in default parse plain; do
    extra=()
    [ "$mode" = default ] || extra=(--special-tokens "$mode")
    run "chat_$mode" eval "$smollm2" --text chat.txt --window 32 --max-windows 1 --threads 1 "${extra[@]}" --json "chat_$mode.json"
    [ "$status" -eq 0 ] || fail "chat_$mode: exit status $status: $(cat "chat_$mode.err")"
  done
  # The JSON result says how the text was read.
  json_check chat_default.json 'j["special_tokens"] == "parse"'
  json_check chat_plain.json 'j["special_tokens"] == "plain"'
  parsed=$(count_tokens chat_parse)
  plain=$(count_tokens chat_plain)
  [ -n "$parsed" ] && [ -n "$plain" ] || fail "no token counts in the eval output"
  [ "$(count_tokens chat_default)" = "$parsed" ] || fail "the default is not parse"
  # Each spelled tag ("<|im_start|>": "<|", "im", "_", "start", "|>" or so) is at least 2 tokens.
  [ "$plain" -ge $((parsed + 80)) ] || fail "plain gave $plain tokens, parse $parsed"
  expect_error bad_mode 2 eval "$smollm2" --text chat.txt --special-tokens maybe
  grep -q -- "--special-tokens" bad_mode.err || fail "bad_mode: $(cat bad_mode.err)"
  finish
  ;;
fsync_before_rename)
  # Every output is complete on disk before it takes its name: each temporary a command renames
  # into place was fsync'ed after its last write and before the rename (traced with strace).
  need_data
  command -v strace >/dev/null || skip "strace is not installed"
  strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"
  tinystories_slice slice.txt
  traced() {
    local name=$1
    shift
    # LeakSanitizer cannot stop a traced process's threads: no leak check under strace.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
      strace -f -e trace=openat,write,pwrite64,fsync,fdatasync,close,rename,renameat,renameat2 \
      -o "$name.trace" "$pollard" "$@" >"$name.out" 2>"$name.err" ||
      fail "$name: exit status $?: $(cat "$name.err")"
    python3 - "$name.trace" <<'PY' || fail "$name: an output was renamed before it was fsync'ed"
import re, sys
open_fd, synced, renamed = {}, set(), 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'openat\(AT_FDCWD, "([^"]+)", [^)]*O_CREAT[^)]*\) = (\d+)', line)
    if m:
        open_fd[m.group(2)] = m.group(1)
        synced.discard(m.group(1))
        continue
    m = re.search(r'(?:fsync|fdatasync)\((\d+)\)\s+= 0', line)
    if m and m.group(1) in open_fd:
        synced.add(open_fd[m.group(1)])
        continue
    m = re.search(r'rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"', line)
    if m:
        renamed += 1
        if m.group(1) not in synced:
            print(f"{m.group(1)} -> {m.group(2)} without an fsync first", file=sys.stderr)
            sys.exit(1)
sys.exit(0 if renamed else 2)
PY
  }
  traced convert convert "$stories" copy.bin
  cp "$(dirname "$stories")/tok512.bin" .
  traced eval eval "$stories" --text slice.txt --max-windows 1 --json eval.json
  traced compare compare "$stories" copy.bin --text slice.txt --max-windows 1 --json compare.json \
    --markdown compare.md
  traced prune prune "$stories" pruned.bin --method wanda --calibration text:slice.txt --samples 2 \
    --length 32 --report report.json --save-calibration tokens.json --quiet
  finish
  ;;
text_bytes)
  # --text-bytes llama.cpp reads SmolLM2 text as llama.cpp does: ill-formed bytes as U+FFFD, so
  # the text evaluates exactly as the same text with U+FFFD written in by hand does under the
  # default rule, which refuses the original (0xFF has no token); a byte without a token (04)
  # is dropped (its ids against llama.cpp's: tests/llm/bpe_llama_cpp).
  need_data
  tinystories_slice base.txt
  { head -c 600 base.txt; printf '\xff caf\xe9 !'; tail -c +601 base.txt; } >odd.txt
  { head -c 600 base.txt; printf '\xef\xbf\xbd caf\xef\xbf\xbd !'; tail -c +601 base.txt; } >fixed.txt
  { head -c 600 base.txt; printf 'a\x04b'; tail -c +601 base.txt; } >control.txt
  for rule in keep llama.cpp; do
    expect_error "stories_$rule" 2 eval "$stories" --text base.txt --text-bytes "$rule"
    expect_message "stories_$rule" "--text-bytes would change nothing: the model's tokenizer is llama2.c BPE"
  done
  expect_error bad_rule 2 eval "$stories" --text base.txt --text-bytes utf8
  expect_message bad_rule "--text-bytes"
  # Nor does it where no text is read: magnitude pruning without calibration.
  expect_error prune_magnitude 2 prune "$stories" x.bin --method magnitude --text-bytes llama.cpp
  expect_message prune_magnitude "--text-bytes would change nothing: it concerns calibration data"
  [ -f "$smollm2" ] || skip "no SmolLM2 GGUF at $smollm2 (bash cmake/fetch_smollm2.sh)"
  e=(--window 64 --max-windows 2 --threads 1)
  expect_error keep_refuses 1 eval "$smollm2" --text odd.txt "${e[@]}"
  expect_message keep_refuses "byte 0xFF at offset 600 of the text has no token"
  expect_error keep_refuses_04 1 eval "$smollm2" --text control.txt "${e[@]}"
  expect_message keep_refuses_04 "byte 0x04 at offset 601 of the text has no token"
  run llama_04 eval "$smollm2" --text control.txt --text-bytes llama.cpp "${e[@]}"
  [ "$status" -eq 0 ] || fail "--text-bytes llama.cpp with a 04: exit status $status: $(cat llama_04.err)"
  run llama eval "$smollm2" --text odd.txt --text-bytes llama.cpp "${e[@]}" --json llama.json
  [ "$status" -eq 0 ] || fail "--text-bytes llama.cpp: exit status $status: $(cat llama.err)"
  run by_hand eval "$smollm2" --text fixed.txt "${e[@]}" --json by_hand.json
  [ "$status" -eq 0 ] || fail "the substituted text: exit status $status: $(cat by_hand.err)"
  json_check llama.json 'j["text_bytes"] == "llama.cpp"'
  json_check by_hand.json 'j["text_bytes"] == "keep"'
  python3 -c 'import json, sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); sys.exit(0 if (a["text_tokens"], a["perplexity"]) == (b["text_tokens"], b["perplexity"]) else 1)' \
    llama.json by_hand.json || fail "llama.cpp's reading differs from U+FFFD written by hand"
  finish
  ;;
special_tokens_llama2c)
  # llama2.c's tokenizer never reads special-token text (run.c matches no <s> in text), so
  # --special-tokens, in either mode, would change nothing there: every command that takes it
  # refuses it by name before any work. The same option on the same model converted to GGUF
  # (llama.cpp's SentencePiece tokenizer, which does match <s>) is accepted.
  need_data
  tinystories_slice slice.txt
  printf '[{"instruction": "Once upon a time", "input": "", "output": "a cat"}]' >one.json
  check_refused() {  # NAME ARGS...
    local name=$1
    shift
    expect_error "$name" 2 "$@"
    grep -q -- "--special-tokens would change nothing: the model's tokenizer is llama2.c's" "$name.err" ||
      fail "$name: message: $(cat "$name.err")"
    grep -q drawing "$name.err" && fail "$name: work began before the check"
  }
  for mode in plain parse; do
    check_refused "eval_$mode" eval "$stories" --text slice.txt --special-tokens "$mode"
    check_refused "generate_$mode" generate "$stories" --prompt "<s>Once" --steps 4 --special-tokens "$mode"
    check_refused "compare_$mode" compare "$stories" "$stories" --text slice.txt --special-tokens "$mode"
    check_refused "tasks_$mode" tasks "$stories" --instructions one.json --max-new-tokens 4 --special-tokens "$mode"
    check_refused "capture_$mode" capture "$stories" --calibration text:slice.txt --samples 2 --length 32 \
      --linear attn_q --weights-out W.npy --special-tokens "$mode"
    check_refused "prune_$mode" prune "$stories" p.bin --method wanda --sparsity 0.5 \
      --calibration text:slice.txt --samples 2 --length 32 --special-tokens "$mode"
  done
  ls -A | grep -Eq '^(W\.npy|p\.bin)$' && fail "a refused command wrote an output: $(ls -A)"
  # Left out, the commands run as before.
  run eval_default eval "$stories" --text slice.txt --max-windows 1 --json default.json
  [ "$status" -eq 0 ] || fail "eval without --special-tokens: exit status $status: $(cat eval_default.err)"
  # What the tokenizer does is recorded: special-token text read as ordinary text.
  json_check default.json 'j["special_tokens"] == "plain"'
  spm="$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf"
  run gguf_plain eval "$spm" --text slice.txt --max-windows 1 --special-tokens plain
  [ "$status" -eq 0 ] || fail "GGUF with --special-tokens plain: exit status $status: $(cat gguf_plain.err)"
  finish
  ;;
empty_values)
  # An empty value of an option or argument is refused before any work (exit 2), naming it;
  # an empty --prompt (generation from BOS) is the one empty value that means something.
  need_data
  tinystories_slice slice.txt
  small_layer
  check_empty() {  # NAME OPTION ARGS...
    local name=$1 option=$2
    shift 2
    expect_error "$name" 2 "$@"
    grep -qF -- "$option is given an empty value" "$name.err" || fail "$name: message: $(cat "$name.err")"
    if grep -q drawing "$name.err"; then fail "$name: work began before the check"; fi
  }
  check_empty eval_json --json eval "$stories" --text slice.txt --json ""
  check_empty compare_markdown --markdown compare "$stories" "$stories" --text slice.txt --markdown ""
  check_empty prune_report --report prune "$stories" p.bin --method magnitude --report ""
  check_empty prune_save --save-calibration prune "$stories" p.bin --calibration text:slice.txt --save-calibration ""
  check_empty capture_weights --weights-out capture "$stories" --calibration text:slice.txt --linear attn_q --weights-out ""
  check_empty convert_out OUT convert "$stories" ""
  check_empty prune_out OUT prune "$stories" "" --method magnitude
  check_empty eval_text --text eval "$stories" --text ""
  check_empty eval_tokenizer --tokenizer eval "$stories" --text slice.txt --tokenizer ""
  check_empty layer_out --out layer --weights W.npy --method magnitude --out ""
  check_empty layer_mask --mask-out layer --weights W.npy --method magnitude --out o.npy --mask-out ""
  check_empty info_model MODEL info ""
  "$prune_layer" --weights W.npy --method magnitude --out "" >pl.out 2>pl.err
  st=$?
  if [ $st -ne 2 ]; then fail "prune_layer --out '': exit status $st"; fi
  grep -q -- "--out is given an empty value" pl.err || fail "prune_layer --out '': message: $(cat pl.err)"
  if [ -e o.npy ] || [ -e p.bin ]; then fail "a refused command wrote its output"; fi
  run empty_prompt generate "$stories" --prompt "" --steps 4
  if [ "$status" -ne 0 ]; then fail "generate --prompt '': exit status $status: $(cat empty_prompt.err)"; fi
  finish
  ;;
escaped_names)
  # A file name holding control characters (a terminal escape sequence) is printed escaped in
  # every message that names it: stderr and stdout hold no raw control byte.
  need_data
  tinystories_slice slice.txt
  bad=$(printf 'a\033[31mred\007.bin')
  expect_error escape_missing 2 info "$bad"
  grep -qF 'a\x1b[31mred\x07.bin' escape_missing.err || fail "escape_missing: not escaped: $(cat -v escape_missing.err)"
  expect_error escape_json 2 eval "$stories" --text slice.txt --json "nodir/$bad"
  cp "$stories" "$bad"
  cp "$(dirname "$stories")/tok512.bin" .
  run escape_convert convert "$bad" "out$(printf '\033')x.bin"
  if [ "$status" -ne 0 ]; then fail "escape_convert: exit status $status: $(cat escape_convert.err)"; fi
  grep -qF 'wrote out\x1bx.bin' escape_convert.out || fail "escape_convert: stdout: $(cat -v escape_convert.out)"
  for f in escape_missing.err escape_json.err escape_convert.out escape_convert.err; do
    if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$f"; then fail "$f holds a raw control character: $(cat -v "$f")"; fi
  done
  finish
  ;;
info_escapes)
  # `info` prints a GGUF's tensor names with control characters escaped, as every message does:
  # a copy of the stories260K GGUF fixture with one extra F32 tensor named with a terminal
  # escape sequence and a bell.
  python3 -c 'import gguf, numpy' 2>/dev/null || skip "gguf/numpy missing"
  python3 - "$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf" <<'PY' || fail "could not write esc.gguf"
import sys
import numpy as np
import gguf
r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter("esc.gguf", str(r.fields["general.architecture"].contents()))
for name, f in r.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(name, f.contents(), f.types[0], sub)
for t in r.tensors:
    w.add_tensor(t.name, np.asarray(t.data))
w.add_tensor("evil\x1b[31mRED\x1b[0m\x07", np.zeros(4, np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
  run esc info esc.gguf
  [ "$status" -eq 0 ] || fail "esc: exit status $status: $(cat esc.err)"
  grep -qF 'evil\x1b[31mRED\x1b[0m\x07' esc.out || fail "esc: name not escaped: $(cat -v esc.out)"
  if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" esc.out; then fail "esc: raw control character: $(cat -v esc.out)"; fi
  finish
  ;;
non_finite_weights)
  # A NaN or infinity in a model's weights is named (tensor, position, file) before any
  # evaluation, and `info --sparsity` counts them. Hand-made: the tiny Hugging Face model with
  # model.layers.0.mlp.up_proj.weight[3, 2] = nan (pollard's blk.0.ffn_up, row 3, column 2) and,
  # in a second copy, model.norm.weight[0] = inf (output_norm).
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" nanlin "$tokenizer" 420 || fail "could not make nanlin"
  cp -r nanlin infnorm
  python3 - <<'PY' || fail "could not poison the weights"
import numpy as np
from safetensors.numpy import load_file, save_file
for folder, name, at, value in (("nanlin", "model.layers.0.mlp.up_proj.weight", (3, 2), np.nan),
                                ("infnorm", "model.norm.weight", (0,), np.inf)):
    t = load_file(folder + "/model.safetensors")
    t[name] = t[name].copy()
    t[name][at] = value
    save_file(t, folder + "/model.safetensors")
PY
  printf 'hello world, hello tokens, hello again\n' >t.txt
  expect_error nan_eval 1 eval nanlin --text t.txt --window 4
  grep -qF "nanlin: weight blk.0.ffn_up holds nan at (3, 2)" nan_eval.err || fail "nan_eval: message: $(cat nan_eval.err)"
  expect_error inf_generate 1 generate infnorm --prompt hello --steps 4
  grep -qF "infnorm: weight output_norm holds inf at (0, 0)" inf_generate.err || fail "inf_generate: message: $(cat inf_generate.err)"
  run nan_info info nanlin --sparsity
  [ "$status" -eq 0 ] || fail "nan_info: exit status $status: $(cat nan_info.err)"
  grep -qF "non-finite: blk.0.ffn_up holds 1 NaN or infinite values" nan_info.out || fail "nan_info: $(cat nan_info.out)"
  grep -qF "all tensors: 1 non-finite values (first: blk.0.ffn_up holds nan at (3, 2))" nan_info.out ||
    fail "nan_info: summary: $(cat nan_info.out)"
  finish
  ;;
foreign_models)
  # A file of another kind given as MODEL is named for what its first bytes show, with what
  # pollard reads instead, rather than parsed as a corrupt llama2.c header. The files are made
  # here: llama2.c export.py's version-1 header (uint32 0x616b3432 "ak42", int32 1, then the
  # params), a NumPy array, gzip data, stories260K's tokenizer and a lone model.safetensors.
  need_data
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  python3 -c '
import struct, sys
head = struct.pack("<Ii", 0x616b3432, 1) + struct.pack("<7i", 64, 172, 5, 8, 4, 512, 512) + b"\x01"
open("v1.bin", "wb").write(head.ljust(256, b"\0") + open(sys.argv[1], "rb").read()[28:])
import numpy; numpy.save("w.npy", numpy.ones((4, 4), numpy.float32))' "$stories" || fail "could not write the files"
  gzip -c "$stories" >gz.bin
  cp "$(dirname "$stories")/tok512.bin" tok512.bin
  python3 "$(dirname "$0")/make_hf_model.py" hf "$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json" 420 ||
    fail "could not make hf"
  mkdir lone && cp hf/model.safetensors lone/st.safetensors
  check_foreign() {  # NAME FILE TEXT
    expect_error "$1" 1 info "$2"
    grep -qF -- "$3" "$1.err" || fail "$1: message: $(cat "$1.err")"
    if grep -q "header" "$1.err"; then fail "$1: still read as a llama2.c header: $(cat "$1.err")"; fi
  }
  check_foreign v1 v1.bin "v1.bin is a llama2.c version-1 export (magic ak42): pollard reads only the legacy version-0 layout"
  check_foreign npy w.npy "w.npy is a NumPy .npy array, not a model (MODEL is a GGUF file, a llama2.c checkpoint"
  check_foreign gzip gz.bin "gz.bin is gzip-compressed data, not a model"
  check_foreign tokenizer tok512.bin "tok512.bin is a llama2.c tokenizer (512 tokens), not a model"
  # A GGUF or .npy cut short after its magic is that format truncated, not a text file (its
  # few bytes are all printable).
  printf 'GGUF' >cut4.gguf
  printf 'GGUF\003\001' >cut6.gguf
  for cut in cut4 cut6; do
    expect_error "$cut" 1 info "$cut.gguf"
    grep -qF "$cut.gguf: version needs 4 bytes but only" "$cut.err" || fail "$cut: message: $(cat "$cut.err")"
    if grep -q "text file" "$cut.err"; then fail "$cut: called a text file: $(cat "$cut.err")"; fi
  done
  printf '\223NUMPY' >cut.npy
  expect_error cut_npy 1 layer --weights cut.npy --out o.npy --method magnitude --sparsity 0.5
  if grep -q "text file" cut_npy.err; then fail "cut_npy: called a text file: $(cat cut_npy.err)"; fi
  grep -qF "cut.npy" cut_npy.err || fail "cut_npy: message: $(cat cut_npy.err)"
  expect_error lone 1 info lone/st.safetensors
  grep -qF "cannot open lone/config.json: No such file or directory (lone/st.safetensors is read as a Hugging Face model" lone.err ||
    fail "lone: message: $(cat lone.err)"
  finish
  ;;
messages)
  # Messages that say what is wrong and what to do.
  need_data
  tinystories_slice slice.txt
  prune_layer=${POLLARD_PRUNE_LAYER:-}
  [ -x "$prune_layer" ] || skip "prune_layer is not built"
  # Unexpected arguments in the order given.
  expect_error extras 2 info "$stories" first second third
  grep -q "The following arguments were not expected: first second third" extras.err || fail "extras: message: $(cat extras.err)"
  # --responses-only with a --length that cuts off every response.
  python3 -c 'import json; json.dump([{"instruction": "Tell a long story about a cat and a dog who play in the garden all day long", "input": "", "output": "The cat and the dog played."}] * 4, open("alpaca.json", "w"))'
  expect_error responses_cut 2 prune "$stories" a.bin --calibration alpaca:alpaca.json --responses-only --samples 2 --length 8
  grep -q -- "every response starts after the first 16 tokens drawn (--samples 2 x --length 8): no token is counted; give a larger --length" responses_cut.err ||
    fail "responses_cut: message: $(cat responses_cut.err)"
  if [ -e a.bin ]; then fail "responses_cut wrote a.bin"; fi
  # A Hessian with a negative diagonal (no XᵀX) is refused as not positive semidefinite, and
  # never damped by a negative value.
  python3 -c '
import numpy as np
np.save("W.npy", np.ones((2, 4), np.float32))
np.save("H.npy", -np.eye(4, dtype=np.float32))' || fail "could not write W.npy and H.npy"
  "$prune_layer" --weights W.npy --hessian H.npy --method sparsegpt --out o.npy >neg.out 2>neg.err
  st=$?
  if [ $st -ne 1 ]; then fail "negative Hessian: exit status $st"; fi
  grep -q "the 4x4 Hessian is not positive semidefinite: H(0, 0) = -1 < 0" neg.err || fail "negative Hessian: message: $(cat neg.err)"
  if grep -q "damping -" neg.err; then fail "a negative damping was used: $(cat neg.err)"; fi
  finish
  ;;
stdout_outputs)
  # An output that is the standard output (/dev/stdout, /proc/self/fd/1, '-', the file stdout
  # is redirected to, a pipe) is refused before any work (exit 2): a temporary renamed over it
  # would replace the lines printed before, or fail on a pipe after the work.
  need_data
  tinystories_slice slice.txt
  for target in /dev/stdout /proc/self/fd/1 - /dev/fd/1; do
    name=std_$(echo "$target" | tr -c 'a-z0-9\n' _)
    expect_error "$name" 2 eval "$stories" --text slice.txt --window 32 --max-windows 1 --json "$target"
    grep -q -- "is the standard input, output or error" "$name.err" || fail "$name: message: $(cat "$name.err")"
  done
  "$pollard" eval "$stories" --text slice.txt --window 32 --max-windows 1 --json redirected.txt >redirected.txt 2>redirect.err
  st=$?
  if [ $st -ne 2 ]; then fail "--json naming the file stdout goes to: exit status $st"; fi
  "$pollard" eval "$stories" --text slice.txt --window 32 --max-windows 1 --json /dev/stdout 2>pipe.err | cat >piped.txt
  st=${PIPESTATUS[0]}
  if [ "$st" -ne 2 ]; then fail "--json /dev/stdout into a pipe: exit status $st"; fi
  if grep -q perplexity piped.txt; then fail "--json /dev/stdout into a pipe: the work ran"; fi
  expect_error report_stdout 2 prune "$stories" p.bin --method magnitude --report /dev/stdout
  expect_error prune_out_stdout 2 prune "$stories" /dev/stdout --method magnitude
  # What is printed is part of the result: a standard output that cannot be written (a full
  # device) fails the run, saying so with the reason, for every command's output (printed at the
  # end or as it is made: generated text, prune's line per linear), for --help and for
  # --version alike, of pollard, of each command and of the other tools; the reason is named
  # also when the output outgrew the stream's buffer and failed inside a write (prune --help).
  if [ -w /dev/full ]; then
    printf '[{"instruction": "Say hi.", "input": "", "output": "Hi."}]' >one.json
    small_layer
    run full_24 prune "$stories" full_24.bin --method magnitude --n-m 2:4 --quiet
    for words in "info $stories" "info $stories --sparsity" \
                 "eval $stories --text slice.txt --window 32 --max-windows 1" \
                 "compare $stories $stories --text slice.txt --window 32 --max-windows 1" \
                 "generate $stories --steps 4" "generate $stories --steps 4 --llama2c-bytes" \
                 "tasks $stories --instructions one.json --max-new-tokens 2" \
                 "prune $stories full_p.bin --method magnitude" "convert $stories full_c.bin" \
                 "export full_24.bin full_e.safetensors" \
                 "capture $stories --calibration text:slice.txt --samples 1 --length 16 --block 0 --linear attn_q --weights-out full_w.npy" \
                 "layer --weights W.npy --method magnitude --sparsity 0.5 --out full_o.npy" \
                 "--help" "help" "eval --help" "prune --help" "--version" "eval --version" "prune --version" \
                 "layer --version"; do
      # shellcheck disable=SC2086
      "$pollard" $words >/dev/full 2>full.err
      st=$?
      [ $st -eq 1 ] || fail "'$words' into /dev/full: exit status $st"
      tail -n 1 full.err | grep -Eq "^pollard: error: cannot write the standard output: No space left on device$" ||
        fail "'$words' into /dev/full: message: $(cat full.err)"
    done
    for tool in prune_layer make_layer_example; do
      for words in --help --version; do
        "$(dirname "$prune_layer")/$tool" $words >/dev/full 2>full.err
        st=$?
        [ $st -eq 1 ] || fail "'$tool $words' into /dev/full: exit status $st"
        grep -Eq "^$tool: cannot write the standard output: No space left on device$" full.err ||
          fail "'$tool $words' into /dev/full: message: $(cat full.err)"
      done
    done
  fi
  finish
  ;;
prune_mid_run_failure)
  # A failure in the middle of a run (block 1's ffn_down set to ±3e38, so its scores or block 2's
  # inputs overflow) names the block and linear or input, exits 1 and writes nothing: an
  # existing output stays as it was and no temporary file is left.
  need_data
  tinystories_slice slice.txt
  cp "$data/models/stories260K/tok512.bin" tok512.bin
  python3 - "$stories" overflowing.bin <<'PY' || fail "could not write overflowing.bin"
import array, struct, sys
raw = open(sys.argv[1], "rb").read()
dim, hidden, layers, heads, kv_heads, vocab, _ = struct.unpack("7i", raw[:28])
kv = dim * kv_heads // heads
w = array.array("f")
w.frombytes(raw[28:])
# llama2.c order: embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2 (layer, dim x hidden), ...
w2 = abs(vocab) * dim + layers * dim + 2 * layers * dim * dim + 2 * layers * dim * kv \
    + layers * dim + layers * hidden * dim
for j in range(dim * hidden):
    w[w2 + dim * hidden + j] = 3e38 if w[w2 + dim * hidden + j] >= 0 else -3e38
open(sys.argv[2], "wb").write(raw[:28] + w.tobytes())
PY
  printf 'kept\n' >out.bin
  for method in sparsegpt wanda; do
    expect_error "mid_$method" 1 prune overflowing.bin out.bin --method "$method" --sparsity 0.5 \
      --calibration text:slice.txt --samples 2 --length 32 --tokenizer tok512.bin --quiet
    # SparseGPT's scores w²/[U⁻¹]ᵢᵢ² overflow in block 1 already; Wanda's prune block 1 and fail
    # on block 2's input.
    want="error: block 2: input attn_in: the calibration activations reaching it are not finite"
    [ "$method" = sparsegpt ] && want="error: block 1, linear blk.1.ffn_down: sparsegpt: non-finite score"
    grep -q "$want" "mid_$method.err" || fail "mid_$method: message: $(cat "mid_$method.err")"
    [ "$(cat out.bin)" = kept ] || fail "mid_$method: the existing output was changed"
    leftovers=$(ls -A | grep -v -x -e slice.txt -e tok512.bin -e overflowing.bin -e out.bin \
      -e "mid_$method.out" -e "mid_$method.err" -e "mid_sparsegpt.out" -e "mid_sparsegpt.err")
    [ -z "$leftovers" ] || fail "mid_$method: files left behind: $leftovers"
  done
  finish
  ;;
sampling_ranges)
  # Sampling settings out of the range the float sampler holds are refused up front (exit
  # status 2) naming the option, never reaching the sampler's internal checks.
  for args in "--temperature 1e308" "--temperature 1e-300" "--top-p 1e-300" "--top-p 0" \
    "--repeat-penalty 1e-300" "--repeat-penalty 1e300"; do
    option=${args%% *}
    name=range_$(echo "$args" | tr -c 'a-z0-9\n' _)
    # shellcheck disable=SC2086
    expect_error "$name" 2 generate does-not-exist.bin $args
    grep -q -- "^pollard: error: $option: must be " "$name.err" || fail "$name: message: $(cat "$name.err")"
    if grep -q "sampler" "$name.err"; then fail "$name: an internal name leaks: $(cat "$name.err")"; fi
  done
  if [ -n "$data" ] && [ -f "$stories" ]; then
    for args in "--temperature 1e6 --top-p 1e-6 --repeat-penalty 1e6" "--temperature 1e-6 --repeat-penalty 1e-6"; do
      # shellcheck disable=SC2086
      run edge generate "$stories" --steps 8 $args --seed 1
      [ "$status" -eq 0 ] || fail "generate $args (at the ends of the ranges): exit status $status: $(cat edge.err)"
    done
  fi
  finish
  ;;
model_file_values)
  # A value of a GGUF's metadata out of its domain is refused naming the file and the key as the
  # file spells it, never pollard's internal names (config_keys does the same for config.json);
  # a block count larger than the file's tensors can hold is refused by name before anything is
  # sized by it.
  python3 -c 'import gguf, numpy, safetensors' 2>/dev/null || skip "gguf/numpy/safetensors missing"
  fixture="$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf"
  gguf_with() {  # OUT KEY TYPE VALUE: a copy of stories260K.gguf with KEY set to VALUE
    python3 - "$fixture" "$@" <<'PY' || fail "could not write $1"
import sys
import numpy as np
import gguf
src, out, key, kind, value = sys.argv[1:6]
r = gguf.GGUFReader(src)
w = gguf.GGUFWriter(out, str(r.fields["general.architecture"].contents()))
for name, f in r.fields.items():
    if name.startswith("GGUF.") or name in ("general.architecture", key):
        continue
    sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(name, f.contents(), f.types[0], sub)
types = {"f32": gguf.GGUFValueType.FLOAT32, "u64": gguf.GGUFValueType.UINT64}
w.add_key_value(key, float(value) if kind == "f32" else int(value), types[kind])
for t in r.tensors:
    w.add_tensor(t.name, np.asarray(t.data))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
  }
  internal='(^|[^a-z_.])(llama_config|rms_norm_eps|rope_theta|n_kv_heads|n_heads|dim|hidden_dim|n_layers|seq_len)([^a-z_]|$)'
  check_gguf() {  # NAME KEY TYPE VALUE WANTED
    gguf_with "$1.gguf" "$2" "$3" "$4"
    for c in info generate; do
      expect_error "$1_$c" 1 "$c" "$1.gguf"
      grep -qF -- "$1.gguf: $5" "$1_$c.err" || fail "$1_$c: message: $(cat "$1_$c.err")"
      if grep -Eq "$internal" "$1_$c.err"; then fail "$1_$c: an internal name leaks: $(cat "$1_$c.err")"; fi
    done
  }
  check_gguf eps_nan llama.attention.layer_norm_rms_epsilon f32 nan \
    "llama.attention.layer_norm_rms_epsilon must be a positive finite number, got nan"
  check_gguf freq_base llama.rope.freq_base f32 -5 "llama.rope.freq_base must be a positive finite number, got -5"
  check_gguf freq_base_inf llama.rope.freq_base f32 inf "llama.rope.freq_base must be a positive finite number, got inf"
  check_gguf context llama.context_length u64 0 "llama.context_length must be positive, got 0"
  check_gguf ffn llama.feed_forward_length u64 1099511627776 \
    "tensor 'blk.0.ffn_gate.weight' has dimensions [64, 172] but the metadata (llama.embedding_length, llama.feed_forward_length, llama.attention.head_count, llama.attention.head_count_kv) implies [64, 1099511627776]"
  check_gguf blocks llama.block_count u64 1099511627776 \
    "llama.block_count 1099511627776 needs 9 tensors per block, and the file holds 48 tensors"
  finish
  ;;
layer_values)
  # `layer` refuses an empty W, and prints the requested sparsity as given, not rounded.
  small_layer
  python3 -c 'import numpy' 2>/dev/null || skip "numpy missing"
  python3 -c 'import numpy as np; np.save("empty_rows.npy", np.zeros((0, 8), np.float32)); np.save("empty_cols.npy", np.zeros((4, 0), np.float32))'
  for w in empty_rows empty_cols; do
    expect_error "$w" 1 layer --weights "$w.npy" --method magnitude --out o.npy
    grep -qF -- "--weights $w.npy is $( [ $w = empty_rows ] && echo 0x8 || echo 4x0 ): it holds no weights to prune" "$w.err" ||
      fail "$w: message: $(cat "$w.err")"
    [ ! -e o.npy ] || fail "$w: wrote o.npy"
  done
  for s in 0.99999999999 0.1 0.30000000000000004; do
    run "sparsity_$s" layer --weights W.npy --method magnitude --sparsity "$s" --out "o_$s.npy"
    [ "$status" -eq 0 ] || fail "sparsity $s: exit status $status: $(cat "sparsity_$s.err")"
    expect_line "sparsity_$s" "^prune_layer: magnitude, unstructured per matrix, target sparsity ${s//./\\.}$"
  done
  # A NaN or infinity in an input is named with its option and file, for each input.
  python3 -c '
import numpy as np
W = np.load("W.npy"); W[1, 2] = np.nan; np.save("W_nan.npy", W)
X = np.load("X.npy"); X[3, 5] = np.inf; np.save("X_inf.npy", X)
H = np.load("H.npy"); H[0, 0] = -np.inf; np.save("H_inf.npy", H)'
  expect_error nan_w 1 layer --weights W_nan.npy --activations X.npy --method wanda --out o.npy
  expect_message nan_w "--weights W_nan.npy: non-finite value at (1, 2) = nan"
  expect_error inf_x 1 layer --weights W.npy --activations X_inf.npy --method wanda --out o.npy
  expect_message inf_x "--activations X_inf.npy: non-finite value at (3, 5) = inf"
  expect_error inf_h 1 layer --weights W.npy --hessian H_inf.npy --method sparsegpt --out o.npy
  expect_message inf_h "--hessian H_inf.npy: non-finite value at (0, 0) = -inf"
  [ ! -e o.npy ] || fail "a non-finite input wrote o.npy"
  finish
  ;;
special_inputs)
  # Every input of every command is checked before it is opened: a FIFO (whose open would wait
  # for a writer), a device (/dev/zero never ends), a folder where a file is read, or a missing
  # file is refused at once as a command-line mistake (exit 2) naming the option and the path.
  need_data
  small_layer
  mkfifo fifo || skip "mkfifo failed"
  tinystories_slice text.txt
  # refused NAME WANTED ARGS...: exit status 2 within the time limit (124: it blocked), one
  # error line holding WANTED.
  refused() {
    local name=$1 want=$2
    shift 2
    timeout 60 "$pollard" "$@" >"$name.out" 2>"$name.err"
    local st=$?
    if [ $st -ne 2 ]; then fail "$name: exit status $st, expected 2 (124: it blocked)"; fi
    if [ "$(wc -l <"$name.err")" -ne 1 ]; then fail "$name: not one line on stderr: $(cat "$name.err")"; fi
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
  }
  fifo_says="fifo is a FIFO (named pipe), not a regular file"
  refused info_fifo "MODEL $fifo_says" info fifo
  refused info_zero "MODEL /dev/zero is a character device, not a regular file" info /dev/zero
  refused convert_fifo "MODEL $fifo_says" convert fifo copy.bin
  refused export_fifo "MODEL $fifo_says" export fifo e.safetensors
  refused layer_fifo "--weights $fifo_says" layer --weights fifo --method magnitude --out o.npy
  refused layer_zero "--weights /dev/zero is a character device" layer --weights /dev/zero --method magnitude --out o.npy
  refused layer_activations "--activations $fifo_says" layer --weights W.npy --activations fifo --method wanda --out o.npy
  refused layer_hessian "--hessian $fifo_says" layer --weights W.npy --hessian fifo --method sparsegpt --out o.npy
  refused allocation_fifo "--allocation $fifo_says" prune "$stories" p.bin --method magnitude --allocation fifo
  refused allocation_zero "--allocation /dev/zero is a character device" prune "$stories" p.bin --method magnitude --allocation /dev/zero
  refused selfgen_cache "--selfgen-cache $fifo_says" prune "$stories" p.bin --method wanda \
    --calibration selfgen:text.txt --selfgen-cache fifo --samples 1 --length 8
  refused calibration_fifo "--calibration $fifo_says" prune "$stories" p.bin --method wanda --calibration text:fifo
  refused calibration_folder "--calibration . is a folder: name a file" prune "$stories" p.bin --method wanda --calibration text:.
  refused capture_fifo "--calibration $fifo_says" capture "$stories" --calibration c4:fifo --block 0 --linear attn_q --weights-out w.npy
  refused tokenizer_fifo "--tokenizer $fifo_says" generate "$stories" --tokenizer fifo --steps 2
  refused eval_text_fifo "--text $fifo_says" eval "$stories" --text fifo
  refused compare_text_fifo "--text $fifo_says" compare "$stories" "$stories" --text fifo
  refused instructions_fifo "--instructions $fifo_says" tasks "$stories" --instructions fifo
  mkdir -p tasks/arc && mkfifo tasks/arc/ARC-Easy-Test.jsonl
  refused task_file_fifo "the task file tasks/arc/ARC-Easy-Test.jsonl is a FIFO" tasks "$stories" --suite arc_easy --tasks-dir tasks
  refused tasks_dir_file "--tasks-dir text.txt is not a folder" tasks "$stories" --suite arc_easy --tasks-dir text.txt
  # Only the chosen tasks' files are looked at: a dangling link or a FIFO elsewhere in the folder
  # blocks nothing, and a missing file of a chosen task is named.
  mkdir -p tasks/boolq && head -n 3 "$data/tasks/boolq/val.jsonl" >tasks/boolq/val.jsonl
  ln -s /nonexistent tasks/junk
  run tasks_other_files tasks "$stories" --suite boolq --tasks-dir tasks
  [ "$status" -eq 0 ] || fail "tasks_other_files: exit status $status: $(cat tasks_other_files.err)"
  refused task_file_missing "cannot read the task file tasks/piqa/valid.jsonl: No such file or directory" \
    tasks "$stories" --suite boolq,piqa --tasks-dir tasks
  # The llama2.c tokenizer found beside a checkpoint is an input too.
  mkdir -p beside && cp "$stories" beside/model.bin && mkfifo beside/tok512.bin
  refused tokenizer_beside "the tokenizer beside MODEL, beside/tok512.bin is a FIFO" generate beside/model.bin --steps 2
  # A missing input: the system's reason, exit 2.
  refused missing_model "cannot read MODEL missing.bin: No such file or directory" info missing.bin
  refused missing_weights "cannot read --weights missing.npy: No such file or directory" layer --weights missing.npy --method magnitude --out o.npy
  # The files of a Hugging Face folder are inputs too.
  if python3 -c 'import numpy, safetensors' 2>/dev/null; then
    tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
    python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
    rm hf/tokenizer.json && mkfifo hf/tokenizer.json
    refused hf_tokenizer_fifo "MODEL's hf/tokenizer.json is a FIFO (named pipe)" generate hf --steps 2
    refused hf_convert_fifo "MODEL's hf/tokenizer.json is a FIFO (named pipe)" convert hf hf_copy
  fi
  ls p.bin o.npy copy.bin e.safetensors w.npy 2>/dev/null && fail "a refused command wrote an output"
  finish
  ;;
output_extensions)
  # Every output option of every command is checked both ways: a name whose extension promises
  # another format than the one written (a GGUF in o.bin, safetensors in e.gguf, NumPy in
  # w.gguf, JSON in r.npy) is a command-line mistake found before any work (exit 2) naming the
  # option, the path and the format written; nothing is written.
  need_data
  small_layer
  tinystories_slice text.txt
  gguf="$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf"
  # mismatch NAME WANTED ARGS...: refused, the message holding WANTED.
  mismatch() {
    local name=$1 want=$2
    shift 2
    expect_error "$name" 2 "$@"
    grep -qF -- "$want" "$name.err" || fail "$name: the message does not say '$want': $(cat "$name.err")"
  }
  promise="give a name that does not promise another format"
  mismatch prune_gguf_as_bin "OUT o.bin ends in .bin, but it is written in MODEL's format: GGUF; $promise" \
    prune "$gguf" o.bin --method magnitude
  mismatch convert_gguf_as_bin "OUT o.bin ends in .bin, but it is written in MODEL's format: GGUF" convert "$gguf" o.bin
  mismatch convert_gguf_as_npy "OUT o.npy ends in .npy, but it is written in MODEL's format: GGUF" convert "$gguf" o.npy
  mismatch convert_llama2c_as_json "OUT o.json ends in .json, but it is written in MODEL's format: llama2.c" convert "$stories" o.json
  mismatch export_as_gguf "OUT e.gguf ends in .gguf, but it is written in safetensors" export "$stories" e.gguf
  mismatch layer_out_gguf "--out w.gguf ends in .gguf, but it is written in NumPy .npy" \
    layer --weights W.npy --method magnitude --out w.gguf
  mismatch layer_mask_json "--mask-out m.json ends in .json, but it is written in NumPy .npy" \
    layer --weights W.npy --method magnitude --out w.npy --mask-out m.json
  "$prune_layer" --weights W.npy --method magnitude --out w.safetensors >pl.out 2>pl.err
  st=$?
  [ $st -eq 2 ] || fail "prune_layer --out w.safetensors: exit status $st"
  grep -qF -- "--out w.safetensors ends in .safetensors, but it is written in NumPy .npy" pl.err ||
    fail "prune_layer: message: $(cat pl.err)"
  for option in --weights-out --activations-out --hessian-out; do
    mismatch "capture$option" "$option c.safetensors ends in .safetensors, but it is written in NumPy .npy" \
      capture "$stories" --calibration text:text.txt --block 0 --linear attn_q "$option" c.safetensors
  done
  mismatch eval_json_npy "--json r.npy ends in .npy, but it is written in JSON" eval "$stories" --text text.txt --json r.npy
  mismatch compare_json_md "--json r.md ends in .md, but it is written in JSON" \
    compare "$stories" "$stories" --text text.txt --json r.md
  mismatch compare_markdown_json "--markdown r.json ends in .json, but it is written in Markdown" \
    compare "$stories" "$stories" --text text.txt --markdown r.json
  mismatch tasks_json_bin "--json r.bin ends in .bin, but it is written in JSON" \
    tasks "$stories" --instructions text.txt --json r.bin
  mismatch prune_report_npy "--report r.npy ends in .npy, but it is written in JSON" \
    prune "$stories" p.bin --method magnitude --report r.npy
  mismatch prune_calibration_gguf "--save-calibration c.gguf ends in .gguf, but it is written in JSON" \
    prune "$stories" p.bin --method wanda --calibration text:text.txt --save-calibration c.gguf
  mismatch prune_selfgen_npy "--selfgen-cache s.npy ends in .npy, but it is written in JSON lines" \
    prune "$stories" p.bin --method wanda --calibration selfgen:text.txt --selfgen-cache s.npy
  ls o.bin o.npy o.json e.gguf w.gguf w.npy m.json w.safetensors c.safetensors r.* p.bin c.gguf s.npy 2>/dev/null &&
    fail "a refused command wrote an output"
  # Positive controls: the format's own extension (in any case), and a name without a known one.
  run eval_json_upper eval "$stories" --text text.txt --window 32 --max-windows 1 --json r.JSON
  [ "$status" -eq 0 ] && [ -s r.JSON ] || fail "eval --json r.JSON: exit status $status: $(cat eval_json_upper.err)"
  run layer_plain layer --weights W.npy --method magnitude --out pruned_weights --mask-out mask.NPY
  [ "$status" -eq 0 ] && [ -s pruned_weights ] || fail "layer --out pruned_weights: exit status $status: $(cat layer_plain.err)"
  run convert_gguf convert "$gguf" copy.gguf
  [ "$status" -eq 0 ] || fail "convert to copy.gguf: exit status $status: $(cat convert_gguf.err)"
  finish
  ;;
hf_companions)
  # A Hugging Face copy (convert, prune) carries every regular file of the model's folder that
  # pollard does not write itself, byte for byte (a link's content, not the link), and lists
  # each in .pollard-written; weights in other files (shards, their index, PyTorch, ONNX...) and
  # folders are not copied and are named on stderr; a file an earlier copy carried that the new
  # model's folder lacks is removed; no output may be one of the files carried or the files the
  # copy replaces; a dangling link is refused, and so is a file over 1 GiB, naming it.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}\n' >hf/chat_template.jinja
  printf '{"<extra>": 420}\n' >hf/added_tokens.json
  printf '{"a": 0, "b": 1}\n' >hf/vocab.json
  printf '#version: 0.2\na b\n' >hf/merges.txt
  printf '# A model card\n' >hf/README.md
  printf 'Apache License 2.0\n' >hf/LICENSE
  printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' >hf/.gitattributes
  printf '{"do_sample": true, "temperature": 0.6}\n' >hf/generation_config.json
  printf 'kept outside the folder\n' >elsewhere.txt && ln -s ../elsewhere.txt hf/notes.txt
  printf 'dense weights\n' >hf/pytorch_model.bin
  cp hf/model.safetensors hf/model-00001-of-00002.safetensors
  printf '{"weight_map": {}}\n' >hf/model.safetensors.index.json
  mkdir hf/onnx && printf 'onnx\n' >hf/onnx/model.onnx
  carried=".gitattributes LICENSE README.md added_tokens.json chat_template.jinja generation_config.json merges.txt notes.txt tokenizer.json tokenizer_config.json vocab.json"
  (cd hf && find . -type f | sort | xargs md5sum) >hf.md5
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    run "${c}_copy" "$c" hf "${c}_out" "${extra[@]}"
    [ "$status" -eq 0 ] || { fail "$c hf ${c}_out: exit status $status"; cat "${c}_copy.err"; }
    for f in $carried; do
      cmp -s "hf/$f" "${c}_out/$f" || fail "$c: ${c}_out/$f is not a byte copy of hf/$f"
      [ -L "${c}_out/$f" ] && fail "$c: ${c}_out/$f is a link, not a copy"
    done
    for f in pytorch_model.bin model-00001-of-00002.safetensors model.safetensors.index.json onnx; do
      [ -e "${c}_out/$f" ] && fail "$c copied $f beside the model it wrote"
      grep -q "^pollard: warning: MODEL's folder hf holds .*, not copied to OUT ${c}_out.*: .*$f" "${c}_copy.err" ||
        fail "$c does not name $f on stderr: $(cat "${c}_copy.err")"
    done
    # The list names every file of the folder but itself, and only them: the carried ones and
    # the two pollard writes.
    (cd "${c}_out" && ls -A | grep -vx '.pollard-written' | LC_ALL=C sort) >"${c}_files"
    LC_ALL=C sort "${c}_out/.pollard-written" | cmp -s - "${c}_files" ||
      fail "$c: .pollard-written does not list the folder's files: $(cat "${c}_out/.pollard-written")"
    printf '%s\n' $carried model.safetensors config.json | LC_ALL=C sort | cmp -s - "${c}_files" ||
      fail "$c: ${c}_out holds $(tr '\n' ' ' <"${c}_files")"
  done
  (cd hf && find . -type f | sort | xargs md5sum) | cmp -s - hf.md5 || fail "the model's folder changed"
  # A copy of a copy: the earlier copy's .pollard-written is not carried, the new one lists the
  # same files.
  run chain convert convert_out chain_out
  [ "$status" -eq 0 ] || fail "convert convert_out chain_out: exit status $status: $(cat chain.err)"
  LC_ALL=C sort chain_out/.pollard-written | cmp -s - convert_files || fail "chain_out lists $(cat chain_out/.pollard-written)"
  # A model read from another .safetensors file of its folder: that file is the model, the
  # folder's model.safetensors is weights not copied, and named.
  run shard convert hf/model-00001-of-00002.safetensors shard_out
  [ "$status" -eq 0 ] || fail "convert of a .safetensors file: exit status $status: $(cat shard.err)"
  grep -q "not copied to OUT shard_out .*: model.safetensors, model.safetensors.index.json, pytorch_model.bin$" shard.err ||
    fail "shard: warning: $(cat shard.err)"
  cmp -s hf/README.md shard_out/README.md || fail "shard_out lacks README.md"
  # Commands that write no copy say nothing about the folder's other files.
  run info_hf info hf
  [ "$status" -eq 0 ] || fail "info hf: exit status $status: $(cat info_hf.err)"
  grep -q warning info_hf.err && fail "info warns about a folder it does not copy: $(cat info_hf.err)"
  # A new model whose folder lacks README.md, notes.txt and chat_template.jinja: the copies an
  # earlier run carried are removed, the list names what is there.
  mkdir less && cp hf/model.safetensors hf/config.json hf/tokenizer.json hf/LICENSE less/
  run less convert less convert_out
  [ "$status" -eq 0 ] || fail "convert less convert_out: exit status $status: $(cat less.err)"
  for f in README.md notes.txt chat_template.jinja vocab.json; do
    [ -e "convert_out/$f" ] && fail "a stale convert_out/$f was left"
    grep -qx "$f" convert_out/.pollard-written && fail "convert_out/.pollard-written still names $f"
  done
  cmp -s hf/LICENSE convert_out/LICENSE || fail "convert_out/LICENSE is not the new model's"
  # An output may not be a file the copy reads: --report naming the model's added_tokens.json.
  cp hf/README.md readme.before
  cp hf/added_tokens.json added_tokens.before
  expect_error report_on_companion 2 prune hf hfo --method magnitude --report hf/added_tokens.json
  grep -qF -- "--report hf/added_tokens.json is the same file as MODEL's hf/added_tokens.json" report_on_companion.err ||
    fail "report_on_companion: message: $(cat report_on_companion.err)"
  cmp -s hf/added_tokens.json added_tokens.before || fail "a refused prune replaced hf/added_tokens.json"
  [ -e hfo ] && fail "a refused prune made hfo"
  # Nor may a file the copy replaces be one it reads (a link in OUT to the model's file).
  rm prune_out/README.md && ln -s ../hf/README.md prune_out/README.md
  expect_error out_link_to_input 2 prune hf prune_out --method magnitude
  grep -qF "OUT prune_out holds README.md, which pollard did not write there" out_link_to_input.err ||
    fail "out_link_to_input: message: $(cat out_link_to_input.err)"
  cmp -s hf/README.md readme.before || fail "a refused prune replaced hf/README.md through a link"
  # A dangling link in the folder cannot be carried: refused, naming it.
  mkdir dangling && cp hf/model.safetensors hf/config.json dangling/ && ln -s missing.txt dangling/card.txt
  expect_error dangling_link 2 convert dangling dangling_out
  grep -qF "cannot read MODEL's dangling/card.txt" dangling_link.err ||
    fail "dangling_link: message: $(cat dangling_link.err)"
  # A file over 1 GiB (sparse: no disk used) is refused before any work, naming it.
  mkdir big && cp hf/model.safetensors hf/config.json big/ && truncate -s 1073741825 big/huge.txt
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    expect_error "${c}_huge" 1 "$c" big big_out "${extra[@]}"
    grep -qF "holds huge.txt of 1073741825 bytes" "${c}_huge.err" || fail "${c}_huge: message: $(cat "${c}_huge.err")"
    [ -e big_out ] && fail "$c made big_out"
  done
  run convert_help convert --help
  grep -q "every other file of MODEL's folder" convert_help.out || fail "convert --help does not say what a copy holds"
  finish
  ;;
hf_inv_freq)
  # rotary_emb.inv_freq buffers (saved by transformers before 4.31) are read when they hold the
  # frequencies config.json implies, and a Hugging Face copy (convert, prune) keeps them with
  # their dtype, shape and bytes, as it keeps a tied lm_head.weight; one config.json does not
  # imply is refused by every command, naming it.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  # with_inv_freq FOLDER SCALE [SHAPE]: hf's weights with lm_head.weight (the embedding) and
  # inv_freq buffers, F32 per layer and F16 shared, of theta 10000 and head size 4 (pair 1 times
  # SCALE), in FOLDER.
  with_inv_freq() {
    rm -rf "$1" && cp -r hf "$1"
    python3 - "$1" "$2" "${3:-2}" <<'PY' || fail "could not write $1"
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
folder, scale, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
t = load_file(folder + "/model.safetensors")
t["lm_head.weight"] = t["model.embed_tokens.weight"].copy()
inv = (1.0 / (10000.0 ** (np.arange(0, 2 * size, 2, dtype=np.float32) / 4))).astype(np.float32)
inv[1] *= scale
t["model.layers.0.self_attn.rotary_emb.inv_freq"] = inv
t["model.rotary_emb.inv_freq"] = inv.astype(np.float16)
save_file(t, folder + "/model.safetensors", metadata={"format": "pt"})
PY
  }
  with_inv_freq rope 1
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    run "${c}_rope" "$c" rope "${c}_out" "${extra[@]}"
    [ "$status" -eq 0 ] || { fail "$c rope ${c}_out: exit status $status"; cat "${c}_rope.err"; }
    # Each file's header and bytes read here, not through pollard; safetensors reads the copy.
    python3 - rope/model.safetensors "${c}_out/model.safetensors" <<'PY' || fail "$c did not keep the buffers"
import json, struct, sys
import numpy as np
from safetensors.numpy import load_file
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
ok = True
for name in ("model.layers.0.self_attn.rotary_emb.inv_freq", "model.rotary_emb.inv_freq"):
    if b.get(name) != a[name]:
        print(name, "differs:", a[name], b.get(name))
        ok = False
if set(a) != set(b):
    print("tensors differ:", sorted(set(a) ^ set(b)))
    ok = False
copy = load_file(sys.argv[2])
if not np.array_equal(copy["lm_head.weight"], copy["model.embed_tokens.weight"]):
    print("lm_head.weight is not the embedding")
    ok = False
sys.exit(0 if ok else 1)
PY
    run "${c}_info" info "${c}_out"
    [ "$status" -eq 0 ] || fail "info ${c}_out: exit status $status: $(cat "${c}_info.err")"
  done
  # Frequencies config.json does not imply, or a buffer of another shape: refused by name.
  with_inv_freq off 1.5
  with_inv_freq long 1 3
  for c in info convert prune; do
    extra=()
    [ "$c" = convert ] && extra=(off_out)
    [ "$c" = prune ] && extra=(off_out --method magnitude)
    expect_error "${c}_off" 1 "$c" off "${extra[@]}"
    grep -qF "tensor 'model.layers.0.self_attn.rotary_emb.inv_freq' holds 0.0149999997 for rotary pair 1 where config.json implies 0.00999999978" "${c}_off.err" ||
      fail "${c}_off: message: $(cat "${c}_off.err")"
    [ -e off_out ] && fail "$c wrote off_out"
  done
  expect_error info_long 1 info long
  grep -qF "tensor 'model.layers.0.self_attn.rotary_emb.inv_freq' has shape [3] where a head of 4" info_long.err ||
    fail "info_long: message: $(cat info_long.err)"
  finish
  ;;
hf_output_ownership)
  # Only a folder pollard wrote is replaced as a Hugging Face OUT: one that merely looks like a
  # model (config.json and model.safetensors, a copy of pollard's files without its list of
  # them) is refused (exit 2) naming the folder and the files pollard did not write, and nothing
  # in it changes. An output of the same command inside the OUT folder is refused too: the next
  # run would find a file there that pollard did not write as part of the model.
  need_data
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  # The user's folder: a model of its own and a tokenizer.json of its own.
  mkdir user && cp hf/config.json hf/model.safetensors user/ && printf '{"mine": true}\n' >user/tokenizer.json
  (cd user && md5sum config.json model.safetensors tokenizer.json) >user.md5
  for c in convert prune; do
    extra=()
    [ "$c" = prune ] && extra=(--method magnitude)
    expect_error "${c}_user_folder" 2 "$c" hf user "${extra[@]}"
    grep -q "OUT user holds config.json (and 2 more), which pollard did not write there" "${c}_user_folder.err" ||
      fail "${c}_user_folder: message: $(cat "${c}_user_folder.err")"
    (cd user && md5sum -c --quiet ../user.md5) || fail "$c changed the user's folder"
  done
  # A folder pollard wrote is replaced; a copy of its files (without pollard's list) is not.
  run first convert hf out
  [ "$status" -eq 0 ] || fail "convert hf out: exit status $status: $(cat first.err)"
  run again prune hf out --method magnitude
  [ "$status" -eq 0 ] || fail "prune hf out (a folder pollard wrote): exit status $status: $(cat again.err)"
  mkdir copied && cp out/* copied/
  expect_error copied_folder 2 convert hf copied
  grep -q "OUT copied holds config.json (and .* more), which pollard did not write there" copied_folder.err ||
    fail "copied_folder: message: $(cat copied_folder.err)"
  # An output inside OUT's folder.
  expect_error report_inside 2 prune hf hfo --method magnitude --report hfo/report.json
  grep -qF -- "--report hfo/report.json is inside OUT hfo, the Hugging Face folder this command writes" report_inside.err ||
    fail "report_inside: message: $(cat report_inside.err)"
  [ -e hfo ] && fail "a refused prune made hfo"
  expect_error report_inside_existing 2 prune hf out --method magnitude --report ./out/report.json
  run report_beside prune hf hfo --method magnitude --report report.json
  [ "$status" -eq 0 ] || fail "prune with --report beside OUT: exit status $status: $(cat report_beside.err)"
  run report_beside_again prune hf hfo --method magnitude --report report.json
  [ "$status" -eq 0 ] || fail "the same prune again: exit status $status: $(cat report_beside_again.err)"
  # A link put into a folder pollard wrote, even under a name its list holds, is not pollard's:
  # writing the copy would write through it into another file. Refused, the target untouched.
  run linked convert hf linked
  [ "$status" -eq 0 ] || fail "convert hf linked: exit status $status: $(cat linked.err)"
  printf 'victim\n' >victim.txt
  k=0
  for entry in config.json .pollard-written; do
    k=$((k + 1))
    cp -r linked "linked$k" && rm "linked$k/$entry" && ln -s ../victim.txt "linked$k/$entry"
    expect_error "link$k" 2 convert hf "linked$k"
    grep -qF "OUT linked$k holds $entry" "link$k.err" || fail "link$k: message: $(cat "link$k.err")"
    grep -qF "which pollard did not write there" "link$k.err" || fail "link$k: message: $(cat "link$k.err")"
    [ "$(cat victim.txt)" = victim ] || fail "convert wrote through the link $entry"
  done
  finish
  ;;
file_messages)
  # Every error about a file names the file: a GGUF key missing or of the wrong type, an empty
  # evaluation text, a broken model.safetensors (with its folder); a file name holding a newline
  # or a carriage return is shown escaped (\n, \r), never as a space; an empty --suite gets the
  # empty-value message every option gets.
  need_data
  gguf="$(dirname "$0")/../llm/fixtures/llama_cpp/stories260K.gguf"
  python3 - "$gguf" <<'PY' || fail "could not write the broken GGUFs"
import sys
data = open(sys.argv[1], "rb").read()
# Same-length renames keep the file well formed: a key goes missing (under another
# architecture's name, which is not read), or a key of another type takes a string key's name.
open("missing_key.gguf", "wb").write(data.replace(b"llama.block_count", b"xxxxx.block_count"))
swapped = data.replace(b"general.architecture", b"@@@@@@@@@@@@@@@@@@@@")
swapped = swapped.replace(b"llama.context_length", b"general.architecture")
open("typed_key.gguf", "wb").write(swapped.replace(b"@@@@@@@@@@@@@@@@@@@@", b"llama.context_length"))
PY
  for f in missing_key typed_key; do
    expect_error "$f" 1 info "$f.gguf"
    grep -q "$f\.gguf" "$f.err" || fail "$f: the message does not name the file: $(cat "$f.err")"
    expect_error "${f}_eval" 1 eval "$f.gguf" --text "$gguf"
    grep -q "$f\.gguf" "${f}_eval.err" || fail "${f}_eval: the message does not name the file: $(cat "${f}_eval.err")"
  done
  grep -q "llama.block_count" missing_key.err || fail "missing_key: the key is not named: $(cat missing_key.err)"
  : >empty.txt
  expect_error empty_text 1 eval "$stories" --text empty.txt
  grep -q "empty\.txt" empty_text.err || fail "empty_text: the message does not name the file: $(cat empty_text.err)"
  if python3 -c 'import numpy, safetensors' 2>/dev/null; then
    tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
    python3 "$(dirname "$0")/make_hf_model.py" broken_hf "$tokenizer" 420 || fail "could not make broken_hf"
    head -c 100 broken_hf/model.safetensors >cut && mv cut broken_hf/model.safetensors
    expect_error broken_safetensors 1 info broken_hf
    grep -q "broken_hf/model\.safetensors" broken_safetensors.err ||
      fail "broken_safetensors: the message does not name the folder's file: $(cat broken_safetensors.err)"
  fi
  # A newline or carriage return in a name is shown escaped, on one line.
  expect_error newline_name 2 info $'new\nline.bin'
  grep -qF 'new\nline.bin' newline_name.err || fail "newline_name: not escaped: $(cat -A newline_name.err)"
  expect_error cr_name 2 info $'carriage\rreturn.bin'
  grep -qF 'carriage\rreturn.bin' cr_name.err || fail "cr_name: not escaped: $(cat -A cr_name.err)"
  expect_error newline_json 2 eval "$stories" --text empty.txt --json $'new\nfolder/r.json'
  grep -qF 'new\nfolder/r.json' newline_json.err || fail "newline_json: not escaped: $(cat -A newline_json.err)"
  # Empty values: the one message, also for options with a list of allowed values.
  for option in --suite --format --protocol; do
    command=(eval "$stories" --text empty.txt)
    [ "$option" = --suite ] && command=(tasks "$stories")
    expect_error "empty$option" 2 "${command[@]}" "$option" ''
    grep -qF -- "$option is given an empty value" "empty$option.err" ||
      fail "empty$option: message: $(cat "empty$option.err")"
  done
  expect_error empty_suite_equals 2 tasks "$stories" --suite=
  grep -qF -- "--suite is given an empty value" empty_suite_equals.err ||
    fail "empty_suite_equals: message: $(cat empty_suite_equals.err)"
  finish
  ;;
truncated_gzip)
  # A gzip file cut before its trailer (the trailer cut, the stream cut at a Z_SYNC_FLUSH point
  # where everything before it decompresses, cut mid-stream) is refused as truncated, naming the
  # file, wherever gzip is read (eval --text, prune --calibration); members concatenated (as
  # `cat a.gz b.gz` makes them) read as one stream, as gzip -d reads them.
  need_data
  python3 - "$tinystories" <<'PY' || fail "could not write the gzip files"
import gzip, json, sys, zlib
paragraphs = [p for p in open(sys.argv[1], encoding="utf-8").read().split("\n\n") if p.strip()][:40]
lines = "".join(json.dumps({"text": p}) + "\n" for p in paragraphs).encode()
whole = gzip.compress(lines)
open("whole.jsonl.gz", "wb").write(whole)
open("members.jsonl.gz", "wb").write(gzip.compress(lines[:len(lines) // 2]) + gzip.compress(lines[len(lines) // 2:]))
open("cut_trailer.jsonl.gz", "wb").write(whole[:-8])
open("cut_mid.jsonl.gz", "wb").write(whole[:len(whole) // 2])
# A raw deflate stream with a sync flush after the first half, in a gzip wrapper (wbits 31).
z = zlib.compressobj(6, zlib.DEFLATED, 31)
flushed = z.compress(lines[:len(lines) // 2]) + z.flush(zlib.Z_SYNC_FLUSH)
open("cut_flush.jsonl.gz", "wb").write(flushed)
complete = flushed + z.compress(lines[len(lines) // 2:]) + z.flush()
assert gzip.decompress(complete) == lines
PY
  for f in whole members; do
    run "$f" eval "$stories" --text "$f.jsonl.gz" --window 32 --max-windows 1
    [ "$status" -eq 0 ] || fail "$f: exit status $status: $(cat "$f.err")"
  done
  # Both read the same text: the same number of tokens.
  [ "$(grep '^text' whole.out | sed 's/.*(//')" = "$(grep '^text' members.out | sed 's/.*(//')" ] ||
    fail "concatenated members read differently: $(grep '^text' whole.out members.out)"
  for f in cut_trailer cut_mid cut_flush; do
    expect_error "$f" 1 eval "$stories" --text "$f.jsonl.gz" --window 32 --max-windows 1
    grep -q "$f\.jsonl\.gz: truncated gzip file" "$f.err" || fail "$f: message: $(cat "$f.err")"
    expect_error "${f}_calibration" 1 prune "$stories" p.bin --method wanda --calibration "c4:$f.jsonl.gz" \
      --samples 1 --length 16
    grep -q "$f\.jsonl\.gz: truncated gzip file" "${f}_calibration.err" ||
      fail "${f}_calibration: message: $(cat "${f}_calibration.err")"
  done
  [ -e p.bin ] && fail "a refused prune wrote p.bin"
  finish
  ;;
selfgen_cache_model)
  # A self-generated cache belongs to the weights that wrote it: the same model reuses it (the
  # same pruned file), a copy with the same name and size but one weight changed is refused.
  need_data
  tinystories_slice text.txt
  mkdir -p changed
  cp "$stories" stories260K.bin
  cp "$data/models/stories260K/tok512.bin" tok512.bin
  cp tok512.bin changed/
  python3 - <<'PY' || fail "could not write changed/stories260K.bin"
import array
raw = open("stories260K.bin", "rb").read()
w = array.array("f")
w.frombytes(raw[28:])
w[1000] *= 0.5
open("changed/stories260K.bin", "wb").write(raw[:28] + w.tobytes())
PY
  sg=(--method wanda --calibration selfgen:text.txt --selfgen-cache c.json --samples 2 --length 16 --quiet)
  run first prune stories260K.bin o1.bin "${sg[@]}"
  [ "$status" -eq 0 ] || fail "first: exit $status: $(cat first.err)"
  run again prune stories260K.bin o2.bin "${sg[@]}"
  [ "$status" -eq 0 ] || fail "again: exit $status: $(cat again.err)"
  cmp -s o1.bin o2.bin || fail "the cache read back gave another pruned model"
  expect_error changed 1 prune changed/stories260K.bin o3.bin "${sg[@]}"
  grep -q "was made with other settings: model: the cache has stories260K.bin (weights" changed.err ||
    fail "changed: message: $(cat changed.err)"
  [ ! -e o3.bin ] || fail "changed: o3.bin was written"
  finish
  ;;
openmp_wait)
  # The tools make OpenMP threads that wait for work sleep, unless the user chose a policy:
  # libgomp reports the spin count it took from the environment when it was loaded
  # (OMP_DISPLAY_ENV=verbose; the last report is the one of the process that ran the command).
  spin_count() {
    env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose "$@" 2>&1 >/dev/null |
      sed -n "s/^ *GOMP_SPINCOUNT = '\([0-9]*\)'\$/\1/p" | tail -n 1
  }
  [ -n "$(spin_count "$pollard" --version)" ] || skip "pollard does not use libgomp"
  [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] || skip "one processor: no thread waits for another"
  for tool in "$pollard" "${POLLARD_PRUNE_LAYER:-}"; do
    [ -x "$tool" ] || { fail "no tool at '$tool'"; continue; }
    name=$(basename "$tool")
    got=$(spin_count "$tool" --version)
    [ "$got" = 0 ] || fail "$name: waiting threads spin $got times by default, expected 0 (passive)"
    got=$(spin_count OMP_WAIT_POLICY=active "$tool" --version)
    [ -n "$got" ] && [ "$got" != 0 ] || fail "$name: OMP_WAIT_POLICY=active gave spin count '$got'"
    got=$(spin_count GOMP_SPINCOUNT=1234 "$tool" --version)
    [ "$got" = 1234 ] || fail "$name: GOMP_SPINCOUNT=1234 gave spin count '$got'"
  done
  finish
  ;;
main_job_threads)
  # cmake/main-job.sh gives every command it runs --threads $POLLARD_THREADS (a user sharing
  # the machine gets no command on every core). A stand-in for pollard records the commands
  # and writes the outputs prune is asked for.
  need_data
  mkdir bin
  cat >bin/pollard <<'SH'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$(dirname "$0")/commands.log"
if [ "$1" = prune ]; then : >"$3"; fi
SH
  chmod +x bin/pollard
  : >smollm2.gguf
  POLLARD_BIN_DIR=$PWD/bin POLLARD_THREADS=1 POLLARD_SMOLLM2_GGUF=$PWD/smollm2.gguf \
    bash "$(dirname "$0")/../../cmake/main-job.sh" >job.out 2>&1 ||
    { fail "main-job.sh with the stand-in: exit status $?"; cat job.out; }
  for command in prune eval compare; do
    grep -q "^$command " bin/commands.log || fail "main-job.sh ran no $command"
  done
  if grep -v -e '--threads 1 ' -e '--threads 1$' bin/commands.log; then
    fail "main-job.sh ran the commands above without --threads 1"
  fi
  finish
  ;;
selfgen_cache_outputs)
  # The self-generated cache is an output like OUT: written only when the run succeeds, its
  # folder checked before any work, and one cache holds the texts of one selfgen source.
  need_data
  tinystories_slice text.txt
  sg=(--method wanda --calibration selfgen:text.txt --samples 2 --length 16 --quiet)
  # One source text: the filter drops it (20 % of 1 text rounds up to 1), so drawing the windows
  # fails after the text was generated.
  expect_error fails_after_generation 1 prune "$stories" o.bin "${sg[@]}" --selfgen-sources 1 \
    --selfgen-cache c.json
  grep -q "the 0 kept texts (of 1 generated) hold 0 tokens" fails_after_generation.err ||
    fail "fails_after_generation: message: $(cat fails_after_generation.err)"
  leftovers=$(ls -A | grep -v -x -e text.txt -e 'fails_after_generation\..*')
  [ -z "$leftovers" ] || fail "a failed prune left behind: $leftovers"
  # The run that succeeds writes the cache, and a second run reads it.
  run writes prune "$stories" o.bin "${sg[@]}" --selfgen-sources 8 --selfgen-cache c.json
  [ "$status" -eq 0 ] || fail "writes: exit status $status: $(cat writes.err)"
  head -n 1 c.json | grep -q '"source_texts":8' || fail "writes: no cache of 8 source texts"
  cp c.json c.written
  run reads prune "$stories" o2.bin "${sg[@]}" --selfgen-sources 8 --selfgen-cache c.json
  [ "$status" -eq 0 ] && cmp -s o.bin o2.bin && cmp -s c.json c.written ||
    fail "reads: exit status $status, or another model or cache: $(cat reads.err)"
  # A cache in a missing folder: exit 2 naming the option and the path, before any work.
  expect_error missing_folder 2 prune "$stories" p.bin "${sg[@]}" --selfgen-cache nodir/c.json
  grep -q -- "--selfgen-cache: .*'nodir/c.json'" missing_folder.err ||
    fail "missing_folder: message: $(cat missing_folder.err)"
  grep -q "drawing" missing_folder.err && fail "missing_folder: the work started"
  # Two selfgen sources would need two caches: refused before any work.
  cp text.txt other.txt
  expect_error two_sources 2 prune "$stories" p.bin --method wanda --samples 2 --length 16 \
    --calibration selfgen:text.txt,selfgen:other.txt --selfgen-cache t.json
  grep -q -- "--selfgen-cache holds the texts of one selfgen source, and --calibration names 2" \
    two_sources.err || fail "two_sources: message: $(cat two_sources.err)"
  grep -q "drawing" two_sources.err && fail "two_sources: the work started"
  [ ! -e p.bin ] && [ ! -e t.json ] || fail "a refused prune wrote p.bin or t.json"
  finish
  ;;
selfgen_cache_incomplete)
  # A cache holding fewer texts than its first line announces (a copy cut short, a record
  # deleted) or a text twice is refused by name rather than read as a smaller sample.
  need_data
  tinystories_slice text.txt
  sg=(--method wanda --calibration selfgen:text.txt --selfgen-sources 8 --samples 2 --length 16 --quiet)
  run writes prune "$stories" o.bin "${sg[@]}" --selfgen-cache c.json
  [ "$status" -eq 0 ] || fail "writes: exit status $status: $(cat writes.err)"
  texts=$(($(wc -l <c.json) - 1))
  [ "$texts" -ge 2 ] || fail "the cache holds $texts texts"
  head -n 1 c.json | grep -q "\"texts\":$texts[,}]" || fail "line 1 does not announce $texts texts"
  head -n "$texts" c.json >fewer.json
  head -n 1 c.json >header.json
  { head -n "$texts" c.json && sed -n 2p c.json; } >twice.json
  for f in fewer header; do
    expect_error "$f" 1 prune "$stories" p.bin "${sg[@]}" --selfgen-cache "$f.json"
    held=$((texts - 1))
    [ "$f" = header ] && held=0
    grep -q "$f.json is incomplete: line 1 announces $texts texts, the file holds $held" "$f.err" ||
      fail "$f: message: $(cat "$f.err")"
  done
  expect_error twice 1 prune "$stories" p.bin "${sg[@]}" --selfgen-cache twice.json
  grep -q "twice.json line $((texts + 1)): the text of source [0-9]* follows the text of source" twice.err ||
    fail "twice: message: $(cat twice.err)"
  [ ! -e p.bin ] || fail "a refused cache gave p.bin"
  finish
  ;;
report_unmeasured)
  # The report says null for what a run did not measure or use: N:M validity of an unstructured
  # recipe, the calibration of a run that read none.
  need_data
  tinystories_slice slice.txt
  run wanda prune "$stories" w.bin --method wanda --calibration text:slice.txt --samples 2 \
    --length 32 --report w.json --quiet
  [ "$status" -eq 0 ] || fail "wanda: exit status $status: $(cat wanda.err)"
  json_check w.json 'len(j["linears"]) == 35 and all(l["n_m_valid"] is None for l in j["linears"])'
  json_check w.json 'j["calibration"]["spec"] == "text:slice.txt" and j["calibration"]["seed"] == 0'
  run n_m prune "$stories" nm.bin --method magnitude --n-m 2:4 --report nm.json --quiet
  [ "$status" -eq 0 ] || fail "n_m: exit status $status: $(cat n_m.err)"
  json_check nm.json 'all(l["n_m_valid"] is True for l in j["linears"])'
  json_check nm.json 'all(j["calibration"][k] is None for k in ("spec", "seed", "text_field"))'
  json_check nm.json 'j["calibration"]["sequences"] == 0'
  finish
  ;;
capture_responses_only)
  # capture --responses-only, as prune's: only the response tokens of alpaca data count, so X
  # holds exactly the rows that prune's --save-calibration marks as counted, and H is made of
  # them.
  need_data
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))[:8], open("alpaca8.json", "w"))' \
    "$data/text/alpaca/alpaca_5000.json" || skip "python3 cannot cut the Alpaca data"
  draw=(--calibration alpaca:alpaca8.json --samples 2 --length 128)
  at=(--block 1 --linear ffn_up)
  run all capture "$stories" "${draw[@]}" "${at[@]}" --activations-out Xall.npy
  [ "$status" -eq 0 ] || fail "all: exit status $status: $(cat all.err)"
  run responses capture "$stories" "${draw[@]}" "${at[@]}" --responses-only \
    --activations-out Xresp.npy --hessian-out Hresp.npy
  [ "$status" -eq 0 ] || fail "responses: exit status $status: $(cat responses.err)"
  run tokens prune "$stories" p.bin --method wanda "${draw[@]}" --responses-only \
    --save-calibration tokens.json --quiet
  [ "$status" -eq 0 ] || fail "tokens: exit status $status: $(cat tokens.err)"
  if python3 -c 'import numpy' 2>/dev/null; then
    python3 - <<'PY' || fail "capture --responses-only: X or H is not made of the counted rows"
import json, re
import numpy as np
t = json.load(open("tokens.json"))
counted = np.array(t["counted"], dtype=bool).reshape(-1)
assert 0 < counted.sum() < counted.size, counted.sum()
X_all, X, H = np.load("Xall.npy"), np.load("Xresp.npy"), np.load("Hresp.npy")
assert X_all.shape[0] == counted.size and np.array_equal(X, X_all[counted]), X.shape
want = 2.0 / 2 * X.astype(np.float64).T @ X.astype(np.float64)  # N = 2 sequences
assert np.allclose(H, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
rows = int(re.search(r"(\d+) calibration rows", open("responses.out").read()).group(1))
assert rows == counted.sum(), (rows, counted.sum())
PY
  fi
  tinystories_slice slice.txt
  expect_error responses_text 2 capture "$stories" --calibration text:slice.txt "${at[@]}" \
    --responses-only --weights-out W.npy
  grep -q -- "--responses-only would change nothing.*no --calibration source is alpaca" \
    responses_text.err || fail "responses_text: message: $(cat responses_text.err)"
  [ ! -e W.npy ] || fail "a refused capture wrote W.npy"
  finish
  ;;
comma_lists)
  # Every comma-separated option (--suite, --targets, --ignore, --calibration of prune and
  # capture): a value of white space, or of commas and white space, names no item; every empty
  # item is named; Unicode white space (a no-break space U+00A0, U+3000) around an item is
  # dropped as spaces are.
  need_data
  nbsp=$'\u00a0'
  for option in "tasks $stories --suite" "prune $stories x.bin --method magnitude --targets" \
                "prune $stories x.bin --method magnitude --ignore" "prune $stories x.bin --calibration" \
                "capture $stories --linear attn_q --weights-out W.npy --calibration"; do
    name=$(echo "$option" | awk '{ print $1 "_" $NF }' | tr -d -)
    flag=${option##* }
    # shellcheck disable=SC2086
    expect_error "${name}_space" 2 $option ' '
    expect_message "${name}_space" "$flag: ' ' names no item: it is only white space"
    grep -q "comma" "${name}_space.err" && fail "${name}_space: speaks of a comma: $(cat "${name}_space.err")"
    # shellcheck disable=SC2086
    expect_error "${name}_nbsp" 2 $option "$nbsp"
    expect_message "${name}_nbsp" "$flag: '$nbsp' names no item: it is only white space"
    # shellcheck disable=SC2086
    expect_error "${name}_commas" 2 $option ' , '
    expect_message "${name}_commas" "$flag: ' , ' names no item: it is only commas and white space, each of its 2 items empty"
    # shellcheck disable=SC2086
    expect_error "${name}_empties" 2 $option ",x,$nbsp,"
    expect_message "${name}_empties" "$flag: items 1, 3 and 4 of ',x,$nbsp,' are empty: remove the extra commas"
  done
  # Trimmed: the unknown task is named without the spaces around it.
  expect_error suite_trimmed 2 tasks "$stories" --suite "${nbsp}boolq$nbsp,"$'\u3000'"mmlu$nbsp"
  expect_message suite_trimmed "--suite: unknown task 'mmlu' (the tasks:"
  tinystories_slice slice.txt
  run targets_trimmed prune "$stories" t.bin --method magnitude --targets "${nbsp}blk.0.attn_q$nbsp" \
    --report t.json --quiet
  [ "$status" -eq 0 ] || fail "targets_trimmed: exit status $status: $(cat targets_trimmed.err)"
  json_check t.json 'len(j["linears"]) == 1'
  run calibration_trimmed prune "$stories" c.bin --calibration "${nbsp}text:slice.txt$nbsp" \
    --samples 2 --length 32 --quiet
  [ "$status" -eq 0 ] || fail "calibration_trimmed: exit status $status: $(cat calibration_trimmed.err)"
  finish
  ;;
hf_sharded)
  # A Hugging Face folder holding a sharded checkpoint (model-0000K-of-0000N.safetensors and
  # model.safetensors.index.json, no model.safetensors) is refused by every command that reads a
  # model, saying so and naming the shards and the index.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  python3 - hf <<'PY' || fail "could not shard hf"
import json, os, sys
from safetensors.numpy import load_file, save_file
folder = sys.argv[1]
t = load_file(folder + "/model.safetensors")
names = sorted(t)
halves = [names[: len(names) // 2], names[len(names) // 2:]]
weight_map = {}
for k, part in enumerate(halves):
    shard = "model-%05d-of-00002.safetensors" % (k + 1)
    save_file({n: t[n] for n in part}, folder + "/" + shard, metadata={"format": "pt"})
    weight_map.update({n: shard for n in part})
json.dump({"metadata": {}, "weight_map": weight_map}, open(folder + "/model.safetensors.index.json", "w"))
os.remove(folder + "/model.safetensors")
PY
  printf 'Once upon a time there was a cat.\n' >t.txt
  says="hf holds a sharded checkpoint (2 shards model-00001-of-00002.safetensors and model-00002-of-00002.safetensors with the index model.safetensors.index.json) and no model.safetensors: sharded checkpoints are not supported"
  for words in "info hf" "eval hf --text t.txt" "generate hf --steps 2" "convert hf out" \
               "prune hf out --method magnitude"; do
    name=$(echo "$words" | cut -d' ' -f1)
    # shellcheck disable=SC2086
    expect_error "$name" 1 $words
    expect_message "$name" "$says"
    grep -q "cannot open" "$name.err" && fail "$name: says 'cannot open': $(cat "$name.err")"
  done
  [ -e out ] && fail "a refused command wrote out"
  # The index alone, or a shard alone, is named as well.
  mkdir index_only && cp hf/config.json hf/model.safetensors.index.json index_only/
  expect_error index_only 1 info index_only
  expect_message index_only "index_only holds a sharded checkpoint (the index model.safetensors.index.json) and no model.safetensors"
  finish
  ;;
hf_unused_tensors)
  # Every tensor of a Hugging Face checkpoint is read by the model or refused by name: one of a
  # layer config.json does not have (rotary_emb.inv_freq buffers included), one of a name the
  # model does not know, an inv_freq buffer where transformers never kept one, and a name the
  # header gives twice.
  python3 -c 'import numpy, safetensors' 2>/dev/null || skip "numpy/safetensors missing"
  tokenizer="$(dirname "$0")/../llm/fixtures/hf_tokenizer/tokenizer.json"
  python3 "$(dirname "$0")/make_hf_model.py" hf "$tokenizer" 420 || fail "could not make hf"
  # with_tensor FOLDER NAME: hf's weights and NAME (the frequencies of theta 10000, head size 4,
  # for an inv_freq name; a copy of the first layer's q_proj otherwise).
  with_tensor() {
    rm -rf "$1" && cp -r hf "$1"
    python3 - "$1" "$2" <<'PY' || fail "could not write $1"
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
folder, name = sys.argv[1], sys.argv[2]
t = load_file(folder + "/model.safetensors")
if name.endswith("inv_freq"):
    t[name] = (1.0 / (10000.0 ** (np.arange(0, 4, 2, dtype=np.float32) / 4))).astype(np.float32)
else:
    t[name] = t["model.layers.0.self_attn.q_proj.weight"].copy()
save_file(t, folder + "/model.safetensors", metadata={"format": "pt"})
PY
  }
  beyond="which config.json's num_hidden_layers 1 does not have"
  check_refused() {  # NAME TENSOR WANTED
    with_tensor "$1" "$2"
    for c in info convert; do
      extra=()
      [ "$c" = convert ] && extra=("$1_out")
      expect_error "$1_$c" 1 "$c" "$1" "${extra[@]}"
      expect_message "$1_$c" "tensor '$2' $3"
      [ -e "$1_out" ] && fail "convert $1 wrote $1_out"
    done
  }
  check_refused inv_beyond model.layers.1.self_attn.rotary_emb.inv_freq "belongs to layer 1, $beyond"
  check_refused inv_far model.layers.4000000000.self_attn.rotary_emb.inv_freq "belongs to layer 4000000000, $beyond"
  check_refused inv_zeros model.layers.00.self_attn.rotary_emb.inv_freq "is not where transformers keeps rotary frequencies"
  check_refused inv_mlp model.layers.0.mlp.rotary_emb.inv_freq "is not where transformers keeps rotary frequencies"
  check_refused inv_other lm_head.rotary_emb.inv_freq "is not where transformers keeps rotary frequencies"
  check_refused layer_beyond model.layers.1.self_attn.q_proj.weight "belongs to layer 1, $beyond"
  check_refused suffix model.layers.0.self_attn.q_proj.scales "is not used by the model config.json describes"
  # The buffers transformers did save are still read.
  with_tensor inv_ok model.layers.0.self_attn.rotary_emb.inv_freq
  run inv_ok info inv_ok
  [ "$status" -eq 0 ] || fail "info inv_ok: exit status $status: $(cat inv_ok.err)"
  # A name given twice in the header: the second is refused, named, at its byte offset.
  rm -rf twice && cp -r hf twice
  python3 - twice/model.safetensors <<'PY' || fail "could not write twice"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = data[8:8 + n].decode()
entry = '"model.norm.weight":' + json.dumps(json.loads(header)["model.norm.weight"], separators=(",", ":"))
header = header.rstrip() [:-1] + "," + entry + "}"
header += " " * (-len(header) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header.encode() + data[8 + n:])
PY
  expect_error twice 1 info twice
  expect_message twice 'duplicate key "model.norm.weight" at offset'
  finish
  ;;
byte_order_marks)
  # A UTF-8 byte-order mark at the start of a text or data file is dropped by every reader
  # (plain text, JSON lines, a JSON list, gzip-compressed ones): the tokens are those of the
  # file without it. Anywhere else it is refused, naming the line and the byte offset, and JSON
  # error offsets are the file's bytes, the mark counted.
  need_data
  tinystories_slice slice.txt
  bom=$'\xef\xbb\xbf'
  { printf '%s' "$bom"; cat slice.txt; } >bom.txt
  { printf '%s' "$bom"; cat slice.txt; } | gzip -c >bom.txt.gz
  python3 -c 'import json, sys; print(json.dumps({"text": open(sys.argv[1]).read()}))' slice.txt >rows.jsonl
  { printf '%s' "$bom"; cat rows.jsonl; } >bom.jsonl
  { printf '%s' "$bom"; printf '['; head -c -1 rows.jsonl; printf ']'; } >bom.json
  tokens_of() {  # NAME FILE: the text_tokens eval --json records for FILE
    run "$1" eval "$stories" --text "$2" --window 32 --max-windows 1 --json "$1-eval.json"
    [ "$status" -eq 0 ] || { fail "$1: exit status $status: $(cat "$1.err")"; return; }
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["text_tokens"])' "$1-eval.json"
  }
  plain=$(tokens_of plain slice.txt)
  for f in bom.txt bom.txt.gz; do
    [ "$(tokens_of "t_$f" "$f")" = "$plain" ] || fail "$f: the mark is read as text ($(tokens_of "t_$f" "$f") tokens, $plain without it)"
  done
  rows=$(tokens_of rows rows.jsonl)
  for f in bom.jsonl bom.json; do
    [ "$(tokens_of "t_$f" "$f")" = "$rows" ] || fail "$f: $(tokens_of "t_$f" "$f") tokens, $rows without the mark"
  done
  # A mark at the start of line 6 of JSON lines: refused with the line and the offset.
  for k in 1 2 3 4 5 6 7; do printf '{"text": "row %s"}\n' "$k"; done >mid.jsonl
  offset=$(head -n 5 mid.jsonl | wc -c)
  sed -i "6s/^/$bom/" mid.jsonl
  expect_error mid_jsonl 1 eval "$stories" --text mid.jsonl --window 32
  expect_message mid_jsonl "mid.jsonl line 6: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file, at offset $offset"
  cp mid.jsonl mid_cal.jsonl
  expect_error mid_calibration 1 prune "$stories" x.bin --calibration "c4:mid_cal.jsonl" --samples 1 --length 8
  expect_message mid_calibration "mid_cal.jsonl line 6: invalid JSON: a UTF-8 byte-order mark"
  # The same file gzip-compressed: the offset is one of the decompressed text, and says so.
  gzip -c mid.jsonl >mid_gz.jsonl.gz
  expect_error mid_gz 1 eval "$stories" --text mid_gz.jsonl.gz --window 32
  expect_message mid_gz "mid_gz.jsonl.gz line 6: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file, at offset $offset of the decompressed text"
  cp mid_gz.jsonl.gz mid_cal.jsonl.gz
  expect_error mid_calibration_gz 1 prune "$stories" x.bin --calibration "c4:mid_cal.jsonl.gz" --samples 1 --length 8
  expect_message mid_calibration_gz "mid_cal.jsonl.gz line 6: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file, at offset $offset of the decompressed text"
  grep -qF "at offset $offset of" mid_jsonl.err && fail "mid_jsonl: a plain file's offset is said to be of decompressed text"
  # A task file's plain lines (PIQA's labels): the mark is refused where it is, not read as a
  # label.
  mkdir -p tasks/piqa
  head -n 3 "$data/tasks/piqa/valid.jsonl" >tasks/piqa/valid.jsonl
  printf '0\n%s1\n0\n' "$bom" >tasks/piqa/valid-labels.lst
  expect_error task_labels 1 tasks "$stories" --suite piqa --tasks-dir tasks
  expect_message task_labels "tasks/piqa/valid-labels.lst line 2 (byte offset 2): a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file"
  # Two marks: the second is at offset 3, not 0.
  { printf '%s%s' "$bom" "$bom"; cat rows.jsonl; } >twice.jsonl
  expect_error twice 1 eval "$stories" --text twice.jsonl --window 32
  expect_message twice "twice.jsonl line 1: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file, at offset 3"
  # A JSON error after a skipped mark: the offset counts the mark's 3 bytes.
  printf '%s[{"text": "a"},]' "$bom" >comma.json
  expect_error comma 1 eval "$stories" --text comma.json --window 32
  expect_message comma "comma.json: invalid JSON: expected a value at offset 18"
  # A JSON list over several lines (Alpaca's layout): the line is named too.
  printf '[{"instruction": "a", "input": "", "output": "b"},\n%s{"instruction": "c", "input": "", "output": "d"}]' "$bom" >marked_list.json
  expect_error marked_list 1 tasks "$stories" --instructions marked_list.json
  expect_message marked_list "marked_list.json line 2: invalid JSON: a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file, at offset 51"
  # Plain text joined from two files with marks: the second is refused, naming line and offset.
  { cat bom.txt; cat bom.txt; } >joined.txt
  offset=$(wc -c <bom.txt)
  line=$(($(wc -l <bom.txt) + 1))
  expect_error joined 1 eval "$stories" --text joined.txt --window 32
  expect_message joined "joined.txt line $line (byte offset $offset): a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file"
  # Calibration text, instructions and a sparsity table read past a leading mark too.
  run calibration_bom prune "$stories" c.bin --calibration text:bom.txt --samples 2 --length 32 --quiet
  [ "$status" -eq 0 ] || fail "calibration_bom: exit status $status: $(cat calibration_bom.err)"
  { printf '%s' "$bom"; printf 'blk.* 0.5\n'; } >table.txt
  run table_bom prune "$stories" t.bin --method magnitude --allocation table.txt --quiet
  [ "$status" -eq 0 ] || fail "table_bom: exit status $status: $(cat table_bom.err)"
  # One before a comment line of the table is refused where it is, not read as a row.
  { printf 'blk.* 0.5\n%s# rows\n' "$bom"; } >mid_table.txt
  expect_error table_mid_bom 2 prune "$stories" t.bin --method magnitude --allocation mid_table.txt
  expect_message table_mid_bom "--allocation mid_table.txt: mid_table.txt line 2 (byte offset 10): a UTF-8 byte-order mark (U+FEFF)"
  finish
  ;;
text_layouts)
  # Every command that reads a text or data file tells its layout from its name by one rule:
  # eval --text x.json reads a JSON list of records as prune --calibration does, not as plain
  # text; the rule is in each command's --help.
  need_data
  tinystories_slice slice.txt
  python3 - slice.txt <<'PY' || fail "could not write the records"
import gzip, json, sys
paragraphs = open(sys.argv[1]).read().split("\n\n")[:6]
rows = [{"text": p} for p in paragraphs]
json.dump(rows, open("rows.json", "w"))
open("rows.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows))
open("joined.txt", "w").write("\n\n".join(paragraphs))
json.dump(paragraphs, open("strings.json", "w"))
with gzip.open("rows.json.gz", "wt") as f:
    json.dump(rows, f)
with gzip.open("rows.gz", "wt") as f:
    f.write("".join(json.dumps(r) + "\n" for r in rows))
PY
  tokens_of() {  # NAME FILE: eval's text_tokens and format for FILE
    run "$1" eval "$stories" --text "$2" --window 32 --max-windows 1 --json "$1-eval.json"
    [ "$status" -eq 0 ] || { fail "$1: exit status $status: $(cat "$1.err")"; return; }
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(j["text_tokens"], j["format"])' "$1-eval.json"
  }
  want=$(tokens_of joined joined.txt | cut -d' ' -f1)
  [ "$(tokens_of json rows.json)" = "$want rows-jsonl" ] || fail "rows.json: $(tokens_of json rows.json), want $want rows-jsonl"
  [ "$(tokens_of jsonl rows.jsonl)" = "$want rows-jsonl" ] || fail "rows.jsonl: $(tokens_of jsonl rows.jsonl)"
  [ "$(tokens_of strings strings.json)" = "$want rows-jsonl" ] || fail "strings.json: $(tokens_of strings strings.json)"
  [ "$(tokens_of json_gz rows.json.gz)" = "$want jsonl-gz" ] || fail "rows.json.gz: $(tokens_of json_gz rows.json.gz)"
  [ "$(tokens_of gz rows.gz)" = "$want jsonl-gz" ] || fail "rows.gz: $(tokens_of gz rows.gz)"
  # compare reads --text by the same rule.
  run compare_json compare "$stories" "$stories" --text rows.json --window 32 --max-windows 1 --json c.json
  [ "$status" -eq 0 ] || fail "compare_json: exit status $status: $(cat compare_json.err)"
  json_check c.json "j['windows']['format'] == 'rows-jsonl' and j['windows']['text_tokens'] == $want"
  # --format still forces a reading.
  run forced eval "$stories" --text rows.jsonl --format text --window 32 --max-windows 1 --json f.json
  json_check f.json 'j["format"] == "text"'
  # The rule, word for word, in the help of every command that reads such a file.
  for c in eval compare prune capture tasks; do
    run "help_$c" "$c" --help
    tr -s ' \n' ' ' <"help_$c.out" | grep -qF '*.json: a JSON list of records; *.jsonl: JSON lines' ||
      fail "$c --help does not state the rule"
  done
  finish
  ;;
empty_texts)
  # A text with no text in it (empty, only white space, only a byte-order mark, no records,
  # only empty records), or too few tokens for one window, is refused naming the file.
  need_data
  : >empty.txt
  printf ' \n\t\n' >space.txt
  printf '\xef\xbb\xbf' >bom.txt
  : >empty.jsonl
  printf '{"text": ""}\n{"text": " "}\n' >blank.jsonl
  printf 'Hi.' >short.txt
  for c in eval compare; do
    other=()
    [ "$c" = compare ] && other=("$stories")
    while IFS='|' read -r f why; do
      expect_error "${c}_$f" 1 "$c" "$stories" "${other[@]}" --text "$f"
      expect_message "${c}_$f" "--text $f holds no text: $why"
    done <<'LIST'
empty.txt|the file is empty
space.txt|it holds only white space
bom.txt|it holds only a byte-order mark
empty.jsonl|it holds no records
blank.jsonl|its 2 records are empty
LIST
    # Too few tokens, with the default window (the model's context, 512) and with --window.
    expect_error "${c}_short" 1 "$c" "$stories" "${other[@]}" --text short.txt
    expect_message "${c}_short" "--text short.txt holds "
    expect_message "${c}_short" "tokens, too few for one window of 512 (the default window, min(2048, the model's context 512); a smaller --window fits)"
    expect_error "${c}_short_window" 1 "$c" "$stories" "${other[@]}" --text short.txt --window 64
    expect_message "${c}_short_window" "tokens, too few for one --window of 64"
  done
  # Calibration files name theirs too, by the path as given (two files of one name differ).
  for f in empty.txt space.txt bom.txt blank.jsonl; do
    expect_error "calibration_$f" 1 prune "$stories" x.bin --calibration "text:$f" --samples 1 --length 8
    expect_message "calibration_$f" "$f"
  done
  # A weight on the only source would change nothing: a command-line error before any work.
  tinystories_slice one.txt
  expect_error lone_weight 2 prune "$stories" x.bin --calibration text:one.txt@3 --samples 1 --length 8
  expect_message lone_weight "--calibration: text:one.txt is the only source, so its @WEIGHT would change nothing"
  mkdir -p c
  : >c/t.txt
  expect_error calibration_path 1 prune "$stories" x.bin --calibration text:c/t.txt --samples 1 --length 8
  expect_message calibration_path "c/t.txt: no calibration text in the file"
  # So do eval and compare --text in the errors of the file's contents (malformed JSON, a
  # byte-order mark past the start).
  printf '{"text": "a"}\n{"text": \n' >c/bad.jsonl
  printf 'a\n\xef\xbb\xbfb\n' >c/mark.txt
  for c in eval compare; do
    other=()
    [ "$c" = compare ] && other=("$stories")
    for f in c/bad.jsonl c/mark.txt; do
      expect_error "${c}_path_$(basename "$f")" 1 "$c" "$stories" "${other[@]}" --text "$f"
      expect_message "${c}_path_$(basename "$f")" "error: $f line 2"
    done
  done
  # A byte the tokenizer cannot encode (SmolLM2's vocabulary has no token for 0xFF) names the
  # file it came from.
  if [ -f "$smollm2" ]; then
    tinystories_slice ff.txt
    printf '\xff' >>ff.txt
    expect_error eval_ff 1 eval "$smollm2" --text ff.txt --window 64 --max-windows 1
    expect_message eval_ff "--text ff.txt: byte-level BPE: byte 0xFF"
    expect_error calibration_ff 1 prune "$smollm2" y.gguf --method wanda --type f16 --calibration text:ff.txt \
      --samples 1 --length 16
    expect_message calibration_ff "ff.txt: byte-level BPE: byte 0xFF"
  fi
  ls -A | grep -Eq '^(x\.bin|y\.gguf)$' && fail "a refused command wrote an output: $(ls -A)"
  finish
  ;;
*)
  echo "unknown case $case_name"
  exit 1
  ;;
esac
