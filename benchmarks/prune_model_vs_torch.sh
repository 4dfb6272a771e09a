#!/usr/bin/env bash
# Whole-model pruning, pollard against the reference procedure re-implemented in PyTorch
# (benchmarks/reference/prune_model_torch.py), on the same machine, the same model and the same
# calibration tokens: wall time of each (split into forward passes / statistics / solver), their
# ratio, and the WikiText-2 perplexity ± standard error of both pruned models and of the dense one.
#
# For each configuration: `pollard prune` draws the calibration sequences from C4 (seed 0) and
# saves them (--save-calibration); the PyTorch script prunes the same dequantized model on those
# tokens; `pollard eval` scores both outputs (WikiText-2 test, non-overlapping windows). Both
# pruned models are written as float32 GGUFs, so only the pruning differs.
#
# Usage: benchmarks/prune_model_vs_torch.sh [--configs "wanda sparsegpt wanda-2:4 sparsegpt-2:4"]
#          [--samples 128] [--length 512] [--threads 2] [--window 512] [--max-windows N]
#          [--model FILE.gguf] [--pollard BUILD/examples/pollard] [--work DIR] [--out FILE.md]
# Needs: POLLARD_DATA_DIR (text/c4 and text/wikitext2_raw), the release build of pollard
# (cmake --preset release && cmake --build build/release -j2 --target pollard), Debian's
# python3-torch with numpy and the gguf package for /usr/bin/python3. The default model is the
# SmolLM2-135M-Instruct Q4_1 GGUF that cmake/fetch_smollm2.sh fetches.
# Writes benchmarks/results/prune-vs-torch-<date>.md (or --out).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
configs="wanda sparsegpt"
samples=128
length=512
threads=2
window=512
max_windows=""
model=""
pollard="$root/build/release/examples/pollard"
python="${PYTHON:-/usr/bin/python3}"
work=""
out="$root/benchmarks/results/prune-vs-torch-$(date -u +%Y-%m-%d).md"
command_line="benchmarks/prune_model_vs_torch.sh $*"

while [ $# -gt 0 ]; do
  case "$1" in
    --configs) configs="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --length) length="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --max-windows) max_windows="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --pollard) pollard="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "prune_model_vs_torch: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "prune_model_vs_torch: $*" >&2; exit 1; }
[ -n "${POLLARD_DATA_DIR:-}" ] || die "set POLLARD_DATA_DIR to the data folder (text/c4, text/wikitext2_raw)"
c4="$POLLARD_DATA_DIR/text/c4/c4-sample.00000-of-00001.json.gz"
wikitext="$POLLARD_DATA_DIR/text/wikitext2_raw/test.rows.jsonl"
[ -f "$c4" ] || die "no C4 sample at $c4"
[ -f "$wikitext" ] || die "no WikiText-2 test rows at $wikitext"
[ -x "$pollard" ] || die "no pollard binary at $pollard (cmake --preset release && cmake --build build/release -j2 --target pollard)"
"$python" -c "import torch, numpy, gguf" 2>/dev/null ||
  die "$python lacks torch, numpy or gguf (apt install python3-torch; $python -m pip install --break-system-packages gguf)"
[ -n "$model" ] || model="$(bash "$root/cmake/fetch_smollm2.sh")"
[ -f "$model" ] || die "no model at $model"
for c in $configs; do
  case "$c" in wanda|sparsegpt|wanda-*:*|sparsegpt-*:*) ;; *) die "unknown configuration '$c' (method or method-N:M)" ;; esac
done
if [ -z "$work" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/prune-vs-torch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work" "$(dirname "$out")"

eval_args=(--text "$wikitext" --window "$window" --threads "$threads")
[ -n "$max_windows" ] && eval_args+=(--max-windows "$max_windows")

seconds_of() { # COMMAND... : runs it, prints its wall seconds, peak RSS (MiB) and CPU seconds to fd 3
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@"
  awk '{printf "%s %.0f %.1f\n", $1, $2 / 1024, $3 + $4}' "$work/time.txt" >&3
}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "prune_model_vs_torch: dense model" >&2
"$pollard" eval "$model" "${eval_args[@]}" | tee "$work/eval-dense.txt" >&2

for c in $configs; do
  method="${c%%-*}"
  tag="${c//:/_}"
  if [ "$c" = "$method" ]; then
    pollard_shape=(--sparsity 0.5); torch_shape=(--sparsity 0.5)
  else
    pollard_shape=(--n-m "${c#*-}"); torch_shape=(--n-m "${c#*-}")
  fi
  echo "prune_model_vs_torch: $c with pollard" >&2
  seconds_of "$pollard" prune "$model" "$work/pollard-$tag.gguf" --method "$method" "${pollard_shape[@]}" \
    --calibration "c4:$c4" --samples "$samples" --length "$length" --seed 0 --threads "$threads" \
    --type f32 --save-calibration "$work/tokens-$tag.json" --report "$work/report-$tag.json" --quiet \
    3>"$work/pollard-time-$tag.txt" >&2
  echo "prune_model_vs_torch: $c with PyTorch" >&2
  seconds_of "$python" "$root/benchmarks/reference/prune_model_torch.py" "$model" "$work/torch-$tag.gguf" \
    --tokens "$work/tokens-$tag.json" --method "$method" "${torch_shape[@]}" --threads "$threads" --quiet \
    3>"$work/torch-time-$tag.txt" >"$work/torch-$tag.json"
  "$python" - "$work/pollard-$tag.gguf" "$work/torch-$tag.gguf" >"$work/agreement-$tag.txt" <<'AGREE'
import sys
import gguf
linears = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
a, b = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[2])
other = {t.name: t for t in b.tensors}
same = total = 0
for t in a.tensors:
    if t.name.split(".")[-2] in linears:
        x = gguf.quants.dequantize(t.data, t.tensor_type)
        y = gguf.quants.dequantize(other[t.name].data, other[t.name].tensor_type)
        same += int(((x == 0) == (y == 0)).sum())
        total += x.size
