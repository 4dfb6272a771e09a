// pollard — writes a GGUF file back with some tensors replaced and every other byte kept: the
// metadata, the other tensors' data, their order, types and the alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/gguf.hpp"
#include "pollard/io/gguf_quantize.hpp"

namespace pollard::io {

/// The type a replaced tensor is stored in: its original type (quantised again with quantize()),
/// or a float type.
enum class gguf_output_type { same, f32, f16, bf16 };

/// Parses "same", "f32", "f16" or "bf16"; option_error naming the choices otherwise.
inline gguf_output_type parse_gguf_output_type(std::string_view text) {
  if (text == "same") return gguf_output_type::same;
  if (text == "f32") return gguf_output_type::f32;
  if (text == "f16") return gguf_output_type::f16;
  if (text == "bf16") return gguf_output_type::bf16;
  throw option_error("unknown GGUF tensor type '" + std::string(text) +
                     "' (choose same, f32, f16 or bf16)");
}

/// The ggml type a tensor stored as `original` is written in under `output`.
constexpr ggml_type gguf_stored_type(gguf_output_type output, ggml_type original) noexcept {
  switch (output) {
    case gguf_output_type::f32:
      return ggml_type::f32;
    case gguf_output_type::f16:
      return ggml_type::f16;
    case gguf_output_type::bf16:
      return ggml_type::bf16;
    case gguf_output_type::same:
      break;
  }
  return original;
}

/// Supplies a replaced tensor when rewrite_gguf reaches it: fills `values` (original.elements()
/// floats, ne[0] fastest, in the shape `original` describes). The span arrives filled with NaN,
/// so an element the source leaves unset is refused rather than written.
using gguf_tensor_source =
    std::function<void(const gguf_tensor_info& original, std::span<float> values)>;

/// Writes `input` to `output` with the tensors named in `replaced` taken from `source`, one at a
/// time in file order (only one replaced tensor is held in memory), and stored as
/// gguf_stored_type(`type`, its original type). Everything else is copied: the GGUF version, every
/// metadata key in order with its type, every tensor info in order, the alignment, and the data
/// of every other tensor byte for byte; offsets change only where a replaced tensor changes size.
/// With `type` same, a tensor replaced by its own dequantised values comes back byte-identical
/// when its bytes are quantize()'s own output (gguf-py's reference quantisation; see
/// gguf_quantize.hpp).
/// Checked before anything is written (option_error): every name exists and appears once, the
/// type chosen for each replaced tensor is one pollard writes, and the output is not the input.
/// Values are checked as they are stored (quantize(): non-finite or overflowing values refused
/// with tensor and position); the output is written through a temporary file renamed into place
/// only on success, so on any error `output` is left as it was.
inline void rewrite_gguf(const gguf_file& input, const std::filesystem::path& output,
                         std::span<const std::string> replaced, const gguf_tensor_source& source,
                         gguf_output_type type = gguf_output_type::same) {
  const std::string where = "rewrite_gguf " + output.string();
  std::error_code ec;
  if (std::filesystem::equivalent(output, input.name(), ec))
    throw option_error(where + ": the output is the input file " + input.name());

  const auto& tensors = input.tensors();
  std::vector<char> is_replaced(tensors.size(), 0);
  for (const auto& name : replaced) {
    const auto* info = input.find_tensor(name);
    if (info == nullptr)
      throw option_error(where + ": " + input.name() + " has no tensor named " + name);
    char& flag = is_replaced[static_cast<std::size_t>(info - tensors.data())];
    if (flag != 0) throw option_error(where + ": tensor " + name + " is replaced twice");
    flag = 1;
  }

  const std::size_t alignment = input.alignment();
  std::vector<ggml_type> types(tensors.size());
  std::vector<std::uint64_t> sizes(tensors.size());
  std::vector<std::uint64_t> offsets(tensors.size());
  std::uint64_t data_size = 0;
  std::size_t largest_replaced = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    types[i] = t.type;
    sizes[i] = t.bytes;
    if (is_replaced[i] != 0) {
      types[i] = gguf_stored_type(type, t.type);
      if (!ggml_type_is_writable(types[i]))
        throw option_error(where + ": tensor " + t.name + " is stored as " +
                           ggml_type_name(t.type) +
                           ", which pollard does not write; store it as f32, f16 or bf16");
      const std::size_t elements = static_cast<std::size_t>(t.elements());
      sizes[i] = detail::quantized_bytes(
          types[i], elements, t.dims.empty() ? 1 : static_cast<std::size_t>(t.dims[0]), t.name);
      largest_replaced = std::max(largest_replaced, elements);
    }
    offsets[i] = data_size;
    data_size = detail::align_up(checked_add(data_size, sizes[i], where), alignment, where);
  }

