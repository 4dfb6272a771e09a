// pollard — self-generated calibration text: the model continues short prefixes of source texts,
// its most perplexing continuations are dropped, and windows are cut from the rest (Ji et al.,
// "Beware of Calibration Data for Pruning Large Language Models", ICLR 2025).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_source.hpp"
#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/calibration/document_windows.hpp"
#include "pollard/core/checks.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/token_id.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/model/causal_lm.hpp"

namespace pollard {

/// A next-token sampler for self-generation.
///
/// Requires, for `const S s`, logits a std::span<const float> [vocab], history a
/// std::span<const token_id> and draw_seed a std::uint64_t:
///   `s(logits, history, draw_seed)` -> convertible to token_id;
///   `s.describe()`                  -> std::string (its settings, recorded in caches).
///
/// Semantic contract: the token is a pure function of (logits, history, draw_seed) — the
/// sampler keeps no state between calls, so each draw can be reproduced on its own; `history` is
/// every token of the text so far (prefix included), the tokens a repetition penalty applies to;
/// the result lies in [0, logits.size()); describe() changes whenever the draws could change.
template <class S>
concept generation_sampler = requires(const S& s, std::span<const float> logits,
                                      std::span<const token_id> history, std::uint64_t draw_seed) {
  { s(logits, history, draw_seed) } -> std::convertible_to<token_id>;
  { s.describe() } -> std::convertible_to<std::string>;
};

/// What a self-generation run depends on besides the source texts and the sampler.
struct self_generation_settings {
  std::string model_identity;   ///< names the model (and its tokenizer); checked against caches
  index_t prefix_tokens = 2;    ///< k: tokens of each source text that start its continuation
  index_t max_new_tokens = 0;   ///< L: the most tokens sampled after a prefix (>= 1)
  bool add_bos = true;          ///< tokenize the sources with BOS (it counts in k)
  std::optional<token_id> eos;  ///< sampling it ends a text; it is not kept
  std::uint64_t seed = 0;       ///< picks every draw of the sampler
  double drop_fraction = 0.2;   ///< share of texts dropped as the most perplexing, in [0, 1)
  /// Texts decoded together by a batched_incremental_lm (each holds its own KV cache); does not
  /// change the texts.
  index_t batch = 8;
};

/// One continuation: `tokens` = the prefix_tokens of source text `source` followed by the
/// sampled tokens (at least one). mean_nll is the mean over the sampled tokens of
/// -log softmax(model logits after all preceding tokens)[token] (the prefix is context only and
/// not scored; raw logits: no temperature, penalty or truncation); perplexity = exp(mean_nll).
struct generated_text {
  index_t source = 0;
  index_t prefix_tokens = 0;
  std::vector<token_id> tokens;
  double mean_nll = 0.0;
  double perplexity = 1.0;

  index_t new_tokens() const noexcept {
    return static_cast<index_t>(tokens.size()) - prefix_tokens;
  }
  bool operator==(const generated_text&) const = default;
};

namespace detail {

inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// FNV-1a over the texts, each followed by its length, so the split between texts counts.
inline std::uint64_t texts_fingerprint(const std::vector<std::string>& texts) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ull;
  };
  for (const auto& t : texts) {
    for (const unsigned char c : t) mix(c);
    for (std::uint64_t n = t.size(), k = 0; k < 8; ++k, n >>= 8)
      mix(static_cast<unsigned char>(n & 0xff));
  }
  return h;
}

using io::json_string;

/// 17 significant digits: reads back as the same double.
inline std::string json_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline void check_generation_settings(const self_generation_settings& s) {
  const std::string who = "self-generated calibration: ";
  if (s.prefix_tokens < 1)
    throw option_error(who + "the prefix must hold at least 1 token, got " +
                       std::to_string(s.prefix_tokens));
  if (s.max_new_tokens < 1)
    throw option_error(who + "the number of new tokens must be at least 1, got " +
                       std::to_string(s.max_new_tokens));
  require_in_range("self-generated calibration", "the share of texts dropped", s.drop_fraction, 0.0,
                   1.0);
  if (s.batch < 1)
    throw option_error(who + "the batch must hold at least 1 text, got " + std::to_string(s.batch));
}

}  // namespace detail

