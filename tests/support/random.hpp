// Test support: seeded random matrices.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "pollard/core/matrix_view.hpp"

namespace pollard::test {

/// A row-major rows x cols matrix that owns its storage, with a view onto it.
template <class T>
struct dense_matrix {
  index_t rows = 0, cols = 0;
  std::vector<T> values;

  dense_matrix() = default;
  dense_matrix(index_t r, index_t c) : rows(r), cols(c), values(static_cast<std::size_t>(r * c)) {}
  T& operator()(index_t i, index_t j) { return values[static_cast<std::size_t>(i * cols + j)]; }
  const T& operator()(index_t i, index_t j) const {
    return values[static_cast<std::size_t>(i * cols + j)];
  }
  matrix_view<T> view() { return {values.data(), rows, cols}; }
  matrix_view<const T> view() const { return {values.data(), rows, cols}; }
};

/// Standard-normal entries from a fixed seed.
template <class T>
dense_matrix<T> random_normal(index_t rows, index_t cols, std::uint64_t seed, T scale = T(1)) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  dense_matrix<T> m(rows, cols);
  for (auto& v : m.values) v = static_cast<T>(scale * static_cast<T>(dist(rng)));
  return m;
}

/// Scores drawn from {0, 1, ..., levels - 1}: many exact ties.
template <class T>
dense_matrix<T> tied_scores(index_t rows, index_t cols, int levels, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(0, levels - 1);
  dense_matrix<T> m(rows, cols);
  for (auto& v : m.values) v = static_cast<T>(dist(rng));
  return m;
}

}  // namespace pollard::test
