// pollard — the rotary frequency of each dimension pair of a head, with the context-extension
// schemes of Llama-family checkpoints applied.
#pragma once

#include <cmath>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/llm/llama_config.hpp"

namespace pollard::llm {

/// The inverse frequency of rotary pair i in [0, head_size/2): the angle at position p is
/// p * f[i]. Unscaled, f[i] = theta^(-2i/hs). config.scaling then applies linear scaling
/// (f / factor) or Llama 3.1's scheme (transformers' _compute_llama3_parameters), and
/// `freq_factors` (GGUF's rope_freqs.weight, as llama.cpp's ggml_rope_ext uses it) divides
/// f[i] by freq_factors[i]. Computed in float, as both references do.
inline std::vector<float> rope_inverse_frequencies(const llama_config& c,
                                                   std::span<const float> freq_factors = {}) {
  const index_t hs = c.head_size(), half = hs / 2;
  if (!freq_factors.empty() && static_cast<index_t>(freq_factors.size()) != half)
    throw shape_error("rope frequency factors: " + std::to_string(freq_factors.size()) +
                      " values for a head of " + std::to_string(half) + " rotary pairs");
  std::vector<float> f(static_cast<std::size_t>(half));
  const auto& s = c.scaling;
  const auto factor = static_cast<float>(s.factor);
  for (index_t i = 0; i < half; ++i) {
    float inv = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * i) / static_cast<float>(hs));
    if (s.type == rope_scaling_type::linear) {
      inv /= factor;
    } else if (s.type == rope_scaling_type::llama3) {
      const auto low = static_cast<float>(s.low_freq_factor);
      const auto high = static_cast<float>(s.high_freq_factor);
      const auto context = static_cast<float>(s.original_context);
      const float wavelength = 2.0f * std::numbers::pi_v<float> / inv;
      if (wavelength > context / low) {
        inv /= factor;  // low frequencies: interpolated
      } else if (!(wavelength < context / high)) {
        const float smooth = (context / wavelength - low) / (high - low);
        inv = (1.0f - smooth) * inv / factor + smooth * inv;
      }  // high frequencies are kept
    }
    if (!freq_factors.empty()) inv /= freq_factors[static_cast<std::size_t>(i)];
    f[static_cast<std::size_t>(i)] = inv;
  }
  return f;
}

}  // namespace pollard::llm
