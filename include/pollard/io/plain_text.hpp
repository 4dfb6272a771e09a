// pollard — the text of a plain-text input under the one byte-order mark rule: dropped at the
// start of the file, refused anywhere else with its line and byte offset.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "pollard/core/error.hpp"
#include "pollard/io/text_offset.hpp"
#include "pollard/io/utf8.hpp"

namespace pollard::io {

namespace detail {

/// Where byte `offset` of `content` is, for a message: "line L (byte offset N)", or "line L
/// (byte offset N of the decompressed text)".
inline std::string line_and_offset(std::string_view content, std::size_t offset,
                                   offsets_in in = offsets_in::file) {
  const auto newlines =
      std::count(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
  return "line " + std::to_string(newlines + 1) + " (byte " + offset_text(offset, in) + ")";
}

}  // namespace detail

/// The text of a plain-text file named `name` whose (decompressed) content is `content`, without
/// the UTF-8 byte-order mark at its start (an editor's mark, not text). One anywhere else is a
/// format_error naming the file, the line and the byte offset: a byte-order mark belongs only at
/// the start of a file (files joined with cat keep theirs); the offset counts as `offsets` says.
inline std::string_view plain_text_of(std::string_view content, const std::string& name,
                                      offsets_in offsets = offsets_in::file) {
  const std::size_t start = content.starts_with(byte_order_mark) ? byte_order_mark.size() : 0;
  if (const std::size_t at = content.find(byte_order_mark, start); at != std::string_view::npos)
    throw format_error(name + " " + detail::line_and_offset(content, at, offsets) +
                       ": a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start "
                       "of a file (were files joined?)");
  return content.substr(start);
}

}  // namespace pollard::io
