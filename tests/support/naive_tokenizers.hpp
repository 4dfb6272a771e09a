// Test support: BPE merge loops as their references write them (rescan every pair per merge),
// for comparing the fast ones against.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/llm/llama2c_tokenizer.hpp"

namespace pollard::test {

/// run.c's encode() transcribed literally: BOS, the dummy prefix " ", one token per UTF-8 group
/// (a byte and the continuation bytes after it, at most 4) or its bytes' fallback tokens, then
/// the merge loop: rescan every adjacent pair, merge the one whose concatenation is a piece of
/// the highest score (> -1e10; strictly greater, so the leftmost wins a tie), until none merges.
/// Quadratic in the text length; only the lookup of pieces (find, piece, score) is borrowed.
inline std::vector<token_id> naive_llama2c_encode(const llm::llama2c_tokenizer& t,
                                                  std::string_view text, bool add_bos = true) {
  std::vector<token_id> tokens;
  if (add_bos) tokens.push_back(1);
  if (!text.empty()) tokens.push_back(t.find(" "));
  std::string buf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) buf.clear();
    buf += text[i];
    const unsigned char next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if ((next & 0xC0) == 0x80 && buf.size() < 4) continue;
    const token_id id = t.find(buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (const char c : buf) tokens.push_back(static_cast<unsigned char>(c) + 3);
    }
    buf.clear();
  }
  for (;;) {
    float best = -1e10f;
    token_id best_id = -1;
    std::size_t best_i = 0;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      const token_id id = t.find(t.piece(tokens[i]) + t.piece(tokens[i + 1]));
      if (id != -1 && t.score(id) > best) {
        best = t.score(id);
        best_id = id;
        best_i = i;
      }
    }
    if (best_id == -1) break;
    tokens[best_i] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
  }
  return tokens;
}

/// The merge loop of run.c in general: while some adjacent pair of `symbols` has a priority
/// (`priority(a, b)`: std::optional, smaller merges first), join the pair of the smallest, the
/// leftmost on ties (a strict `<` over a left-to-right scan), into `join(a, b)`.
template <class Symbol, class Priority, class Join>
std::vector<Symbol> naive_merge_adjacent(std::vector<Symbol> symbols, Priority priority,
                                         Join join) {
  for (;;) {
    std::optional<std::size_t> best;
    decltype(priority(symbols[0], symbols[0])) best_priority;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto p = priority(symbols[i], symbols[i + 1]);
      if (p && (!best || *p < *best_priority)) {
        best = i;
        best_priority = p;
      }
    }
    if (!best) return symbols;
    symbols[*best] = join(symbols[*best], symbols[*best + 1]);
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(*best) + 1);
  }
}

}  // namespace pollard::test