print(f"{same / total:.4f}")
AGREE
  for side in pollard torch; do
    echo "prune_model_vs_torch: perplexity of the $side-pruned model" >&2
    "$pollard" eval "$work/$side-$tag.gguf" "${eval_args[@]}" | tee "$work/eval-$side-$tag.txt" >&2
    rm -f "$work/$side-$tag.gguf"
  done
done

torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
"$python" - "$work" "$out" "$configs" <<EOF
import json, re, sys
work, out, configs = sys.argv[1], sys.argv[2], sys.argv[3].split()

def perplexity(path):
    m = re.search(r"perplexity\s*:\s*([0-9.eE+-]+)\s*±\s*([0-9.eE+-]+)", open(path, encoding="utf-8").read())
    return f"{float(m.group(1)):.3f} ± {float(m.group(2)):.3f}" if m else "?"

def wall(path):
    seconds, mib, cpu = open(path).read().split()
    return float(seconds), int(mib), float(cpu)

def split(t):
    f = lambda key: f"{t[key]:.1f}" if isinstance(t.get(key), (int, float)) else "?"
    return f"{f('total_seconds')} ({f('forward_seconds')} / {f('statistics_seconds')} / {f('solver_seconds')})"

def ratio(t, p):
    ok = all(isinstance(x.get("total_seconds"), (int, float)) and x["total_seconds"] > 0 for x in (t, p))
    return f"{t['total_seconds'] / p['total_seconds']:.2f}" if ok else "?"

rows = []
for c in configs:
    tag = c.replace(":", "_")
    p = json.load(open(f"{work}/report-{tag}.json")).get("timing", {})
    t = json.loads(open(f"{work}/torch-{tag}.json").read().strip().splitlines()[-1])["timing"]
    pw, pm, pc = wall(f"{work}/pollard-time-{tag}.txt")
    tw, tm, tc = wall(f"{work}/torch-time-{tag}.txt")
    rows.append(f"| {c} | {split(p)} | {split(t)} | {ratio(t, p)} | "
                f"{pw:.1f} / {tw:.1f} | {pc:.1f} / {tc:.1f} ({tc / pc:.2f}) | {pm} / {tm} | {open(f'{work}/agreement-{tag}.txt').read().strip()} | {perplexity(f'{work}/eval-pollard-{tag}.txt')} | "
                f"{perplexity(f'{work}/eval-torch-{tag}.txt')} |")
with open(out, "w", encoding="utf-8") as f:
    f.write(f"""# Whole-model pruning: pollard vs the reference procedure in PyTorch (CPU)

- date: $(date -u +%Y-%m-%dT%H:%MZ); machine: ${cpu}, $(nproc) cores; threads: ${threads};
  load average before the runs: ${load_before}, after: $(cut -d' ' -f1-3 /proc/loadavg)
- model: $(basename "$model"); both pruned models written as float32 GGUF
- calibration: C4 sample, ${samples} sequences x ${length} tokens, seed 0, drawn by pollard and fed
  to both (pollard prune --save-calibration)
- pollard: revision ${revision}; PyTorch ${torch_version} (benchmarks/reference/prune_model_torch.py:
  Wanda's prune_wanda / SparseGPT's llama_sequential, per-linear hooks, batch 1, sequential)
- perplexity: pollard eval, WikiText-2 test rows joined with "\\\\n\\\\n", windows of ${window} tokens
  ${max_windows:+(first ${max_windows} windows only)}; dense model: {perplexity(f"{work}/eval-dense.txt")}
- command: \`${command_line}\`

Pruning time in seconds: total (forward passes / statistics / solver), as each side measures it;
ratio = PyTorch total / pollard total. Wall = the whole command (loading, dequantizing, writing);
CPU = user + system seconds of the whole command, with the ratio PyTorch / pollard (on a machine
shared with other work, the CPU seconds are the comparable figure, the wall times are not).
Same mask: the fraction of the pruned linears' weights that both prune or both keep (rounding
differences flip near-tied scores, and in the sequential schedule a flip changes later inputs).

| configuration | pollard s | PyTorch s | ratio | wall s pollard / PyTorch | CPU s pollard / PyTorch (ratio) | peak RSS MiB pollard / PyTorch | same mask | PPL pollard | PPL PyTorch |
|---|---|---|---|---|---|---|---|---|---|
""")
    f.write("\n".join(rows) + "\n")
print(open(out, encoding="utf-8").read())
EOF
