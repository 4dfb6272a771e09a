// pollard CLI — `pollard eval`: perplexity of a model on a text, over non-overlapping windows.
#pragma once

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/evaluation/perplexity.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

/// The text options eval and compare share.
struct text_options {
  std::string file;
  std::string format;  // empty: from the file name
  index_t window = 0;
  index_t max_windows = 0;
  std::string protocol = "windows";
};

/// Adds --text, --format, --window and --max-windows to a command; returns the --text option.
inline CLI::Option* add_text_options(CLI::App& c, text_options& t) {
  CLI::Option* text =
      c.add_option("--text", t.file,
                   std::string("the evaluation text, its layout told from its name as every\n"
                               "command tells it: ") +
                       data_file_rule +
                       ". JSON records are\n"
                       "joined with \"\\n\\n\" (rows-jsonl; jsonl-gz when compressed)")
          ->type_name("FILE");
  c.add_option("--format", t.format,
               "rows-jsonl: {\"text\": ...} JSON lines, rows joined with \"\\n\\n\"\n"
               "(WikiText-2 as SparseGPT and Wanda evaluate it); jsonl-gz: gzip JSON\n"
               "lines, documents joined with \"\\n\\n\"; c4: C4 validation as SparseGPT\n"
               "and Wanda evaluate it (get_c4: the first 1100 documents joined with\n"
               "\" \", at most 256 windows); text: the file as it is (decompressed\n"
               "when its name ends in .gz). The output names\n"
               "the protocol used")
      ->type_name("F")
      ->default_str("from the file's name, as --text says");
  c.add_option("--window", t.window, "tokens per window, >= 2")
      ->type_name("L")
      ->transform(integer_in(2, INT32_MAX))
      ->default_str("min(2048, the model's context)");
  c.add_option("--max-windows", t.max_windows, "evaluate at most N windows")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX))
      ->default_str("all");
  c.add_option("--protocol", t.protocol,
               "windows: SparseGPT's and Wanda's (no BOS inserted per window, every\n"
               "position after a window's first scored); llama-cpp: llama-perplexity's\n"
               "(each window's first token replaced by BOS when the model adds one, only\n"
               "its second half scored). Published perplexities differ by protocol; the\n"
               "output names the one used")
      ->type_name("P")
      ->check(CLI::IsMember({"windows", "llama-cpp"}));
  return text;
}

/// --max-windows as the protocol applies it: the C4 reference scores at most its first 256
/// windows.
inline index_t max_windows_of(const text_options& t) {
  if (text_format_option(t.format) != text_format::c4) return t.max_windows;
  return t.max_windows > 0 ? std::min(t.max_windows, io::c4_reference_windows)
                           : io::c4_reference_windows;
}

/// The evaluation options the text options ask for (window, window count, protocol; under
/// llama.cpp's protocol each window starts with the tokenizer's BOS when it adds one).
inline evaluation::evaluation_options evaluation_options_of(const text_options& t,
                                                            const llm::text_tokenizer& tok) {
  evaluation::evaluation_options options;
  options.window = t.window;
  options.max_windows = max_windows_of(t);
  if (t.protocol == "llama-cpp") {
    options.protocol = evaluation::perplexity_protocol::llama_cpp_chunks;
    if (tok.adds_bos()) options.chunk_bos = tok.bos();
  }
  return options;
}

/// Fails before the text is read when --window exceeds the model's context.
inline void check_window(const text_options& t, const llm::llama_config& c) {
  if (t.window > c.seq_len)
    throw usage_error("--window " + std::to_string(t.window) + " exceeds the model's context of " +
                      std::to_string(c.seq_len) + " tokens");
}

/// The token stream of the evaluation text and the documents it joins (`source.text` is
/// released once tokenized).
struct evaluation_stream {
  std::vector<llm::token_id> tokens;
  evaluation_text source;
};

/// The token stream of --text for a model of context `context`; an error naming the file when it
/// holds too few tokens for one window (--window, or the default min(2048, context)).
inline evaluation_stream evaluation_tokens(const text_options& t, const llm::text_tokenizer& tok,
                                           index_t context) {
  const fs::path file = t.file;
  evaluation_stream s{{}, read_evaluation_text(file, text_format_option(t.format))};
  std::fprintf(stderr, "pollard: tokenizing %zu bytes of %s\n", s.source.text.size(),
               printable(file.filename().string()).c_str());
  try {
    s.tokens = tok.encode(s.source.text, tok.adds_bos());
  } catch (const format_error& e) {
    throw format_error("--text " + file.string() + ": " + e.what());
  }
  s.source.text = std::string();
  const index_t window = t.window > 0 ? t.window : std::min<index_t>(2048, context);
  if (static_cast<index_t>(s.tokens.size()) < window)
    throw error("--text " + file.string() + " holds " + std::to_string(s.tokens.size()) +
                " tokens, too few for one " +
                (t.window > 0 ? "--window of " + std::to_string(window)
                              : "window of " + std::to_string(window) +
                                    " (the default window, min(2048, the model's context " +
                                    std::to_string(context) + "); a smaller --window fits)"));
  return s;
}

/// What a run over `tokens` in windows of `window` (`windows` of them scored) was, for
/// protocol_of.
inline evaluation_run evaluation_run_of(const text_options& t, std::size_t tokens, index_t window,
                                        index_t windows, const llm::llama_config& c) {
  return {window, windows, static_cast<index_t>(tokens) / window, c.seq_len,
          t.protocol != "llama-cpp"};
}

