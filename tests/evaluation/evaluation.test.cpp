// Evaluation and generation are generic over the model concepts: run on the user-defined toy
// model (tests/support/toy_model.hpp) and a character tokenizer, against plain computations on
// the toy's independent double-precision reference logits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/evaluation/divergence.hpp"
#include "pollard/evaluation/generate.hpp"
#include "pollard/evaluation/perplexity.hpp"
#include "pollard/evaluation/tasks.hpp"
#include "pollard/evaluation/text_tokenizer.hpp"

#include "support/toy_model.hpp"

using namespace pollard;
using test::toy_model;
using test::toy_reference;
using test::toy_weights;

namespace {

// Characters 'a'..'f' are tokens 1..6; token 0 is BOS. No EOS; generation stops at 'f'.
struct letter_tokenizer {
  std::vector<token_id> encode(std::string_view text, bool add_bos) const {
    std::vector<token_id> out;
    if (add_bos) out.push_back(0);
    for (char c : text)
      if (c >= 'a' && c <= 'f') out.push_back(static_cast<token_id>(c - 'a' + 1));
    return out;
  }
  std::string decode(std::span<const token_id> tokens, std::optional<token_id>) const {
    std::string out;
    for (token_id t : tokens)
      if (t > 0) out += static_cast<char>('a' + t - 1);
    return out;
  }
  std::optional<token_id> bos() const { return 0; }
  std::optional<token_id> eos() const { return std::nullopt; }
  bool adds_bos() const { return true; }
  std::vector<token_id> stop_tokens() const { return {6}; }
};

static_assert(evaluation::text_tokenizer<letter_tokenizer>);
static_assert(!evaluation::text_tokenizer<int>);

// -log softmax(logits)[target], in double.
double nll(const test::dense_matrix<double>& logits, index_t row, token_id target) {
  double mx = -1e300, z = 0.0;
  for (index_t v = 0; v < logits.cols; ++v) mx = std::max(mx, logits(row, v));
  for (index_t v = 0; v < logits.cols; ++v) z += std::exp(logits(row, v) - mx);
  return -(logits(row, target) - mx - std::log(z));
}

std::vector<token_id> stream(index_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<token_id> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = static_cast<token_id>(rng() % 7);
  return t;
}

}  // namespace

TEST_CASE("evaluate_perplexity on the toy equals exp(mean NLL) of the reference over windows") {
  toy_model m(toy_weights::random(21));
  const auto tokens = stream(23, 1);
  evaluation::evaluation_options o;
  o.window = 5;
  o.logits_rows = 3;  // chunks that do not divide the 4 scored rows of a window
  const auto r = evaluation::evaluate_perplexity(m, tokens, o);
  CHECK(r.window == 5);
  CHECK(r.windows == 4);  // the last 3 tokens do not fill a window
  double sum = 0.0;
  for (std::size_t w = 0; w < 4; ++w) {
    const std::span<const token_id> seq = std::span<const token_id>(tokens).subspan(w * 5, 5);
    const toy_reference ref(m.weights(), seq);
    for (index_t t = 0; t < 4; ++t) sum += nll(ref.logits, t, seq[static_cast<std::size_t>(t + 1)]);
  }
  CHECK(r.result.tokens == 16);
  CHECK(r.result.perplexity == doctest::Approx(std::exp(sum / 16)).epsilon(1e-5));
  o.window = 17;  // the toy's context is 16
  CHECK_THROWS_AS(evaluation::evaluate_perplexity(m, tokens, o), option_error);
}

TEST_CASE("llama.cpp's chunk protocol: BOS at each chunk start, the second half scored") {
  // The protocol of llama.cpp's tools/perplexity/perplexity.cpp, perplexity(): chunks of n_ctx
  // tokens, tokens[chunk start] replaced by BOS, logits from first = n_ctx/2 predicting tokens
  // first+1 .. n_ctx-1 (n_ctx - first - 1 per chunk).
  toy_model m(toy_weights::random(23));
  const auto tokens = stream(30, 3);
  for (const index_t n_ctx : {8, 9}) {
    evaluation::evaluation_options o;
    o.window = n_ctx;
    o.logits_rows = 2;
    o.protocol = evaluation::perplexity_protocol::llama_cpp_chunks;
    o.chunk_bos = 0;
    const auto r = evaluation::evaluate_perplexity(m, tokens, o);
    const index_t chunks = 30 / n_ctx;
    CHECK(r.windows == chunks);
    const index_t first = n_ctx / 2;
    double sum = 0.0;
    for (index_t c = 0; c < chunks; ++c) {
      std::vector<token_id> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
      chunk[0] = 0;
      const toy_reference ref(m.weights(), chunk);
      for (index_t j = first; j < n_ctx - 1; ++j)
        sum += nll(ref.logits, j, chunk[static_cast<std::size_t>(j + 1)]);
    }
    const index_t scored = chunks * (n_ctx - first - 1);
    CHECK(r.result.tokens == scored);
    CHECK(r.result.perplexity ==
          doctest::Approx(std::exp(sum / static_cast<double>(scored))).epsilon(1e-5));
    CHECK(r.protocol == "llama.cpp chunks of " + std::to_string(n_ctx) +
                            " tokens (BOS at each chunk start, positions " +
                            std::to_string(first + 1) + ".." + std::to_string(n_ctx - 1) +
                            " of each scored)");
    // The divergence is taken on the same positions.
    toy_model same(toy_weights::random(23));
    CHECK(evaluation::compare_on_windows(m, same, tokens, o).positions == scored);
  }
  // Without a BOS the chunk is scored as it is, which differs from the BOS-replaced chunks.
  evaluation::evaluation_options o;
  o.window = 8;
  o.protocol = evaluation::perplexity_protocol::llama_cpp_chunks;
  const auto plain = evaluation::evaluate_perplexity(m, tokens, o);
  CHECK(plain.protocol.find("no BOS inserted") != std::string::npos);
  o.chunk_bos = 0;
  CHECK(evaluation::evaluate_perplexity(m, tokens, o).result.perplexity != plain.result.perplexity);
  o.protocol = evaluation::perplexity_protocol::windows;
  CHECK(evaluation::evaluate_perplexity(m, tokens, o).protocol ==
        "SparseGPT/Wanda windows of 8 tokens (no BOS inserted, positions 1..7 of each scored)");
}

