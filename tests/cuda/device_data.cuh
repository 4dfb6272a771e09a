// Test support for the CUDA tests: host matrices copied to and from the device.
#pragma once

#include <span>
#include <vector>

#include "pollard/backends/cuda/device_buffer.cuh"
#include "pollard/core/mask.hpp"
#include "support/random.hpp"

namespace pollard::test {

/// A device copy of a host matrix, with its row-major device view.
template <class T>
struct device_matrix {
  index_t rows = 0, cols = 0;
  cuda::device_buffer<T> buffer;

  explicit device_matrix(const dense_matrix<T>& host)
      : rows(host.rows), cols(host.cols), buffer(std::span<const T>(host.values)) {}
  device_matrix(index_t r, index_t c) : rows(r), cols(c), buffer(static_cast<std::size_t>(r * c)) {}

  device_view<T> view() const { return buffer.view(rows, cols); }
  dense_matrix<T> to_host() const {
    dense_matrix<T> out(rows, cols);
    out.values = buffer.download();
    return out;
  }
};

/// Entries where two masks differ.
inline index_t mask_differences(const mask& a, const mask& b) {
  index_t n = 0;
  for (std::size_t k = 0; k < a.flags().size(); ++k) n += a.flags()[k] != b.flags()[k] ? 1 : 0;
  return n;
}

}  // namespace pollard::test
