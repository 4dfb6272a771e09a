// pollard — NumPy .npy files (format 1.0, 2.0, 3.0): read a 1-D or 2-D array into a matrix of
// float or double, write any host view as float16/float32/float64 (or uint8/bool for masks).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/mask.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/mapped_file.hpp"

namespace pollard::io {

/// The descr string numpy writes for the dtypes pollard reads and writes in .npy files (all
/// little-endian): "<f2", "<f4", "<f8", "|u1", "|b1"; "?" for the others.
constexpr std::string_view npy_descr(pollard::dtype type) noexcept {
  switch (type) {
    case pollard::dtype::f16:
      return "<f2";
    case pollard::dtype::f32:
      return "<f4";
    case pollard::dtype::f64:
      return "<f8";
    case pollard::dtype::u8:
      return "|u1";
    case pollard::dtype::boolean:
      return "|b1";
    default:
      return "?";
  }
}

/// What the header of a .npy file says. A 1-D array of n elements is the matrix 1 x n.
struct npy_header {
  unsigned major_version = 1;
  unsigned minor_version = 0;
  pollard::dtype dtype = pollard::dtype::f32;
  bool fortran_order = false;
  std::vector<std::size_t> shape;  // 1 or 2 extents, as stored
  std::size_t data_offset = 0;     // bytes from the start of the file to the first element
  std::size_t data_bytes = 0;      // rows * cols * itemsize, equal to what follows the header

  index_t rows() const noexcept {
    return shape.size() == 1 ? index_t{1} : static_cast<index_t>(shape[0]);
  }
  index_t cols() const noexcept { return static_cast<index_t>(shape.back()); }
};

/// A matrix read from a .npy file: row-major values converted to T, plus the header.
template <compute_type T>
struct npy_matrix {
  npy_header header;
  std::vector<T> values;  // rows() * cols(), row-major whatever the file's order

