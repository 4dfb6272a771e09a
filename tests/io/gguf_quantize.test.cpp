#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pollard/io/gguf/quantize.hpp"
#include "support/files.hpp"

using pollard::io::dequantize;
using pollard::io::ggml_type;
using pollard::io::ggml_type_bytes;
using pollard::io::quantize;

namespace {

namespace fs = std::filesystem;

const fs::path fixtures = fs::path(__FILE__).parent_path() / "fixtures" / "gguf_quant";
constexpr std::size_t fixture_row = 64;  // see fixtures/make_gguf_quant_fixture.py

using pollard::test::read_file_bytes;

std::vector<float> read_floats(const fs::path& path) {
  const auto bytes = read_file_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

std::vector<float> round_trip(ggml_type type, const std::vector<float>& x, std::size_t row) {
  const auto bytes = quantize(type, x, row, "w");
  std::vector<float> back(x.size());
  dequantize(type, bytes, back);
  return back;
}

// Rows of Gaussian weights (σ = 0.05, like a trained linear), seeded.
std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  return x;
}

// Zeroes the half of each row with the smallest magnitudes (magnitude pruning at 50 %).
void prune_half_of_each_row(std::vector<float>& x, std::size_t row) {
  for (std::size_t r = 0; r < x.size() / row; ++r) {
    std::vector<float> magnitudes;
    for (std::size_t j = 0; j < row; ++j) magnitudes.push_back(std::fabs(x[r * row + j]));
    std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<long>(row / 2),
                     magnitudes.end());
    const float threshold = magnitudes[row / 2];
    for (std::size_t j = 0; j < row; ++j)
      if (std::fabs(x[r * row + j]) < threshold) x[r * row + j] = 0.0f;
  }
}

float block_max_abs(const float* b) {
  float m = 0.0f;
  for (int j = 0; j < 32; ++j) m = std::max(m, std::fabs(b[j]));
  return m;
}

std::string error_of(ggml_type type, const std::vector<float>& x, std::size_t row) {
  try {
    (void)quantize(type, x, row, "blk.3.ffn_up.weight");
  } catch (const pollard::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("F16, BF16, Q8_0, Q4_0 and Q4_1 bytes equal gguf.quants.quantize's, byte for byte") {
  const auto input = read_floats(fixtures / "input.f32");
  REQUIRE(input.size() == 64 * fixture_row);
  for (const auto type :
       {ggml_type::f16, ggml_type::bf16, ggml_type::q8_0, ggml_type::q4_0, ggml_type::q4_1}) {
    CAPTURE(pollard::io::ggml_type_name(type));
    const auto expected = read_file_bytes(fixtures / (pollard::io::ggml_type_name(type) + ".bin"));
    const auto got = quantize(type, input, fixture_row, "fixture");
    REQUIRE(got.size() == expected.size());
    const std::size_t block_bytes =
        pollard::io::find_ggml_type(static_cast<std::uint32_t>(type))->block_bytes;
    std::size_t first_difference = got.size();
    for (std::size_t i = 0; i < got.size(); ++i)
      if (got[i] != expected[i]) {
        first_difference = i;
        break;
      }
    CHECK_MESSAGE(first_difference == got.size(), "first differing byte "
                                                      << first_difference << " (block "
                                                      << first_difference / block_bytes << ")");
  }
}

TEST_CASE("a round trip stays within each format's error bound") {
  constexpr std::size_t row = 256;
  auto x = gaussian(64 * row, 7);
  for (std::size_t i = 0; i < x.size(); i += 97) x[i] *= 40.0f;  // outliers
  const double f16_rel = std::ldexp(1.0, -11);

  SUBCASE("Q8_0: |x - x'| <= amax/254 + 127·(f16 rounding of amax/127)") {
    const auto back = round_trip(ggml_type::q8_0, x, row);
    for (std::size_t b = 0; b < x.size() / 32; ++b) {
      const double amax = block_max_abs(&x[b * 32]);
      const double bound = amax / 254.0 * (1 + 1e-6) + amax * f16_rel;
      for (std::size_t j = b * 32; j < b * 32 + 32; ++j)
        REQUIRE(std::fabs(x[j] - back[j]) <= bound);
    }
  }
  SUBCASE("Q4_0: |x - x'| <= d/2 (d at the clamped top level) + 8·(f16 rounding of d)") {
    const auto back = round_trip(ggml_type::q4_0, x, row);
    for (std::size_t b = 0; b < x.size() / 32; ++b) {
      const float* block = &x[b * 32];
      std::size_t largest = 0;
      for (std::size_t j = 1; j < 32; ++j)
        if (std::fabs(block[j]) > std::fabs(block[largest])) largest = j;
      const double d = std::fabs(block[largest]) / 8.0;
      for (std::size_t j = 0; j < 32; ++j) {
        // The levels are -8..7 times d = max/-8: the largest element sits on level -8, and a
        // value of the opposite sign beyond 7.5 levels clamps to level 7.
        const bool clamped = -block[j] * std::copysign(1.0f, block[largest]) > 7.5 * d;
        const double bound = (clamped ? d : d / 2) * (1 + 1e-6) + 8 * d * f16_rel;
        REQUIRE(std::fabs(block[j] - back[b * 32 + j]) <= bound);
      }
    }
  }
  SUBCASE("Q4_1: |x - x'| <= d/2 + 15·(f16 rounding of d) + f16 rounding of min") {
    const auto back = round_trip(ggml_type::q4_1, x, row);
    for (std::size_t b = 0; b < x.size() / 32; ++b) {
      const float* block = &x[b * 32];
      const double lo = *std::min_element(block, block + 32);
      const double hi = *std::max_element(block, block + 32);
      const double d = (hi - lo) / 15.0;
      const double bound = d / 2 * (1 + 1e-6) + 15 * d * f16_rel + std::fabs(lo) * f16_rel;
      for (std::size_t j = 0; j < 32; ++j) REQUIRE(std::fabs(block[j] - back[b * 32 + j]) <= bound);
    }
  }
  SUBCASE("F16 and BF16: relative error at most 2^-11 and 2^-8") {
    const auto half = round_trip(ggml_type::f16, x, row);
    const auto brain = round_trip(ggml_type::bf16, x, row);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::fabs(x[i]) < 6.2e-5f) continue;  // f16 subnormals: absolute error instead
      REQUIRE(std::fabs(x[i] - half[i]) <= std::fabs(x[i]) * f16_rel);
      REQUIRE(std::fabs(x[i] - brain[i]) <= std::fabs(x[i]) * std::ldexp(1.0, -8));
    }
  }
}

