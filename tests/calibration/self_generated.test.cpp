// Self-generated calibration text on the toy model: prefixes, reproducible generation, the
// perplexity filter against a naive double-precision scoring of each text (toy_reference), the
// cache, and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/calibration/self_generated.hpp"
#include "support/toy_model.hpp"

using pollard::generated_text;
using pollard::index_t;
using pollard::self_generated_windows;
using pollard::self_generation_settings;
using pollard::token_id;
using pollard::test::toy_model;
using pollard::test::toy_weights;

static_assert(pollard::calibration_source<self_generated_windows>);

namespace {

// '1'..'6' are tokens 1..6; BOS is token 0 (the toy's vocabulary has 7 tokens).
std::vector<token_id> digit_tokens(std::string_view text, bool add_bos) {
  std::vector<token_id> out;
  if (add_bos) out.push_back(0);
  for (const char c : text) out.push_back(static_cast<token_id>(c - '0'));
  return out;
}

// Draws from softmax(logits) with u = the top 53 bits of the draw seed; no state.
struct toy_sampler {
  token_id operator()(std::span<const float> logits, std::span<const token_id>,
                      std::uint64_t draw_seed) const {
    double mx = logits[0];
    for (const float l : logits) mx = std::max(mx, static_cast<double>(l));
    std::vector<double> p;
    double sum = 0.0;
    for (const float l : logits) sum += p.emplace_back(std::exp(static_cast<double>(l) - mx));
    const double u = static_cast<double>(draw_seed >> 11) * 0x1.0p-53 * sum;
    double c = 0.0;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (u < (c += p[i])) return static_cast<token_id>(i);
    return static_cast<token_id>(p.size() - 1);
  }
  std::string describe() const { return "toy categorical"; }
};
static_assert(pollard::generation_sampler<toy_sampler>);

const std::vector<std::string> ten_sources{"1234", "2345", "3456", "4561", "5612",
                                           "6123", "1111", "2626", "3535", "4142"};

self_generation_settings toy_settings(index_t new_tokens = 10, std::uint64_t seed = 7) {
  self_generation_settings s;
  s.model_identity = "toy seed 3";
  s.max_new_tokens = new_tokens;
  s.seed = seed;
  return s;
}

// Mean NLL of the tokens after the prefix, each given all tokens before it, from the toy's
// double-precision logits.
double naive_mean_nll(const toy_weights& w, const std::vector<token_id>& tokens, index_t prefix) {
  const pollard::test::toy_reference ref(w, tokens);
  double sum = 0.0;
  for (index_t t = prefix; t < static_cast<index_t>(tokens.size()); ++t) {
    double z = 0.0;
    for (index_t v = 0; v < w.vocab; ++v) z += std::exp(ref.logits(t - 1, v));
    sum += std::log(z) - ref.logits(t - 1, tokens[static_cast<std::size_t>(t)]);
  }
  return sum / static_cast<double>(static_cast<index_t>(tokens.size()) - prefix);
}

// Checks that the kept texts are exactly those outside the `dropped` of highest naive NLL.
void check_filter(const self_generated_windows& g, const toy_weights& w, std::size_t dropped) {
  const auto& texts = g.texts();
  std::vector<double> naive;
  for (const auto& t : texts) {
    naive.push_back(naive_mean_nll(w, t.tokens, t.prefix_tokens));
    CHECK(t.mean_nll == doctest::Approx(naive.back()).epsilon(1e-5));
    CHECK(t.perplexity == doctest::Approx(std::exp(naive.back())).epsilon(1e-5));
  }
  std::vector<std::size_t> by_nll(texts.size());
  for (std::size_t k = 0; k < by_nll.size(); ++k) by_nll[k] = k;
  std::sort(by_nll.begin(), by_nll.end(), [&](auto a, auto b) { return naive[a] > naive[b]; });
  // The ranking is decided by more than rounding at the cut.
  REQUIRE(naive[by_nll[dropped - 1]] - naive[by_nll[dropped]] > 1e-4);
  std::vector<std::size_t> expected(by_nll.begin() + static_cast<std::ptrdiff_t>(dropped),
                                    by_nll.end());
  std::sort(expected.begin(), expected.end());
  CHECK(g.kept() == expected);
}

std::filesystem::path temporary(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("pollard-selfgen-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

TEST_CASE("the prefixes are the first k tokens of each source, BOS included when added") {
  toy_model m(toy_weights::random(3));
  for (const index_t k : {1, 2, 3}) {
    for (const bool bos : {true, false}) {
      auto s = toy_settings(4);
      s.prefix_tokens = k;
      s.add_bos = bos;
      const auto g =
          self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s);
      REQUIRE(g.texts().size() == ten_sources.size());
      for (std::size_t i = 0; i < ten_sources.size(); ++i) {
        const auto& t = g.texts()[i];
        CHECK(t.source == static_cast<index_t>(i));
        CHECK(t.prefix_tokens == k);
        const auto source = digit_tokens(ten_sources[i], bos);
        CHECK(std::vector<token_id>(t.tokens.begin(), t.tokens.begin() + k) ==
              std::vector<token_id>(source.begin(), source.begin() + k));
        CHECK(t.new_tokens() == 4);  // no EOS: every text runs to max_new_tokens
      }
    }
  }
  // Sources shorter than k give no prefix and no text.
  auto s = toy_settings(4);
  s.prefix_tokens = 4;
  const auto g =
      self_generated_windows::generate(m, {"12", "1234", "123"}, digit_tokens, toy_sampler{}, s);
  REQUIRE(g.texts().size() == 2);
  CHECK(g.texts()[0].source == 1);
  CHECK(g.texts()[1].source == 2);
}

TEST_CASE("generation is reproducible from the seed and independent of order") {
  toy_model m(toy_weights::random(3));
  const auto s = toy_settings();
  const auto a = self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s);
  const auto b = self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s);
  CHECK(a.texts() == b.texts());
  const auto c = self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{},
                                                  toy_settings(10, 8));
  CHECK(a.texts() != c.texts());

  // Each text on its own, in reverse order, and a subset of the sources: the same texts.
  for (std::size_t i = ten_sources.size(); i-- > 0;) {
    const auto prefix = pollard::self_generation_prefix(ten_sources[i], digit_tokens, s);
    REQUIRE(prefix);
    const auto t =
        pollard::generate_self_text(m, *prefix, static_cast<index_t>(i), toy_sampler{}, s);
    REQUIRE(t);
    CHECK(*t == a.texts()[i]);
  }
  const std::vector<std::string> first_seven(ten_sources.begin(), ten_sources.begin() + 7);
  const auto d = self_generated_windows::generate(m, first_seven, digit_tokens, toy_sampler{}, s);
  CHECK(d.texts() == std::vector<generated_text>(a.texts().begin(), a.texts().begin() + 7));

  // The tokens are what the sampler draws from the model's logits with the documented seeds:
  // replayed here through a fresh decoding state per step (no KV cache reuse).
  const auto& t = a.texts()[4];
  for (index_t step = 0; step < t.new_tokens(); ++step) {
    const auto upto = std::span(t.tokens).first(static_cast<std::size_t>(2 + step));
    auto state = m.start_sequence(16);
    const auto logits = m.extend(state, upto);
    CHECK(toy_sampler{}(logits, upto, pollard::self_generation_draw_seed(7, 4, step)) ==
          t.tokens[static_cast<std::size_t>(2 + step)]);
  }
}

