#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pollard/evaluation/multiple_choice.hpp"
#include "pollard/evaluation/zero_shot_tasks.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/data.hpp"

using namespace pollard;
using namespace pollard::evaluation;

namespace {

// One choice alone: the harness's input (context + continuation without its last token) as a
// single unpadded sequence, the continuation's log-probabilities summed in double.
double naive_log_likelihood(llm::llama_model& m, const llm::text_tokenizer& tok,
                            const choice_request& r) {
  const auto context = tok.encode(r.context, true);
  const auto whole = tok.encode(r.context + r.continuation, true);
  REQUIRE(whole.size() > context.size());
  const std::vector<token_id> input(whole.begin(), whole.end() - 1);
  const auto n = static_cast<index_t>(input.size());
  double sum = 0.0;
  model::for_each_logits(
      m, input, {1, n}, {0, n}, n, [&](index_t, matrix_view<const float> logits) {
        for (auto t = static_cast<index_t>(context.size()) - 1; t < n; ++t) {
          double z = 0.0;
          for (index_t v = 0; v < logits.cols(); ++v) z += std::exp(double{logits(t, v)});
          sum += double{logits(t, whole[static_cast<std::size_t>(t) + 1])} - std::log(z);
        }
      });
  return sum;
}

}  // namespace

TEST_CASE("stories260K on ARC-Easy (20 items): stacked choices match each choice run alone") {
  const auto model_path = pollard::test::data_file("models/stories260K/stories260K.bin");
  const auto arc = pollard::test::data_file("tasks/arc/ARC-Easy-Test.jsonl");
  if (!model_path || !arc) return;
  auto file = llm::open_model(*model_path);
  REQUIRE(file.tokenizer);
  llm::llama_model model(file.weights);
  const auto task = read_arc(*arc, "arc_easy");
  for (std::size_t j = 0; j < 3; ++j) {
    const auto s = score_item(model, *file.tokenizer, task.items[j]);
    for (std::size_t i = 0; i < task.items[j].requests.size(); ++i)
      CHECK(s.log_likelihoods[i] ==
            doctest::Approx(naive_log_likelihood(model, *file.tokenizer, task.items[j].requests[i]))
                .epsilon(1e-4));
  }
  multiple_choice_options o;
  o.limit = 20;
  const auto r = evaluate_multiple_choice(model, *file.tokenizer, task, o);
  CHECK(r.items == 20);
  for (const double a : {r.acc.mean, r.acc_norm.mean}) {
    CHECK(a >= 0.0);
    CHECK(a <= 1.0);
    CHECK(std::fmod(a * 20.0, 1.0) == doctest::Approx(0.0));  // a count of right items over 20
  }
  CHECK(r.acc.standard_error ==
        doctest::Approx(std::sqrt(r.acc.mean * (1 - r.acc.mean) * 20.0 / 19.0 / 20.0)));
  const auto again = evaluate_multiple_choice(model, *file.tokenizer, task, o);
  CHECK(again.acc.mean == r.acc.mean);
  CHECK(again.acc_norm.mean == r.acc_norm.mean);
  MESSAGE("stories260K ARC-Easy, 20 items: acc " << r.acc.mean << " ± " << r.acc.standard_error
                                                 << ", acc_norm " << r.acc_norm.mean << " ± "
                                                 << r.acc_norm.standard_error);
}

TEST_CASE("stories260K's tokenizer: a context ending in a space scores the same merged tokens") {
  const auto model_path = pollard::test::data_file("models/stories260K/stories260K.bin");
  if (!model_path) return;
  const auto file = llm::open_model(*model_path);
  REQUIRE(file.tokenizer);
  const auto& tok = *file.tokenizer;
  // The naive split would score "time" after a context whose last token is a lone space; the
  // harness scores the word with its space as the tokenizer merges it.
  const auto naive_context = tok.encode("Once upon a ", true);
  const auto whole = tok.encode("Once upon a time", true);
  REQUIRE_FALSE(std::equal(naive_context.begin(), naive_context.end(), whole.begin()));
  const auto moved = encode_continuation(tok, "Once upon a ", "time", true);
  const auto plain = encode_continuation(tok, "Once upon a", " time", true);
  CHECK(moved.context == tok.encode("Once upon a", true));
  CHECK(moved.continuation == plain.continuation);
  CHECK(moved.continuation ==
        std::vector<token_id>(whole.begin() + static_cast<std::ptrdiff_t>(moved.context.size()),
                              whole.end()));
}
