#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/evaluation/multiple_choice.hpp"
#include "pollard/evaluation/zero_shot_suite.hpp"

using namespace pollard;
using namespace pollard::evaluation;

namespace {

// Characters as tokens: BOS 0, 'a' 1, 'b' 2, ' ' 3, 'c' 4.
struct char_encoder {
  std::vector<token_id> encode(std::string_view text, bool add_bos) const {
    std::vector<token_id> out;
    if (add_bos) out.push_back(0);
    for (const char c : text) out.push_back(c == 'a' ? 1 : c == 'b' ? 2 : c == ' ' ? 3 : 4);
    return out;
  }
};

// A bigram model: the next-token probabilities depend only on the current token, with the table
// below (every row sums to 1; powers of two, so log-probabilities are multiples of ln 2).
struct bigram_model {
  static constexpr double p[5][5] = {
      {0.2, 0.2, 0.2, 0.2, 0.2},            // after BOS
      {0.125, 0.125, 0.125, 0.5, 0.125},    // after 'a': ' ' 1/2
      {0.125, 0.125, 0.125, 0.5, 0.125},    // after 'b': ' ' 1/2
      {0.125, 0.25, 0.25, 0.125, 0.25},     // after ' ': a, b, c 1/4
      {0.125, 0.125, 0.0625, 0.1875, 0.5},  // after 'c': b 1/16, c 1/2
  };
  index_t forward_passes = 0;
  model::sequence_layout last_layout;
  index_t vocab_size() const { return 5; }
  index_t context_length() const { return 16; }
  std::vector<token_id> prefill(std::span<const token_id> tokens, model::sequence_layout layout) {
    ++forward_passes;
    last_layout = layout;
    return {tokens.begin(), tokens.end()};
  }
  void logits(const std::vector<token_id>& tokens, model::row_range rows, matrix_view<float> out) {
    for (index_t r = rows.begin; r < rows.end; ++r)
      for (index_t v = 0; v < 5; ++v)
        out(r - rows.begin, v) = static_cast<float>(
            std::log(p[tokens[static_cast<std::size_t>(r)]][v]) + 3.0);  // any shift
  }
};
static_assert(model::causal_lm<bigram_model>);
static_assert(text_encoder<char_encoder>);

const double ln2 = std::log(2.0);

// Item 1: "a" + " b" scores ln(1/2) + ln(1/4) = -3 ln2; "a" + " cc" scores ln(1/2) + ln(1/4) +
// ln(1/2) = -4 ln2. acc picks "b"; per character -3 ln2 vs -2 ln2 picks "cc", the gold.
// Item 2: "b" + " a" = -3 ln2; "b" + " cb" = ln(1/2) + ln(1/4) + ln(1/16) = -7 ln2 (-3.5 ln2 per
// character): both pick "a", the gold.
multiple_choice_task two_questions() {
  return {"toy", {choice_item("a", {"b", "cc"}, 1), choice_item("b", {"a", "cb"}, 0)}, true};
}

}  // namespace

