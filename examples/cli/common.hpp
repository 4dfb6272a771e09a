// pollard CLI — what the subcommands share: opening models, reading evaluation text, writing
// result files atomically, JSON fragments.
#pragma once

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
#include "pollard/calibration/calibration_mixture.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/core/error.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/file_identity.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json_writer.hpp"
#include "pollard/io/llama2c.hpp"
#include "pollard/io/mapped_file.hpp"
#include "pollard/io/text_datasets.hpp"
#include "pollard/io/utf8.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"

namespace pollard::cli {

namespace fs = std::filesystem;

/// The path a string option names, or nothing when the option was not given.
inline std::optional<fs::path> optional_path(const std::string& option_value) {
  if (option_value.empty()) return std::nullopt;
  return fs::path(option_value);
}

/// The whole content of the file at `path`; io_error when it cannot be read.
inline std::string read_file(const fs::path& path) {
  if (fs::is_directory(path)) throw io_error("cannot read " + path.string() + ": a directory");
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string() + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
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

/// --special-tokens and --text-bytes as given, and whether the command line named each.
struct text_reading_choice {
  std::string mode = "parse";
  std::string bytes = "keep";
  const CLI::Option* option = nullptr;
  const CLI::Option* bytes_option = nullptr;
  bool given() const { return option != nullptr && option->count() > 0; }
  bool bytes_given() const { return bytes_option != nullptr && bytes_option->count() > 0; }
};

/// Adds --special-tokens MODE and --text-bytes RULE to a command that tokenizes text: what text
/// spelling one of the tokenizer's special tokens becomes (llm::special_token_text), and what
/// a byte-level BPE tokenizer makes of text that is not UTF-8 (llm::text_bytes).
inline void add_text_reading_options(CLI::App& c, text_reading_choice& choice) {
  choice.option =
      c.add_option("--special-tokens", choice.mode,
                   "text spelling a special token (<|im_start|>, <s>): 'parse' reads it as that\n"
                   "token, as transformers' tokenizer(text) and llama-tokenize do; 'plain' as\n"
                   "ordinary text, as llama-perplexity does (added tokens that are not special\n"
                   "are matched either way); not for a llama2.c tokenizer, which never reads\n"
                   "special-token text")
          ->type_name("MODE")
          ->check(CLI::IsMember({"parse", "plain"}))
          ->default_str("parse");
  choice.bytes_option =
      c.add_option("--text-bytes", choice.bytes,
                   "text that is not UTF-8, or holds a byte the vocabulary has no token for\n"
                   "(byte-level BPE): 'keep' keeps every byte and refuses one without a token,\n"
                   "naming it; 'llama.cpp' tokenizes as llama.cpp does (an ill-formed byte read\n"
                   "as U+FFFD, a byte without a token dropped); not for SentencePiece or llama2.c\n"
                   "tokenizers, whose byte pieces keep every byte")
          ->type_name("RULE")
          ->check(CLI::IsMember({"keep", "llama.cpp"}))
          ->default_str("keep");
}

/// Sets `tokenizer`'s special-token mode and bytes rule from --special-tokens and --text-bytes.
/// Refuses --special-tokens given for a llama2.c tokenizer (run.c's encoding never matches
/// special-token text: <s> and </s> are only BOS and EOS ids) and --text-bytes given for a
/// tokenizer that is not byte-level BPE (its byte pieces keep every byte): neither could change
/// what it does.
inline void apply_text_reading_options(std::optional<llm::text_tokenizer>& tokenizer,
                                       const text_reading_choice& choice) {
  if (!tokenizer) return;
  if (tokenizer->kind() != "byte-level BPE" && choice.bytes_given())
    throw usage_error("--text-bytes would change nothing: the model's tokenizer is " +
                      std::string(tokenizer->kind()) +
                      ", whose byte pieces keep every byte of any text");
  if (tokenizer->kind() == "byte-level BPE")
    tokenizer->set_bytes_rule(llm::parse_text_bytes(choice.bytes, "--text-bytes"));
  if (tokenizer->kind() == "llama2.c BPE") {
    if (choice.given())
      throw usage_error(
          "--special-tokens would change nothing: the model's tokenizer is llama2.c's, "
          "which never reads special-token text (<s> and </s> are only the BOS and "
          "EOS ids, as in llama2.c's run.c), so 'parse' and 'plain' tokenize alike");
    return;  // it reads such text as ordinary text: plain, which outputs record
  }
  tokenizer->set_special_token_text(llm::parse_special_token_text(choice.mode, "--special-tokens"));
}

/// The special-token mode a run's outputs record: what the tokenizer does (plain for llama2.c's,
/// whatever --special-tokens says), or --special-tokens' value when no text was tokenized.
inline std::string recorded_special_tokens(const llm::text_tokenizer* tokenizer,
                                           const text_reading_choice& choice) {
  return tokenizer != nullptr ? std::string(llm::name_of(tokenizer->special_token_text()))
                              : choice.mode;
}

/// The bytes rule a run's outputs record: what the tokenizer does (keep for every tokenizer but
/// byte-level BPE), or --text-bytes' value when no text was tokenized.
inline std::string recorded_text_bytes(const llm::text_tokenizer* tokenizer,
                                       const text_reading_choice& choice) {
  return tokenizer != nullptr ? std::string(llm::name_of(tokenizer->bytes_rule())) : choice.bytes;
}

/// Adds --tokenizer to a command that reads no text, hidden from its help, so that giving it is
/// refused with the reason (refuse_if_given) rather than as an unknown argument.
inline void add_refused_tokenizer_option(CLI::App& c, std::string& tokenizer) {
  c.add_option("--tokenizer", tokenizer, "not used: the command reads no text")
      ->type_name("FILE")
      ->group("");
}

/// Refuses --tokenizer when one of `models` (as the command names them: MODEL, BASE...) is a
/// GGUF file, which carries its own tokenizer: the option would be ignored there.
inline void refuse_tokenizer_for_gguf(const std::string& tokenizer,
                                      const std::vector<io::named_path>& models) {
  if (tokenizer.empty()) return;
  for (const auto& model : models)
    if (fs::is_regular_file(model.path) &&
        llm::detail::detect_format(model.path) == llm::model_format::gguf)
      throw usage_error("--tokenizer does not apply to " + model.name + " " + model.path.string() +
                        ": a GGUF model carries its own tokenizer (--tokenizer is for llama2.c "
                        "checkpoints and Hugging Face folders)");
}

/// Called in a catch block for a failure to read the model at `path`: rethrows it, or, when the
/// binary file read (the model; a Hugging Face folder's model.safetensors; a llama2.c
/// tokenizer) holds text, a format_error that says so with the file's first characters. A
/// message that does not name the model (a GGUF key missing; a file of a Hugging Face folder
/// named without its folder) is given its path first: every error about a file names it.
[[noreturn]] inline void rethrow_saying_if_text(const fs::path& path,
                                                const std::optional<fs::path>& tokenizer) {
  try {
    throw;
  } catch (const io_error&) {
    throw;
  } catch (const option_error&) {
    throw;  // a command-line mistake, not the file's content
  } catch (const error& e) {
    if (std::string_view(e.what()).find("is this a text file?") != std::string_view::npos) throw;
    const llm::model_format format = llm::detail::detect_format(path);
    const char* expected = format == llm::model_format::gguf      ? "a GGUF file"
                           : format == llm::model_format::llama2c ? "a llama2.c checkpoint"
                                                                  : "a safetensors file";
    const fs::path binary = fs::is_directory(path) ? path / "model.safetensors" : path;
    if (const auto text = text_beginning(binary))
      throw format_error(binary.string() + " is not " + expected + ": it begins with text ('" +
                         *text + "'): is this a text file? (" +
                         without_internal_prefixes(e.what()) + ")");
    if (tokenizer && format == llm::model_format::llama2c)
      if (const auto text = text_beginning(*tokenizer))
        throw format_error(
            tokenizer->string() + " is not a llama2.c tokenizer: it begins with text ('" + *text +
            "'): is this a text file? (" + without_internal_prefixes(e.what()) + ")");
    const std::string message = without_internal_prefixes(e.what());
    // A message about a file of the folder `path` ("model.safetensors: ...") is given the folder.
    std::error_code ec;
    const std::size_t colon = message.find(": ");
    if (colon != std::string::npos && fs::is_directory(path, ec) &&
        fs::exists(path / message.substr(0, colon), ec) &&
        message.find(path.string()) == std::string::npos)
      throw format_error((path / message.substr(0, colon)).string() + message.substr(colon));
    if (message.find(path.string()) == std::string::npos &&
        message.find(path.filename().string()) == std::string::npos)
      throw format_error(path.string() + ": " + message);
    throw;
  }
}

/// Refuses a tokenizer whose vocabulary is not the model's (`model_vocabulary` token rows),
/// naming both sizes: token ids would index rows the model lacks, or the model would produce
/// ids the tokenizer cannot read. Only a Hugging Face folder may have more rows than tokens.
inline void check_vocabulary(const fs::path& model, const std::optional<fs::path>& tokenizer_file,
                             const llm::text_tokenizer& tokenizer, index_t model_vocabulary) {
  // Fewer tokens than embedding rows is how Hugging Face checkpoints pad their embeddings (to a
  // multiple of 64 or 128); transformers accepts it, and `generate` samples only the tokenizer's
  // ids. llama2.c reads exactly vocab_size tokenizer entries and llama.cpp requires one token per
  // embedding row, so for their files fewer tokens is refused as more is.
  const auto tokens = static_cast<index_t>(tokenizer.vocabulary_size());
  if (tokens == model_vocabulary ||
      (tokens < model_vocabulary &&
       llm::detail::detect_format(model) == llm::model_format::safetensors))
    return;
  throw format_error("the tokenizer of " + model.string() +
                     (tokenizer_file ? " (" + tokenizer_file->string() + ")" : "") + " has " +
                     std::to_string(tokens) + " tokens but the model's vocabulary has " +
                     std::to_string(model_vocabulary) +
                     (tokens > model_vocabulary
                          ? ": a token would have no embedding row"
                          : ": the model would produce ids the tokenizer cannot decode"));
}

/// Runs `draw` (drawing calibration data) so that its failures name --calibration as typed:
/// the library's "calibration text:x.txt: ..." reads "--calibration text:x.txt: ...".
template <class Draw>
auto with_calibration_named(Draw&& draw) {
  try {
    return draw();
  } catch (const usage_error&) {
    throw;
  } catch (const error& e) {
    const std::string message = e.what();
    if (message.rfind("calibration ", 0) == 0) throw error("--" + message);
    throw;
  }
}

/// A --calibration source listed twice (one kind, one file) is a command-line error naming both;
/// so is a weight on the only source, and a source of a mixture that a draw of `samples`
/// sequences would give none (refuse_empty_mixture_parts), known before any work.
inline void refuse_repeated_sources(const std::vector<calibration_spec>& specs, index_t samples) {
  try {
    refuse_repeated_calibration_sources(specs);
    refuse_lone_source_weight(specs);
    std::vector<std::string> names;
    std::vector<double> weights;
    for (const auto& spec : specs) {
      names.push_back(calibration_source_name(spec));
      weights.push_back(spec.weight);
    }
    refuse_empty_mixture_parts(names, weights, samples);
  } catch (const option_error& e) {
    throw usage_error("--" + std::string(e.what()));
  }
}

/// Whether a calibration source is a JSON file of documents, whose text --text-field names
/// (*.gz JSON lines, *.jsonl, a *.json list; not alpaca instructions, which have their fields).
inline bool reads_json_documents(const std::vector<calibration_spec>& specs) {
  return std::any_of(specs.begin(), specs.end(), [](const calibration_spec& s) {
    const std::string ext = fs::path(s.path).extension().string();
    return s.kind != calibration_kind::instructions &&
           (ext == ".gz" || ext == ".jsonl" || ext == ".json");
  });
}

/// The formats a tokenizer file can be in, told from its content.
enum class tokenizer_format { hf_json, llama2c, gguf };

/// The format of the tokenizer file at `path`, from its content (whatever the model's format):
/// a JSON object (first non-blank byte '{') is a Hugging Face tokenizer.json, a file that
/// begins with "GGUF" a GGUF, anything else is read as a llama2.c tokenizer.
inline tokenizer_format tokenizer_format_of(const fs::path& path) {
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  char bytes[4] = {};
  in.read(bytes, 4);
  if (in.gcount() == 4 && std::string_view(bytes, 4) == "GGUF") return tokenizer_format::gguf;
  in.clear();
  in.seekg(0);
  char c = 0;
  while (in.get(c))
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
  return in && c == '{' ? tokenizer_format::hf_json : tokenizer_format::llama2c;
}

/// How many tokens the llama2.c tokenizer file at `path` holds (max_token_length, then per
/// token a float score, an int32 length and that many bytes, to the end of the file), or
/// nothing when the file is not laid out so.
inline std::optional<std::int64_t> llama2c_token_count(const fs::path& path) {
  const std::string bytes = read_file(path);
  const auto int32_at = [&](std::size_t at) {
    std::int32_t v = 0;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  if (bytes.size() < 4 || int32_at(0) <= 0) return std::nullopt;
  const std::int32_t max_length = int32_at(0);
  std::size_t at = 4;
  std::int64_t count = 0;
  while (bytes.size() - at >= 8) {
    const std::int32_t length = int32_at(at + 4);
    if (length < 0 || length > max_length ||
        static_cast<std::size_t>(length) > bytes.size() - at - 8)
      return std::nullopt;
    at += 8 + static_cast<std::size_t>(length);
    ++count;
  }
  if (at != bytes.size()) return std::nullopt;
  return count;
}

/// Reads the tokenizer file `path` in the format its content shows (tokenizer_format_of()), for
/// the model at `model` whose vocabulary has `model_vocabulary` rows; `bos`/`eos` are a Hugging
/// Face model's ids. A GGUF is refused (its tokenizer belongs to its model); a llama2.c file
/// holding a number of tokens other than the model's is refused naming both counts.
inline llm::text_tokenizer read_tokenizer_file(const fs::path& path, const fs::path& model,
                                               index_t model_vocabulary,
                                               std::optional<std::int32_t> bos = std::nullopt,
                                               std::optional<std::int32_t> eos = std::nullopt) {
  switch (tokenizer_format_of(path)) {
    case tokenizer_format::gguf:
      throw format_error("the tokenizer " + path.string() +
                         " is a GGUF file: a tokenizer is given as a Hugging Face tokenizer.json "
                         "or a llama2.c tokenizer .bin");
    case tokenizer_format::hf_json:
      return llm::text_tokenizer(llm::read_hf_tokenizer(path, bos, eos));
    case tokenizer_format::llama2c:
      break;
  }
  const auto count = llama2c_token_count(path);
  if (!count) {
    // Not laid out as a llama2.c tokenizer: the reader's message says where it breaks.
    try {
      (void)llm::llama2c_tokenizer::read(path, model_vocabulary);
    } catch (...) {
      rethrow_saying_if_text(model, path);
    }
    throw format_error(path.string() + " is not a llama2.c tokenizer");
  }
  // llama2.c reads exactly vocab_size entries: a tokenizer with more has tokens without an
  // embedding row, one with fewer cannot decode the ids the model produces.
  if (*count != model_vocabulary)
    throw format_error("the tokenizer " + path.string() + " has " + std::to_string(*count) +
                       " tokens but the model's vocabulary (" + model.string() + ") has " +
                       std::to_string(model_vocabulary) +
                       (*count > model_vocabulary
                            ? ": a token would have no embedding row"
                            : ": the model would produce ids the tokenizer cannot decode") +
                       " (a llama2.c tokenizer holds one entry per token of the model)");
  return llm::text_tokenizer(llm::llama2c_tokenizer::read(path, *count));
}

/// What pollard reads as MODEL, for messages about a file that is something else.
inline constexpr const char* model_kinds =
    "MODEL is a GGUF file, a llama2.c checkpoint (legacy version-0 export) or a Hugging Face "
    "folder with config.json and model.safetensors";

/// What the file at `path`, read as a llama2.c checkpoint, really is when its first bytes say
/// so: a llama2.c versioned export (magic "ak42"), a NumPy array, gzip data, a zip archive (a
/// PyTorch checkpoint), a safetensors file or a llama2.c tokenizer; nothing when they do not.
inline std::optional<std::string> foreign_model_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  unsigned char b[12] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto n = static_cast<std::size_t>(in.gcount());
  const auto begins = [&](std::string_view magic) {
    return n >= magic.size() && std::memcmp(b, magic.data(), magic.size()) == 0;
  };
  // llama2.c's export.py writes uint32 0x616b3432 ("ak42", little-endian) then int32 version.
  if (begins("\x32\x34\x6b\x61")) {
    std::int32_t version = 0;
    if (n >= 8) std::memcpy(&version, b + 4, 4);
    return "a llama2.c version-" + std::to_string(version) +
           " export (magic ak42): pollard reads only the legacy version-0 layout (export.py "
           "--version 0)";
  }
  if (begins("\x93NUMPY")) return std::string("a NumPy .npy array, not a model");
  if (begins("\x1f\x8b")) return std::string("gzip-compressed data, not a model");
  if (begins("PK\x03\x04"))
    return std::string("a zip archive (a PyTorch checkpoint?), not a model");
  // A safetensors file begins with a little-endian u64 header length and then '{'.
  if (n >= 9 && b[8] == '{' && b[5] == 0 && b[6] == 0 && b[7] == 0)
    return std::string(
        "a safetensors file: a Hugging Face model is read from its folder, with "
        "config.json beside model.safetensors");
  // A llama2.c tokenizer is a few MiB at most; a checkpoint is not read whole to find out.
  if (fs::file_size(path, ec) <= (std::uintmax_t{64} << 20) && !ec)
    if (const auto tokens = llama2c_token_count(path))
      return "a llama2.c tokenizer (" + std::to_string(*tokens) + " tokens), not a model";
  return std::nullopt;
}

/// Refuses a file given as a llama2.c MODEL that foreign_model_file() recognises as another kind.
inline void refuse_foreign_model_file(const fs::path& path) {
  if (const auto kind = foreign_model_file(path))
    throw format_error(path.string() + " is " + *kind + " (" + model_kinds + ")");
}

/// Refuses a safetensors file given as MODEL without config.json beside it, naming the path.
inline void require_hf_config_beside(const fs::path& path) {
  const fs::path folder = fs::is_directory(path) ? path : path.parent_path();
  const fs::path config = (folder.empty() ? fs::path(".") : folder) / "config.json";
  std::error_code ec;
  if (!fs::exists(config, ec))
    throw io_error("cannot open " + config.string() + ": " + std::strerror(ENOENT) + " (" +
                   path.string() +
                   " is read as a Hugging Face model, a folder with config.json beside "
                   "model.safetensors)");
}

/// Warns, as llama.cpp does, that a byte-level BPE GGUF without tokenizer.ggml.pre is split with
/// llama.cpp's 'default' pre-tokenizer (older conversions lack the key).
inline void warn_if_no_gguf_pre_tokenizer(const io::gguf_file& file, const fs::path& path) {
  const auto& md = file.metadata();
  const auto* model = md.find("tokenizer.ggml.model");
  if (md.contains("tokenizer.ggml.pre") || model == nullptr || !model->holds<std::string>() ||
      model->get<std::string>() != "gpt2")
    return;
  std::fprintf(stderr,
               "pollard: warning: %s has no tokenizer.ggml.pre: its text is split with llama.cpp's "
               "'default' pre-tokenizer, as llama.cpp does (which warns that the file should be "
               "converted again)\n",
               printable(path.string()).c_str());
}

/// Opens a model (llm::open_model) so that every failure says what is wrong in the user's
/// terms: a binary model file (or a llama2.c tokenizer) that holds text is named as such
/// (rethrow_saying_if_text), and a tokenizer with more tokens than the model has embedding rows
/// is refused at once, naming both sizes. The tokenizer (`tokenizer`, or the one found beside
/// the model) is read in the format its file shows, whatever the model's format: a
/// tokenizer.json serves a llama2.c checkpoint, a llama2.c tokenizer a Hugging Face folder.
inline llm::model_file open_model_file(const fs::path& path,
                                       const std::optional<fs::path>& tokenizer = std::nullopt) {
  if (!fs::exists(path))
    throw io_error("cannot open " + path.string() + ": " + std::strerror(ENOENT));
  if (tokenizer) io::require_regular_file(*tokenizer, "tokenizer ");
  const llm::model_format format = llm::detail::detect_format(path);
  if (tokenizer && format == llm::model_format::gguf)
    refuse_tokenizer_for_gguf(tokenizer->string(), {{"MODEL", path}});
  if (format == llm::model_format::safetensors) require_hf_config_beside(path);
  llm::model_file m;
  try {
    if (format == llm::model_format::llama2c) {
      refuse_foreign_model_file(path);
      m.path = path;
      m.format = format;
      m.weights = llm::read_llama2c(path);
      m.llama2c_freq_cis = llm::read_llama2c_freq_cis(path);
    } else {
      const bool native = tokenizer && format == llm::model_format::safetensors &&
                          tokenizer_format_of(*tokenizer) == tokenizer_format::hf_json;
      m = llm::open_model(path, native ? tokenizer : std::nullopt);
      if (m.gguf) warn_if_no_gguf_pre_tokenizer(*m.gguf, path);
      if (native) {
        check_vocabulary(path, tokenizer, *m.tokenizer, m.weights.config.vocab_size);
        return m;
      }
    }
  } catch (...) {
    rethrow_saying_if_text(path, tokenizer);
  }
  const index_t vocabulary = m.weights.config.vocab_size;
  const auto file = tokenizer ? tokenizer
                    : format == llm::model_format::llama2c
                        ? llm::detail::find_llama2c_tokenizer(path, vocabulary)
                        : std::nullopt;
  if (file) m.tokenizer.emplace(read_tokenizer_file(*file, path, vocabulary));
  if (m.tokenizer) check_vocabulary(path, file, *m.tokenizer, vocabulary);
  return m;
}

/// Calls `visit(name, rows, cols, data)` for every weight tensor of `w`, named as pollard's GGUF
/// writer names it (token_embd, blk.N.attn_q, blk.N.attn_q.bias, output_norm, ...).
template <class Visit>
void for_each_weight_tensor(const llm::llama_weights& w, Visit&& visit) {
  const auto matrix = [&](const std::string& name, const llm::row_matrix& m) {
    visit(name, m.rows(), m.cols(), m.data());
  };
  const auto vector = [&](const std::string& name, const Eigen::VectorXf& v) {
    if (v.size() > 0) visit(name, v.size(), index_t{1}, v.data());
  };
  matrix("token_embd", w.token_embedding);
  for (index_t b = 0; b < static_cast<index_t>(w.layers.size()); ++b) {
    const auto& l = w.layers[static_cast<std::size_t>(b)];
    const std::string block = "blk." + std::to_string(b) + ".";
    vector(block + "attn_norm", l.attn_norm);
    vector(block + "ffn_norm", l.ffn_norm);
    for (const auto lin : llm::all_llama_linears) {
      matrix(llm::llama_linear_name(b, lin), l.linear(lin));
      vector(llm::llama_linear_name(b, lin) + ".bias", l.bias(lin));
    }
  }
  vector("output_norm", w.final_norm);
  if (!w.config.tied_classifier) matrix("output", w.classifier);
}

/// The first NaN or infinity among the weights of `w`, as "TENSOR holds VALUE at (ROW, COL)",
/// or nothing when every weight is finite.
inline std::optional<std::string> first_non_finite_weight(const llm::llama_weights& w) {
  std::optional<std::string> found;
  for_each_weight_tensor(
      w, [&](const std::string& name, index_t rows, index_t cols, const float* data) {
        if (found) return;
        for (index_t i = 0; i < rows * cols; ++i)
          if (!std::isfinite(data[i])) {
            found = name + " holds " +
                    (std::isnan(data[i]) ? "nan"
                     : data[i] > 0       ? "inf"
                                         : "-inf") +
                    " at (" + std::to_string(i / cols) + ", " + std::to_string(i % cols) + ")";
            return;
          }
      });
  return found;
}

/// Refuses a model whose weights hold a NaN or an infinity, naming the file, the tensor and the
/// position: every logit computed through it would be non-finite.
inline void require_finite_weights(const llm::model_file& m) {
  if (const auto where = first_non_finite_weight(m.weights))
    throw format_error(m.path.string() + ": weight " + *where +
                       ": the model's outputs would not be finite");
}

/// Opens a model that must come with a tokenizer (the text commands need one).
inline llm::model_file open_model_with_tokenizer(const fs::path& path,
                                                 const std::optional<fs::path>& tokenizer) {
  if (tokenizer) io::require_regular_file(*tokenizer, "tokenizer ");
  llm::model_file m = open_model_file(path, tokenizer);
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

/// How every command that reads a text or data file (eval and compare --text, prune and capture
/// --calibration, tasks and compare --instructions) tells its layout from its name
/// (io::data_file_format_of), for --help.
inline constexpr const char* data_file_rule =
    "*.json: a JSON list of records; *.jsonl: JSON lines, one record a line;\n"
    "*.json.gz, *.jsonl.gz: either, gzip-compressed (a list when its text starts\n"
    "with '['); *.gz alone: JSON records when its text starts with '{' or '[';\n"
    "any other name (notes.txt, notes.txt.gz): plain text. A record is a string\n"
    "or an object with a \"text\" field. A UTF-8 byte-order mark at a file's\n"
    "start is skipped";

/// The --format value, or nothing when it is not given (empty): then the file's layout decides,
/// by the rule every command shares (data_file_rule). usage_error for an unknown value.
inline std::optional<text_format> text_format_option(const std::string& option) {
  if (option.empty()) return std::nullopt;
  if (option == "rows-jsonl") return text_format::rows_jsonl;
  if (option == "jsonl-gz") return text_format::jsonl_gz;
  if (option == "c4") return text_format::c4;
  if (option == "text") return text_format::text;
  throw usage_error("--format must be rows-jsonl, jsonl-gz, c4 or text, got '" + option + "'");
}

/// The evaluation string of a file, the format it was read as, and the documents (rows) it
/// joins: `joined` of the file's `in_file`, 0 for a text file.
struct evaluation_text {
  std::string text;
  text_format format = text_format::text;
  std::size_t in_file = 0;
  std::size_t joined = 0;
};

/// The evaluation string of --text `path`, read as `forced` says (--format) or, without it, by
/// the shared rule (io::data_file_format_of): JSON records (rows; gzip-compressed: documents)
/// joined with "\n\n" (SparseGPT/Wanda's WikiText-2 string), C4 as SparseGPT/Wanda's get_c4
/// makes it (the first 1100 documents joined with " "), or plain text as it is, without a
/// byte-order mark at its start. A file that holds no text (empty, only white space or a
/// byte-order mark, no records, only empty ones) is a format_error naming it.
inline evaluation_text read_evaluation_text(const fs::path& path,
                                            std::optional<text_format> forced) {
  io::require_regular_file(path);
  const std::string name = path.string();
  const std::string shown = "--text " + name;
  const bool gzip_forced = forced == text_format::jsonl_gz || forced == text_format::c4;
  io::offsets_in offsets = io::offsets_in::file;
  const std::string content = gzip_forced
                                  ? io::detail::read_gzip_file(path, io::data_file_limit, &offsets)
                                  : io::read_data_file(path, io::data_file_limit, &offsets);
  bool list = false;
  text_format format = text_format::text;
  if (forced) {
    format = *forced;
  } else {
    const io::data_file_format layout = io::data_file_format_of(path, content);
    list = layout == io::data_file_format::json_list;
    if (layout != io::data_file_format::plain_text)
      format = path.extension() == ".gz" ? text_format::jsonl_gz : text_format::rows_jsonl;
  }
  const auto blank = [](std::string_view text) {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
  };
  if (format == text_format::text) {
    const std::string_view text = io::plain_text_of(content, name, offsets);
    if (blank(text))
      throw format_error(shown + " holds no text: " +
                         (content.empty() ? "the file is empty"
                          : text.empty()  ? "it holds only a byte-order mark"
                                          : "it holds only white space"));
    return {std::string(text), format, 0, 0};
  }
  const auto rows = io::record_texts(io::parse_json_records(content, name, list, offsets));
  if (std::all_of(rows.begin(), rows.end(), blank))
    throw format_error(shown + " holds no text: " +
                       (rows.empty()
                            ? std::string("it holds no records")
                            : "its " + std::to_string(rows.size()) + " " +
                                  (rows.size() == 1 ? "record is" : "records are") + " empty"));
  if (format != text_format::c4) return {io::join_rows(rows), format, rows.size(), rows.size()};
  if (rows.size() < io::c4_reference_documents)
    std::fprintf(stderr,
                 "pollard: warning: %s holds %zu documents, fewer than the %zu the C4 "
                 "protocol joins; all are used\n",
                 printable(path.string()).c_str(), rows.size(), io::c4_reference_documents);
  return {io::c4_reference_text(rows), format, rows.size(),
          std::min(rows.size(), io::c4_reference_documents)};
}

/// What an evaluation run scored, for protocol_of: the window, the windows scored and those the
/// token stream holds, the model's context, and whether positions are scored as the reference
/// scripts do (the windows protocol, not llama.cpp's).
struct evaluation_run {
  index_t window = 0;
  index_t windows = 0;
  index_t available_windows = 0;
  index_t context = 0;
  bool reference_positions = true;
};

/// How the evaluation string was made and scored, in words, for the output. The SparseGPT/Wanda
/// protocol is named as followed only when the run is it: C4 (get_c4) joins the first 1100
/// documents with " " and scores the first 256 windows; WikiText-2 (get_wikitext2) joins the
/// test rows with "\n\n" and scores every window; both use windows of the model's context and
/// score every position. Otherwise the text says which of these conditions the run departs from.
inline std::string protocol_of(text_format f, const evaluation_text& t, const evaluation_run& run) {
  if (f == text_format::text) return "the file as it is";
  if (f == text_format::jsonl_gz)
    return std::to_string(t.joined) +
           " documents joined with \"\\n\\n\" (not the SparseGPT/Wanda C4 protocol: use --format "
           "c4)";
  const bool c4 = f == text_format::c4;
  std::vector<std::string> departures;
  if (c4 && t.in_file < io::c4_reference_documents)
    departures.push_back(std::to_string(t.in_file) + " documents instead of " +
                         std::to_string(io::c4_reference_documents));
  const index_t reference_windows =
      c4 ? std::min(io::c4_reference_windows, run.available_windows) : run.available_windows;
  if (run.windows != reference_windows)
    departures.push_back(std::to_string(run.windows) + " windows instead of " +
                         std::to_string(reference_windows));
  if (run.window != run.context)
    departures.push_back("window " + std::to_string(run.window) +
                         " instead of the model's context " + std::to_string(run.context));
  if (!run.reference_positions) departures.push_back("llama.cpp's scored positions");
  std::string text = c4 ? (t.joined < t.in_file ? "the first " + std::to_string(t.joined) + " of " +
                                                      std::to_string(t.in_file) + " documents"
                                                : std::to_string(t.joined) + " documents") +
                              " joined with \" \", " + std::to_string(run.windows) + " windows"
                        : std::to_string(t.joined) + " rows joined with \"\\n\\n\", " +
                              std::to_string(run.windows) + " windows";
  const std::string name = c4 ? "the SparseGPT/Wanda C4 protocol"
                              : "the SparseGPT/Wanda WikiText-2 protocol when the rows are "
                                "WikiText-2's test split";
  if (departures.empty()) return text + " (" + name + ")";
  text += " (not " +
          std::string(c4 ? "the SparseGPT/Wanda C4 protocol"
                         : "the SparseGPT/Wanda WikiText-2 protocol") +
          ": ";
  for (std::size_t k = 0; k < departures.size(); ++k) text += (k > 0 ? ", " : "") + departures[k];
  return text + ")";
}

/// The file pollard writes into every Hugging Face folder it writes: the names of the files it
/// wrote there, one a line. It is how a later run tells a folder pollard wrote (replaced as a
/// whole) from a user's folder that merely holds a model (never touched).
inline constexpr const char* hf_written_list = ".pollard-written";

/// The files pollard writes itself into a Hugging Face folder, never copied from the model's.
inline constexpr const char* hf_own_files[] = {"model.safetensors", "config.json", hf_written_list};

/// The files of a Hugging Face model's folder that pollard reads: the weights, config.json and
/// the tokenizer.
inline constexpr const char* hf_read_files[] = {"model.safetensors", "config.json",
                                                "tokenizer.json"};

/// The largest companion file a Hugging Face copy carries: each is read whole to be copied.
inline constexpr std::uintmax_t hf_companion_limit = std::uintmax_t{1} << 30;

/// Whether `name` (a file of a Hugging Face folder) holds weights in another file than the
/// model.safetensors pollard writes: other .safetensors files (shards), an index of shards, and
/// PyTorch, TensorFlow, Flax, GGUF and ONNX weights. Beside pruned weights they would be the
/// dense model, so a copy never carries them.
inline bool is_hf_weight_file(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.ends_with(".index.json")) return true;
  for (const char* extension :
       {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack"})
    if (lower.ends_with(extension)) return true;
  return false;
}

/// What the folder of a Hugging Face model holds beside the .safetensors file the model is read
/// from, its config.json and the hf_written_list of an earlier copy, as sorted names: `carried`,
/// the regular files (links followed) a copy of the model carries byte for byte; what it never
/// carries: `weights` (is_hf_weight_file), `folders`, and `others` (what is neither a regular
/// file nor a folder: a dangling link, a FIFO...).
struct hf_folder_contents {
  std::vector<std::string> carried, weights, folders, others;
};

/// The .safetensors file a Hugging Face model at `model` (its folder, or the file) is read from.
inline fs::path hf_weights_file_of(const fs::path& model) {
  std::error_code ec;
  return fs::is_directory(model, ec) ? model / "model.safetensors" : model;
}

/// hf_folder_contents of `folder`, whose model is read from `weights_file`. Errors: io_error
/// when the folder cannot be listed.
inline hf_folder_contents hf_companions_of(const fs::path& folder, const fs::path& weights_file) {
  hf_folder_contents c;
  std::error_code ec;
  fs::directory_iterator entries(folder, ec);
  if (ec) throw io_error("cannot list " + folder.string() + ": " + ec.message());
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    // model.safetensors is not the model when it is read from another file of the folder.
    if (name == weights_file.filename().string() || name == "config.json" ||
        name == hf_written_list)
      continue;
    const fs::file_status s = fs::status(entry.path(), ec);
    if (fs::is_directory(s))
      c.folders.push_back(name);
    else if (is_hf_weight_file(name))
      c.weights.push_back(name);
    else if (fs::is_regular_file(s))
      c.carried.push_back(name);
    else
      c.others.push_back(name);
  }
  for (auto* names : {&c.carried, &c.weights, &c.folders, &c.others})
    std::sort(names->begin(), names->end());
  return c;
}

/// The folder of a Hugging Face model at `model` (its folder, or the folder of its file).
inline fs::path hf_folder_of(const fs::path& model) {
  const fs::path weights = hf_weights_file_of(model);
  return weights.has_parent_path() ? weights.parent_path() : fs::path(".");
}

/// The files a Hugging Face copy of `model` (its folder or .safetensors file) carries from the
/// model's folder (hf_folder_contents::carried), as paths there.
inline std::vector<fs::path> hf_carried_files(const fs::path& model) {
  const fs::path folder = hf_folder_of(model);
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return files;
  for (const auto& name : hf_companions_of(folder, hf_weights_file_of(model)).carried)
    files.push_back(folder / name);
  return files;
}

/// The inputs a command that writes a Hugging Face copy of MODEL at `model` reads besides
/// model_inputs(), for check_inputs(): every file of the model's folder it carries, and every
/// entry that is neither such a file nor a folder nor weights (a dangling link, a FIFO), which
/// check_inputs() refuses by name rather than the copy leaving it out.
inline std::vector<input_path> hf_copy_inputs(const std::string& model) {
  std::vector<input_path> inputs;
  std::error_code ec;
  if (model.empty() || llm::detail::detect_format(model) != llm::model_format::safetensors ||
      !fs::is_directory(hf_folder_of(model), ec))
    return inputs;
  const hf_folder_contents c = hf_companions_of(hf_folder_of(model), hf_weights_file_of(model));
  for (const auto* names : {&c.carried, &c.others})
    for (const auto& name : *names) inputs.push_back({"MODEL's", hf_folder_of(model) / name});
  return inputs;
}

/// The inputs a command names by MODEL (as `name` says: MODEL, BASE...) at `model`, for
/// check_inputs(): the model (a file or a Hugging Face folder) and the files read beside it —
/// every file of a Hugging Face model's folder that pollard reads (hf_read_files; a copy reads
/// more, hf_copy_inputs), the llama2.c tokenizer the reader takes beside a llama2.c checkpoint
/// (tok<vocab>.bin, else tokenizer.bin); then `others`.
inline std::vector<input_path> model_inputs(const std::string& name, const std::string& model,
                                            std::vector<input_path> others = {}) {
  std::vector<input_path> inputs{{name, model, input_kind::file_or_folder}};
  std::error_code ec;
  const fs::path path = model;
  const fs::path folder = fs::is_directory(path, ec)           ? path
                          : path.extension() != ".safetensors" ? fs::path()
                          : path.has_parent_path()             ? path.parent_path()
                                                               : fs::path(".");
  if (!model.empty() && !folder.empty()) {
    for (const char* file : hf_read_files)
      if (fs::exists(fs::symlink_status(folder / file, ec)))
        inputs.push_back({name + "'s", folder / file});
  } else if (fs::is_regular_file(path, ec) && path.extension() != ".gguf") {
    try {
      if (llm::detail::detect_format(path) == llm::model_format::llama2c) {
        // The tokenizer the reader will take (tok<vocab>.bin, else tokenizer.bin).
        const io::mapped_file mapped(path);
        const auto header = io::parse_llama2c(mapped.bytes(), path.string()).header;
        if (const auto tokenizer =
                llm::detail::find_llama2c_tokenizer(path, std::abs(header.vocab_size)))
          inputs.push_back({"the tokenizer beside " + name + ",", *tokenizer});
      }
    } catch (const error&) {
      // The model itself is refused by check_inputs(), or by its reader, in its own words.
    }
  }
  inputs.insert(inputs.end(), others.begin(), others.end());
  return inputs;
}

/// The folder of a Hugging Face model `m` (its path, or the folder of its .safetensors file).
inline fs::path hf_folder_of(const llm::model_file& m) { return hf_folder_of(m.path); }

/// The files a command reads when it opens `model` as `m`: the model itself and what is read
/// beside it (the llama2.c tokenizer found there; a Hugging Face folder's hf_read_files and, when
/// the command writes a `copy` of the model, every file the copy carries, hf_carried_files).
inline std::vector<io::named_path> files_read_with(const fs::path& model, const llm::model_file& m,
                                                   bool copy = false) {
  std::vector<io::named_path> files{{"MODEL", model}};
  if (m.format == llm::model_format::llama2c) {
    if (const auto tokenizer =
            llm::detail::find_llama2c_tokenizer(model, m.weights.config.vocab_size))
      files.push_back({"the tokenizer beside MODEL,", *tokenizer});
  } else if (m.format == llm::model_format::safetensors) {
    const fs::path folder = fs::is_directory(model) ? model : model.parent_path();
    for (const char* name : hf_read_files) files.push_back({"MODEL's", folder / name});
    if (copy)
      for (const auto& file : hf_carried_files(model))
        if (std::find(std::begin(hf_read_files), std::end(hf_read_files),
                      file.filename().string()) == std::end(hf_read_files))
          files.push_back({"MODEL's", file});
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

/// Writes `content` to `path` through a temporary renamed on success.
inline void write_file_atomically(const fs::path& path, std::string_view content) {
  io::atomic_file out(path);
  out.write(content.data(), content.size());
  out.commit();
}

/// Writes a command's only output, `content`, at `path` as its last step: committed as a set of
/// one (io::atomic_file_set), so that a signal arriving once it is in place no longer ends the
/// run with a failure status.
inline void write_output_file(const fs::path& path, std::string_view content) {
  io::atomic_file_set outputs;
  write_file_atomically(path, content);
  outputs.commit();
}

/// The names an existing Hugging Face output folder `out`'s hf_written_list gives for files
/// still there besides hf_own_files: what an earlier run wrote, which the next one replaces or
/// removes. Names that are not a file of `out` itself (holding '/', "." or "..") are left out.
inline std::vector<std::string> hf_previously_written(const fs::path& out) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_regular_file(out / hf_written_list, ec)) return names;
  std::istringstream lines(read_file(out / hf_written_list));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line == "." || line == ".." || line.find('/') != std::string::npos ||
        std::find(std::begin(hf_own_files), std::end(hf_own_files), line) !=
            std::end(hf_own_files) ||
        std::find(names.begin(), names.end(), line) != names.end())
      continue;
    if (fs::exists(fs::symlink_status(out / line, ec))) names.push_back(line);
  }
  return names;
}

/// The files a model in `m`'s format is written as at `out` (a Hugging Face model is a folder:
/// its weights, config.json, hf_written_list, a copy of every file of `m`'s folder that a copy
/// carries (hf_carried_files), and every file an earlier run wrote there, replaced or removed).
inline std::vector<io::named_path> files_written_as(const fs::path& out, const llm::model_file& m,
                                                    const std::string& name = "OUT") {
  if (m.format != llm::model_format::safetensors) return {{name, out}};
  std::vector<io::named_path> files;
  std::vector<std::string> names(std::begin(hf_own_files), std::end(hf_own_files));
  for (const auto& file : hf_carried_files(m.path)) names.push_back(file.filename().string());
  for (auto& file : hf_previously_written(out))
    if (std::find(names.begin(), names.end(), file) == names.end()) names.push_back(file);
  for (const auto& file : names) files.push_back({name, out / file});
  return files;
}

/// Refuses, as a command-line mistake naming the folder and the files, an existing Hugging Face
/// output folder `out` that holds a file pollard did not write there (not named by its
/// hf_written_list; every file, when the folder has none): replacing the folder would remove it
/// (a user's tokenizer.json), or leave it beside the new model. A new or empty folder is fine.
inline void check_hf_output_folder(const std::string& name, const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return;
  std::vector<std::string> written;
  if (fs::is_regular_file(out / hf_written_list, ec)) {
    std::istringstream lines(read_file(out / hf_written_list));
    for (std::string line; std::getline(lines, line);) written.push_back(line);
  }
  std::vector<std::string> foreign;
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string file = entry.path().filename().string();
    const bool listed = std::find(written.begin(), written.end(), file) != written.end();
    // pollard writes files, never links: a link there (even under a listed name) was put there
    // by someone else, and writing the copy would write through it, into another file.
    if (entry.is_symlink(ec) || (file != hf_written_list && (!listed || entry.is_directory(ec))))
      foreign.push_back(file);
  }
  std::sort(foreign.begin(), foreign.end());
  if (!foreign.empty())
    throw usage_error(name + " " + out.string() + " holds " + foreign.front() +
                      (foreign.size() > 1 ? " (and " + std::to_string(foreign.size() - 1) + " more)"
                                          : std::string()) +
                      ", which pollard did not write there: name a new or empty folder, or one "
                      "that pollard wrote (its " +
                      hf_written_list + " names the files it wrote)");
}

