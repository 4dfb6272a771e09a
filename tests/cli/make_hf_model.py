#!/usr/bin/env python3
"""Writes a tiny Hugging Face Llama folder (config.json, model.safetensors with seeded random
float32 weights, and a copy of the tokenizer.json given) for the command-line tests.

    make_hf_model.py FOLDER TOKENIZER_JSON VOCAB_SIZE
"""
import json
import pathlib
import shutil
import sys

import numpy as np
from safetensors.numpy import save_file

folder, tokenizer, vocab = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
dim, hidden, layers, heads = 8, 16, 1, 2
folder.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)


def weight(*shape):
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


tensors = {"model.embed_tokens.weight": weight(vocab, dim),
           "model.norm.weight": np.ones(dim, np.float32)}
for layer in range(layers):
    p = f"model.layers.{layer}."
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        tensors[p + f"self_attn.{name}.weight"] = weight(dim, dim)
    tensors[p + "mlp.gate_proj.weight"] = weight(hidden, dim)
    tensors[p + "mlp.up_proj.weight"] = weight(hidden, dim)
    tensors[p + "mlp.down_proj.weight"] = weight(dim, hidden)
    tensors[p + "input_layernorm.weight"] = np.ones(dim, np.float32)
    tensors[p + "post_attention_layernorm.weight"] = np.ones(dim, np.float32)
save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
          "intermediate_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
          "num_key_value_heads": heads, "vocab_size": vocab, "max_position_embeddings": 64,
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
          "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 0, "torch_dtype": "float32"}
(folder / "config.json").write_text(json.dumps(config, indent=2))
shutil.copyfile(tokenizer, folder / "tokenizer.json")
(folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
