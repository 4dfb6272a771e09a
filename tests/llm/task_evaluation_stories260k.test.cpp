#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pollard/evaluation/tasks.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/data.hpp"

using namespace pollard::llm;
using pollard::evaluation::evaluate_instruction_tasks;
using pollard::evaluation::task_options;
using namespace pollard::io;
using pollard::io::instruction_example;

TEST_CASE(
    "task evaluation scores greedy answers: a reference equal to the answer scores 1, a foreign "
    "one 0") {
  const auto path = pollard::test::data_file("models/stories260K/stories260K.bin");
  if (!path) return;
  const auto m = open_model(*path);
  llama_forward model(m.weights);
  // The model's own greedy continuation of the prompt, decoded independently of the evaluator:
  // a full prefill per step and the argmax of the last row.
  std::vector<token_id> tokens = m.tokenizer->encode("Once upon a time", true);
  const auto prompt_length = tokens.size();
  for (int step = 0; step < 12; ++step) {
    const auto logits = model.prefill(tokens, {1, static_cast<pollard::index_t>(tokens.size())});
    pollard::index_t next = 0;
    logits.row(logits.rows() - 1).maxCoeff(&next);
    if (next == 1 || next == 2) break;
    tokens.push_back(static_cast<token_id>(next));
  }
  const std::vector<token_id> continuation(
      tokens.begin() + static_cast<std::ptrdiff_t>(prompt_length), tokens.end());
  std::string expected = m.tokenizer->decode(continuation, tokens[prompt_length - 1]);
  expected = expected.substr(expected.find_first_not_of(' '));
  const std::vector<instruction_example> examples = {{"Once upon a time", "", expected},
                                                     {"Once upon a time", "", "zebra quantum"}};
  task_options o;
  o.max_new_tokens = static_cast<pollard::index_t>(continuation.size());
  std::vector<std::string> answers;
  o.on_answer = [&](const instruction_example&, const std::string& a) { answers.push_back(a); };
  const auto r = evaluate_instruction_tasks(model, *m.tokenizer, examples, o);
  REQUIRE(answers.size() == 2);
  CHECK(answers[0] == expected);
  CHECK(r.examples == 2);
  CHECK(r.exact_match.mean == 0.5);
  CHECK(r.exact_match.standard_error == doctest::Approx(0.5));  // s = 1/sqrt(2), n = 2
  CHECK(r.token_f1.mean == 0.5);
  CHECK(r.rouge1.mean == 0.5);
  o.max_new_tokens = 0;
  CHECK_THROWS_WITH_AS(evaluate_instruction_tasks(model, *m.tokenizer, examples, o),
                       "task evaluation: max_new_tokens must be in [1, 511], got 0",
                       pollard::option_error);
}
