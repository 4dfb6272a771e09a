// pollard — the text form of a calibration source, "KIND:PATH[@WEIGHT]", as a command line
// takes it (e.g. --calibration c4:c4-train.json.gz --calibration alpaca:alpaca.json@0.25).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"

namespace pollard {

/// How the data of one calibration source is turned into windows.
enum class calibration_kind {
  documents,       ///< one random window from each of N random documents (the C4 protocol)
  corpus,          ///< documents joined by a space into one stream, N random windows (WikiText-2)
  instructions,    ///< prompt template + response, packed (Alpaca)
  self_generated,  ///< the model's own continuations of short prefixes of the documents
};

/// One parsed --calibration argument.
struct calibration_spec {
  calibration_kind kind = calibration_kind::documents;
  std::string kind_name;  ///< as written: c4, documents, wikitext, corpus, text, alpaca, ...
  std::string path;
  double weight = 1.0;
  bool weight_given = false;  ///< written with @WEIGHT
};

/// The kinds accepted, with their aliases: c4 and documents; wikitext, corpus and text;
/// alpaca and instructions; selfgen.
inline calibration_kind calibration_kind_from_name(std::string_view name) {
  if (name == "c4" || name == "documents") return calibration_kind::documents;
  if (name == "wikitext" || name == "corpus" || name == "text") return calibration_kind::corpus;
  if (name == "alpaca" || name == "instructions") return calibration_kind::instructions;
  if (name == "selfgen") return calibration_kind::self_generated;
  throw option_error("calibration: unknown kind \"" + std::string(name) +
                     "\" (choose c4/documents, wikitext/corpus/text, alpaca/instructions or "
                     "selfgen)");
}

/// Parses "KIND:PATH" or "KIND:PATH@WEIGHT" (the weight a number > 0 in plain decimal notation,
/// read_real; a path holding '@' needs an explicit weight). Throws option_error naming the
/// argument.
inline calibration_spec parse_calibration_spec(std::string_view text) {
  const std::string arg(text);
  const auto colon = arg.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == arg.size())
    throw option_error("calibration: expected KIND:PATH[@WEIGHT], got \"" + arg + "\"");
  calibration_spec spec;
  spec.kind_name = arg.substr(0, colon);
  spec.kind = calibration_kind_from_name(spec.kind_name);
  std::string rest = arg.substr(colon + 1);
  const auto at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string w = rest.substr(at + 1);
    const auto weight = read_real(w);
    if (weight.error == std::errc::result_out_of_range)
      throw option_error("calibration: the weight \"" + w + "\" in \"" + arg +
                         "\" is beyond a double's range");
    if (!weight || weight.value <= 0.0)
      throw option_error("calibration: the weight \"" + w + "\" in \"" + arg +
                         "\" is not a decimal number > 0");
    const double value = weight.value;
    spec.weight = value;
    spec.weight_given = true;
    rest.resize(at);
  }
  if (rest.empty()) throw option_error("calibration: no path in \"" + arg + "\"");
  spec.path = rest;
  return spec;
}

/// The name of a source in origins, messages and descriptions: "KIND:PATH" as written, the path
/// as given, so two files of the same name in different folders are told apart.
inline std::string calibration_source_name(const calibration_spec& spec) {
  return spec.kind_name + ":" + spec.path;
}

/// Refuses a source listed twice: two specs of the same kind (c4 and documents are one) naming
/// the same file (the same path, or two paths of one existing file, through links), whatever
/// their weights, since the mixture would draw from it twice; the message names both as written.
/// Throws option_error.
inline void refuse_repeated_calibration_sources(const std::vector<calibration_spec>& specs) {
  namespace fs = std::filesystem;
  const auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    if (fs::equivalent(a, b, ec)) return true;
    return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
  };
  for (std::size_t i = 0; i < specs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (specs[i].kind == specs[j].kind && same_file(specs[i].path, specs[j].path))
        throw option_error(
            "calibration: " + calibration_source_name(specs[j]) + " and " +
            calibration_source_name(specs[i]) +
            " are the same source listed twice (one kind, one file); give it once, with "
            "@WEIGHT for its share of the mixture");
}

/// Refuses @WEIGHT on the only source: every sequence is drawn from it whatever its weight, so
/// the weight would change nothing. Throws option_error.
inline void refuse_lone_source_weight(const std::vector<calibration_spec>& specs) {
  if (specs.size() == 1 && specs.front().weight_given)
    throw option_error("calibration: " + calibration_source_name(specs.front()) +
                       " is the only source, so its @WEIGHT would change nothing (every sequence "
                       "is drawn from it); weights are for the sources of a mixture");
}

}  // namespace pollard
