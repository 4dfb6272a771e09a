// pollard — GGUF metadata: key -> typed value, in file order.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/gguf/value.hpp"

namespace pollard::io {

/// GGUF metadata: key -> value in file order, each value with its exact type.
class gguf_metadata {
 public:
  using entry = std::pair<std::string, gguf_value>;

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }
  const std::vector<entry>& entries() const noexcept { return entries_; }

  const gguf_value* find(std::string_view key) const {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  bool contains(std::string_view key) const { return index_.find(key) != index_.end(); }

  /// The value of `key`; format_error when the key is missing.
  const gguf_value& at(std::string_view key) const {
    if (const auto* v = find(key)) return *v;
    throw format_error("GGUF metadata has no key " + std::string(key));
  }
  /// The value of `key` as T; format_error when missing or of another type.
  template <class T>
  const T& get(std::string_view key) const {
    const gguf_value& v = at(key);
    if (!v.holds<T>())
      throw format_error("GGUF metadata key " + std::string(key) + " is " +
                         gguf_value_type_name(v.type()) + ", not the type asked for");
    return v.get<T>();
  }

  /// Replaces the value of an existing key where it stands, or appends a new key.
  void set(std::string key, gguf_value value) {
    if (const auto it = index_.find(key); it != index_.end()) {
      entries_[it->second].second = std::move(value);
      return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(value));
  }
  /// Appends a key; false (and nothing changed) when it is already present.
  bool insert(std::string key, gguf_value value) {
    if (contains(key)) return false;
    set(std::move(key), std::move(value));
    return true;
  }
  bool erase(std::string_view key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
    index_.clear();
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
    return true;
  }

  /// Equal when the same keys hold the same typed values in the same order.
  friend bool operator==(const gguf_metadata& a, const gguf_metadata& b) {
    return a.entries_ == b.entries_;
  }

 private:
  std::vector<entry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace pollard::io