  index_t rows() const noexcept { return header.rows(); }
  index_t cols() const noexcept { return header.cols(); }
  matrix_view<T> view() noexcept { return {values.data(), rows(), cols()}; }
  matrix_view<const T> view() const noexcept { return {values.data(), rows(), cols()}; }
};

/// How write_npy stores a matrix.
struct npy_write_options {
  pollard::dtype dtype = pollard::dtype::f32;
  bool fortran_order = false;
  /// Store a 1 x n matrix with the 1-D shape (n,) instead of (1, n).
  bool one_dimensional = false;
  /// A value beyond the range of a narrower dtype (float32 100000 as float16): error or saturate.
  overflow on_overflow = overflow::error;
};

/// Whether a reader accepts a 1-D array (as the 1 x n matrix) or requires a 2-D one.
enum class npy_rank { one_or_two, matrix };

namespace detail {

// Strict parser of the header's Python dict literal: exactly the keys 'descr', 'fortran_order'
// and 'shape', each once, in any order; a trailing comma and white space are allowed.
class npy_dict_parser {
 public:
  npy_dict_parser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  npy_header parse() {
    npy_header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_space();
    expect('{', "the header dict to start with '{'");
    skip_space();
    while (peek() != '}') {
      const std::string key = parse_string("a key");
      skip_space();
      expect(':', "':' after key '" + key + "'");
      skip_space();
      if (key == "descr") {
        if (seen_descr) fail("key 'descr' appears twice");
        seen_descr = true;
        if (peek() != '\'' && peek() != '"')
          fail("'descr' is not a string (structured dtypes are not supported)");
        h.dtype = parse_dtype(parse_string("the value of 'descr'"));
      } else if (key == "fortran_order") {
        if (seen_order) fail("key 'fortran_order' appears twice");
        seen_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (seen_shape) fail("key 'shape' appears twice");
        seen_shape = true;
        h.shape = parse_shape();
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        fail("expected ',' or '}' after the value of '" + key + "'");
      }
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dict");
    if (!seen_descr) fail("key 'descr' is missing");
    if (!seen_order) fail("key 'fortran_order' is missing");
    if (!seen_shape) fail("key 'shape' is missing");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw format_error(what_ + ": malformed .npy header: " + problem);
  }
  char peek() const noexcept { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool at_end() const noexcept { return pos_ >= text_.size(); }
  void skip_space() noexcept {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                         text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c, const std::string& expected) {
    if (at_end() || text_[pos_] != c) fail("expected " + expected);
    ++pos_;
  }

  std::string parse_string(const std::string& what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string for " + what);
    const std::size_t start = ++pos_;
    while (!at_end() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail("escape sequences are not supported in " + what);
      ++pos_;
    }
    if (at_end()) fail("unterminated string in " + what);
    std::string out(text_.substr(start, pos_ - start));
    ++pos_;
    return out;
  }

  [[noreturn]] void unsupported(const std::string& descr, const std::string& why) const {
    throw format_error(what_ + ": unsupported dtype '" + descr + "' (" + why + ")");
  }

  pollard::dtype parse_dtype(const std::string& descr) const {
    if (descr.size() < 2) unsupported(descr, "pollard reads f2, f4, f8, u1 and b1");
    const char order = descr[0];
    const std::string kind = descr.substr(1);
    if (order == '>') unsupported(descr, "big-endian");
    if (order != '<' && order != '=' && order != '|')
      unsupported(descr, "no byte-order character '<', '=' or '|'");
    pollard::dtype dtype = pollard::dtype::f32;
    if (kind == "f2") {
      dtype = pollard::dtype::f16;
    } else if (kind == "f4") {
      dtype = pollard::dtype::f32;
    } else if (kind == "f8") {
      dtype = pollard::dtype::f64;
    } else if (kind == "u1") {
      dtype = pollard::dtype::u8;
    } else if (kind == "b1") {
      dtype = pollard::dtype::boolean;
    } else {
      unsupported(descr, "pollard reads f2, f4, f8, u1 and b1");
    }
    if (order == '|' && dtype_block_bytes(dtype) != 1)
      unsupported(descr, "'|' means no byte order, which a multi-byte type needs");
    return dtype;
  }

  bool parse_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' is neither True nor False");
  }

  std::vector<std::size_t> parse_shape() {
    constexpr std::size_t max_dims = 64;  // numpy's own limit
    expect('(', "'shape' to be a tuple");
    std::vector<std::size_t> shape;
    bool trailing_comma = false;
    skip_space();
    while (peek() != ')') {
      if (shape.size() == max_dims) fail("'shape' has more than 64 dimensions");
      shape.push_back(parse_extent());
      skip_space();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        skip_space();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in 'shape'");
      }
    }
    ++pos_;
    if (shape.size() == 1 && !trailing_comma) fail("'shape' (n) is not a tuple; write (n,)");
    return shape;
  }

  std::size_t parse_extent() {
    if (at_end() || text_[pos_] < '0' || text_[pos_] > '9')
      fail("'shape' holds something other than a non-negative integer");
    std::size_t value = 0;
    while (!at_end() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::size_t>(text_[pos_] - '0');
      if (value > (static_cast<std::size_t>(std::numeric_limits<index_t>::max()) - digit) / 10)
        fail("an extent in 'shape' is too large");
      value = value * 10 + digit;
      ++pos_;
    }
    return value;
  }

