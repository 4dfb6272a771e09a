// Self-generated calibration text on the real stories260K model, sampled with evaluation::sampler
// under the published recipe's settings from two-token prefixes of TinyStories paragraphs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/calibration/self_generated.hpp"
#include "pollard/evaluation/sampler.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/self_generation_sampler.hpp"
#include "support/data.hpp"

using namespace pollard;

namespace {

// stories260K, its tokenizer and the first eight TinyStories paragraphs (none when the data
// directory lacks them).
struct stories {
  llm::llama_weights weights;
  llm::llama2c_tokenizer tok;
  std::vector<std::string> paragraphs;

  static std::optional<stories> read() {
    const auto model_path = test::data_file("models/stories260K/stories260K.bin");
    const auto tok_path = test::data_file("models/stories260K/tok512.bin");
    const auto text = test::data_file("text/tinystories/tinystories_train_head.txt");
    if (!model_path || !tok_path || !text) return std::nullopt;
    auto weights = llm::read_llama2c(*model_path);
    auto tok = llm::llama2c_tokenizer::read(*tok_path, weights.config.vocab_size);
    auto paragraphs = io::read_paragraphs(*text);
    REQUIRE(paragraphs.size() >= 8);
    paragraphs.resize(8);
    return stories{std::move(weights), std::move(tok), std::move(paragraphs)};
  }
};

// The mean NLL of t's sampled tokens from one full forward pass over the text.
double full_pass_mean_nll(llm::llama_model& m, const generated_text& t) {
  const auto L = static_cast<index_t>(t.tokens.size());
  double sum = 0.0;
  model::for_each_logits(m, t.tokens, model::sequence_layout{1, L}, 16,
                         [&](index_t first, matrix_view<const float> l) {
                           for (index_t r = 0; r < l.rows(); ++r) {
                             const index_t row = first + r;
                             if (row < t.prefix_tokens - 1 || row >= L - 1) continue;
                             double z = 0.0;
                             for (index_t v = 0; v < l.cols(); ++v) z += std::exp(l(r, v));
                             sum += std::log(z) - l(r, t.tokens[static_cast<std::size_t>(row + 1)]);
                           }
                         });
  return sum / static_cast<double>(t.new_tokens());
}

}  // namespace

