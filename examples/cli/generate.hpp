// pollard CLI — `pollard generate`: text from a model, streamed to stdout as it is sampled.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "common.hpp"
#include "pollard/evaluation/sampler.hpp"
#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/utf8_stream.hpp"

namespace pollard::cli {

inline const char* const generate_help =
    "usage: pollard generate MODEL [--prompt TEXT] [--steps N] [--temperature T] [--top-k K]\n"
    "                        [--top-p P] [--repeat-penalty R] [--seed S] [--tokenizer FILE]\n"
    "                        [--llama2c-bytes]\n"
    "\n"
    "Prints the prompt and its continuation on stdout as tokens are sampled, then a newline;\n"
    "the speed goes to stderr. Steps are counted as llama2.c's run.c counts them: N positions\n"
    "including BOS and the prompt, so an empty prompt gives N new tokens and a prompt of P tokens\n"
    "(BOS included) gives N - P + 1. N is capped at the model's context. Generation stops early\n"
    "at BOS for llama2.c models (as run.c does) and at the tokenizer's EOS for GGUF models.\n"
    "A character spread over several tokens (byte-fallback tokens such as <0xE2>) is printed\n"
    "once its last byte arrives; bytes that form no character print as U+FFFD.\n"
    "\n"
    "  --prompt TEXT          text to continue (default: empty, generation starts from BOS)\n"
    "  --steps N              positions to run, >= 1 (default 256)\n"
    "  --temperature T        0 picks the most likely token (default 0); > 0 samples\n"
    "  --top-k K              keep the K most likely tokens, 0 = all (default 0)\n"
    "  --top-p P              nucleus mass in (0, 1] (default 1 = off)\n"
    "  --repeat-penalty R     CTRL repetition penalty > 0 on tokens already seen (default 1 = "
    "off)\n"
    "  --seed S               seed of the sampler (default 0); the same seed gives the same "
    "text\n"
    "  --tokenizer FILE       llama2.c tokenizer.bin or Hugging Face tokenizer.json (default:\n"
    "                         beside the model; not for a GGUF, which carries its own)\n"
    "  --llama2c-bytes        print each token's bytes as llama2.c's run.c does (a lone byte\n"
    "                         that is not printable ASCII is dropped), for byte-exact\n"
    "                         comparison with llama2.c\n";

namespace detail {

/// What llama2.c's safe_printf lets through: a single-byte piece only when printable or space.
inline bool printable_piece(const std::string& piece) {
  if (piece.size() != 1) return true;
  const auto b = static_cast<unsigned char>(piece[0]);
  return std::isprint(b) || std::isspace(b);
}

}  // namespace detail

inline int run_generate(std::span<char* const> args) {
  const arguments a("generate", args,
                    option_spec{{"--prompt", "--steps", "--temperature", "--top-k", "--top-p",
                                 "--repeat-penalty", "--seed", "--tokenizer"},
                                {"--llama2c-bytes"}});
  if (a.help()) {
    std::fputs(generate_help, stdout);
    return 0;
  }
  a.expect_positional(1, "a MODEL file");
  evaluation::sampler_options sampling;
  sampling.temperature =
      static_cast<float>(a.real("--temperature", 0.0, ">= 0", [](double x) { return x >= 0.0; }));
  sampling.top_k = a.integer("--top-k", 0, 0, INT32_MAX);
  sampling.top_p = static_cast<float>(
      a.real("--top-p", 1.0, "in (0, 1]", [](double x) { return x > 0.0 && x <= 1.0; }));
  sampling.repetition_penalty =
      static_cast<float>(a.real("--repeat-penalty", 1.0, "> 0", [](double x) { return x > 0.0; }));
  sampling.seed = a.unsigned_integer("--seed", 0);
  index_t steps = a.integer("--steps", 256, 1, INT32_MAX);
  const std::string prompt_text = a.text("--prompt").value_or("");

  llm::model_file m = open_model_with_tokenizer(a.positional()[0], a.path("--tokenizer"));
  m.gguf.reset();  // generation needs only the float weights; unmap the file
  const auto& tok = *m.tokenizer;
  const auto& config = m.weights.config;
  const bool llama2c = m.format == llm::model_format::llama2c;

  std::vector<llm::token_id> prompt = tok.encode(prompt_text, tok.adds_bos());
  if (prompt.empty()) {
    if (!tok.bos())
      throw usage_error("this model's tokenizer has no BOS token: give a non-empty --prompt");
    prompt.insert(prompt.begin(), *tok.bos());
  }
  const auto prompt_len = static_cast<index_t>(prompt.size());
  steps = std::min(steps, config.seq_len);
  if (prompt_len > steps)
    throw usage_error("the prompt has " + std::to_string(prompt_len) + " tokens, more than the " +
                      std::to_string(steps) + " steps to run");
  const index_t new_tokens = steps - prompt_len + 1;
  std::vector<llm::token_id> stops;
  if (llama2c) {
    stops.push_back(llm::llama2c_tokenizer::bos);
  } else if (tok.eos()) {
    stops.push_back(*tok.eos());
  }

  evaluation::sampler pick(sampling);
  llm::llama_forward model(m.weights);
  const bool llama2c_bytes = a.has("--llama2c-bytes");
  llm::utf8_stream text;
  const auto print = [](const std::string& bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  };
  const auto emit = [&](std::optional<llm::token_id> previous, llm::token_id token) {
    const std::string piece = tok.decode(std::span<const llm::token_id>(&token, 1), previous);
    if (!llama2c_bytes)
      print(text.push(piece));
    else if (!llama2c || detail::printable_piece(piece))
      print(piece);
  };
  // The prompt is echoed as llama2.c does, without its BOS.
  for (index_t i = 0; i < prompt_len; ++i) {
    const auto t = prompt[static_cast<std::size_t>(i)];
    if (i == 0 && t == tok.bos()) continue;
    emit(i > 0 ? std::optional(prompt[static_cast<std::size_t>(i - 1)]) : std::nullopt, t);
  }

  const auto start = std::chrono::steady_clock::now();
  llm::kv_cache cache(config, prompt_len + new_tokens - 1);
  const llm::row_matrix prompt_logits = model.extend(cache, prompt);
  Eigen::VectorXf logits = prompt_logits.row(prompt_len - 1).transpose();
  std::vector<llm::token_id> history = prompt;
  index_t produced = 0;
  for (index_t n = 0; n < new_tokens; ++n) {
    const llm::token_id next = pick.sample(
        std::span<const float>(logits.data(), static_cast<std::size_t>(logits.size())), history);
    ++produced;
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
    emit(history.back(), next);
    history.push_back(next);
    if (n + 1 < new_tokens) logits = model.decode_step(cache, next);
  }
  print(text.finish() + "\n");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "pollard: %lld tokens in %.2f s (%.1f tokens/s)\n",
               static_cast<long long>(produced), seconds,
               seconds > 0 ? static_cast<double>(produced) / seconds : 0.0);
  return 0;
}

}  // namespace pollard::cli
