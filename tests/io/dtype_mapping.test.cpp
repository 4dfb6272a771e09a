// Each format's codes map onto pollard::dtype and back, with the formats' own spellings and
// sizes (numpy's descr and itemsize, safetensors' names, ggml's ids and block sizes, DLPack's
// (code, bits)).
#include <doctest/doctest.h>

#include <dlpack/dlpack.h>

#include "pollard/adapters/dlpack.hpp"
#include "pollard/core/dtype.hpp"
#include "pollard/io/gguf/quant.hpp"
#include "pollard/io/npy.hpp"
#include "pollard/io/safetensors.hpp"

using pollard::dtype;

TEST_CASE(".npy descr strings are numpy's") {
  CHECK(pollard::io::npy_descr(dtype::f16) == "<f2");
  CHECK(pollard::io::npy_descr(dtype::f32) == "<f4");
  CHECK(pollard::io::npy_descr(dtype::f64) == "<f8");
  CHECK(pollard::io::npy_descr(dtype::u8) == "|u1");
  CHECK(pollard::io::npy_descr(dtype::boolean) == "|b1");
}

TEST_CASE("safetensors names are the format's") {
  CHECK(pollard::io::safetensors_dtype_name(dtype::bf16) == "BF16");
  CHECK(pollard::io::safetensors_dtype_name(dtype::boolean) == "BOOL");
  CHECK(pollard::io::safetensors_dtype_name(dtype::i64) == "I64");
  CHECK(pollard::io::safetensors_dtype_name(dtype::q4_0) == "?");
}

TEST_CASE("ggml ids map onto dtypes with the same block geometry, and back") {
  // ggml.h: GGML_TYPE_F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, BF16 = 30, F64 = 28.
  CHECK(pollard::io::to_dtype(static_cast<pollard::io::ggml_type>(2)) == dtype::q4_0);
  CHECK(pollard::io::to_dtype(static_cast<pollard::io::ggml_type>(30)) == dtype::bf16);
  CHECK(pollard::io::to_ggml_type(dtype::q8_0) == static_cast<pollard::io::ggml_type>(8));
  CHECK_FALSE(pollard::io::to_ggml_type(dtype::boolean).has_value());
  CHECK_FALSE(pollard::io::to_dtype(pollard::io::ggml_type::q6_k).has_value());
  for (int k = 0; k <= static_cast<int>(dtype::q4_1); ++k) {
    const auto t = static_cast<dtype>(k);
    const auto id = pollard::io::to_ggml_type(t);
    if (!id) continue;
    CAPTURE(pollard::dtype_name(t));
    CHECK(pollard::io::to_dtype(*id) == t);
    const auto traits = pollard::io::find_ggml_type(static_cast<std::uint32_t>(*id));
    REQUIRE(traits.has_value());
    CHECK(traits->block_elements == pollard::dtype_block_elements(t));
    CHECK(traits->block_bytes == pollard::dtype_block_bytes(t));
  }
}

TEST_CASE("DLPack (code, bits) map onto dtypes and back") {
  const auto bf = pollard::dlpack_dtype(dtype::bf16);
  REQUIRE(bf.has_value());
  CHECK(bf->code == kDLBfloat);
  CHECK(bf->bits == 16);
  CHECK(pollard::dtype_from_dlpack(DLDataType{kDLFloat, 64, 1}) == dtype::f64);
  CHECK(pollard::dtype_from_dlpack(DLDataType{kDLUInt, 8, 1}) == dtype::u8);
  CHECK_FALSE(pollard::dtype_from_dlpack(DLDataType{kDLFloat, 32, 4}).has_value());
  CHECK_FALSE(pollard::dlpack_dtype(dtype::q8_0).has_value());
}
