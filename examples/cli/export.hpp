// pollard CLI — `pollard export`: a pruned model's linears in a compressed sparse layout for
// inference engines (compressed-tensors' 2:4 bitmask, or CSR), in safetensors.
#pragma once

#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/sparse_safetensors.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/metrics/sparsity.hpp"

namespace pollard::cli {

struct export_options {
  std::string model, out;
  std::string layout = "sparse-24-bitmask";
  std::string type = "f32";
  std::string tokenizer;
  given_options given;
};

inline CLI::App* add_export_command(CLI::App& app, export_options& o) {
  CLI::App* c = app.add_subcommand(
      "export", "a pruned model's linears in a compressed sparse layout (2:4 bitmask or CSR)");
  c->footer(
      "Reads every linear of every block of MODEL (dequantized), named as pollard prune names\n"
      "them (blk.B.attn_q.weight, ...), and writes them to OUT.safetensors in a compressed "
      "layout:\n"
      "  sparse-24-bitmask  compressed-tensors' Sparse24BitMask (vLLM's 2:4 format): per weight\n"
      "                     NAME.shape (I64 [2,1]), NAME.compressed (the 2 kept values of every\n"
      "                     group of 4, [rows, cols/2]) and NAME.bitmask (U8 [rows, "
      "ceil(cols/8)],\n"
      "                     numpy.packbits(..., bitorder=\"little\")); every linear must be 2:4;\n"
      "  csr                torch.sparse_csr_tensor's arrays: NAME.shape, NAME.crow_indices,\n"
      "                     NAME.col_indices (I64) and NAME.values; any sparsity.\n"
      "NAME is the weight's name without \".weight\". The file's metadata names the layout. The\n"
      "output is written through a temporary file and renamed, so it is whole or absent.");
  c->add_option("MODEL", o.model, "a pruned GGUF file, llama2.c checkpoint or Hugging Face folder")
      ->required();
  c->add_option("OUT", o.out, "the safetensors file to write")
      ->type_name("OUT.safetensors")
      ->required();
  c->add_option("--layout", o.layout, "the compressed layout")
      ->type_name("L")
      ->check(CLI::IsMember({"sparse-24-bitmask", "csr"}));
  c->add_option("--type", o.type,
                "stored type of the values (bf16/f16 refuse values they cannot hold)")
      ->type_name("T")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  add_refused_tokenizer_option(*c, o.tokenizer);
  record_given_options(*c, o.given);
  return c;
}

inline int run_export(const export_options& o) {
  const fs::path in = o.model, out = o.out;
  refuse_if_given(o.given, "--tokenizer", true,
                  "reads no text: export writes the linears' weights only");
  check_inputs(model_inputs("MODEL", o.model));
  check_output_name("OUT", out, "safetensors (the compressed linears)", {".safetensors"});
  check_outputs({{"MODEL", in}}, {{"OUT", out}});
  const io::sparse_layout layout = *io::parse_sparse_layout(o.layout);
  const pollard::dtype type = o.type == "f16"    ? pollard::dtype::f16
                              : o.type == "bf16" ? pollard::dtype::bf16
                                                 : pollard::dtype::f32;
  llm::model_file m = open_model_file(in);
  // The files read beside MODEL (its llama2.c tokenizer, a Hugging Face folder's) are inputs too.
  check_distinct_outputs(files_read_with(in, m), {{"OUT", out}});
  std::vector<io::sparse_safetensors_input> tensors;
  std::uint64_t zeros = 0, total = 0, underflowed = 0;
  for (index_t b = 0; b < static_cast<index_t>(m.weights.layers.size()); ++b)
    for (const auto& l : llm::llama_linear_refs(m.weights.layers[static_cast<std::size_t>(b)], b)) {
      // The values as they will be stored: rounded to f16/bf16 first (an overflow is an error
      // naming tensor and position), so a value that underflows to zero is a zero of the layout
      // and every number printed describes the file.
      if (type != pollard::dtype::f32) {
        const std::string what = "tensor '" + l.name + ".weight'";
        for (index_t i = 0; i < l.weight.rows(); ++i)
          for (index_t j = 0; j < l.weight.cols(); ++j) {
            const narrowing_site site{"export", what, i, j};
            const float v = l.weight(i, j);
            const float stored =
                type == pollard::dtype::f16
                    ? static_cast<float>(narrow<half>(v, overflow::error, site))
                    : static_cast<float>(narrow<bfloat16>(v, overflow::error, site));
            if (stored == 0.0f && v != 0.0f) ++underflowed;
            l.weight(i, j) = stored;
          }
      }
      const matrix_view<const float> w(l.weight);
      zeros += static_cast<std::uint64_t>(zero_count(w));
      total += static_cast<std::uint64_t>(w.size());
      tensors.push_back(
          {l.name + ".weight",
           {static_cast<std::uint64_t>(w.rows()), static_cast<std::uint64_t>(w.cols())},
           std::span<const float>(w.data(), static_cast<std::size_t>(w.size())),
           true});
    }
  io::atomic_file_set outputs;
  io::write_sparse_safetensors(out, tensors, layout, type);
  outputs.commit();
  if (underflowed > 0)
    std::fprintf(stderr,
                 "pollard: warning: %s nonzero weights are below %s's range and are stored as 0\n",
                 std::to_string(underflowed).c_str(), o.type.c_str());
  std::printf("wrote %s: %zu linears (%.4f of their %s weights zero) as %s, values %s, %s bytes\n",
              printable(out.string()).c_str(), tensors.size(),
              total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0,
              std::to_string(total).c_str(), o.layout.c_str(), o.type.c_str(),
              std::to_string(fs::file_size(out)).c_str());
  return 0;
}

}  // namespace pollard::cli
