// pollard — the key/value cache of one sequence for incremental decoding.
#pragma once

#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/llm/llama_weights.hpp"

namespace pollard::llm {

/// Keys and values (after RoPE for keys) of positions [0, length()) for every layer, each layer
/// a [capacity x kv_dim] row-major matrix; row p holds position p.
class kv_cache {
 public:
  kv_cache() = default;
  /// Room for `capacity` positions (at most config.seq_len is typical, not enforced).
  kv_cache(const llama_config& config, index_t capacity) : capacity_(capacity) {
    config.validate();
    if (capacity <= 0)
      throw option_error("kv_cache: capacity must be positive, got " + std::to_string(capacity));
    keys_.assign(static_cast<std::size_t>(config.n_layers),
                 row_matrix::Zero(capacity, config.kv_dim()));
    values_ = keys_;
  }

  index_t capacity() const noexcept { return capacity_; }
  index_t length() const noexcept { return length_; }
  index_t n_layers() const noexcept { return static_cast<index_t>(keys_.size()); }
  /// Forgets every position (the storage is kept).
  void clear() noexcept { length_ = 0; }

  row_matrix& keys(index_t layer) { return keys_.at(static_cast<std::size_t>(layer)); }
  row_matrix& values(index_t layer) { return values_.at(static_cast<std::size_t>(layer)); }
  const row_matrix& keys(index_t layer) const { return keys_.at(static_cast<std::size_t>(layer)); }
  const row_matrix& values(index_t layer) const {
    return values_.at(static_cast<std::size_t>(layer));
  }

  /// Marks n more positions as filled (the forward pass writes them first).
  void advance(index_t n) {
    if (n < 0 || length_ + n > capacity_)
      throw option_error("kv_cache: " + std::to_string(length_) + " + " + std::to_string(n) +
                         " positions exceed the capacity " + std::to_string(capacity_));
    length_ += n;
  }

 private:
  index_t capacity_ = 0;
  index_t length_ = 0;
  std::vector<row_matrix> keys_, values_;
};

}  // namespace pollard::llm
