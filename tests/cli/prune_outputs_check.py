#!/usr/bin/env python3
"""What `pollard prune` writes, read back with the reference readers (the `gguf` and
`safetensors` python packages, numpy) and compared with what its report and summary say.

    prune_outputs_check.py --pollard PATH --data POLLARD_DATA_DIR --gguf stories260K.gguf CASE

Prints "SKIPPED: ..." when a package or the data is missing; exits 1 listing every problem.
"""
import argparse
import json
import pathlib
import re
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf
    from gguf.quants import quantize
except ImportError as e:
    print(f"SKIPPED: {e}")
    sys.exit(0)

Q = gguf.GGMLQuantizationType
LINEAR = re.compile(r"^blk\.\d+\.(attn_[qkv]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$")
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def run(pollard, *args):
    p = subprocess.run([pollard, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"pollard {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}")
    return p.stdout


def copy_gguf_quantized(src, dst, qtype, file_type=None):
    """src with every linear whose rows are whole blocks stored as qtype (gguf-py's quantizer),
    every other tensor and every metadata key as they are (and general.file_type when given)."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, str(r.fields["general.architecture"].contents()))
    if file_type is not None:
        w.add_file_type(file_type)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, f.contents(), f.types[0], sub)
    quantized = []
    for t in r.tensors:
        x = np.asarray(t.data)
        linear = LINEAR.search(t.name)
        if linear and t.tensor_type == Q.F32 and x.shape[-1] % 32 == 0:
            w.add_tensor(t.name, quantize(x.astype(np.float32), qtype), raw_dtype=qtype)
            quantized.append(t.name)
        else:
            w.add_tensor(t.name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return quantized


def zeros_of(reader_tensor):
    t = reader_tensor
    x = np.asarray(t.data)
    if t.tensor_type not in (Q.F32, Q.F16):
        x = gguf.quants.dequantize(x, t.tensor_type)
    x = np.asarray(x, dtype=np.float32)
    return float(np.count_nonzero(x == 0)), float(x.size)


def case_gguf_report(args, tmp):
    """The report and summary describe the file: per-linear sparsity and type as written."""
    q41 = tmp / "q41.gguf"
    quantized = copy_gguf_quantized(args.gguf, q41, Q.Q4_1)
    check(len(quantized) > 0, "no linear was quantized to Q4_1")
    text = pathlib.Path(args.data) / "text/tinystories/tinystories_train_head.txt"
    for out_type in ("same", "f16", "bf16", "f32"):
        out, report_path = tmp / f"p-{out_type}.gguf", tmp / f"r-{out_type}.json"
        stdout = run(args.pollard, "prune", q41, out, "--method", "wanda", "--sparsity", "0.5",
                     "--type", out_type, "--calibration", f"text:{text}", "--samples", "4",
                     "--length", "32", "--seed", "3", "--report", report_path, "--quiet")
        report = json.loads(report_path.read_text())
        written = {t.name: t for t in gguf.GGUFReader(out).tensors}
        zeros_all = size_all = 0.0
        for linear in report["linears"]:
            t = written[linear["name"] + ".weight"]
            zeros, size = zeros_of(t)
            zeros_all += zeros
            size_all += size
            where = f"--type {out_type}: {linear['name']}"
            check(abs(linear["sparsity"] - zeros / size) < 1e-12,
                  f"{where}: report says sparsity {linear['sparsity']}, the file holds {zeros / size}")
            check(linear["stored_type"] == t.tensor_type.name,
                  f"{where}: report says {linear['stored_type']}, the file holds {t.tensor_type.name}")
        overall = zeros_all / size_all
        check(abs(report["overall_sparsity"] - overall) < 1e-9,
              f"--type {out_type}: overall_sparsity {report['overall_sparsity']} against {overall} in the file")
        m = re.search(r"with wanda \(sequential\): ([0-9.]+) of their weights are zero", stdout)
        check(m is not None and abs(float(m.group(1)) - overall) < 5e-5,
              f"--type {out_type}: the summary says {m and m.group(1)}, the file holds {overall:.4f}")
        if out_type == "same":
            check(overall < 0.3, f"Q4_1 kept {overall} zeros: the check would not catch a report of 0.5")
            check(any(l["sparsity_before_storing"] == 0.5 for l in report["linears"]),
                  "sparsity_before_storing does not keep the float sparsity")
        # What the run read, for reproducing it (item: seed, calibration, samples, model).
        cal = report["calibration"]
        check(report["model"] == str(q41), f"report model {report['model']!r}")
        check(cal["spec"] == f"text:{text}" and cal["seed"] == 3 and cal["sequences"] == 4
              and cal["length"] == 32, f"report calibration {cal}")
        check(f"calibration: text:{text}, 4 sequences x 32 tokens" in stdout and "seed 3" in stdout,
              f"the summary does not state the calibration: {stdout}")


def case_block_sparsity(args, tmp):
    """Blocks the targets leave alone are reported unpruned (0), the others as written."""
    out, report_path = tmp / "p.gguf", tmp / "r.json"
    run(args.pollard, "prune", args.gguf, out, "--method", "magnitude", "--sparsity", "0.5",
        "--targets", "blk.2.*", "--report", report_path, "--quiet")
    report = json.loads(report_path.read_text())
    written = {t.name: t for t in gguf.GGUFReader(out).tensors}
    for b, s in enumerate(report["block_sparsity"]):
        zeros = size = 0.0
        for name, t in written.items():
            if name.startswith(f"blk.{b}.") and (b == 2) and LINEAR.search(name):
                z, n = zeros_of(t)
                zeros += z
                size += n
        want = zeros / size if size else 0.0
        check(abs(s - want) < 1e-12, f"block_sparsity[{b}] = {s}, the file's pruned linears hold {want}")
    check(report["block_sparsity"][0] == 0 and report["block_allocation"][0] is None,
          f"an untouched block: {report['block_sparsity']} {report['block_allocation']}")


def case_save_calibration(args, tmp):
    """--save-calibration records how the tokens were drawn and which ones count."""
    alpaca = pathlib.Path(args.data) / "text/alpaca/alpaca_5000.json"
    stories = pathlib.Path(args.data) / "models/stories260K/stories260K.bin"
    tokens, report_path = tmp / "tokens.json", tmp / "r.json"
    run(args.pollard, "prune", stories, tmp / "p.bin", "--method", "wanda", "--calibration",
        f"alpaca:{alpaca}", "--responses-only", "--samples", "3", "--length", "256", "--seed", "7",
        "--save-calibration", tokens, "--report", report_path, "--quiet")
    saved, report = json.loads(tokens.read_text()), json.loads(report_path.read_text())
    check(saved["responses_only"] is True and saved["seed"] == 7
          and saved["calibration"] == f"alpaca:{alpaca}" and saved["model"] == str(stories),
          f"--save-calibration: {dict((k, v) for k, v in saved.items() if k not in ('tokens', 'counted'))}")
    counted = np.array(saved["counted"])
    check(counted.shape == (3, 256) and set(np.unique(counted)) == {0, 1},
          f"--save-calibration counted flags: shape {counted.shape}, values {np.unique(counted)}")
    check(int(counted.sum()) == report["calibration"]["tokens_counted"],
          f"{int(counted.sum())} counted flags against {report['calibration']['tokens_counted']} in the report")
    check(report["calibration"]["responses_only"] is True, "the report does not say --responses-only")
    # llama2.c's tokenizer reads text spelling <s> as ordinary text: both record what it does.
    check(saved["special_tokens"] == "plain", f"special_tokens: {saved['special_tokens']}")
    check(report["calibration"]["special_tokens"] == "plain",
          f"report special_tokens: {report['calibration']['special_tokens']}")
    check(saved["origins"] == [f"alpaca:{alpaca}"] * 3, f"origins: {saved['origins']}")
    # A mixture (2:1 of 3 sequences) names each sequence's source; the mode --special-tokens gives
    # is recorded (on the GGUF of stories260K: llama2.c's own tokenizer refuses the option).
    stories_text = pathlib.Path(args.data) / "text/tinystories/tinystories_train_head.txt"
    run(args.pollard, "prune", args.gguf, tmp / "q.gguf", "--method", "wanda", "--calibration",
        f"alpaca:{alpaca}@2,text:{stories_text}@1", "--samples", "3", "--length", "64",
        "--special-tokens", "plain", "--save-calibration", tmp / "mixed.json", "--quiet")
    mixed = json.loads((tmp / "mixed.json").read_text())
    check(sorted(mixed["origins"]) == [f"alpaca:{alpaca}"] * 2 + [f"text:{stories_text}"],
          f"mixture origins: {mixed['origins']}")
    check(mixed["sources"] == [{"name": f"alpaca:{alpaca}", "kind": "alpaca", "path": str(alpaca),
                                "weight": 2}, {"name": f"text:{stories_text}", "kind": "text",
                                               "path": str(stories_text), "weight": 1}],
          f"mixture sources: {mixed['sources']}")
    check(mixed["special_tokens"] == "plain", f"special_tokens: {mixed['special_tokens']}")


def case_calibration_sources(args, tmp):
    """Each sequence's origin names its source uniquely: two files of one name in different
    folders are told apart (KIND:PATH as given); a source listed twice (one kind, one file, by
    any path) is refused naming both, by prune and capture, before anything is written; one file
    read as two kinds is two sources."""
    stories = pathlib.Path(args.data) / "models/stories260K/stories260K.bin"
    text = pathlib.Path(args.data) / "text/tinystories/tinystories_train_head.txt"
    paragraphs = text.read_text().split("\n\n")
    documents = ["\n\n".join(paragraphs[i:i + 4]) for i in range(0, 240, 4)]
    for folder, part in (("a", documents[:30]), ("b", documents[30:60])):
        (tmp / folder).mkdir()
        (tmp / folder / "c4.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in part))
    a, b = tmp / "a/c4.jsonl", tmp / "b/c4.jsonl"
    saved = tmp / "tokens.json"
    run(args.pollard, "prune", stories, tmp / "p.bin", "--method", "wanda", "--calibration",
        f"c4:{a},c4:{b}@3", "--samples", "8", "--length", "32", "--save-calibration", saved,
        "--quiet")
    origins = json.loads(saved.read_text())["origins"]
    check(sorted(origins) == [f"c4:{a}"] * 2 + [f"c4:{b}"] * 6, f"origins: {origins}")
    for i, spec in enumerate((f"c4:{a},c4:{a}", f"c4:{a}@1,documents:{tmp}/a/../a/c4.jsonl@2",
                              f"text:{text},text:{text}")):
        first, second = spec.split(",")
        out = tmp / f"twice{i}.bin"
        p = subprocess.run([args.pollard, "prune", stories, out, "--method", "wanda",
                            "--calibration", spec, "--samples", "4", "--length", "32",
                            "--save-calibration", tmp / f"twice{i}.json", "--quiet"],
                           capture_output=True, text=True)
        check(p.returncode == 2 and f"{first.split('@')[0]} and {second.split('@')[0]} are the "
              "same source listed twice" in p.stderr and not out.exists(),
              f"prune --calibration {spec}: exit {p.returncode}, {p.stderr.strip()}")
    p = subprocess.run([args.pollard, "capture", stories, "--calibration", f"c4:{a},c4:{a}",
                        "--block", "0", "--linear", "attn_q", "--weights-out", tmp / "w.npy"],
                       capture_output=True, text=True)
    check(p.returncode == 2 and "same source listed twice" in p.stderr
          and not (tmp / "w.npy").exists(), f"capture: exit {p.returncode}, {p.stderr.strip()}")
    # One file as documents and as a corpus: two sources, two origins.
    run(args.pollard, "prune", stories, tmp / "q.bin", "--method", "wanda", "--calibration",
        f"c4:{a},text:{a}", "--samples", "4", "--length", "32", "--save-calibration", saved,
        "--quiet")
    origins = json.loads(saved.read_text())["origins"]
    check(sorted(origins) == [f"c4:{a}"] * 2 + [f"text:{a}"] * 2, f"two kinds: {origins}")


def case_llama2c_copy(args, tmp):
    """A pruned llama2.c checkpoint differs from its input only where a pruned linear is stored
    (the freq_cis tables are copied, not recomputed), and its tokenizer is copied beside it."""
    data = pathlib.Path(args.data) / "models/stories260K"
    (tmp / "in").mkdir()
    (tmp / "out").mkdir()
    model = tmp / "in/stories260K.bin"
    model.write_bytes((data / "stories260K.bin").read_bytes())
    (tmp / "in/tok512.bin").write_bytes((data / "tok512.bin").read_bytes())
    out = tmp / "out/p.bin"
    stdout = run(args.pollard, "prune", model, out, "--method", "magnitude", "--sparsity", "0.5",
                 "--targets", "blk.1.attn_q", "--quiet")
    before = np.frombuffer(model.read_bytes(), np.uint8)
    after = np.frombuffer(out.read_bytes(), np.uint8)
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = np.frombuffer(before[:28].tobytes(), np.int32)
    # header, token_embedding [vocab x dim], rms_att_weight [layers x dim], wq [layers x dim x dim]
    wq1 = 28 + 4 * (abs(vocab) * dim + layers * dim + dim * dim)
    changed = np.nonzero(before != after)[0]
    check(before.size == after.size, f"sizes {before.size} and {after.size}")
    check(changed.size > 0 and changed.min() >= wq1 and changed.max() < wq1 + 4 * dim * dim,
          f"bytes changed outside blk.1.attn_q's wq [{wq1}, {wq1 + 4 * dim * dim}): "
          f"{changed[(changed < wq1) | (changed >= wq1 + 4 * dim * dim)][:5]}")
    copy = tmp / "out/tok512.bin"
    check(copy.exists() and copy.read_bytes() == (data / "tok512.bin").read_bytes(),
          "the pruned model's folder does not hold MODEL's tokenizer")
    check(f"wrote {copy}" in stdout, f"the summary does not name the tokenizer copy: {stdout}")
    # Beside its input, nothing is copied.
    run(args.pollard, "prune", model, tmp / "in/p.bin", "--method", "magnitude", "--quiet")
    check(sorted(p.name for p in (tmp / "in").iterdir()) == ["p.bin", "stories260K.bin", "tok512.bin"],
          f"the input folder holds {sorted(p.name for p in (tmp / 'in').iterdir())}")
    # A folder whose models share a different tokenizer.bin: tok512.bin would take precedence
    # over it for every 512-token model there (the reader tries tok<vocab>.bin first); refused,
    # naming it, and nothing is written. (tokenizer.bin = tok512.bin with token 0's score changed.)
    (tmp / "shared").mkdir()
    other = bytearray((data / "tok512.bin").read_bytes())
    other[4:8] = np.float32(-123.0).tobytes()
    (tmp / "shared/tokenizer.bin").write_bytes(bytes(other))
    (tmp / "shared/model_a.bin").write_bytes(model.read_bytes())
    p = subprocess.run([args.pollard, "prune", model, tmp / "shared/p.bin", "--method",
                        "magnitude", "--quiet"], capture_output=True, text=True)
    check(p.returncode == 2, f"a shadowed tokenizer.bin: exit {p.returncode}")
    check(f"OUT's folder holds {tmp / 'shared/tokenizer.bin'}, which is not the tokenizer" in p.stderr,
          f"a shadowed tokenizer.bin is not named: {p.stderr}")
    check(sorted(q.name for q in (tmp / "shared").iterdir()) == ["model_a.bin", "tokenizer.bin"],
          f"the shared folder holds {sorted(q.name for q in (tmp / 'shared').iterdir())}")
    # The same tokenizer there shadows nothing: the copy is written.
    (tmp / "shared/tokenizer.bin").write_bytes((data / "tok512.bin").read_bytes())
    run(args.pollard, "prune", model, tmp / "shared/p.bin", "--method", "magnitude", "--quiet")
    check((tmp / "shared/tok512.bin").read_bytes() == (data / "tok512.bin").read_bytes(),
          "no tokenizer copy beside OUT when tokenizer.bin is MODEL's")


def hf_block_tensors(rng, dim, hidden, dtype):
    """Block 0 of a Hugging Face Llama as `dtype`: the linears 0.1·N(0, 1) from `rng`, the
    norms 1."""
    p, tensors = "model.layers.0.", {}
    for name, shape in (("self_attn.q_proj", (dim, dim)), ("self_attn.k_proj", (dim, dim)),
                        ("self_attn.v_proj", (dim, dim)), ("self_attn.o_proj", (dim, dim)),
                        ("mlp.gate_proj", (hidden, dim)), ("mlp.up_proj", (hidden, dim)),
                        ("mlp.down_proj", (dim, hidden))):
        tensors[p + name + ".weight"] = (0.1 * rng.standard_normal(shape)).astype(dtype)
    tensors[p + "input_layernorm.weight"] = np.ones(dim, dtype)
    tensors[p + "post_attention_layernorm.weight"] = np.ones(dim, dtype)
    return tensors


def hf_config(dim, hidden, vocab, tied, torch_dtype, **extra):
    """The config.json of a one-block Hugging Face Llama with two heads."""
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
            "intermediate_size": hidden, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 2, "vocab_size": vocab, "max_position_embeddings": 64,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tied,
            "hidden_act": "silu", "torch_dtype": torch_dtype, **extra}


def safetensors_modules():
    """safetensors' (safe_open, numpy save_file), or None, having printed SKIPPED, without it."""
    try:
        from safetensors import safe_open
        from safetensors.numpy import save_file
    except ImportError as e:
        print(f"SKIPPED: {e}")
        return None
    return safe_open, save_file


def case_hf_dtypes(args, tmp):
    """A Hugging Face model keeps every untouched tensor's dtype and bytes and its __metadata__;
    pruned linears are stored in their own dtype, or as --type."""
    modules = safetensors_modules()
    if modules is None:
        return
    safe_open, save_file = modules
    model = tmp / "hf"
    model.mkdir()
    rng = np.random.default_rng(1)
    dim, hidden, vocab = 16, 32, 40
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, dim)).astype(np.float16),
               "model.norm.weight": (1 + 0.01 * rng.standard_normal(dim)).astype(np.float32)}
    tensors.update(hf_block_tensors(rng, dim, hidden, np.float16))
    metadata = {"format": "pt", "origin": "prune_outputs_check", "note": "kept"}
    save_file(tensors, str(model / "model.safetensors"), metadata=metadata)
    config = hf_config(dim, hidden, vocab, True, "float16")
    (model / "config.json").write_text(json.dumps(config, indent=1))

    def header(path):
        raw = path.read_bytes()
        return json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])

    for out_type, want in (("same", "F16"), ("f32", "F32"), ("bf16", "BF16")):
        out, report_path = tmp / f"out-{out_type}", tmp / f"r-{out_type}.json"
        run(args.pollard, "prune", model, out, "--method", "magnitude", "--sparsity", "0.5",
            "--targets", "blk.0.attn_q,blk.0.ffn_down", "--report", report_path, "--quiet",
            *(() if out_type == "same" else ("--type", out_type)))
        report = json.loads(report_path.read_text())
        h = header(out / "model.safetensors")
        check(h.get("__metadata__") == metadata, f"--type {out_type}: __metadata__ {h.get('__metadata__')}")
        check((out / "config.json").read_bytes() == (model / "config.json").read_bytes(),
              f"--type {out_type}: config.json was rewritten")
        pruned = {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"}
        with safe_open(str(out / "model.safetensors"), "np") as f:
            keys = set(f.keys())
            check(keys == set(tensors), f"--type {out_type}: tensors {sorted(keys ^ set(tensors))}")
            for name, x in tensors.items():
                if name in pruned:
                    check(h[name]["dtype"] == want, f"--type {out_type}: {name} is {h[name]['dtype']}")
                    continue
                y = f.get_tensor(name)
                check(y.dtype == x.dtype and y.tobytes() == x.tobytes(),
                      f"--type {out_type}: untouched {name} changed ({x.dtype} -> {y.dtype})")
            for linear in report["linears"]:
                name = {"blk.0.attn_q": "model.layers.0.self_attn.q_proj.weight",
                        "blk.0.ffn_down": "model.layers.0.mlp.down_proj.weight"}[linear["name"]]
                check(linear["stored_type"] == want, f"--type {out_type}: report says {linear['stored_type']}")
                if want != "BF16":
                    y = f.get_tensor(name).astype(np.float32)
                    check(abs(linear["sparsity"] - np.count_nonzero(y == 0) / y.size) < 1e-12,
                          f"--type {out_type}: {linear['name']} sparsity {linear['sparsity']}")
        size_in = (model / "model.safetensors").stat().st_size
        size_out = (out / "model.safetensors").stat().st_size
        if want != "F32":
            check(abs(size_out - size_in) < 256, f"--type {out_type}: {size_in} bytes became {size_out}")


def write_safetensors_bf16(path, tensors, metadata):
    """A safetensors file with every float32 array of `tensors` stored as BF16 (its upper 16 bits:
    numpy has no bfloat16), written by hand as the format describes."""
    header, blobs, at = {"__metadata__": metadata}, [], 0
    for name, x in tensors.items():
        raw = (np.ascontiguousarray(x, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(x.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def safetensors_parts(path):
    """(header, {name: raw bytes}) of a safetensors file, read by hand."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    return header, {k: data[v["data_offsets"][0]:v["data_offsets"][1]]
                    for k, v in header.items() if k != "__metadata__"}


def case_hf_bf16_convert(args, tmp):
    """A BF16 Hugging Face model pruned keeps its dtypes, bytes, torch_dtype and __metadata__;
    `convert` of a Hugging Face model keeps __metadata__ and says in torch_dtype what it wrote."""
    model = tmp / "hf"
    model.mkdir()
    rng = np.random.default_rng(2)
    dim, hidden, vocab = 16, 32, 40
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, dim)),
               "model.norm.weight": 1 + 0.01 * rng.standard_normal(dim)}
    tensors.update(hf_block_tensors(rng, dim, hidden, np.float64))
    p = "model.layers.0."
    metadata = {"format": "pt", "origin": "prune_outputs_check", "note": "kept"}
    write_safetensors_bf16(model / "model.safetensors", tensors, metadata)
    config = hf_config(dim, hidden, vocab, True, "bfloat16", bos_token_id=1, eos_token_id=2)
    (model / "config.json").write_text(json.dumps(config, indent=1))
    header_in, bytes_in = safetensors_parts(model / "model.safetensors")

    out = tmp / "pruned"
    run(args.pollard, "prune", model, out, "--method", "magnitude", "--sparsity", "0.5",
        "--targets", "blk.0.attn_q", "--quiet")
    header, data = safetensors_parts(out / "model.safetensors")
    check(header.get("__metadata__") == metadata, f"prune: __metadata__ {header.get('__metadata__')}")
    check(json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16",
          "prune: torch_dtype changed")
    for name in tensors:
        check(header[name]["dtype"] == "BF16", f"prune: {name} is {header[name]['dtype']}")
        if name != p + "self_attn.q_proj.weight":
            check(data[name] == bytes_in[name], f"prune: untouched {name} changed")
    q = np.frombuffer(data[p + "self_attn.q_proj.weight"], "<u2")
    check(np.count_nonzero(q & 0x7FFF == 0) == q.size // 2, "prune: q_proj is not half zero")

    copy = tmp / "converted"
    run(args.pollard, "convert", model, copy)
    header, data = safetensors_parts(copy / "model.safetensors")
    check(header.get("__metadata__") == metadata, f"convert: __metadata__ {header.get('__metadata__')}")
    written = json.loads((copy / "config.json").read_text())
    check(written["torch_dtype"] == "float32", f"convert: torch_dtype {written['torch_dtype']}")
    check((written.get("bos_token_id"), written.get("eos_token_id")) == (1, 2),
          "convert: a config.json key was dropped")
    for name in tensors:
        check(header[name]["dtype"] == "F32", f"convert: {name} is {header[name]['dtype']}")
        want = (np.frombuffer(bytes_in[name], "<u2").astype(np.uint32) << 16).view(np.float32)
        check(np.array_equal(np.frombuffer(data[name], "<f4"), want), f"convert: {name} changed value")


def case_hf_convert_settings(args, tmp):
    """`pollard convert` of a Hugging Face Llama with Llama 3.x rope_scaling, attention biases
    and special token ids writes a folder whose config.json holds the same settings (compared
    key by key with the input's) and whose bias tensors are the input's, byte for byte."""
    modules = safetensors_modules()
    if modules is None:
        return
    _, save_file = modules
    model = tmp / "hf"
    model.mkdir()
    rng = np.random.default_rng(6)
    dim, hidden, vocab = 16, 32, 40
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, dim)).astype(np.float32),
               "model.norm.weight": np.ones(dim, np.float32)}
    tensors.update(hf_block_tensors(rng, dim, hidden, np.float32))
    p = "model.layers.0.self_attn."
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        tensors[p + name + ".bias"] = (0.1 * rng.standard_normal(dim)).astype(np.float32)
    save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    config = hf_config(dim, hidden, vocab, True, "float32", rope_scaling=rope,
                       attention_bias=True, bos_token_id=1, eos_token_id=2)
    (model / "config.json").write_text(json.dumps(config, indent=1))
    out = tmp / "converted"
    run(args.pollard, "convert", model, out)
    written = json.loads((out / "config.json").read_text())
    for key in ("rope_scaling", "attention_bias", "bos_token_id", "eos_token_id", "rope_theta",
                "tie_word_embeddings"):
        check(written.get(key) == config[key],
              f"convert: config.json {key} is {written.get(key)!r}, the input's {config[key]!r}")
    header_in, bytes_in = safetensors_parts(model / "model.safetensors")
    header, data = safetensors_parts(out / "model.safetensors")
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        key = p + name + ".bias"
        check(key in header and data[key] == bytes_in[key], f"convert: {key} dropped or changed")


def bf16_rounded(x):
    """float32 `x` rounded to bfloat16 (to nearest, ties to even) as its 16-bit patterns."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def case_hf_convert_types(args, tmp):
    """`convert` writes a Hugging Face folder as --type f32, f16 or bf16, as `prune` does: every
    tensor in that dtype holding the source rounded to it (numpy's rounding), torch_dtype saying
    so; a value the type cannot hold is refused naming the tensor, position and value, with
    nothing written; llama2.c, which holds f32 only, is refused f16 in prune's words."""
    modules = safetensors_modules()
    if modules is None:
        return
    safe_open, save_file = modules
    model = tmp / "hf"
    model.mkdir()
    rng = np.random.default_rng(5)
    dim, hidden, vocab = 16, 32, 40
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, dim)).astype(np.float32),
               "model.norm.weight": (1 + 0.01 * rng.standard_normal(dim)).astype(np.float32),
               "lm_head.weight": rng.standard_normal((vocab, dim)).astype(np.float32)}
    tensors.update(hf_block_tensors(rng, dim, hidden, np.float32))
    # Values that round differently in f16 and bf16: subnormal in f16, and beyond bf16's 8 bits.
    up = "model.layers.0.mlp.up_proj.weight"
    tensors[up][0, :4] = [1e-6, 3.0e4, 1.0 + 2 ** -9, -65504.0]
    save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})
    (model / "config.json").write_text(json.dumps(hf_config(dim, hidden, vocab, False, "float32")))

    for out_type, dtype, torch_dtype in (("f32", "F32", "float32"), ("f16", "F16", "float16"),
                                         ("bf16", "BF16", "bfloat16")):
        out = tmp / f"out-{out_type}"
        run(args.pollard, "convert", model, out, "--type", out_type)
        written = json.loads((out / "config.json").read_text())
        check(written["torch_dtype"] == torch_dtype,
              f"--type {out_type}: torch_dtype {written['torch_dtype']}")
        _, data = safetensors_parts(out / "model.safetensors")
        with safe_open(str(out / "model.safetensors"), "np") as f:
            check(set(f.keys()) == set(tensors), f"--type {out_type}: tensors {sorted(f.keys())}")
            for name, x in tensors.items():
                got = f.get_slice(name).get_dtype()
                check(got == dtype, f"--type {out_type}: {name} is {got}")
                if out_type == "bf16":  # numpy has no bfloat16: compared as bit patterns
                    y = np.frombuffer(data[name], "<u2").reshape(x.shape)
                    want = bf16_rounded(x)
                else:
                    y = f.get_tensor(name)
                    want = x.astype(np.float16 if out_type == "f16" else np.float32)
                    check(y.dtype == want.dtype, f"--type {out_type}: {name} read as {y.dtype}")
                check(np.array_equal(y, want), f"--type {out_type}: {name} is not the source rounded")

    # 1e5 is beyond f16 (largest finite 65504), float32's largest beyond bfloat16 once rounded.
    for out_type, value, shown in (("f16", 1e5, "value 1e+05"),
                                   ("bf16", np.finfo(np.float32).max, "value 3.40282346638")):
        big = tmp / f"big-{out_type}"
        big.mkdir()
        t = dict(tensors)
        t[up] = tensors[up].copy()
        t[up][2, 5] = value
        save_file(t, str(big / "model.safetensors"), metadata={"format": "pt"})
        (big / "config.json").write_bytes((model / "config.json").read_bytes())
        out = tmp / f"big-{out_type}-out"
        p = subprocess.run([args.pollard, "convert", big, out, "--type", out_type],
                           capture_output=True, text=True)
        check(p.returncode == 1 and f"'{up}' at (2, 5) overflows" in p.stderr
              and shown in p.stderr and not out.exists(),
              f"--type {out_type} of a value beyond it: exit {p.returncode}, {p.stderr.strip()}, "
              f"OUT {'exists' if out.exists() else 'absent'}")

    stories = pathlib.Path(args.data) / "models/stories260K/stories260K.bin"
    for command in (("convert", stories, tmp / "s.bin"),
                    ("prune", stories, tmp / "s.bin", "--method", "magnitude")):
        p = subprocess.run([args.pollard, *map(str, command), "--type", "f16"],
                           capture_output=True, text=True)
        check(p.returncode == 2 and "--type f16 is for GGUF and Hugging Face outputs; llama2.c is "
              "written as f32" in p.stderr, f"{command[0]} llama2.c --type f16: {p.stderr.strip()}")