struct eval_options {
  std::string model;
  text_options text;
  std::string json;
  std::string tokenizer;
  text_reading_choice special_tokens;
  int threads = 0;
};

inline CLI::App* add_eval_command(CLI::App& app, eval_options& o) {
  CLI::App* c =
      app.add_subcommand("eval", "perplexity ± standard error over non-overlapping windows");
  c->footer(
      "Perplexity of MODEL on the text (exp of the mean next-token negative log-likelihood over\n"
      "non-overlapping windows; a last partial window is dropped) with its standard error\n"
      "PPL * sqrt(Var(nll) / (n - 1)), the window length, the number of windows and of tokens.\n"
      "The text is tokenized as one string (with BOS first when the model expects it).");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  add_text_options(*c, o.text)->required();
  c->add_option("--json", o.json, "also write the result as JSON (written whole or not at all)")
      ->type_name("OUT.json");
  add_tokenizer_option(*c, o.tokenizer);
  add_text_reading_options(*c, o.special_tokens);
  add_threads_option(*c, o.threads);
  return c;
}

inline int run_eval(const eval_options& o) {
  use_threads(o.threads);
  const text_options& t = o.text;
  const fs::path text_file = t.file;
  (void)text_format_option(t.format);  // an unknown --format is refused before any work
  const auto json = optional_path(o.json);
  check_inputs(model_inputs("MODEL", o.model, {{"--text", t.file}, {"--tokenizer", o.tokenizer}}));
  check_output_name("--json", o.json, "JSON", {".json"});
  check_outputs({{"MODEL", o.model}, {"--text", o.text.file}, {"--tokenizer", o.tokenizer}},
                {{"--json", o.json}});
  refuse_tokenizer_for_gguf(o.tokenizer, {{"MODEL", o.model}});
  io::require_regular_file(text_file);

  const fs::path model_path = o.model;
  llm::model_file m = open_model_with_tokenizer(model_path, optional_path(o.tokenizer));
  apply_text_reading_options(m.tokenizer, o.special_tokens);
  require_finite_weights(m);
  // The files read beside MODEL (its llama2.c tokenizer, a Hugging Face folder's) are inputs too.
  check_distinct_outputs(
      files_read_with({{"MODEL", &m}}, {{"--text", o.text.file}, {"--tokenizer", o.tokenizer}}),
      {{"--json", o.json}});
  m.gguf.reset();  // evaluation needs only the float weights; unmap the file
  check_window(t, m.weights.config);
  const evaluation_stream stream = evaluation_tokens(t, *m.tokenizer, m.weights.config.seq_len);
  const std::vector<llm::token_id>& tokens = stream.tokens;
  const text_format format = stream.source.format;

  llm::llama_forward model(m.weights);
  evaluation::evaluation_options options = evaluation_options_of(t, *m.tokenizer);
  options.progress = llm::progress_bar("perplexity", "windows");
  const evaluation::perplexity_evaluation e =
      evaluation::evaluate_perplexity(model, tokens, options);
  const auto& r = e.result;
  const std::string protocol =
      protocol_of(format, stream.source,
                  evaluation_run_of(t, tokens.size(), e.window, e.windows, m.weights.config));

  std::printf("model       : %s\n", printable(model_path.string()).c_str());
  std::printf("text        : %s (%s, %zu tokens)\n", printable(text_file.string()).c_str(),
              name_of(format), tokens.size());
  std::printf("protocol    : %s\n", protocol.c_str());
  std::printf("window      : %lld tokens x %lld windows\n", static_cast<long long>(e.window),
              static_cast<long long>(e.windows));
  std::printf("positions   : %s\n", e.protocol.c_str());
  std::printf("scored      : %lld tokens\n", static_cast<long long>(r.tokens));
  std::printf("mean NLL    : %.6f nats\n", r.mean_nll);
  std::printf("perplexity  : %.4f ± %.4f\n", r.perplexity, r.standard_error);

  if (json) {
    const std::string out =
        "{\"model\":" + json_string(model_path.string()) +
        ",\"text\":" + json_string(text_file.string()) +
        ",\"format\":" + json_string(name_of(format)) + ",\"protocol\":" + json_string(protocol) +
        ",\"perplexity_protocol\":" + json_string(t.protocol) +
        ",\"positions\":" + json_string(e.protocol) +
        ",\"text_tokens\":" + std::to_string(tokens.size()) + ",\"special_tokens\":" +
        json_string(
            recorded_special_tokens(m.tokenizer ? &*m.tokenizer : nullptr, o.special_tokens)) +
        ",\"text_bytes\":" +
        json_string(recorded_text_bytes(m.tokenizer ? &*m.tokenizer : nullptr, o.special_tokens)) +
        ",\"window\":" + std::to_string(e.window) + ",\"windows\":" + std::to_string(e.windows) +
        ",\"tokens\":" + std::to_string(r.tokens) + ",\"mean_nll\":" + json_number(r.mean_nll) +
        ",\"perplexity\":" + json_number(r.perplexity) +
        ",\"standard_error\":" + json_number(r.standard_error) + "}\n";
    write_output_file(*json, out);
  }
  return 0;
}

}  // namespace pollard::cli
