#include "pollard/io/npy.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/random.hpp"

namespace fs = std::filesystem;
using pollard::dtype;
using pollard::index_t;
using pollard::matrix_view;
using pollard::io::npy_write_options;

namespace {

const fs::path fixtures = fs::path(__FILE__).parent_path() / "fixtures";

// The value every fixture holds at (i, j) (see fixtures/make_npy_fixtures.py).
double fixture_value(index_t i, index_t j, index_t cols) {
  return static_cast<double>(i * cols + j) * 0.25 - 1.5;
}

std::vector<std::byte> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t k = 0; k < chars.size(); ++k) out[k] = static_cast<std::byte>(chars[k]);
  return out;
}

// A .npy file with the given header text (taken verbatim), version and data bytes; the header
// length field says `length` when given, the true length otherwise.
std::vector<std::byte> make_npy(const std::string& dict, unsigned major, std::size_t data_bytes,
                                long length = -1) {
  std::vector<std::byte> out;
  const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  for (auto c : magic) out.push_back(std::byte{c});
  out.push_back(static_cast<std::byte>(major));
  out.push_back(std::byte{0});
  const auto n = static_cast<std::uint32_t>(length < 0 ? static_cast<long>(dict.size()) : length);
  const int length_bytes = major == 1 ? 2 : 4;
  for (int k = 0; k < length_bytes; ++k)
    out.push_back(static_cast<std::byte>((n >> (8 * k)) & 0xff));
  for (char c : dict) out.push_back(static_cast<std::byte>(c));
  out.resize(out.size() + data_bytes, std::byte{0x3f});
  return out;
}

std::string header(const std::string& descr, const std::string& order, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }\n";
}

// float16 rounding of a value, through the core storage type.
double as_half(double v) {
  return static_cast<double>(static_cast<float>(pollard::half(static_cast<float>(v))));
}

// What a value becomes when stored as dtype and read back in double.
double stored(double v, pollard::dtype dtype) {
  switch (dtype) {
    case pollard::dtype::f16:
      return as_half(v);
    case pollard::dtype::f32:
      return static_cast<double>(static_cast<float>(v));
    default:
      return v;
  }
}

}  // namespace

TEST_CASE("numpy-written fixtures read back with their values, in both orders and every dtype") {
  struct fixture {
    const char* name;
    pollard::dtype dtype;
    bool fortran;
    index_t rows, cols;
    unsigned version;
  };
  const fixture cases[] = {
      {"f4_c_3x5.npy", pollard::dtype::f32, false, 3, 5, 1},
      {"f4_f_3x5.npy", pollard::dtype::f32, true, 3, 5, 1},
      {"f2_c_4x3.npy", pollard::dtype::f16, false, 4, 3, 1},
      {"f2_f_4x3.npy", pollard::dtype::f16, true, 4, 3, 1},
      {"f8_c_2x6.npy", pollard::dtype::f64, false, 2, 6, 1},
      {"f8_f_2x6.npy", pollard::dtype::f64, true, 2, 6, 1},
      {"f4_1d_7.npy", pollard::dtype::f32, false, 1, 7, 1},
      {"f4_c_0x4.npy", pollard::dtype::f32, false, 0, 4, 1},
      {"f4_c_3x5_v2.npy", pollard::dtype::f32, false, 3, 5, 2},
      {"f4_c_3x5_v3.npy", pollard::dtype::f32, false, 3, 5, 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto d = pollard::io::read_npy<double>(fixtures / c.name);
    const auto f = pollard::io::read_npy<float>(fixtures / c.name);
    CHECK(d.header.dtype == c.dtype);
    CHECK(d.header.fortran_order == c.fortran);
    CHECK(d.header.major_version == c.version);
    CHECK(d.header.shape.size() == (std::string(c.name).find("1d") != std::string::npos ? 1u : 2u));
    REQUIRE(d.rows() == c.rows);
    REQUIRE(d.cols() == c.cols);
    REQUIRE(f.rows() == c.rows);
    for (index_t i = 0; i < c.rows; ++i)
      for (index_t j = 0; j < c.cols; ++j) {
        CHECK(d.view()(i, j) == fixture_value(i, j, c.cols));
        CHECK(f.view()(i, j) == static_cast<float>(fixture_value(i, j, c.cols)));
      }
  }
}

TEST_CASE("uint8 and bool arrays read as their numeric values (bool as 0/1)") {
  const auto u = pollard::io::read_npy<float>(fixtures / "u1_c_2x4.npy");
  const auto b = pollard::io::read_npy<double>(fixtures / "b1_c_2x4.npy");
  CHECK(u.header.dtype == pollard::dtype::u8);
  CHECK(b.header.dtype == pollard::dtype::boolean);
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 4; ++j) {
      CHECK(u.view()(i, j) == static_cast<float>((i * 4 + j) % 3));
      CHECK(b.view()(i, j) == ((i * 4 + j) % 3 == 0 ? 1.0 : 0.0));
    }
}

