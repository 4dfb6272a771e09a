// pollard — instruction data (Alpaca) rendered through a prompt template and packed into
// calibration windows, optionally counting only the response tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/document_windows.hpp"
#include "pollard/calibration/python_random.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard {

/// A prompt template: `{instruction}` and `{input}` are replaced by the example's fields; the
/// response follows the rendered prompt directly.
struct instruction_template {
  std::string with_input;
  std::string without_input;

  /// The Stanford Alpaca template (its train.py PROMPT_DICT).
  static instruction_template alpaca() {
    return {
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"};
  }

  /// The prompt of one example: with_input unless `input` is empty.
  std::string render(std::string_view instruction, std::string_view input) const {
    std::string out = input.empty() ? without_input : with_input;
    replace_all(out, "{instruction}", instruction);
    replace_all(out, "{input}", input);
    return out;
  }

 private:
  static void replace_all(std::string& s, std::string_view key, std::string_view value) {
    for (std::size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size()))
      s.replace(at, key.size(), value);
  }
};

/// Instruction examples (any type with string members instruction, input, output) rendered as
/// prompt + response, each with BOS when `add_bos`, shuffled with the seed (CPython's
/// random.shuffle), concatenated, and cut into consecutive windows. The response tokens of an
/// example are those of encode(prompt + output) past the tokens of encode(prompt) (the evaluation
/// harness's continuation rule). With `responses_only`, only they are counted in the statistics.
class instruction_windows {
 public:
  template <class Example>
  instruction_windows(const std::vector<Example>& examples, const tokenize_function& tokenize,
                      bool add_bos, bool responses_only,
                      const instruction_template& prompt = instruction_template::alpaca(),
                      std::string name = "instructions")
      : responses_only_(responses_only), name_(std::move(name)) {
    for (const auto& e : examples) {
      const std::string p = prompt.render(e.instruction, e.input);
      rendered r;
      r.tokens = tokenize(p + e.output, add_bos);
      r.prompt_tokens = std::min(tokenize(p, add_bos).size(), r.tokens.size());
      rendered_.push_back(std::move(r));
    }
  }

  index_t example_count() const noexcept { return static_cast<index_t>(rendered_.size()); }

  /// option_error when all examples together hold fewer than n * length tokens.
  calibration_batch draw(index_t n, index_t length, std::uint64_t seed) const {
    const std::string who = "calibration " + name_;
    detail::check_draw_request(who, n, length);
    std::vector<std::size_t> order(rendered_.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    python_random rng(seed);
    for (std::size_t k = order.size(); k > 1; --k)  // random.shuffle: i from n-1 down to 1
      std::swap(order[k - 1], order[rng.below(k)]);
    calibration_batch out;
    out.n_sequences = n;
    out.length = length;
    const auto wanted = static_cast<std::size_t>(n * length);
    for (const auto k : order) {
      if (out.tokens.size() >= wanted) break;
      const auto& r = rendered_[k];
      out.tokens.insert(out.tokens.end(), r.tokens.begin(), r.tokens.end());
      for (std::size_t t = 0; t < r.tokens.size(); ++t)
        out.counted.push_back(!responses_only_ || t >= r.prompt_tokens ? 1 : 0);
    }
    if (out.tokens.size() < wanted)
      throw option_error(who + ": " + std::to_string(rendered_.size()) + " examples hold " +
                         std::to_string(out.tokens.size()) + " tokens, fewer than " +
                         std::to_string(n) + " windows of " + std::to_string(length));
    out.tokens.resize(wanted);
    out.counted.resize(wanted);
    if (!responses_only_) out.counted.clear();
    out.origin.assign(static_cast<std::size_t>(n), name_);
    return out;
  }

  std::string describe() const {
    return name_ + ": " + std::to_string(example_count()) +
           " instruction examples through a prompt template, packed into windows" +
           (responses_only_ ? ", response tokens counted only" : "");
  }

 private:
  struct rendered {
    std::vector<token_id> tokens;
    std::size_t prompt_tokens = 0;
  };
  std::vector<rendered> rendered_;
  bool responses_only_;
  std::string name_;
};

}  // namespace pollard
