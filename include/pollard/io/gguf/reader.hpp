// pollard — reads GGUF (llama.cpp's model format) versions 2 and 3: metadata, tensor infos and
// dequantising tensor access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/matrix.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/gguf/metadata.hpp"
#include "pollard/io/gguf/parser.hpp"
#include "pollard/io/gguf/quant.hpp"
#include "pollard/io/gguf/tensor_info.hpp"
#include "pollard/io/mapped_file.hpp"

namespace pollard::io {

/// A parsed GGUF file: metadata, tensor infos and access to the (dequantised) tensor data.
/// Built from a path (memory-mapped, owned) or from bytes the caller keeps alive.
class gguf_file {
 public:
  /// Maps and parses `path`; io_error when it cannot be read, format_error when it is not valid.
  explicit gguf_file(const std::filesystem::path& path) : map_(path) {
    parse(map_.bytes(), path.string());
  }

  /// Parses bytes in memory (named `name` in messages); they must outlive the gguf_file.
  static gguf_file from_bytes(std::span<const std::byte> bytes, std::string name = "GGUF buffer") {
    gguf_file f;
    f.parse(bytes, std::move(name));
    return f;
  }

  const std::string& name() const noexcept { return name_; }
  std::uint32_t version() const noexcept { return version_; }
  const gguf_metadata& metadata() const noexcept { return metadata_; }
  const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }
  std::size_t alignment() const noexcept { return alignment_; }
  /// File offset where the tensor data section starts.
  std::size_t data_offset() const noexcept { return data_offset_; }

