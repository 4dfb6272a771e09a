#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pollard/io/json.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/model_file.hpp"
#include "support/smollm2.hpp"

// tests/llm/fixtures/smollm2_logits.{json,_last.npy}: llama.cpp's logits for three prompts on
// SmolLM2 converted to F32 by llama.cpp with an F32 KV cache (make_smollm2_logits.py), so the
// two forward passes see the same weights and keep the same precision throughout.
//
// Tolerance: max |Δlogit| <= 1e-3 · max |logit| of the row. Both sides compute in fp32 with
// different summation orders (llama.cpp's tiled kernels vs Eigen's) through 30 blocks; fp32
// rounding of sums over 576–1536 terms gives relative errors near 1e-6 per product, which grow
// through the residual stream but stay orders of magnitude below 1e-3. An element-wise relative
// bound would be meaningless for logits near zero, hence the row's scale.
TEST_CASE("SmolLM2 logits equal llama.cpp's on an F32 copy with an F32 KV cache") {
  const auto path = pollard::test::smollm2_gguf();
  if (!path) return;
  const auto dir = std::filesystem::path(__FILE__).parent_path() / "fixtures";
  std::ifstream in(dir / "smollm2_logits.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto root = pollard::io::parse_json(text.str(), "smollm2_logits.json");
  const auto last = pollard::io::read_npy<float>(dir / "smollm2_logits_last.npy");
  const auto m = pollard::llm::open_model(*path);
  pollard::llm::llama_forward model(m.weights);
  const auto& cases = root.find("cases")->as_array("cases");
  REQUIRE(static_cast<pollard::index_t>(cases.size()) == last.rows());
  double worst = 0.0;
  for (std::size_t c = 0; c < cases.size(); ++c) {
    std::vector<pollard::llm::token_id> tokens;
    for (const auto& t : cases[c].find("tokens")->as_array("tokens"))
      tokens.push_back(static_cast<pollard::llm::token_id>(t.as_size("token")));
    CHECK(m.tokenizer->encode(cases[c].find("prompt")->as_string("prompt"), false) == tokens);
    const auto n = static_cast<pollard::index_t>(tokens.size());
    const auto logits = model.prefill(tokens, {1, n});
    const auto& argmax = cases[c].find("argmax")->as_array("argmax");
    const auto& max_logit = cases[c].find("max_logit")->as_array("max_logit");
    for (pollard::index_t p = 0; p < n; ++p) {
      pollard::index_t top = 0;
      logits.row(p).maxCoeff(&top);
      const double scale = logits.row(p).cwiseAbs().maxCoeff();
      CHECK(top ==
            static_cast<pollard::index_t>(argmax[static_cast<std::size_t>(p)].as_size("argmax")));
      CHECK(std::abs(logits(p, top) - max_logit[static_cast<std::size_t>(p)].as_number("max")) <=
            1e-3 * scale);
    }
    double diff = 0.0, scale = 0.0;
    for (pollard::index_t v = 0; v < last.cols(); ++v) {
      const double theirs =
          last.values[static_cast<std::size_t>(static_cast<pollard::index_t>(c) * last.cols() + v)];
      diff = std::max(diff, std::abs(logits(n - 1, v) - theirs));
      scale = std::max(scale, std::abs(theirs));
    }
    worst = std::max(worst, diff / scale);
    CHECK(diff <= 1e-3 * scale);
  }
  MESSAGE("largest |pollard - llama.cpp| / max|logit| over the last positions: " << worst);
}
