// Calibration sources against the reference scripts' draws. Expected values were printed by
// CPython 3.11 running the reference loops (datautils.py get_wikitext2 / get_c4 over the same
// token streams; random.shuffle for the instruction order):
//   random.seed(3); [random.randint(0, 1000 - 16 - 1) for _ in range(4)]
//   lens = [5, 40, 12, 3, 64, 20, 9]; L = 10; random.seed(11); for each of 5 samples:
//     draw i = randint(0, 6) until lens[i] > L; j = randint(0, lens[i] - L - 1)
//   x = list(range(7)); random.seed(5); random.shuffle(x)  ->  [6, 3, 1, 0, 5, 2, 4]
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pollard/calibration/calibration_mixture.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/calibration/document_windows.hpp"
#include "pollard/calibration/instruction_windows.hpp"

using pollard::calibration_batch;
using pollard::index_t;
using pollard::token_id;

static_assert(pollard::calibration_source<pollard::corpus_windows>);
static_assert(pollard::calibration_source<pollard::document_windows>);
static_assert(pollard::calibration_source<pollard::instruction_windows>);
static_assert(pollard::calibration_source<pollard::calibration_mixture>);
static_assert(!pollard::calibration_source<std::vector<token_id>>);

namespace {

// Every character is one token (its byte value); BOS is token 1.
std::vector<token_id> char_tokens(std::string_view text, bool add_bos) {
  std::vector<token_id> out;
  if (add_bos) out.push_back(1);
  for (const unsigned char c : text) out.push_back(static_cast<token_id>(c));
  return out;
}

std::vector<token_id> window_of(const calibration_batch& b, index_t s) {
  return {b.tokens.begin() + s * b.length, b.tokens.begin() + (s + 1) * b.length};
}

struct example {
  std::string instruction, input, output;
};

}  // namespace

TEST_CASE("corpus_windows starts its windows where the reference's randint puts them") {
  std::vector<token_id> stream(1000);
  for (int k = 0; k < 1000; ++k) stream[static_cast<std::size_t>(k)] = k;
  const pollard::corpus_windows source(stream, "numbers");
  const auto b = source.draw(4, 16, 3);
  REQUIRE(b.n_sequences == 4);
  REQUIRE(b.length == 16);
  b.validate();
  const std::vector<int> starts{243, 606, 557, 133};
  for (index_t s = 0; s < 4; ++s) {
    const auto w = window_of(b, s);
    for (index_t t = 0; t < 16; ++t)
      CHECK(w[static_cast<std::size_t>(t)] == starts[static_cast<std::size_t>(s)] + t);
  }
  CHECK(b.counted.empty());
  CHECK(b.origin == std::vector<std::string>(4, "numbers"));
  CHECK(source.draw(4, 16, 3).tokens == b.tokens);
  CHECK(source.draw(4, 16, 4).tokens != b.tokens);
}

TEST_CASE("corpus_windows refuses a stream too short for one window, naming the sizes") {
  const pollard::corpus_windows source(std::vector<token_id>(16, 7), "tiny");
  CHECK_THROWS_WITH_AS(source.draw(1, 16, 0),
                       "calibration tiny: 16 tokens cannot give a window of 16 tokens (needs at "
                       "least 17)",
                       pollard::option_error);
  CHECK_NOTHROW(pollard::corpus_windows(std::vector<token_id>(17, 7)).draw(2, 16, 0));
  CHECK_THROWS_AS(source.draw(0, 4, 0), pollard::option_error);
  CHECK_THROWS_AS(source.draw(1, 1, 0), pollard::option_error);
}

