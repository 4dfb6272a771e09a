#include <doctest/doctest.h>

#include <limits>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/io/gguf.hpp"
#include "support/random.hpp"

using namespace pollard::io;

namespace {

// Lays out GGUF bytes field by field from the specification, independently of pollard's writer.
struct gguf_bytes {
  std::vector<std::byte> b;

  template <class T>
  gguf_bytes& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  gguf_bytes& str(std::string_view s) {
    put<std::uint64_t>(s.size());
    for (const char c : s) b.push_back(static_cast<std::byte>(c));
    return *this;
  }
  gguf_bytes& header(std::uint32_t version, std::uint64_t tensors, std::uint64_t kvs) {
    return put<std::uint32_t>(0x46554747).put(version).put(tensors).put(kvs);
  }
  gguf_bytes& key(std::string_view k, std::uint32_t type) { return str(k).put(type); }
  gguf_bytes& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type,
                     std::uint64_t offset) {
    str(name).put<std::uint32_t>(static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims) put(d);
    return put(type).put(offset);
  }
  gguf_bytes& pad(std::size_t alignment) {
    while (b.size() % alignment != 0) b.push_back(std::byte{0});
    return *this;
  }
  template <class T>
  gguf_bytes& values(const std::vector<T>& v) {
    for (const auto& x : v) put(x);
    return *this;
  }
  gguf_file parse(std::string name = "t.gguf") const { return gguf_file::from_bytes(b, name); }
};

// Metadata with one key of every value type, arrays of several element types, nested arrays.
gguf_bytes every_type_metadata(std::uint32_t version) {
  gguf_bytes g;
  g.header(version, 0, 17);
  g.key("k.u8", 0).put<std::uint8_t>(200);
  g.key("k.i8", 1).put<std::int8_t>(-100);
  g.key("k.u16", 2).put<std::uint16_t>(60000);
  g.key("k.i16", 3).put<std::int16_t>(-30000);
  g.key("k.u32", 4).put<std::uint32_t>(4000000000u);
  g.key("k.i32", 5).put<std::int32_t>(-2000000000);
  g.key("k.f32", 6).put<float>(0.1f);
  g.key("k.bool", 7).put<std::uint8_t>(1);
  g.key("k.str", 8).str("héllo\n");
  g.key("k.u64", 10).put<std::uint64_t>(18000000000000000000ull);
  g.key("k.i64", 11).put<std::int64_t>(-9000000000000000000ll);
  g.key("k.f64", 12).put<double>(-2.5e-300);
  g.key("a.i32", 9).put<std::uint32_t>(5).put<std::uint64_t>(3).values<std::int32_t>({7, -8, 9});
  g.key("a.str", 9).put<std::uint32_t>(8).put<std::uint64_t>(2).str("x").str("");
  g.key("a.empty_f32", 9).put<std::uint32_t>(6).put<std::uint64_t>(0);
  g.key("a.bool", 9).put<std::uint32_t>(7).put<std::uint64_t>(3).values<std::uint8_t>({1, 0, 1});
  // [[1, 2], [3]] of INT16
  g.key("a.nested", 9).put<std::uint32_t>(9).put<std::uint64_t>(2);
  g.put<std::uint32_t>(3).put<std::uint64_t>(2).values<std::int16_t>({1, 2});
  g.put<std::uint32_t>(3).put<std::uint64_t>(1).values<std::int16_t>({3});
  return g;
}