/// The seed of the sampler's draw for token `step` (0 = the first sampled token) of the text
/// continuing source text `source`: splitmix64 over (seed, source, step). A text's draws depend on
/// nothing else, so texts can be generated in any order or on any thread.
inline std::uint64_t self_generation_draw_seed(std::uint64_t seed, index_t source, index_t step) {
  std::uint64_t h = detail::splitmix64(seed);
  h = detail::splitmix64(h ^ static_cast<std::uint64_t>(source));
  return detail::splitmix64(h ^ static_cast<std::uint64_t>(step));
}

/// How many of n texts the perplexity filter drops: ceil(fraction · n) (at least the fraction;
/// keeping floor((1 - fraction) · n) texts), the product taken with a 1e-9 tolerance so 0.2 · 10
/// drops 2, not 3.
inline index_t self_generation_drop_count(index_t n, double fraction) {
  return std::min(n, static_cast<index_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9)));
}

/// The indices into `texts` the filter keeps, ascending: all but the
/// self_generation_drop_count(n, fraction) texts of highest mean NLL (of two equal ones, the
/// later text is dropped first).
inline std::vector<std::size_t> self_generation_kept(const std::vector<generated_text>& texts,
                                                     double fraction) {
  const auto n = static_cast<index_t>(texts.size());
  std::vector<std::size_t> order(texts.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return texts[a].mean_nll < texts[b].mean_nll;
  });
  order.resize(static_cast<std::size_t>(n - self_generation_drop_count(n, fraction)));
  std::sort(order.begin(), order.end());
  return order;
}

/// The prefix of one source text: its first k tokens (BOS included when add_bos), or nothing when
/// it has fewer than k.
inline std::optional<std::vector<token_id>> self_generation_prefix(
    std::string_view text, const tokenize_function& tokenize,
    const self_generation_settings& settings) {
  std::vector<token_id> t = tokenize(text, settings.add_bos);
  if (static_cast<index_t>(t.size()) < settings.prefix_tokens) return std::nullopt;
  t.resize(static_cast<std::size_t>(settings.prefix_tokens));
  return t;
}

namespace detail {

/// The checks of a continuation of a prefix of `prefix_size` tokens, and its capacity (prefix +
/// new tokens).
template <model::incremental_lm M>
index_t self_text_capacity(M& m, std::size_t prefix_size,
                           const self_generation_settings& settings) {
  check_generation_settings(settings);
  if (static_cast<index_t>(prefix_size) != settings.prefix_tokens)
    throw option_error("self-generated calibration: a prefix of " + std::to_string(prefix_size) +
                       " tokens, the settings ask for " + std::to_string(settings.prefix_tokens));
  const index_t capacity = settings.prefix_tokens + settings.max_new_tokens;
  if (capacity > model::context_length(m))
    throw option_error("self-generated calibration: " + std::to_string(settings.prefix_tokens) +
                       " prefix tokens + " + std::to_string(settings.max_new_tokens) +
                       " new tokens exceed the model's context of " +
                       std::to_string(model::context_length(m)));
  return capacity;
}

/// Draws token `step` of `text` from the logits after its last token: appends it and adds its
/// NLL (raw logits) to nll_sum; nothing at EOS.
template <generation_sampler S>
std::optional<token_id> draw_self_token(const S& sampler, std::span<const float> logits,
                                        generated_text& text, index_t step,
                                        const self_generation_settings& settings, double& nll_sum) {
  const auto vocab = static_cast<index_t>(logits.size());
  const token_id next = static_cast<token_id>(
      sampler(logits, text.tokens, self_generation_draw_seed(settings.seed, text.source, step)));
  if (next < 0 || next >= vocab)
    throw option_error("self-generated calibration: the sampler returned token " +
                       std::to_string(next) + " outside the vocabulary of " +
                       std::to_string(vocab));
  if (settings.eos && next == *settings.eos) return std::nullopt;
  double mx = -std::numeric_limits<double>::infinity();
  for (const float l : logits) mx = std::max(mx, static_cast<double>(l));
  double sum = 0.0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  nll_sum += mx + std::log(sum) - static_cast<double>(logits[static_cast<std::size_t>(next)]);
  text.tokens.push_back(next);
  return next;
}

/// The finished text: nothing when no token was sampled, else its mean NLL and perplexity.
inline std::optional<generated_text> finish_self_text(generated_text text, double nll_sum) {
  if (text.new_tokens() == 0) return std::nullopt;
  text.mean_nll = nll_sum / static_cast<double>(text.new_tokens());
  text.perplexity = std::exp(text.mean_nll);
  return text;
}

}  // namespace detail

