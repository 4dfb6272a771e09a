// pollard — writes GGUF v3 files of F32/F16/BF16 tensors, keeping every metadata key, in order,
// with its type.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/gguf/metadata.hpp"
#include "pollard/io/gguf/quant.hpp"
#include "pollard/io/gguf/tensor_info.hpp"
#include "pollard/io/gguf/value.hpp"

namespace pollard::io {

/// A tensor to write: float values (ne[0] fastest) stored as F32, F16 or BF16.
struct gguf_tensor_view {
  std::string name;
  std::vector<std::uint64_t> dims;  ///< ne[0] first
  ggml_type type = ggml_type::f32;  ///< the stored type: f32, f16 or bf16
  std::span<const float> values;
  /// A value beyond F16/BF16's range: error (naming the tensor and position) or saturate.
  overflow on_overflow = overflow::error;
};

namespace detail {

class gguf_header_writer {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put(static_cast<std::uint64_t>(s.size()));
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  void put_array(const gguf_array& a) {
    put(static_cast<std::uint32_t>(a.element_type()));
    put(static_cast<std::uint64_t>(a.size()));
    std::visit(
        [this](const auto& items) {
          for (const auto& item : items) put_item(item);
        },
        a.items());
  }
  void put_value(const gguf_value& v) {
    std::visit([this](const auto& x) { put_item(x); }, v.data());
  }
  std::vector<std::byte>& bytes() noexcept { return out_; }

 private:
  template <class T>
  void put_item(const T& x) {
    if constexpr (std::is_same_v<T, std::string>) {
      put_string(x);
    } else if constexpr (std::is_same_v<T, gguf_array>) {
      put_array(x);
    } else if constexpr (std::is_same_v<T, bool> ||
                         std::is_same_v<T, std::vector<bool>::const_reference>) {
      put(static_cast<std::uint8_t>(static_cast<bool>(x) ? 1 : 0));
    } else {
      put(x);
    }
  }

  std::vector<std::byte> out_;
};

}  // namespace detail

/// Writes a GGUF v3 file through a temporary renamed into place: every metadata key in order with
/// its type, then the tensors, each padded to the alignment (general.alignment, default 32).
/// Throws option_error for a tensor type other than F32/F16/BF16, a bad alignment or a repeated
/// tensor name, shape_error when a tensor's values do not match its dims; nothing is written then.
inline void write_gguf(const std::filesystem::path& path, const gguf_metadata& metadata,
                       std::span<const gguf_tensor_view> tensors) {
  const std::string where = "write_gguf " + path.string();
  std::size_t alignment = gguf_default_alignment;
  if (const auto* a = metadata.find("general.alignment")) {
    if (!a->holds<std::uint32_t>() || !detail::valid_gguf_alignment(a->get<std::uint32_t>()))
      throw option_error(where + ": general.alignment must be a UINT32 power of two");
    alignment = a->get<std::uint32_t>();
  }

  std::map<std::string_view, int, std::less<>> names;
  std::vector<std::uint64_t> offsets;
  std::uint64_t data_size = 0;
  for (const auto& t : tensors) {
    if (!names.emplace(t.name, 0).second)
      throw option_error(where + ": tensor " + t.name + " appears twice");
    if (t.type != ggml_type::f32 && t.type != ggml_type::f16 && t.type != ggml_type::bf16)
      throw option_error(where + ": tensor " + t.name + " is to be stored as " +
                         ggml_type_name(t.type) + "; pollard writes F32, F16 and BF16");
    if (t.dims.size() > gguf_max_dims)
      throw shape_error(where + ": tensor " + t.name + " has " + std::to_string(t.dims.size()) +
                        " dimensions (GGUF allows at most 4)");
    std::size_t elements = 1;
    for (const auto d : t.dims) elements = checked_multiply(elements, d, where);
    if (elements != t.values.size())
      throw shape_error(where + ": tensor " + t.name + " has dims for " + std::to_string(elements) +
                        " elements but " + std::to_string(t.values.size()) + " values");
    offsets.push_back(data_size);
    const std::size_t bytes = checked_multiply(elements, t.type == ggml_type::f32 ? 4 : 2, where);
    data_size = detail::align_up(checked_add(data_size, bytes, where), alignment, where);
  }

  detail::gguf_header_writer h;
  h.put(gguf_magic);
  h.put(std::uint32_t{3});
  h.put(static_cast<std::uint64_t>(tensors.size()));
  h.put(static_cast<std::uint64_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    h.put_string(key);
    h.put(static_cast<std::uint32_t>(value.type()));
    h.put_value(value);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    h.put_string(t.name);
    h.put(static_cast<std::uint32_t>(t.dims.size()));
    for (const auto d : t.dims) h.put(d);
    h.put(static_cast<std::uint32_t>(t.type));
    h.put(offsets[i]);
  }
  auto& header = h.bytes();
  header.resize(detail::align_up(header.size(), alignment, where), std::byte{0});

  atomic_file out(path);
  out.write(header);
  const std::vector<std::byte> zeros(alignment, std::byte{0});
  std::vector<std::uint16_t> chunk;
  std::uint64_t written = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (t.type == ggml_type::f32) {
      out.write(t.values.data(), t.values.size() * sizeof(float));
      written += t.values.size() * sizeof(float);
    } else {
      constexpr std::size_t chunk_elements = std::size_t{1} << 16;
      for (std::size_t begin = 0; begin < t.values.size(); begin += chunk_elements) {
        const std::size_t n = std::min(chunk_elements, t.values.size() - begin);
        chunk.resize(n);
        const std::uint64_t cols = t.dims.empty() || t.dims[0] == 0 ? 1 : t.dims[0];
        for (std::size_t j = 0; j < n; ++j) {
          const std::size_t k = begin + j;
          const narrowing_site site{"write_gguf", t.name, static_cast<index_t>(k / cols),
                                    static_cast<index_t>(k % cols)};
          chunk[j] = t.type == ggml_type::f16
                         ? narrow<half>(t.values[k], t.on_overflow, site).bits
                         : narrow<bfloat16>(t.values[k], t.on_overflow, site).bits;
        }
        out.write(chunk.data(), n * sizeof(std::uint16_t));
      }
      written += t.values.size() * sizeof(std::uint16_t);
    }
    const std::uint64_t end = i + 1 < tensors.size() ? offsets[i + 1] : data_size;
    out.write(zeros.data(), static_cast<std::size_t>(end - written));
    written = end;
  }
  out.commit();
}

/// write_gguf for a braced list of tensors.
inline void write_gguf(const std::filesystem::path& path, const gguf_metadata& metadata,
                       std::initializer_list<gguf_tensor_view> tensors) {
  write_gguf(path, metadata, std::span<const gguf_tensor_view>(tensors.begin(), tensors.size()));
}

}  // namespace pollard::io
