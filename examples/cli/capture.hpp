// pollard CLI — `pollard capture`: one real linear's weights and calibration inputs (or their
// Hessian) as .npy, for the layer-level tool (`pollard layer`) and for research on real layers.
#pragma once

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/llm/calibration_data.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/model/prune_model.hpp"
#include "pollard/stats/gram_accumulator.hpp"
#include "prune.hpp"

namespace pollard::cli {

struct capture_options {
  std::string model;
  std::string calibration;
  index_t samples = 16;
  index_t length = 0;
  std::uint64_t seed = 0;
  std::string text_field = "text";
  bool responses_only = false;
  index_t block = 0;
  std::string linear;
  std::string weights_out, activations_out, hessian_out;
  index_t max_rows = 0;
  std::string tokenizer;
  text_reading_choice special_tokens;
  int threads = 0;
  given_options given;
};

inline CLI::App* add_capture_command(CLI::App& app, capture_options& o) {
  CLI::App* c = app.add_subcommand(
      "capture", "a real linear's weights and calibration inputs X (or Hessian H) as .npy");
  c->footer(
      "Runs the dense model over calibration sequences up to block --block and writes what the\n"
      "linear --linear of that block sees: its weights W [d_out x d_in] (--weights-out), the\n"
      "rows X [tokens x d_in] of its input (--activations-out; all of them, or the first\n"
      "--max-rows) and/or the Hessian H = (2/N) sum x x^T over all of them, N = the number of\n"
      "sequences, as SparseGPT defines it (--hessian-out), each as float32 .npy; with\n"
      "--responses-only (alpaca data), only the rows of response tokens, as prune counts them.\n"
      "`pollard layer --weights W.npy --activations X.npy` (or --hessian H.npy) then prunes\n"
      "that real layer.\n"
      "Calibration kinds as `pollard prune` (c4, wikitext, text, alpaca; selfgen is not drawn\n"
      "here). Linear names: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down (or\n"
      "blk.B.NAME). The outputs are written through temporary files and renamed together at the\n"
      "end: all are whole, or none is written. An output that is a symbolic link is written\n"
      "through: its target is replaced, as cp does.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("--calibration", o.calibration,
                std::string("KIND:PATH[@WEIGHT][,...]: the calibration data, each file's layout\n"
                            "told from its name as every command tells it: ") +
                    data_file_rule)
      ->type_name("SPEC")
      ->check(comma_list_text())
      ->required();
  add_calibration_size_options(*c, o.samples, o.length, o.seed);
  c->add_option("--text-field", o.text_field, "JSON field holding a document's text")
      ->type_name("F");
  add_responses_only_option(*c, o.responses_only);
  c->add_option("--block", o.block, "the block, from 0")
      ->type_name("B")
      ->transform(integer_in(0, 1 << 20));
  c->add_option("--linear", o.linear, "the linear of the block")->type_name("NAME")->required();
  c->add_option("--weights-out", o.weights_out, "write W here")->type_name("W.npy");
  c->add_option("--activations-out", o.activations_out, "write X here")->type_name("X.npy");
  c->add_option("--hessian-out", o.hessian_out, "write H here")->type_name("H.npy");
  c->add_option("--max-rows", o.max_rows, "write at most the first N rows of X")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX))
      ->default_str("all");
  add_tokenizer_option(*c, o.tokenizer);
  add_text_reading_options(*c, o.special_tokens);
  add_threads_option(*c, o.threads);
  record_given_options(*c, o.given);
  return c;
}