TEST_CASE("the writer produces the bytes numpy writes for the same array") {
  struct fixture {
    const char* name;
    npy_write_options options;
    index_t rows, cols;
  };
  const fixture cases[] = {
      {"f4_c_3x5.npy", {pollard::dtype::f32, false, false}, 3, 5},
      {"f4_f_3x5.npy", {pollard::dtype::f32, true, false}, 3, 5},
      {"f2_c_4x3.npy", {pollard::dtype::f16, false, false}, 4, 3},
      {"f2_f_4x3.npy", {pollard::dtype::f16, true, false}, 4, 3},
      {"f8_c_2x6.npy", {pollard::dtype::f64, false, false}, 2, 6},
      {"f8_f_2x6.npy", {pollard::dtype::f64, true, false}, 2, 6},
      {"f4_1d_7.npy", {pollard::dtype::f32, false, true}, 1, 7},
      {"f4_c_0x4.npy", {pollard::dtype::f32, false, false}, 0, 4},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    pollard::test::dense_matrix<double> m(c.rows, c.cols);
    for (index_t i = 0; i < c.rows; ++i)
      for (index_t j = 0; j < c.cols; ++j) m(i, j) = fixture_value(i, j, c.cols);
    const auto encoded = pollard::io::encode_npy(m.view(), c.options);
    CHECK(encoded == file_bytes(fixtures / c.name));
  }
}

TEST_CASE("write then read returns the stored values for every dtype, order and shape") {
  const std::pair<index_t, index_t> shapes[] = {{1, 1}, {1, 9}, {7, 1}, {5, 13}, {16, 8}, {0, 3}};
  const pollard::dtype dtypes[] = {pollard::dtype::f16, pollard::dtype::f32, pollard::dtype::f64};
  std::uint64_t seed = 1;
  for (const auto& [rows, cols] : shapes)
    for (const auto dtype : dtypes)
      for (const bool fortran : {false, true}) {
        CAPTURE(rows);
        CAPTURE(cols);
        CAPTURE(pollard::io::npy_descr(dtype));
        CAPTURE(fortran);
        const auto m = pollard::test::random_normal<double>(rows, cols, seed++, 3.0);
        const auto bytes = pollard::io::encode_npy(m.view(), {dtype, fortran, false});
        CHECK((bytes.size() - m.values.size() * pollard::dtype_block_bytes(dtype)) % 64 == 0);
        const auto back = pollard::io::parse_npy<double>(bytes, "round-trip.npy");
        CHECK(back.header.dtype == dtype);
        CHECK(back.header.fortran_order == fortran);
        REQUIRE(back.rows() == rows);
        REQUIRE(back.cols() == cols);
        for (index_t i = 0; i < rows; ++i)
          for (index_t j = 0; j < cols; ++j) CHECK(back.view()(i, j) == stored(m(i, j), dtype));
      }
}

TEST_CASE("the writer reads strided views (a transposed block) element by element") {
  const auto m = pollard::test::random_normal<float>(6, 9, 42);
  const auto view = m.view().block(1, 2, 4, 5).transposed();  // 5 x 4, col_stride 9
  const auto back = pollard::io::parse_npy<float>(pollard::io::encode_npy(view), "strided.npy");
  REQUIRE(back.rows() == 5);
  REQUIRE(back.cols() == 4);
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(back.view()(i, j) == m(1 + j, 2 + i));
}

TEST_CASE("a 1-D array is one row, and only a one-row matrix can be written as 1-D") {
  const auto m = pollard::test::random_normal<float>(1, 5, 3);
  const auto back = pollard::io::parse_npy<float>(
      pollard::io::encode_npy(m.view(), {pollard::dtype::f32, false, true}), "v.npy");
  CHECK(back.header.shape == std::vector<std::size_t>{5});
  CHECK(back.rows() == 1);
  CHECK(back.values == m.values);
  const auto two = pollard::test::random_normal<float>(2, 5, 3);
  CHECK_THROWS_WITH_AS(pollard::io::encode_npy(two.view(), {pollard::dtype::f32, false, true}),
                       "write_npy: a 1-D array needs one row, the matrix has 2",
                       pollard::shape_error);
}