def llama_cpp_file_type(path):
    """general.file_type as llama.cpp's loader infers it from the tensors (the type most tensors
    have, the first to reach that count on a tie), and the value the file holds."""
    r = gguf.GGUFReader(path)
    count, most, predominant = {}, 0, None
    for t in r.tensors:
        count[t.tensor_type] = count.get(t.tensor_type, 0) + 1
        if count[t.tensor_type] > most:
            most, predominant = count[t.tensor_type], t.tensor_type
    F = gguf.LlamaFileType
    inferred = {Q.F32: F.ALL_F32, Q.F16: F.MOSTLY_F16, Q.BF16: F.MOSTLY_BF16,
                Q.Q8_0: F.MOSTLY_Q8_0, Q.Q4_0: F.MOSTLY_Q4_0, Q.Q4_1: F.MOSTLY_Q4_1}[predominant]
    field = r.fields.get("general.file_type")
    return int(inferred), (None if field is None else int(field.contents()))


def case_gguf_file_type(args, tmp):
    """Every GGUF writer keeps general.file_type true to the tensor types it stores: prune and
    convert with --type, and prune with its stored types (the key then stays as it was)."""
    q80 = tmp / "q80.gguf"
    copy_gguf_quantized(args.gguf, q80, Q.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)
    inferred, held = llama_cpp_file_type(q80)
    check(inferred == held == gguf.LlamaFileType.MOSTLY_Q8_0, f"input: file_type {held}, inferred {inferred}")
    outputs = {
        "prune --type f16": ("prune", "--method", "magnitude", "--sparsity", "0.5", "--type", "f16"),
        "prune --type bf16 blk.0.attn_q": ("prune", "--method", "magnitude", "--sparsity", "0.5",
                                           "--type", "bf16", "--targets", "blk.0.attn_q"),
        "prune --type f32": ("prune", "--method", "magnitude", "--sparsity", "0.5", "--type", "f32"),
        "prune same": ("prune", "--method", "magnitude", "--sparsity", "0.5"),
        "convert --type bf16": ("convert", "--type", "bf16"),
        "convert --type f16": ("convert", "--type", "f16"),
    }
    for i, (what, command) in enumerate(outputs.items()):
        out = tmp / f"out{i}.gguf"
        run(args.pollard, command[0], q80, out, *command[1:])
        inferred, held = llama_cpp_file_type(out)
        check(held == inferred, f"{what}: general.file_type {held}, the tensors say {inferred}")
    check(llama_cpp_file_type(tmp / "out0.gguf")[0] == gguf.LlamaFileType.MOSTLY_F16,
          "prune --type f16 did not make F16 the predominant type")