TEST_CASE("sampling EOS ends a text; EOS is not kept and an empty text is left out") {
  toy_model m(toy_weights::random(3));
  auto s = toy_settings(12);
  s.eos = 3;
  std::vector<std::string> sources;
  for (int k = 0; k < 30; ++k) sources.push_back(std::to_string(1 + k % 6) + "1");
  const auto g = self_generated_windows::generate(m, sources, digit_tokens, toy_sampler{}, s);
  index_t stopped = 0;
  for (const auto& t : g.texts()) {
    CHECK(t.new_tokens() >= 1);
    for (auto it = t.tokens.begin() + 2; it != t.tokens.end(); ++it) CHECK(*it != 3);
    if (t.new_tokens() < 12) {
      ++stopped;
      auto state = m.start_sequence(16);
      const auto logits = m.extend(state, t.tokens);
      CHECK(toy_sampler{}(logits, t.tokens,
                          pollard::self_generation_draw_seed(7, t.source, t.new_tokens())) == 3);
    }
  }
  CHECK(stopped > 0);
  // Left-out sources are exactly those whose first draw is EOS.
  std::size_t next = 0;
  for (index_t i = 0; i < static_cast<index_t>(sources.size()); ++i) {
    auto state = m.start_sequence(16);
    const auto prefix = digit_tokens(sources[static_cast<std::size_t>(i)], true);
    const auto logits = m.extend(state, std::span(prefix).first(2));
    const bool empty = toy_sampler{}(logits, std::span(prefix).first(2),
                                     pollard::self_generation_draw_seed(7, i, 0)) == 3;
    const bool present = next < g.texts().size() && g.texts()[next].source == i;
    CHECK(present == !empty);
    next += present;
  }
}