/// A prefix to continue: the index of its source text and its tokens.
struct self_generation_prefix_of {
  index_t source = 0;
  std::vector<token_id> tokens;
};

/// Continues several prefixes together on a batched_incremental_lm: each prefix is run through
/// its own sequence (KV-cached), then every step draws one token for each unfinished text and
/// extends all of them in one batch (model::extend_each). Element k of the result is what
/// generate_self_text gives for prefixes[k]; by the extend_each contract it does not depend on
/// which or how many prefixes are continued together.
template <model::batched_incremental_lm M, generation_sampler S>
std::vector<std::optional<generated_text>> generate_self_texts(
    M& m, std::span<const self_generation_prefix_of> prefixes, const S& sampler,
    const self_generation_settings& settings) {
  for (const auto& p : prefixes) detail::self_text_capacity(m, p.tokens.size(), settings);
  const index_t capacity = settings.prefix_tokens + settings.max_new_tokens;
  const index_t vocab = model::vocab_size(m);
  const std::size_t n = prefixes.size();
  std::vector<model::sequence_state_t<M>> states;
  states.reserve(n);
  std::vector<generated_text> texts(n);
  std::vector<double> nll(n, 0.0);
  std::vector<float> logits(n * static_cast<std::size_t>(vocab));
  const auto row = [&](std::size_t k) {
    return std::span<float>(logits).subspan(k * static_cast<std::size_t>(vocab),
                                            static_cast<std::size_t>(vocab));
  };
  for (std::size_t k = 0; k < n; ++k) {
    texts[k].source = prefixes[k].source;
    texts[k].prefix_tokens = settings.prefix_tokens;
    texts[k].tokens = prefixes[k].tokens;
    states.push_back(model::start_sequence(m, capacity));
    const std::span<const float> first = model::extend(m, states.back(), prefixes[k].tokens);
    std::copy(first.begin(), first.end(), row(k).begin());
  }
  std::vector<std::size_t> active(n);
  for (std::size_t k = 0; k < n; ++k) active[k] = k;
  std::vector<float> batch_logits;
  for (index_t step = 0; step < settings.max_new_tokens && !active.empty(); ++step) {
    std::vector<std::size_t> continuing;
    std::vector<token_id> next_tokens;
    for (const std::size_t k : active) {
      const auto next = detail::draw_self_token(sampler, row(k), texts[k], step, settings, nll[k]);
      if (next && step + 1 < settings.max_new_tokens) {
        continuing.push_back(k);
        next_tokens.push_back(*next);
      }
    }
    if (continuing.empty()) break;
    std::vector<model::sequence_state_t<M>*> batch;
    for (const std::size_t k : continuing) batch.push_back(&states[k]);
    batch_logits.resize(continuing.size() * static_cast<std::size_t>(vocab));
    model::extend_each(
        m, std::span<model::sequence_state_t<M>* const>(batch), next_tokens,
        matrix_view<float>(batch_logits.data(), static_cast<index_t>(continuing.size()), vocab));
    for (std::size_t j = 0; j < continuing.size(); ++j)
      std::copy_n(
          batch_logits.begin() + static_cast<std::ptrdiff_t>(j * static_cast<std::size_t>(vocab)),
          vocab, row(continuing[j]).begin());
    active = std::move(continuing);
  }
  std::vector<std::optional<generated_text>> out;
  for (std::size_t k = 0; k < n; ++k)
    out.push_back(detail::finish_self_text(std::move(texts[k]), nll[k]));
  return out;
}

