#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "pollard/evaluation/continuation_tokens.hpp"

using namespace pollard;
using namespace pollard::evaluation;

namespace {

// Words with their leading space are single tokens (like SentencePiece's "▁x" pieces): " x" is
// 10, "x" is 1, a lone " " is 3; BOS is 0.
struct space_merging_encoder {
  std::vector<token_id> encode(std::string_view text, bool add_bos) const {
    std::vector<token_id> out;
    if (add_bos) out.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == ' ' && i + 1 < text.size() && text[i + 1] == 'x') {
        out.push_back(10);
        ++i;
      } else {
        out.push_back(text[i] == ' ' ? 3 : text[i] == 'x' ? 1 : 2);
      }
    }
    return out;
  }
};

}  // namespace

TEST_CASE("the continuation's tokens are those of the whole text past the context's") {
  const auto t = encode_continuation(space_merging_encoder{}, "ab", " x", true);
  CHECK(t.context == std::vector<token_id>{0, 2, 2});
  CHECK(t.continuation == std::vector<token_id>{10});
}

TEST_CASE("a context ending in spaces gives them to the continuation, as the harness does") {
  // Encoded naively, "ab " would end with the lone-space token 3 and "x" would be scored as 1;
  // the harness moves the space so " x" is scored as the merged token 10.
  const auto t = encode_continuation(space_merging_encoder{}, "ab ", "x", true);
  CHECK(t.context == std::vector<token_id>{0, 2, 2});
  CHECK(t.continuation == std::vector<token_id>{10});
  const auto two = encode_continuation(space_merging_encoder{}, "ab  ", "x", false);
  CHECK(two.context == std::vector<token_id>{2, 2});
  CHECK(two.continuation == std::vector<token_id>{3, 10});
}

TEST_CASE("a continuation that adds no token is refused with its text") {
  CHECK_THROWS_AS(encode_continuation(space_merging_encoder{}, "ab", "", true), format_error);
  CHECK_THROWS_AS(encode_continuation(space_merging_encoder{}, "", "x", true), option_error);
}
