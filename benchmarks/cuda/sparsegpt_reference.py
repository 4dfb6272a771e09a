"""The reference SparseGPT solver (IST-DASLab's `fasterprune`: fp32, TF32 off, blocks of 128,
percdamp 0.01) re-implemented in PyTorch and timed on one LLaMA-7B block's linear shapes
(4 x 4096x4096, 2 x 11008x4096, 1 x 4096x11008), pruning only, at 50 % and 2:4; the whole
model is 32 such blocks. Run beside bench-cuda-cuda_backend in the same job for same-run ratios.

`--compare DIR` instead prunes the linears that `bench-cuda-cuda_backend --dump DIR` wrote
(Hessian, weights, pollard's pruned weights; raw float32) with the reference and prints the
differences of the outputs.
"""
import os
import sys
import time

import torch


def fasterprune(w, h, sparsity=0.0, prune_n=0, prune_m=0, blocksize=128, percdamp=0.01):
    w = w.clone().float()
    h = h.clone()
    columns = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    losses = torch.zeros(w.shape[0], device=w.device)
    damp = percdamp * torch.mean(torch.diag(h))
    diagonal = torch.arange(columns, device=w.device)
    h[diagonal, diagonal] += damp
    h = torch.linalg.cholesky(h)
    h = torch.cholesky_inverse(h)
    hinv = torch.linalg.cholesky(h, upper=True)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        losses1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        if prune_n == 0:
            saliency = w1**2 / (torch.diag(hinv1).reshape((1, -1))) ** 2
            threshold = torch.sort(saliency.flatten())[0][int(saliency.numel() * sparsity)]
            mask1 = saliency <= threshold
        else:
            mask1 = torch.zeros_like(w1) == 1
        for i in range(count):
            column = w1[:, i]
            d = hinv1[i, i]
            if prune_n != 0 and i % prune_m == 0:
                saliency = w1[:, i:(i + prune_m)] ** 2 / (
                    torch.diag(hinv1)[i:(i + prune_m)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(saliency, prune_n, dim=1, largest=False)[1], True)
            q = column.clone()
            q[mask1[:, i]] = 0
            q1[:, i] = q
            losses1[:, i] = (column - q) ** 2 / d**2
            error = (column - q) / d
            w1[:, i:] -= error.unsqueeze(1).matmul(hinv1[i, i:].unsqueeze(0))
            err1[:, i] = error
        w[:, i1:i2] = q1
        losses += torch.sum(losses1, 1) / 2
        w[:, i2:] -= err1.matmul(hinv[i1:i2, i2:])
    return w, losses


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda"
    generator = torch.Generator(device=device).manual_seed(0)
    tokens = 16384
    hessians = {}
    for d in (4096, 11008):
        x = torch.randn(tokens, d, device=device, generator=generator)
        hessians[d] = 2.0 / tokens * (x.t() @ x)
    linears = [(4096, 4096)] * 4 + [(11008, 4096)] * 2 + [(4096, 11008)]
    weights = [0.02 * torch.randn(o, i, device=device, generator=generator) for o, i in linears]
    fasterprune(weights[0], hessians[4096], sparsity=0.5)  # warm-up
    torch.cuda.synchronize()
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| reference SparseGPT (PyTorch), one LLaMA-7B block | time s | x32 blocks s |")
    print("|---|---|---|")
    for name, arguments in (("50 %", dict(sparsity=0.5)), ("2:4", dict(prune_n=2, prune_m=4))):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for w, (o, i) in zip(weights, linears):
            fasterprune(w, hessians[i], **arguments)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(f"| {name} | {seconds:.2f} | {32 * seconds:.1f} |")


def load(path, rows, cols):
    return torch.from_file(path, size=rows * cols, dtype=torch.float32).reshape(rows, cols)


def compare(directory):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| linear | d_out x d_in | rule | max abs diff | max abs diff / max abs W | "
          "relative Frobenius diff | masks differ | entries |")
    print("|---|---|---|---|---|---|---|---|")
    with open(os.path.join(directory, "manifest.txt")) as manifest:
        for line in manifest:
            name, rows, cols = line.split()
            rows, cols = int(rows), int(cols)
            base = os.path.join(directory, name)
            h = load(base + ".h.bin", cols, cols).cuda()
            w = load(base + ".w.bin", rows, cols).cuda()
            outputs = {}
            for rule, arguments in (("50", dict(sparsity=0.5)), ("50-reference-threshold", None),
                                    ("2-4", dict(prune_n=2, prune_m=4))):
                ours = load(base + "." + rule + ".bin", rows, cols).cuda()
                if arguments is None:  # pollard with the reference's `<= threshold` rule
                    reference = outputs["50"]
                else:
                    reference, _ = fasterprune(w, h, **arguments)
                    outputs[rule] = reference
                diff = (ours - reference).abs()
                masks_differ = int(((ours == 0) != (reference == 0)).sum())
                label = {"50": "50 %", "50-reference-threshold": "50 %, reference_threshold",
                         "2-4": "2:4"}[rule]
                print(f"| {name} | {rows}x{cols} | {label} | "
                      f"{diff.max().item():.3g} | {diff.max().item() / w.abs().max().item():.3g} | "
                      f"{(torch.linalg.norm(ours - reference) / torch.linalg.norm(reference)).item():.3g} | "
                      f"{masks_differ} | {rows * cols} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        compare(sys.argv[2])
    else:
        main()
