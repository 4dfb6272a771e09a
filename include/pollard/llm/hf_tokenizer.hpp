// pollard — a Hugging Face tokenizer.json holding a GPT-2-style byte-level BPE (the tokenizers
// library's BPE model with a ByteLevel pre-tokenizer and decoder), read into the byte-level BPE
// tokenizer pollard runs for GGUF files. What the file asks that this tokenizer does not do is
// refused by name.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/llm/byte_level_bpe_tokenizer.hpp"

namespace pollard::llm {

namespace detail {

/// The llama.cpp pre-tokenizer name equivalent to a tokenizers pre_tokenizer description.
inline std::string hf_pre_tokenizer_name(const io::json_value& pre, const std::string& what) {
  const auto type = [&](const io::json_value& v) {
    const auto* t = v.find("type");
    return t == nullptr ? std::string() : t->as_string(what + " pre_tokenizer type");
  };
  const auto byte_level = [&](const io::json_value& v, bool regex) {
    if (type(v) != "ByteLevel") return false;
    const auto* prefix = v.find("add_prefix_space");
    const auto* use_regex = v.find("use_regex");
    return (prefix == nullptr || !prefix->as_bool("add_prefix_space")) &&
           (use_regex == nullptr || use_regex->as_bool("use_regex") == regex);
  };
  if (byte_level(pre, true)) return "gpt2";
  if (type(pre) == "Sequence") {
    const auto* list = pre.find("pretokenizers");
    const auto& steps = list ? list->as_array(what + " pretokenizers") : io::json_value::array{};
    if (steps.size() == 2 && type(steps[0]) == "Digits" && steps[0].find("individual_digits") &&
        steps[0].find("individual_digits")->as_bool("individual_digits") &&
        byte_level(steps[1], true))
      return "smollm";
    if (steps.size() == 2 && type(steps[0]) == "Split" && byte_level(steps[1], false)) {
      const auto* pattern = steps[0].find("pattern");
      const auto* regex = pattern ? pattern->find("Regex") : nullptr;
      if (regex != nullptr &&
          regex->as_string("Regex") ==
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
        return "llama3";
    }
  }
  throw format_error(what +
                     ": this pre_tokenizer is not supported (GPT-2's ByteLevel, "
                     "SmolLM's Digits + ByteLevel and Llama 3's split are)");
}

/// Whether a post_processor adds a leading special token (BOS) to a single text.
inline bool hf_adds_bos(const io::json_value& post, const std::string& what) {
  if (post.is_null()) return false;
  const std::string type = post.find("type") ? post.find("type")->as_string("type") : "";
  if (type == "ByteLevel") return false;
  if (type == "Sequence") {
    bool adds = false;
    for (const auto& p : post.find("processors")->as_array(what + " processors"))
      adds = hf_adds_bos(p, what) || adds;
    return adds;
  }
  if (type == "TemplateProcessing") {
    const auto& single = post.find("single")->as_array(what + " post_processor.single");
    return !single.empty() && single.front().find("SpecialToken") != nullptr;
  }
  throw format_error(what + ": post_processor type '" + type + "' is not supported");
}

}  // namespace detail

/// Reads a tokenizer.json. `bos` and `eos` come from the model's config.json (bos_token_id,
/// eos_token_id); whether BOS is added follows the post_processor's template.
inline byte_level_bpe_tokenizer read_hf_tokenizer(const std::filesystem::path& path,
                                                  std::optional<std::int32_t> bos = std::nullopt,
                                                  std::optional<std::int32_t> eos = std::nullopt) {
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open tokenizer " + path.string() + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  const std::string what = path.filename().string();
  const auto root = io::parse_json(text.str(), what);
  const auto* model = root.find("model");
  if (model == nullptr) throw format_error(what + ": no \"model\" (not a tokenizer.json)");
  const auto* type = model->find("type");
  if (type == nullptr || type->as_string("model.type") != "BPE")
    throw format_error(what + ": model.type must be BPE (byte-level BPE only)");
  for (const char* key : {"byte_fallback", "ignore_merges"})
    if (const auto* v = model->find(key); v && !v->is_null() && v->as_bool(key))
      throw format_error(what + ": model." + key + " true is not supported");
  for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
    if (const auto* v = model->find(key);
        v && !v->is_null() && !(v->is_string() && v->as_string(key).empty()))
      throw format_error(what + ": model." + std::string(key) + " is not supported");
  if (const auto* n = root.find("normalizer"); n && !n->is_null())
    throw format_error(what + ": a normalizer is not supported");
  if (const auto* d = root.find("decoder");
      d && !d->is_null() && (!d->find("type") || d->find("type")->as_string("type") != "ByteLevel"))
    throw format_error(what + ": decoder must be ByteLevel");
  const auto* pre = root.find("pre_tokenizer");
  if (pre == nullptr || pre->is_null())
    throw format_error(what + ": no pre_tokenizer (byte-level BPE needs ByteLevel)");
  const std::string pre_name = detail::hf_pre_tokenizer_name(*pre, what);

  const auto* vocab = model->find("vocab");
  if (vocab == nullptr) throw format_error(what + ": model has no vocab");
  std::vector<std::string> tokens;
  std::vector<bool> assigned;
  const auto place = [&](const std::string& token, std::uint64_t id) {
    if (id >= (1u << 24))
      throw format_error(what + ": token id " + std::to_string(id) + " is too large");
    if (id >= tokens.size()) {
      tokens.resize(id + 1);
      assigned.resize(id + 1, false);
    }
    if (assigned[id] && tokens[id] != token)
      throw format_error(what + ": token id " + std::to_string(id) + " is given twice");
    tokens[id] = token;
    assigned[id] = true;
  };
  for (const auto& [token, id] : vocab->as_object(what + " vocab"))
    place(token, id.as_size(what + " vocab id"));
  // Added tokens are matched in the text before the model splits it: the special ones as
  // control tokens (llama.cpp's convert_hf_to_gguf types them so), the others always.
  std::vector<std::pair<std::uint64_t, bool>> added_ids;
  if (const auto* added = root.find("added_tokens"))
    for (const auto& t : added->as_array(what + " added_tokens")) {
      const auto* id_value = t.find("id");
      const auto* content = t.find("content");
      if (id_value == nullptr || content == nullptr)
        throw format_error(what + ": an added token has no \"id\" or no \"content\"");
      const auto id = id_value->as_size("added_tokens id");
      const std::string spelling = content->as_string("added_tokens content");
      // transformers strips the whitespace beside such a token, or matches it only as a whole
      // word; pollard matches the exact text only, so it refuses rather than tokenize otherwise.
      for (const char* key : {"lstrip", "rstrip", "single_word"})
        if (const auto* v = t.find(key); v && !v->is_null() && v->as_bool(key))
          throw format_error(what + ": added token '" + spelling + "' has " + key +
                             " true, which pollard does not support");
      place(spelling, id);
      const auto* s = t.find("special");
      added_ids.emplace_back(id, s && s->as_bool("special"));
    }
  for (std::size_t i = 0; i < assigned.size(); ++i)
    if (!assigned[i])
      throw format_error(what + ": no token has id " + std::to_string(i) +
                         " (the vocabulary must be contiguous)");
  std::vector<std::int32_t> token_types(tokens.size(), 1);  // LLAMA_TOKEN_TYPE_NORMAL
  for (const auto& [id, special] : added_ids) token_types[id] = special ? 3 : 4;

  std::vector<std::string> merges;
  if (const auto* m = model->find("merges"))
    for (const auto& merge : m->as_array(what + " merges")) {
      if (merge.is_string()) {
        merges.push_back(merge.as_string("merge"));
      } else {
        const auto& pair = merge.as_array(what + " merge");
        if (pair.size() != 2) throw format_error(what + ": a merge is not a pair");
        merges.push_back(pair[0].as_string("merge") + " " + pair[1].as_string("merge"));
      }
    }
  const bool add_bos = detail::hf_adds_bos(
      root.find("post_processor") ? *root.find("post_processor") : io::json_value(), what);
  return byte_level_bpe_tokenizer(std::move(tokens), merges, std::move(token_types), pre_name, bos,
                                  eos, add_bos);
}

}  // namespace pollard::llm