  const gguf_tensor_info* find_tensor(std::string_view tensor_name) const {
    const auto it = tensor_index_.find(tensor_name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  /// The info of `tensor_name`; format_error when the file has no such tensor.
  const gguf_tensor_info& tensor(std::string_view tensor_name) const {
    if (const auto* t = find_tensor(tensor_name)) return *t;
    throw format_error(name_ + ": no tensor named " + std::string(tensor_name));
  }

  /// The stored bytes of a tensor (no conversion).
  std::span<const std::byte> tensor_data(const gguf_tensor_info& info) const {
    const std::size_t available = bytes_.size() - std::min(bytes_.size(), data_offset_);
    if (info.offset > available || info.bytes > available - info.offset)
      throw format_error(name_ + ": tensor " + info.name + " lies outside the data section");
    if (info.bytes == 0) return {};  // the data section may start past the end of the file
    return bytes_.subspan(data_offset_ + static_cast<std::size_t>(info.offset),
                          static_cast<std::size_t>(info.bytes));
  }

  /// Dequantises a tensor into `out` (info.elements() floats, ne[0] fastest). format_error for a
  /// tensor type pollard does not read.
  void read_into(const gguf_tensor_info& info, std::span<float> out) const {
    if (!ggml_type_is_readable(info.type))
      throw format_error(name_ + ": tensor " + info.name + " has type " +
                         ggml_type_name(info.type) + ", which pollard does not read");
    if (out.size() != info.elements())
      throw shape_error(name_ + ": tensor " + info.name + " has " +
                        std::to_string(info.elements()) + " elements but the output holds " +
                        std::to_string(out.size()));
    dequantize(info.type, tensor_data(info), out);
  }

  gguf_tensor read(const gguf_tensor_info& info) const {
    if (!ggml_type_is_readable(info.type)) read_into(info, {});
    gguf_tensor t{std::vector<float>(static_cast<std::size_t>(info.elements())), info.dims};
    read_into(info, t.values);
    return t;
  }
  gguf_tensor read(std::string_view tensor_name) const { return read(tensor(tensor_name)); }

  /// The shape a tensor has as a matrix: ne[0] columns and ne[1]·ne[2]·ne[3] rows (a 1-D tensor
  /// is one row); format_error when the rows do not fit an index.
  gguf_matrix_shape matrix_shape_of(const gguf_tensor_info& info) const {
    const std::uint64_t cols = info.dims.empty() ? 1 : info.dims[0];
    std::uint64_t rows = 1;
    for (std::size_t d = 1; d < info.dims.size(); ++d)
      rows =
          checked_multiply(static_cast<std::size_t>(rows), static_cast<std::size_t>(info.dims[d]),
                           name_ + ": tensor " + info.name);
    if (rows > static_cast<std::uint64_t>(INT64_MAX))
      throw format_error(name_ + ": tensor " + info.name + " has too many rows");
    return {static_cast<index_t>(rows), static_cast<index_t>(cols)};
  }

  /// A tensor as a row-major matrix with ne[0] columns and ne[1]·ne[2]·ne[3] rows
  /// (a 1-D tensor is one row).
  gguf_matrix read_matrix(std::string_view tensor_name) const {
    const auto& info = tensor(tensor_name);
    const auto [rows, cols] = matrix_shape_of(info);
    gguf_matrix m(rows, cols);
    read_into(info, std::span<float>(m.data(), static_cast<std::size_t>(m.size())));
    return m;
  }

 private:
  gguf_file() = default;

  void parse(std::span<const std::byte> bytes, std::string file_name) {
    bytes_ = bytes;
    name_ = file_name;
    detail::gguf_parser p(bytes, std::move(file_name));
    auto& r = p.reader();

    if (bytes.size() < 4)
      r.fail("not a GGUF file: the 4-byte magic \"GGUF\" is missing (the file has " +
             std::to_string(bytes.size()) + " bytes)");
    const auto magic = r.read<std::uint32_t>("magic");
    if (magic != gguf_magic)
      r.fail("not a GGUF file: the magic \"GGUF\" is missing (the first 4 bytes differ)");
    version_ = r.read<std::uint32_t>("version");
    if (version_ == 1) r.fail("GGUF version 1 is not supported (pollard reads versions 2 and 3)");
    if (version_ != 2 && version_ != 3) {
      const auto swapped = (version_ >> 24) | ((version_ >> 8) & 0xff00u) |
                           ((version_ << 8) & 0xff0000u) | (version_ << 24);
      if (swapped == 2 || swapped == 3) r.fail("big-endian GGUF files are not supported");
      r.fail("GGUF version " + std::to_string(version_) +
             " is not supported (pollard reads versions 2 and 3)");
    }
    const auto tensor_count = r.read<std::uint64_t>("tensor count");
    const auto kv_count = r.read<std::uint64_t>("metadata count");

    // Smallest key/value: empty key (8-byte length), type (4), a one-byte value.
    p.check_count(kv_count, 13, "metadata");
    for (std::uint64_t i = 0; i < kv_count; ++i) {
      std::string key = p.read_string("metadata key");
      if (metadata_.contains(key)) r.fail("metadata key " + key + " appears twice");
      const std::string what = "metadata " + key;
      const auto type = p.read_type(what);
      metadata_.set(std::move(key), p.read_value(type, what));
    }

    if (const auto* a = metadata_.find("general.alignment")) {
      if (!a->holds<std::uint32_t>())
        r.fail("general.alignment is " + gguf_value_type_name(a->type()) + " (must be UINT32)");
      const auto value = a->get<std::uint32_t>();
      if (!detail::valid_gguf_alignment(value))
        r.fail("general.alignment " + std::to_string(value) + " is not a power of two");
      alignment_ = value;
    }

    // Smallest tensor info: empty name (8), n_dims (4), type (4), offset (8).
    p.check_count(tensor_count, 24, "tensor");
    tensors_.reserve(static_cast<std::size_t>(tensor_count));
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
      gguf_tensor_info t;
      t.name = p.read_string("tensor name");
      if (tensor_index_.find(t.name) != tensor_index_.end())
        r.fail("tensor " + t.name + " appears twice");
      const std::string what = "tensor " + t.name;
      const auto n_dims = r.read<std::uint32_t>(what + " dimension count");
      if (n_dims > gguf_max_dims)
        r.fail(what + " has " + std::to_string(n_dims) + " dimensions (GGUF allows at most " +
               std::to_string(gguf_max_dims) + ")");
      std::uint64_t elements = 1;
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        t.dims.push_back(r.read<std::uint64_t>(what + " dimension"));
        elements =
            checked_multiply(static_cast<std::size_t>(elements),
                             static_cast<std::size_t>(t.dims.back()), r.what() + ": " + what);
      }
      if (elements > static_cast<std::uint64_t>(INT64_MAX))
        r.fail(what + " has more than 2^63 elements");
      const auto type_id = r.read<std::uint32_t>(what + " type");
      const auto traits = find_ggml_type(type_id);
      if (!traits) r.fail(what + " has unknown ggml type id " + std::to_string(type_id));
      t.type = static_cast<ggml_type>(type_id);
      const std::uint64_t row = t.dims.empty() ? 1 : t.dims[0];
      if (row % traits->block_elements != 0)
        r.fail(what + " has rows of " + std::to_string(row) + " elements, not a multiple of " +
               std::string(traits->name) + "'s block of " + std::to_string(traits->block_elements));
      t.bytes = elements / traits->block_elements * traits->block_bytes;  // <= 8 * elements
      if (elements != 0 && t.bytes / traits->block_bytes != elements / traits->block_elements)
        r.fail(what + " is too large");
      t.offset = r.read<std::uint64_t>(what + " offset");
      if (t.offset % alignment_ != 0)
        r.fail(what + " has offset " + std::to_string(t.offset) +
               ", not a multiple of the alignment " + std::to_string(alignment_));
      tensor_index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }

    data_offset_ = detail::align_up(r.offset(), alignment_, r.what() + ": data section");
    const std::size_t available = bytes.size() - std::min(bytes.size(), data_offset_);
    // ggml (gguf_init_from_file) requires each tensor to start exactly where the previous one,
    // padded to the alignment, ended; aliased, reordered or gapped data is refused as it does.
    std::uint64_t expected = 0;
    for (const auto& t : tensors_) {
      if (t.offset != expected) {
        std::string why = t.offset < expected ? "out of order" : "out of order or after a gap";
        for (const auto& u : tensors_)  // in differences only: no sum can overflow
          if (&u != &t && (u.offset <= t.offset ? t.offset - u.offset < u.bytes
                                                : u.offset - t.offset < t.bytes)) {
            why = "it overlaps tensor " + u.name;
            break;
          }
        r.fail("tensor " + t.name + " has data offset " + std::to_string(t.offset) + ", expected " +
               std::to_string(expected) +
               " (ggml requires each tensor's data to follow the previous one's, padded to the "
               "alignment " +
               std::to_string(alignment_) + ", in tensor-info order): " + why);
      }
      if (t.offset > available || t.bytes > available - t.offset)
        r.fail("tensor " + t.name + " (" + std::to_string(t.bytes) + " bytes at data offset " +
               std::to_string(t.offset) + ") extends past the end of the file (" +
               std::to_string(available) + " bytes of tensor data)");
      expected = detail::align_up(static_cast<std::size_t>(t.offset + t.bytes), alignment_,
                                  r.what() + ": tensor " + t.name);
    }
  }

  mapped_file map_;
  std::span<const std::byte> bytes_;
  std::string name_;
  std::uint32_t version_ = 0;
  gguf_metadata metadata_;
  std::vector<gguf_tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
  std::size_t alignment_ = gguf_default_alignment;
  std::size_t data_offset_ = 0;
};

}  // namespace pollard::io
