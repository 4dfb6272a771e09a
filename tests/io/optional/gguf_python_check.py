#!/usr/bin/env python3
"""Checks pollard's GGUF reader and writer against llama.cpp's own python package (PyPI `gguf`).

1. gguf-py writes a file with every metadata value type and F32/F16/BF16/Q8_0/Q4_0/Q4_1 tensors;
   pollard (gguf-tool copy) reads it and writes it back; gguf-py must read pollard's file and find
   the same keys in the same order with the same types and values, the same tensor names and
   shapes, F32/F16/BF16 data bit for bit, and the quantized tensors as F32 equal, bit for bit, to
   gguf.quants.dequantize of the originals.
2. With the SmolLM2 Q4_1 model (cmake/fetch_smollm2.sh), the same for every tensor of the model,
   converted by pollard to F32.
Prints "SKIPPED: ..." and exits 0 when the gguf package (or, for part 2, the model) is missing.
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf
    from gguf import GGUFValueType as V, GGMLQuantizationType as Q
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIPPED: the python gguf package is not importable ({e}); pip install gguf")
    sys.exit(0)


def smollm2_path():
    p = os.environ.get("POLLARD_SMOLLM2_GGUF")
    if p:
        return p
    cache = os.environ.get("POLLARD_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pollard")
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


def kv_fields(reader):
    return [(name, f) for name, f in reader.fields.items() if not name.startswith("GGUF.")]


def same_bits(a, b):
    a = np.ascontiguousarray(a).reshape(-1)
    b = np.ascontiguousarray(b).reshape(-1)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare(original_path, copy_path, all_f32):
    """Returns a list of differences between the gguf-py views of the two files."""
    problems = []
    orig, copy = gguf.GGUFReader(original_path), gguf.GGUFReader(copy_path)
    if copy.fields["GGUF.version"].contents() != 3:
        problems.append("pollard did not write GGUF version 3")
    of, cf = kv_fields(orig), kv_fields(copy)
    if [n for n, _ in of] != [n for n, _ in cf]:
        problems.append(f"metadata keys differ: {[n for n, _ in of]} vs {[n for n, _ in cf]}")
    for (name, a), (_, b) in zip(of, cf):
        if a.types != b.types:
            problems.append(f"{name}: types {a.types} vs {b.types}")
        elif a.contents() != b.contents():
            problems.append(f"{name}: values differ")
    if [t.name for t in orig.tensors] != [t.name for t in copy.tensors]:
        problems.append("tensor names or order differ")
    for a, b in zip(orig.tensors, copy.tensors):
        if list(a.shape) != list(b.shape):
            problems.append(f"{a.name}: shape {list(a.shape)} vs {list(b.shape)}")
            continue
        if a.data_offset % 32 or b.data_offset % 32:
            problems.append(f"{a.name}: data not aligned to 32 bytes")
        keeps_type = not all_f32 and a.tensor_type in (Q.F32, Q.F16, Q.BF16)
        if keeps_type:
            if b.tensor_type != a.tensor_type or not same_bits(a.data, b.data):
                problems.append(f"{a.name}: {a.tensor_type.name} data not copied bit for bit")
        else:
            expected = gguf.quants.dequantize(a.data, a.tensor_type).astype(np.float32)
            if b.tensor_type != Q.F32:
                problems.append(f"{a.name}: written as {b.tensor_type.name}, not F32")
            elif not same_bits(expected, np.asarray(b.data)):
                diff = np.abs(expected.reshape(-1) - np.asarray(b.data).reshape(-1)).max()
                problems.append(f"{a.name}: {a.tensor_type.name} dequantized differently "
                                f"from gguf-py (max |diff| {diff})")
    return problems


def constructed_file(path):
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(path, "pollardtest")
    w.add_key_value("t.u8", 200, V.UINT8)
    w.add_key_value("t.i8", -100, V.INT8)
    w.add_key_value("t.u16", 60000, V.UINT16)
    w.add_key_value("t.i16", -30000, V.INT16)
    w.add_key_value("t.u32", 4000000000, V.UINT32)
    w.add_key_value("t.i32", -2000000000, V.INT32)
    w.add_key_value("t.f32", 0.1, V.FLOAT32)
    w.add_key_value("t.bool", True, V.BOOL)
    w.add_key_value("t.str", "héllo wörld", V.STRING)
    w.add_key_value("t.u64", 18000000000000000000, V.UINT64)
    w.add_key_value("t.i64", -9000000000000000000, V.INT64)
    w.add_key_value("t.f64", -2.5e-300, V.FLOAT64)
    w.add_key_value("t.a_i32", [7, -8, 9], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("t.a_f32", [0.5, -1.25], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("t.a_str", ["x", "", "ünïcode"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("t.a_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_tensor("f32", rng.standard_normal((5, 3)).astype(np.float32))
    w.add_tensor("f16", rng.standard_normal((2, 7)).astype(np.float16))
    w.add_tensor("f32_3d", rng.standard_normal((2, 3, 11)).astype(np.float32))
    bf16 = gguf.quants.quantize(rng.standard_normal((3, 9)).astype(np.float32), Q.BF16)
    w.add_tensor("bf16", bf16, raw_dtype=Q.BF16)
    for qt, shape in ((Q.Q8_0, (3, 64)), (Q.Q4_0, (5, 32)), (Q.Q4_1, (2, 96))):
        x = (rng.standard_normal(shape) * 0.05 + rng.standard_normal((shape[0], 1))).astype(np.float32)
        w.add_tensor(qt.name.lower(), gguf.quants.quantize(x, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="path of gguf-tool")
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory(prefix="pollard-gguf-py-") as tmp:
        ref, out = os.path.join(tmp, "gguf_py.gguf"), os.path.join(tmp, "pollard.gguf")
        constructed_file(ref)
        subprocess.run([args.tool, "copy", ref, out], check=True)
        problems = compare(ref, out, all_f32=False)
        print(f"constructed file: {len(gguf.GGUFReader(ref).tensors)} tensors, "
              f"{len(problems)} differences")
        failures += problems

        model = smollm2_path()
        if not os.path.isfile(model):
            print(f"SmolLM2 part not run: no model at {model} (run cmake/fetch_smollm2.sh)")
        else:
            out = os.path.join(tmp, "smollm2-f32.gguf")
            subprocess.run([args.tool, "copy", model, out, "--f32"], check=True)
            problems = compare(model, out, all_f32=True)
            print(f"SmolLM2: {len(gguf.GGUFReader(model).tensors)} tensors written as F32 by "
                  f"pollard, {len(problems)} differences from gguf-py's dequantize")
            failures += problems
    for p in failures:
        print("FAIL:", p)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
