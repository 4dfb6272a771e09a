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
      "f32); llama2.c is always f32; a Hugging Face folder has every tensor stored as --type\n"
      "(config.json's torch_dtype says which), keeping its rotary_emb.inv_freq buffers as they\n"
      "are and a tied lm_head.weight equal to the embedding table, with a byte copy of\n"
      "every other file of MODEL's folder (tokenizer files, chat template, generation settings,\n"
      "README, LICENSE...; a link's content); weights in other files (other .safetensors, their\n"
      "index, .bin, .pt, .pth, .ckpt, .gguf, .onnx, .h5, .msgpack) and subfolders are not\n"
      "copied, and a warning names them; a file over 1 GiB is refused. Every output file is\n"
      "written through a temporary and all are renamed together at the end, so they are all\n"
      "whole or all absent. An OUT that is a symbolic link is written through: its target is\n"
      "replaced, as cp does.\n"
      "An existing Hugging Face OUT folder must be empty or one pollard wrote (it lists the\n"
      "files it wrote in .pollard-written); its contents are replaced as a whole (a file\n"
      "MODEL's folder lacks is removed).\n"
      "A value --type f16 or bf16 cannot hold (beyond 65504 in f16) is an error naming the\n"
      "tensor, the position and the value, and nothing is written.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("OUT", o.out, "where to write the copy")->required();
  c->add_option("--type", o.type,
                "stored type of a GGUF's linear and embedding tensors, of every tensor of a\n"
                "Hugging Face folder")
      ->type_name("f32|f16|bf16");
  add_refused_tokenizer_option(*c, o.tokenizer);
  record_given_options(*c, o.given);
  return c;
}

inline int run_convert(const convert_options& o) {
  const fs::path in = o.model, out = o.out;
  const std::string& type = o.type;
  pollard::dtype stored = pollard::dtype::f32;
  if (type == "f16")
    stored = pollard::dtype::f16;
  else if (type == "bf16")
    stored = pollard::dtype::bf16;
  else if (type != "f32")
    throw usage_error("--type must be f32, f16 or bf16, got '" + type + "'");
  refuse_if_given(o.given, "--tokenizer", true,
                  "reads no text: convert copies the weights and metadata (a Hugging Face "
                  "folder's tokenizer files are copied as they are)");
  check_inputs(model_inputs("MODEL", o.model));
  check_inputs(hf_copy_inputs(o.model));
  const llm::model_format format = llm::detail::detect_format(in);
  check_output_type(o.given, type, format, "the tensors");
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