/// Continues one prefix (KV-cached through the incremental_lm concept): samples up to
/// max_new_tokens tokens, stopping before EOS, and scores the sampled tokens on the logits they
/// were drawn from. Nothing when the first sampled token is EOS. On a batched_incremental_lm the
/// steps after the prefix run through extend_each (a batch of one), so that the text equals the
/// one generate_self_texts makes in any batch.
template <model::incremental_lm M, generation_sampler S>
std::optional<generated_text> generate_self_text(M& m, std::span<const token_id> prefix,
                                                 index_t source, const S& sampler,
                                                 const self_generation_settings& settings) {
  const index_t capacity = detail::self_text_capacity(m, prefix.size(), settings);
  if constexpr (model::batched_incremental_lm<M>) {
    const self_generation_prefix_of one{source,
                                        std::vector<token_id>(prefix.begin(), prefix.end())};
    return generate_self_texts(m, std::span(&one, 1), sampler, settings).front();
  } else {
    generated_text out;
    out.source = source;
    out.prefix_tokens = settings.prefix_tokens;
    out.tokens.assign(prefix.begin(), prefix.end());
    auto state = model::start_sequence(m, capacity);
    std::span<const float> logits = model::extend(m, state, prefix);
    double nll_sum = 0.0;
    for (index_t step = 0; step < settings.max_new_tokens; ++step) {
      const auto next = detail::draw_self_token(sampler, logits, out, step, settings, nll_sum);
      if (!next) break;
      if (step + 1 < settings.max_new_tokens)
        logits = model::extend(m, state, std::span(&*next, 1));
    }
    return detail::finish_self_text(std::move(out), nll_sum);
  }
}

/// Self-generated calibration text as a calibration_source. Built by generate() (or from a cache
/// written by a generate()d source); draw() concatenates the kept texts (each with its prefix,
/// in source order) into one stream and cuts random windows from it as corpus_windows does
/// (CPython random, window starts randint(0, len - L - 1)).
class self_generated_windows {
 public:
  /// Generates one text per source text with at least prefix_tokens tokens (sources are
  /// tokenized with settings.add_bos; texts whose first sampled token is EOS are left out).
  /// option_error when the settings are out of range, there are no sources, no source has
  /// prefix_tokens tokens, or prefix + new tokens exceed the model's context.
  template <model::incremental_lm M, generation_sampler S>
  static self_generated_windows generate(M& m, const std::vector<std::string>& sources,
                                         const tokenize_function& tokenize, const S& sampler,
                                         self_generation_settings settings,
                                         std::string name = "self-generated") {
    detail::check_generation_settings(settings);
    if (sources.empty())
      throw option_error("self-generated calibration: there are no source texts");
    std::vector<self_generation_prefix_of> prefixes;
    for (std::size_t k = 0; k < sources.size(); ++k)
      if (auto p = self_generation_prefix(sources[k], tokenize, settings))
        prefixes.push_back({static_cast<index_t>(k), std::move(*p)});
    if (prefixes.empty())
      throw option_error("self-generated calibration: none of the " +
                         std::to_string(sources.size()) + " source texts has " +
                         std::to_string(settings.prefix_tokens) + " tokens for a prefix");
    std::vector<generated_text> texts;
    if constexpr (model::batched_incremental_lm<M>) {
      for (std::size_t k0 = 0; k0 < prefixes.size();
           k0 += static_cast<std::size_t>(settings.batch)) {
        const std::size_t count =
            std::min(prefixes.size() - k0, static_cast<std::size_t>(settings.batch));
        for (auto& t : generate_self_texts(
                 m, std::span<const self_generation_prefix_of>(prefixes).subspan(k0, count),
                 sampler, settings))
          if (t) texts.push_back(std::move(*t));
      }
    } else {
      for (const auto& [source, prefix] : prefixes)
        if (auto t = generate_self_text(m, prefix, source, sampler, settings))
          texts.push_back(std::move(*t));
    }
    return self_generated_windows(std::move(texts), std::move(settings), sampler.describe(),
                                  detail::texts_fingerprint(sources), sources.size(),
                                  std::move(name));
  }

