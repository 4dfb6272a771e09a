// pollard — calibration batches from data files, as `pollard prune --calibration KIND:PATH` reads
// them: documents (C4), a corpus stream (WikiText-2), instructions (Alpaca), and mixtures.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pollard/calibration/calibration_batch.hpp"
#include "pollard/calibration/calibration_mixture.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/calibration/corpus_windows.hpp"
#include "pollard/calibration/document_windows.hpp"
#include "pollard/calibration/instruction_windows.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/text_tokenizer.hpp"

namespace pollard::llm {

/// How many calibration sequences of which length, and how the files are read.
struct calibration_options {
  index_t samples = 128;  ///< N sequences (the references: 128)
  index_t length = 2048;  ///< L tokens each (the references: 2048, or the model's context)
  std::uint64_t seed = 0;
  std::string text_field = "text";  ///< the JSON field holding a document's text
  bool responses_only = false;      ///< instructions: count only the response tokens
};

namespace detail {

inline bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace detail

/// The documents of a calibration file, by its name (io::data_file_format_of; a gzip file as the
/// file it decompresses to): JSON records (*.json a JSON list, *.jsonl JSON lines, *.json.gz and
/// *.jsonl.gz either compressed; each record an object with `field`, or a string), anything else
/// plain text split at blank lines (notes.txt, notes.txt.gz). Throws io_error / format_error
/// naming the file; format_error when no document is found. Blank records are left out.
inline std::vector<std::string> read_calibration_documents(const std::filesystem::path& path,
                                                           const std::string& field = "text");

/// Every record of a calibration file in file order, blank ones included (the rows
/// `" ".join(traindata['text'])` joins in the references' get_wikitext2, where a third of
/// WikiText-2's rows are empty); plain text gives its paragraphs. Throws as
/// read_calibration_documents, and format_error when every record is blank.
inline std::vector<std::string> read_calibration_records(const std::filesystem::path& path,
                                                         const std::string& field = "text") {
  io::require_regular_file(path, "calibration file ");
  const std::string name = path.string();
  io::offsets_in offsets = io::offsets_in::file;
  const std::string content = io::read_data_file(path, io::data_file_limit, &offsets);
  const io::data_file_format format = io::data_file_format_of(path, content);
  std::vector<std::string> docs;
  if (format == io::data_file_format::plain_text) {
    docs = io::split_paragraphs(io::plain_text_of(content, name, offsets));
  } else {
    docs = io::record_texts(
        io::parse_json_records(content, name, format == io::data_file_format::json_list, offsets),
        field);
  }
  if (std::all_of(docs.begin(), docs.end(), detail::is_blank))
    throw format_error(name + ": no calibration text in the file");
  return docs;
}

inline std::vector<std::string> read_calibration_documents(const std::filesystem::path& path,
                                                           const std::string& field) {
  auto docs = read_calibration_records(path, field);
  docs.erase(std::remove_if(docs.begin(), docs.end(), detail::is_blank), docs.end());
  return docs;
}

namespace detail {

inline tokenize_function tokenize_with(const text_tokenizer& tok) {
  return [&tok](std::string_view text, bool bos) { return tok.encode(text, bos); };
}

}  // namespace detail

/// One calibration source for a spec. The corpus kind joins every record, blank ones included,
/// with a space (the references' WikiText-2 training stream, so a seed draws the reference's
/// windows) and tokenizes them once, with BOS first when the model
/// expects it; documents and instructions are tokenized each with BOS when the model expects it.
/// Self-generated text needs the model: `add_self_generated(mix, spec)` adds that source (see
/// llm/self_generated_calibration.hpp); without it a selfgen spec is an option_error. Each
/// source is named calibration_source_name(spec) (KIND:PATH as given) in its sequences' origin;
/// a source listed twice is refused (refuse_repeated_calibration_sources) before any file is read.
using self_generated_adder = std::function<void(calibration_mixture&, const calibration_spec&)>;

inline calibration_mixture calibration_sources(
    const std::vector<calibration_spec>& specs, const text_tokenizer& tok,
    const calibration_options& o, const self_generated_adder& add_self_generated = {}) {
  if (specs.empty()) throw option_error("calibration: no source was given");
  // Refused before any file is read or text generated.
  refuse_repeated_calibration_sources(specs);
  refuse_lone_source_weight(specs);
  std::vector<std::string> names;
  std::vector<double> weights;
  for (const auto& spec : specs) {
    names.push_back(calibration_source_name(spec));
    weights.push_back(spec.weight);
  }
  refuse_empty_mixture_parts(names, weights, o.samples);
  calibration_mixture mix;
  const bool bos = tok.adds_bos();
  for (const auto& spec : specs) try {
      const std::filesystem::path path(spec.path);
      const std::string name = calibration_source_name(spec);
      switch (spec.kind) {
        case calibration_kind::documents:
          mix.add(spec.weight, document_windows(read_calibration_documents(path, o.text_field),
                                                detail::tokenize_with(tok), bos, name));
          break;
        case calibration_kind::corpus: {
          const auto records = read_calibration_records(path, o.text_field);
          const std::string stream = io::join_rows(records, " ");
          mix.add(spec.weight, corpus_windows(tok.encode(stream, bos), name));
          break;
        }
        case calibration_kind::instructions:
          mix.add(spec.weight, instruction_windows(
                                   io::read_instruction_examples(path), detail::tokenize_with(tok),
                                   bos, o.responses_only, instruction_template::alpaca(), name));
          break;
        case calibration_kind::self_generated:
          if (!add_self_generated)
            throw option_error("calibration: " + spec.kind_name +
                               " needs the model to generate text, and none was given");
          add_self_generated(mix, spec);
          break;
      }
    } catch (const format_error& e) {
      // A text the tokenizer cannot encode (a byte without a token) is named by its file, as the
      // readers name theirs.
      if (std::string_view(e.what()).find(spec.path) != std::string_view::npos) throw;
      throw format_error(spec.path + ": " + e.what());
    }
  return mix;
}

/// The calibration batch of o.samples sequences of o.length tokens from the specs (a mixture in
/// proportion to their weights when there are several).
inline calibration_batch draw_calibration(const std::vector<calibration_spec>& specs,
                                          const text_tokenizer& tok, const calibration_options& o,
                                          const self_generated_adder& add_self_generated = {}) {
  return calibration_sources(specs, tok, o, add_self_generated).draw(o.samples, o.length, o.seed);
}

}  // namespace pollard::llm
