// pollard — the self-generated calibration source of `--calibration selfgen:PATH`: the documents
// of PATH are the source texts, continued by the model itself.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/calibration/self_generated.hpp"
#include "pollard/core/error.hpp"
#include "pollard/llm/calibration_data.hpp"
#include "pollard/llm/self_generation_sampler.hpp"
#include "pollard/llm/text_tokenizer.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard::llm {

/// How self-generated text is made; the defaults are the published recipe (Ji et al., 2025).
struct self_generation_options {
  index_t source_texts = 0;    ///< the first this many documents of the file; 0 = all
  index_t prefix_tokens = 2;   ///< k, BOS included when the tokenizer adds it
  index_t max_new_tokens = 0;  ///< L; 0 = the calibration length, within the model's context
  evaluation::sampler_options sampling = self_generation_sampler::reference_options();
  double drop_fraction = 0.2;
  index_t batch = 8;            ///< texts decoded together (each with its own KV cache); same texts
  std::filesystem::path cache;  ///< when set: texts read from here if present, else written here
};

/// The self-generated source of one `selfgen:PATH` spec: the documents of PATH (read as
/// read_calibration_documents reads them, o.text_field) continued by `m`, tokenized with BOS when
/// `tok` adds it, stopped at the tokenizer's EOS, generated with seed o.seed. `model_identity`
/// names the model in the cache (e.g. its file name and size). option_error when the spec is of
/// another kind or the settings are out of range.
template <model::incremental_lm M>
self_generated_windows self_generated_calibration(M& m, std::string model_identity,
                                                  const calibration_spec& spec,
                                                  const text_tokenizer& tok,
                                                  const calibration_options& o,
                                                  const self_generation_options& g = {}) {
  if (spec.kind != calibration_kind::self_generated)
    throw option_error("calibration: \"" + spec.kind_name + ":" + spec.path +
                       "\" is not a self-generated source");
  if (g.source_texts < 0)
    throw option_error("calibration " + spec.kind_name +
                       ": the number of source texts must be "
                       ">= 0 (0 = all), got " +
                       std::to_string(g.source_texts));
  std::vector<std::string> sources = read_calibration_documents(spec.path, o.text_field);
  if (g.source_texts > 0 && static_cast<std::size_t>(g.source_texts) < sources.size())
    sources.resize(static_cast<std::size_t>(g.source_texts));
  self_generation_settings s;
  s.model_identity = std::move(model_identity);
  s.prefix_tokens = g.prefix_tokens;
  s.max_new_tokens = g.max_new_tokens > 0
                         ? g.max_new_tokens
                         : std::min(o.length, model::context_length(m) - g.prefix_tokens);
  s.add_bos = tok.adds_bos();
  s.eos = tok.eos();
  s.seed = o.seed;
  s.drop_fraction = g.drop_fraction;
  s.batch = g.batch;
  const self_generation_sampler sampler(g.sampling);
  const std::string name = calibration_source_name(spec);
  const tokenize_function tokenize = detail::tokenize_with(tok);
  if (g.cache.empty())
    return self_generated_windows::generate(m, sources, tokenize, sampler, std::move(s), name);
  return self_generated_windows::load_or_generate(g.cache, m, sources, tokenize, sampler,
                                                  std::move(s), name);
}

}  // namespace pollard::llm