TEST_CASE("the filter drops exactly the top 20 % by perplexity (naive double-precision scores)") {
  toy_model m(toy_weights::random(3));
  const auto s = toy_settings();
  SUBCASE("10 texts: 20 % is exactly 2") {
    const auto g = self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s);
    REQUIRE(g.texts().size() == 10);
    CHECK(g.kept().size() == 8);
    check_filter(g, m.weights(), 2);
  }
  SUBCASE("7 texts: 20 % is 1.4, rounded up to 2") {
    const std::vector<std::string> seven(ten_sources.begin(), ten_sources.begin() + 7);
    const auto g = self_generated_windows::generate(m, seven, digit_tokens, toy_sampler{}, s);
    REQUIRE(g.texts().size() == 7);
    CHECK(g.kept().size() == 5);
    check_filter(g, m.weights(), 2);
  }
  SUBCASE("12 texts: 2.4, rounded up to 3; 5 texts: exactly 1") {
    std::vector<std::string> twelve = ten_sources;
    twelve.push_back("5555");
    twelve.push_back("6543");
    const auto g = self_generated_windows::generate(m, twelve, digit_tokens, toy_sampler{}, s);
    REQUIRE(g.texts().size() == 12);
    check_filter(g, m.weights(), 3);
    const std::vector<std::string> five(ten_sources.begin(), ten_sources.begin() + 5);
    check_filter(self_generated_windows::generate(m, five, digit_tokens, toy_sampler{}, s),
                 m.weights(), 1);
  }
  CHECK(pollard::self_generation_drop_count(10, 0.2) == 2);
  CHECK(pollard::self_generation_drop_count(100, 0.2) == 20);
  CHECK(pollard::self_generation_drop_count(11, 0.2) == 3);
  CHECK(pollard::self_generation_drop_count(4, 0.2) == 1);
  CHECK(pollard::self_generation_drop_count(4, 0.0) == 0);
}

TEST_CASE("draw cuts CPython-random windows from the kept texts, concatenated in source order") {
  toy_model m(toy_weights::random(3));
  const auto g =
      self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, toy_settings());
  std::vector<token_id> stream;
  for (const auto k : g.kept())
    stream.insert(stream.end(), g.texts()[k].tokens.begin(), g.texts()[k].tokens.end());
  CHECK(g.stream_tokens() == 8 * 12);
  const auto b = g.draw(5, 16, 11);
  b.validate();
  CHECK(b.n_sequences == 5);
  CHECK(b.tokens == pollard::corpus_windows(stream).draw(5, 16, 11).tokens);
  CHECK(b.origin == std::vector<std::string>(5, "self-generated"));
  CHECK(g.draw(5, 16, 11).tokens == b.tokens);
  CHECK(g.draw(5, 16, 12).tokens != b.tokens);
  CHECK(g.describe().find("the 2 of highest perplexity dropped") != std::string::npos);
}

