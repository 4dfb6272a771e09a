// pollard CLI — `pollard eval`: perplexity of a model on a text, over non-overlapping windows.
#pragma once

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "common.hpp"
#include "pollard/evaluation/perplexity.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/progress.hpp"

namespace pollard::cli {

inline const char* const eval_help =
    "usage: pollard eval MODEL --text FILE [--format rows-jsonl|jsonl-gz|c4|text] [--window L]\n"
    "                    [--max-windows N] [--json OUT.json] [--tokenizer FILE]\n"
    "\n"
    "Perplexity of MODEL on the text (exp of the mean next-token negative log-likelihood over\n"
    "non-overlapping windows; a last partial window is dropped) with its standard error\n"
    "PPL * sqrt(Var(nll) / (n - 1)), the window length, the number of windows and of tokens.\n"
    "The text is tokenized as one string (with BOS first when the model expects it).\n"
    "\n"
    "  --text FILE       the evaluation text\n"
    "  --format F        rows-jsonl: {\"text\": ...} JSON lines, rows joined with \"\\n\\n\"\n"
    "                    (WikiText-2 as SparseGPT and Wanda evaluate it); jsonl-gz: gzip JSON\n"
    "                    lines, documents joined with \"\\n\\n\"; c4: C4 validation as SparseGPT\n"
    "                    and Wanda evaluate it (get_c4: the first 1100 documents joined with\n"
    "                    \" \", at most 256 windows); text: the file as it is. The output names\n"
    "                    the protocol used.\n"
    "                    Default from the name: *.jsonl rows-jsonl, *.gz jsonl-gz, else text\n"
    "  --window L        tokens per window, >= 2 (default: min(2048, the model's context))\n"
    "  --max-windows N   evaluate at most N windows (default: all)\n"
    "  --json OUT.json   also write the result as JSON (written whole or not at all)\n"
    "  --tokenizer FILE  llama2.c tokenizer.bin or Hugging Face tokenizer.json (default: beside\n"
    "                    the model; not for a GGUF, which carries its own)\n";

/// The text options eval and compare share.
struct text_options {
  std::optional<fs::path> file;
  text_format format = text_format::text;
  index_t window = 0;
  index_t max_windows = 0;
};

inline const std::set<std::string, std::less<>>& text_option_names() {
  static const std::set<std::string, std::less<>> names{"--text", "--format", "--window",
                                                        "--max-windows"};
  return names;
}

inline text_options read_text_options(const arguments& a) {
  text_options t;
  t.file = a.path("--text");
  if (t.file) t.format = text_format_of(a.text("--format"), *t.file);
  t.window = a.integer("--window", 0, 2, INT32_MAX);
  t.max_windows = a.integer("--max-windows", 0, 1, INT32_MAX);
  if (t.format == text_format::c4)  // the reference scores the first 256 windows
    t.max_windows = t.max_windows > 0 ? std::min(t.max_windows, io::c4_reference_windows)
                                      : io::c4_reference_windows;
  return t;
}

/// Fails before the text is read when --window exceeds the model's context.
inline void check_window(const text_options& t, const llm::llama_config& c) {
  if (t.window > c.seq_len)
    throw option_error("--window " + std::to_string(t.window) + " exceeds the model's context of " +
                       std::to_string(c.seq_len) + " tokens");
}

/// The token stream of the evaluation text.
inline std::vector<llm::token_id> evaluation_tokens(const text_options& t,
                                                    const llm::text_tokenizer& tok) {
  const std::string text = read_evaluation_text(*t.file, t.format);
  std::fprintf(stderr, "pollard: tokenizing %zu bytes of %s\n", text.size(),
               t.file->filename().string().c_str());
  return tok.encode(text, tok.adds_bos());
}

inline int run_eval(std::span<char* const> args) {
  option_spec spec{text_option_names(), {}};
  spec.valued.insert({"--json", "--tokenizer"});
  const arguments a("eval", args, spec);
  if (a.help()) {
    std::fputs(eval_help, stdout);
    return 0;
  }
  a.expect_positional(1, "a MODEL file");
  const text_options t = read_text_options(a);
  if (!t.file) throw usage_error("'pollard eval' needs --text FILE");
  const auto json = a.path("--json");
  if (json) check_output_path(*json, "--json");
  if (!fs::is_regular_file(*t.file)) throw io_error("cannot open " + t.file->string());

  const fs::path model_path = a.positional()[0];
  llm::model_file m = open_model_with_tokenizer(model_path, a.path("--tokenizer"));
  m.gguf.reset();  // evaluation needs only the float weights; unmap the file
  check_window(t, m.weights.config);
  const std::vector<llm::token_id> tokens = evaluation_tokens(t, *m.tokenizer);

  llm::llama_forward model(m.weights);
  evaluation::evaluation_options options;
  options.window = t.window;
  options.max_windows = t.max_windows;
  options.progress = llm::progress_bar("perplexity", "windows");
  const evaluation::perplexity_evaluation e =
      evaluation::evaluate_perplexity(model, tokens, options);
  const auto& r = e.result;

  std::printf("model       : %s\n", model_path.string().c_str());
  std::printf("text        : %s (%s, %zu tokens)\n", t.file->string().c_str(), name_of(t.format),
              tokens.size());
  std::printf("protocol    : %s\n", protocol_of(t.format));
  std::printf("window      : %lld tokens x %lld windows\n", static_cast<long long>(e.window),
              static_cast<long long>(e.windows));
  std::printf("scored      : %lld tokens\n", static_cast<long long>(r.tokens));
  std::printf("mean NLL    : %.6f nats\n", r.mean_nll);
  std::printf("perplexity  : %.4f ± %.4f\n", r.perplexity, r.standard_error);

  if (json) {
    const std::string out =
        "{\"model\":" + json_string(model_path.string()) +
        ",\"text\":" + json_string(t.file->string()) +
        ",\"format\":" + json_string(name_of(t.format)) +
        ",\"protocol\":" + json_string(protocol_of(t.format)) +
        ",\"text_tokens\":" + std::to_string(tokens.size()) +
        ",\"window\":" + std::to_string(e.window) + ",\"windows\":" + std::to_string(e.windows) +
        ",\"tokens\":" + std::to_string(r.tokens) + ",\"mean_nll\":" + json_number(r.mean_nll) +
        ",\"perplexity\":" + json_number(r.perplexity) +
        ",\"standard_error\":" + json_number(r.standard_error) + "}\n";
    write_file_atomically(*json, out);
  }
  return 0;
}

}  // namespace pollard::cli
