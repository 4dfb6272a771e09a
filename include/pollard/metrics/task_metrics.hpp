// pollard — task metrics for generated answers against a reference: exact match and token F1
// after SQuAD-style normalisation, and ROUGE-1 F (unigram overlap).
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pollard {

/// SQuAD normalisation: lower-case (ASCII), strip ASCII punctuation, drop the articles a/an/the,
/// collapse white space. Returns the words.
inline std::vector<std::string> normalised_words(std::string_view text) {
  std::string cleaned;
  cleaned.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::ispunct(u)) continue;
    cleaned += u < 0x80 ? static_cast<char>(std::tolower(u)) : c;
  }
  std::vector<std::string> words;
  std::string word;
  const auto flush = [&] {
    if (!word.empty() && word != "a" && word != "an" && word != "the") words.push_back(word);
    word.clear();
  };
  for (const char c : cleaned) {
    if (std::isspace(static_cast<unsigned char>(c)))
      flush();
    else
      word += c;
  }
  flush();
  return words;
}

/// 1 when the normalised prediction equals the normalised reference, else 0.
inline double exact_match(std::string_view prediction, std::string_view reference) {
  return normalised_words(prediction) == normalised_words(reference) ? 1.0 : 0.0;
}

namespace detail {
/// Harmonic mean of unigram precision and recall counted with multiplicity (0 when either side
/// is empty, unless both are, which scores 1 as SQuAD's script does).
inline double unigram_f1(const std::vector<std::string>& p, const std::vector<std::string>& r) {
  if (p.empty() || r.empty()) return p.empty() && r.empty() ? 1.0 : 0.0;
  std::map<std::string_view, long> counts;
  for (const auto& w : r) ++counts[w];
  long common = 0;
  for (const auto& w : p) {
    auto it = counts.find(w);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  }
  if (common == 0) return 0.0;
  const double precision = static_cast<double>(common) / static_cast<double>(p.size());
  const double recall = static_cast<double>(common) / static_cast<double>(r.size());
  return 2 * precision * recall / (precision + recall);
}

inline std::vector<std::string> lower_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::isalnum(u)) {
      word += static_cast<char>(std::tolower(u));
    } else {
      if (!word.empty()) words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}
}  // namespace detail

/// SQuAD token F1 between normalised prediction and reference.
inline double token_f1(std::string_view prediction, std::string_view reference) {
  return detail::unigram_f1(normalised_words(prediction), normalised_words(reference));
}

/// ROUGE-1 F: unigram overlap F-measure on lower-cased [a-z0-9] words (the rouge-score package's
/// default tokenisation, without stemming; articles are kept; 0 when either side has no word).
inline double rouge1_f(std::string_view prediction, std::string_view reference) {
  const auto p = detail::lower_words(prediction), r = detail::lower_words(reference);
  if (p.empty() || r.empty()) return 0.0;
  return detail::unigram_f1(p, r);
}

}  // namespace pollard