TEST_CASE("pruned zeros stay exactly zero through Q8_0 and Q4_0") {
  constexpr std::size_t row = 576;
  auto x = gaussian(32 * row, 11);
  prune_half_of_each_row(x, row);
  for (const auto type : {ggml_type::q8_0, ggml_type::q4_0}) {
    CAPTURE(pollard::io::ggml_type_name(type));
    const auto back = round_trip(type, x, row);
    std::size_t zeros = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i] == 0.0f) {
        ++zeros;
        REQUIRE(back[i] == 0.0f);  // Q4_0 may return -0.0, which equals 0
      }
    CHECK(zeros == x.size() / 2);
  }
}

TEST_CASE(
    "Q4_1 keeps a pruned zero only where the block's minimum is zero or a level lands on it") {
  // Q4_1 stores x as q·d + min with q = round((x - min)/d): zero comes back as
  // round(-min/d)·d + min, which is zero only when min is zero (blocks without negative kept
  // weights) or -min happens to be a multiple of d.
  constexpr std::size_t row = 576;
  auto x = gaussian(64 * row, 13);
  prune_half_of_each_row(x, row);
  const auto back = round_trip(ggml_type::q4_1, x, row);
  std::size_t zeros = 0;
  std::size_t survived = 0;
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    const float* block = &x[b * 32];
    const float lo = *std::min_element(block, block + 32);
    const float hi = *std::max_element(block, block + 32);
    for (std::size_t j = b * 32; j < b * 32 + 32; ++j) {
      if (x[j] != 0.0f) continue;
      ++zeros;
      if (back[j] == 0.0f) ++survived;
      if (lo == 0.0f) REQUIRE(back[j] == 0.0f);
      // Otherwise the zero moves by at most half a level (plus the f16 roundings).
      REQUIRE(std::fabs(back[j]) <= (hi - lo) / 30.0 * 1.01 + std::fabs(lo) * 1e-3);
    }
  }
  const double fraction = static_cast<double>(survived) / static_cast<double>(zeros);
  MESSAGE("Q4_1 round trip of 64 rows of 576 Gaussian weights pruned 50 % by magnitude: "
          << survived << " of " << zeros << " zeros stay zero (" << 100.0 * fraction << " %)");
  CHECK(zeros == x.size() / 2);
  // A 50 %-pruned Gaussian block of 32 keeps weights of both signs, so its minimum is negative:
  // the zeros come back as small nonzero values.
  CHECK(fraction < 0.05);
}

