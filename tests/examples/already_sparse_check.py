#!/usr/bin/env python3
"""prune_layer on layers that are already sparse (all-zero columns, an all-zero row), checked
against a numpy re-implementation of the criteria with the rule that a zero weight costs nothing
to prune: it scores 0, the lowest score, so the existing zeros are pruned first (ties by
position, a stable ascending sort). Pruning a layer that is already 50 % sparse to 50 % must
leave it unchanged; the reference RIA scores such zeros 0/0 = NaN and keeps them instead.

    already_sparse_check.py PRUNE_LAYER

Prints "SKIPPED: ..." without numpy; exits 1 listing every problem.
"""
import pathlib
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"SKIPPED: {e}")
    sys.exit(0)

problems = []


def scores(method, w, x):
    a = np.abs(w.astype(np.float64))
    s = (x.astype(np.float64) ** 2).sum(axis=0)  # ||x_j||^2 / N with N = 1 sequence
    if method == "magnitude":
        return a
    if method == "wanda":
        return a * np.sqrt(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a / a.sum(axis=0) + a / a.sum(axis=1, keepdims=True)) * np.sqrt(s) ** 0.5
    return np.where(a == 0, 0.0, r)  # the reference's 0/0 = NaN: a zero weight scores 0


def lowest(values, k):
    pruned = np.zeros(values.size, dtype=bool)
    pruned[np.argsort(values, kind="stable")[:k]] = True
    return pruned


def expected_mask(score, group):
    rows, cols = score.shape
    if group == "row":
        return np.stack([lowest(r, cols // 2) for r in score])
    if group == "matrix":
        return lowest(score.ravel(), score.size // 2).reshape(score.shape)
    if group == "2:4":
        return np.stack([np.concatenate([lowest(r[c:c + 4], 2) for c in range(0, cols, 4)])
                         for r in score])
    block = int(group.split(":")[1])
    out = np.zeros(score.shape, dtype=bool)
    for c in range(0, cols, block):
        part = score[:, c:c + block]
        out[:, c:c + block] = lowest(part.ravel(), part.size // 2).reshape(part.shape)
    return out


def prune(tool, folder, method, group, w, x):
    np.save(folder / "w.npy", w)
    np.save(folder / "x.npy", x)
    shape = ["--n-m", group] if group == "2:4" else ["--sparsity", "0.5", "--group", group]
    p = subprocess.run([tool, "--weights", folder / "w.npy", "--activations", folder / "x.npy",
                        "--method", method, *shape, "--out", folder / "o.npy", "--mask-out",
                        folder / "m.npy", "--threads", "1"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"prune_layer {method} {group}: exit {p.returncode}\n{p.stderr}")
    return np.load(folder / "o.npy"), np.load(folder / "m.npy").astype(bool)


def main():
    tool = sys.argv[1]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    dense = rng.standard_normal((8, 16)).astype(np.float32)
    half = dense.copy()
    half[:, ::2] = 0  # every even input channel already pruned: 50 % sparse
    padded = dense.copy()
    padded[:, 5] = 0  # a dead input channel
    padded[6, :] = 0  # an already-pruned (padded) output row
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        for method in ("magnitude", "wanda", "ria"):
            for group in ("row", "matrix", "block:8", "2:4"):
                out, mask = prune(tool, folder, method, group, half, x)
                if not (mask == (half == 0)).all() or not np.array_equal(out, half):
                    problems.append(f"{method} {group}: a 50 % sparse layer changed at 50 %: "
                                    f"mask prunes {int(mask.sum())}, of them "
                                    f"{int((mask & (half != 0)).sum())} live weights")
                out, mask = prune(tool, folder, method, group, padded, x)
                want = np.where(expected_mask(scores(method, padded, x), group), 0, padded)
                # The mask file marks every zero written as pruned (the tie order among the
                # zeros does not show).
                if not np.array_equal(mask, want == 0):
                    problems.append(f"{method} {group}: mask differs from numpy's at "
                                    f"{np.argwhere(mask != (want == 0)).tolist()}")
                if not np.array_equal(out, want.astype(np.float32)):
                    problems.append(f"{method} {group}: weights differ from W with the mask")
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