  detail::gguf_header_writer h;
  h.put(gguf_magic);
  h.put(input.version());
  h.put(static_cast<std::uint64_t>(tensors.size()));
  h.put(static_cast<std::uint64_t>(input.metadata().size()));
  for (const auto& [key, value] : input.metadata()) {
    h.put_string(key);
    h.put(static_cast<std::uint32_t>(value.type()));
    h.put_value(value);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    h.put_string(tensors[i].name);
    h.put(static_cast<std::uint32_t>(tensors[i].dims.size()));
    for (const auto d : tensors[i].dims) h.put(d);
    h.put(static_cast<std::uint32_t>(types[i]));
    h.put(offsets[i]);
  }
  auto& header = h.bytes();
  header.resize(detail::align_up(header.size(), alignment, where), std::byte{0});

  atomic_file out(output);
  out.write(header);
  const std::vector<std::byte> zeros(alignment, std::byte{0});
  std::vector<float> values;
  values.reserve(largest_replaced);
  std::vector<std::byte> stored;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (is_replaced[i] != 0) {
      values.assign(static_cast<std::size_t>(t.elements()),
                    std::numeric_limits<float>::quiet_NaN());
      source(t, values);
      stored.resize(static_cast<std::size_t>(sizes[i]));
      quantize(types[i], values, t.dims.empty() ? 1 : static_cast<std::size_t>(t.dims[0]), stored,
               t.name);
      out.write(stored);
    } else {
      out.write(input.tensor_data(t));
    }
    const std::uint64_t end = i + 1 < tensors.size() ? offsets[i + 1] : data_size;
    out.write(zeros.data(), static_cast<std::size_t>(end - offsets[i] - sizes[i]));
  }
  out.commit();
}

/// rewrite_gguf with the replacements given whole: name -> values with the tensor's dims
/// (ne[0] first). Also refuses, before writing, a replacement whose dims or value count differ
/// from the file's tensor (shape_error naming both).
inline void rewrite_gguf(const gguf_file& input, const std::filesystem::path& output,
                         const std::map<std::string, gguf_tensor, std::less<>>& replacements,
                         gguf_output_type type = gguf_output_type::same) {
  const std::string where = "rewrite_gguf " + output.string();
  const auto dims_text = [](const std::vector<std::uint64_t>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  };
  std::vector<std::string> names;
  for (const auto& [name, tensor] : replacements) {
    const auto* info = input.find_tensor(name);
    if (info == nullptr)
      throw option_error(where + ": " + input.name() + " has no tensor named " + name);
    if (tensor.dims != info->dims || tensor.values.size() != info->elements())
      throw shape_error(where + ": the replacement of tensor " + name + " has dims " +
                        dims_text(tensor.dims) + " and " + std::to_string(tensor.values.size()) +
                        " values; the file's tensor has dims " + dims_text(info->dims));
    names.push_back(name);
  }
  rewrite_gguf(
      input, output, names,
      [&](const gguf_tensor_info& original, std::span<float> values) {
        const auto& v = replacements.find(original.name)->second.values;
        std::copy(v.begin(), v.end(), values.begin());
      },
      type);
}

}  // namespace pollard::io
