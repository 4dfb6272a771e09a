#!/usr/bin/env python3
"""Checks pollard's rewrite_gguf against llama.cpp's own python package (PyPI `gguf`).

1. gguf-py writes a file with metadata of several types and F32/F16/BF16/Q8_0/Q4_0/Q4_1 tensors
   (quantized by gguf.quants.quantize); gguf-rewrite-tool replaces the readable tensors by their
   dequantized values with every other element zeroed, stored `same`, then `f16`. gguf-py must
   read each output and find the metadata and the untouched tensors unchanged, and each replaced
   tensor's bytes equal to gguf.quants.quantize (numpy astype for F16) of the pruned values.
2. With the SmolLM2 Q4_1 model (cmake/fetch_smollm2.sh), the same for blk.0.attn_q.weight and
   token_embd.weight kept `same`: every other tensor's bytes unchanged.
Prints "SKIPPED: ..." and exits 0 when the gguf package is missing.
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize, dequantize
    from gguf_python_check import smollm2_path
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIPPED: the python gguf package is not importable ({e}); pip install gguf")
    sys.exit(0)


def raw_bytes(tensor):
    return np.ascontiguousarray(tensor.data).view(np.uint8).reshape(-1).tobytes()


def float_values(tensor):
    data = np.asarray(tensor.data)
    if tensor.tensor_type in (Q.F32,):
        return data.astype(np.float32).reshape(-1)
    if tensor.tensor_type == Q.F16:
        return data.view(np.float16).astype(np.float32).reshape(-1)
    return dequantize(data.view(np.uint8), tensor.tensor_type).astype(np.float32).reshape(-1)


def expected_bytes(values, dims, qtype):
    """gguf-py's bytes for float values of GGUF dims (ne[0] first) stored as qtype."""
    rows = values.reshape(tuple(reversed(dims)))
    if qtype == Q.F32:
        return rows.astype(np.float32).tobytes()
    if qtype == Q.F16:
        return rows.astype(np.float16).tobytes()
    return np.ascontiguousarray(quantize(rows, qtype)).tobytes()


def check(original_path, output_path, replaced, stored, problems):
    """stored: None for `same`, else the GGMLQuantizationType every replaced tensor must have."""
    a, b = gguf.GGUFReader(original_path), gguf.GGUFReader(output_path)
    fa = [(n, f.types, f.contents()) for n, f in a.fields.items() if not n.startswith("GGUF.")]
    fb = [(n, f.types, f.contents()) for n, f in b.fields.items() if not n.startswith("GGUF.")]
    if fa != fb:
        problems.append(f"{output_path}: metadata differ")
    if [t.name for t in a.tensors] != [t.name for t in b.tensors]:
        problems.append(f"{output_path}: tensor names or order differ")
        return
    for ta, tb in zip(a.tensors, b.tensors):
        if list(ta.shape) != list(tb.shape):
            problems.append(f"{ta.name}: shape {list(ta.shape)} became {list(tb.shape)}")
        if ta.name not in replaced:
            if ta.tensor_type != tb.tensor_type or raw_bytes(ta) != raw_bytes(tb):
                problems.append(f"{ta.name}: not replaced, yet its type or bytes changed")
            continue
        want_type = stored if stored is not None else ta.tensor_type
        if tb.tensor_type != want_type:
            problems.append(f"{ta.name}: stored as {tb.tensor_type.name}, not {want_type.name}")
            continue
        pruned = float_values(ta).copy()
        pruned[::2] = 0.0
        if raw_bytes(tb) != expected_bytes(pruned, [int(d) for d in ta.shape], want_type):
            problems.append(f"{ta.name}: bytes differ from gguf-py's {want_type.name} of the pruned values")


def synthetic(path):
    rng = np.random.default_rng(5)
    w = gguf.GGUFWriter(path, "llama")
    w.add_uint32("llama.block_count", 1)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_string("general.name", "rewrite check")
    w.add_array("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>"])
    w.add_bool("some.flag", True)
    tensors = {
        "token_embd.weight": ((512, 64), Q.Q8_0),
        "blk.0.attn_norm.weight": ((64,), Q.F32),
        "blk.0.attn_q.weight": ((64, 64), Q.Q4_1),
        "blk.0.attn_k.weight": ((32, 64), Q.Q4_0),
        "blk.0.attn_v.weight": ((32, 64), Q.F16),
        "blk.0.ffn_up.weight": ((192, 64), Q.Q4_1),
        "output_norm.weight": ((64,), Q.F32),
    }
    for name, (shape, qtype) in tensors.items():
        x = rng.normal(0, 0.05, shape).astype(np.float32)
        data = x if qtype == Q.F32 else quantize(x, qtype)
        w.add_tensor(name, data, raw_dtype=None if qtype == Q.F32 else qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return list(tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.gguf")
        names = synthetic(src)
        replaced = [n for n in names if n != "blk.0.attn_norm.weight"]
        for type_name, stored in (("same", None), ("f16", Q.F16), ("f32", Q.F32)):
            out = os.path.join(tmp, f"out-{type_name}.gguf")
            subprocess.run([args.tool, src, out, type_name, "--prune", *replaced], check=True)
            check(src, out, set(replaced), stored, problems)
        print(f"synthetic: {len(replaced)} tensors replaced, checked as same, f16 and f32")

        model = smollm2_path()
        if os.path.isfile(model):
            out = os.path.join(tmp, "smollm2.gguf")
            replaced = ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"]
            subprocess.run([args.tool, model, out, "same", "--prune", *replaced], check=True)
            check(model, out, set(replaced), None, problems)
            print("SmolLM2: 3 tensors replaced, the other 269 unchanged")
        else:
            print(f"SmolLM2 not found at {model}: part 2 not run (cmake/fetch_smollm2.sh)")
    for p in problems:
        print("PROBLEM:", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