TEST_CASE("compare_on_windows: a model against itself agrees everywhere, a changed one does not") {
  const toy_weights w = toy_weights::random(22);
  toy_model p(w), same(w);
  test::foreign_toy_engine changed{w};
  for (auto& v : changed.weights.blocks[0].gate.values) v = -v;
  const auto tokens = stream(20, 2);
  evaluation::evaluation_options o;
  o.window = 10;
  o.logits_rows = 4;
  const auto self = evaluation::compare_on_windows(p, same, tokens, o);
  CHECK(self.positions == 18);
  CHECK(self.js_nats.mean == doctest::Approx(0.0).epsilon(1e-9));
  CHECK(self.same_top == 1.0);
  const auto other = evaluation::compare_on_windows(p, changed, tokens, o);
  CHECK(other.positions == 18);
  CHECK(other.js_nats.mean > 1e-6);
  CHECK(other.perplexity_p.perplexity == doctest::Approx(self.perplexity_q.perplexity));
}

TEST_CASE("compare_on_instructions scores only the positions that predict response tokens") {
  const toy_weights w = toy_weights::random(23);
  toy_model p(w);
  test::foreign_toy_engine q{w};
  q.weights.blocks[0].up.values[3] -= 1.5f;
  const std::vector<io::instruction_example> examples = {{"abc", "", "de"}, {"ab", "c", "fed"}};
  const auto r = evaluation::compare_on_instructions(p, q, letter_tokenizer{}, examples);
  CHECK(r.positions == 2 + 3);
  // The perplexity of P on the response tokens, from the reference: "<bos>abc de" and
  // "<bos>ab c fed" predict d, e and f, e, d from the positions before them.
  double sum = 0.0;
  const std::vector<std::vector<token_id>> seqs = {{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 6, 5, 4}};
  const std::vector<index_t> first = {3, 3};
  for (std::size_t i = 0; i < 2; ++i) {
    const toy_reference ref(w, seqs[i]);
    for (auto t = static_cast<std::size_t>(first[i]); t + 1 < seqs[i].size(); ++t)
      sum += nll(ref.logits, static_cast<index_t>(t), seqs[i][t + 1]);
  }
  CHECK(r.perplexity_p.perplexity == doctest::Approx(std::exp(sum / 5)).epsilon(1e-5));
}

TEST_CASE("greedy generate on the toy follows the reference's argmax of each prefix") {
  toy_model m(toy_weights::random(24));
  const std::vector<token_id> prompt = {0, 3};
  evaluation::generate_options o;
  o.max_new_tokens = 8;
  o.sampling.temperature = 0.0f;
  const auto got = evaluation::generate(m, prompt, o);
  std::vector<token_id> expected, seq = prompt;
  for (int i = 0; i < 8; ++i) {
    const toy_reference ref(m.weights(), seq);
    const index_t last = static_cast<index_t>(seq.size()) - 1;
    token_id best = 0;
    for (index_t v = 1; v < 7; ++v)
      if (ref.logits(last, v) > ref.logits(last, best)) best = static_cast<token_id>(v);
    expected.push_back(best);
    seq.push_back(best);
  }
  CHECK(got == expected);
  o.stop_tokens = {expected[2]};
  const auto stopped = evaluation::generate(m, prompt, o);
  CHECK(stopped.size() <= 3);
  CHECK(stopped.back() == expected[2]);
}

TEST_CASE("evaluate_instruction_tasks scores the greedy answer, cut at a stop token") {
  toy_model m(toy_weights::random(25));
  const io::instruction_example e{"ab", "", "x"};
  evaluation::task_options o;
  o.max_new_tokens = 6;
  std::string answer;
  o.on_answer = [&](const io::instruction_example&, const std::string& a) { answer = a; };
  const auto r = evaluation::evaluate_instruction_tasks(m, letter_tokenizer{}, std::span(&e, 1), o);
  CHECK(r.examples == 1);
  // The same answer from generate and the tokenizer directly.
  evaluation::generate_options g;
  g.max_new_tokens = 6;
  g.sampling.temperature = 0.0f;
  g.stop_tokens = {6};
  auto tokens = evaluation::generate(m, std::vector<token_id>{0, 1, 2}, g);
  if (!tokens.empty() && tokens.back() == 6) tokens.pop_back();
  CHECK(answer == letter_tokenizer{}.decode(tokens, std::nullopt));
  CHECK(r.exact_match.mean == (answer == "x" ? 1.0 : 0.0));
}
