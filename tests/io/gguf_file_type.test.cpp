// general.file_type as llama.cpp's model loader infers it from the tensor types
// (llama_model_loader: the type most tensors have, the first to reach that count on a tie, mapped
// to its llama_ftype), and kept true by the writers only when the types change.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "pollard/io/gguf/file_type.hpp"

using namespace pollard::io;

TEST_CASE("llama_file_type_of: the type most tensors have, as llama.cpp names its file type") {
  using t = ggml_type;
  // Values from llama.h's llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q4_1 3,
  // MOSTLY_Q8_0 7, MOSTLY_Q4_K_M 15, MOSTLY_Q6_K 18, MOSTLY_BF16 32.
  CHECK(llama_file_type_of(std::vector<t>{t::f32, t::q8_0, t::q8_0, t::f32, t::q8_0}) == 7u);
  CHECK(llama_file_type_of(std::vector<t>{t::f16, t::f32, t::f16}) == 1u);
  CHECK(llama_file_type_of(std::vector<t>{t::bf16}) == 32u);
  CHECK(llama_file_type_of(std::vector<t>{t::q4_k, t::q6_k, t::q4_k}) == 15u);
  CHECK(llama_file_type_of(std::vector<t>{t::q4_0, t::q4_1, t::q4_1}) == 3u);
  // A tie goes to the type that reached the count first, in file order.
  CHECK(llama_file_type_of(std::vector<t>{t::q4_0, t::f32, t::f32, t::q4_0}) == 0u);
  CHECK(llama_file_type_of(std::vector<t>{t::q4_0, t::f32, t::q4_0, t::f32}) == 2u);
  CHECK(llama_file_type_of(std::vector<t>{t::q6_k, t::q6_k}) == 18u);
  CHECK_FALSE(llama_file_type_of(std::vector<t>{}).has_value());
  CHECK_FALSE(llama_file_type_of(std::vector<t>{t::i32}).has_value());  // llama.cpp names none
}

TEST_CASE("update_llama_file_type changes the key only when the types change, keeping its type") {
  using t = ggml_type;
  const std::vector<t> q4_k_m{t::q4_k, t::q6_k, t::q4_k, t::f32};
  gguf_metadata md;
  md.set("general.file_type", std::uint32_t{14});  // MOSTLY_Q4_K_S: a quantizer's own mixture
  update_llama_file_type(md, q4_k_m, q4_k_m);
  CHECK(md.get<std::uint32_t>("general.file_type") == 14u);
  update_llama_file_type(md, q4_k_m, std::vector<t>{t::f16, t::q6_k, t::f16, t::f32});
  CHECK(md.get<std::uint32_t>("general.file_type") == 1u);

  gguf_metadata signed_key;
  signed_key.set("general.file_type", std::int32_t{7});
  update_llama_file_type(signed_key, std::vector<t>{t::q8_0}, std::vector<t>{t::bf16});
  CHECK(signed_key.get<std::int32_t>("general.file_type") == 32);

  gguf_metadata absent;  // llama.cpp infers the type itself when the key is absent
  update_llama_file_type(absent, std::vector<t>{t::q8_0}, std::vector<t>{t::f32});
  CHECK_FALSE(absent.contains("general.file_type"));
}
