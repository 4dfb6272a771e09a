// pollard — pruned weights written to safetensors in a compressed sparse layout for inference
// engines, and read back dense.
//
// A weight NAME (".weight" suffix dropped: PREFIX) in layout
//   sparse-24-bitmask (compressed-tensors' Sparse24BitMaskCompressor, read by vLLM):
//     PREFIX.shape      I64 [2, 1]      rows, cols
//     PREFIX.compressed value dtype, [rows, cols / 2]
//     PREFIX.bitmask    U8  [rows, ceil(cols / 8)]
//   csr (torch.sparse_csr_tensor's arrays):
//     PREFIX.shape I64 [2]; PREFIX.crow_indices I64 [rows + 1]; PREFIX.col_indices I64 [nnz];
//     PREFIX.values value dtype [nnz]
// Tensors not marked for compression are written as they are. The file's __metadata__ holds
// "format": "pt" and "sparsity_format": the layout's name.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/dtype.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/io/csr_matrix.hpp"
#include "pollard/io/safetensors.hpp"
#include "pollard/io/sparse_24_bitmask.hpp"

namespace pollard::io {

/// How the pruned weights are stored.
enum class sparse_layout { sparse_24_bitmask, csr };

/// "sparse-24-bitmask" or "csr".
inline std::string_view sparse_layout_name(sparse_layout layout) noexcept {
  return layout == sparse_layout::csr ? "csr" : "sparse-24-bitmask";
}

/// The layout named `name` ("sparse-24-bitmask" or "csr"); std::nullopt for any other name.
inline std::optional<sparse_layout> parse_sparse_layout(std::string_view name) noexcept {
  if (name == "sparse-24-bitmask") return sparse_layout::sparse_24_bitmask;
  if (name == "csr") return sparse_layout::csr;
  return std::nullopt;
}

/// One tensor for write_sparse_safetensors: float values, row-major `shape`; `compress` marks a
/// 2-D pruned weight to store in the sparse layout.
struct sparse_safetensors_input {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::span<const float> values;
  bool compress = false;
};

namespace detail {

inline std::string sparse_prefix(std::string_view name) {
  constexpr std::string_view suffix = ".weight";
  if (name.size() > suffix.size() && name.ends_with(suffix))
    return std::string(name.substr(0, name.size() - suffix.size()));
  return std::string(name);
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

}  // namespace detail

/// Writes `tensors` to a safetensors file at `path` (through a temporary, renamed when whole),
/// the ones marked `compress` in `layout`, every float stored as `value_dtype` (F32, F16 or BF16;
/// a value beyond F16/BF16's range is an error naming it). Throws shape_error for a compressed
/// tensor that is not 2-D or whose values do not fill its shape, option_error for a tensor that
/// is not 2:4 sparse in the sparse-24-bitmask layout or for two tensors with the same output
/// name, non_finite_error on NaN/Inf. Nothing is written when it throws.
inline void write_sparse_safetensors(const std::filesystem::path& path,
                                     const std::vector<sparse_safetensors_input>& tensors,
                                     sparse_layout layout,
                                     pollard::dtype value_dtype = pollard::dtype::f32) {
  // Owners of the arrays the outputs point into; a std::vector of vectors would move them.
  std::vector<std::unique_ptr<sparse_24_bitmask>> packed;
  std::vector<std::unique_ptr<csr_matrix>> rows_compressed;
  std::vector<std::unique_ptr<std::vector<std::int64_t>>> shapes;
  std::vector<safetensors_output> out;
  std::set<std::string> names;
  auto add = [&](safetensors_output o) {
    if (!names.insert(o.name).second)
      throw option_error("write_sparse_safetensors: two tensors would be written as '" + o.name +
                         "'");
    out.push_back(std::move(o));
  };
  for (const auto& t : tensors) {
    if (!t.compress) {
      add({t.name, value_dtype, t.shape, t.values});
      continue;
    }
    if (t.shape.size() != 2)
      throw shape_error("write_sparse_safetensors: tensor '" + t.name + "' has " +
                        std::to_string(t.shape.size()) + " dimensions; only 2-D weights compress");
    const auto rows = static_cast<index_t>(t.shape[0]);
    const auto cols = static_cast<index_t>(t.shape[1]);
    if (static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) != t.values.size())
      throw shape_error("write_sparse_safetensors: tensor '" + t.name + "' has " +
                        std::to_string(t.values.size()) + " values for shape " +
                        shape_text(rows, cols));
    const matrix_view<const float> w(t.values.data(), rows, cols);
    const std::string prefix = detail::sparse_prefix(t.name);
    shapes.push_back(
        std::make_unique<std::vector<std::int64_t>>(std::vector<std::int64_t>{rows, cols}));
    const auto shape_bytes = detail::bytes_of(*shapes.back());
    const auto r = static_cast<std::uint64_t>(rows);
    if (layout == sparse_layout::sparse_24_bitmask) {
      packed.push_back(std::make_unique<sparse_24_bitmask>(compress_sparse_24_bitmask(w, t.name)));
      const auto& p = *packed.back();
      add({prefix + ".shape", pollard::dtype::i64, {2, 1}, {}, overflow::error, shape_bytes});
      add({prefix + ".compressed",
           value_dtype,
           {r, static_cast<std::uint64_t>(cols / 2)},
           p.values});
      add({prefix + ".bitmask",
           pollard::dtype::u8,
           {r, static_cast<std::uint64_t>(p.bitmask_cols())},
           {},
           overflow::error,
           detail::bytes_of(p.bitmask)});
    } else {
      rows_compressed.push_back(std::make_unique<csr_matrix>(compress_csr(w, t.name)));
      const auto& c = *rows_compressed.back();
      const auto nnz = static_cast<std::uint64_t>(c.nonzeros());
      add({prefix + ".shape", pollard::dtype::i64, {2}, {}, overflow::error, shape_bytes});
      add({prefix + ".crow_indices",
           pollard::dtype::i64,
           {r + 1},
           {},
           overflow::error,
           detail::bytes_of(c.row_offsets)});
      add({prefix + ".col_indices",
           pollard::dtype::i64,
           {nnz},
           {},
           overflow::error,
           detail::bytes_of(c.column_indices)});
      add({prefix + ".values", value_dtype, {nnz}, c.values});
    }
  }
  write_safetensors(
      path, out, {{"format", "pt"}, {"sparsity_format", std::string(sparse_layout_name(layout))}});
}

/// One tensor of a sparse safetensors file, dense again.
struct dense_tensor {
  std::vector<std::uint64_t> shape;
  std::vector<float> values;
};

namespace detail {

inline const safetensors_tensor& sparse_part(const safetensors_file& f, const std::string& name,
                                             pollard::dtype dtype, std::size_t rank) {
  const auto& t = f.at(name);
  if (t.dtype != dtype || t.shape.size() != rank)
    throw format_error("read_sparse_safetensors: '" + name + "' must be a " + std::to_string(rank) +
                       "-D " + std::string(safetensors_dtype_name(dtype)) + " tensor");
  return t;
}

template <class T>
std::vector<T> copy_elements(const safetensors_tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(T));
  return v;
}

// rows and cols from PREFIX.shape; a CSR file's size does not bound its dense size, so the dense
// matrix is capped at max_dense_elements (4 GiB of float: above every linear of a 70B model).
inline constexpr std::int64_t max_dense_elements = std::int64_t{1} << 30;

inline std::pair<index_t, index_t> sparse_shape(const safetensors_file& f,
                                                const std::string& prefix) {
  const auto& t = f.at(prefix + ".shape");
  if (t.dtype != pollard::dtype::i64 || t.elements() != 2)
    throw format_error("read_sparse_safetensors: '" + prefix + ".shape' must hold 2 I64 values");
  const auto v = copy_elements<std::int64_t>(t);
  if (v[0] < 0 || v[1] < 0 || (v[0] > 0 && v[1] > max_dense_elements / v[0]))
    throw format_error("read_sparse_safetensors: '" + prefix + ".shape' holds " +
                       std::to_string(v[0]) + " x " + std::to_string(v[1]) +
                       "; a dense tensor of at most 2^30 elements is read");
  return {v[0], v[1]};
}

}  // namespace detail

