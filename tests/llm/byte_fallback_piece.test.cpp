// byte_fallback_value against hand-worked pieces, and every one of the 256 byte pieces that
// SentencePiece writes (printf's "<0x%02X>").
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "pollard/llm/byte_fallback_piece.hpp"

using pollard::llm::byte_fallback_value;

TEST_CASE("every \"<0xHH>\" piece gives its byte, in either case of hexadecimal digits") {
  for (int b = 0; b < 256; ++b) {
    char upper[8], lower[8];
    std::snprintf(upper, sizeof upper, "<0x%02X>", b);
    std::snprintf(lower, sizeof lower, "<0x%02x>", b);
    REQUIRE(byte_fallback_value(upper) == static_cast<unsigned char>(b));
    REQUIRE(byte_fallback_value(lower) == static_cast<unsigned char>(b));
  }
  CHECK(byte_fallback_value("<0xE2>") == 0xE2);
  CHECK(byte_fallback_value("<0x0a>") == 0x0A);
}

TEST_CASE("pieces that only resemble a byte piece are ordinary pieces") {
  for (const char* piece : {"", "<0x>", "<0x4>", "<0x411>", "<0x41> ", " <0x41>", "<0X41>",
                            "<0x4G>", "<0xG4>", "(0x41)", "<0x41]", "<1x41>", "0x41", "<0x-1>"})
    CHECK_MESSAGE(!byte_fallback_value(piece).has_value(), piece);
  CHECK(!byte_fallback_value(std::string("<0x4\0>", 6)).has_value());
}