  /// The texts of the cache at `path` when it exists (refused, as by read_cache, when made with
  /// other settings, sampler or sources); otherwise generated and written there, so a study
  /// generates once and reuses the texts.
  template <model::incremental_lm M, generation_sampler S>
  static self_generated_windows load_or_generate(const std::filesystem::path& path, M& m,
                                                 const std::vector<std::string>& sources,
                                                 const tokenize_function& tokenize,
                                                 const S& sampler,
                                                 self_generation_settings settings,
                                                 std::string name = "self-generated") {
    if (std::filesystem::exists(path))
      return read_cache(path, sources, sampler, std::move(settings), std::move(name));
    auto out = generate(m, sources, tokenize, sampler, std::move(settings), std::move(name));
    out.write_cache(path);
    return out;
  }

  /// Reads a cache written by write_cache(); option_error naming every field that differs
  /// when it was made with other settings, sampler or source texts (the drop fraction and
  /// the name are taken from the arguments; they do not change the texts); format_error when
  /// the file is not such a cache, holds another number of texts than its line 1 announces, or
  /// not one text per source in source order.
  template <generation_sampler S>
  static self_generated_windows read_cache(const std::filesystem::path& path,
                                           const std::vector<std::string>& sources,
                                           const S& sampler, self_generation_settings settings,
                                           std::string name = "self-generated") {
    return read_cache(path, sources, sampler.describe(), std::move(settings), std::move(name));
  }

