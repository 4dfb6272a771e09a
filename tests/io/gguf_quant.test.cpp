#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "pollard/io/gguf/quant.hpp"

using pollard::io::dequantize;
using pollard::io::ggml_type;

namespace {

// IEEE binary16 decoded from its fields with ldexp: the textbook definition, nothing shared.
float naive_half(std::uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double v;
  if (exponent == 0)
    v = std::ldexp(mantissa, -24);
  else if (exponent == 31)
    v = mantissa == 0 ? std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::quiet_NaN();
  else
    v = std::ldexp(1024 + mantissa, exponent - 25);
  return static_cast<float>(sign ? -v : v);
}

void put_u16(std::vector<std::byte>& out, std::uint16_t v) {
  out.push_back(static_cast<std::byte>(v & 0xff));
  out.push_back(static_cast<std::byte>(v >> 8));
}

// Random finite half bits with a moderate exponent (scales as real models have).
std::uint16_t random_scale(std::mt19937& rng) {
  const auto sign = static_cast<std::uint16_t>((rng() & 1u) << 15);
  const auto exponent = static_cast<std::uint16_t>(5 + rng() % 14);  // 2^-10 .. 2^3
  return static_cast<std::uint16_t>(sign | (exponent << 10) | (rng() & 0x3ffu));
}

// The value of element i of a run of blocks, computed in double from the block layout.
std::vector<float> naive_dequantize(ggml_type type, const std::vector<std::byte>& in,
                                    std::size_t n) {
  std::vector<float> out(n);
  auto u8 = [&](std::size_t i) { return std::to_integer<unsigned>(in[i]); };
  auto u16 = [&](std::size_t i) { return static_cast<std::uint16_t>(u8(i) | (u8(i + 1) << 8)); };
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t block = i / 32, j = i % 32;
    double v = 0;
    if (type == ggml_type::q8_0) {
      const std::size_t base = block * 34;
      const int q = u8(base + 2 + j) >= 128 ? static_cast<int>(u8(base + 2 + j)) - 256
                                            : static_cast<int>(u8(base + 2 + j));
      v = q * static_cast<double>(naive_half(u16(base)));
    } else if (type == ggml_type::q4_0) {
      const std::size_t base = block * 18;
      const unsigned byte = u8(base + 2 + j % 16);
      const int nibble = static_cast<int>(j < 16 ? byte & 15u : byte >> 4);
      v = (nibble - 8) * static_cast<double>(naive_half(u16(base)));
    } else if (type == ggml_type::q4_1) {
      const std::size_t base = block * 20;
      const unsigned byte = u8(base + 4 + j % 16);
      const int nibble = static_cast<int>(j < 16 ? byte & 15u : byte >> 4);
      v = nibble * static_cast<double>(naive_half(u16(base))) +
          static_cast<double>(naive_half(u16(base + 2)));
    }
    out[i] = static_cast<float>(v);
  }
  return out;
}

}  // namespace

TEST_CASE("Q8_0 block: each int8 times the f16 scale") {
  std::vector<std::byte> block;
  put_u16(block, 0x3800);  // d = 0.5
  for (int j = 0; j < 32; ++j)
    block.push_back(static_cast<std::byte>(
        static_cast<std::uint8_t>(static_cast<std::int8_t>(j == 0 ? -128 : j * 4 - 64))));
  std::vector<float> out(32);
  dequantize(ggml_type::q8_0, block, out);
  CHECK(out[0] == -64.0f);  // -128 * 0.5
  CHECK(out[1] == -30.0f);  // (4 - 64) * 0.5
  CHECK(out[16] == 0.0f);   // (64 - 64) * 0.5
  CHECK(out[31] == 30.0f);  // (124 - 64) * 0.5
}

TEST_CASE("Q4_0 block: low nibbles are elements 0..15, high nibbles 16..31, value (q - 8)·d") {
  std::vector<std::byte> block;
  put_u16(block, 0x4000);  // d = 2
  for (int j = 0; j < 16; ++j)
    block.push_back(static_cast<std::byte>((15 - j) << 4 | j));  // low j, high 15 - j
  std::vector<float> out(32);
  dequantize(ggml_type::q4_0, block, out);
  CHECK(out[0] == -16.0f);   // (0 - 8) * 2
  CHECK(out[8] == 0.0f);     // (8 - 8) * 2
  CHECK(out[15] == 14.0f);   // (15 - 8) * 2
  CHECK(out[16] == 14.0f);   // high nibble of byte 0: 15
  CHECK(out[31] == -16.0f);  // high nibble of byte 15: 0
}