inline int run_capture(const capture_options& o) {
  use_threads(o.threads);
  if (o.weights_out.empty() && o.activations_out.empty() && o.hessian_out.empty())
    throw usage_error(
        "nothing to write: give --weights-out, --activations-out and/or --hessian-out");
  refuse_if_given(o.given, "--max-rows", o.activations_out.empty(),
                  "limits the rows of X, and --activations-out is not given");
  const std::vector<io::named_path> outputs{{"--weights-out", o.weights_out},
                                            {"--activations-out", o.activations_out},
                                            {"--hessian-out", o.hessian_out}};
  check_inputs(model_inputs("MODEL", o.model, {{"--tokenizer", o.tokenizer}}));
  for (const auto& out : outputs) check_output_name(out.name, out.path, "NumPy .npy", {".npy"});
  check_outputs({{"MODEL", o.model}, {"--tokenizer", o.tokenizer}}, outputs);
  refuse_tokenizer_for_gguf(o.tokenizer, {{"MODEL", o.model}});
  std::vector<calibration_spec> specs;
  for (const auto& text : comma_list(o.calibration)) {
    try {
      specs.push_back(parse_calibration_spec(text));
    } catch (const option_error& e) {
      throw usage_error(std::string("--calibration: ") + e.what());
    }
    if (specs.back().kind == calibration_kind::self_generated)
      throw usage_error(
          "--calibration: capture does not generate text (selfgen); use c4, "
          "wikitext, text or alpaca");
  }
  refuse_repeated_sources(specs, o.samples);
  for (const auto& s : specs) {
    check_inputs({{"--calibration", s.path}});
    check_distinct_outputs({{"--calibration", s.path}}, outputs);
  }

  refuse_responses_only_without_instructions(o.given, specs);
  refuse_if_given(o.given, "--text-field", !reads_json_documents(specs),
                  "names the text field of JSON documents, and no --calibration source is a "
                  "JSON file of documents (*.gz, *.jsonl, *.json)");
  llm::model_file m = open_model_with_tokenizer(o.model, optional_path(o.tokenizer));
  apply_text_reading_options(m.tokenizer, o.special_tokens);
  // The files read beside MODEL (its llama2.c tokenizer, a Hugging Face folder's) are inputs too.
  check_distinct_outputs(files_read_with({{"MODEL", &m}}, {{"--tokenizer", o.tokenizer}}), outputs);
  const auto& config = m.weights.config;
  if (o.block >= config.n_layers)
    throw usage_error("--block " + std::to_string(o.block) + ": the model has " +
                      std::to_string(config.n_layers) + " blocks (0.." +
                      std::to_string(config.n_layers - 1) + ")");
  const std::string wanted =
      o.linear.starts_with("blk.") ? o.linear : "blk." + std::to_string(o.block) + "." + o.linear;
  llm::llama_model lm(m.weights);
  const auto linears = model::linears(lm, o.block);
  const auto found = std::find_if(linears.begin(), linears.end(),
                                  [&](const model::linear_ref& l) { return l.name == wanted; });
  if (found == linears.end()) {
    std::string names;
    for (const auto& l : linears) names += (names.empty() ? "" : ", ") + l.name;
    throw usage_error("--linear " + o.linear + ": block " + std::to_string(o.block) +
                      " has no linear " + wanted + " (it has " + names + ")");
  }
  const model::linear_ref target = *found;
  const index_t width = target.weight.cols();

  llm::calibration_options co;
  co.samples = o.samples;
  co.length = o.length > 0 ? o.length : std::min<index_t>(2048, config.seq_len);
  if (co.length > config.seq_len)
    throw usage_error("--length " + std::to_string(co.length) + " exceeds the model's context of " +
                      std::to_string(config.seq_len) + " tokens");
  co.seed = o.seed;
  co.text_field = o.text_field;
  co.responses_only = o.responses_only;
  const calibration_batch batch =
      with_calibration_named([&] { return llm::draw_calibration(specs, *m.tokenizer, co); });
  require_counted_responses(o.responses_only, batch, co);

  // The dense blocks before the target, then the target block observed at the linear's input.
  const index_t d = model::hidden_size(lm);
  std::vector<float> hidden(static_cast<std::size_t>(batch.token_count() * d));
  model::embed(lm, std::span<const token_id>(batch.tokens),
               matrix_view<float>(hidden.data(), batch.token_count(), d));
  model::prune_recipe recipe;
  std::vector<float> rows;
  const index_t max_rows = o.max_rows > 0 ? o.max_rows : batch.token_count();
  gram_accumulator<float> gram(width, recipe.statistics_normalisation);
  for (index_t b = 0; b <= o.block; ++b) {
    model::begin_block(lm, b);
    model::detail::run_block_over_batch(
        lm, b, hidden, batch, recipe, [&](index_t input, matrix_view<const float> x, index_t n) {
          if (b != o.block || input != target.input) return;
          if (!o.hessian_out.empty()) gram.accumulate(cpu::par.threads(o.threads), x, n);
          for (index_t r = 0; r < x.rows() && static_cast<index_t>(rows.size()) / width < max_rows;
               ++r)
            for (index_t j = 0; j < width; ++j) rows.push_back(x(r, j));
        });
    model::end_block(lm, b);
  }

  // All three are complete in their temporaries before any is renamed into place.
  io::atomic_file_set written;
  if (!o.weights_out.empty()) io::write_npy(o.weights_out, matrix_view<const float>(target.weight));
  if (!o.activations_out.empty())
    io::write_npy(
        o.activations_out,
        matrix_view<const float>(rows.data(), static_cast<index_t>(rows.size()) / width, width));
  if (!o.hessian_out.empty()) {
    std::vector<float> h(static_cast<std::size_t>(width * width));
    gram.write_hessian(matrix_view<float>(h.data(), width, width));
    io::write_npy(o.hessian_out, matrix_view<const float>(h.data(), width, width));
  }
  written.commit();
  std::printf(
      "%s [%lldx%lld], input %s: %lld calibration rows of %lld sequences; wrote%s%s%s\n",
      wanted.c_str(), static_cast<long long>(target.weight.rows()), static_cast<long long>(width),
      model::block_inputs(lm, o.block)[static_cast<std::size_t>(target.input)].name.c_str(),
      static_cast<long long>(batch.counted_tokens()), static_cast<long long>(batch.n_sequences),
      o.weights_out.empty() ? "" : (" W " + printable(o.weights_out)).c_str(),
      o.activations_out.empty()
          ? ""
          : (" X " + printable(o.activations_out) + " (" +
             std::to_string(rows.size() / static_cast<std::size_t>(width)) + " rows)")
                .c_str(),
      o.hessian_out.empty() ? "" : (" H " + printable(o.hessian_out)).c_str());
  return 0;
}

}  // namespace pollard::cli
