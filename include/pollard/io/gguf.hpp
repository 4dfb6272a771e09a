// pollard — GGUF (llama.cpp's model format) versions 2 and 3: reader, dequantising tensor access,
// and a writer of F32/F16/BF16 tensors that keeps every metadata key, in order, with its type.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/byte_reader.hpp"
#include "pollard/io/gguf_quant.hpp"
#include "pollard/io/mapped_file.hpp"

namespace pollard::io {

/// GGUF metadata value types; the numbers are the ids stored in the file.
enum class gguf_value_type : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

/// The name GGUF's specification gives a value type ("UINT32", "ARRAY", ...).
inline std::string gguf_value_type_name(gguf_value_type type) {
  static constexpr std::string_view names[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                               "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                               "UINT64", "INT64",   "FLOAT64"};
  const auto id = static_cast<std::uint32_t>(type);
  return id < std::size(names) ? std::string(names[id]) : "value type " + std::to_string(id);
}

namespace detail {

template <class T, class Variant>
inline constexpr bool one_of = false;
template <class T, class... Ts>
inline constexpr bool one_of<T, std::variant<Ts...>> = (std::is_same_v<T, Ts> || ...);

}  // namespace detail

/// A typed GGUF array: the element type is kept even when the array is empty; arrays may nest.
class gguf_array {
 public:
  // Alternative i holds elements of gguf_value_type i.
  using storage =
      std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                   std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                   std::vector<float>, std::vector<bool>, std::vector<std::string>,
                   std::vector<gguf_array>, std::vector<std::uint64_t>, std::vector<std::int64_t>,
                   std::vector<double>>;

  gguf_array() = default;
  template <class T>
  requires detail::one_of<std::vector<T>, storage> gguf_array(std::vector<T> items)
      : items_(std::move(items)) {}

  gguf_value_type element_type() const noexcept {
    return static_cast<gguf_value_type>(items_.index());
  }
  std::size_t size() const noexcept {
    return std::visit([](const auto& v) { return v.size(); }, items_);
  }
  const storage& items() const noexcept { return items_; }

  /// The elements as std::vector<T>; format_error naming both types when they differ.
  template <class T>
  const std::vector<T>& get() const {
    if (const auto* v = std::get_if<std::vector<T>>(&items_)) return *v;
    throw format_error("GGUF array holds " + gguf_value_type_name(element_type()) +
                       " elements, not the type asked for");
  }

  friend bool operator==(const gguf_array& a, const gguf_array& b) { return a.items_ == b.items_; }

 private:
  storage items_;
};

/// One GGUF metadata value of any type.
class gguf_value {
 public:
  // Alternative i holds gguf_value_type i.
  using storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t,
                               std::uint32_t, std::int32_t, float, bool, std::string, gguf_array,
                               std::uint64_t, std::int64_t, double>;

  gguf_value() = default;
  template <class T>
  requires detail::one_of<std::decay_t<T>, storage> gguf_value(
      T&& value)  // NOLINT: implicit, so that metadata.set("k", std::uint32_t{3}) reads well
      : value_(std::in_place_type<std::decay_t<T>>, std::forward<T>(value)) {}
  gguf_value(const char* text) : value_(std::string(text)) {}  // NOLINT: a string, not a bool

  gguf_value_type type() const noexcept { return static_cast<gguf_value_type>(value_.index()); }
  const storage& data() const noexcept { return value_; }
  template <class T>
  bool holds() const noexcept {
    return std::holds_alternative<T>(value_);
  }
  /// The value as T; format_error naming the stored type when it is not a T.
  template <class T>
  const T& get() const {
    if (const auto* v = std::get_if<T>(&value_)) return *v;
    throw format_error("GGUF value is " + gguf_value_type_name(type()) +
                       ", not the type asked for");
  }

  friend bool operator==(const gguf_value& a, const gguf_value& b) { return a.value_ == b.value_; }

 private:
  storage value_;
};

/// GGUF metadata: key -> value in file order, each value with its exact type.
class gguf_metadata {
 public:
  using entry = std::pair<std::string, gguf_value>;

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }
  const std::vector<entry>& entries() const noexcept { return entries_; }

  const gguf_value* find(std::string_view key) const {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  bool contains(std::string_view key) const { return index_.find(key) != index_.end(); }

  /// The value of `key`; format_error when the key is missing.
  const gguf_value& at(std::string_view key) const {
    if (const auto* v = find(key)) return *v;
    throw format_error("GGUF metadata has no key " + std::string(key));
  }
  /// The value of `key` as T; format_error when missing or of another type.
  template <class T>
  const T& get(std::string_view key) const {
    const gguf_value& v = at(key);
    if (!v.holds<T>())
      throw format_error("GGUF metadata key " + std::string(key) + " is " +
                         gguf_value_type_name(v.type()) + ", not the type asked for");
    return v.get<T>();
  }

  /// Replaces the value of an existing key where it stands, or appends a new key.
  void set(std::string key, gguf_value value) {
    if (const auto it = index_.find(key); it != index_.end()) {
      entries_[it->second].second = std::move(value);
      return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(value));
  }
  /// Appends a key; false (and nothing changed) when it is already present.
  bool insert(std::string key, gguf_value value) {
    if (contains(key)) return false;
    set(std::move(key), std::move(value));
    return true;
  }
  bool erase(std::string_view key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
    index_.clear();
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
    return true;
  }

  /// Equal when the same keys hold the same typed values in the same order.
  friend bool operator==(const gguf_metadata& a, const gguf_metadata& b) {
    return a.entries_ == b.entries_;
  }

 private:
  std::vector<entry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

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
using gguf_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

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

class gguf_parser {
 public:
  gguf_parser(std::span<const std::byte> bytes, std::string name) : r_(bytes, std::move(name)) {}

  std::string read_string(std::string_view field) {
    const auto n = r_.read<std::uint64_t>(field);
    return r_.read_string(static_cast<std::size_t>(n), field);
  }

  // Fails unless `count` elements of at least `min_bytes` each fit in what is left of the file.
  void check_count(std::uint64_t count, std::size_t min_bytes, const std::string& what) {
    if (count > r_.remaining() / min_bytes)
      r_.fail(what + " count " + std::to_string(count) + " cannot fit in the remaining " +
              std::to_string(r_.remaining()) + " bytes");
  }

  template <class T>
  std::vector<T> read_scalar_array(std::uint64_t count, const std::string& what) {
    check_count(count, sizeof(T), what);
    std::vector<T> out(static_cast<std::size_t>(count));
    const auto bytes = r_.read_bytes(out.size() * sizeof(T), what);
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  bool read_bool(const std::string& what) {
    const auto b = r_.read<std::uint8_t>(what);
    if (b > 1) r_.fail(what + " is a BOOL holding " + std::to_string(b) + " (must be 0 or 1)");
    return b == 1;
  }

  gguf_value_type read_type(const std::string& what) {
    const auto id = r_.read<std::uint32_t>(what);
    if (id > static_cast<std::uint32_t>(gguf_value_type::float64))
      r_.fail(what + " has unknown value type " + std::to_string(id));
    return static_cast<gguf_value_type>(id);
  }

  gguf_array read_array(const std::string& what, int depth) {
    if (depth > gguf_max_array_nesting)
      r_.fail(what + " nests arrays deeper than " + std::to_string(gguf_max_array_nesting));
    const auto type = read_type(what + " element type");
    const auto count = r_.read<std::uint64_t>(what + " length");
    switch (type) {
      case gguf_value_type::uint8:
        return read_scalar_array<std::uint8_t>(count, what);
      case gguf_value_type::int8:
        return read_scalar_array<std::int8_t>(count, what);
      case gguf_value_type::uint16:
        return read_scalar_array<std::uint16_t>(count, what);
      case gguf_value_type::int16:
        return read_scalar_array<std::int16_t>(count, what);
      case gguf_value_type::uint32:
        return read_scalar_array<std::uint32_t>(count, what);
      case gguf_value_type::int32:
        return read_scalar_array<std::int32_t>(count, what);
      case gguf_value_type::float32:
        return read_scalar_array<float>(count, what);
      case gguf_value_type::uint64:
        return read_scalar_array<std::uint64_t>(count, what);
      case gguf_value_type::int64:
        return read_scalar_array<std::int64_t>(count, what);
      case gguf_value_type::float64:
        return read_scalar_array<double>(count, what);
      case gguf_value_type::boolean: {
        check_count(count, 1, what);
        std::vector<bool> out(static_cast<std::size_t>(count));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = read_bool(what);
        return out;
      }
      case gguf_value_type::string: {
        check_count(count, sizeof(std::uint64_t), what);
        std::vector<std::string> out;
        out.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) out.push_back(read_string(what));
        return out;
      }
      case gguf_value_type::array: {
        check_count(count, sizeof(std::uint32_t) + sizeof(std::uint64_t), what);
        std::vector<gguf_array> out;
        out.reserve(static_cast<std::size_t>(count));
        for (std::uint64_t i = 0; i < count; ++i) out.push_back(read_array(what, depth + 1));
        return out;
      }
    }
    r_.fail(what + " has an unknown element type");
  }

  gguf_value read_value(gguf_value_type type, const std::string& what) {
    switch (type) {
      case gguf_value_type::uint8:
        return r_.read<std::uint8_t>(what);
      case gguf_value_type::int8:
        return r_.read<std::int8_t>(what);
      case gguf_value_type::uint16:
        return r_.read<std::uint16_t>(what);
      case gguf_value_type::int16:
        return r_.read<std::int16_t>(what);
      case gguf_value_type::uint32:
        return r_.read<std::uint32_t>(what);
      case gguf_value_type::int32:
        return r_.read<std::int32_t>(what);
      case gguf_value_type::float32:
        return r_.read<float>(what);
      case gguf_value_type::boolean:
        return read_bool(what);
      case gguf_value_type::string:
        return read_string(what);
      case gguf_value_type::array:
        return read_array(what, 1);
      case gguf_value_type::uint64:
        return r_.read<std::uint64_t>(what);
      case gguf_value_type::int64:
        return r_.read<std::int64_t>(what);
      case gguf_value_type::float64:
        return r_.read<double>(what);
    }
    r_.fail(what + " has an unknown value type");
  }

  byte_reader& reader() noexcept { return r_; }

 private:
  byte_reader r_;
};

}  // namespace detail

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

  /// A tensor as a row-major matrix with ne[0] columns and ne[1]·ne[2]·ne[3] rows
  /// (a 1-D tensor is one row).
  gguf_matrix read_matrix(std::string_view tensor_name) const {
    const auto& info = tensor(tensor_name);
    const std::uint64_t cols = info.dims.empty() ? 1 : info.dims[0];
    std::uint64_t rows = 1;
    for (std::size_t d = 1; d < info.dims.size(); ++d)
      rows =
          checked_multiply(static_cast<std::size_t>(rows), static_cast<std::size_t>(info.dims[d]),
                           name_ + ": tensor " + info.name);
    if (rows > static_cast<std::uint64_t>(INT64_MAX))
      throw format_error(name_ + ": tensor " + info.name + " has too many rows");
    gguf_matrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
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
    for (const auto& t : tensors_) {
      if (t.offset > available || t.bytes > available - t.offset)
        r.fail("tensor " + t.name + " (" + std::to_string(t.bytes) + " bytes at data offset " +
               std::to_string(t.offset) + ") extends past the end of the file (" +
               std::to_string(available) + " bytes of tensor data)");
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
