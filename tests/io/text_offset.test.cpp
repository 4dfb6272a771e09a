#include <doctest/doctest.h>

#include "pollard/io/text_offset.hpp"

TEST_CASE("an offset is the file's, or said to be of the decompressed text") {
  using pollard::io::offset_text;
  using pollard::io::offsets_in;
  CHECK(offset_text(17, offsets_in::file) == "offset 17");
  CHECK(offset_text(0, offsets_in::decompressed_text) == "offset 0 of the decompressed text");
}
