// pollard — finding a tokenizer's special tokens in text before the rest is tokenized.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/token_id.hpp"
#include "pollard/llm/special_token_text.hpp"

namespace pollard::llm {

/// The tokens a tokenizer matches literally in its input before it splits the rest: control
/// tokens (only when special_token_text::parse) and user-defined ones (always), as llama.cpp's
/// tokenizer_st_partition and transformers' added-token splitting do. At each position the
/// leftmost match wins, the longest of those starting there (transformers' leftmost-longest).
class special_token_matcher {
 public:
  /// Adds token `id` spelled `text` (empty spellings are never matched); `always` for a
  /// user-defined token, false for a control token.
  void add(std::string text, token_id id, bool always) {
    if (!text.empty()) tokens_.push_back({std::move(text), id, always});
  }

  bool empty() const noexcept { return tokens_.empty(); }

  /// Calls `plain(segment)` for every stretch of `text` between matched tokens (possibly empty
  /// at neither end: only non-empty stretches are passed) and `special(id)` for each match, in
  /// text order.
  template <class Plain, class Special>
  void split(std::string_view text, special_token_text mode, Plain&& plain,
             Special&& special) const {
    // next[k]: where token k occurs next at or after `start` (text.size() when it does not);
    // positions only move forward, so each token's search passes over the text once.
    const auto find_from = [&](std::size_t k, std::size_t from) {
      const auto found = text.find(tokens_[k].text, from);
      return found == std::string_view::npos ? text.size() : found;
    };
    const auto active = [&](std::size_t k) {
      return tokens_[k].always || mode == special_token_text::parse;
    };
    std::vector<std::size_t> next(tokens_.size());
    for (std::size_t k = 0; k < tokens_.size(); ++k)
      next[k] = active(k) ? find_from(k, 0) : text.size();
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t at = text.size();
      std::size_t best = tokens_.size();
      for (std::size_t k = 0; k < tokens_.size(); ++k) {
        if (!active(k)) continue;
        const auto& t = tokens_[k];
        if (next[k] < start) next[k] = find_from(k, start);
        if (next[k] < at ||
            (next[k] == at && at != text.size() && t.text.size() > tokens_[best].text.size())) {
          at = next[k];
          best = k;
        }
      }
      if (at > start) plain(text.substr(start, at - start));
      if (best == tokens_.size()) break;
      special(tokens_[best].id);
      start = at + tokens_[best].text.size();
    }
  }

 private:
  struct entry {
    std::string text;
    token_id id;
    bool always;
  };
  std::vector<entry> tokens_;
};

}  // namespace pollard::llm