TEST_CASE(
    "a mask is written as uint8 with 1 = pruned, and values that do not fit uint8 are refused") {
  pollard::mask keep(2, 3);
  keep.prune(0, 1);
  keep.prune(1, 0);
  keep.prune(1, 2);
  const auto dir = fs::temp_directory_path() / "pollard-npy-mask-test";
  fs::create_directories(dir);
  pollard::io::write_npy(dir / "mask.npy", keep);
  const auto back = pollard::io::read_npy<float>(dir / "mask.npy");
  CHECK(back.header.dtype == pollard::dtype::u8);
  CHECK(pollard::io::encode_npy(keep) == file_bytes(dir / "mask.npy"));
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 3; ++j) CHECK(back.view()(i, j) == (keep.pruned(i, j) ? 1.0f : 0.0f));

  // A failing write leaves the previous file as it was and no temporary behind.
  const std::vector<float> bad{1.0f, 0.5f};
  CHECK_THROWS_WITH_AS(
      pollard::io::write_npy(dir / "mask.npy", matrix_view<const float>(bad.data(), 1, 2),
                             {pollard::dtype::u8}),
      "write_npy: value 0.500000 at (0, 1) cannot be stored as uint8", pollard::option_error);
  CHECK_THROWS_AS(pollard::io::encode_npy(matrix_view<const float>(bad.data(), 1, 2),
                                          {pollard::dtype::boolean}),
                  pollard::option_error);
  CHECK(pollard::io::read_npy<float>(dir / "mask.npy").values == back.values);
  CHECK(std::distance(fs::directory_iterator(dir), {}) == 1);
  fs::remove_all(dir);
}

TEST_CASE("files numpy cannot be mistaken about are rejected by name: big-endian, int64, 3-D") {
  const auto expect = [](const char* name, const std::string& problem) {
    const fs::path path = fixtures / name;
    CHECK_THROWS_WITH_AS(pollard::io::read_npy<float>(path),
                         (path.string() + ": " + problem).c_str(), pollard::format_error);
  };
  expect("f4_big_endian_3x5.npy", "unsupported dtype '>f4' (big-endian)");
  expect("i8_c_2x2.npy", "unsupported dtype '<i8' (pollard reads f2, f4, f8, u1 and b1)");
  expect("f4_c_2x2x2.npy", "shape has 3 dimensions; only 1-D and 2-D arrays are supported");
  CHECK_THROWS_AS(pollard::io::read_npy<float>(fixtures / "missing.npy"), pollard::io_error);
}