  static self_generated_windows read_cache(const std::filesystem::path& path,
                                           const std::vector<std::string>& sources,
                                           const std::string& sampler_description,
                                           self_generation_settings settings,
                                           std::string name = "self-generated") {
    detail::check_generation_settings(settings);
    io::require_regular_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw io_error("cannot open the self-generated text cache " + path.string() + ": " +
                     std::strerror(errno));
    const std::string where = "self-generated text cache " + path.string();
    std::string line;
    if (!std::getline(in, line)) throw format_error(where + " is empty");
    const io::json_value header = io::parse_json(line, where + " line 1");
    const auto field = [&](const char* key) -> const io::json_value& {
      const io::json_value* v = header.find(key);
      if (v == nullptr) throw format_error(where + ": line 1 has no \"" + key + "\"");
      return *v;
    };
    if (field("format").as_string(where + " format") != cache_format)
      throw format_error(where + ": line 1 does not name the format \"" +
                         std::string(cache_format) + "\"");
    const std::uint64_t fingerprint = detail::texts_fingerprint(sources);
    const auto expected = header_fields(settings, sampler_description, fingerprint, sources.size());
    std::string differences;
    for (const auto& [key, want] : expected) {
      const io::json_value& got = field(key.c_str());
      const std::string got_text = got.is_string() ? got.as_string(key)
                                   : got.is_null() ? "null"
                                   : got.is_bool() ? (got.as_bool(key) ? "true" : "false")
                                                   : detail::json_double(got.as_number(key));
      if (got_text != want.second)
        differences += (differences.empty() ? " " : "; ") + key + ": the cache has " + got_text +
                       ", asked " + want.second;
    }
    // One line: a tool shows a newline in a message as "\n" (it may be part of a file name).
    if (!differences.empty())
      throw option_error(where + " was made with other settings:" + differences);
    const std::uint64_t announced = field("texts").as_size(where + " texts");
    std::vector<generated_text> texts;
    std::size_t offset = line.size() + 1;  // of the line read next, in the file
    for (std::size_t number = 2; std::getline(in, line); ++number, offset += line.size() + 1) {
      if (line.empty()) continue;
      const std::string at = where + " line " + std::to_string(number);
      const io::json_value v = io::parse_json_at(line, offset, at);
      const auto member = [&](const char* key) -> const io::json_value& {
        const io::json_value* m = v.find(key);
        if (m == nullptr) throw format_error(at + " has no \"" + key + "\"");
        return *m;
      };
      generated_text t;
      t.source = static_cast<index_t>(member("source").as_size(at + " source"));
      t.prefix_tokens = settings.prefix_tokens;
      for (const auto& id : member("tokens").as_array(at + " tokens")) {
        const std::uint64_t value = id.as_size(at + " token");
        if (value > static_cast<std::uint64_t>(std::numeric_limits<token_id>::max()))
          throw format_error(at + ": token " + std::to_string(value) + " is not a token id");
        t.tokens.push_back(static_cast<token_id>(value));
      }
      t.mean_nll = member("mean_nll").as_number(at + " mean_nll");
      t.perplexity = std::exp(t.mean_nll);
      if (t.new_tokens() < 1 || t.new_tokens() > settings.max_new_tokens ||
          static_cast<std::size_t>(t.source) >= sources.size())
        throw format_error(at + ": a text of " + std::to_string(t.tokens.size()) +
                           " tokens from source " + std::to_string(t.source) +
                           " cannot come from these settings");
      if (!texts.empty() && t.source <= texts.back().source)
        throw format_error(at + ": the text of source " + std::to_string(t.source) +
                           " follows the text of source " + std::to_string(texts.back().source) +
                           " (a cache holds at most one text per source, in source order)");
      texts.push_back(std::move(t));
    }
    if (texts.size() != announced)
      throw format_error(where + (texts.size() < announced ? " is incomplete:" : ":") +
                         " line 1 announces " + std::to_string(announced) +
                         " texts, the file holds " + std::to_string(texts.size()));
    return self_generated_windows(std::move(texts), std::move(settings), sampler_description,
                                  fingerprint, sources.size(), std::move(name));
  }

  /// Writes cache_contents() through a temporary file renamed into place.
  void write_cache(const std::filesystem::path& path) const {
    const std::string out = cache_contents("self-generated text cache " + path.string());
    io::atomic_file file(path);
    file.write(out.data(), out.size());
    file.commit();
  }

  /// What write_cache() writes: the settings and the number of texts (line 1), then one JSON
  /// object per text (source, tokens, mean_nll, perplexity). non_finite_error, naming `where`,
  /// when a text's mean NLL is not finite.
  std::string cache_contents(const std::string& where = "self-generated text cache") const {
    std::string out = "{\"format\":" + detail::json_string(cache_format);
    for (const auto& [key, value] :
         header_fields(settings_, sampler_description_, fingerprint_, source_count_))
      out += "," + detail::json_string(key) + ":" + value.first;
    out += ",\"texts\":" + std::to_string(texts_.size()) + "}\n";
    for (const auto& t : texts_) {
      if (!std::isfinite(t.mean_nll))
        throw non_finite_error(where + ": the text from source " + std::to_string(t.source) +
                               " has a non-finite mean NLL");
      out += "{\"source\":" + std::to_string(t.source) + ",\"tokens\":[";
      for (std::size_t k = 0; k < t.tokens.size(); ++k)
        out += (k ? "," : "") + std::to_string(t.tokens[k]);
      out += "],\"mean_nll\":" + detail::json_double(t.mean_nll) +
             ",\"perplexity\":" + detail::json_double(t.perplexity) + "}\n";
    }
    return out;
  }