/// Every tensor of a file written by write_sparse_safetensors (or compressed-tensors'
/// sparse-24-bitmask), by name, the compressed ones expanded to dense and named PREFIX.weight.
/// Throws format_error naming the part that is missing, mistyped or inconsistent (the sizes of
/// all parts are checked against the stored shape before anything is expanded) or a compressed
/// tensor of more than 2^30 elements.
inline std::map<std::string, dense_tensor> read_sparse_safetensors(
    const std::filesystem::path& path) {
  const safetensors_file f(path);
  std::map<std::string, dense_tensor> result;
  std::set<std::string> consumed;
  auto add = [&](const std::string& name, dense_tensor t) {
    if (!result.emplace(name, std::move(t)).second)
      throw format_error("read_sparse_safetensors: '" + name + "' is stored twice");
  };
  for (const auto& t : f.tensors()) {
    const std::string& name = t.name;
    const bool bitmask = name.ends_with(".bitmask");
    if (!bitmask && !name.ends_with(".crow_indices")) continue;
    const std::string prefix = name.substr(0, name.rfind('.'));
    const auto [rows, cols] = detail::sparse_shape(f, prefix);
    matrix<float> dense;
    if (bitmask) {
      sparse_24_bitmask s{
          rows, cols, f.read_float(prefix + ".compressed"),
          detail::copy_elements<std::uint8_t>(detail::sparse_part(f, name, pollard::dtype::u8, 2))};
      dense = decompress(s);
      consumed.insert({prefix + ".compressed", name});
    } else {
      csr_matrix c{
          rows, cols,
          detail::copy_elements<std::int64_t>(detail::sparse_part(f, name, pollard::dtype::i64, 1)),
          detail::copy_elements<std::int64_t>(
              detail::sparse_part(f, prefix + ".col_indices", pollard::dtype::i64, 1)),
          f.read_float(prefix + ".values")};
      dense = decompress(c);
      consumed.insert({prefix + ".col_indices", prefix + ".values", name});
    }
    consumed.insert(prefix + ".shape");
    add(prefix + ".weight", {{static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols)},
                             std::move(dense.values())});
  }
  for (const auto& t : f.tensors())
    if (!consumed.contains(t.name)) add(t.name, {t.shape, f.read_float(t.name)});
  return result;
}

}  // namespace pollard::io