def check_magnitude(name, before, after, zeros_per_row, group=None):
    """`after` is `before` pruned by magnitude: zeros_per_row zeros in every row (of `group`
    values, when given), the kept values unchanged, none pruned larger than one kept."""
    b, a = before.astype(np.float32), after.astype(np.float32)
    if group:
        b, a = b.reshape(-1, group), a.reshape(-1, group)
    zero = a == 0
    check(np.all(zero.sum(axis=1) == zeros_per_row),
          f"{name}: zeros per row {sorted(set(zero.sum(axis=1)))}, expected {zeros_per_row}")
    check(np.array_equal(a[~zero], b[~zero]), f"{name}: a kept value changed")
    small = np.where(zero, np.abs(b), 0).max(axis=1)
    large = np.where(zero, np.inf, np.abs(b)).min(axis=1)
    check(np.all(small <= large), f"{name}: a pruned weight is larger than a kept one")


def case_tables(args, tmp):
    """--include-embeddings / --include-classifier prune exactly those tables by magnitude (per
    row or N:M), the kept values untouched; without them the tables are byte-identical; a tied
    classifier is refused alone and pruned once with the embeddings."""
    src = {t.name: t for t in gguf.GGUFReader(args.gguf).tensors}
    tables = ("token_embd.weight", "output.weight")

    def prune(model, out, *extra):
        return run(args.pollard, "prune", model, out, "--method", "magnitude", "--quiet", *extra)

    def rows_of(t):
        return np.array(t.data, dtype=np.float32).reshape(-1, int(t.shape[0]))

    def report_tables(path):
        return {t["name"]: t for t in json.loads(path.read_text())["tables"]}

    plain = tmp / "plain.gguf"
    prune(args.gguf, plain, "--sparsity", "0.5", "--report", tmp / "plain.json")
    check(report_tables(tmp / "plain.json") == {}, "a report lists tables that were not pruned")
    written = {t.name: t for t in gguf.GGUFReader(plain).tensors}
    for name in tables:
        check(written[name].data.tobytes() == src[name].data.tobytes(),
              f"{name} changed though not asked")
    both = tmp / "both.gguf"
    stdout = prune(args.gguf, both, "--sparsity", "0.5", "--group", "row", "--include-embeddings",
                   "--include-classifier", "--report", tmp / "both.json")
    written = {t.name: t for t in gguf.GGUFReader(both).tensors}
    reported = report_tables(tmp / "both.json")
    check(sorted(reported) == ["output", "token_embd"], f"report tables: {sorted(reported)}")
    for name in tables:
        before, after = rows_of(src[name]), rows_of(written[name])
        check_magnitude(name, before, after, before.shape[1] // 2)
        check(f"also pruned {name.split('.')[0]} " in stdout, f"the summary does not name {name}")
        # The report describes the file: its sparsity is the zeros numpy counts in the table.
        t = reported[name.split(".")[0]]
        check(t["block"] is None and t["rows"] == after.shape[0] and t["cols"] == after.shape[1],
              f"report {name}: {t}")
        check(abs(t["sparsity"] - float(np.mean(after == 0))) < 1e-12,
              f"report {name}: sparsity {t['sparsity']}, the file {np.mean(after == 0)}")
        check(t["stored_type"] == written[name].tensor_type.name, f"report {name}: {t}")
    nm = tmp / "nm.gguf"
    prune(args.gguf, nm, "--n-m", "2:4", "--include-embeddings", "--report", tmp / "nm.json")
    reported = report_tables(tmp / "nm.json")
    check(list(reported) == ["token_embd"] and reported["token_embd"]["n_m_valid"] is True,
          f"2:4 report tables: {reported}")
    written = {t.name: t for t in gguf.GGUFReader(nm).tensors}
    after = rows_of(written["token_embd.weight"]).reshape(-1, 4)
    before = rows_of(src["token_embd.weight"]).reshape(-1, 4)
    check_magnitude("token_embd (2:4)", before, after, 2)
    check(written["output.weight"].data.tobytes() == src["output.weight"].data.tobytes(),
          "2:4 --include-embeddings changed output.weight")

    # stories260K.bin shares its embedding table with the classifier (a positive vocab size).
    model = pathlib.Path(args.data) / "models/stories260K/stories260K.bin"
    raw = model.read_bytes()
    dim, vocab = struct.unpack("7i", raw[:28])[0], struct.unpack("7i", raw[:28])[5]
    check(vocab > 0, "stories260K.bin is expected to share its classifier")
    end = 28 + 4 * vocab * dim
    p = subprocess.run([args.pollard, "prune", model, tmp / "c.bin", "--method", "magnitude",
                        "--include-classifier", "--quiet"], capture_output=True, text=True)
    check(p.returncode == 2 and "tied weights" in p.stderr,
          f"a tied --include-classifier: exit {p.returncode}, {p.stderr.strip()}")
    prune(model, tmp / "plain.bin", "--sparsity", "0.5", "--group", "row")
    stdout = prune(model, tmp / "emb.bin", "--sparsity", "0.5", "--group", "row",
                   "--include-embeddings")
    plain_bin, emb_bin = (tmp / "plain.bin").read_bytes(), (tmp / "emb.bin").read_bytes()
    check(plain_bin[:end] == raw[:end], "the llama2.c embeddings changed though not asked")
    check(emb_bin[end:] == plain_bin[end:], "--include-embeddings changed more than the table")
    before = np.frombuffer(raw[28:end], dtype=np.float32).reshape(vocab, dim)
    after = np.frombuffer(emb_bin[28:end], dtype=np.float32).reshape(vocab, dim)
    check_magnitude("llama2.c token_embd", before, after, dim // 2)
    check("it is also the classifier (tied weights)" in stdout, f"summary: {stdout}")
    # Both options on the tied table: pruned once by the rule they share, as the summary says.
    stdout = prune(model, tmp / "both.bin", "--sparsity", "0.5", "--group", "row",
                   "--include-embeddings", "--include-classifier")
    check((tmp / "both.bin").read_bytes() == emb_bin,
          "both options on the tied llama2.c table differ from --include-embeddings alone")
    check("--include-embeddings and --include-classifier pruned this one table once" in stdout
          and stdout.count("also pruned ") == 1, f"both options, tied: {stdout}")


def write_hf_tables_model(folder, dtypes, tied, head=True, seed=4):
    """A one-block Hugging Face Llama folder whose tables have the dtypes `dtypes` (embedding,
    classifier; numpy float16/float32); tied: tie_word_embeddings, with an lm_head.weight equal
    to the embedding when `head`."""
    from safetensors.numpy import save_file
    rng = np.random.default_rng(seed)
    dim, hidden, vocab = 16, 32, 40
    folder.mkdir()
    embed = rng.standard_normal((vocab, dim)).astype(dtypes[0])
    tensors = {"model.embed_tokens.weight": embed, "model.norm.weight": np.ones(dim, np.float32)}
    if not tied:
        tensors["lm_head.weight"] = rng.standard_normal((vocab, dim)).astype(dtypes[1])
    elif head:
        tensors["lm_head.weight"] = embed.astype(dtypes[1])
    tensors.update(hf_block_tensors(rng, dim, hidden, np.float32))
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = hf_config(dim, hidden, vocab, tied, "float32")
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return tensors


def case_hf_tables(args, tmp):
    """A Hugging Face model's --include-embeddings / --include-classifier prune
    model.embed_tokens.weight and lm_head.weight by magnitude as for a GGUF (per row, N:M), each in
    its stored dtype or --type, and list them under "tables" as the file holds them; a tied
    classifier is refused alone and pruned once with the embeddings (a tied lm_head.weight copy
    holds the same values); a value --type cannot hold is refused, naming the tensor."""
    try:
        from safetensors import safe_open
    except ImportError as e:
        print(f"SKIPPED: {e}")
        return
    names = {"token_embd": "model.embed_tokens.weight", "output": "lm_head.weight"}

    def prune(model, out, *extra):
        return run(args.pollard, "prune", model, out, "--method", "magnitude", "--quiet", *extra)

    def read(out):
        header, _ = safetensors_parts(out / "model.safetensors")
        with safe_open(str(out / "model.safetensors"), "np") as f:
            return header, {k: f.get_tensor(k) for k in f.keys()}

    def check_report(where, report_path, header, written, expected):
        tables = {t["name"]: t for t in json.loads(report_path.read_text())["tables"]}
        check(sorted(tables) == sorted(expected), f"{where}: report tables {sorted(tables)}")
        for short in expected:
            t, x = tables.get(short, {}), written[names[short]].astype(np.float32)
            zeros_per_row = np.count_nonzero(x == 0, axis=1)
            check(t.get("block", 0) is None and t.get("rows") == x.shape[0]
                  and t.get("cols") == x.shape[1], f"{where}: report {short}: {t}")
            check(abs(t.get("sparsity", -1) - zeros_per_row.sum() / x.size) < 1e-12,
                  f"{where}: report {short} sparsity {t.get('sparsity')}, the file "
                  f"{zeros_per_row.sum() / x.size}")
            check(t.get("stored_type") == header[names[short]]["dtype"],
                  f"{where}: report {short} {t.get('stored_type')}, the file "
                  f"{header[names[short]]['dtype']}")

    # Untied, F16 embedding and F32 classifier: each pruned per row and kept in its dtype.
    model = tmp / "untied"
    src = write_hf_tables_model(model, (np.float16, np.float32), tied=False)
    out = tmp / "both"
    stdout = prune(model, out, "--sparsity", "0.5", "--group", "row", "--include-embeddings",
                   "--include-classifier", "--report", tmp / "both.json")
    header, written = read(out)
    for short, name in names.items():
        check(written[name].dtype == src[name].dtype,
              f"{name}: {src[name].dtype} written as {written[name].dtype}")
        check_magnitude(name, src[name], written[name], src[name].shape[1] // 2)
        check(f"also pruned {short} " in stdout, f"the summary does not name {short}: {stdout}")
    check_report("untied", tmp / "both.json", header, written, ["token_embd", "output"])
    for name in ("model.norm.weight", "model.layers.0.input_layernorm.weight"):
        check(written[name].tobytes() == src[name].tobytes(), f"{name} changed")
    # Without the options, both tables are byte-identical.
    prune(model, tmp / "plain", "--sparsity", "0.5", "--report", tmp / "plain.json")
    _, plain = read(tmp / "plain")
    for name in names.values():
        check(plain[name].tobytes() == src[name].tobytes(), f"{name} changed though not asked")
    check(json.loads((tmp / "plain.json").read_text())["tables"] == [],
          "a report lists tables that were not pruned")
    # 2:4 along each row, only the embeddings asked for; --type bf16 stores the table as BF16.
    prune(model, tmp / "nm", "--n-m", "2:4", "--include-embeddings", "--type", "bf16",
          "--report", tmp / "nm.json")
    header, data = safetensors_parts(tmp / "nm" / "model.safetensors")
    check(header[names["token_embd"]]["dtype"] == "BF16" and header["lm_head.weight"]["dtype"] == "F32",
          f"2:4 --type bf16: {header[names['token_embd']]['dtype']}, {header['lm_head.weight']['dtype']}")
    embed = (np.frombuffer(data[names["token_embd"]], "<u2").astype(np.uint32) << 16).view(np.float32)
    embed = embed.reshape(src[names["token_embd"]].shape)
    # The kept values are the F16 ones rounded to BF16 (to nearest, ties to even).
    bits = src[names["token_embd"]].astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    check_magnitude("2:4 embedding", rounded, embed, 2, group=4)
    check(data["lm_head.weight"] == src["lm_head.weight"].tobytes(), "2:4 changed lm_head.weight")
    nm = {t["name"]: t for t in json.loads((tmp / "nm.json").read_text())["tables"]}
    check(list(nm) == ["token_embd"] and nm["token_embd"]["n_m_valid"] is True
          and nm["token_embd"]["stored_type"] == "BF16"
          and abs(nm["token_embd"]["sparsity"] - np.mean(embed == 0)) < 1e-12,
          f"2:4 report tables: {nm}")

    # Tied, with an lm_head.weight copy: the classifier alone is refused (it would prune the
    # embeddings unasked); with the embeddings, both options ask for one table by one rule, so it
    # is pruned once, the summary says so, and the copy holds the same values.
    tied = tmp / "tied"
    src = write_hf_tables_model(tied, (np.float16, np.float16), tied=True)
    p = subprocess.run([args.pollard, "prune", tied, tmp / "c", "--method", "magnitude",
                        "--include-classifier", "--quiet"], capture_output=True, text=True)
    check(p.returncode == 2 and "tied weights" in p.stderr and not (tmp / "c").exists(),
          f"a tied --include-classifier: exit {p.returncode}, {p.stderr.strip()}")
    stdout = prune(tied, tmp / "tied_out", "--sparsity", "0.25", "--include-embeddings",
                   "--include-classifier", "--report", tmp / "tied.json")
    header, written = read(tmp / "tied_out")
    # --sparsity 0.25 per matrix (magnitude's default group): 160 of the 640 weights.
    x = written[names["token_embd"]]
    check(np.count_nonzero(x == 0) == x.size // 4, f"tied: {np.count_nonzero(x == 0)} zeros")
    check(np.array_equal(written["lm_head.weight"], x), "tied: lm_head.weight differs from the table")
    check("it is also the classifier (tied weights): --include-embeddings and "
          "--include-classifier pruned this one table once, by their common rule" in stdout
          and stdout.count("also pruned ") == 1, f"tied summary: {stdout}")
    check_report("tied", tmp / "tied.json", header, written, ["token_embd"])
    # The same table and rule as --include-embeddings alone: the same bytes.
    stdout = prune(tied, tmp / "tied_embd", "--sparsity", "0.25", "--include-embeddings")
    check(read(tmp / "tied_embd")[1][names["token_embd"]].tobytes() == x.tobytes(),
          "tied: both options prune the table otherwise than --include-embeddings alone")
    check("it is also the classifier (tied weights)" in stdout
          and "--include-classifier" not in stdout, f"tied, embeddings alone: {stdout}")
    # The written model is read again (pollard checks that the tied copy equals the table).
    run(args.pollard, "info", tmp / "tied_out")
    # Tied without lm_head.weight: none is written.
    bare = tmp / "bare"
    write_hf_tables_model(bare, (np.float32, np.float32), tied=True, head=False)
    prune(bare, tmp / "bare_out", "--sparsity", "0.5", "--group", "row", "--include-embeddings")
    _, written = read(tmp / "bare_out")
    check("lm_head.weight" not in written, "an lm_head.weight was added to a tied model")

    # A kept value that --type f16 cannot hold is refused by name; nothing is written.
    big = tmp / "big"
    src = write_hf_tables_model(big, (np.float32, np.float32), tied=False)
    from safetensors.numpy import save_file
    src["model.embed_tokens.weight"][3, 5] = 1e6
    save_file(src, str(big / "model.safetensors"), metadata={"format": "pt"})
    p = subprocess.run([args.pollard, "prune", big, tmp / "big_out", "--method", "magnitude",
                        "--include-embeddings", "--type", "f16", "--quiet"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "model.embed_tokens.weight" in p.stderr
          and not (tmp / "big_out").exists(),
          f"an embedding value beyond F16: exit {p.returncode}, {p.stderr.strip()}")


CASES = {"gguf_file_type": case_gguf_file_type, "hf_convert_settings": case_hf_convert_settings, "hf_bf16_convert": case_hf_bf16_convert, "hf_convert_types": case_hf_convert_types, "hf_dtypes": case_hf_dtypes, "llama2c_copy": case_llama2c_copy, "save_calibration": case_save_calibration, "calibration_sources": case_calibration_sources, "gguf_report": case_gguf_report, "block_sparsity": case_block_sparsity, "tables": case_tables, "hf_tables": case_hf_tables}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pollard", required=True)
    ap.add_argument("--data", default="")
    ap.add_argument("--gguf", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    args = ap.parse_args()
    if not args.data or not (pathlib.Path(args.data) / "models/stories260K/stories260K.bin").exists():
        print(f"SKIPPED: POLLARD_DATA_DIR ('{args.data}') does not hold models/stories260K")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        CASES[args.case](args, pathlib.Path(tmp))
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
