// The runtime dtype: names, sizes and the storage-type mapping, against the formats' own tables
// (numpy itemsize, safetensors names, ggml's block sizes in gguf-py's GGML_QUANT_SIZES).
#include <doctest/doctest.h>

#include "pollard/core/dtype.hpp"

using pollard::dtype;

TEST_CASE("dtype sizes are the formats' sizes") {
  CHECK(pollard::dtype_block_bytes(dtype::f64) == 8);
  CHECK(pollard::dtype_block_bytes(dtype::f32) == 4);
  CHECK(pollard::dtype_block_bytes(dtype::f16) == 2);
  CHECK(pollard::dtype_block_bytes(dtype::bf16) == 2);
  CHECK(pollard::dtype_block_bytes(dtype::boolean) == 1);
  // GGML_QUANT_SIZES: Q8_0 (32, 2 + 32), Q4_0 (32, 2 + 16), Q4_1 (32, 2 + 2 + 16).
  CHECK(pollard::dtype_block_elements(dtype::q8_0) == 32);
  CHECK(pollard::dtype_block_bytes(dtype::q8_0) == 34);
  CHECK(pollard::dtype_block_bytes(dtype::q4_0) == 18);
  CHECK(pollard::dtype_block_bytes(dtype::q4_1) == 20);
  CHECK(pollard::dtype_block_elements(dtype::f32) == 1);
}

TEST_CASE("every dtype name reads back as the same dtype") {
  for (int k = 0; k <= static_cast<int>(dtype::q4_1); ++k) {
    const auto t = static_cast<dtype>(k);
    CHECK(pollard::dtype_from_name(pollard::dtype_name(t)) == t);
  }
  CHECK_FALSE(pollard::dtype_from_name("f8").has_value());
  static_assert(pollard::dtype_of<float>() == dtype::f32);
  static_assert(pollard::dtype_of<const double>() == dtype::f64);
  static_assert(pollard::dtype_of<pollard::half>() == dtype::f16);
  static_assert(pollard::dtype_of<pollard::bfloat16>() == dtype::bf16);
  CHECK(pollard::is_floating(dtype::bf16));
  CHECK_FALSE(pollard::is_floating(dtype::q8_0));
}
