// pollard CLI — what the subcommands share: opening models, reading evaluation text, writing
// result files atomically, JSON fragments.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/file_identity.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/llm/model_file.hpp"

namespace pollard::cli {

namespace fs = std::filesystem;

/// The path a string option names, or nothing when the option was not given.
inline std::optional<fs::path> optional_path(const std::string& option_value) {
  if (option_value.empty()) return std::nullopt;
  return fs::path(option_value);
}

/// Adds --tokenizer FILE, the tokenizer a command reads (default: found beside the
/// model, as `where_by_default` says).
inline CLI::Option* add_tokenizer_option(CLI::App& c, std::string& tokenizer,
                                         const char* description =
                                             "llama2.c tokenizer.bin or Hugging Face "
                                             "tokenizer.json (not for a GGUF, which carries its "
                                             "own)",
                                         const char* where_by_default = "beside the model") {
  return c.add_option("--tokenizer", tokenizer, description)
      ->type_name("FILE")
      ->default_str(where_by_default);
}

/// Opens a model that must come with a tokenizer (the text commands need one).
inline llm::model_file open_model_with_tokenizer(const fs::path& path,
                                                 const std::optional<fs::path>& tokenizer) {
  if (tokenizer && !fs::is_regular_file(*tokenizer))
    throw io_error("cannot open tokenizer " + tokenizer->string());
  llm::model_file m = llm::open_model(path, tokenizer);
  if (!m.tokenizer && m.format == llm::model_format::safetensors)
    throw io_error(path.string() +
                   ": no tokenizer found (no tokenizer.json beside config.json; give --tokenizer "
                   "with a Hugging Face tokenizer.json)");
  if (!m.tokenizer)
    throw io_error(path.string() +
                   ": no tokenizer found (give --tokenizer with a llama2.c tokenizer; llama2.c "
                   "looks for tokenizer.bin or tok" +
                   std::to_string(m.weights.config.vocab_size) + ".bin beside the model)");
  return m;
}

/// How an evaluation text file is laid out.
enum class text_format { rows_jsonl, jsonl_gz, c4, text };

inline const char* name_of(text_format f) noexcept {
  switch (f) {
    case text_format::rows_jsonl:
      return "rows-jsonl";
    case text_format::jsonl_gz:
      return "jsonl-gz";
    case text_format::c4:
      return "c4";
    case text_format::text:
      break;
  }
  return "text";
}

/// How the evaluation string is made from the file, in words, for the output.
inline const char* protocol_of(text_format f) noexcept {
  switch (f) {
    case text_format::rows_jsonl:
      return "rows joined with \"\\n\\n\" (SparseGPT/Wanda WikiText-2)";
    case text_format::jsonl_gz:
      return "documents joined with \"\\n\\n\" (not the SparseGPT/Wanda C4 protocol: use --format "
             "c4)";
    case text_format::c4:
      return "SparseGPT/Wanda C4: the first 1100 documents joined with \" \", first 256 windows";
    case text_format::text:
      break;
  }
  return "the file as it is";
}

/// The --format value (empty: not given), or the format the file name suggests: *.jsonl ->
/// rows-jsonl, *.gz -> jsonl-gz, anything else -> text.
inline text_format text_format_of(const std::string& option, const fs::path& file) {
  if (!option.empty()) {
    if (option == "rows-jsonl") return text_format::rows_jsonl;
    if (option == "jsonl-gz") return text_format::jsonl_gz;
    if (option == "c4") return text_format::c4;
    if (option == "text") return text_format::text;
    throw usage_error("--format must be rows-jsonl, jsonl-gz, c4 or text, got '" + option + "'");
  }
  const std::string ext = file.extension().string();
  if (ext == ".jsonl") return text_format::rows_jsonl;
  if (ext == ".gz") return text_format::jsonl_gz;
  return text_format::text;
}

inline std::string read_file(const fs::path& path) {
  if (fs::is_directory(path)) throw io_error("cannot read " + path.string() + ": a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The evaluation string: JSON-lines rows or gzip JSON-lines documents joined with "\n\n"
/// (SparseGPT/Wanda's WikiText-2 string), C4 as SparseGPT/Wanda's get_c4 makes it (the first
/// 1100 documents joined with " "), or the file as it is.
inline std::string read_evaluation_text(const fs::path& path, text_format format) {
  if (!fs::exists(path)) throw io_error("cannot open " + path.string());
  switch (format) {
    case text_format::rows_jsonl:
      return io::join_rows(io::read_json_lines_text(path));
    case text_format::jsonl_gz:
      return io::join_rows(io::read_gzip_json_lines_text(path));
    case text_format::c4: {
      const auto documents = io::read_gzip_json_lines_text(path);
      if (documents.size() < io::c4_reference_documents)
        std::fprintf(stderr,
                     "pollard: warning: %s holds %zu documents, fewer than the %zu the C4 "
                     "protocol joins; all are used\n",
                     path.string().c_str(), documents.size(), io::c4_reference_documents);
      return io::c4_reference_text(documents);
    }
    case text_format::text:
      break;
  }
  return read_file(path);
}

/// Fails before any long work when an output file could not be created where asked.
inline void check_output_path(const fs::path& path, const char* option) {
  if (path.empty()) throw usage_error(std::string(option) + " needs a file name");
  if (fs::is_directory(path))
    throw io_error(std::string(option) + " " + path.string() + " is a directory");
  const fs::path parent = path.parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    throw io_error(std::string(option) + " " + path.string() + ": folder " + parent.string() +
                   " does not exist");
}

/// The files a command reads when it opens `model` as `m`: the model itself and what is read
/// beside it (the llama2.c tokenizer found there; a Hugging Face folder's weights, config.json
/// and tokenizer.json).
inline std::vector<io::named_path> files_read_with(const fs::path& model,
                                                   const llm::model_file& m) {
  std::vector<io::named_path> files{{"MODEL", model}};
  if (m.format == llm::model_format::llama2c) {
    if (const auto tokenizer =
            llm::detail::find_llama2c_tokenizer(model, m.weights.config.vocab_size))
      files.push_back({"the tokenizer beside MODEL,", *tokenizer});
  } else if (m.format == llm::model_format::safetensors) {
    const fs::path folder = fs::is_directory(model) ? model : model.parent_path();
    for (const char* name : {"model.safetensors", "config.json", "tokenizer.json"})
      files.push_back({"MODEL's", folder / name});
  }
  return files;
}

/// files_read_with() for each model, named as the command names them (BASE, OTHER), followed by
/// `others`.
inline std::vector<io::named_path> files_read_with(
    std::initializer_list<std::pair<std::string, const llm::model_file*>> models,
    std::vector<io::named_path> others) {
  std::vector<io::named_path> files;
  for (const auto& [name, m] : models)
    for (auto f : files_read_with(m->path, *m)) {
      if (f.name == "MODEL") f.name = name;
      if (f.name == "MODEL's") f.name = name + "'s";
      if (f.name == "the tokenizer beside MODEL,") f.name = "the tokenizer beside " + name + ",";
      files.push_back(std::move(f));
    }
  files.insert(files.end(), others.begin(), others.end());
  return files;
}

/// The files a model in `m`'s format is written as at `out` (a Hugging Face model is a folder).
inline std::vector<io::named_path> files_written_as(const fs::path& out, const llm::model_file& m,
                                                    const std::string& name = "OUT") {
  if (m.format == llm::model_format::safetensors)
    return {{name, out / "model.safetensors"}, {name, out / "config.json"}};
  return {{name, out}};
}

/// Writes `content` to `path` through a temporary renamed on success.
inline void write_file_atomically(const fs::path& path, std::string_view content) {
  io::atomic_file out(path);
  out.write(content.data(), content.size());
  out.commit();
}

using io::json_number;
using io::json_string;

/// printf-style formatting of one double.
inline std::string format_number(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace pollard::cli
