#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "pollard/evaluation/divergence.hpp"
#include "pollard/evaluation/perplexity.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/data.hpp"

using namespace pollard::llm;
using pollard::evaluation::compare_on_windows;
using pollard::evaluation::evaluate_perplexity;
using pollard::evaluation::evaluation_options;
using namespace pollard::io;

namespace {

// Perplexity of BOS + the first 511 tokens of `text`: the protocol of the figures published
// beside the model (data/models/stories260K/README.md), measured there with another
// implementation.
double first_511_perplexity(llama_forward& model, const text_tokenizer& tok,
                            const std::string& text) {
  auto tokens = tok.encode(text.substr(0, 4000), true);  // 4000 bytes give more than 512 tokens
  REQUIRE(tokens.size() >= 512);
  tokens.resize(512);
  evaluation_options o;
  o.window = 512;
  return evaluate_perplexity(model, tokens, o).result.perplexity;
}

}  // namespace

TEST_CASE("stories260K perplexities reproduce the figures published with the model") {
  const auto model_path = pollard::test::data_file("models/stories260K/stories260K.bin");
  const auto stories = pollard::test::data_file("text/tinystories/tinystories_train_head.txt");
  const auto wiki = pollard::test::data_file("text/wikitext2_raw/test.rows.jsonl");
  const auto c4 = pollard::test::data_file("text/c4/c4-sample.00000-of-00001.json.gz");
  if (!model_path || !stories || !wiki || !c4) return;
  const auto m = open_model(*model_path);
  REQUIRE(m.tokenizer);
  llama_forward model(m.weights);
  std::ifstream in(*stories, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  // Published to three significant figures: TinyStories 4.35, C4 38.1, WikiText-2 112.9.
  CHECK(first_511_perplexity(model, *m.tokenizer, text.str()) ==
        doctest::Approx(4.35).epsilon(0.002));
  CHECK(first_511_perplexity(model, *m.tokenizer, read_gzip_json_lines_text(*c4).front()) ==
        doctest::Approx(38.1).epsilon(0.002));
  CHECK(first_511_perplexity(model, *m.tokenizer, join_rows(read_json_lines_text(*wiki))) ==
        doctest::Approx(112.9).epsilon(0.001));
}

TEST_CASE("a model compared with itself diverges nowhere, and windows cover the stream") {
  const auto model_path = pollard::test::data_file("models/stories260K/stories260K.bin");
  const auto stories = pollard::test::data_file("text/tinystories/tinystories_train_head.txt");
  if (!model_path || !stories) return;
  const auto m = open_model(*model_path);
  llama_forward a(m.weights), b(m.weights);
  std::string text;
  for (const auto& p : read_paragraphs(*stories)) {
    text += p + "\n\n";
    if (text.size() > 6000) break;
  }
  const auto tokens = m.tokenizer->encode(text, true);
  evaluation_options o;
  o.window = 256;
  o.logits_rows = 100;  // chunks that do not divide the window
  const auto report = compare_on_windows(a, b, tokens, o);
  const auto windows = static_cast<pollard::index_t>(tokens.size()) / 256;
  CHECK(report.positions == windows * 255);
  CHECK(report.js_nats.mean == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(report.js_nats.percentiles[0] < 1e-9);
  CHECK(report.same_top == 1.0);
  const auto ppl = evaluate_perplexity(a, tokens, o);
  CHECK(ppl.windows == windows);
  CHECK(ppl.result.tokens == windows * 255);
  CHECK(ppl.result.perplexity == doctest::Approx(report.perplexity_p.perplexity).epsilon(1e-9));
  o.window = 100000;
  CHECK_THROWS_WITH_AS(evaluate_perplexity(a, tokens, o),
                       "evaluation: window 100000 exceeds the model's context 512",
                       pollard::option_error);
}

TEST_CASE("llama2.c's tokenizer reads special-token text as plain text and refuses to parse it") {
  const auto model_path = pollard::test::data_file("models/stories260K/stories260K.bin");
  if (!model_path) return;
  auto m = open_model(*model_path);
  REQUIRE(m.tokenizer);
  CHECK(m.tokenizer->special_token_text() == pollard::llm::special_token_text::plain);
  // run.c: "<s>" in text is spelled out by pieces, never the BOS id 1.
  const auto ids = m.tokenizer->encode("<s>Once", false);
  CHECK(ids.size() > 1);
  CHECK(std::find(ids.begin(), ids.end(), 1) == ids.end());
  CHECK_THROWS_AS(m.tokenizer->set_special_token_text(pollard::llm::special_token_text::parse),
                  pollard::option_error);
  m.tokenizer->set_special_token_text(pollard::llm::special_token_text::plain);
}