void check_every_type_metadata(const gguf_metadata& m) {
  const std::vector<std::string> order{
      "k.u8",  "k.i8",  "k.u16", "k.i16", "k.u32", "k.i32",       "k.f32",  "k.bool",  "k.str",
      "k.u64", "k.i64", "k.f64", "a.i32", "a.str", "a.empty_f32", "a.bool", "a.nested"};
  REQUIRE(m.size() == order.size());
  std::size_t i = 0;
  for (const auto& [key, value] : m) CHECK(key == order[i++]);
  CHECK(m.get<std::uint8_t>("k.u8") == 200);
  CHECK(m.get<std::int8_t>("k.i8") == -100);
  CHECK(m.get<std::uint16_t>("k.u16") == 60000);
  CHECK(m.get<std::int16_t>("k.i16") == -30000);
  CHECK(m.get<std::uint32_t>("k.u32") == 4000000000u);
  CHECK(m.get<std::int32_t>("k.i32") == -2000000000);
  CHECK(m.get<float>("k.f32") == 0.1f);
  CHECK(m.get<bool>("k.bool") == true);
  CHECK(m.get<std::string>("k.str") == "héllo\n");
  CHECK(m.get<std::uint64_t>("k.u64") == 18000000000000000000ull);
  CHECK(m.get<std::int64_t>("k.i64") == -9000000000000000000ll);
  CHECK(m.get<double>("k.f64") == -2.5e-300);
  CHECK(m.at("k.f64").type() == gguf_value_type::float64);
  CHECK(m.get<gguf_array>("a.i32").get<std::int32_t>() == std::vector<std::int32_t>{7, -8, 9});
  CHECK(m.get<gguf_array>("a.str").get<std::string>() == std::vector<std::string>{"x", ""});
  CHECK(m.get<gguf_array>("a.empty_f32").element_type() == gguf_value_type::float32);
  CHECK(m.get<gguf_array>("a.empty_f32").size() == 0);
  CHECK(m.get<gguf_array>("a.bool").get<bool>() == std::vector<bool>{true, false, true});
  const auto& nested = m.get<gguf_array>("a.nested").get<gguf_array>();
  REQUIRE(nested.size() == 2);
  CHECK(nested[0].get<std::int16_t>() == std::vector<std::int16_t>{1, 2});
  CHECK(nested[1].get<std::int16_t>() == std::vector<std::int16_t>{3});
}

// A file with an F32 2x3 matrix, an F16 vector of 4 and a BF16 vector of 2, alignment 64.
gguf_bytes three_tensor_file() {
  gguf_bytes g;
  g.header(3, 3, 2);
  g.key("general.architecture", 8).str("test");
  g.key("general.alignment", 4).put<std::uint32_t>(64);
  g.tensor("w", {3, 2}, 0, 0);
  g.tensor("h", {4}, 1, 64);
  g.tensor("b", {2}, 30, 128);
  g.pad(64);
  g.values<float>({1, 2, 3, 4, 5, 6}).pad(64);
  g.values<std::uint16_t>({0x3c00, 0xc000, 0x3555, 0x0001}).pad(64);  // 1, -2, 0.33325, 2^-24
  g.values<std::uint16_t>({0x3f80, 0xc0a0});                          // 1, -5
  return g;
}

std::vector<std::byte> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

std::filesystem::path temp_dir() {
  const auto d = std::filesystem::temp_directory_path() / "pollard-gguf-test";
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("the reader keeps every metadata key in order with its exact type, in v3 and v2") {
  for (const std::uint32_t version : {3u, 2u}) {
    CAPTURE(version);
    const auto bytes = every_type_metadata(version);
    const auto f = bytes.parse();
    CHECK(f.version() == version);
    CHECK(f.tensors().empty());
    CHECK(f.alignment() == 32);
    check_every_type_metadata(f.metadata());
  }
}

TEST_CASE("asking for a value of the wrong type names the key and the stored type") {
  const auto bytes = every_type_metadata(3);
  const auto f = bytes.parse();
  CHECK_THROWS_WITH_AS(f.metadata().get<std::int32_t>("k.u32"),
                       "GGUF metadata key k.u32 is UINT32, not the type asked for",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(f.metadata().at("missing"), "GGUF metadata has no key missing",
                       pollard::format_error);
  CHECK_THROWS_AS(f.metadata().get<gguf_array>("a.i32").get<std::uint32_t>(),
                  pollard::format_error);
}

TEST_CASE(
    "tensor infos give dims (ne[0] first), types and offsets; data follows the aligned header") {
  const auto bytes = three_tensor_file();
  const auto f = bytes.parse();
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
  REQUIRE(f.tensors().size() == 3);
  const auto& w = f.tensor("w");
  CHECK(w.dims == std::vector<std::uint64_t>{3, 2});
  CHECK(w.type == ggml_type::f32);
  CHECK(w.bytes == 24);
  CHECK(f.tensor("h").offset == 64);
  CHECK(f.tensor("b").type == ggml_type::bf16);

  const auto m = f.read_matrix("w");  // ne[0] = 3 columns, ne[1] = 2 rows
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 0) == 1.0f);
  CHECK(m(0, 2) == 3.0f);
  CHECK(m(1, 0) == 4.0f);
  CHECK(m(1, 2) == 6.0f);

  const auto h = f.read("h");
  CHECK(h.dims == std::vector<std::uint64_t>{4});
  CHECK(h.values == std::vector<float>{1.0f, -2.0f, 0.333251953125f, 0x1p-24f});
  CHECK(f.read("b").values == std::vector<float>{1.0f, -5.0f});
  CHECK_THROWS_WITH_AS(f.tensor("nope"), "t.gguf: no tensor named nope", pollard::format_error);
}

