#include <doctest/doctest.h>

#include "pollard/metrics/task_metrics.hpp"

TEST_CASE("SQuAD normalisation drops case, punctuation, articles and extra spaces") {
  const std::vector<std::string> expected = {"cat", "sat", "on", "mat"};
  CHECK(pollard::normalised_words("The  Cat sat, on a MAT!") == expected);
  CHECK(pollard::exact_match("the cat sat on a mat.", "Cat sat on mat") == 1.0);
  CHECK(pollard::exact_match("cat sat", "cat sat down") == 0.0);
}

TEST_CASE("token F1 counts common words with multiplicity (hand-worked)") {
  // prediction {red, red, ball}, reference {red, ball, game}: common = 2 (red once, ball)
  // precision 2/3, recall 2/3 -> F1 2/3
  CHECK(pollard::token_f1("red red ball", "a red ball game") == doctest::Approx(2.0 / 3.0));
  CHECK(pollard::token_f1("", "") == 1.0);
  CHECK(pollard::token_f1("", "something") == 0.0);
  CHECK(pollard::token_f1("blue", "red") == 0.0);
}

TEST_CASE("ROUGE-1 keeps articles and splits on anything but [a-z0-9]") {
  // prediction {the, cat, is, here}, reference {the, cat}: common 2, P = 1/2, R = 1 -> F = 2/3
  CHECK(pollard::rouge1_f("The cat-is here", "the cat") == doctest::Approx(2.0 / 3.0));
  CHECK(pollard::rouge1_f("...", "cat") == 0.0);
  CHECK(pollard::rouge1_f("café", "caf") == doctest::Approx(1.0));  // é is a separator
}
