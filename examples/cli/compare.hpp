// pollard CLI — `pollard compare`: how far a second model (e.g. pruned) is from a base model,
// per token over the vocabulary, teacher-forced on corpus windows and/or instruction data.
#pragma once

#include <algorithm>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "common.hpp"
#include "eval.hpp"
#include "pollard/evaluation/divergence.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"
#include "pollard/metrics/divergence_report.hpp"

namespace pollard::cli {

inline const char* const compare_help =
    "usage: pollard compare BASE OTHER [--text FILE [--format F] [--window L] [--max-windows N]]\n"
    "                       [--instructions FILE [--max-examples N]] [--json OUT.json]\n"
    "                       [--markdown OUT.md] [--tokenizer FILE]\n"
    "\n"
    "The divergence of OTHER (Q, e.g. pruned) from BASE (P, dense), per token position over the\n"
    "vocabulary, both models teacher-forced on the same tokens: Jensen-Shannon (nats, bits),\n"
    "KL(P||Q), q - p of the correct token, same top token, and each model's perplexity, as mean\n"
    "± standard error and the percentile ladder of llama.cpp's KL-divergence report. The two\n"
    "models must share their tokenizer. Give --text, --instructions or both; each gives a report.\n"
    "\n"
    "  --text FILE           corpus windows, as in 'pollard eval' (--format, --window and\n"
    "                        --max-windows as there)\n"
    "  --instructions FILE   Alpaca-style JSON list of {instruction, input, output}: prompt\n"
    "                        \"{instruction} {input}\", only the response tokens are scored;\n"
    "                        examples longer than --window (default min(2048, context)) are\n"
    "                        cut there\n"
    "  --max-examples N      use the first N instruction examples (default: all)\n"
    "  --json OUT.json       write the report(s) as JSON (written whole or not at all)\n"
    "  --markdown OUT.md     write the report(s) as Markdown tables (written whole or not at all)\n"
    "  --tokenizer FILE      llama2.c tokenizer.bin or Hugging Face tokenizer.json for both\n"
    "                        models (default: beside each model; not for GGUF models, which\n"
    "                        carry their own)\n";

namespace detail {

/// Throws unless the two models read text the same way (same vocabulary and tokenization).
inline void check_same_tokenizer(const llm::model_file& base, const llm::model_file& other) {
  const auto vb = base.weights.config.vocab_size, vo = other.weights.config.vocab_size;
  if (vb != vo)
    throw shape_error("compare: the models' vocabularies differ (" + std::to_string(vb) + " vs " +
                      std::to_string(vo) + " tokens)");
  const auto& tb = *base.tokenizer;
  const auto& to = *other.tokenizer;
  const std::string probe = "The quick brown fox, 1234 caf\xc3\xa9s!\n\nOnce upon a time";
  if (tb.kind() != to.kind() || tb.bos() != to.bos() || tb.eos() != to.eos() ||
      tb.adds_bos() != to.adds_bos() || tb.encode(probe, true) != to.encode(probe, true))
    throw format_error("compare: " + base.path.string() + " and " + other.path.string() +
                       " do not share a tokenizer");
}

}  // namespace detail

inline int run_compare(std::span<char* const> args) {
  option_spec spec{text_option_names(), {}};
  spec.valued.insert({"--instructions", "--max-examples", "--json", "--markdown", "--tokenizer"});
  const arguments a("compare", args, spec);
  if (a.help()) {
    std::fputs(compare_help, stdout);
    return 0;
  }
  a.expect_positional(2, "BASE and OTHER model files");
  const text_options t = read_text_options(a);
  const auto instructions = a.path("--instructions");
  const auto max_examples = a.integer("--max-examples", 0, 1, INT32_MAX);
  if (!t.file && !instructions)
    throw usage_error("'pollard compare' needs --text FILE or --instructions FILE");
  if (!t.file && (a.has("--format") || a.has("--max-windows")))
    throw usage_error("--format and --max-windows need --text");
  if (!instructions && a.has("--max-examples"))
    throw usage_error("--max-examples needs --instructions");
  const auto json = a.path("--json");
  const auto markdown = a.path("--markdown");
  if (json) check_output_path(*json, "--json");
  if (markdown) check_output_path(*markdown, "--markdown");
  if (t.file && !fs::is_regular_file(*t.file)) throw io_error("cannot open " + t.file->string());
  if (instructions && !fs::is_regular_file(*instructions))
    throw io_error("cannot open " + instructions->string());

  const fs::path base_path = a.positional()[0], other_path = a.positional()[1];
  const auto tokenizer = a.path("--tokenizer");
  llm::model_file base = open_model_with_tokenizer(base_path, tokenizer);
  base.gguf.reset();
  llm::model_file other = open_model_with_tokenizer(other_path, tokenizer);
  other.gguf.reset();
  detail::check_same_tokenizer(base, other);
  check_window(t, base.weights.config);
  llm::llama_forward p(base.weights), q(other.weights);
  const auto& config = base.weights.config;

  std::string terminal, json_out, markdown_out;
  json_out = "{\"base\":" + json_string(base_path.string()) +
             ",\"other\":" + json_string(other_path.string());
  markdown_out = "# Divergence of " + other_path.filename().string() + " from " +
                 base_path.filename().string() + "\n";

  if (t.file) {
    const std::vector<llm::token_id> tokens = evaluation_tokens(t, *base.tokenizer);
    evaluation::evaluation_options options;
    options.window = t.window;
    options.max_windows = t.max_windows;
    options.progress = llm::progress_bar("compare", "windows");
    const divergence_report r = evaluation::compare_on_windows(p, q, tokens, options);
    const index_t window = t.window > 0 ? t.window : std::min<index_t>(2048, config.seq_len);
    index_t windows = static_cast<index_t>(tokens.size()) / window;
    if (t.max_windows > 0) windows = std::min(windows, t.max_windows);
    const std::string where = t.file->string() + " (" + name_of(t.format) + ": " +
                              protocol_of(t.format) + ", " + std::to_string(tokens.size()) +
                              " tokens), " + std::to_string(windows) + " windows of " +
                              std::to_string(window) + " tokens";
    terminal += "Corpus windows: " + where + "\n" + to_text(r);
    markdown_out += "\n## Corpus windows\n\n" + where + "\n\n" + to_markdown(r);
    json_out += ",\"windows\":{\"text\":" + json_string(t.file->string()) +
                ",\"format\":" + json_string(name_of(t.format)) +
                ",\"text_tokens\":" + std::to_string(tokens.size()) +
                ",\"window\":" + std::to_string(window) +
                ",\"windows\":" + std::to_string(windows) + ",\"report\":" + to_json(r) + "}";
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
    markdown_out += "\n## Instructions\n\n" + where + "\n\n" + to_markdown(r);
    json_out += ",\"instructions\":{\"file\":" + json_string(instructions->string()) +
                ",\"examples\":" + std::to_string(examples.size()) + ",\"report\":" + to_json(r) +
                "}";
  }
  json_out += "}\n";
  std::fputs(terminal.c_str(), stdout);
  // Both files are complete in their temporaries before either is renamed into place.
  std::optional<io::atomic_file> json_file, markdown_file;
  if (json) {
    json_file.emplace(*json);
    json_file->write(json_out.data(), json_out.size());
  }
  if (markdown) {
    markdown_file.emplace(*markdown);
    markdown_file->write(markdown_out.data(), markdown_out.size());
  }
  if (json_file) json_file->commit();
  if (markdown_file) markdown_file->commit();
  return 0;
}

}  // namespace pollard::cli