TEST_CASE("every truncation of a valid file is a format_error") {
  const auto bytes = three_tensor_file();
  for (std::size_t n = 0; n < bytes.b.size(); ++n) {
    CAPTURE(n);
    CHECK_THROWS_AS(gguf_file::from_bytes(std::span(bytes.b).first(n)), pollard::format_error);
  }
}

TEST_CASE("version 1, other versions, big-endian files and a wrong magic are rejected by name") {
  gguf_bytes v1;
  v1.header(1, 0, 0);
  CHECK_THROWS_WITH_AS(
      v1.parse(),
      "t.gguf: GGUF version 1 is not supported (pollard reads versions 2 and 3) (at byte 8)",
      pollard::format_error);
  gguf_bytes v4;
  v4.header(4, 0, 0);
  CHECK_THROWS_WITH_AS(
      v4.parse(),
      "t.gguf: GGUF version 4 is not supported (pollard reads versions 2 and 3) (at byte 8)",
      pollard::format_error);
  gguf_bytes big;
  big.header(0x03000000, 0, 0);
  CHECK_THROWS_WITH_AS(big.parse(), "t.gguf: big-endian GGUF files are not supported (at byte 8)",
                       pollard::format_error);
  gguf_bytes bad;
  bad.put<std::uint32_t>(0x46554746).put<std::uint32_t>(3);
  CHECK_THROWS_WITH_AS(bad.parse(),
                       "t.gguf: not a GGUF file: the magic \"GGUF\" is missing (the first 4 bytes "
                       "differ) (at byte 4)",
                       pollard::format_error);
}

TEST_CASE("hostile counts and lengths fail fast, before anything is allocated") {
  const std::uint64_t huge = std::uint64_t{1} << 60;
  gguf_bytes kv;
  kv.header(3, 0, huge);
  CHECK_THROWS_WITH_AS(
      kv.parse(),
      "t.gguf: metadata count 1152921504606846976 cannot fit in the remaining 0 bytes (at byte 24)",
      pollard::format_error);
  gguf_bytes tensors;
  tensors.header(3, huge, 0);
  CHECK_THROWS_AS(tensors.parse(), pollard::format_error);

  gguf_bytes strings;  // an array of 2^60 strings
  strings.header(3, 0, 1).key("a", 9).put<std::uint32_t>(8).put<std::uint64_t>(huge).str("x");
  CHECK_THROWS_WITH_AS(strings.parse(),
                       "t.gguf: metadata a count 1152921504606846976 cannot fit in the remaining 9 "
                       "bytes (at byte 49)",
                       pollard::format_error);
  gguf_bytes u64s;  // 2^60 uint64 values: the byte count would overflow
  u64s.header(3, 0, 1).key("a", 9).put<std::uint32_t>(10).put<std::uint64_t>(huge);
  CHECK_THROWS_AS(u64s.parse(), pollard::format_error);
  gguf_bytes arrays;  // 2^60 nested arrays
  arrays.header(3, 0, 1).key("a", 9).put<std::uint32_t>(9).put<std::uint64_t>(huge);
  CHECK_THROWS_AS(arrays.parse(), pollard::format_error);
  gguf_bytes length;  // a string claiming 2^63 bytes
  length.header(3, 0, 1).key("a", 8).put<std::uint64_t>(std::uint64_t{1} << 63);
  CHECK_THROWS_AS(length.parse(), pollard::format_error);
  gguf_bytes key_length;
  key_length.header(3, 0, 1).put<std::uint64_t>(~std::uint64_t{0}).put<std::uint32_t>(0);
  CHECK_THROWS_AS(key_length.parse(), pollard::format_error);
}