TEST_CASE(
    "malformed, truncated and hostile headers are rejected with a message naming the problem") {
  const auto ok = header("<f4", "False", "(2, 3)");
  CHECK(pollard::io::parse_npy<float>(make_npy(ok, 1, 24), "W.npy").values.size() == 6);
  CHECK(pollard::io::parse_npy<float>(make_npy(ok, 2, 24), "W.npy").values.size() == 6);

  struct hostile {
    std::vector<std::byte> bytes;
    std::string message;
  };
  auto bad_magic = make_npy(ok, 1, 24);
  bad_magic[1] = std::byte{'n'};
  const auto whole = make_npy(ok, 1, 0);
  const std::vector<std::byte> nine_bytes(whole.begin(), whole.begin() + 9);
  auto version_11 = make_npy(ok, 1, 24);
  version_11[7] = std::byte{1};
  const std::vector<hostile> cases{
      {{}, "W.npy: magic needs 6 bytes but only 0 remain (truncated file?) (at byte 0)"},
      {nine_bytes,
       "W.npy: header length needs 2 bytes but only 1 remain (truncated file?) (at byte 8)"},
      {bad_magic, "W.npy: not a .npy file (bad magic)"},
      {make_npy(ok, 4, 24),
       "W.npy: unsupported .npy format version 4.0 (pollard reads 1.0, 2.0 and 3.0)"},
      {version_11, "W.npy: unsupported .npy format version 1.1 (pollard reads 1.0, 2.0 and 3.0)"},
      {make_npy(ok, 1, 0, 5000), "W.npy: header needs 5000 bytes but only " +
                                     std::to_string(ok.size()) +
                                     " remain (truncated file?) (at byte 10)"},
      {make_npy(ok, 2, 0, 0xffffffff), "W.npy: header needs 4294967295 bytes but only " +
                                           std::to_string(ok.size()) +
                                           " remain (truncated file?) (at byte 12)"},
      {make_npy(ok, 1, 23),
       "W.npy: shape and dtype call for 24 bytes of data but 23 follow the header"},
      {make_npy(ok, 1, 25),
       "W.npy: shape and dtype call for 24 bytes of data but 25 follow the header"},
      {make_npy(header(">f4", "False", "(2, 3)"), 1, 24),
       "W.npy: unsupported dtype '>f4' (big-endian)"},
      {make_npy(header("|f4", "False", "(2, 3)"), 1, 24),
       "W.npy: unsupported dtype '|f4' ('|' means no byte order, which a multi-byte type needs)"},
      {make_npy(header("f4", "False", "(2, 3)"), 1, 24),
       "W.npy: unsupported dtype 'f4' (no byte-order character '<', '=' or '|')"},
      {make_npy(header("<c8", "False", "(2, 3)"), 1, 24),
       "W.npy: unsupported dtype '<c8' (pollard reads f2, f4, f8, u1 and b1)"},
      {make_npy(header("", "False", "(2, 3)"), 1, 24),
       "W.npy: unsupported dtype '' (pollard reads f2, f4, f8, u1 and b1)"},
      {make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, 8),
       "W.npy: malformed .npy header: 'descr' is not a string (structured dtypes are not "
       "supported)"},
      {make_npy(header("<f4", "0", "(2, 3)"), 1, 24),
       "W.npy: malformed .npy header: 'fortran_order' is neither True nor False"},
      {make_npy(header("<f4", "False", "(2, -3)"), 1, 24),
       "W.npy: malformed .npy header: 'shape' holds something other than a non-negative integer"},
      {make_npy(header("<f4", "False", "(6)"), 1, 24),
       "W.npy: malformed .npy header: 'shape' (n) is not a tuple; write (n,)"},
      {make_npy(header("<f4", "False", "[2, 3]"), 1, 24),
       "W.npy: malformed .npy header: expected 'shape' to be a tuple"},
      {make_npy(header("<f4", "False", "(2 3)"), 1, 24),
       "W.npy: malformed .npy header: expected ',' or ')' in 'shape'"},
      {make_npy(header("<f4", "False", "()"), 1, 4),
       "W.npy: 0-D arrays (scalars) are not supported"},
      {make_npy(header("<f4", "False", "(1099511627776, 1099511627776)"), 1, 0),
       "W.npy: size overflows (1099511627776 x 1099511627776)"},
      {make_npy(header("<f8", "False", "(4611686018427387904,)"), 1, 0),
       "W.npy: size overflows (4611686018427387904 x 8)"},
      {make_npy(header("<f4", "False", "(99999999999999999999,)"), 1, 0),
       "W.npy: malformed .npy header: an extent in 'shape' is too large"},
      {make_npy("{'descr': '<f4', 'shape': (2, 3), }", 1, 24),
       "W.npy: malformed .npy header: key 'fortran_order' is missing"},
      {make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 1, 24),
       "W.npy: malformed .npy header: unexpected key 'x'"},
      {make_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 1, 24),
       "W.npy: malformed .npy header: key 'descr' appears twice"},
      {make_npy("{'descr': '<f4', 'fortran_order': False 'shape': (2, 3)}", 1, 24),
       "W.npy: malformed .npy header: expected ',' or '}' after the value of 'fortran_order'"},
      {make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", 1, 24),
       "W.npy: malformed .npy header: unexpected text after the header dict"},
      {make_npy("{'descr': '<f4", 1, 24),
       "W.npy: malformed .npy header: unterminated string in the value of 'descr'"},
      {make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 1, 24),
       "W.npy: malformed .npy header: expected ',' or '}' after the value of 'shape'"},
      {make_npy("'descr': '<f4'", 1, 24),
       "W.npy: malformed .npy header: expected the header dict to start with '{'"},
      {make_npy("{descr: '<f4'}", 1, 24),
       "W.npy: malformed .npy header: expected a quoted string for a key"},
      {make_npy("{'de\\'scr': '<f4'}", 1, 24),
       "W.npy: malformed .npy header: escape sequences are not supported in a key"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.message);
    CHECK_THROWS_WITH_AS(pollard::io::parse_npy<float>(c.bytes, "W.npy"), c.message.c_str(),
                         pollard::format_error);
  }
}

