// pollard CLI — `pollard compare`: how far a second model (e.g. pruned) is from a base model,
// per token over the vocabulary, teacher-forced on corpus windows and/or instruction data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "eval.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/evaluation/divergence.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"
#include "pollard/metrics/divergence_report.hpp"

namespace pollard::cli {

namespace detail {

/// Throws unless the two models read text the same way (same vocabulary and tokenization).
inline void check_same_tokenizer(const llm::model_file& base, const llm::model_file& other) {
  const auto vb = base.weights.config.vocab_size, vo = other.weights.config.vocab_size;
  if (vb != vo)
    throw shape_error("compare: the models' vocabularies differ (" + std::to_string(vb) + " vs " +
                      std::to_string(vo) + " tokens)");
  const auto& tb = *base.tokenizer;
  const auto& to = *other.tokenizer;
  const std::string names = base.path.string() + " and " + other.path.string();
  const auto refuse = [&](const std::string& why) {
    throw format_error("compare: " + names + " do not share a tokenizer: " + why +
                       "; the text is tokenized with BASE's, so the ids would mean different "
                       "strings");
  };
  if (tb.kind() != to.kind()) refuse(std::string(tb.kind()) + " vs " + std::string(to.kind()));
  if (tb.vocabulary_size() != to.vocabulary_size())
    refuse(std::to_string(tb.vocabulary_size()) + " vs " + std::to_string(to.vocabulary_size()) +
           " tokens");
  if (tb.bos() != to.bos() || tb.eos() != to.eos() || tb.adds_bos() != to.adds_bos())
    refuse("their BOS/EOS tokens or BOS setting differ");
  // Every token's string and score: the first difference is named.
  for (std::size_t k = 0; k < tb.vocabulary_size(); ++k) {
    const auto id = static_cast<llm::token_id>(k);
    const float sb = tb.score(id), so = to.score(id);
    const bool same_score = sb == so || (std::isnan(sb) && std::isnan(so));
    if (tb.piece(id) != to.piece(id) || !same_score)
      refuse("token " + std::to_string(k) + " is '" + printable(std::string(tb.piece(id))) +
             "' (score " + pollard::format_number(static_cast<double>(sb)) + ") in BASE but '" +
             printable(std::string(to.piece(id))) + "' (score " +
             pollard::format_number(static_cast<double>(so)) + ") in OTHER");
  }
  if (!tb.merge_ranks_equal(to)) refuse("their merges differ");
  // Settings beyond the vocabulary (pre-tokenizer, space prefix) show in an encoding.
  const std::string probe = "The quick brown fox, 1234 caf\xc3\xa9s!\n\nOnce upon a time";
  if (tb.encode(probe, true) != to.encode(probe, true))
    refuse("they encode the same text differently");
}

}  // namespace detail

struct compare_options {
  std::string base, other;
  text_options text;
  std::string instructions;
  index_t max_examples = 0;
  std::string json, markdown;
  std::string tokenizer;
  text_reading_choice special_tokens;
  int threads = 0;
  given_options given;
};

inline CLI::App* add_compare_command(CLI::App& app, compare_options& o) {
  CLI::App* c = app.add_subcommand(
      "compare", "divergence of OTHER from BASE per token, on corpus windows or instructions");
  c->footer(
      "The divergence of OTHER (Q, e.g. pruned) from BASE (P, dense), per token position over the\n"
      "vocabulary, both models teacher-forced on the same tokens: Jensen-Shannon (nats, bits),\n"
      "KL(P||Q), q - p of the correct token, same top token, and each model's perplexity, as mean\n"
      "± standard error and the percentile ladder of llama.cpp's KL-divergence report. The two\n"
      "models must share their tokenizer. Give --text, --instructions or both; each gives a\n"
      "report. --window also caps the instruction examples.");
  c->add_option("BASE", o.base, "the base model (P, e.g. dense)")->required();
  c->add_option("OTHER", o.other, "the model compared with it (Q, e.g. pruned)")->required();
  CLI::Option* text = add_text_options(*c, o.text);
  c->get_option("--format")->needs(text);
  c->get_option("--max-windows")->needs(text);
  CLI::Option* instructions =
      c->add_option("--instructions", o.instructions,
                    "Alpaca-style {instruction, input, output} records (a JSON list or JSON\n"
                    "lines, by --text's rule): prompt \"{instruction} {input}\", only the\n"
                    "response tokens are scored; examples longer than --window are cut there")
          ->type_name("FILE");
  c->add_option("--max-examples", o.max_examples, "use the first N instruction examples")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX))
      ->default_str("all")
      ->needs(instructions);
  c->add_option("--json", o.json, "write the report(s) as JSON (written whole or not at all)")
      ->type_name("OUT.json");
  c->add_option("--markdown", o.markdown,
                "write the report(s) as Markdown tables (written whole or not at all)")
      ->type_name("OUT.md");
  add_tokenizer_option(*c, o.tokenizer,
                       "llama2.c tokenizer.bin or Hugging Face tokenizer.json for both models (not "
                       "for GGUF models, which carry their own)",
                       "beside each model");
  add_text_reading_options(*c, o.special_tokens);
  add_threads_option(*c, o.threads);
  record_given_options(*c, o.given);
  return c;
}

