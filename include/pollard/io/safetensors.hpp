// pollard — safetensors reader and writer (the Hugging Face format: u64 header length,
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, raw data).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/io/mapped_file.hpp"

namespace pollard::io {

/// The dtype string safetensors stores ("F32", "BF16", "BOOL") for the dtypes it has; "?" for
/// the block-quantised ones, which it does not.
inline constexpr std::string_view safetensors_dtype_name(pollard::dtype t) noexcept {
  switch (t) {
    case pollard::dtype::f64:
      return "F64";
    case pollard::dtype::f32:
      return "F32";
    case pollard::dtype::f16:
      return "F16";
    case pollard::dtype::bf16:
      return "BF16";
    case pollard::dtype::i64:
      return "I64";
    case pollard::dtype::i32:
      return "I32";
    case pollard::dtype::i16:
      return "I16";
    case pollard::dtype::i8:
      return "I8";
    case pollard::dtype::u8:
      return "U8";
    case pollard::dtype::boolean:
      return "BOOL";
    default:
      return "?";
  }
}

/// One tensor of a safetensors file: its bytes point into the file's mapping.
struct safetensors_tensor {
  std::string name;
  pollard::dtype dtype = pollard::dtype::f32;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data;

  std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// A parsed safetensors file (header validated as the format requires: known dtypes, sizes
/// matching shapes, data offsets in bounds, covering the data section without gaps or overlap).
class safetensors_file {
 public:
  /// The largest header the reference implementation accepts.
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  explicit safetensors_file(const std::filesystem::path& path)
      : file_(std::make_shared<mapped_file>(path)) {
    parse(file_->bytes(), path.filename().string());
  }
  /// Parses bytes owned by the caller, who must keep them alive.
  safetensors_file(std::span<const std::byte> bytes, std::string what) { parse(bytes, what); }

  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  const std::vector<safetensors_tensor>& tensors() const noexcept { return tensors_; }

  const safetensors_tensor* find(std::string_view name) const noexcept {
    for (const auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  const safetensors_tensor& at(std::string_view name) const {
    if (const auto* t = find(name)) return *t;
    throw format_error(what_ + ": no tensor named '" + std::string(name) + "'");
  }

  /// The tensor's values converted to float (F32, F16, BF16, F64 only).
  std::vector<float> read_float(std::string_view name) const { return to_float(at(name), what_); }

  static std::vector<float> to_float(const safetensors_tensor& t, const std::string& what) {
    std::vector<float> out(static_cast<std::size_t>(t.elements()));
    const std::byte* p = t.data.data();
    for (std::size_t k = 0; k < out.size(); ++k) {
      switch (t.dtype) {
        case pollard::dtype::f32:
          std::memcpy(&out[k], p + 4 * k, 4);
          break;
        case pollard::dtype::f64: {
          double d;
          std::memcpy(&d, p + 8 * k, 8);
          out[k] = static_cast<float>(d);
          break;
        }
        case pollard::dtype::f16:
        case pollard::dtype::bf16: {
          std::uint16_t b;
          std::memcpy(&b, p + 2 * k, 2);
          out[k] = t.dtype == pollard::dtype::f16 ? static_cast<float>(half::from_bits(b))
                                                  : static_cast<float>(bfloat16::from_bits(b));
          break;
        }
        default:
          throw format_error(what + ": tensor '" + t.name + "' has dtype " +
                             std::string(safetensors_dtype_name(t.dtype)) +
                             ", which cannot be read as float");
      }
    }
    return out;
  }

 private:
  static pollard::dtype parse_dtype(const std::string& s, const std::string& where) {
    for (int k = 0; k <= static_cast<int>(pollard::dtype::boolean); ++k) {
      const auto t = static_cast<pollard::dtype>(k);
      if (s == safetensors_dtype_name(t)) return t;
    }
    throw format_error(where + ": unsupported dtype '" + s + "'");
  }

  void parse(std::span<const std::byte> bytes, const std::string& what) {
    what_ = what;
    byte_reader r(bytes, what);
    const auto header_size = r.read<std::uint64_t>("header length");
    if (header_size > max_header_bytes)
      r.fail("header length " + std::to_string(header_size) + " exceeds the format's limit");
    const std::string header = r.read_string(static_cast<std::size_t>(header_size), "header");
    const json_value root = parse_json_at(header, sizeof(std::uint64_t), what + " header");
    const std::size_t data_begin = r.offset();
    const std::size_t data_size = r.remaining();

    struct range {
      std::uint64_t begin, end;
      std::size_t index;
    };
    std::vector<range> ranges;
    for (const auto& [name, entry] : root.as_object(what + ": header")) {
      const std::string where = what + ": tensor '" + name + "'";
      if (name == "__metadata__") {
        for (const auto& [key, value] : entry.as_object(what + ": __metadata__"))
          metadata_[key] = value.as_string(what + ": __metadata__ value of '" + key + "'");
        continue;
      }
      safetensors_tensor t;
      t.name = name;
      const auto* dtype = entry.find("dtype");
      const auto* shape = entry.find("shape");
      const auto* offsets = entry.find("data_offsets");
      if (!dtype || !shape || !offsets)
        throw format_error(where + " needs dtype, shape and data_offsets");
      t.dtype = parse_dtype(dtype->as_string(where + " dtype"), where);
      std::size_t elements = 1;
      for (const auto& d : shape->as_array(where + " shape")) {
        const auto extent = d.as_size(where + " shape entry");
        elements = checked_multiply(elements, static_cast<std::size_t>(extent), where);
        t.shape.push_back(extent);
      }
      const auto& off = offsets->as_array(where + " data_offsets");
      if (off.size() != 2) throw format_error(where + " data_offsets must have two entries");
      const auto begin = off[0].as_size(where + " data_offsets[0]");
      const auto end = off[1].as_size(where + " data_offsets[1]");
      if (begin > end || end > data_size)
        throw format_error(where + " data_offsets [" + std::to_string(begin) + ", " +
                           std::to_string(end) + ") fall outside the " + std::to_string(data_size) +
                           " bytes of data");
      const std::size_t expected = checked_multiply(elements, dtype_block_bytes(t.dtype), where);
      if (end - begin != expected)
        throw format_error(where + " holds " + std::to_string(end - begin) +
                           " bytes but its shape and dtype need " + std::to_string(expected));
      t.data = bytes.subspan(data_begin + static_cast<std::size_t>(begin),
                             static_cast<std::size_t>(end - begin));
      ranges.push_back({begin, end, tensors_.size()});
      tensors_.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const range& a, const range& b) { return a.begin < b.begin; });
    std::uint64_t covered = 0;
    for (const auto& rg : ranges) {
      if (rg.begin != covered)
        throw format_error(what + ": tensor '" + tensors_[rg.index].name +
                           "' data does not follow the previous tensor (gap or overlap)");
      covered = rg.end;
    }
    if (covered != data_size)
      throw format_error(what + ": " + std::to_string(data_size - covered) +
                         " bytes of data belong to no tensor");
  }

  std::shared_ptr<mapped_file> file_;
  std::string what_;
  std::map<std::string, std::string> metadata_;
  std::vector<safetensors_tensor> tensors_;
};

/// A tensor to write, row-major `shape`: float `values` stored as dtype F32, F16 or BF16, or its
/// little-endian bytes in `raw`, copied as they are (any dtype; the only way for integer, bool and
/// F64 tensors).
struct safetensors_output {
  std::string name;
  pollard::dtype dtype = pollard::dtype::f32;
  std::vector<std::uint64_t> shape;
  std::span<const float> values;
  /// A value beyond F16/BF16's range: error (naming the tensor and position) or saturate.
  overflow on_overflow = overflow::error;
  std::span<const std::byte> raw = {};