  /// Every generated text, in source order.
  const std::vector<generated_text>& texts() const noexcept { return texts_; }
  /// Indices into texts() that survive the perplexity filter, ascending.
  const std::vector<std::size_t>& kept() const noexcept { return kept_; }
  const self_generation_settings& settings() const noexcept { return settings_; }
  /// Tokens of the kept texts, concatenated.
  index_t stream_tokens() const noexcept { return static_cast<index_t>(stream_.size()); }

  /// n windows of `length` tokens; option_error when the kept texts hold fewer than
  /// length + 1 tokens.
  calibration_batch draw(index_t n, index_t length, std::uint64_t seed) const {
    const std::string who = "calibration " + name_;
    detail::check_draw_request(who, n, length);
    if (stream_tokens() < length + 1)
      throw option_error(who + ": the " + std::to_string(kept_.size()) + " kept texts (of " +
                         std::to_string(texts_.size()) + " generated) hold " +
                         std::to_string(stream_tokens()) + " tokens, too few for a window of " +
                         std::to_string(length) + " tokens (needs at least " +
                         std::to_string(length + 1) + ")");
    return corpus_windows(stream_, name_).draw(n, length, seed);
  }

  std::string describe() const {
    return name_ + ": " + std::to_string(texts_.size()) + " texts sampled by " +
           (settings_.model_identity.empty() ? "the model" : settings_.model_identity) + " after " +
           std::to_string(settings_.prefix_tokens) + "-token prefixes of " +
           std::to_string(source_count_) + " source texts (up to " +
           std::to_string(settings_.max_new_tokens) + " new tokens; " + sampler_description_ +
           "; seed " + std::to_string(settings_.seed) + "), the " +
           std::to_string(texts_.size() - kept_.size()) +
           " of highest perplexity dropped, random windows of the kept " +
           std::to_string(kept_.size()) + " texts' " + std::to_string(stream_tokens()) +
           " tokens (CPython random)";
  }

 private:
  static constexpr std::string_view cache_format = "pollard self-generated text";

  self_generated_windows(std::vector<generated_text> texts, self_generation_settings settings,
                         std::string sampler_description, std::uint64_t fingerprint,
                         std::size_t source_count, std::string name)
      : texts_(std::move(texts)),
        settings_(std::move(settings)),
        sampler_description_(std::move(sampler_description)),
        fingerprint_(fingerprint),
        source_count_(source_count),
        name_(std::move(name)) {
    kept_ = self_generation_kept(texts_, settings_.drop_fraction);
    for (const auto k : kept_)
      stream_.insert(stream_.end(), texts_[k].tokens.begin(), texts_[k].tokens.end());
  }

  /// The recorded settings in write order: key -> (JSON text, the text read back compares to).
  static std::vector<std::pair<std::string, std::pair<std::string, std::string>>> header_fields(
      const self_generation_settings& s, const std::string& sampler_description,
      std::uint64_t fingerprint, std::size_t source_count) {
    const auto text = [](const std::string& v) { return std::pair{detail::json_string(v), v}; };
    const auto number = [](std::int64_t v) {
      return std::pair{std::to_string(v), detail::json_double(static_cast<double>(v))};
    };
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fingerprint));
    return {{"model", text(s.model_identity)},
            {"prefix_tokens", number(s.prefix_tokens)},
            {"max_new_tokens", number(s.max_new_tokens)},
            {"add_bos", s.add_bos ? std::pair{std::string("true"), std::string("true")}
                                  : std::pair{std::string("false"), std::string("false")}},
            {"eos", s.eos ? number(*s.eos) : std::pair{std::string("null"), std::string("null")}},
            {"sampler", text(sampler_description)},
            {"seed", text(std::to_string(s.seed))},
            {"source_texts", number(static_cast<std::int64_t>(source_count))},
            {"source_fingerprint", text(hex)}};
  }

  std::vector<generated_text> texts_;
  self_generation_settings settings_;
  std::string sampler_description_;
  std::uint64_t fingerprint_ = 0;
  std::size_t source_count_ = 0;
  std::string name_;
  std::vector<std::size_t> kept_;
  std::vector<token_id> stream_;
};

}  // namespace pollard
