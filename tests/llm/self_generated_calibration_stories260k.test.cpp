// `selfgen:PATH` on stories260K: the documents of a TinyStories file continued by the model, the
// same texts as the self-generated source built by hand, and the cache reused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/self_generated_calibration.hpp"
#include "support/data.hpp"

using namespace pollard;

TEST_CASE("selfgen:PATH continues the file's documents with the model's tokenizer and context") {
  const auto model_path = test::data_file("models/stories260K/stories260K.bin");
  const auto stories = test::data_file("text/tinystories/tinystories_train_head.txt");
  if (!model_path || !stories) return;
  auto opened = llm::open_model(*model_path);
  REQUIRE(opened.tokenizer);
  const auto& tok = *opened.tokenizer;
  llm::llama_model m(opened.weights);

  // The first six paragraphs in a file of their own.
  auto paragraphs = io::read_paragraphs(*stories);
  paragraphs.resize(6);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pollard-selfgen-spec-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto text_path = dir / "six.txt";
  {
    std::ofstream out(text_path);
    for (const auto& p : paragraphs) out << p << "\n\n";
  }
  const auto spec = parse_calibration_spec("selfgen:" + text_path.string());
  llm::calibration_options o;
  o.samples = 4;
  o.length = 24;
  o.seed = 3;
  llm::self_generation_options g;
  g.cache = dir / "texts.jsonl";
  const auto source = llm::self_generated_calibration(m, "stories260K", spec, tok, o, g);
  CHECK(std::filesystem::exists(g.cache));

  self_generation_settings s;
  s.model_identity = "stories260K";
  s.max_new_tokens = 24;  // the calibration length fits the 512-token context
  s.add_bos = true;
  s.eos = llm::llama2c_tokenizer::eos;
  s.seed = 3;
  const auto by_hand = self_generated_windows::generate(
      m, paragraphs, [&](std::string_view t, bool bos) { return tok.encode(t, bos); },
      llm::self_generation_sampler{}, s, "selfgen:" + text_path.string());
  CHECK(source.texts() == by_hand.texts());
  CHECK(source.describe() == by_hand.describe());
  const auto batch = source.draw(o.samples, o.length, o.seed);
  CHECK(batch.tokens == by_hand.draw(4, 24, 3).tokens);
  CHECK(batch.origin == std::vector<std::string>(4, "selfgen:" + text_path.string()));

  // The cache is read back (same texts), and refused for another seed.
  CHECK(llm::self_generated_calibration(m, "stories260K", spec, tok, o, g).texts() ==
        source.texts());
  auto other = o;
  other.seed = 4;
  CHECK_THROWS_AS(llm::self_generated_calibration(m, "stories260K", spec, tok, other, g),
                  option_error);
  g.source_texts = 2;
  g.cache.clear();
  CHECK(llm::self_generated_calibration(m, "stories260K", spec, tok, o, g).texts().size() == 2);
  CHECK_THROWS_AS(
      llm::self_generated_calibration(
          m, "stories260K", parse_calibration_spec("c4:" + text_path.string()), tok, o, g),
      option_error);
  std::filesystem::remove_all(dir);
}
