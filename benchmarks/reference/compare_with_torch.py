#!/usr/bin/env python3
"""pollard vs a faithful PyTorch re-implementation of the reference SparseGPT and Wanda, on the
CPU, same inputs, same machine. For each layer shape: seeded W and X (a few outlier channels),
the reference (torch_reference.py, pruning only) and pollard (bench-torch_comparison, pruning
only) each timed as the median of their repetitions; reports the time ratio and the maximum
difference of the pruned weights.

Usage (Debian's python3-torch and numpy):
  /usr/bin/python3 benchmarks/reference/compare_with_torch.py BUILD/benchmarks/bench-torch_comparison \
      [--shapes 4096x4096,576x576] [--tokens 2048] [--sequences 16] [--threads 2] [--repetitions 3]
Prints a Markdown table."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def layer(rows, cols, tokens, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32) / np.sqrt(cols)
    x = rng.standard_normal((tokens, cols)).astype(np.float32)
    outliers = rng.choice(cols, size=max(1, cols // 100), replace=False)
    x[:, outliers] *= 20.0
    return w, x


def time_reference(method, w, x, sequences, nm, repetitions):
    n, m = nm if nm else (0, 0)
    wt, xt = torch.from_numpy(w), torch.from_numpy(x)
    times, out = [], None
    if method == "sparsegpt":
        h = ref.hessian_by_sequences(xt, sequences)
        for _ in range(repetitions):
            start = time.perf_counter()
            out, _ = ref.sparsegpt(wt, h, 0.5, n, m)
            times.append(time.perf_counter() - start)
    else:
        s = ref.scaler_row_by_sequences(xt, sequences)
        for _ in range(repetitions):
            start = time.perf_counter()
            out = ref.wanda(wt, s, 0.5, n, m)
            times.append(time.perf_counter() - start)
    return statistics.median(times), out.numpy()


def time_pollard(binary, directory, sequences, nm, repetitions):
    env = dict(os.environ, POLLARD_COMPARE_DIR=directory, POLLARD_COMPARE_SEQUENCES=str(sequences),
               POLLARD_COMPARE_NM=f"{nm[0]}:{nm[1]}" if nm else "")
    result = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
                             "--benchmark_min_time=0.01"], env=env, check=True, capture_output=True, text=True)
    medians = {}
    for b in json.loads(result.stdout)["benchmarks"]:
        name = b["run_name"].split("/")[0]
        if b.get("aggregate_name") == "median" or (repetitions == 1 and b.get("run_type") == "iteration"):
            medians[name] = b["real_time"] / 1e3  # milliseconds -> seconds
    return medians


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--shapes", default="4096x4096,576x576")
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--sequences", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--nm", default="", help="N:M pattern, e.g. 2:4 (default: 50%% unstructured)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    nm = tuple(int(v) for v in a.nm.split(":")) if a.nm else None
    pattern = a.nm if a.nm else "50%"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; X = {a.tokens} tokens in "
          f"{a.sequences} sequences; median of {a.repetitions}; pattern {pattern}\n")
    print("| layer (d_out x d_in) | method | reference (s) | pollard (s) | reference / pollard | max abs diff | max |W| | same mask |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in a.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        w, x = layer(rows, cols, a.tokens, seed=rows * 7 + cols)
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "W.npy"), w)
            np.save(os.path.join(d, "X.npy"), x)
            ours = time_pollard(a.binary, d, a.sequences, nm, a.repetitions)
            for method in ("sparsegpt", "wanda"):
                t_ref, out_ref = time_reference(method, w, x, a.sequences, nm, a.repetitions)
                out = np.load(os.path.join(d, f"W_{method}_pollard.npy"))
                diff = float(np.max(np.abs(out - out_ref)))
                same_mask = float(np.mean((out == 0) == (out_ref == 0)))
                t = ours[f"{method}_pollard"]
                print(f"| {rows}x{cols} | {method} | {t_ref:.4f} | {t:.4f} | {t_ref / t:.2f} | {diff:.3g} | "
                      f"{float(np.max(np.abs(w))):.3g} | {100 * same_mask:.4f} % |", flush=True)


if __name__ == "__main__":
    main()
