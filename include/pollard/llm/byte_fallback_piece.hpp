// pollard — the byte-fallback pieces "<0xHH>" of SentencePiece vocabularies.
#pragma once

#include <optional>
#include <string_view>

namespace pollard::llm {

/// The byte a SentencePiece byte-fallback piece stands for: "<0x41>" -> 0x41. The piece is
/// exactly six characters, "<0x", two hexadecimal digits (either case), ">"; anything else
/// (including "<0x4>" or "<0x41> ") is an ordinary piece and gives nullopt. SentencePiece writes
/// these pieces for bytes that have no piece of their own (its `byte_fallback` option);
/// llama2.c's run.c and llama.cpp decode them to the raw byte.
inline std::optional<unsigned char> byte_fallback_value(std::string_view piece) noexcept {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = digit(piece[3]), lo = digit(piece[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

}  // namespace pollard::llm
