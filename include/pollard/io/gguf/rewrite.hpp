// pollard — writes a GGUF file back with some tensors replaced and every other byte kept: the
// metadata, the other tensors' data, their order, types and the alignment.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/gguf/file_type.hpp"
#include "pollard/io/gguf/quantize.hpp"
#include "pollard/io/gguf/reader.hpp"
#include "pollard/io/gguf/tensor_info.hpp"
#include "pollard/io/gguf/writer.hpp"

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

/// Writes a GGUF file back with some tensors replaced: the GGUF version, every metadata key in
/// order with its type (general.file_type updated as update_llama_file_type says when a replaced
/// tensor changes type), every tensor info in order, the alignment and the data of every other
/// tensor are copied byte for byte; each replaced tensor is stored as gguf_stored_type(`type`, its
/// original type), and offsets change only where a replaced tensor changes size. With `type`
/// same, a tensor replaced by its own dequantised values comes back byte-identical when its bytes
/// are the reference quantisation's (gguf-py's, and llama.cpp's without an importance matrix).
///
/// Replacements may be supplied in any order (a sequential pruner reaches blk.2 before blk.10,
/// which files sorted by name store after it). The output is written front to back as early as
/// it can be: a tensor supplied ahead of the first one still missing is held, already in its
/// stored type, until the writer reaches it; supplied in file order, nothing is held.
///
/// The constructor checks, before anything is written (option_error): every name exists and
/// appears once, the type chosen for each replaced tensor is one pollard writes, the output is not
/// the input. replace() refuses (before storing) a name that is not to be replaced or was already
/// supplied, a wrong value count, and values its type cannot hold (quantize(): non-finite or
/// overflowing values, named with tensor and position). commit() refuses while a replaced tensor
/// is missing, naming it. The output is written through a temporary file renamed into place by
/// commit(); destroyed without commit, the rewriter leaves `output` as it was. `input` must outlive
/// the rewriter.
class gguf_rewriter {
 public:
  gguf_rewriter(const gguf_file& input, const std::filesystem::path& output,
                std::span<const std::string> replaced,
                gguf_output_type type = gguf_output_type::same)
      : input_(input), where_("rewrite_gguf " + output.string()) {
    std::error_code ec;
    if (std::filesystem::equivalent(output, input.name(), ec))
      throw option_error(where_ + ": the output is the input file " + input.name());
    const auto& tensors = input.tensors();
    slots_.resize(tensors.size());
    for (const auto& name : replaced) {
      const auto* info = input.find_tensor(name);
      if (info == nullptr)
        throw option_error(where_ + ": " + input.name() + " has no tensor named " + name);
      auto& slot = slots_[static_cast<std::size_t>(info - tensors.data())];
      if (slot.replaced) throw option_error(where_ + ": tensor " + name + " is replaced twice");
      slot.replaced = true;
    }

    const std::size_t alignment = input.alignment();
    std::uint64_t data_size = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      auto& slot = slots_[i];
      slot.type = t.type;
      slot.bytes = t.bytes;
      if (slot.replaced) {
        slot.type = gguf_stored_type(type, t.type);
        if (!ggml_type_is_writable(slot.type))
          throw option_error(where_ + ": tensor " + t.name + " is stored as " +
                             ggml_type_name(t.type) +
                             ", which pollard does not write; store it as f32, f16 or bf16");
        slot.bytes = detail::quantized_bytes(slot.type, static_cast<std::size_t>(t.elements()),
                                             row_length(t), t.name);
      }
      slot.offset = data_size;
      data_size = detail::align_up(checked_add(data_size, slot.bytes, where_), alignment, where_);
    }
    data_size_ = data_size;

