// pollard — one calibration window from each of N randomly chosen documents (the C4 protocol).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/python_random.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard {

/// Turns one text into token ids; `add_bos` asks for the model's beginning-of-sequence token.
using tokenize_function = std::function<std::vector<token_id>(std::string_view text, bool add_bos)>;

/// Per-document samples as SparseGPT's and Wanda's C4 loader draws them (datautils.py, get_c4):
/// after `random.seed(seed)`, for each sample draw documents with `random.randint(0, D - 1)`
/// until one has more than L tokens, then a window start `random.randint(0, len - L - 1)`.
/// (SparseGPT's loop accepts len >= L and then fails on randint(0, -1) when len == L; Wanda's
/// accepts len > L. The two agree whenever they do not fail; this is Wanda's rule.)
/// Documents are tokenized when first drawn, with BOS when `add_bos` (the Hugging Face Llama
/// tokenizers add it to every encoded document).
class document_windows {
 public:
  document_windows(std::vector<std::string> documents, tokenize_function tokenize, bool add_bos,
                   std::string name = "documents")
      : documents_(std::move(documents)),
        tokenize_(std::move(tokenize)),
        add_bos_(add_bos),
        name_(std::move(name)) {}

  index_t document_count() const noexcept { return static_cast<index_t>(documents_.size()); }

  /// option_error when no document has more than `length` tokens (checked before drawing, so
  /// the rejection loop always ends).
  calibration_batch draw(index_t n, index_t length, std::uint64_t seed) const {
    const std::string who = "calibration " + name_;
    detail::check_draw_request(who, n, length);
    if (documents_.empty()) throw option_error(who + ": there are no documents");
    bool any_long_enough = false;
    index_t longest = 0;
    for (index_t d = 0; d < document_count() && !any_long_enough; ++d) {
      const auto size = static_cast<index_t>(tokens_of(d).size());
      longest = std::max(longest, size);
      any_long_enough = size > length;
    }
    if (!any_long_enough)
      throw option_error(who + ": no document is longer than " + std::to_string(length) +
                         " tokens (the longest of " + std::to_string(document_count()) + " has " +
                         std::to_string(longest) + ")");
    python_random rng(seed);
    auto out = calibration_batch::reserved(n, length, name_);
    for (index_t s = 0; s < n; ++s) {
      const std::vector<token_id>* doc = nullptr;
      do {
        doc = &tokens_of(rng.randint(0, document_count() - 1));
      } while (static_cast<index_t>(doc->size()) <= length);
      const auto i = rng.randint(0, static_cast<index_t>(doc->size()) - length - 1);
      out.tokens.insert(out.tokens.end(), doc->begin() + i, doc->begin() + i + length);
    }
    return out;
  }

  std::string describe() const {
    return name_ + ": one random window from each of randomly drawn documents of " +
           std::to_string(document_count()) + " (SparseGPT/Wanda C4 protocol, CPython random)";
  }

 private:
  const std::vector<token_id>& tokens_of(index_t d) const {
    auto it = cache_.find(d);
    if (it == cache_.end())
      it = cache_.emplace(d, tokenize_(documents_[static_cast<std::size_t>(d)], add_bos_)).first;
    return it->second;
  }

  std::vector<std::string> documents_;
  tokenize_function tokenize_;
  bool add_bos_;
  std::string name_;
  mutable std::map<index_t, std::vector<token_id>> cache_;
};

}  // namespace pollard