TEST_CASE("Q4_1 block: value q·d + m") {
  std::vector<std::byte> block;
  put_u16(block, 0x3400);  // d = 0.25
  put_u16(block, 0xbc00);  // m = -1
  for (int j = 0; j < 16; ++j) block.push_back(static_cast<std::byte>(0xf0 | (j & 15)));
  std::vector<float> out(32);
  dequantize(ggml_type::q4_1, block, out);
  CHECK(out[0] == -1.0f);   // 0 * 0.25 - 1
  CHECK(out[4] == 0.0f);    // 4 * 0.25 - 1
  CHECK(out[15] == 2.75f);  // 15 * 0.25 - 1
  CHECK(out[16] == 2.75f);  // high nibble 15
  CHECK(out[31] == 2.75f);
}

TEST_CASE("quantized blocks with random scales and codes equal the textbook formula bit for bit") {
  std::mt19937 rng(20240611);
  for (const auto type : {ggml_type::q8_0, ggml_type::q4_0, ggml_type::q4_1}) {
    for (const std::size_t blocks : {1u, 3u, 17u}) {
      CAPTURE(pollard::io::ggml_type_name(type));
      CAPTURE(blocks);
      std::vector<std::byte> in;
      for (std::size_t b = 0; b < blocks; ++b) {
        put_u16(in, random_scale(rng));
        if (type == ggml_type::q4_1) put_u16(in, random_scale(rng));
        const int payload = type == ggml_type::q8_0 ? 32 : 16;
        for (int j = 0; j < payload; ++j) in.push_back(static_cast<std::byte>(rng() & 0xffu));
      }
      std::vector<float> out(blocks * 32);
      dequantize(type, in, out);
      const auto expected = naive_dequantize(type, in, out.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        CAPTURE(i);
        REQUIRE(out[i] == expected[i]);
      }
    }
  }
}

TEST_CASE("F16 and BF16 decode every bit pattern, including subnormals, infinities and NaN") {
  std::vector<std::byte> in;
  for (std::uint32_t h = 0; h < 65536; ++h) put_u16(in, static_cast<std::uint16_t>(h));
  std::vector<float> out(65536);
  dequantize(ggml_type::f16, in, out);
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float expected = naive_half(static_cast<std::uint16_t>(h));
    CAPTURE(h);
    if (std::isnan(expected))
      REQUIRE(std::isnan(out[h]));
    else
      REQUIRE(out[h] == expected);
  }
  dequantize(ggml_type::bf16, in, out);
  for (std::uint32_t b = 0; b < 65536; ++b) {
    // bfloat16 is the upper half of a float32
    const auto u = static_cast<std::uint32_t>(b) << 16;
    const int exponent = static_cast<int>((u >> 23) & 0xff);
    const double frac = static_cast<double>(u & 0x7fffff);
    double v =
        exponent == 0 ? std::ldexp(frac, -149) : std::ldexp(frac + 8388608.0, exponent - 150);
    if (u >> 31) v = -v;
    CAPTURE(b);
    if (exponent == 255)
      REQUIRE((std::isnan(out[b]) || std::isinf(out[b])));
    else
      REQUIRE(out[b] == static_cast<float>(v));
  }
}

TEST_CASE("dequantize rejects other ggml types by name and sizes that do not fit the blocks") {
  std::vector<std::byte> in(210);
  std::vector<float> out(256);
  CHECK_THROWS_WITH_AS(dequantize(ggml_type::q6_k, in, out),
                       "dequantize: type Q6_K is not read by pollard", pollard::format_error);
  std::vector<std::byte> q(18);
  std::vector<float> too_many(33);
  CHECK_THROWS_WITH_AS(dequantize(ggml_type::q4_0, q, too_many),
                       "dequantize: 18 bytes of Q4_0 cannot hold 33 elements",
                       pollard::shape_error);
  std::vector<float> two_blocks(64);
  CHECK_THROWS_AS(dequantize(ggml_type::q4_0, q, two_blocks), pollard::shape_error);
}

TEST_CASE("the ggml type table gives ggml's names and block sizes") {
  using pollard::io::find_ggml_type;
  CHECK(find_ggml_type(14)->name == "Q6_K");
  CHECK(find_ggml_type(14)->block_elements == 256);
  CHECK(find_ggml_type(14)->block_bytes == 210);  // 128 + 64 + 16 scales + f16 d
  CHECK(find_ggml_type(3)->block_bytes == 20);    // f16 d, f16 m, 16 bytes
  CHECK(find_ggml_type(30)->name == "BF16");
  CHECK_FALSE(find_ggml_type(4).has_value());  // Q4_2, removed from ggml
  CHECK(pollard::io::ggml_type_name(static_cast<ggml_type>(77)) == "type 77");
}
