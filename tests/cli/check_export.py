#!/usr/bin/env python3
"""Checks `pollard export` of a llama2.c checkpoint: reads the checkpoint with numpy (the v0
layout: 7 int32 — dim, hidden_dim, layers, heads, kv_heads, vocab (negative: untied), context —
then token embedding, attention norms, wq, wk, wv, wo, MLP norms, w1, w2, w3, all f32) and every
compressed linear of EXPORT with the independent expansion of check_sparse_safetensors.py, and
requires blk.B.{attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_down, ffn_up} to equal
wq, wk, wv, wo, w1, w2, w3 of layer B exactly. Exit 0 on success, 3 without numpy/safetensors.
usage: check_export.py CHECKPOINT EXPORT LAYOUT"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "io", "fixtures", "sparse"))
try:
    import numpy as np
    from safetensors import safe_open
    from check_sparse_safetensors import compressed_prefixes, expand
except ImportError:
    sys.exit(3)

checkpoint, export, layout = sys.argv[1], sys.argv[2], sys.argv[3]
raw = np.fromfile(checkpoint, dtype=np.int32, count=7)
dim, hidden, layers, heads, kv_heads, vocab, _ = (int(x) for x in raw)
kv = dim * kv_heads // heads
data = np.fromfile(checkpoint, dtype=np.float32, offset=28)
at = 0


def take(*shape):
    global at
    n = int(np.prod(shape))
    out = data[at : at + n].reshape(shape)
    at += n
    return out


take(abs(vocab), dim)
take(layers, dim)
wq, wk, wv, wo = take(layers, dim, dim), take(layers, kv, dim), take(layers, kv, dim), take(layers, dim, dim)
take(layers, dim)
w1, w2, w3 = take(layers, hidden, dim), take(layers, dim, hidden), take(layers, hidden, dim)
names = {"attn_q": wq, "attn_k": wk, "attn_v": wv, "attn_output": wo, "ffn_gate": w1,
         "ffn_down": w2, "ffn_up": w3}
with safe_open(export, framework="numpy") as f:
    assert f.metadata()["sparsity_format"] == layout, f.metadata()
    prefixes = compressed_prefixes(f)
    assert len(prefixes) == 7 * layers, len(prefixes)
    for p in prefixes:
        _, block, name = p.split(".")
        want = names[name][int(block)]
        got = expand(f, p, layout).astype(np.float32)
        assert got.shape == want.shape and np.array_equal(got, want), p
print("ok")
