#!/usr/bin/env python3
"""Faithful PyTorch (CPU) re-implementations of the reference SparseGPT and Wanda layer pruning,
used to compare pollard's results and speed on the same inputs on the same machine.

SparseGPT follows the reference sweep: Hessian H = 2/N sum x x^T accumulated per sequence,
dead columns, damping percdamp * mean(diag H), H^-1 via cholesky -> cholesky_inverse ->
cholesky(upper), blocks of 128 columns, per-block quantile mask on w^2 / d^2 (or N:M every M
columns), per-column OBS update and a lazy GEMM update after each block.
Wanda: score |W| * sqrt(||x_j||^2 / N), per-row stable sort, prune the lowest floor(d_in * s).

Usage: torch_reference.py METHOD W.npy X.npy OUT.npy --sparsity S [--nm N:M] [--sequences K]
       (X is tokens x d_in; it is split into K sequences of equal length for the statistics)
Prints one JSON line: {"method", "seconds" (pruning only, statistics excluded), "loss"}.
"""
import argparse
import json
import time

import numpy as np
import torch


def hessian_by_sequences(x: torch.Tensor, sequences: int) -> torch.Tensor:
    d = x.shape[1]
    h = torch.zeros(d, d, dtype=torch.float32)
    n = 0
    for chunk in torch.chunk(x, sequences, dim=0):
        h *= n / (n + 1)
        n += 1
        xs = (2.0 / n) ** 0.5 * chunk.float()
        h += xs.t() @ xs
    return h


def scaler_row_by_sequences(x: torch.Tensor, sequences: int) -> torch.Tensor:
    d = x.shape[1]
    s = torch.zeros(d, dtype=torch.float32)
    n = 0
    for chunk in torch.chunk(x, sequences, dim=0):
        s *= n / (n + 1)
        n += 1
        s += torch.norm(chunk.float(), p=2, dim=0) ** 2 / n
    return s


def sparsegpt(w: torch.Tensor, h: torch.Tensor, sparsity: float, prunen: int = 0, prunem: int = 0,
              blocksize: int = 128, percdamp: float = 0.01):
    w = w.clone().float()
    h = h.clone()
    cols = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    losses = torch.zeros(w.shape[0])
    damp = percdamp * torch.mean(torch.diag(h))
    idx = torch.arange(cols)
    h[idx, idx] += damp
    h = torch.linalg.cholesky(h)
    h = torch.cholesky_inverse(h)
    hinv = torch.linalg.cholesky(h, upper=True)
    mask = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        losses1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = w1 ** 2 / (torch.diag(hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(count):
            col = w1[:, i]
            d = hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = w1[:, i:(i + prunem)] ** 2 / (torch.diag(hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
            q = col.clone()
            q[mask1[:, i]] = 0
            q1[:, i] = q
            losses1[:, i] = (col - q) ** 2 / d ** 2
            err = (col - q) / d
            w1[:, i:] -= err.unsqueeze(1).matmul(hinv1[i, i:].unsqueeze(0))
            err1[:, i] = err
        w[:, i1:i2] = q1
        losses += torch.sum(losses1, 1) / 2
        w[:, i2:] -= err1.matmul(hinv[i1:i2, i2:])
    return w, float(torch.sum(losses))


def wanda(w: torch.Tensor, scaler_row: torch.Tensor, sparsity: float, prunen: int = 0, prunem: int = 0):
    w = w.clone().float()
    metric = torch.abs(w) * torch.sqrt(scaler_row.reshape((1, -1)))
    mask = torch.zeros_like(metric, dtype=torch.bool)
    if prunen != 0:
        for ii in range(metric.shape[1]):
            if ii % prunem == 0:
                tmp = metric[:, ii:(ii + prunem)].float()
                mask.scatter_(1, ii + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
    else:
        sort_res = torch.sort(metric, dim=-1, stable=True)
        indices = sort_res[1][:, :int(metric.shape[1] * sparsity)]
        mask.scatter_(1, indices, True)
    w[mask] = 0
    return w


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method", choices=["sparsegpt", "wanda"])
    p.add_argument("weights")
    p.add_argument("activations")
    p.add_argument("output")
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--nm", default="")
    p.add_argument("--sequences", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    n, m = (int(v) for v in a.nm.split(":")) if a.nm else (0, 0)
    w = torch.from_numpy(np.load(a.weights).astype(np.float32))
    x = torch.from_numpy(np.load(a.activations).astype(np.float32))
    loss = None
    if a.method == "sparsegpt":
        h = hessian_by_sequences(x, a.sequences)
        start = time.perf_counter()
        out, loss = sparsegpt(w, h, a.sparsity, n, m)
    else:
        s = scaler_row_by_sequences(x, a.sequences)
        start = time.perf_counter()
        out = wanda(w, s, a.sparsity, n, m)
    seconds = time.perf_counter() - start
    np.save(a.output, out.numpy())
    print(json.dumps({"method": a.method, "seconds": seconds, "loss": loss,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