/// Refuses, before any work, a Hugging Face copy at OUT (`name`) of the model at `model` that
/// could not carry its folder's files as they are (io_error naming the file): one larger than
/// hf_companion_limit (it is read whole), one whose name holds a line break (hf_written_list
/// names a file a line). Warns on stderr, naming them, about what the copy never carries: weights
/// in other files (is_hf_weight_file: beside pruned weights they would be the dense model) and
/// folders. (What is neither is refused by check_inputs(), hf_copy_inputs.)
inline void check_hf_companions(const std::string& name, const fs::path& out,
                                const fs::path& model) {
  const fs::path folder = hf_folder_of(model);
  const hf_folder_contents c = hf_companions_of(folder, hf_weights_file_of(model));
  for (const auto& file : c.carried) {
    if (file.find_first_of("\n\r") != std::string::npos)
      throw io_error("MODEL's folder " + folder.string() + " holds " + printable(file) +
                     ", whose name holds a line break: a copy lists the files it carries one a "
                     "line (" +
                     hf_written_list + "); rename or remove it");
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(folder / file, ec);
    if (!ec && size > hf_companion_limit)
      throw io_error("MODEL's folder " + folder.string() + " holds " + printable(file) + " of " +
                     std::to_string(size) +
                     " bytes: a Hugging Face copy carries every file of the folder, each read "
                     "whole, up to 1 GiB; move it out of the folder");
  }
  const auto warn = [&](const std::vector<std::string>& names, const char* what, const char* why) {
    if (names.empty()) return;
    std::string list;
    for (const auto& file : names) list += (list.empty() ? "" : ", ") + printable(file);
    std::fprintf(stderr,
                 "pollard: warning: MODEL's folder %s holds %s, not copied to %s %s%s: %s\n",
                 printable(folder.string()).c_str(), what, name.c_str(),
                 printable(out.string()).c_str(), why, list.c_str());
  };
  warn(c.weights, "weights in other files",
       " (beside the model written they would be the model as read)");
  warn(c.folders, "folders", "");
}

