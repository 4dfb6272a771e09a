#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/evaluation/perplexity.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/io/json.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/data.hpp"
#include "support/random_bytes.hpp"

// tests/llm/fixtures/llama_cpp/ (made by make_fixture.sh there, with llama.cpp itself):
//   stories260K.gguf          stories260K converted to GGUF by llama.cpp's
//                             llama-convert-llama2c-to-ggml (SentencePiece vocabulary);
//   stories260K-wanda50.gguf  that file pruned by `pollard prune` (Wanda, 50 % per row);
//   llama_cpp_results.json    llama-perplexity's perplexities of both on TinyStories and
//                             llama-tokenize's ids for a set of texts.

using namespace pollard;
using namespace pollard::llm;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(__FILE__).parent_path() / "fixtures" / "llama_cpp";

io::json_value results() {
  const auto path = fixtures / "llama_cpp_results.json";
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return io::parse_json(text.str(), path.string());
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<token_id> ids_of(const io::json_value& array) {
  std::vector<token_id> out;
  for (const auto& id : array.as_array("ids"))
    out.push_back(static_cast<token_id>(id.as_size("id")));
  return out;
}

}  // namespace

TEST_CASE("a GGUF SentencePiece vocabulary encodes as llama.cpp's llama-tokenize does") {
  auto m = open_model(fixtures / "stories260K.gguf");
  REQUIRE(m.tokenizer);
  // The fixture's ids come from llama-tokenize --no-parse-special (make_fixture.sh).
  m.tokenizer->set_special_token_text(special_token_text::plain);
  CHECK(m.tokenizer->kind() == "SentencePiece BPE");
  CHECK(m.tokenizer->adds_bos());
  CHECK(m.tokenizer->vocabulary_size() == 512);  // tok512's pieces, as the converter wrote them
  const auto root = results();
  const auto& cases = root.find("tokens")->as_array("tokens");
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    const auto& text = c.find("text")->as_string("text");
    CAPTURE(text);
    const auto ids = m.tokenizer->encode(text, true);
    CHECK(ids == ids_of(*c.find("ids")));
    CHECK(m.tokenizer->decode(ids) == text);
  }
  // Parsed (the default), the spelled "<s>" is BOS itself, and the text after it is prefixed
  // with a space again, as llama.cpp does after a special token: the plain ids minus the
  // pieces spelling "<s>".
  m.tokenizer->set_special_token_text(special_token_text::parse);
  const auto parsed = m.tokenizer->encode("<s> is not parsed", true);
  m.tokenizer->set_special_token_text(special_token_text::plain);
  REQUIRE(parsed.size() >= 3);
  CHECK(parsed[0] == 1);
  CHECK(parsed[1] == 1);
  CHECK(std::vector<token_id>(parsed.begin() + 2, parsed.end()) ==
        m.tokenizer->encode(" is not parsed", false));
}

TEST_CASE("the GGUF SentencePiece vocabulary round-trips random byte strings (seeded)") {
  // tok512 has the 256 byte pieces, so every byte string, UTF-8 or not, comes back as it was.
  auto m = open_model(fixtures / "stories260K.gguf");
  REQUIRE(m.tokenizer);
  m.tokenizer->set_special_token_text(special_token_text::plain);
  for (const auto& text : test::random_byte_strings(2000, 48, 3)) {
    CAPTURE(text);
    CHECK(m.tokenizer->decode(m.tokenizer->encode(text, true)) == text);
  }
}

TEST_CASE("llama.cpp's GGUF of stories260K agrees with the llama2.c checkpoint it came from") {
  const auto bin = test::data_file("models/stories260K/stories260K.bin");
  const auto story = test::data_file("text/tinystories/tinystories_train_head.txt");
  if (!bin || !story) return;
  const auto gguf = open_model(fixtures / "stories260K.gguf");
  const auto original = open_model(*bin);
  // The same vocabulary read two ways (SentencePiece pieces with "▁", llama2.c's with " ")
  // gives the same tokens.
  const std::string text = read_text(*story).substr(0, 20000);
  const auto tokens = gguf.tokenizer->encode(text, true);
  CHECK(tokens == original.tokenizer->encode(text, true));
  // And the same weights: identical logits.
  llama_forward a(gguf.weights), b(original.weights);
  const std::vector<token_id> prefix(tokens.begin(), tokens.begin() + 64);
  const model::sequence_layout one{1, 64};
  const auto la = a.prefill(prefix, one), lb = b.prefill(prefix, one);
  REQUIRE(la.rows() == lb.rows());
  REQUIRE(la.cols() == lb.cols());
  double diff = 0.0;
  for (index_t i = 0; i < la.rows(); ++i)
    for (index_t j = 0; j < la.cols(); ++j)
      diff = std::max(diff, static_cast<double>(std::abs(la(i, j) - lb(i, j))));
  CHECK(diff == 0.0);
}

TEST_CASE("pollard's perplexity of the dense and the pruned GGUF equals llama.cpp's") {
  const auto story = test::data_file("text/tinystories/tinystories_train_head.txt");
  if (!story) return;
  const auto root = results();
  const std::string text = read_text(*story);
  for (const char* which : {"dense", "pruned"}) {
    CAPTURE(which);
    const auto m =
        open_model(fixtures / (std::string(which) == "dense" ? "stories260K.gguf"
                                                             : "stories260K-wanda50.gguf"));
    // llama-perplexity's protocol: the text tokenized once with BOS, chunks of 128 with BOS
    // first, the second half of each scored, 8 chunks.
    evaluation::evaluation_options o;
    o.window = 128;
    o.max_windows = 8;
    o.protocol = evaluation::perplexity_protocol::llama_cpp_chunks;
    o.chunk_bos = m.tokenizer->bos();
    llama_forward model(m.weights);
    const auto tokens = m.tokenizer->encode(text, true);
    const auto r = evaluation::evaluate_perplexity(model, tokens, o);
    const auto& reference = *root.find(which);
    const double ppl = reference.find("ppl")->as_number("ppl");
    CHECK(r.windows == 8);
    // llama.cpp prints 4 decimals and sums in another order: agree to 1e-4 relative.
    CHECK(r.result.perplexity == doctest::Approx(ppl).epsilon(1e-4));
  }
}

TEST_CASE("the pruned GGUF that llama.cpp ran is 50 % sparse in every row of every linear") {
  const io::gguf_file file(fixtures / "stories260K-wanda50.gguf");
  const auto w = load_llama_weights(file);
  index_t linears = 0;
  for (const auto& block : w.layers) {
    for (const auto* m :
         {&block.wq, &block.wk, &block.wv, &block.wo, &block.w1, &block.w2, &block.w3}) {
      ++linears;
      for (index_t r = 0; r < m->rows(); ++r) {
        index_t zeros = 0;
        for (index_t c = 0; c < m->cols(); ++c) zeros += (*m)(r, c) == 0.0f;
        CHECK(zeros == m->cols() / 2);
      }
    }
  }
  CHECK(linears == 35);
}
