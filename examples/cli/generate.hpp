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

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/evaluation/sampler.hpp"
#include "pollard/llm/kv_cache.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/utf8_stream.hpp"

namespace pollard::cli {

namespace detail {

/// What llama2.c's safe_printf lets through: a single-byte piece only when printable or space.
inline bool printable_piece(const std::string& piece) {
  if (piece.size() != 1) return true;
  const auto b = static_cast<unsigned char>(piece[0]);
  return std::isprint(b) || std::isspace(b);
}

}  // namespace detail

struct generate_options {
  std::string model;
  std::string prompt;
  index_t steps = 256;
  double temperature = 0.0;
  index_t top_k = 0;
  double top_p = 1.0;
  double repeat_penalty = 1.0;
  std::uint64_t seed = 0;
  std::string tokenizer;
  text_reading_choice special_tokens;
  bool llama2c_bytes = false;
  int threads = 0;
  given_options given;
};

inline CLI::App* add_generate_command(CLI::App& app, generate_options& o) {
  CLI::App* c = app.add_subcommand("generate", "continue a prompt (greedy by default, or sampled)");
  c->footer(
      "Prints the prompt and its continuation on stdout as tokens are sampled, then a newline;\n"
      "the speed goes to stderr. Steps are counted as llama2.c's run.c counts them: N positions\n"
      "including BOS and the prompt, so an empty prompt gives N new tokens and a prompt of P\n"
      "tokens (BOS included) gives N - P + 1. N is capped at the model's context. Generation\n"
      "stops early at BOS for llama2.c models (as run.c does) and at the tokenizer's EOS for GGUF\n"
      "models. A character spread over several tokens (byte-fallback tokens such as <0xE2>) is\n"
      "printed once its last byte arrives; bytes that form no character print as U+FFFD.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  accepts_empty_value(
      c->add_option("--prompt", o.prompt, "text to continue; empty: generation starts from BOS")
          ->type_name("TEXT"));
  c->add_option("--steps", o.steps, "positions to run, >= 1")
      ->type_name("N")
      ->transform(integer_in(1, INT32_MAX));
  // The sampler computes in float: each range keeps a value and what it is divided or multiplied
  // into far from float's limits, so that no value silently becomes 0 or inf there.
  c->add_option("--temperature", o.temperature,
                "0 picks the most likely token; in [1e-6, 1e6] samples")
      ->type_name("T")
      ->transform(real_where("0 or in [1e-6, 1e6]",
                             [](double x) { return x == 0.0 || (x >= 1e-6 && x <= 1e6); }));
  c->add_option("--top-k", o.top_k, "keep the K most likely tokens, 0 = all")
      ->type_name("K")
      ->transform(integer_in(0, INT32_MAX));
  c->add_option("--top-p", o.top_p, "nucleus mass in [1e-6, 1]; 1 = off")
      ->type_name("P")
      ->transform(real_where("in [1e-6, 1]", [](double x) { return x >= 1e-6 && x <= 1.0; }));
  c->add_option("--repeat-penalty", o.repeat_penalty,
                "CTRL repetition penalty in [1e-6, 1e6] on tokens already seen; 1 = off")
      ->type_name("R")
      ->transform(real_where("in [1e-6, 1e6]", [](double x) { return x >= 1e-6 && x <= 1e6; }));
  c->add_option("--seed", o.seed, "seed of the sampler; the same seed gives the same text")
      ->type_name("S")
      ->transform(unsigned_integer());
  add_tokenizer_option(*c, o.tokenizer);
  add_text_reading_options(*c, o.special_tokens);
  c->add_flag("--llama2c-bytes", o.llama2c_bytes,
              "print each token's bytes as llama2.c's run.c does (a lone byte that is not\n"
              "printable ASCII is dropped), for byte-exact comparison with llama2.c");
  add_threads_option(*c, o.threads);
  record_given_options(*c, o.given);
  return c;
}

inline int run_generate(const generate_options& o) {
  use_threads(o.threads);
  // Greedy decoding (temperature 0) takes the most likely token: nothing is drawn.
  for (const char* option : {"--top-k", "--top-p", "--seed"})
    refuse_if_given(o.given, option, o.temperature == 0.0,
                    "shapes sampling, and --temperature 0 (the default) picks the most likely "
                    "token; give --temperature > 0 to sample");
  evaluation::sampler_options sampling;
  sampling.temperature = static_cast<float>(o.temperature);
  sampling.top_k = o.top_k;
  sampling.top_p = static_cast<float>(o.top_p);
  sampling.repetition_penalty = static_cast<float>(o.repeat_penalty);
  sampling.seed = o.seed;
  index_t steps = o.steps;
  const std::string& prompt_text = o.prompt;

  check_inputs(model_inputs("MODEL", o.model, {{"--tokenizer", o.tokenizer}}));
  refuse_tokenizer_for_gguf(o.tokenizer, {{"MODEL", o.model}});
  llm::model_file m = open_model_with_tokenizer(o.model, optional_path(o.tokenizer));
  apply_text_reading_options(m.tokenizer, o.special_tokens);
  require_finite_weights(m);
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
  const bool llama2c_bytes = o.llama2c_bytes;
  llm::utf8_stream text;
  const auto print = [](const std::string& bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    flush_stdout();
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
    // Embedding rows padded beyond the tokenizer (a Hugging Face layout) are never sampled.
    const llm::token_id next = pick.sample(
        std::span<const float>(logits.data(), std::min(static_cast<std::size_t>(logits.size()),
                                                       tok.vocabulary_size())),
        history);
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
