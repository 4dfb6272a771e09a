// pollard — zero-shot multiple-choice evaluation by the log-likelihood protocol of EleutherAI's
// lm-evaluation-harness (output_type multiple_choice): each choice is scored by the summed
// log-probability of its continuation given its context; acc, length-normalised acc_norm, and
// their mean ± standard error over the items.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/continuation_tokens.hpp"
#include "pollard/metrics/mean_with_error.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::evaluation {

/// One log-likelihood request: the text the model is given and the text whose tokens are scored.
struct choice_request {
  std::string context;
  std::string continuation;
};

/// One multiple-choice item: a request per choice, the choice texts (their lengths normalise
/// acc_norm) and the index of the right choice.
struct multiple_choice_item {
  std::vector<choice_request> requests;
  std::vector<std::string> choices;
  index_t gold = 0;
};

/// The usual item: one context, choice i continued as delimiter + choices[i] (the harness's
/// target_delimiter is a space).
inline multiple_choice_item choice_item(const std::string& context,
                                        std::vector<std::string> choices, index_t gold,
                                        const std::string& delimiter = " ") {
  multiple_choice_item item;
  for (const auto& c : choices) item.requests.push_back({context, delimiter + c});
  item.choices = std::move(choices);
  item.gold = gold;
  return item;
}

/// Partial evaluation (the harness's multiple-input tasks, e.g. WinoGrande): choice i is its own
/// context contexts[i], all followed by the same delimiter + continuation; acc_norm normalises
/// by the contexts' lengths, as the harness does (whose WinoGrande reports acc only).
inline multiple_choice_item partial_item(std::vector<std::string> contexts,
                                         const std::string& continuation, index_t gold,
                                         const std::string& delimiter = " ") {
  multiple_choice_item item;
  for (const auto& c : contexts) item.requests.push_back({c, delimiter + continuation});
  item.choices = std::move(contexts);
  item.gold = gold;
  return item;
}

/// A named task: its items, and whether the harness reports acc_norm for it.
struct multiple_choice_task {
  std::string name;
  std::vector<multiple_choice_item> items;
  bool reports_acc_norm = true;
};

/// The scores of one item's choices.
struct choice_scores {
  std::vector<double> log_likelihoods;  // summed over each continuation's tokens
  std::vector<index_t> continuation_tokens;
  index_t predicted = 0;       // argmax of log_likelihoods (first on ties)
  index_t predicted_norm = 0;  // argmax of log_likelihoods[i] / length(choices[i])
  index_t sequences_run = 0;   // distinct sequences in the forward pass
};

/// Mean ± standard error (sample deviation / sqrt(n), the harness's mean_stderr) of a 0/1 metric.
struct accuracy_summary {
  double mean = 0.0;
  double standard_error = 0.0;
};

struct multiple_choice_result {
  std::string task;
  index_t items = 0;
  accuracy_summary acc, acc_norm;
  bool reports_acc_norm = true;
};

struct multiple_choice_options {
  /// Start every encoding with BOS; pass the tokenizer's own default to do what the harness's
  /// Hugging Face backend does with add_bos_token unset.
  bool add_bos = true;
  /// Evaluate only the first `limit` items (0: all), like the harness's --limit.
  index_t limit = 0;
  /// Logit rows materialised at once.
  index_t chunk_rows = 64;
  /// Called after each item with (items done, items in all).
  std::function<void(index_t, index_t)> progress;
};

