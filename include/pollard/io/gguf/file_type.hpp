// pollard — GGUF's general.file_type (llama.cpp's llama_ftype) kept true to the tensors a writer
// stores.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "pollard/io/gguf/metadata.hpp"
#include "pollard/io/gguf/quant.hpp"

namespace pollard::io {

/// The llama_ftype llama.cpp's model loader infers from a file's tensor types: the type held by
/// the most tensors (on a tie, the first to reach that count in file order), mapped as
/// llama_model_loader maps it (F32 -> ALL_F32 0, F16 -> MOSTLY_F16 1, Q4_0 -> 2, Q4_1 -> 3,
/// Q8_0 -> 7, Q5_0 -> 8, Q5_1 -> 9, Q2_K -> 10, Q3_K -> Q3_K_M 12, Q4_K -> Q4_K_M 15,
/// Q5_K -> Q5_K_M 17, Q6_K -> 18, the IQ types to their MOSTLY_ values, BF16 -> 32, TQ1_0 -> 36,
/// TQ2_0 -> 37). nullopt when there is no tensor or llama.cpp has no file type for the type.
inline std::optional<std::uint32_t> llama_file_type_of(std::span<const ggml_type> types) {
  std::map<ggml_type, std::size_t> count;
  std::size_t most = 0;
  std::optional<ggml_type> predominant;
  for (const auto t : types)
    if (const std::size_t n = ++count[t]; n > most) {
      most = n;
      predominant = t;
    }
  if (!predominant) return std::nullopt;
  switch (*predominant) {
    case ggml_type::f32:
      return 0;
    case ggml_type::f16:
      return 1;
    case ggml_type::q4_0:
      return 2;
    case ggml_type::q4_1:
      return 3;
    case ggml_type::q8_0:
      return 7;
    case ggml_type::q5_0:
      return 8;
    case ggml_type::q5_1:
      return 9;
    case ggml_type::q2_k:
      return 10;
    case ggml_type::q3_k:
      return 12;
    case ggml_type::q4_k:
      return 15;
    case ggml_type::q5_k:
      return 17;
    case ggml_type::q6_k:
      return 18;
    case ggml_type::iq2_xxs:
      return 19;
    case ggml_type::iq2_xs:
      return 20;
    case ggml_type::iq3_xxs:
      return 23;
    case ggml_type::iq1_s:
      return 24;
    case ggml_type::iq4_nl:
      return 25;
    case ggml_type::iq3_s:
      return 26;
    case ggml_type::iq2_s:
      return 28;
    case ggml_type::iq4_xs:
      return 30;
    case ggml_type::iq1_m:
      return 31;
    case ggml_type::bf16:
      return 32;
    case ggml_type::tq1_0:
      return 36;
    case ggml_type::tq2_0:
      return 37;
    default:
      return std::nullopt;
  }
}

/// Keeps `md`'s general.file_type true when a writer stores tensors whose types were `read` as
/// `written` (both in file order): when the types differ and the key is present, it becomes
/// llama_file_type_of(`written`), in the integer type the file held it in. Unchanged types leave
/// the key as it was (a quantizer's mixture such as Q4_K_S is its own name), as does a
/// predominant type llama.cpp names no file type for.
inline void update_llama_file_type(gguf_metadata& md, std::span<const ggml_type> read,
                                   std::span<const ggml_type> written) {
  const gguf_value* old = md.find("general.file_type");
  if (old == nullptr) return;
  std::vector<ggml_type> before(read.begin(), read.end()), after(written.begin(), written.end());
  if (before == after) return;
  const auto file_type = llama_file_type_of(written);
  if (!file_type) return;
  if (old->holds<std::int32_t>())
    md.set("general.file_type", gguf_value(static_cast<std::int32_t>(*file_type)));
  else if (old->holds<std::uint64_t>())
    md.set("general.file_type", gguf_value(static_cast<std::uint64_t>(*file_type)));
  else if (old->holds<std::int64_t>())
    md.set("general.file_type", gguf_value(static_cast<std::int64_t>(*file_type)));
  else
    md.set("general.file_type", gguf_value(*file_type));
}

}  // namespace pollard::io