    // general.file_type follows the types written, as write_llama_gguf keeps it.
    gguf_metadata metadata = input.metadata();
    std::vector<ggml_type> read_types, written_types;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      read_types.push_back(tensors[i].type);
      written_types.push_back(slots_[i].type);
    }
    update_llama_file_type(metadata, read_types, written_types);

    detail::gguf_header_writer h;
    h.put(gguf_magic);
    h.put(input.version());
    h.put(static_cast<std::uint64_t>(tensors.size()));
    h.put(static_cast<std::uint64_t>(metadata.size()));
    for (const auto& [key, value] : metadata) {
      h.put_string(key);
      h.put(static_cast<std::uint32_t>(value.type()));
      h.put_value(value);
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      h.put_string(tensors[i].name);
      h.put(static_cast<std::uint32_t>(tensors[i].dims.size()));
      for (const auto d : tensors[i].dims) h.put(d);
      h.put(static_cast<std::uint32_t>(slots_[i].type));
      h.put(slots_[i].offset);
    }
    auto& header = h.bytes();
    header.resize(detail::align_up(header.size(), alignment, where_), std::byte{0});
    zeros_.assign(alignment, std::byte{0});

    out_.emplace(output);
    out_->write(header);
    advance();
  }

  /// Stores the replacement of `name`: values in the tensor's shape (elements() floats, ne[0]
  /// fastest).
  void replace(std::string_view name, std::span<const float> values) {
    const auto* info = input_.find_tensor(name);
    const std::size_t i =
        info == nullptr ? slots_.size() : static_cast<std::size_t>(info - input_.tensors().data());
    if (i == slots_.size() || !slots_[i].replaced)
      throw option_error(where_ + ": tensor " + std::string(name) + " is not one to be replaced");
    auto& slot = slots_[i];
    if (slot.supplied)
      throw option_error(where_ + ": tensor " + std::string(name) + " was already supplied");
    if (values.size() != info->elements())
      throw shape_error(where_ + ": tensor " + std::string(name) + " has " +
                        std::to_string(info->elements()) + " elements, not " +
                        std::to_string(values.size()));
    slot.stored.resize(static_cast<std::size_t>(slot.bytes));
    quantize(slot.type, values, row_length(*info), slot.stored, info->name);
    slot.supplied = true;
    held_ += slot.stored.size();
    advance();
  }

  /// Bytes held for tensors supplied ahead of the first one still missing.
  std::size_t held_bytes() const noexcept { return held_; }

  /// The replaced tensors not supplied yet, in file order.
  std::vector<std::string> missing() const {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].replaced && !slots_[i].supplied) names.push_back(input_.tensors()[i].name);
    return names;
  }

  /// Renames the finished output into place; option_error naming the tensors still missing.
  void commit() {
    if (const auto names = missing(); !names.empty()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw option_error(where_ + ": no replacement was supplied for " + list);
    }
    out_->commit();
  }

 private:
  struct slot_state {
    bool replaced = false;
    bool supplied = false;
    ggml_type type = ggml_type::f32;
    std::uint64_t bytes = 0;
    std::uint64_t offset = 0;
    std::vector<std::byte> stored;
  };

  static std::size_t row_length(const gguf_tensor_info& t) {
    return t.dims.empty() ? 1 : static_cast<std::size_t>(t.dims[0]);
  }

  // Writes every tensor from the cursor on that is ready: copied ones and supplied replacements.
  void advance() {
    const auto& tensors = input_.tensors();
    for (; next_ < tensors.size(); ++next_) {
      auto& slot = slots_[next_];
      if (slot.replaced && !slot.supplied) return;
      if (slot.replaced) {
        out_->write(slot.stored);
        held_ -= slot.stored.size();
        std::vector<std::byte>().swap(slot.stored);
      } else {
        out_->write(input_.tensor_data(tensors[next_]));
      }
      const std::uint64_t end = next_ + 1 < tensors.size() ? slots_[next_ + 1].offset : data_size_;
      out_->write(zeros_.data(), static_cast<std::size_t>(end - slot.offset - slot.bytes));
    }
  }

  const gguf_file& input_;
  std::string where_;
  std::vector<slot_state> slots_;
  std::uint64_t data_size_ = 0;
  std::vector<std::byte> zeros_;
  std::optional<atomic_file> out_;
  std::size_t next_ = 0;
  std::size_t held_ = 0;
};

/// Supplies a replaced tensor when rewrite_gguf reaches it: fills `values` (original.elements()
/// floats, ne[0] fastest, in the shape `original` describes). The span arrives filled with NaN,
/// so an element the source leaves unset is refused rather than written.
using gguf_tensor_source =
    std::function<void(const gguf_tensor_info& original, std::span<float> values)>;

/// gguf_rewriter driven in file order: `source` is called once per tensor named in `replaced`, in
/// the order the file stores them, so only one replaced tensor is in memory at a time.
inline void rewrite_gguf(const gguf_file& input, const std::filesystem::path& output,
                         std::span<const std::string> replaced, const gguf_tensor_source& source,
                         gguf_output_type type = gguf_output_type::same) {
  gguf_rewriter writer(input, output, replaced, type);
  std::vector<float> values;
  for (const auto& t : input.tensors()) {
    if (std::find(replaced.begin(), replaced.end(), t.name) == replaced.end()) continue;
    values.assign(static_cast<std::size_t>(t.elements()), std::numeric_limits<float>::quiet_NaN());
    source(t, values);
    writer.replace(t.name, values);
  }
  writer.commit();
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
