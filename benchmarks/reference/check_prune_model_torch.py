#!/usr/bin/env python3
"""Checks prune_model_torch.py's block-by-block loop against a direct computation: on seeded random
tokens and the first two blocks of a Llama GGUF, the attn_q/attn_k/attn_v and ffn_gate/ffn_up
weights it prunes must equal torch_reference.py's solver applied to statistics computed from
inputs written out by hand (RMSNorm of the block input and of the attention's residual sum,
accumulated per sequence by torch_reference's own loops), where the input of block 1 is block 0's output after block 0
was pruned (the sequential schedule).

Usage: check_prune_model_torch.py MODEL.gguf [--sequences 3] [--length 16] [--threads 2]
Prints one JSON line per method; exits 1 when a weight differs by more than 1e-5 relative."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prune_model_torch as pm  # noqa: E402
import torch_reference as ref  # noqa: E402


def expected_block(block, x, method, n):
    """Pruned attention-input and MLP-input linears of one block computed directly from x."""
    cfg = block.cfg
    cos, sin = pm.rope_tables(cfg, x.shape[1])
    d = x.shape[-1]
    h_attn = pm.rms_norm(x, block.attn_norm, cfg.eps).reshape(-1, d)
    # One sequence at a time as the loop runs them: a batched product rounds differently, and
    # SparseGPT's adaptive mask turns a last-bit difference of a near-tied score into a flip.
    mid = torch.cat([x[j:j + 1] + block.attn_output(_attention(block, x[j:j + 1], cos, sin))
                     for j in range(x.shape[0])])
    h_ffn = pm.rms_norm(mid, block.ffn_norm, cfg.eps).reshape(-1, d)
    out = {}
    for names, inputs in ((("attn_q", "attn_k", "attn_v"), h_attn), (("ffn_gate", "ffn_up"), h_ffn)):
        for name in names:
            w = getattr(block, name).weight.data
            if method == "wanda":
                out[name] = ref.wanda(w, ref.scaler_row_by_sequences(inputs, n), 0.5)
            else:
                out[name] = ref.sparsegpt(w, ref.hessian_by_sequences(inputs, n), 0.5)[0]
    return out


def _attention(block, x, cos, sin):
    """The attention output before attn_output, by the same formulas as Block.forward."""
    saved = {}
    handle = block.attn_output.register_forward_hook(lambda _, inp, out: saved.setdefault("x", inp[0]))
    block(x, cos, sin)
    handle.remove()
    return saved["x"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--sequences", type=int, default=3)
    p.add_argument("--length", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    reader, tensors = pm.load_gguf(a.model)
    cfg = pm.LlamaConfig(reader)
    vocab = tensors["token_embd.weight"].shape[0]
    tokens = torch.randint(0, vocab, (a.sequences, a.length), generator=torch.Generator().manual_seed(0))
    failed = False
    for method in ("wanda", "sparsegpt"):
        def dense_block(b):  # Block's parameters share their tensors' storage: give it copies
            return pm.Block(cfg, {k: v.clone() for k, v in tensors.items() if k.startswith(f"blk.{b}.")}, b)

        blocks = [dense_block(0), dense_block(1)]
        x0 = tensors["token_embd.weight"][tokens]
        want0 = expected_block(dense_block(0), x0, method, a.sequences)
        pm.prune_model(cfg, blocks, x0.clone(), method, 0.5, 0, 0, 128, 0.01, False)
        cos, sin = pm.rope_tables(cfg, a.length)
        # Block 0 pruned gives block 1's input (the sequential schedule), one sequence at a time.
        x1 = torch.stack([blocks[0](x0[j:j + 1], cos, sin)[0] for j in range(a.sequences)])
        want1 = expected_block(dense_block(1), x1, method, a.sequences)
        worst = 0.0
        for b, want in ((0, want0), (1, want1)):
            for name, w in want.items():
                got = getattr(blocks[b], name).weight.data
                diff = float((got - w).abs().max() / w.abs().max())
                worst = max(worst, diff)
                if diff > 1e-5:
                    print(f"blk.{b}.{name}: {int(((got == 0) != (w == 0)).sum())} mask differences, max relative "
                          f"difference {diff:.3g}", file=sys.stderr)
        print(json.dumps({"method": method, "blocks": 2, "linears": 10, "max_relative_difference": worst}))
        failed |= worst > 1e-5
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
