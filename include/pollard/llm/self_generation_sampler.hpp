// pollard — evaluation::sampler as the generation_sampler of self-generated calibration text.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "pollard/calibration/self_generated.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/evaluation/sampler.hpp"

namespace pollard::llm {

/// Each draw is made by an evaluation::sampler with the given options, seeded with the draw seed,
/// so a draw depends only on (logits, history, draw_seed). Default options: the published
/// self-generation recipe (Ji et al., 2025: temperature 0.6, top-k 50, top-p 0.95, repetition
/// penalty 1.2).
class self_generation_sampler {
 public:
  static evaluation::sampler_options reference_options() {
    evaluation::sampler_options o;
    o.temperature = 0.6f;
    o.top_k = 50;
    o.top_p = 0.95f;
    o.repetition_penalty = 1.2f;
    return o;
  }

  explicit self_generation_sampler(evaluation::sampler_options options = reference_options())
      : options_(evaluation::sampler(options).options()) {}  // the sampler checks the options

  token_id operator()(std::span<const float> logits, std::span<const token_id> history,
                      std::uint64_t draw_seed) const {
    evaluation::sampler_options o = options_;
    o.seed = draw_seed;
    return evaluation::sampler(o).sample(logits, history);
  }

  /// The settings, each float in the fewest digits that read back as the same float.
  std::string describe() const {
    return "temperature " + shortest(options_.temperature) + ", top-k " +
           std::to_string(options_.top_k) + ", top-p " + shortest(options_.top_p) +
           ", repetition penalty " + shortest(options_.repetition_penalty);
  }

 private:
  static std::string shortest(float v) {
    char buf[32];
    for (int digits = 1; digits <= 9; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
      if (std::strtof(buf, nullptr) == v) break;
    }
    return buf;
  }

  evaluation::sampler_options options_;
};

static_assert(generation_sampler<self_generation_sampler>);

}  // namespace pollard::llm