TEST_CASE("stories260K continues TinyStories prefixes reproducibly, in plausible English") {
  auto data = stories::read();
  if (!data) return;
  const auto& tok = data->tok;
  const auto& paragraphs = data->paragraphs;
  const tokenize_function tokenize = [&](std::string_view text, bool add_bos) {
    return tok.encode(text, add_bos);
  };
  llm::llama_model m(data->weights);
  const llm::self_generation_sampler sampler;
  CHECK(sampler.describe() == "temperature 0.6, top-k 50, top-p 0.95, repetition penalty 1.2");
  CHECK(llm::self_generation_sampler({0.7f, 0, 1.0f, 1.0f, 9}).describe() ==
        "temperature 0.7, top-k 0, top-p 1, repetition penalty 1");
  CHECK_THROWS_AS(llm::self_generation_sampler({-1.0f, 0, 1.0f, 1.0f, 0}), option_error);
  self_generation_settings s;
  s.model_identity = "stories260K";
  s.max_new_tokens = 40;
  s.eos = llm::llama2c_tokenizer::eos;
  s.seed = 1;

  const auto g = self_generated_windows::generate(m, paragraphs, tokenize, sampler, s);
  const auto again = self_generated_windows::generate(m, paragraphs, tokenize, sampler, s);
  CHECK(g.texts() == again.texts());
  s.seed = 2;
  CHECK(self_generated_windows::generate(m, paragraphs, tokenize, sampler, s).texts() != g.texts());
  REQUIRE(g.texts().size() >= 6);
  CHECK(g.kept().size() ==
        g.texts().size() - self_generation_drop_count(static_cast<index_t>(g.texts().size()), 0.2));

  double worst_nll_difference = 0.0;
  for (const auto& t : g.texts()) {
    const auto& source = paragraphs[static_cast<std::size_t>(t.source)];
    CHECK(t.tokens[0] == llm::llama2c_tokenizer::bos);
    CHECK(t.tokens[1] == tok.encode(source, true)[1]);
    const std::string text = tok.decode(t.tokens);
    MESSAGE("perplexity " << t.perplexity << ": " << text);
    // Plausible text: printable ASCII, mostly letters, words of letters separated by spaces.
    index_t letters = 0, others = 0, words = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      CHECK((c == '\n' || (c >= 0x20 && c < 0x7f)));
      if (std::isalpha(c)) {
        ++letters;
        words += i == 0 || !std::isalpha(static_cast<unsigned char>(text[i - 1]));
      } else if (!std::isspace(c)) {
        ++others;
      }
    }
    CHECK(letters >= 5 * others);
    CHECK(words >= 4);
    CHECK(t.perplexity < 30.0);  // far below a uniform guess over 512 tokens

    // The KV-cached score equals the mean NLL from one full forward pass over the text.
    worst_nll_difference =
        std::max(worst_nll_difference, std::abs(full_pass_mean_nll(m, t) - t.mean_nll));
  }
  CHECK(worst_nll_difference < 1e-4);

  // Replaying the first text with evaluation::sampler itself, seeded with each step's draw seed, on
  // the logits of a full forward pass over the text so far, gives the same tokens.
  const auto& first = g.texts()[0];
  for (index_t step = 0; step < first.new_tokens(); ++step) {
    const auto n = static_cast<std::size_t>(first.prefix_tokens + step);
    const auto upto = std::span(first.tokens).first(n);
    std::vector<float> last;
    model::for_each_logits(
        m, upto, model::sequence_layout{1, static_cast<index_t>(n)},
        model::row_range{static_cast<index_t>(n) - 1, static_cast<index_t>(n)}, 1,
        [&](index_t, matrix_view<const float> l) { last.assign(l.data(), l.data() + l.cols()); });
    auto o = llm::self_generation_sampler::reference_options();
    o.seed = self_generation_draw_seed(1, first.source, step);
    CHECK(evaluation::sampler(o).sample(last, upto) == first.tokens[n]);
  }
  const auto b = g.draw(4, 32, 0);
  b.validate();
  CHECK(b.n_sequences == 4);
}

TEST_CASE("batched self-generation gives the same texts in any batch, one at a time, and again") {
  static_assert(model::batched_incremental_lm<llm::llama_model>);
  auto data = stories::read();
  if (!data) return;
  const auto& tok = data->tok;
  auto paragraphs = data->paragraphs;
  paragraphs.resize(7);
  const tokenize_function tokenize = [&](std::string_view text, bool add_bos) {
    return tok.encode(text, add_bos);
  };
  llm::llama_model m(data->weights);
  const llm::self_generation_sampler sampler;
  self_generation_settings s;
  s.model_identity = "stories260K";
  s.max_new_tokens = 60;
  // A text ends at its first full stop, so texts finish at different steps and the batch
  // shrinks as it goes.
  s.eos = tok.encode(".", false).back();
  s.seed = 3;
  s.batch = 8;
  const auto all = self_generated_windows::generate(m, paragraphs, tokenize, sampler, s).texts();
  REQUIRE(all.size() >= 5);
  index_t shortest = s.max_new_tokens, longest = 0;
  for (const auto& t : all) {
    shortest = std::min(shortest, t.new_tokens());
    longest = std::max(longest, t.new_tokens());
  }
  MESSAGE("new tokens per text: " << shortest << " to " << longest);
  CHECK(shortest < longest);
  for (const index_t batch : {1, 3}) {
    s.batch = batch;
    CHECK(self_generated_windows::generate(m, paragraphs, tokenize, sampler, s).texts() == all);
  }
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  CHECK(self_generated_windows::generate(m, paragraphs, tokenize, sampler, s).texts() == all);
  Eigen::setNbThreads(threads);
  for (const auto& t : all) {
    const auto prefix = std::span(t.tokens).first(static_cast<std::size_t>(t.prefix_tokens));
    CHECK(generate_self_text(m, prefix, t.source, sampler, s) == t);
  }
  // The batched steps' logits agree with a full forward pass over each text (1e-4 in mean NLL).
  for (const auto& t : all) CHECK(std::abs(full_pass_mean_nll(m, t) - t.mean_nll) < 1e-4);
}