inline int run_compare(const compare_options& o) {
  use_threads(o.threads);
  const text_options& t = o.text;
  const auto text_file = optional_path(t.file);
  (void)text_format_option(t.format);  // an unknown --format is refused before any work
  const auto instructions = optional_path(o.instructions);
  const index_t max_examples = o.max_examples;
  if (!text_file && !instructions)
    throw usage_error("'pollard compare' needs --text FILE or --instructions FILE");
  const auto json = optional_path(o.json);
  const auto markdown = optional_path(o.markdown);
  refuse_if_given(o.given, "--protocol", !text_file,
                  "chooses how corpus windows are scored, and no --text is given");
  refuse_if_given(o.given, "--window", !text_file,
                  "sets the windows of the --text corpus, and no --text is given");
  std::vector<input_path> inputs = model_inputs("BASE", o.base);
  for (auto& in : model_inputs(
           "OTHER", o.other,
           {{"--text", t.file}, {"--instructions", o.instructions}, {"--tokenizer", o.tokenizer}}))
    inputs.push_back(std::move(in));
  check_inputs(inputs);
  check_output_name("--json", o.json, "JSON", {".json"});
  check_output_name("--markdown", o.markdown, "Markdown", {".md", ".markdown"});
  check_outputs({{"BASE", o.base},
                 {"OTHER", o.other},
                 {"--text", t.file},
                 {"--instructions", o.instructions},
                 {"--tokenizer", o.tokenizer}},
                {{"--json", o.json}, {"--markdown", o.markdown}});
  refuse_tokenizer_for_gguf(o.tokenizer, {{"BASE", o.base}, {"OTHER", o.other}});
  if (text_file) io::require_regular_file(*text_file);
  if (instructions) io::require_regular_file(*instructions);

  const fs::path base_path = o.base, other_path = o.other;
  const auto tokenizer = optional_path(o.tokenizer);
  llm::model_file base = open_model_with_tokenizer(base_path, tokenizer);
  apply_text_reading_options(base.tokenizer, o.special_tokens);
  require_finite_weights(base);
  base.gguf.reset();
  llm::model_file other = open_model_with_tokenizer(other_path, tokenizer);
  apply_text_reading_options(other.tokenizer, o.special_tokens);
  require_finite_weights(other);
  // The files read beside the models (llama2.c tokenizers, Hugging Face folders) are inputs too.
  check_distinct_outputs(
      files_read_with(
          {{"BASE", &base}, {"OTHER", &other}},
          {{"--text", t.file}, {"--instructions", o.instructions}, {"--tokenizer", o.tokenizer}}),
      {{"--json", o.json}, {"--markdown", o.markdown}});
  other.gguf.reset();
  detail::check_same_tokenizer(base, other);
  check_window(t, base.weights.config);
  llm::llama_forward p(base.weights), q(other.weights);
  const auto& config = base.weights.config;

  std::string terminal, json_out, markdown_out;
  json_out = "{\"base\":" + json_string(base_path.string()) +
             ",\"other\":" + json_string(other_path.string());
  markdown_out = "# Divergence of " + markdown_text(other_path.filename().string()) + " from " +
                 markdown_text(base_path.filename().string()) + "\n";

  if (text_file) {
    const evaluation_stream stream = evaluation_tokens(t, *base.tokenizer, config.seq_len);
    const std::vector<llm::token_id>& tokens = stream.tokens;
    const text_format format = stream.source.format;
    evaluation::evaluation_options options = evaluation_options_of(t, *base.tokenizer);
    options.progress = llm::progress_bar("compare", "windows");
    const divergence_report r = evaluation::compare_on_windows(p, q, tokens, options);
    const index_t window = t.window > 0 ? t.window : std::min<index_t>(2048, config.seq_len);
    index_t windows = static_cast<index_t>(tokens.size()) / window;
    if (max_windows_of(t) > 0) windows = std::min(windows, max_windows_of(t));
    const std::string where =
        text_file->string() + " (" + name_of(format) + ": " +
        protocol_of(format, stream.source,
                    evaluation_run_of(t, tokens.size(), window, windows, config)) +
        ", " + std::to_string(tokens.size()) + " tokens), " + std::to_string(windows) +
        (windows == 1 ? " window of " : " windows of ") + std::to_string(window) + " tokens; " +
        evaluation::protocol_description(window, options);
    terminal += "Corpus windows: " + where + "\n" + to_text(r);
    markdown_out += "\n## Corpus windows\n\n" + markdown_text(where) + "\n\n" + to_markdown(r);
    json_out += ",\"windows\":{\"text\":" + json_string(text_file->string()) +
                ",\"format\":" + json_string(name_of(format)) +
                ",\"text_tokens\":" + std::to_string(tokens.size()) +
                ",\"window\":" + std::to_string(window) +
                ",\"windows\":" + std::to_string(windows) +
                ",\"perplexity_protocol\":" + json_string(t.protocol) +
                ",\"positions\":" + json_string(evaluation::protocol_description(window, options)) +
                ",\"report\":" + to_json(r) + "}";
  }
  if (instructions) {
    std::vector<io::instruction_example> examples = io::read_instruction_examples(*instructions);
    if (max_examples > 0 && static_cast<std::size_t>(max_examples) < examples.size())
      examples.resize(static_cast<std::size_t>(max_examples));
    if (examples.empty()) throw format_error(instructions->string() + " holds no examples");
    evaluation::evaluation_options options;
    options.window = t.window;
    options.progress = llm::progress_bar("compare", "examples");
    const divergence_report r =
        evaluation::compare_on_instructions(p, q, *base.tokenizer, examples, options);
    const std::string where = instructions->string() + ", " + std::to_string(examples.size()) +
                              " examples, response tokens only";
    if (!terminal.empty()) terminal += "\n";
    terminal += "Instructions: " + where + "\n" + to_text(r);
    markdown_out += "\n## Instructions\n\n" + markdown_text(where) + "\n\n" + to_markdown(r);
    json_out += ",\"instructions\":{\"file\":" + json_string(instructions->string()) +
                ",\"examples\":" + std::to_string(examples.size()) + ",\"report\":" + to_json(r) +
                "}";
  }
  json_out += "}\n";
  std::fputs(terminal.c_str(), stdout);
  // Both files are complete in their temporaries before either is renamed into place.
  io::atomic_file_set outputs;
  if (json) write_file_atomically(*json, json_out);
  if (markdown) write_file_atomically(*markdown, markdown_out);
  outputs.commit();
  return 0;
}

}  // namespace pollard::cli