TEST_CASE("the cache round-trips and refuses other settings, samplers or sources") {
  toy_model m(toy_weights::random(3));
  const auto s = toy_settings();
  auto with_eos = s;
  with_eos.eos = 5;
  with_eos.model_identity = "toy \"3\"\tβ\\";  // written escaped, read back the same
  const auto g =
      self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, with_eos);
  const auto path = temporary("cache.jsonl");
  g.write_cache(path);
  const auto back = self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, with_eos);
  CHECK(back.texts() == g.texts());
  CHECK(back.kept() == g.kept());
  CHECK(back.draw(4, 8, 1).tokens == g.draw(4, 8, 1).tokens);
  CHECK(back.describe() == g.describe());

  // The drop fraction is applied after reading; it is not a generation setting.
  auto keep_all = with_eos;
  keep_all.drop_fraction = 0.0;
  CHECK(self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, keep_all)
            .kept()
            .size() == g.texts().size());

  const auto refused = [&](const self_generation_settings& other,
                           const std::vector<std::string>& sources, const std::string& sampler,
                           const std::string& field) {
    try {
      (void)self_generated_windows::read_cache(path, sources, sampler, other);
      FAIL("the cache was accepted with another " << field);
    } catch (const pollard::option_error& e) {
      const std::string what = e.what();
      CHECK(what.find("was made with other settings") != std::string::npos);
      CHECK_MESSAGE(what.find(" " + field + ": the cache has") != std::string::npos, what);
    }
  };
  auto other = with_eos;
  other.max_new_tokens = 9;
  refused(other, ten_sources, "toy categorical", "max_new_tokens");
  other = with_eos;
  other.prefix_tokens = 3;
  refused(other, ten_sources, "toy categorical", "prefix_tokens");
  other = with_eos;
  other.model_identity = "toy seed 4";
  refused(other, ten_sources, "toy categorical", "model");
  other = with_eos;
  other.seed = 8;
  refused(other, ten_sources, "toy categorical", "seed");
  other = with_eos;
  other.eos.reset();
  refused(other, ten_sources, "toy categorical", "eos");
  other = with_eos;
  other.add_bos = false;
  refused(other, ten_sources, "toy categorical", "add_bos");
  refused(with_eos, ten_sources, "greedy", "sampler");
  auto changed = ten_sources;
  changed[3] = "4562";
  refused(with_eos, changed, "toy categorical", "source_fingerprint");
  changed.pop_back();
  refused(with_eos, changed, "toy categorical", "source_texts");

  { std::ofstream(path) << "{\"format\":\"something else\"}\n"; }
  CHECK_THROWS_AS(self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, with_eos),
                  pollard::format_error);
  { std::ofstream(path) << "not json\n"; }
  CHECK_THROWS_AS(self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, with_eos),
                  pollard::format_error);
  std::filesystem::remove(path);
  CHECK_THROWS_AS(self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, with_eos),
                  pollard::io_error);
}

TEST_CASE("a cache holding another number of texts than line 1 announces is refused") {
  toy_model m(toy_weights::random(3));
  const auto s = toy_settings();
  const auto g = self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s);
  REQUIRE(g.texts().size() >= 3);
  const std::string whole = g.cache_contents();
  std::vector<std::string> lines;  // line 1, then one line per text
  for (std::size_t at = 0, end; at < whole.size(); at = end + 1) {
    end = whole.find('\n', at);
    lines.push_back(whole.substr(at, end - at + 1));
  }
  const std::size_t n = g.texts().size();
  REQUIRE(lines.size() == n + 1);
  CHECK(lines[0].find(",\"texts\":" + std::to_string(n) + "}") != std::string::npos);
  const auto path = temporary("counted.jsonl");
  const auto read_back = [&](const std::vector<std::string>& kept) {
    {
      std::ofstream out(path);
      for (const auto& l : kept) out << l;
    }
    return self_generated_windows::read_cache(path, ten_sources, toy_sampler{}, s);
  };
  CHECK(read_back(lines).texts() == g.texts());
  const std::string where = "self-generated text cache " + path.string();
  const auto announced = [&](std::size_t held) {
    return " line 1 announces " + std::to_string(n) + " texts, the file holds " +
           std::to_string(held);
  };
  auto cut = lines;
  cut.pop_back();  // a copy cut short
  CHECK_THROWS_WITH_AS(read_back(cut), (where + " is incomplete:" + announced(n - 1)).c_str(),
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(read_back({lines[0]}), (where + " is incomplete:" + announced(0)).c_str(),
                       pollard::format_error);
  auto more = lines;
  more.push_back(lines[1]);  // a text again, after the last
  CHECK_THROWS_WITH_AS(read_back(more),
                       (where + " line " + std::to_string(n + 2) + ": the text of source " +
                        std::to_string(g.texts()[0].source) + " follows the text of source " +
                        std::to_string(g.texts()[n - 1].source) +
                        " (a cache holds at most one text per source, in source order)")
                           .c_str(),
                       pollard::format_error);
  auto swapped = lines;
  std::swap(swapped[1], swapped[2]);  // all there, out of order
  CHECK_THROWS_AS(read_back(swapped), pollard::format_error);
  std::filesystem::remove(path);
}