/// The length acc_norm divides by: Python's len(), i.e. Unicode code points of the UTF-8 text.
inline double character_length(std::string_view text) noexcept {
  std::size_t n = 0;
  for (const char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++n;
  return static_cast<double>(n);
}

namespace detail {

inline index_t first_argmax(std::span<const double> values) {
  return static_cast<index_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

}  // namespace detail

/// Scores every choice of one item. All choices run in one forward pass: one sequence per choice,
/// stacked (shorter ones padded at the end, which a causal model never sees), the context tokens
/// repeated in each; a choice whose input is a prefix of another's (one-token answers to one
/// context, as BoolQ's) is read from that one's sequence, so only distinct inputs are computed. The
/// input is context + continuation without its last token, keeping the last context_length tokens
/// like the harness.
template <model::causal_lm Model, text_encoder Encoder>
choice_scores score_item(Model& model, const Encoder& encoder, const multiple_choice_item& item,
                         const multiple_choice_options& options = {}) {
  const std::size_t k = item.requests.size();
  if (k < 2 || item.choices.size() != k)
    throw option_error(
        "score_item: an item needs at least two choices and one request per "
        "choice, got " +
        std::to_string(k) + " requests for " + std::to_string(item.choices.size()) + " choices");
  if (item.gold < 0 || static_cast<std::size_t>(item.gold) >= k)
    throw option_error("score_item: gold " + std::to_string(item.gold) + " is not a choice of " +
                       std::to_string(k));
  if (options.chunk_rows <= 0)
    throw option_error("score_item: chunk_rows must be positive, got " +
                       std::to_string(options.chunk_rows));
  const index_t window = model::context_length(model);
  const index_t vocab = model::vocab_size(model);

  struct sequence {
    std::vector<token_id> tokens;  // the kept tokens, the last one included (it is only a target)
    index_t scored = 0;            // how many of the last tokens are scored
  };
  std::vector<sequence> sequences(k);
  index_t length = 0;
  for (std::size_t i = 0; i < k; ++i) {
    auto pair = encode_continuation(encoder, item.requests[i].context,
                                    item.requests[i].continuation, options.add_bos);
    const auto scored = static_cast<index_t>(pair.continuation.size());
    if (scored > window)
      throw option_error("score_item: the continuation \"" + item.requests[i].continuation +
                         "\" has " + std::to_string(scored) +
                         " tokens, more than the model's context " + std::to_string(window));
    auto& s = sequences[i];
    s.tokens = std::move(pair.context);
    s.tokens.insert(s.tokens.end(), pair.continuation.begin(), pair.continuation.end());
    const auto keep = std::min<std::size_t>(s.tokens.size(), static_cast<std::size_t>(window) + 1);
    s.tokens.erase(s.tokens.begin(), s.tokens.end() - static_cast<std::ptrdiff_t>(keep));
    s.scored = scored;
    if (static_cast<index_t>(s.tokens.size()) - 1 < scored || s.tokens.size() < 2)
      throw option_error("score_item: the context \"" + item.requests[i].context +
                         "\" encodes to no token to condition on");
    length = std::max(length, static_cast<index_t>(keep) - 1);
  }
  // Choice i runs in the sequence of host[i]: the longest input that has i's input as a prefix
  // (the first of equal ones), so e.g. one-token answers to one context share a sequence; a
  // causal model's rows for a prefix do not depend on what follows it.
  const auto input_of = [&](std::size_t i) { return sequences[i].tokens.size() - 1; };
  const auto is_prefix = [&](std::size_t i, std::size_t j) {
    return input_of(i) <= input_of(j) &&
           std::equal(sequences[i].tokens.begin(),
                      sequences[i].tokens.begin() + static_cast<std::ptrdiff_t>(input_of(i)),
                      sequences[j].tokens.begin());
  };
  std::vector<std::size_t> host(k);
  std::vector<index_t> slot(k, -1);
  index_t n_run = 0;
  for (std::size_t i = 0; i < k; ++i) {
    host[i] = i;
    for (std::size_t j = 0; j < k; ++j)
      if (is_prefix(i, j) &&
          (input_of(j) > input_of(host[i]) || (input_of(j) == input_of(host[i]) && j < host[i])))
        host[i] = j;
  }
  for (std::size_t i = 0; i < k; ++i)
    if (host[i] == i) slot[i] = n_run++;
  std::vector<token_id> stacked(static_cast<std::size_t>(length * n_run), token_id{0});
  for (std::size_t i = 0; i < k; ++i)
    if (host[i] == i)
      std::copy(sequences[i].tokens.begin(), sequences[i].tokens.end() - 1,
                stacked.begin() + static_cast<std::ptrdiff_t>(slot[i] * length));
  // Row r of a sequence predicts its input's token r + 1; choice i scores the last `scored` rows
  // of its own input.
  const auto first_row = [&](std::size_t i) {
    return slot[host[i]] * length + static_cast<index_t>(input_of(i)) - sequences[i].scored;
  };
  const auto end_row = [&](std::size_t i) {
    return slot[host[i]] * length + static_cast<index_t>(input_of(i));
  };
  model::row_range rows{first_row(0), end_row(0)};
  for (std::size_t i = 1; i < k; ++i) {
    rows.begin = std::min(rows.begin, first_row(i));
    rows.end = std::max(rows.end, end_row(i));
  }

  choice_scores out;
  out.sequences_run = n_run;
  out.log_likelihoods.assign(k, 0.0);
  for (std::size_t i = 0; i < k; ++i) out.continuation_tokens.push_back(sequences[i].scored);
  model::for_each_logits(model, stacked, model::sequence_layout{n_run, length}, rows,
                         options.chunk_rows, [&](index_t first, matrix_view<const float> logits) {
                           for (index_t r = 0; r < logits.rows(); ++r) {
                             const index_t row = first + r;
                             double log_normaliser = std::numeric_limits<double>::quiet_NaN();
                             for (std::size_t i = 0; i < k; ++i) {
                               if (row < first_row(i) || row >= end_row(i)) continue;
                               if (std::isnan(log_normaliser)) {
                                 double top = -std::numeric_limits<double>::infinity();
                                 for (index_t v = 0; v < vocab; ++v)
                                   top = std::max(top, double{logits(r, v)});
                                 double sum = 0.0;
                                 for (index_t v = 0; v < vocab; ++v)
                                   sum += std::exp(double{logits(r, v)} - top);
                                 log_normaliser = top + std::log(sum);
                               }
                               const auto position = static_cast<std::size_t>(row % length);
                               const token_id target = sequences[i].tokens[position + 1];
                               out.log_likelihoods[i] +=
                                   double{logits(r, static_cast<index_t>(target))} - log_normaliser;
                             }
                           }
                         });
  out.predicted = detail::first_argmax(out.log_likelihoods);
  std::vector<double> normalised(k);
  for (std::size_t i = 0; i < k; ++i)
    normalised[i] = out.log_likelihoods[i] / character_length(item.choices[i]);
  out.predicted_norm = detail::first_argmax(normalised);
  return out;
}

/// acc and acc_norm of a task over its first options.limit items (all when 0).
template <model::causal_lm Model, text_encoder Encoder>
multiple_choice_result evaluate_multiple_choice(Model& model, const Encoder& encoder,
                                                const multiple_choice_task& task,
                                                const multiple_choice_options& options = {}) {
  if (options.limit < 0)
    throw option_error("evaluate_multiple_choice: limit must be >= 0, got " +
                       std::to_string(options.limit));
  std::size_t n = task.items.size();
  if (options.limit > 0) n = std::min(n, static_cast<std::size_t>(options.limit));
  if (n == 0) throw option_error("evaluate_multiple_choice: task " + task.name + " has no items");
  pollard::detail::metric_moments acc, acc_norm;
  for (std::size_t j = 0; j < n; ++j) {
    const auto& item = task.items[j];
    const choice_scores s = score_item(model, encoder, item, options);
    acc.add(s.predicted == item.gold ? 1.0 : 0.0);
    acc_norm.add(s.predicted_norm == item.gold ? 1.0 : 0.0);
    if (options.progress) options.progress(static_cast<index_t>(j + 1), static_cast<index_t>(n));
  }
  multiple_choice_result r;
  r.task = task.name;
  r.items = static_cast<index_t>(n);
  r.acc = {acc.mean, acc.standard_error()};
  r.acc_norm = {acc_norm.mean, acc_norm.standard_error()};
  r.reports_acc_norm = task.reports_acc_norm;
  return r;
}

}  // namespace pollard::evaluation
