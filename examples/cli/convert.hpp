// pollard CLI — `pollard convert`: write a model back in its own format with float tensors (e.g.
// a quantized GGUF as F16), keeping every metadata key.
#pragma once

#include <cstdio>
#include <span>
#include <string>

#include "arguments.hpp"
#include "common.hpp"
#include "pollard/llm/model_file.hpp"

namespace pollard::cli {

inline const char* const convert_help =
    "usage: pollard convert MODEL OUT [--type f32|f16|bf16]\n"
    "\n"
    "Reads MODEL (GGUF, llama2.c, or a Hugging Face Llama folder), dequantizes every tensor, and\n"
    "writes it to OUT in the same format: a GGUF keeps every metadata key (general.file_type\n"
    "follows the stored type) with linear and embedding tensors stored as --type (default f32;\n"
    "norms stay f32); llama2.c is always f32; a Hugging Face folder is written as f32. The\n"
    "output is written through a temporary file and renamed, so it is whole or absent.\n";

inline int run_convert(std::span<char* const> args) {
  const arguments a("convert", args, option_spec{{"--type"}, {}});
  if (a.help()) {
    std::fputs(convert_help, stdout);
    return 0;
  }
  a.expect_positional(2, "MODEL and OUT");
  const fs::path in = a.positional()[0], out = a.positional()[1];
  const std::string type = a.text("--type").value_or("f32");
  io::ggml_type stored = io::ggml_type::f32;
  if (type == "f16")
    stored = io::ggml_type::f16;
  else if (type == "bf16")
    stored = io::ggml_type::bf16;
  else if (type != "f32")
    throw usage_error("--type must be f32, f16 or bf16, got '" + type + "'");
  if (!fs::exists(in)) throw io_error("cannot open " + in.string());
  if (fs::exists(out) && fs::equivalent(in, out))
    throw usage_error("OUT must differ from MODEL (the input is read while the output is written)");
  const llm::model_file m = llm::open_model(in);
  if (m.format != llm::model_format::gguf && stored != io::ggml_type::f32)
    throw usage_error("--type " + type + " is for GGUF outputs; " + llm::name_of(m.format) +
                      " is written as f32");
  llm::save_model(m, m.weights, out, stored);
  std::printf("wrote %s (%s, %s tensors)\n", out.string().c_str(), llm::name_of(m.format),
              type.c_str());
  return 0;
}

}  // namespace pollard::cli