TEST_CASE("document_windows draws documents and windows as the reference C4 loader does") {
  const std::vector<int> lens{5, 40, 12, 3, 64, 20, 9};
  std::vector<std::string> docs;
  for (std::size_t d = 0; d < lens.size(); ++d)
    docs.push_back(std::string(static_cast<std::size_t>(lens[d]), static_cast<char>('a' + d)));
  // Position p of document d is token ('a' + d) * 1000 + p, so a window names its origin.
  const auto tokenize = [](std::string_view text, bool) {
    std::vector<token_id> out;
    for (std::size_t p = 0; p < text.size(); ++p)
      out.push_back(static_cast<token_id>(static_cast<unsigned char>(text[p])) * 1000 +
                    static_cast<token_id>(p));
    return out;
  };
  const pollard::document_windows source(docs, tokenize, false, "c4");
  const auto b = source.draw(5, 10, 11);
  const std::vector<std::pair<int, int>> expected{{4, 49}, {4, 37}, {1, 5}, {4, 30}, {5, 9}};
  for (index_t s = 0; s < 5; ++s) {
    const auto [d, j] = expected[static_cast<std::size_t>(s)];
    const auto w = window_of(b, s);
    CHECK(w.front() == ('a' + d) * 1000 + j);
    CHECK(w.back() == ('a' + d) * 1000 + j + 9);
  }
}

TEST_CASE("document_windows refuses when no document is longer than the window") {
  const pollard::document_windows source({"abc", "defgh"}, char_tokens, true, "short");
  CHECK_THROWS_WITH_AS(source.draw(2, 6, 0),
                       "calibration short: no document is longer than 6 tokens (the longest of 2 "
                       "has 6)",
                       pollard::option_error);
  const pollard::document_windows none({}, char_tokens, true, "empty");
  CHECK_THROWS_AS(none.draw(1, 4, 0), pollard::option_error);
}