TEST_CASE("arrays nested deeper than 16 levels are rejected instead of exhausting the stack") {
  gguf_bytes g;
  g.header(3, 0, 1).key("deep", 9);
  for (int i = 0; i < 40; ++i) g.put<std::uint32_t>(9).put<std::uint64_t>(1);
  g.put<std::uint32_t>(0).put<std::uint64_t>(0);
  CHECK_THROWS_WITH_AS(g.parse(), doctest::Contains("nests arrays deeper than 16"),
                       pollard::format_error);
}

TEST_CASE("malformed metadata is rejected with the key named") {
  gguf_bytes type;
  type.header(3, 0, 1).key("k", 13).put<std::uint8_t>(0);
  CHECK_THROWS_WITH_AS(type.parse(), "t.gguf: metadata k has unknown value type 13 (at byte 37)",
                       pollard::format_error);
  gguf_bytes boolean;
  boolean.header(3, 0, 1).key("flag", 7).put<std::uint8_t>(2);
  CHECK_THROWS_WITH_AS(boolean.parse(),
                       "t.gguf: metadata flag is a BOOL holding 2 (must be 0 or 1) (at byte 41)",
                       pollard::format_error);
  gguf_bytes twice;
  twice.header(3, 0, 2).key("k", 0).put<std::uint8_t>(1).key("k", 0).put<std::uint8_t>(2);
  CHECK_THROWS_WITH_AS(twice.parse(), "t.gguf: metadata key k appears twice (at byte 47)",
                       pollard::format_error);
  gguf_bytes align;
  align.header(3, 0, 1).key("general.alignment", 4).put<std::uint32_t>(48);
  CHECK_THROWS_WITH_AS(align.parse(),
                       "t.gguf: general.alignment 48 is not a power of two (at byte 57)",
                       pollard::format_error);
  gguf_bytes zero;
  zero.header(3, 0, 1).key("general.alignment", 4).put<std::uint32_t>(0);
  CHECK_THROWS_AS(zero.parse(), pollard::format_error);
  gguf_bytes align_type;
  align_type.header(3, 0, 1).key("general.alignment", 10).put<std::uint64_t>(32);
  CHECK_THROWS_WITH_AS(align_type.parse(),
                       "t.gguf: general.alignment is UINT64 (must be UINT32) (at byte 61)",
                       pollard::format_error);
}