TEST_CASE("quantize is idempotent on its own output: quantize(dequantize(q)) == q") {
  constexpr std::size_t row = 128;
  auto x = gaussian(64 * row, 17);
  prune_half_of_each_row(x, row);
  for (const auto type :
       {ggml_type::q8_0, ggml_type::q4_0, ggml_type::q4_1, ggml_type::f16, ggml_type::bf16}) {
    CAPTURE(pollard::io::ggml_type_name(type));
    const auto bytes = quantize(type, x, row, "w");
    std::vector<float> back(x.size());
    dequantize(type, bytes, back);
    CHECK(quantize(type, back, row, "w") == bytes);
  }
}

TEST_CASE("quantize refuses bad input by tensor name and position") {
  std::vector<float> x(128, 0.5f);
  SUBCASE("NaN and infinity") {
    x[70] = std::numeric_limits<float>::quiet_NaN();
    for (const auto type : {ggml_type::f32, ggml_type::f16, ggml_type::q8_0, ggml_type::q4_1}) {
      const auto message = error_of(type, x, 64);
      CHECK(message.find("blk.3.ffn_up.weight") != std::string::npos);
      CHECK(message.find("element 70 (row 1, column 6) is nan") != std::string::npos);
    }
    x[70] = -std::numeric_limits<float>::infinity();
    CHECK(error_of(ggml_type::q4_0, x, 64).find("element 70 (row 1, column 6) is -inf") !=
          std::string::npos);
    CHECK_THROWS_AS((void)quantize(ggml_type::q4_0, x, 64, "w"), pollard::non_finite_error);
  }
  SUBCASE("a row length that is not a whole number of blocks") {
    const auto message = error_of(ggml_type::q8_0, std::vector<float>(96, 1.0f), 48);
    CHECK(message.find("blk.3.ffn_up.weight: rows of 48 elements are not a whole number of Q8_0 "
                       "blocks of 32") != std::string::npos);
    CHECK_THROWS_AS((void)quantize(ggml_type::q4_1, std::vector<float>(96, 1.0f), 48, "w"),
                    pollard::shape_error);
    CHECK_NOTHROW((void)quantize(ggml_type::f16, std::vector<float>(96, 1.0f), 48, "w"));
    CHECK(error_of(ggml_type::f16, std::vector<float>(100, 1.0f), 48)
              .find("100 values are not whole rows of 48") != std::string::npos);
  }
  SUBCASE("a value that overflows F16 or BF16") {
    x[5] = 70000.0f;
    CHECK(
        error_of(ggml_type::f16, x, 64).find("element 5 (row 0, column 5) = 70000 overflows F16") !=
        std::string::npos);
    CHECK_NOTHROW((void)quantize(ggml_type::bf16, x, 64, "w"));
    x[5] = 65519.99f;  // rounds to 65504
    CHECK_NOTHROW((void)quantize(ggml_type::f16, x, 64, "w"));
    x[5] = std::numeric_limits<float>::max();
    CHECK(error_of(ggml_type::bf16, x, 64)
              .find("element 5 (row 0, column 5) = 3.40282347e+38 "
                    "overflows BF16") != std::string::npos);
  }
  SUBCASE("a block whose f16 scale or minimum overflows") {
    x[40] = 1e7f;  // Q8_0 scale 1e7/127 > 65504
    CHECK(error_of(ggml_type::q8_0, x, 64)
              .find("the scale 78740.1562 of the Q8_0 block starting "
                    "at element 32 (row 0, column 32) overflows F16") != std::string::npos);
    CHECK(error_of(ggml_type::q4_0, x, 64).find("the scale -1250000 of the Q4_0 block") !=
          std::string::npos);
    x[40] = 0.5f;
    x[3] = -70000.0f;  // Q4_1 scale 70000.5/15 fits, its minimum does not
    CHECK(error_of(ggml_type::q4_1, x, 64)
              .find("the minimum -70000 of the Q4_1 block starting "
                    "at element 0 (row 0, column 0) overflows F16") != std::string::npos);
    CHECK_NOTHROW((void)quantize(ggml_type::q8_0, x, 64, "w"));
  }
  SUBCASE("the output buffer must have the size of the stored type") {
    std::vector<std::byte> out(ggml_type_bytes(ggml_type::q4_1, 128) - 1);
    CHECK_THROWS_AS(quantize(ggml_type::q4_1, x, 64, out, "w"), pollard::shape_error);
    CHECK_THROWS_AS((void)quantize(ggml_type::q6_k, x, 64, "w"), pollard::option_error);
  }
}