/// Writes, into `outputs`, the files of a Hugging Face folder `out` that come from the folder of
/// the model `m` as they are (every file hf_carried_files names, a link's content copied), and
/// the hf_written_list naming them with the weights and config.json written beside them. A file
/// an earlier run wrote into `out` (hf_previously_written) that is not written again is removed
/// with the commit, so that an earlier model's tokenizer.json never pairs with new weights.
inline void write_hf_companions(io::atomic_file_set& outputs, const llm::model_file& m,
                                const fs::path& out) {
  std::string written = "model.safetensors\nconfig.json\n";
  std::vector<std::string> carried;
  for (const auto& file : hf_carried_files(m.path)) {
    carried.push_back(file.filename().string());
    write_file_atomically(out / file.filename(), read_file(file));
    written += carried.back() + "\n";
  }
  for (const auto& file : hf_previously_written(out))
    if (std::find(carried.begin(), carried.end(), file) == carried.end())
      outputs.remove_on_commit(out / file);
  write_file_atomically(out / hf_written_list, written);
}

/// Refuses, before any work, a model output at `out` that could not be written (check_outputs'
/// location checks; a Hugging Face folder `out` may exist or will be created in its folder). A
/// Hugging Face copy of the folder `model` is a folder: an `out` that is an existing file, or a
/// folder inside `model` (it would be written into what is read), is a command-line mistake.
inline void check_model_output_location(const std::string& name, const fs::path& out,
                                        llm::model_format format, const fs::path& model) {
  // A name that promises another format than the one written (a llama2.c checkpoint in
  // "x.gguf", a GGUF in "x.bin") would be read back as that format, and fail.
  if (format != llm::model_format::safetensors) {
    check_output_name(name, out, std::string("MODEL's format: ") + llm::name_of(format),
                      {format == llm::model_format::gguf ? ".gguf" : ".bin"});
    return check_output_file(name, out);
  }
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw usage_error(name + " " + out.string() + " is a file: a Hugging Face model (" +
                      model.string() + ") is written as a folder; name a folder");
  check_output_name(name, out,
                    "MODEL's format: a Hugging Face folder (config.json, model.safetensors)", {});
  const fs::path read = io::written_path(fs::is_directory(model) ? model : model.parent_path());
  const fs::path written = io::written_path(out);
  for (fs::path p = written; !p.empty(); p = p.parent_path()) {
    if (p == read)
      throw usage_error(name + " " + out.string() + " is inside MODEL's folder " + read.string() +
                        ": the copy would be written into what is read");
    if (p == p.parent_path()) break;
  }
  check_output_location(name, fs::is_directory(out, ec) ? out / "config.json" : out);
  check_hf_output_folder(name, out);
  check_hf_companions(name, out, model);
}

