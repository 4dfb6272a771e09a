#!/usr/bin/env python3
"""Whole-model pruning the way the reference scripts do it, in PyTorch on the CPU: the baseline
that `pollard prune` is timed and scored against on the same model and the same calibration tokens.

The procedure follows Wanda's prune_wanda / prune_sparsegpt (locuslab/wanda lib/prune.py) and
SparseGPT's llama_sequential (IST-DASLab/sparsegpt llama.py, without --true-sequential):
  - the calibration tokens are embedded into inps [N, L, d];
  - per block: forward hooks on its seven linears accumulate each linear's own statistic while
    every sequence runs through the block one at a time (batch 1) -- Wanda's scaler_row
    (scaler_row *= n/(n+1); n += 1; scaler_row += ||x_j||^2 / n) or SparseGPT's Hessian
    (H *= n/(n+1); n += 1; H += (2/n) X^T X), counted in sequences;
  - every linear of the block is pruned (Wanda: per-row stable sort of |W| sqrt(scaler_row),
    floor(d_in s) zeros per row, N:M by top-k in windows of M; SparseGPT: fasterprune with
    blocksize 128 and percdamp 0.01, unstructured or N:M);
  - the block runs again with its pruned weights, and its outputs are the next block's inputs.
The per-linear solvers are those of torch_reference.py beside this file.

The model is a Llama-architecture GGUF (every tensor dequantized to float32 with the gguf
package). GGUF stores the rows of attn_q / attn_k permuted for llama.cpp's rotary embedding,
which rotates adjacent pairs (2i, 2i+1) of each head; the forward pass here does the same, so
the tensors keep their stored layout and are written back unchanged apart from pruning.

Output: a GGUF with every metadata key of the input (general.file_type set to ALL_F32) and every
tensor in float32, in the input's order; and one JSON line on stdout with the timing split.

Usage (Debian's python3-torch, numpy and the gguf package):
  prune_model_torch.py MODEL.gguf OUT.gguf --tokens TOKENS.json --method wanda|sparsegpt
      [--sparsity 0.5 | --n-m 2:4] [--threads 2] [--percdamp 0.01] [--blocksize 128]
  prune_model_torch.py MODEL.gguf --check-logits FIXTURE.json [--check-last FIXTURE.npy]
TOKENS.json: {"sequences": N, "length": L, "tokens": [[L ids] x N]} (`pollard prune
--save-calibration`).
"""
import argparse
import json
import math
import os
import sys
import time

import gguf
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

LINEARS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


class LlamaConfig:
    def __init__(self, reader: gguf.GGUFReader):
        def field(key, default=None):
            f = reader.fields.get(key)
            if f is None:
                if default is None:
                    raise ValueError(f"GGUF metadata lacks {key}")
                return default
            return f.contents()

        arch = field("general.architecture")
        if arch != "llama":
            raise ValueError(f"general.architecture is {arch!r}; this script runs Llama models only")
        self.blocks = int(field("llama.block_count"))
        self.dim = int(field("llama.embedding_length"))
        self.hidden = int(field("llama.feed_forward_length"))
        self.heads = int(field("llama.attention.head_count"))
        self.kv_heads = int(field("llama.attention.head_count_kv", self.heads))
        self.eps = float(field("llama.attention.layer_norm_rms_epsilon"))
        self.rope_base = float(field("llama.rope.freq_base", 10000.0))
        self.head_dim = self.dim // self.heads
        self.rope_dims = int(field("llama.rope.dimension_count", self.head_dim))
        if self.rope_dims != self.head_dim:
            raise ValueError(f"llama.rope.dimension_count {self.rope_dims} != head size {self.head_dim}")
        if "llama.rope.scaling.type" in reader.fields:
            raise ValueError("rope scaling is not implemented here")


def load_gguf(path):
    """The reader and every tensor dequantized to float32, in PyTorch's [out, in] layout."""
    reader = gguf.GGUFReader(path)
    tensors = {}
    for t in reader.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = torch.from_numpy(np.array(a, dtype=np.float32))  # a writable copy
    return reader, tensors


