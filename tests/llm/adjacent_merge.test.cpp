// The best-first merge loop the BPE tokenizers share, on symbols of a test's own making,
// against run.c's loop written plainly (tests/support/naive_tokenizers.hpp).
#include "pollard/llm/adjacent_merge.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/naive_tokenizers.hpp"

using pollard::llm::detail::merge_adjacent_best_first;

namespace {

// Merged symbols are strings over {a, b, c}; a pair merges when the joined string is at most
// `longest` letters, with a priority from a seeded table of few values (many ties).
struct rule {
  std::size_t longest;
  std::vector<int> table;
  std::optional<int> operator()(const std::string& a, const std::string& b) const {
    if (a.size() + b.size() > longest) return std::nullopt;
    std::size_t h = 7;
    for (const char c : a + "|" + b) h = h * 31 + static_cast<unsigned char>(c);
    const int p = table[h % table.size()];
    if (p < 0) return std::nullopt;
    return p;
  }
};

std::vector<std::string> fast(std::vector<std::string> symbols, const rule& r) {
  const auto next = merge_adjacent_best_first<int>(
      symbols.size(), [&](std::size_t a, std::size_t b) { return r(symbols[a], symbols[b]); },
      [&](std::size_t a, std::size_t b) { symbols[a] += symbols[b]; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < symbols.size(); i = next[i]) out.push_back(symbols[i]);
  return out;
}

}  // namespace

TEST_CASE("merges best first, the leftmost pair on ties, as the rescanning loop does") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    rule r{2 + rng() % 6, {}};
    for (int k = 0; k < 16; ++k) r.table.push_back(static_cast<int>(rng() % 4) - 1);
    std::vector<std::string> symbols;
    for (auto n = rng() % 60; n > 0; --n) symbols.push_back(std::string(1, "abc"[rng() % 3]));
    CAPTURE(trial);
    const auto expected = pollard::test::naive_merge_adjacent(
        symbols, r, [](const std::string& a, const std::string& b) { return a + b; });
    CHECK(fast(symbols, r) == expected);
  }
}

TEST_CASE("equal priorities merge left to right (by hand)") {
  // Every pair of single letters merges at priority 0, nothing longer: "aaaaa" -> aa aa a,
  // not a aa aa.
  const rule pairs{2, {0}};
  CHECK(fast({"a", "a", "a", "a", "a"}, pairs) == std::vector<std::string>{"aa", "aa", "a"});
  CHECK(fast({}, pairs).empty());
  CHECK(fast({"a"}, pairs) == std::vector<std::string>{"a"});
}