TEST_CASE("load_or_generate generates and writes once, then reads the cache") {
  toy_model m(toy_weights::random(3));
  toy_model other(toy_weights::random(4));  // would generate other texts
  const auto path = temporary("reuse.jsonl");
  std::filesystem::remove(path);
  const auto s = toy_settings();
  const auto first = self_generated_windows::load_or_generate(path, m, ten_sources, digit_tokens,
                                                              toy_sampler{}, s);
  REQUIRE(std::filesystem::exists(path));
  CHECK(first.texts() ==
        self_generated_windows::generate(m, ten_sources, digit_tokens, toy_sampler{}, s).texts());
  REQUIRE(self_generated_windows::generate(other, ten_sources, digit_tokens, toy_sampler{}, s)
              .texts() != first.texts());
  const auto second = self_generated_windows::load_or_generate(path, other, ten_sources,
                                                               digit_tokens, toy_sampler{}, s);
  CHECK(second.texts() == first.texts());
  CHECK_THROWS_AS(self_generated_windows::load_or_generate(path, m, ten_sources, digit_tokens,
                                                           toy_sampler{}, toy_settings(10, 9)),
                  pollard::option_error);
  std::filesystem::remove(path);
}

TEST_CASE("bad input gives clear errors") {
  toy_model m(toy_weights::random(3));
  const auto generate = [&](const std::vector<std::string>& sources,
                            const self_generation_settings& s) {
    return self_generated_windows::generate(m, sources, digit_tokens, toy_sampler{}, s);
  };
  auto s = toy_settings();
  s.prefix_tokens = 0;
  CHECK_THROWS_WITH_AS(generate(ten_sources, s),
                       "self-generated calibration: the prefix must hold at least 1 token, got 0",
                       pollard::option_error);
  s = toy_settings(0);
  CHECK_THROWS_WITH_AS(
      generate(ten_sources, s),
      "self-generated calibration: the number of new tokens must be at least 1, got 0",
      pollard::option_error);
  CHECK_THROWS_WITH_AS(generate({}, toy_settings()),
                       "self-generated calibration: there are no source texts",
                       pollard::option_error);
  s = toy_settings();
  s.prefix_tokens = 6;
  CHECK_THROWS_WITH_AS(
      generate({"12", "123"}, s),
      "self-generated calibration: none of the 2 source texts has 6 tokens for a prefix",
      pollard::option_error);
  CHECK_THROWS_WITH_AS(generate(ten_sources, toy_settings(15)),
                       "self-generated calibration: 2 prefix tokens + 15 new tokens exceed the "
                       "model's context of 16",
                       pollard::option_error);
  s = toy_settings();
  s.drop_fraction = 1.0;
  CHECK_THROWS_WITH_AS(
      generate(ten_sources, s),
      "self-generated calibration: the share of texts dropped must be in [0, 1), got 1",
      pollard::option_error);

  // Texts too short for the window: 2 texts kept of 3 (drop ceil(0.6) = 1), 2 x 6 tokens.
  const auto g = generate({"12", "34", "56"}, toy_settings(4));
  CHECK(g.stream_tokens() == 12);
  CHECK_THROWS_WITH_AS(g.draw(1, 12, 0),
                       "calibration self-generated: the 2 kept texts (of 3 generated) hold 12 "
                       "tokens, too few for a window of 12 tokens (needs at least 13)",
                       pollard::option_error);
  CHECK_NOTHROW(g.draw(3, 11, 0));
  CHECK_THROWS_AS(g.draw(0, 4, 0), pollard::option_error);
  // One text: the filter drops ceil(0.2) = 1 of 1, and the draw says so.
  CHECK_THROWS_WITH_AS(generate({"12"}, toy_settings(4)).draw(1, 2, 0),
                       "calibration self-generated: the 0 kept texts (of 1 generated) hold 0 "
                       "tokens, too few for a window of 2 tokens (needs at least 3)",
                       pollard::option_error);
}
