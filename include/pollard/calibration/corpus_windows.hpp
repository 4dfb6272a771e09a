// pollard — calibration windows cut at random from one token stream (concatenated documents).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/python_random.hpp"
#include "pollard/core/token_id.hpp"

namespace pollard {

/// N windows of L tokens at random starts in one token stream, as SparseGPT's and Wanda's
/// WikiText-2 loaders draw them (datautils.py, get_wikitext2: the training rows joined with " "
/// and tokenized once; for each sample `i = random.randint(0, len - L - 1)` after
/// `random.seed(seed)`; window [i, i + L)). The draws are CPython's, so with the same stream a
/// seed picks the same windows as the reference script.
class corpus_windows {
 public:
  /// `stream`: the token ids of the whole corpus; `name` appears in describe() and origins.
  explicit corpus_windows(std::vector<token_id> stream, std::string name = "corpus")
      : stream_(std::move(stream)), name_(std::move(name)) {}

  /// Documents joined by `separator` tokens (none by default) into one stream.
  static corpus_windows from_documents(const std::vector<std::vector<token_id>>& documents,
                                       const std::vector<token_id>& separator = {},
                                       std::string name = "corpus") {
    std::vector<token_id> stream;
    for (std::size_t d = 0; d < documents.size(); ++d) {
      if (d) stream.insert(stream.end(), separator.begin(), separator.end());
      stream.insert(stream.end(), documents[d].begin(), documents[d].end());
    }
    return corpus_windows(std::move(stream), std::move(name));
  }

  index_t stream_tokens() const noexcept { return static_cast<index_t>(stream_.size()); }

  /// n windows of `length` tokens; option_error when the stream has fewer than length + 1
  /// tokens (the reference's randint needs at least one spare token).
  calibration_batch draw(index_t n, index_t length, std::uint64_t seed) const {
    const std::string who = "calibration " + name_;
    detail::check_draw_request(who, n, length);
    if (stream_tokens() < length + 1)
      throw option_error(who + ": " + std::to_string(stream_tokens()) +
                         " tokens cannot give a window of " + std::to_string(length) +
                         " tokens (needs at least " + std::to_string(length + 1) + ")");
    python_random rng(seed);
    auto out = calibration_batch::reserved(n, length, name_);
    for (index_t s = 0; s < n; ++s) {
      const auto i = static_cast<std::size_t>(rng.randint(0, stream_tokens() - length - 1));
      out.tokens.insert(
          out.tokens.end(), stream_.begin() + static_cast<std::ptrdiff_t>(i),
          stream_.begin() + static_cast<std::ptrdiff_t>(i + static_cast<std::size_t>(length)));
    }
    return out;
  }

  std::string describe() const {
    return name_ + ": random windows of one stream of " + std::to_string(stream_tokens()) +
           " tokens (SparseGPT/Wanda WikiText-2 protocol, CPython random)";
  }

 private:
  std::vector<token_id> stream_;
  std::string name_;
};

}  // namespace pollard