TEST_CASE("malformed tensor infos are rejected with the tensor named") {
  auto one_tensor = [](std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t offset,
                       std::size_t data_bytes) {
    gguf_bytes g;
    g.header(3, 1, 0).tensor("blk.0.attn_q.weight", dims, type, offset).pad(32);
    g.b.resize(g.b.size() + data_bytes);
    return g;
  };
  CHECK_NOTHROW(one_tensor({32, 2}, 0, 0, 256).parse());
  CHECK_THROWS_WITH_AS(one_tensor({1, 1, 1, 1, 1}, 0, 0, 32).parse(),
                       "t.gguf: tensor blk.0.attn_q.weight has 5 dimensions (GGUF allows at most "
                       "4) (at byte 55)",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(
      one_tensor({32}, 99, 0, 128).parse(),
      "t.gguf: tensor blk.0.attn_q.weight has unknown ggml type id 99 (at byte 67)",
      pollard::format_error);
  CHECK_THROWS_WITH_AS(one_tensor({33, 1}, 2, 0, 64).parse(),
                       "t.gguf: tensor blk.0.attn_q.weight has rows of 33 elements, not a multiple "
                       "of Q4_0's block of 32 (at byte 75)",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(one_tensor({32, 2}, 0, 0, 255).parse(),
                       "t.gguf: tensor blk.0.attn_q.weight (256 bytes at data offset 0) extends "
                       "past the end of the file (255 bytes of tensor data) (at byte 83)",
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(one_tensor({8}, 0, 16, 64).parse(),
                       "t.gguf: tensor blk.0.attn_q.weight has offset 16, not a multiple of the "
                       "alignment 32 (at byte 75)",
                       pollard::format_error);
  CHECK_THROWS_AS(one_tensor({8}, 0, ~std::uint64_t{0} - 31, 64).parse(), pollard::format_error);
  CHECK_THROWS_AS(one_tensor({std::uint64_t{1} << 40, std::uint64_t{1} << 40}, 0, 0, 64).parse(),
                  pollard::format_error);
  gguf_bytes twice;
  twice.header(3, 2, 0).tensor("t", {1}, 0, 0).tensor("t", {1}, 0, 32).pad(32);
  twice.b.resize(twice.b.size() + 64);
  CHECK_THROWS_WITH_AS(twice.parse(), doctest::Contains("tensor t appears twice"),
                       pollard::format_error);
}

TEST_CASE("tensor data that overlaps, is out of order or leaves a gap is refused as ggml does") {
  // Two F32 tensors of 8 values (32 bytes each) at alignment 32: ggml's gguf_init_from_file
  // accepts only offsets 0 and 32 and refuses anything else with "tensor 'NAME' has offset X,
  // expected Y".
  auto two_tensors = [](std::uint64_t first, std::uint64_t second) {
    gguf_bytes g;
    g.header(3, 2, 0).tensor("a", {8}, 0, first).tensor("b", {8}, 0, second).pad(32);
    g.b.resize(g.b.size() + 96);
    return g;
  };
  CHECK_NOTHROW(two_tensors(0, 32).parse());
  const std::string rule =
      " (ggml requires each tensor's data to follow the previous one's, padded to the alignment "
      "32, in tensor-info order): ";
  CHECK_THROWS_WITH_AS(
      two_tensors(0, 0).parse(),
      doctest::Contains(
          ("tensor b has data offset 0, expected 32" + rule + "it overlaps tensor a").c_str()),
      pollard::format_error);
  CHECK_THROWS_WITH_AS(two_tensors(32, 0).parse(),
                       doctest::Contains(("tensor a has data offset 32, expected 0" + rule +
                                          "out of order or after a gap")
                                             .c_str()),
                       pollard::format_error);
  CHECK_THROWS_WITH_AS(two_tensors(0, 64).parse(),
                       doctest::Contains(("tensor b has data offset 64, expected 32" + rule +
                                          "out of order or after a gap")
                                             .c_str()),
                       pollard::format_error);
  // b at 16 overlaps a's last 16 bytes, and is not aligned either: the alignment check names it.
  CHECK_THROWS_AS(two_tensors(0, 16).parse(), pollard::format_error);
  // A 4-value tensor pads to 32 bytes, so the next one must start at 32, not 16.
  gguf_bytes padded;
  padded.header(3, 2, 0).tensor("a", {4}, 0, 0).tensor("b", {4}, 0, 32).pad(32);
  padded.b.resize(padded.b.size() + 64);
  CHECK_NOTHROW(padded.parse());
}

TEST_CASE("an empty tensor may sit where the data section would start, past the end of the file") {
  gguf_bytes g;
  g.header(3, 1, 0).tensor("e", {0, 3}, 0, 0);  // 71 bytes: the data section would start at 96
  const auto f = g.parse();
  CHECK(f.tensor("e").bytes == 0);
  CHECK(f.read("e").values.empty());
  const auto m = f.read_matrix("e");
  CHECK(m.rows() == 3);
  CHECK(m.cols() == 0);
}

TEST_CASE("a tensor of a type pollard does not dequantize opens, and reading it names the type") {
  gguf_bytes g;
  g.header(3, 1, 0).tensor("blk.0.attn_q.weight", {256, 2}, 14, 0).pad(32);
  g.b.resize(g.b.size() + 2 * 210);
  const auto f = g.parse();
  CHECK(f.tensor("blk.0.attn_q.weight").bytes == 420);
  CHECK_THROWS_WITH_AS(
      f.read("blk.0.attn_q.weight"),
      "t.gguf: tensor blk.0.attn_q.weight has type Q6_K, which pollard does not read",
      pollard::format_error);
}

TEST_CASE("a written file reads back with identical metadata, dims, types and values") {
  const auto dir = temp_dir();
  const auto path = dir / "roundtrip.gguf";
  const auto source = every_type_metadata(3);
  const auto metadata = source.parse().metadata();

  const auto a = pollard::test::random_normal<float>(5, 3, 1).values;   // odd shape, 15 values
  const auto b = pollard::test::random_normal<float>(1, 7, 2).values;   // F16
  const auto c = pollard::test::random_normal<float>(2, 33, 3).values;  // BF16, 3-D 11x3x2
  const std::vector<float> d{0.0f, -0.0f, 65504.0f, 1e-8f, -3.0f};
  write_gguf(path, metadata,
             {{"a", {3, 5}, ggml_type::f32, a},
              {"b", {7}, ggml_type::f16, b},
              {"c", {11, 3, 2}, ggml_type::bf16, c},
              {"d", {5}, ggml_type::f16, d}});

  const gguf_file f(path);
  CHECK(f.version() == 3);
  CHECK(f.metadata() == metadata);
  check_every_type_metadata(f.metadata());
  REQUIRE(f.tensors().size() == 4);
  CHECK(f.tensors()[0].name == "a");
  CHECK(f.tensors()[3].name == "d");
  CHECK(f.tensor("c").dims == std::vector<std::uint64_t>{11, 3, 2});
  CHECK(f.tensor("c").type == ggml_type::bf16);
  for (const auto& t : f.tensors()) CHECK(t.offset % 32 == 0);
  CHECK(f.data_offset() % 32 == 0);

  const auto ra = f.read_matrix("a");
  REQUIRE(ra.rows() == 5);
  REQUIRE(ra.cols() == 3);
  for (pollard::index_t i = 0; i < 15; ++i)
    CHECK(ra(i / 3, i % 3) == a[static_cast<std::size_t>(i)]);
  const auto rb = f.read("b").values;
  for (std::size_t i = 0; i < 7; ++i) CHECK(rb[i] == static_cast<float>(pollard::half(b[i])));
  const auto rc = f.read("c").values;
  for (std::size_t i = 0; i < 66; ++i) CHECK(rc[i] == static_cast<float>(pollard::bfloat16(c[i])));
  const auto rd = f.read("d").values;
  CHECK(rd[0] == 0.0f);
  CHECK(std::signbit(rd[1]));
  CHECK(rd[2] == 65504.0f);
  CHECK(rd[3] == 0.0f);  // below half's smallest subnormal: rounds to zero
  CHECK(rd[4] == -3.0f);

  // Reading and writing again reproduces the file byte for byte.
  const auto copy = dir / "copy.gguf";
  std::vector<std::vector<float>> values;
  std::vector<gguf_tensor_view> views;
  for (const auto& t : f.tensors()) values.push_back(f.read(t).values);
  for (std::size_t i = 0; i < f.tensors().size(); ++i)
    views.push_back({f.tensors()[i].name, f.tensors()[i].dims, f.tensors()[i].type, values[i]});
  write_gguf(copy, f.metadata(), views);
  CHECK(read_all(copy) == read_all(path));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the writer pads tensors to general.alignment and the layout matches the specification") {
  const auto dir = temp_dir();
  const auto path = dir / "aligned.gguf";
  gguf_metadata m;
  m.set("general.alignment", std::uint32_t{256});
  m.set("general.name", "x");
  const std::vector<float> v{1.5f, -2.0f, 3.25f};
  write_gguf(path, m,
             {{"p", {3}, ggml_type::f32, v},
              {"q", {1}, ggml_type::f32, std::span<const float>(v).first(1)}});
  const auto bytes = read_all(path);
  // header: magic, version, 2 tensors, 2 keys
  gguf_bytes expected;
  expected.header(3, 2, 2);
  expected.key("general.alignment", 4).put<std::uint32_t>(256);
  expected.key("general.name", 8).str("x");
  expected.tensor("p", {3}, 0, 0).tensor("q", {1}, 0, 256).pad(256);
  expected.values<float>(v).pad(256).values<float>({1.5f}).pad(256);
  CHECK(bytes == expected.b);
  std::filesystem::remove_all(dir);
}

TEST_CASE("metadata set replaces a value where it stands and appends new keys") {
  gguf_metadata m;
  m.set("a", std::uint32_t{1});
  m.set("b", "text");
  m.set("c", true);
  m.set("a", 2.5f);
  CHECK_FALSE(m.insert("b", std::int8_t{1}));
  REQUIRE(m.size() == 3);
  CHECK(m.entries()[0].first == "a");
  CHECK(m.at("a").type() == gguf_value_type::float32);
  CHECK(m.at("b").type() == gguf_value_type::string);
  CHECK(m.erase("b"));
  CHECK(m.entries()[1].first == "c");
  CHECK(m.get<bool>("c"));
}

TEST_CASE(
    "the writer refuses bad tensors before creating the file, and leaves the old file intact") {
  const auto dir = temp_dir();
  const auto path = dir / "refused.gguf";
  { std::ofstream(path) << "old"; }
  gguf_metadata m;
  const std::vector<float> v(32, 1.0f);
  const std::string where = "write_gguf " + path.string();
  CHECK_THROWS_WITH_AS(
      write_gguf(path, m, {{"w", {32}, ggml_type::q4_0, v}}),
      (where + ": tensor w is to be stored as Q4_0; pollard writes F32, F16 and BF16").c_str(),
      pollard::option_error);
  CHECK_THROWS_WITH_AS(write_gguf(path, m, {{"w", {4, 7}, ggml_type::f32, v}}),
                       (where + ": tensor w has dims for 28 elements but 32 values").c_str(),
                       pollard::shape_error);
  CHECK_THROWS_AS(
      write_gguf(path, m, {{"w", {32}, ggml_type::f32, v}, {"w", {32}, ggml_type::f32, v}}),
      pollard::option_error);
  CHECK_THROWS_AS(write_gguf(path, m, {{"w", {1, 1, 1, 1, 32}, ggml_type::f32, v}}),
                  pollard::shape_error);
  m.set("general.alignment", std::uint32_t{24});
  CHECK_THROWS_AS(write_gguf(path, m, {{"w", {32}, ggml_type::f32, v}}), pollard::option_error);
  CHECK(read_all(path).size() == 3);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an empty file or one without the magic says the GGUF magic is missing") {
  CHECK_THROWS_WITH_AS(gguf_file::from_bytes({}, "empty.gguf"),
                       "empty.gguf: not a GGUF file: the 4-byte magic \"GGUF\" is missing (the "
                       "file has 0 bytes) (at byte 0)",
                       pollard::format_error);
}

TEST_CASE("writing F16 or BF16 refuses a value beyond the type's range, naming the tensor") {
  const auto dir = temp_dir();
  const auto path = dir / "overflow.gguf";
  const std::vector<float> w{1.0f, -7e4f, 3.0f, 4.0f};
  CHECK_THROWS_WITH_AS(write_gguf(path, {}, {{"blk.0.w", {2, 2}, ggml_type::f16, w}}),
                       "write_gguf: float32 value -70000 of blk.0.w at (0, 1) overflows float16 "
                       "(largest finite 65504)",
                       pollard::narrowing_error);
  CHECK_FALSE(std::filesystem::exists(path));
  const std::vector<float> big{std::numeric_limits<float>::max()};
  CHECK_THROWS_AS(write_gguf(path, {}, {{"b", {1}, ggml_type::bf16, big}}),
                  pollard::narrowing_error);
  write_gguf(path, {}, {{"blk.0.w", {2, 2}, ggml_type::f16, w, pollard::overflow::saturate}});
  CHECK(gguf_file(path).read("blk.0.w").values == std::vector<float>{1.0f, -65504.0f, 3.0f, 4.0f});
}
