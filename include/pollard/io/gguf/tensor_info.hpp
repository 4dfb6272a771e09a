// pollard — a GGUF tensor's description, a tensor read as float, and the format's constants.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/gguf/quant.hpp"

namespace pollard::io {

/// One tensor's description in a GGUF file.
struct gguf_tensor_info {
  std::string name;
  std::vector<std::uint64_t> dims;  ///< ne[0] first: the fastest-varying (column) index
  ggml_type type = ggml_type::f32;
  std::uint64_t offset = 0;  ///< from the start of the data section; a multiple of the alignment
  std::uint64_t bytes = 0;   ///< size of the stored data

  std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (const auto d : dims) n *= d;  // validated not to overflow when read
    return n;
  }
};

/// A tensor read as float, with its GGUF dims (ne[0] first).
struct gguf_tensor {
  std::vector<float> values;
  std::vector<std::uint64_t> dims;
};

/// A row-major float matrix; a GGUF tensor with dims (ne0, ne1, ...) has ne0 columns.
using gguf_matrix = matrix<float>;

/// The rows and columns of a tensor seen as a matrix (gguf_file::matrix_shape_of).
struct gguf_matrix_shape {
  index_t rows = 0;
  index_t cols = 0;
};

inline constexpr std::uint32_t gguf_magic = 0x46554747;  // "GGUF" read as little-endian
inline constexpr std::size_t gguf_default_alignment = 32;
inline constexpr std::size_t gguf_max_dims = 4;
inline constexpr int gguf_max_array_nesting = 16;

namespace detail {

inline bool valid_gguf_alignment(std::uint64_t a) noexcept {
  return a != 0 && std::has_single_bit(a);
}

inline std::size_t align_up(std::size_t n, std::size_t alignment, std::string_view what) {
  const std::size_t rest = n % alignment;
  return rest == 0 ? n : checked_add(n, alignment - rest, what);
}

}  // namespace detail

}  // namespace pollard::io