  bool is_float() const noexcept {
    return dtype == pollard::dtype::f32 || dtype == pollard::dtype::f16 ||
           dtype == pollard::dtype::bf16;
  }
};

/// Writes a safetensors file (tensors in the given order, header padded with spaces to a
/// multiple of 8 bytes as the reference writer does) through a temporary file.
inline void write_safetensors(const std::filesystem::path& path,
                              const std::vector<safetensors_output>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      header += json_string(k) + ":" + json_string(v);
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const bool from_values = t.is_float() && t.raw.empty();
    if (safetensors_dtype_name(t.dtype) == "?" || (t.dtype == pollard::dtype::f64 && t.raw.empty()))
      throw option_error("write_safetensors: tensor '" + t.name +
                         "' must be F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL (or F64 bytes)");
    std::uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    const std::uint64_t bytes = elements * dtype_block_bytes(t.dtype);
    if (from_values ? elements != t.values.size() : bytes != t.raw.size() || !t.values.empty())
      throw shape_error("write_safetensors: tensor '" + t.name + "' has " +
                        std::to_string(from_values ? t.values.size() : t.raw.size()) +
                        (from_values ? " values" : " bytes") + " but its shape needs " +
                        std::to_string(from_values ? elements : bytes));
    if (!metadata.empty() || !first) header += ',';
    first = false;
    header += json_string(t.name) + ":{\"dtype\":\"" +
              std::string(safetensors_dtype_name(t.dtype)) + "\",\"shape\":[";
    for (std::size_t k = 0; k < t.shape.size(); ++k)
      header += (k ? "," : "") + std::to_string(t.shape[k]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';

  atomic_file out(path);
  const std::uint64_t header_size = header.size();
  out.write(&header_size, sizeof header_size);
  out.write(header.data(), header.size());
  std::vector<std::byte> buffer;
  for (const auto& t : tensors) {
    if (!t.is_float() || !t.raw.empty()) {
      out.write(t.raw);
      continue;
    }
    const std::size_t size = dtype_block_bytes(t.dtype);
    buffer.resize(t.values.size() * size);
    // Position (row, column) of element k: the last extent is the column.
    const std::uint64_t cols = t.shape.empty() || t.shape.back() == 0 ? 1 : t.shape.back();
    const std::string what = "tensor '" + t.name + "'";
    for (std::size_t k = 0; k < t.values.size(); ++k) {
      if (t.dtype == pollard::dtype::f32) {
        std::memcpy(&buffer[4 * k], &t.values[k], 4);
      } else {
        const narrowing_site site{"write_safetensors", what, static_cast<index_t>(k / cols),
                                  static_cast<index_t>(k % cols)};
        const std::uint16_t b = t.dtype == pollard::dtype::f16
                                    ? narrow<half>(t.values[k], t.on_overflow, site).bits
                                    : narrow<bfloat16>(t.values[k], t.on_overflow, site).bits;
        std::memcpy(&buffer[2 * k], &b, 2);
      }
    }
    out.write(buffer);
  }
  out.commit();
}

}  // namespace pollard::io