TEST_CASE("instruction_windows renders the Alpaca template and counts response tokens only") {
  const auto t = pollard::instruction_template::alpaca();
  CHECK(t.render("Add.", "") ==
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nAdd.\n\n### Response:\n");
  CHECK(t.render("Add.", "2 and 3").find("### Input:\n2 and 3\n\n### Response:\n") !=
        std::string::npos);

  const pollard::instruction_template tiny{"[{instruction}|{input}]", "[{instruction}]"};
  std::vector<example> examples;
  for (int k = 0; k < 7; ++k)
    examples.push_back({std::string(1, static_cast<char>('A' + k)), "",
                        std::string(3, static_cast<char>('a' + k))});
  const pollard::instruction_windows source(examples, char_tokens, true, true, tiny, "alpaca");
  // Each example is BOS "[X]" "xxx": 7 tokens, the last 3 counted. Order: random.shuffle(seed 5).
  const auto b = source.draw(3, 7, 5);
  b.validate();
  const std::vector<int> order{6, 3, 1, 0, 5, 2, 4};
  for (index_t s = 0; s < 3; ++s) {
    const char k = static_cast<char>(order[static_cast<std::size_t>(s)]);
    const auto w = window_of(b, s);
    CHECK(w == std::vector<token_id>{1, '[', 'A' + k, ']', 'a' + k, 'a' + k, 'a' + k});
    for (index_t p = 0; p < 7; ++p)
      CHECK(b.counted[static_cast<std::size_t>(s * 7 + p)] == (p >= 4 ? 1 : 0));
  }
  CHECK(b.counted_tokens() == 9);
  CHECK_THROWS_AS(source.draw(8, 7, 5), pollard::option_error);
  const pollard::instruction_windows all(examples, char_tokens, true, false, tiny);
  CHECK(all.draw(3, 7, 5).counted.empty());
}

TEST_CASE("calibration_mixture splits by largest remainder and draws each part reproducibly") {
  std::vector<token_id> a(500, 1), c(500, 3);
  pollard::calibration_mixture mix;
  mix.add(2.0, pollard::corpus_windows(a, "a")).add(1.0, pollard::corpus_windows(c, "c"));
  CHECK(mix.counts(10) == std::vector<index_t>{7, 3});  // 6.67 -> 7, 3.33 -> 3
  CHECK(mix.counts(4) == std::vector<index_t>{3, 1});   // 2.67 -> 3, 1.33 -> 1
  const auto b = mix.draw(10, 8, 42);
  REQUIRE(b.n_sequences == 10);
  for (index_t s = 0; s < 10; ++s) {
    CHECK(window_of(b, s).front() == (s < 7 ? 1 : 3));
    CHECK(b.origin[static_cast<std::size_t>(s)] == (s < 7 ? "a" : "c"));
  }
  CHECK(mix.draw(10, 8, 42).tokens == b.tokens);
  CHECK_THROWS_AS(mix.add(0.0, pollard::corpus_windows(a)), pollard::option_error);
  CHECK_THROWS_AS(pollard::calibration_mixture{}.draw(1, 4, 0), pollard::option_error);
}

TEST_CASE("mixture weights up to a double's largest split the draw as their ratios say") {
  // n · w and Σw overflowed: 1e308 against 1 gave a count of inf (an endless loop), 1e308 twice
  // NaN counts (an empty batch).
  CHECK(pollard::mixture_counts({1e308, 1e308}, 4) == std::vector<index_t>{2, 2});
  CHECK(pollard::mixture_counts({1.7e308, 1.7e308, 1.7e308}, 6) == std::vector<index_t>{2, 2, 2});
  CHECK(pollard::mixture_counts({1.0, 1e308}, 4) == std::vector<index_t>{0, 4});
  CHECK(pollard::mixture_counts({3e-320, 1e-320}, 4) == std::vector<index_t>{3, 1});
  CHECK(pollard::mixture_counts({2.0, 1.0}, 10) == std::vector<index_t>{7, 3});
  CHECK_THROWS_WITH_AS(pollard::refuse_empty_mixture_parts({"a", "c"}, {1.0, 1e308}, 4),
                       doctest::Contains("a (weight 1 of 1e+308 in all) would get 0 of the 4"),
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(pollard::refuse_empty_mixture_parts({"a", "b", "c"}, {1e308, 1e308, 1.0}, 4),
                       doctest::Contains("c (weight 1 of more than 1.8e308 in all) would get 0"),
                       pollard::option_error);
  std::vector<token_id> a(500, 1), c(500, 3);
  pollard::calibration_mixture mix;
  mix.add(1e-300, pollard::corpus_windows(a, "a")).add(1e-300, pollard::corpus_windows(c, "c"));
  CHECK(mix.draw(4, 8, 0).n_sequences == 4);
  CHECK(mix.describe().find("[1e-300: a") != std::string::npos);
}

TEST_CASE("a mixture refuses a draw that would give one of its sources no sequence") {
  std::vector<token_id> a(500, 1), c(500, 3);
  pollard::calibration_mixture mix;
  mix.add(1.0, pollard::corpus_windows(a, "a")).add(100.0, pollard::corpus_windows(c, "c"));
  // 8 · 1/101 = 0.08 and 8 · 100/101 = 7.92: c takes 7, and the one left over by largest
  // remainder (0.92 against 0.08), so a would get none.
  CHECK(mix.counts(8) == std::vector<index_t>{0, 8});
  CHECK_THROWS_WITH_AS(mix.draw(8, 4, 0),
                       doctest::Contains("a: random windows of one stream of 500 tokens "
                                         "(SparseGPT/Wanda WikiText-2 protocol, CPython random) "
                                         "(weight 1 of 101 in all) would get 0 of the 8 "
                                         "sequences drawn"),
                       pollard::option_error);
  // 102 sequences give a 1 (1.0099...) and c 101.
  CHECK(mix.draw(102, 4, 0).n_sequences == 102);
  // Fewer sequences than sources: equal weights 0.5 / 0.5 of one sequence, the tie to a.
  pollard::calibration_mixture even;
  even.add(1.0, pollard::corpus_windows(a, "a")).add(1.0, pollard::corpus_windows(c, "c"));
  CHECK(even.counts(1) == std::vector<index_t>{1, 0});
  CHECK_THROWS_WITH_AS(even.draw(1, 4, 0), doctest::Contains("c: random windows"),
                       pollard::option_error);
  CHECK(even.draw(2, 4, 0).n_sequences == 2);
}