/// Refuses, before any work, an output --type `type` (f32, f16, bf16, or prune's same) that
/// `format` cannot honour: a llama2.c checkpoint holds f32 only, so f16 and bf16 are types it
/// cannot hold and --type given at all would change nothing. `stored` names what --type sets
/// ("the pruned linears"). GGUF and Hugging Face outputs take every float type.
inline void check_output_type(const given_options& given, const std::string& type,
                              llm::model_format format, const std::string& stored) {
  if (format != llm::model_format::llama2c) return;
  if (type == "f16" || type == "bf16")
    throw usage_error("--type " + type + " is for GGUF and Hugging Face outputs; " +
                      llm::name_of(format) + " is written as f32");
  refuse_if_given(given, "--type", true,
                  "sets how " + stored + " are stored, and " + llm::name_of(format) +
                      " is always written as f32");
}

/// Writes `weights` as `original`'s format at `out` (llm::save_model) into `outputs`, whose
/// commit() then publishes them with the command's other outputs. A Hugging Face folder is
/// created when missing (and removed again if the outputs are not committed), and gets a copy
/// of the files of `original`'s folder that pollard does not write itself (write_hf_companions).
inline void save_model_into(io::atomic_file_set& outputs, const llm::model_file& original,
                            const llm::llama_weights& weights, const fs::path& out,
                            pollard::dtype type = pollard::dtype::f32) {
  if (original.format == llm::model_format::safetensors) {
    if (!fs::exists(out)) outputs.create_folder(out);
    write_hf_companions(outputs, original, out);
  }
  llm::save_model(original, weights, out, type);
}

/// Text for a Markdown file: well-formed UTF-8 (each ill-formed byte sequence, e.g. of a file
/// name that is not UTF-8, as U+FFFD) without control characters (each as U+FFFD too), so the
/// file is valid UTF-8 and a name cannot break its layout.
inline std::string markdown_text(std::string_view s) {
  std::string out;
  for (const char c : io::valid_utf8(s)) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f)
      out += "\xef\xbf\xbd";
    else
      out += c;
  }
  return out;
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