TEST_CASE("every truncation of a valid file is rejected, never read past its end") {
  const auto m = pollard::test::random_normal<float>(3, 4, 11);
  const auto bytes = pollard::io::encode_npy(m.view(), {pollard::dtype::f16, true, false});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    const std::vector<std::byte> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
    CHECK_THROWS_AS(pollard::io::parse_npy<double>(prefix, "cut.npy"), pollard::format_error);
  }
}

TEST_CASE(
    "double-quoted strings, '=' byte order and extra white space are accepted as numpy does") {
  const auto bytes =
      make_npy("{ \"shape\" : ( 2 , 1 , ) ,\"fortran_order\":True,'descr':'=f8'}   \n", 3, 16);
  const auto m = pollard::io::parse_npy<double>(bytes, "W.npy");
  CHECK(m.header.dtype == pollard::dtype::f64);
  CHECK(m.header.fortran_order);
  CHECK(m.header.shape == std::vector<std::size_t>{2, 1});
  CHECK(m.header.data_offset == bytes.size() - 16);
}

TEST_CASE("writing float16 refuses a value beyond its range, naming file, position and value") {
  std::vector<float> w{1.0f, 1e5f, -2.0f, 65504.0f};
  const matrix_view<const float> v(w.data(), 2, 2);
  CHECK_THROWS_WITH_AS(pollard::io::encode_npy(v, {.dtype = dtype::f16}),
                       "write_npy: float32 value 1e+05 at (0, 1) overflows float16 (largest "
                       "finite 65504)",
                       pollard::narrowing_error);
  const auto dir = fs::temp_directory_path() / "pollard-npy-overflow-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  CHECK_THROWS_WITH_AS(pollard::io::write_npy(dir / "W16.npy", v, {.dtype = dtype::f16}),
                       ("write_npy: float32 value 1e+05 of " + (dir / "W16.npy").string() +
                        " at (0, 1) overflows float16 (largest finite 65504)")
                           .c_str(),
                       pollard::narrowing_error);
  CHECK_FALSE(fs::exists(dir / "W16.npy"));  // nothing written
  // The explicit saturation option stores the largest finite float16 instead.
  const auto bytes =
      pollard::io::encode_npy(v, {.dtype = dtype::f16, .on_overflow = pollard::overflow::saturate});
  const auto back = pollard::io::parse_npy<float>(bytes, "W16.npy");
  CHECK(back.values == std::vector<float>{1.0f, 65504.0f, -2.0f, 65504.0f});
  // A NaN is refused by name rather than written.
  w[1] = 1.0f;
  w[2] = std::nanf("");
  CHECK_THROWS_WITH_AS(pollard::io::encode_npy(v, {.dtype = dtype::f16}),
                       "write_npy: non-finite value at (1, 0) = nan", pollard::non_finite_error);
}

TEST_CASE("a float64 value that overflows float32 on reading names the conversion") {
  std::vector<double> w{1.0, 2.0, 1e300, 4.0};
  const auto bytes =
      pollard::io::encode_npy(matrix_view<const double>(w.data(), 2, 2), {.dtype = dtype::f64});
  CHECK_THROWS_WITH_AS(pollard::io::parse_npy<float>(bytes, "W.npy"),
                       "W.npy: float64 value 1e+300 at (1, 0) overflows float32 (largest finite "
                       "3.4028234663852886e+38)",
                       pollard::narrowing_error);
  CHECK(pollard::io::parse_npy<double>(bytes, "W.npy").values[2] == 1e300);  // no narrowing
}

TEST_CASE("a 1-D array where a matrix is required is refused, not read as 1 x n") {
  std::vector<float> w{1.0f, 2.0f, 3.0f};
  const auto bytes =
      pollard::io::encode_npy(matrix_view<const float>(w.data(), 1, 3), {.one_dimensional = true});
  CHECK_THROWS_WITH_AS(
      pollard::io::parse_npy<float>(bytes, "W.npy", pollard::io::npy_rank::matrix),
      "W.npy: a 1-D array of shape (3,) where a matrix is required; reshape it to (1, 3) or "
      "(3, 1) before saving",
      pollard::format_error);
  CHECK(pollard::io::parse_npy<float>(bytes, "W.npy").rows() == 1);  // a vector reader accepts it
}