def rms_norm(x, weight, eps):
    x = x.float()
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_tables(cfg, length):
    """cos and sin [L, head_dim/2] of position p and pair i: angle p * base^(-2i/head_dim)."""
    i = torch.arange(0, cfg.head_dim, 2, dtype=torch.float64)
    inv_freq = 1.0 / (cfg.rope_base ** (i / cfg.head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    return torch.cos(angles).float(), torch.sin(angles).float()


def rotate_pairs(x, cos, sin):
    """llama.cpp's RoPE (normal mode): rotate the adjacent pairs (2i, 2i+1) of each head.
    x: [B, L, heads, head_dim]."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).reshape(x.shape)


class Block(nn.Module):
    """One Llama decoder block (pre-norm attention with GQA, pre-norm SwiGLU MLP) whose linears
    are nn.Linear modules, so that forward hooks see their inputs as in the reference scripts."""

    def __init__(self, cfg, tensors, b):
        super().__init__()
        self.cfg = cfg
        self.attn_norm = tensors[f"blk.{b}.attn_norm.weight"]
        self.ffn_norm = tensors[f"blk.{b}.ffn_norm.weight"]
        for name in LINEARS:
            w = tensors[f"blk.{b}.{name}.weight"]
            lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight = nn.Parameter(w, requires_grad=False)
            setattr(self, name, lin)

    def linears(self):
        return {name: getattr(self, name) for name in LINEARS}

    def forward(self, x, cos, sin):
        cfg = self.cfg
        bsz, length, _ = x.shape
        h = rms_norm(x, self.attn_norm, cfg.eps)
        q = self.attn_q(h).view(bsz, length, cfg.heads, cfg.head_dim)
        k = self.attn_k(h).view(bsz, length, cfg.kv_heads, cfg.head_dim)
        v = self.attn_v(h).view(bsz, length, cfg.kv_heads, cfg.head_dim)
        q = rotate_pairs(q, cos, sin).transpose(1, 2)
        k = rotate_pairs(k, cos, sin).transpose(1, 2)
        v = v.transpose(1, 2)
        group = cfg.heads // cfg.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(cfg.head_dim)
        causal = torch.full((length, length), torch.finfo(scores.dtype).min).triu(1)
        probs = torch.softmax(scores + causal, dim=-1, dtype=torch.float32)
        attn = torch.matmul(probs, v).transpose(1, 2).reshape(bsz, length, cfg.dim)
        x = x + self.attn_output(attn)
        h = rms_norm(x, self.ffn_norm, cfg.eps)
        return x + self.ffn_down(nn.functional.silu(self.ffn_gate(h)) * self.ffn_up(h))


def logits_of(cfg, tensors, blocks, token_ids):
    x = tensors["token_embd.weight"][torch.tensor(token_ids)].unsqueeze(0)
    cos, sin = rope_tables(cfg, len(token_ids))
    for block in blocks:
        x = block(x, cos, sin)
    x = rms_norm(x, tensors["output_norm.weight"], cfg.eps)
    classifier = tensors.get("output.weight", tensors["token_embd.weight"])  # tied when absent
    return (x @ classifier.t())[0]


def check_logits(cfg, tensors, blocks, fixture, last_npy):
    """Compare with llama.cpp's logits (tests/llm/fixtures/make_smollm2_logits.py): per position
    the argmax and max logit, and the whole row at each prompt's last position."""
    with open(fixture) as f:
        cases = json.load(f)["cases"]
    last = np.load(last_npy) if last_npy else None
    worst_max, worst_row, scale, argmax_diff = 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for c, case in enumerate(cases):
            logits = logits_of(cfg, tensors, blocks, case["tokens"])
            mx, am = logits.max(dim=1)
            argmax_diff += int((am != torch.tensor(case["argmax"])).sum())
            worst_max = max(worst_max, float((mx - torch.tensor(case["max_logit"])).abs().max()))
            scale = max(scale, float(logits.abs().max()))
            if last is not None:
                worst_row = max(worst_row, float((logits[-1] - torch.from_numpy(last[c])).abs().max()))
    result = {"cases": len(cases), "argmax_mismatches": argmax_diff, "max_abs_diff_max_logit": worst_max,
              "max_abs_diff_last_row": worst_row if last is not None else None, "logit_scale": scale}
    print(json.dumps(result))
    ok = argmax_diff == 0 and max(worst_max, worst_row) <= 1e-3 * scale
    return 0 if ok else 1


def sequences_and_columns(inp):
    """What the references' add_batch does first: the batch size (sequences) of a linear's input
    [B, L, d_in] and the input as d_in x (B L) columns."""
    if inp.dim() == 2:
        inp = inp.unsqueeze(0)
    return inp.shape[0], inp.reshape(-1, inp.shape[-1]).t()


class WandaStatistic:
    """Wanda's WrappedGPT.add_batch: scaler_row, the running mean of ||x_j||^2 per sequence."""

    def __init__(self, columns):
        self.scaler_row = torch.zeros(columns)
        self.nsamples = 0

    def add_batch(self, inp):
        tmp, inp = sequences_and_columns(inp)
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        self.scaler_row += torch.norm(inp.float(), p=2, dim=1) ** 2 / self.nsamples


class HessianStatistic:
    """SparseGPT's add_batch: H = (2/n) sum X^T X with n counted in sequences."""

    def __init__(self, columns):
        self.H = torch.zeros(columns, columns)
        self.nsamples = 0

    def add_batch(self, inp):
        tmp, inp = sequences_and_columns(inp)
        self.H *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = math.sqrt(2 / self.nsamples) * inp.float()
        self.H += inp.matmul(inp.t())


def read_tokens(path, vocab):
    with open(path) as f:
        doc = json.load(f)
    n, length, rows = doc.get("sequences"), doc.get("length"), doc.get("tokens")
    if not isinstance(rows, list) or not isinstance(n, int) or not isinstance(length, int):
        raise ValueError(f"{path}: expected {{\"sequences\": N, \"length\": L, \"tokens\": [[...]]}}")
    if len(rows) != n or any(len(r) != length for r in rows):
        raise ValueError(f"{path}: tokens must be {n} rows of {length} ids")
    t = torch.tensor(rows, dtype=torch.long)
    if n == 0 or length == 0 or int(t.min()) < 0 or int(t.max()) >= vocab:
        raise ValueError(f"{path}: token ids must lie in [0, {vocab}) and the batch must not be empty")
    return t


def prune_model(cfg, blocks, inps, method, sparsity, prunen, prunem, blocksize, percdamp, log):
    """The reference block-by-block loop. Returns the timing split and the per-linear report."""
    timing = {"forward_seconds": 0.0, "statistics_seconds": 0.0, "solver_seconds": 0.0}
    report = []
    nsamples, length = inps.shape[0], inps.shape[1]
    cos, sin = rope_tables(cfg, length)
    outs = torch.zeros_like(inps)
    make = WandaStatistic if method == "wanda" else HessianStatistic
    for b, block in enumerate(blocks):
        subset = block.linears()
        stats = {name: make(lin.in_features) for name, lin in subset.items()}

        def hook(name):
            def add(_, inp, out):
                start = time.perf_counter()
                stats[name].add_batch(inp[0].data)
                timing["statistics_seconds"] += time.perf_counter() - start
            return add

        handles = [lin.register_forward_hook(hook(name)) for name, lin in subset.items()]
        stats_before = timing["statistics_seconds"]
        start = time.perf_counter()
        for j in range(nsamples):
            outs[j] = block(inps[j].unsqueeze(0), cos, sin)[0]
        timing["forward_seconds"] += time.perf_counter() - start - (timing["statistics_seconds"] - stats_before)
        for h in handles:
            h.remove()

        for name, lin in subset.items():
            start = time.perf_counter()
            loss = None
            if method == "wanda":
                w = ref.wanda(lin.weight.data, stats[name].scaler_row, sparsity, prunen, prunem)
            else:
                w, loss = ref.sparsegpt(lin.weight.data, stats[name].H, sparsity, prunen, prunem,
                                        blocksize=blocksize, percdamp=percdamp)
            lin.weight.data.copy_(w)
            seconds = time.perf_counter() - start
            timing["solver_seconds"] += seconds
            zeros = float((lin.weight.data == 0).float().mean())
            report.append({"name": f"blk.{b}.{name}", "rows": lin.out_features, "cols": lin.in_features,
                           "sparsity": zeros, "loss": loss, "seconds": seconds})
            stats[name] = None
            if log:
                print(f"blk.{b}.{name:<12} {lin.out_features:5d}x{lin.in_features:<5d} sparsity {zeros:.4f}"
                      + (f"  loss {loss:.4g}" if loss is not None else "") + f"  {seconds:.2f} s",
                      file=sys.stderr, flush=True)

        start = time.perf_counter()
        for j in range(nsamples):
            outs[j] = block(inps[j].unsqueeze(0), cos, sin)[0]
        timing["forward_seconds"] += time.perf_counter() - start
        inps, outs = outs, inps
    return timing, report


def write_gguf(reader, tensors, path):
    """Every metadata key of the input, general.file_type = ALL_F32, every tensor as float32."""
    writer = gguf.GGUFWriter(path, reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue  # the header's own counts and the architecture, written by the writer
        main = field.types[0]
        if key == "general.file_type":
            writer.add_key_value(key, int(gguf.LlamaFileType.ALL_F32), main)
        elif main == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main)
    if "general.alignment" in reader.fields:
        writer.data_alignment = int(reader.fields["general.alignment"].contents())
    for t in reader.tensors:
        writer.add_tensor(t.name, tensors[t.name].numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("output", nargs="?")
    p.add_argument("--tokens", help="calibration tokens JSON (pollard prune --save-calibration)")
    p.add_argument("--method", choices=["wanda", "sparsegpt"], default="wanda")
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--n-m", default="", help="N:M, N zeros in every M consecutive input weights")
    p.add_argument("--blocksize", type=int, default=128)
    p.add_argument("--percdamp", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quiet", action="store_true", help="no per-linear log on stderr")
    p.add_argument("--check-logits", help="compare the dense forward pass with a logits fixture")
    p.add_argument("--check-last", help="the fixture's last-position logit rows (.npy)")
    a = p.parse_args()

    prunen, prunem = 0, 0
    if a.n_m:
        try:
            prunen, prunem = (int(v) for v in a.n_m.split(":"))
        except ValueError:
            p.error(f"--n-m needs N:M, got {a.n_m!r}")
        if not 0 < prunen < prunem:
            p.error(f"--n-m needs 0 < N < M, got {a.n_m!r}")
    if not 0.0 <= a.sparsity < 1.0:
        p.error(f"--sparsity must lie in [0, 1), got {a.sparsity}")
    if not a.check_logits:
        if not a.output or not a.tokens:
            p.error("pruning needs OUT and --tokens")
        if os.path.exists(a.output) and os.path.samefile(a.output, a.model):
            p.error("OUT must differ from MODEL")
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)

    start_all = time.perf_counter()
    reader, tensors = load_gguf(a.model)
    cfg = LlamaConfig(reader)
    blocks = [Block(cfg, tensors, b) for b in range(cfg.blocks)]
    if a.check_logits:
        return check_logits(cfg, tensors, blocks, a.check_logits, a.check_last)
    tokens = read_tokens(a.tokens, tensors["token_embd.weight"].shape[0])
    for name in LINEARS:
        cols = tensors[f"blk.0.{name}.weight"].shape[1]
        if prunem and cols % prunem:
            p.error(f"--n-m {a.n_m}: M does not divide the width {cols} of {name}")
    load_seconds = time.perf_counter() - start_all

    start = time.perf_counter()
    inps = tensors["token_embd.weight"][tokens]  # [N, L, d]: the inputs of block 0
    timing, report = prune_model(cfg, blocks, inps, a.method, a.sparsity, prunen, prunem,
                                 a.blocksize, a.percdamp, not a.quiet)
    timing["total_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    write_gguf(reader, tensors, a.output)
    write_seconds = time.perf_counter() - start
    pruned = sum(r["sparsity"] * r["rows"] * r["cols"] for r in report)
    weights = sum(r["rows"] * r["cols"] for r in report)
    print(json.dumps({"method": a.method, "sparsity": a.sparsity if not prunen else None,
                      "n_m": a.n_m or None, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "sequences": int(tokens.shape[0]), "length": int(tokens.shape[1]),
                      "overall_sparsity": pruned / weights, "timing": timing,
                      "load_seconds": load_seconds, "write_seconds": write_seconds,
                      "wall_seconds": time.perf_counter() - start_all}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