TEST_CASE("each choice scores the summed log-probabilities of its continuation tokens") {
  bigram_model m;
  const auto task = two_questions();
  const auto first = score_item(m, char_encoder{}, task.items[0]);
  REQUIRE(first.log_likelihoods.size() == 2);
  CHECK(first.log_likelihoods[0] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  CHECK(first.log_likelihoods[1] == doctest::Approx(-4 * ln2).epsilon(1e-6));
  CHECK(first.continuation_tokens == std::vector<index_t>{2, 3});
  CHECK(first.predicted == 0);
  CHECK(first.predicted_norm == 1);
  const auto second = score_item(m, char_encoder{}, task.items[1]);
  CHECK(second.log_likelihoods[0] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  CHECK(second.log_likelihoods[1] == doctest::Approx(-7 * ln2).epsilon(1e-6));
  CHECK(second.predicted == 0);
  CHECK(second.predicted_norm == 0);
  CHECK(m.forward_passes == 2);  // one stacked pass per item, all choices together
}

TEST_CASE("acc and acc_norm differ when the lengths change the winner; mean and standard error") {
  bigram_model m;
  const auto r = evaluate_multiple_choice(m, char_encoder{}, two_questions());
  CHECK(r.items == 2);
  CHECK(r.acc.mean == 0.5);
  CHECK(r.acc.standard_error == doctest::Approx(0.5));  // sqrt(0.5 / 2): sample variance 1/2
  CHECK(r.acc_norm.mean == 1.0);
  CHECK(r.acc_norm.standard_error == 0.0);
  multiple_choice_options o;
  o.limit = 1;
  const auto one = evaluate_multiple_choice(m, char_encoder{}, two_questions(), o);
  CHECK(one.items == 1);
  CHECK(one.acc.mean == 0.0);
  CHECK(one.acc_norm.mean == 1.0);
}

TEST_CASE("a suite averages its tasks' acc and the metric each reports") {
  bigram_model m;
  auto plain = two_questions();
  auto acc_only = two_questions();
  acc_only.name = "toy-acc";
  acc_only.reports_acc_norm = false;
  const std::vector<multiple_choice_task> tasks{plain, acc_only};
  const auto s = evaluate_zero_shot_suite(m, char_encoder{}, std::span(tasks));
  REQUIRE(s.tasks.size() == 2);
  CHECK(s.average_acc == 0.5);
  CHECK(s.average_reported == 0.75);  // (acc_norm 1.0 + acc 0.5) / 2
}

TEST_CASE("partial evaluation scores the shared continuation after each choice's context") {
  bigram_model m;
  // contexts "a" and "c", continuation " b": ln P(' '|a) + ln P(b|' ') = -3 ln2;
  // ln P(' '|c) + ln P(b|' ') = ln(3/16) - 2 ln2.
  const auto item = partial_item({"a", "c"}, "b", 1);
  CHECK(item.requests[0].continuation == " b");
  const auto s = score_item(m, char_encoder{}, item);
  CHECK(s.log_likelihoods[0] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  CHECK(s.log_likelihoods[1] == doctest::Approx(std::log(3.0 / 16.0) - 2 * ln2).epsilon(1e-6));
  CHECK(s.predicted == 0);
}

TEST_CASE("choices whose inputs are prefixes of another's share its sequence") {
  bigram_model m;
  // One-token answers to one context: both inputs are enc("a") + ' ', one sequence serves both.
  const auto one_token = score_item(m, char_encoder{}, choice_item("a", {"b", "c"}, 0));
  CHECK(one_token.sequences_run == 1);
  CHECK(m.last_layout.n_sequences == 1);
  CHECK(one_token.log_likelihoods[0] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  CHECK(one_token.log_likelihoods[1] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  // " c"'s input (BOS a ' ') is a prefix of both others'; " bb" and " cc" diverge: two sequences.
  // Scores: ln(1/2) + ln(1/4); then + ln P(b|b) = ln(1/8); then + ln P(c|c) = ln(1/2).
  const auto nested = score_item(m, char_encoder{}, choice_item("a", {"c", "bb", "cc"}, 0));
  CHECK(nested.sequences_run == 2);
  CHECK(m.last_layout.n_sequences == 2);
  CHECK(nested.log_likelihoods[0] == doctest::Approx(-3 * ln2).epsilon(1e-6));
  CHECK(nested.log_likelihoods[1] == doctest::Approx(-6 * ln2).epsilon(1e-6));
  CHECK(nested.log_likelihoods[2] == doctest::Approx(-4 * ln2).epsilon(1e-6));
}

TEST_CASE("acc_norm lengths count characters as Python's len does, not UTF-8 bytes") {
  CHECK(character_length("cc") == 2.0);
  CHECK(character_length("na\xc3\xafve") == 5.0);  // "naïve": 6 bytes
  CHECK(character_length("") == 0.0);
}

TEST_CASE("bad items are refused before the model runs") {
  bigram_model m;
  CHECK_THROWS_AS(score_item(m, char_encoder{}, choice_item("a", {"b"}, 0)), option_error);
  CHECK_THROWS_AS(score_item(m, char_encoder{}, choice_item("a", {"b", "c"}, 2)), option_error);
  CHECK_THROWS_AS(score_item(m, char_encoder{}, choice_item("", {"b", "c"}, 0)), option_error);
  CHECK(m.forward_passes == 0);
}