  std::string_view text_;
  const std::string& what_;
  std::size_t pos_ = 0;
};

template <compute_type T>
T npy_element(const std::byte* p, pollard::dtype dtype, const narrowing_site& site) {
  switch (dtype) {
    case pollard::dtype::f16: {
      std::uint16_t bits;
      std::memcpy(&bits, p, 2);
      return static_cast<T>(pollard::detail::half_bits_to_float(bits));
    }
    case pollard::dtype::f32: {
      float v;
      std::memcpy(&v, p, 4);
      return static_cast<T>(v);
    }
    case pollard::dtype::f64: {
      double v;
      std::memcpy(&v, p, 8);
      // A NaN or infinity stays one (the caller's checks name it); a finite float64 beyond the
      // range of T is an error naming the conversion, never a silent inf.
      if (!std::isfinite(v)) return static_cast<T>(v);
      return narrow<T>(v, overflow::error, site);
    }
    case pollard::dtype::u8:
      return static_cast<T>(std::to_integer<unsigned>(*p));
    case pollard::dtype::boolean:
      return *p != std::byte{0} ? T(1) : T(0);
    default:
      return T(0);  // parse_dtype admits no other dtype
  }
}

}  // namespace detail

/// Parses and validates the header of the .npy bytes `bytes`; `what` names them in errors.
/// Throws format_error for a bad magic or version, a header that runs past the end, a header
/// that is not exactly {'descr', 'fortran_order', 'shape'}, an unsupported dtype, a shape that is
/// not 1-D or 2-D, or data whose size is not exactly rows * cols * itemsize.
inline npy_header parse_npy_header(std::span<const std::byte> bytes, const std::string& what) {
  byte_reader r(bytes, what);
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const auto m = r.read_bytes(6, "magic");
  for (std::size_t k = 0; k < 6; ++k)
    if (std::to_integer<unsigned char>(m[k]) != magic[k])
      throw format_error(what + ": not a .npy file (bad magic)");
  const unsigned major = r.read<std::uint8_t>("format version");
  const unsigned minor = r.read<std::uint8_t>("format version");
  if (major < 1 || major > 3 || minor != 0)
    throw format_error(what + ": unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + " (pollard reads 1.0, 2.0 and 3.0)");
  const std::size_t header_length =
      major == 1 ? r.read<std::uint16_t>("header length") : r.read<std::uint32_t>("header length");
  const std::string text = r.read_string(header_length, "header");

  npy_header h = detail::npy_dict_parser(text, what).parse();
  h.major_version = major;
  h.minor_version = minor;
  if (h.shape.empty()) throw format_error(what + ": 0-D arrays (scalars) are not supported");
  if (h.shape.size() > 2)
    throw format_error(what + ": shape has " + std::to_string(h.shape.size()) +
                       " dimensions; only 1-D and 2-D arrays are supported");
  std::size_t count = 1;
  for (const std::size_t extent : h.shape) count = checked_multiply(count, extent, what);
  h.data_bytes = checked_multiply(count, dtype_block_bytes(h.dtype), what);
  h.data_offset = r.offset();
  if (h.data_bytes != r.remaining())
    throw format_error(what + ": shape and dtype call for " + std::to_string(h.data_bytes) +
                       " bytes of data but " + std::to_string(r.remaining()) +
                       " follow the header");
  return h;
}

/// Reads the .npy bytes `bytes` (a whole file) into a row-major matrix of T. With
/// npy_rank::matrix a 1-D array is refused (format_error) instead of read as 1 x n. A float64
/// value beyond T's range throws narrowing_error ("W.npy: float64 value 1e+300 at (0, 1)
/// overflows float32 (largest finite ...)").
template <compute_type T>
npy_matrix<T> parse_npy(std::span<const std::byte> bytes, const std::string& what,
                        npy_rank rank = npy_rank::one_or_two) {
  npy_matrix<T> out;
  out.header = parse_npy_header(bytes, what);
  const npy_header& h = out.header;
  if (rank == npy_rank::matrix && h.shape.size() != 2)
    throw format_error(what + ": a 1-D array of shape (" + std::to_string(h.shape[0]) +
                       ",) where a matrix is required; reshape it to (1, " +
                       std::to_string(h.shape[0]) + ") or (" + std::to_string(h.shape[0]) +
                       ", 1) before saving");
  const index_t rows = h.rows(), cols = h.cols();
  const std::size_t itemsize = dtype_block_bytes(h.dtype);
  // The element count is bounded by the bytes present (checked above), so this is justified.
  out.values.resize(h.data_bytes / itemsize);
  const std::byte* data = bytes.data() + h.data_offset;
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const index_t source = h.fortran_order ? j * rows + i : i * cols + j;
      out.values[static_cast<std::size_t>(i * cols + j)] = detail::npy_element<T>(
          data + static_cast<std::size_t>(source) * itemsize, h.dtype, {what, "", i, j});
    }
  return out;
}

/// Reads the header of a .npy file only (the file is mapped, not read).
inline npy_header read_npy_header(const std::filesystem::path& path) {
  const mapped_file file(path);
  return parse_npy_header(file.bytes(), path.string());
}

/// Reads a 1-D or 2-D .npy file into a row-major matrix of T (float or double), converting from
/// the stored dtype. Errors name the file: "W.npy: unsupported dtype '>f4' (big-endian)".
/// With npy_rank::matrix only a 2-D array is accepted.
template <compute_type T>
npy_matrix<T> read_npy(const std::filesystem::path& path, npy_rank rank = npy_rank::one_or_two) {
  const mapped_file file(path);
  return parse_npy<T>(file.bytes(), path.string(), rank);
}

namespace detail {

inline std::string npy_header_text(pollard::dtype dtype, bool fortran_order,
                                   const std::vector<std::size_t>& shape) {
  std::string dict = "{'descr': '" + std::string(npy_descr(dtype)) +
                     "', 'fortran_order': " + (fortran_order ? "True" : "False") + ", 'shape': (";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (k > 0) dict += ", ";
    dict += std::to_string(shape[k]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  return dict;
}

template <class T>
void npy_store(std::byte* out, T value, pollard::dtype dtype, overflow on_overflow,
               std::string_view what, index_t i, index_t j) {
  const narrowing_site site{"write_npy", what, i, j};
  const auto fail = [&](const char* as) {
    throw option_error("write_npy: value " + std::to_string(to_compute<double>(value)) + " at (" +
                       std::to_string(i) + ", " + std::to_string(j) + ") cannot be stored as " +
                       as);
  };
  switch (dtype) {
    case pollard::dtype::f16: {
      std::uint16_t bits;
      if constexpr (is_narrowing_v<T, half>)
        bits = narrow<half>(value, on_overflow, site).bits;
      else
        bits = half(to_compute<float>(value)).bits;
      std::memcpy(out, &bits, 2);
      return;
    }
    case pollard::dtype::f32: {
      float v;
      if constexpr (is_narrowing_v<T, float>)
        v = narrow<float>(value, on_overflow, site);
      else
        v = to_compute<float>(value);
      std::memcpy(out, &v, 4);
      return;
    }
    case pollard::dtype::f64: {
      const double v = to_compute<double>(value);
      std::memcpy(out, &v, 8);
      return;
    }
    case pollard::dtype::u8: {
      const double v = to_compute<double>(value);
      if (!(v >= 0.0 && v <= 255.0 && v == std::floor(v))) fail("uint8");
      *out = static_cast<std::byte>(static_cast<unsigned>(v));
      return;
    }
    case pollard::dtype::boolean: {
      const double v = to_compute<double>(value);
      if (v != 0.0 && v != 1.0) fail("bool");
      *out = v != 0.0 ? std::byte{1} : std::byte{0};
      return;
    }
    default:
      throw option_error(
          "write_npy: pollard writes .npy files as float16, float32, float64, "
          "uint8 or bool, not " +
          std::string(dtype_long_name(dtype)));
  }
}

// Streams header and elements of m to sink(const std::byte*, size_t) in chunks.
template <class T, class Sink>
void encode_npy_to(matrix_view<T, host_space> m, const npy_write_options& options, Sink&& sink,
                   std::string_view what = {}) {
  if (m.rows() < 0 || m.cols() < 0) throw shape_error("write_npy: negative shape");
  if (options.one_dimensional && m.rows() != 1)
    throw shape_error("write_npy: a 1-D array needs one row, the matrix has " +
                      std::to_string(m.rows()));
  std::vector<std::size_t> shape;
  if (!options.one_dimensional) shape.push_back(static_cast<std::size_t>(m.rows()));
  shape.push_back(static_cast<std::size_t>(m.cols()));
  const std::string header = npy_header_text(options.dtype, options.fortran_order, shape);
  std::vector<std::byte> chunk(10);
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(chunk.data(), magic, 8);
  const auto length = static_cast<std::uint16_t>(header.size());
  std::memcpy(chunk.data() + 8, &length, 2);
  sink(chunk.data(), chunk.size());
  sink(reinterpret_cast<const std::byte*>(header.data()), header.size());

  const std::size_t itemsize = dtype_block_bytes(options.dtype);
  constexpr std::size_t chunk_bytes = std::size_t{1} << 16;
  chunk.resize(chunk_bytes);
  std::size_t used = 0;
  const index_t outer = options.fortran_order ? m.cols() : m.rows();
  const index_t inner = options.fortran_order ? m.rows() : m.cols();
  for (index_t a = 0; a < outer; ++a)
    for (index_t b = 0; b < inner; ++b) {
      const index_t i = options.fortran_order ? b : a;
      const index_t j = options.fortran_order ? a : b;
      if (used + itemsize > chunk_bytes) {
        sink(chunk.data(), used);
        used = 0;
      }
      npy_store(chunk.data() + used, static_cast<std::remove_const_t<T>>(m(i, j)), options.dtype,
                options.on_overflow, what, i, j);
      used += itemsize;
    }
  sink(chunk.data(), used);
}

}  // namespace detail

/// The bytes of a version 1.0 .npy file holding m (any strides; T float, double, half or
/// bfloat16). Throws option_error when a value does not fit uint8 / bool exactly.
template <class T>
requires storage_type<std::remove_cv_t<T>> std::vector<std::byte> encode_npy(
    matrix_view<T, host_space> m, npy_write_options options = {}) {
  std::vector<std::byte> out;
  detail::encode_npy_to(
      m, options, [&](const std::byte* p, std::size_t n) { out.insert(out.end(), p, p + n); });
  return out;
}

/// Writes m to `path` as a version 1.0 .npy file (header padded to 64 bytes), through a
/// temporary renamed into place: on any error the destination is left untouched.
template <class T>
requires storage_type<std::remove_cv_t<T>>
void write_npy(const std::filesystem::path& path, matrix_view<T, host_space> m,
               npy_write_options options = {}) {
  atomic_file file(path);
  const std::string name = path.string();
  detail::encode_npy_to(
      m, options, [&](const std::byte* p, std::size_t n) { file.write(p, n); }, name);
  file.commit();
}

namespace detail {

inline std::vector<float> pruned_flags(const mask& pattern) {
  std::vector<float> values(static_cast<std::size_t>(pattern.size()));
  for (std::size_t k = 0; k < values.size(); ++k) values[k] = pattern.flags()[k] != 0 ? 1.0f : 0.0f;
  return values;
}

}  // namespace detail

/// The bytes of a .npy file holding a mask as d_out x d_in with the polarity of pollard::mask:
/// 1 = pruned, 0 = kept (so W[mask == 1] = 0 gives the pruned W, as the reference
/// implementations apply their W_mask); dtype uint8 by default, or bool / any float type.
inline std::vector<std::byte> encode_npy(const mask& pattern,
                                         npy_write_options options = {pollard::dtype::u8}) {
  const std::vector<float> values = detail::pruned_flags(pattern);
  return encode_npy(matrix_view<const float>(values.data(), pattern.rows(), pattern.cols()),
                    options);
}

/// Writes a mask as encode_npy(mask) lays it out (1 = pruned), through a temporary file.
inline void write_npy(const std::filesystem::path& path, const mask& pattern,
                      npy_write_options options = {pollard::dtype::u8}) {
  const std::vector<float> values = detail::pruned_flags(pattern);
  write_npy(path, matrix_view<const float>(values.data(), pattern.rows(), pattern.cols()), options);
}

}  // namespace pollard::io
