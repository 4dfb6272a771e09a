#!/usr/bin/env python3
"""Runs SmolLM2 written back by pollard in llama.cpp itself (PyPI llama-cpp-python).

Three models of the same weights:
  q4_1         the original file (Q4_1 matrices, Q8_0 embedding, F32 norms);
  pollard_f32  every tensor dequantized by pollard and written as F32 (gguf-tool copy --f32);
  llama_f32    llama.cpp's own conversion of the original to F32 (llama_model_quantize with
               LLAMA_FTYPE_ALL_F32 and allow_requantize, i.e. ggml's dequantize_row_*).
Checks:
  1. pollard_f32 and llama_f32 hold the same tensors, bit for bit, so llama.cpp must produce
     identical logits for them (same weights, same graph, same thread count): tolerance 0.
  2. q4_1 against pollard_f32 differ only because llama.cpp multiplies Q4_1 weights by
     activations it first quantizes to Q8_1 (8-bit, one scale per 32 values); the weights
     themselves are the same numbers. That noise is bounded, not zero: we require top-1
     agreement on >= 90 % of positions and a mean KL(q4_1 || f32) below 0.05 nats, and print the
     measured figures.
Prints "SKIPPED: ..." and exits 0 when llama_cpp, gguf or the model is missing.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf
except ImportError as e:
    print(f"SKIPPED: numpy/gguf not importable ({e}); pip install gguf")
    sys.exit(0)
try:
    import llama_cpp
except ImportError as e:
    print(f"SKIPPED: llama_cpp not importable ({e}); pip install llama-cpp-python")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_python_check import smollm2_path  # noqa: E402

PROMPT = ("<|im_start|>user\nWhat is the capital of France, and why is it famous?<|im_end|>\n"
          "<|im_start|>assistant\nThe capital of France is Paris. It is famous for")
THREADS = 2


def _without_extra_buffer_types():
    """Default model params with use_extra_bufts off (llama.cpp's --no-repack): on a CPU that
    reports AMX, ggml's AMX Q4_1 matmul (an "extra" buffer type) crashed in
    ggml_backend_amx_mul_mat on the machine this was written on. The plain CPU kernels remain."""
    params = _default_model_params()
    if hasattr(params, "use_extra_bufts"):
        params.use_extra_bufts = False
    return params


_default_model_params = llama_cpp.llama_cpp.llama_model_default_params
llama_cpp.llama_cpp.llama_model_default_params = _without_extra_buffer_types


def logits(model_path):
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=128, n_batch=128, n_threads=THREADS,
                          n_threads_batch=THREADS, logits_all=True, verbose=False)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)], dtype=np.float32)
    del llm
    return tokens, out


def llama_cpp_f32(src, dst):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    params.nthread = THREADS
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize returned {rc}")


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="path of gguf-tool")
    args = ap.parse_args()
    model = smollm2_path()
    if not os.path.isfile(model):
        print(f"SKIPPED: no SmolLM2 model at {model} (run cmake/fetch_smollm2.sh)")
        return 0
    failures = []
    with tempfile.TemporaryDirectory(prefix="pollard-llama-cpp-") as tmp:
        ours = os.path.join(tmp, "pollard_f32.gguf")
        theirs = os.path.join(tmp, "llama_f32.gguf")
        subprocess.run([args.tool, "copy", model, ours, "--f32"], check=True)
        llama_cpp_f32(model, theirs)

        a, b = gguf.GGUFReader(ours), gguf.GGUFReader(theirs)
        tb = {t.name: t for t in b.tensors}
        differing = [t.name for t in a.tensors
                     if t.name not in tb or tb[t.name].tensor_type != gguf.GGMLQuantizationType.F32
                     or np.asarray(t.data).tobytes() != np.asarray(tb[t.name].data).tobytes()]
        print(f"tensors: {len(a.tensors)} written by pollard, {len(b.tensors)} by llama.cpp, "
              f"{len(differing)} differ")
        if differing or len(a.tensors) != len(b.tensors):
            failures.append(f"pollard's F32 tensors differ from llama.cpp's: {differing[:5]}")

        tokens, q = logits(model)
        _, ours_logits = logits(ours)
        _, theirs_logits = logits(theirs)
        d_same = float(np.abs(ours_logits - theirs_logits).max())
        print(f"{len(tokens)} tokens; max |logit(pollard F32) - logit(llama.cpp F32)| = {d_same:g}")
        if d_same != 0.0:
            failures.append(f"llama.cpp gives different logits for identical weights ({d_same:g})")

        lq, lf = log_softmax(q), log_softmax(ours_logits)
        kl = (np.exp(lq) * (lq - lf)).sum(axis=-1)
        top1 = float((q.argmax(-1) == ours_logits.argmax(-1)).mean())
        d_q = np.abs(q - ours_logits)
        print(f"Q4_1 vs pollard F32: top-1 agreement {top1:.3f}, mean KL {kl.mean():.4g} nats "
              f"(max {kl.max():.4g}), max |dlogit| {d_q.max():.4g}, mean |dlogit| {d_q.mean():.4g}, "
              f"logit std {float(ours_logits.std()):.4g}")
        if top1 < 0.9 or kl.mean() > 0.05:
            failures.append("Q4_1 and F32 logits diverge more than activation quantization explains")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
