// pollard — how a message places a byte of a text input: by its offset in the file, or in the
// text a gzip-compressed file decompresses to.
#pragma once

#include <cstddef>
#include <string>

namespace pollard::io {

/// What the byte offsets in a reader's messages count: the file's bytes, or those of the text a
/// gzip-compressed file decompresses to (which the compressed file does not show at that offset).
enum class offsets_in { file, decompressed_text };

/// "offset N", or "offset N of the decompressed text".
inline std::string offset_text(std::size_t offset, offsets_in in) {
  return "offset " + std::to_string(offset) +
         (in == offsets_in::decompressed_text ? " of the decompressed text" : "");
}

}  // namespace pollard::io
