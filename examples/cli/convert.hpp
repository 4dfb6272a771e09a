// pollard CLI — `pollard convert`: write a model back in its own format with float tensors (e.g.
// a quantized GGUF as F16), keeping every metadata key.
#pragma once

#include <cstdio>
#include <span>
#include <string>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/llm/model_file.hpp"

namespace pollard::cli {

struct convert_options {
  std::string model, out;
  std::string type = "f32";
  std::string tokenizer;
  given_options given;
};

inline CLI::App* add_convert_command(CLI::App& app, convert_options& o) {
  CLI::App* c = app.add_subcommand("convert", "write MODEL back in its format with float tensors");
  c->footer(
      "Reads MODEL (GGUF, llama2.c, or a Hugging Face Llama folder), dequantizes every tensor, "
      "and\n"
      "writes it to OUT in the same format: a GGUF keeps every metadata key (general.file_type\n"
      "follows the stored type) with linear and embedding tensors stored as --type (norms stay\n"
      "f32); llama2.c is always f32; a Hugging Face folder is written as f32, keeping its\n"
      "rotary_emb.inv_freq buffers and a tied lm_head.weight as they are, with a byte copy of\n"
      "every other file of MODEL's folder (tokenizer files, chat template, generation settings,\n"
      "README, LICENSE...; a link's content); weights in other files (other .safetensors, their\n"
      "index, .bin, .pt, .pth, .ckpt, .gguf, .onnx, .h5, .msgpack) and subfolders are not\n"
      "copied, and a warning names them; a file over 1 GiB is refused. Every output file is\n"
      "written through a temporary and all are renamed together at the end, so they are all\n"
      "whole or all absent. An OUT that is a symbolic link is written through: its target is\n"
      "replaced, as cp does.\n"
      "An existing Hugging Face OUT folder must be empty or one pollard wrote (it lists the\n"
      "files it wrote in .pollard-written); its contents are replaced as a whole (a file\n"
      "MODEL's folder lacks is removed).");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("OUT", o.out, "where to write the copy")->required();
  c->add_option("--type", o.type, "stored type of linear and embedding tensors (GGUF)")
      ->type_name("f32|f16|bf16");
  add_refused_tokenizer_option(*c, o.tokenizer);
  record_given_options(*c, o.given);
  return c;
}

inline int run_convert(const convert_options& o) {
  const fs::path in = o.model, out = o.out;
  const std::string& type = o.type;
  io::ggml_type stored = io::ggml_type::f32;
  if (type == "f16")
    stored = io::ggml_type::f16;
  else if (type == "bf16")
    stored = io::ggml_type::bf16;
  else if (type != "f32")
    throw usage_error("--type must be f32, f16 or bf16, got '" + type + "'");
  refuse_if_given(o.given, "--tokenizer", true,
                  "reads no text: convert copies the weights and metadata (a Hugging Face "
                  "folder's tokenizer files are copied as they are)");
  check_inputs(model_inputs("MODEL", o.model));
  check_inputs(hf_copy_inputs(o.model));
  const llm::model_format format = llm::detail::detect_format(in);
  if (format != llm::model_format::gguf && stored != io::ggml_type::f32)
    throw usage_error("--type " + type + " is for GGUF outputs; " + llm::name_of(format) +
                      " is written as f32");
  refuse_if_given(o.given, "--type", format != llm::model_format::gguf,
                  std::string("sets how a GGUF's tensors are stored, and ") + llm::name_of(format) +
                      " is always written as f32");
  check_distinct_outputs({{"MODEL", in}}, {{"OUT", out}});
  check_model_output_location("OUT", out, format, in);
  const llm::model_file m = open_model_file(in);
  // The files read beside MODEL (a llama2.c tokenizer, a Hugging Face folder's files) are
  // inputs too; a Hugging Face copy is a folder of the same files.
  check_distinct_outputs(files_read_with(in, m, true), files_written_as(out, m));
  io::atomic_file_set outputs;
  save_model_into(outputs, m, m.weights, out, stored);
  outputs.commit();
  std::printf("wrote %s (%s, %s tensors)\n", printable(out.string()).c_str(),
              llm::name_of(m.format), type.c_str());
  return 0;
}

}  // namespace pollard::cli
