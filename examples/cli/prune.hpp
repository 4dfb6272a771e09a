// pollard CLI — `pollard prune`: prune every linear of a checkpoint block by block on calibration
// data and write it back in its own format, with a report per linear.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "command_line.hpp"
#include "common.hpp"
#include "pollard/backends/cpu/policy.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/core/narrowing.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/io/gguf/rewrite.hpp"
#include "pollard/llm/calibration_data.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/progress.hpp"
#include "pollard/llm/self_generated_calibration.hpp"
#include "pollard/llm/streaming_gguf_model.hpp"
#include "pollard/metrics/sparsity.hpp"
#include "pollard/model/prune_by_magnitude.hpp"
#include "pollard/model/prune_model.hpp"
#include "pollard/model/prune_report_json.hpp"

namespace pollard::cli {

struct prune_options {
  std::string model, out;
  std::string method = "wanda";
  double sparsity = 0.5;
  std::string n_m;
  std::string group = "default";
  std::string allocation = "uniform";
  double owl_m = 5.0, owl_lambda = 0.08;
  std::string calibration;
  index_t samples = 128;
  index_t length = 0;
  std::uint64_t seed = 0;
  std::string text_field = "text";
  std::string selfgen_cache;
  index_t selfgen_sources = 0;
  bool responses_only = false;
  double percdamp = 0.01;
  index_t block_size = 128;
  std::string mode = "sequential";
  bool dsnot = false, reconstruct = false;
  std::string targets, ignore;
  bool include_embeddings = false, include_classifier = false;
  std::string type = "same";
  std::string report;
  std::string save_calibration;
  std::string tokenizer;
  text_reading_choice special_tokens;
  bool quiet = false;
  int threads = 0;
  given_options given;
};

/// --samples, --length and --seed: how many calibration sequences of how many tokens, drawn with
/// which seed (the commands that draw calibration data share them).
inline void add_calibration_size_options(CLI::App& c, index_t& samples, index_t& length,
                                         std::uint64_t& seed) {
  c.add_option("--samples", samples, "calibration sequences")
      ->type_name("N")
      ->transform(integer_in(1, 1 << 20));
  c.add_option("--length", length, "tokens per calibration sequence")
      ->type_name("L")
      ->transform(integer_in(2, 1 << 20))
      ->default_str("min(2048, the model's context)");
  c.add_option("--seed", seed, "calibration seed")->type_name("S")->transform(unsigned_integer());
}

/// --responses-only, for the commands that draw calibration data.
inline void add_responses_only_option(CLI::App& c, bool& responses_only) {
  c.add_flag("--responses-only", responses_only,
             "alpaca: count only the response tokens in the statistics");
}

/// --responses-only selects the response tokens of instruction data: refused, as changing
/// nothing, when no --calibration source is alpaca.
inline void refuse_responses_only_without_instructions(const given_options& given,
                                                       const std::vector<calibration_spec>& specs) {
  refuse_if_given(given, "--responses-only",
                  std::none_of(specs.begin(), specs.end(),
                               [](const calibration_spec& c) {
                                 return c.kind == calibration_kind::instructions;
                               }),
                  "selects the response tokens of alpaca calibration data, and no --calibration "
                  "source is alpaca (instructions with responses)");
}

/// Refuses a --responses-only draw in which no token counts: every response starts after the
/// window (usage_error naming --length).
inline void require_counted_responses(bool responses_only, const calibration_batch& batch,
                                      const llm::calibration_options& co) {
  if (responses_only && batch.n_sequences > 0 && batch.counted_tokens() == 0)
    throw usage_error(
        "--responses-only counts the response tokens, and every response starts "
        "after the first " +
        std::to_string(co.samples * co.length) + " tokens drawn (--samples " +
        std::to_string(co.samples) + " x --length " + std::to_string(co.length) +
        "): no token is counted; give a larger --length");
}

inline CLI::App* add_prune_command(CLI::App& app, prune_options& o) {
  CLI::App* c = app.add_subcommand(
      "prune", "prune every linear of a model block by block on calibration data");
  c->footer(
      "Prunes every linear of MODEL block by block (SparseGPT's and Wanda's procedure) and writes\n"
      "OUT in MODEL's format with every other tensor and metadata key. For each block the\n"
      "calibration sequences run through it; the inputs of its linears give the statistics the\n"
      "method needs (one per input that several linears share: q/k/v, gate/up); every linear is\n"
      "pruned; in sequential mode the block runs again with its pruned weights to calibrate the\n"
      "next one. Norms are never pruned; the embeddings and the classifier only when asked\n"
      "(--include-embeddings, --include-classifier: by magnitude). A GGUF is read\n"
      "memory-mapped and pruned one block at a time (the model is never held in float); the\n"
      "pruned linears are written back in their stored type (--type same: Q8_0, Q4_0, F16, BF16,\n"
      "F32; a Q4_1 linear cannot hold an exact zero, so a Q4_1 model needs --type) or as --type.\n"
      "The output is written through a temporary file and renamed, so it is whole or absent.\n"
      "A Hugging Face OUT folder gets config.json and every tensor but the pruned linears as\n"
      "MODEL holds them (rotary_emb.inv_freq included), and a byte copy of every other file of\n"
      "MODEL's folder (tokenizer files, chat template, README...); weights in other files\n"
      "(other .safetensors, their index, .bin, .pt, .pth, .ckpt, .gguf, .onnx, .h5, .msgpack)\n"
      "and subfolders are not copied, and a warning names them; a file over 1 GiB is refused.\n"
      "\n"
      "Calibration kinds (--calibration KIND:PATH[@WEIGHT], several separated by commas for a\n"
      "mixture): c4 (documents): one random window from each of N random documents; wikitext\n"
      "(corpus, text): the documents joined by a space, N random windows; alpaca (instructions):\n"
      "the Alpaca template, packed; selfgen: the model's own continuations of the first 2 tokens\n"
      "of each document (temperature 0.6, top-k 50, top-p 0.95, repetition penalty 1.2), the 20 %\n"
      "with the highest perplexity dropped. Files, for every kind, by the rule every command\n"
      "shares: " +
      std::string(data_file_rule) +
      " (--text-field names another field). Plain text is split at blank lines (a line of only\n"
      "spaces/tabs is blank); alpaca needs instruction/output records (input optional). Window "
      "starts are drawn as the reference scripts draw them (CPython's random\n"
      "with --seed), in pollard's token stream: it keeps every space, as llama.cpp and llama2.c\n"
      "do, while the references' Hugging Face tokenizer may collapse runs of spaces\n"
      "(SentencePiece's remove_extra_whitespaces, e.g. stories260K's tok512.model), so on text\n"
      "with such runs (WikiText-2's joined rows) the windows differ from the reference's.");
  c->add_option("MODEL", o.model, "a GGUF file, a llama2.c checkpoint or a Hugging Face folder")
      ->required();
  c->add_option("OUT", o.out, "the pruned model, in MODEL's format")->required();
  c->add_option("--method", o.method, "magnitude (no calibration), wanda, ria or sparsegpt")
      ->check(CLI::IsMember({"magnitude", "wanda", "ria", "sparsegpt"}));
  CLI::Option* sparsity =
      c->add_option("--sparsity", o.sparsity,
                    "fraction of each linear pruned, in [0, 1) (the mean under OWL)")
          ->transform(real_where("in [0, 1)", [](double s) { return s >= 0 && s < 1; }));
  c->add_option("--n-m", o.n_m, n_m_option_help)
      ->type_name("N:M")
      ->check(n_m_text())
      ->excludes(sparsity);
  c->add_option("--calibration", o.calibration,
                "KIND:PATH[@WEIGHT][,KIND:PATH[@WEIGHT]...]: the calibration data (required\n"
                "unless --method magnitude; kinds below)")
      ->type_name("SPEC")
      ->check(comma_list_text());
  add_calibration_size_options(*c, o.samples, o.length, o.seed);
  c->add_option("--group", o.group,
                "unstructured comparison group: row, matrix or column-block; default: the\n"
                "method's reference (Wanda per row, magnitude and RIA per matrix, SparseGPT per\n"
                "column block)")
      ->check(CLI::IsMember({"default", "row", "matrix", "column-block"}));
  c->add_option("--allocation", o.allocation,
                "sparsity per linear: uniform, owl, or a FILE of 'PATTERN SPARSITY' lines\n"
                "(first match wins)")
      ->type_name("uniform|owl|FILE");
  c->add_option("--owl-m", o.owl_m, "OWL outlier threshold")
      ->type_name("M")
      ->transform(real_where("> 0", [](double x) { return x > 0; }));
  c->add_option("--owl-lambda", o.owl_lambda, "OWL spread")
      ->type_name("L")
      ->transform(real_where(">= 0", [](double x) { return x >= 0; }));
  c->add_option("--percdamp", o.percdamp,
                "SparseGPT and --reconstruct damping, λ = P x mean(diag H), P in [0, 1)")
      ->type_name("P")
      ->transform(percdamp_fraction());
  c->add_option("--block-size", o.block_size, "SparseGPT columns per lazy batch and column block")
      ->type_name("B")
      ->transform(integer_in(1, 1 << 20));
  c->add_option("--mode", o.mode,
                "sequential: block b is calibrated on the outputs of the pruned blocks before\n"
                "it; parallel: on the dense ones")
      ->check(CLI::IsMember({"sequential", "parallel"}));
  c->add_flag("--dsnot", o.dsnot, "refine a criterion's mask with DSnoT");
  c->add_flag("--reconstruct", o.reconstruct,
              "after a criterion's mask, update the kept weights (fixed-mask OBS)");
  c->add_option("--targets", o.targets,
                "prune only linears matching a pattern, comma-separated (e.g. 'blk.*.ffn_*')")
      ->type_name("P[,P...]")
      ->check(comma_list_text())
      ->default_str("all");
  c->add_option("--ignore", o.ignore, "never prune linears matching a pattern, comma-separated")
      ->type_name("P[,P...]")
      ->check(comma_list_text())
      ->default_str("none");
  c->add_flag("--include-embeddings", o.include_embeddings,
              "also prune the token embedding table (token_embd; model.embed_tokens.weight)\n"
              "by magnitude with the mask rule (--group, --n-m along each row) at --sparsity,\n"
              "stored as the linears are (--type); a tied classifier is the same table, pruned\n"
              "once for both (a Hugging Face file's tied lm_head.weight gets the same values)");
  c->add_flag("--include-classifier", o.include_classifier,
              "also prune the classifier (output; lm_head.weight) likewise; a classifier tied\n"
              "to the embedding table is that table: refused alone (it would prune the\n"
              "embeddings too), and with --include-embeddings the one table is pruned once");
  c->add_option("--type", o.type,
                "GGUF, Hugging Face: same (as stored), f32, f16 or bf16 for the pruned linears\n"
                "and tables (every other tensor keeps its type and bytes)")
      ->check(CLI::IsMember({"same", "f32", "f16", "bf16"}));
  c->add_option("--report", o.report, "also write the per-linear report as JSON")
      ->type_name("OUT.json");
  c->add_option("--save-calibration", o.save_calibration,
                "also write the calibration tokens {sequences, length, tokens, counted} with\n"
                "how they were drawn (model, calibration, sources, seed, text_field,\n"
                "responses_only, special_tokens) and each sequence's source (origins, KIND:PATH\n"
                "as given)")
      ->type_name("OUT.json");
  c->add_option("--text-field", o.text_field, "JSON field holding a document's text")
      ->type_name("F");
  add_responses_only_option(*c, o.responses_only);
  c->add_option("--selfgen-cache", o.selfgen_cache,
                "selfgen: read the generated texts from FILE when it matches, else write them\n"
                "there (with OUT, once the run succeeds); one selfgen source")
      ->type_name("FILE");
  c->add_option("--selfgen-sources", o.selfgen_sources, "selfgen: continue the first N documents")
      ->type_name("N")
      ->transform(integer_in(0, 1 << 30))
      ->default_str("all");
  add_tokenizer_option(*c, o.tokenizer);
  add_text_reading_options(*c, o.special_tokens);
  c->add_flag("--quiet", o.quiet, "no per-linear log");
  add_threads_option(*c, o.threads);
  record_given_options(*c, o.given);
  return c;
}

namespace detail {

inline model::prune_recipe prune_recipe_of(const prune_options& o) {
  model::prune_recipe r;
  r.method = model::pruning_method_from_name(o.method);
  r.sparsity = o.sparsity;
  if (!o.n_m.empty()) {
    const n_m_counts n_m = parse_n_m("--n-m", o.n_m);
    r.n_m_pruned = n_m.pruned;
    r.n_m_group = n_m.group_size;
  }
  if (o.group == "row") r.group = model::comparison_group::per_row;
  if (o.group == "matrix") r.group = model::comparison_group::per_matrix;
  if (o.group == "column-block") r.group = model::comparison_group::per_column_block;
  r.column_block = o.block_size;
  if (o.allocation == "owl") {
    // OWL spreads the linears' sparsities over exactly 2 lambda (when the blocks' outlier ratios
    // differ): from 0.5 on they cannot all lie in [0, 1).
    if (o.owl_lambda >= 0.5)
      throw usage_error("--owl-lambda " + pollard::format_number(o.owl_lambda) +
                        " spreads the sparsities over 2 x " + pollard::format_number(o.owl_lambda) +
                        ", more than [0, 1) holds: give --owl-lambda below 0.5");
    r.allocation = model::owl_sparsity{o.owl_m, o.owl_lambda};
  } else if (o.allocation != "uniform") {
    check_inputs({{"--allocation", o.allocation}});
    try {
      r.allocation = model::sparsity_table::read(o.allocation);
    } catch (const io_error& e) {
      throw io_error("--allocation: " + without_internal_prefixes(e.what()));
    } catch (const error& e) {
      // A row out of range or malformed: the user's table, found before any work.
      throw usage_error("--allocation " + o.allocation + ": " +
                        without_internal_prefixes(e.what()));
    }
  }
  r.mode = o.mode == "parallel" ? model::calibration_mode::parallel
                                : model::calibration_mode::sequential;
  r.dsnot = o.dsnot;
  r.reconstruct = o.reconstruct;
  r.percdamp = o.percdamp;
  r.block_size = o.block_size;
  r.targets.include = comma_list(o.targets);
  r.targets.exclude = comma_list(o.ignore);
  // Contradictory options, named as the command line gives them.
  refuse_if_given(o.given, "--sparsity",
                  std::holds_alternative<model::sparsity_table>(r.allocation),
                  "is the uniform (or OWL's mean) sparsity, and --allocation " + o.allocation +
                      " gives each linear its own");
  const bool n_m = r.is_n_m();
  if (n_m && o.allocation != "uniform")
    throw usage_error("--allocation " + o.allocation +
                      " sets each linear's sparsity, which --n-m fixes; give one of them");
  if (n_m && o.group != "default")
    throw usage_error("--group applies to unstructured sparsity, not to --n-m");
  if (r.method == model::pruning_method::sparsegpt && (o.dsnot || o.reconstruct))
    throw usage_error(std::string(o.dsnot ? "--dsnot" : "--reconstruct") +
                      " applies to magnitude, wanda and ria: sparsegpt updates the weights itself");
  if (r.method == model::pruning_method::sparsegpt && (o.group == "row" || o.group == "matrix"))
    throw usage_error("--group " + o.group +
                      " does not apply to sparsegpt, which chooses its mask per column block (or "
                      "N:M)");
  try {
    r.validate();
  } catch (const option_error& e) {
    std::string message = e.what();
    if (message.rfind("prune recipe: ", 0) == 0) message.erase(0, 14);
    throw usage_error(message);
  }
  return r;
}

/// A 64-bit fingerprint of every weight of the model (FNV-1a over the values' bits, tensor by
/// tensor with its size), so that a self-generated cache is tied to the weights and not only to
/// a file name and size that a pruned copy can share.
inline std::uint64_t weights_fingerprint(const llm::llama_weights& w) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](std::uint64_t v) {
    h ^= v;
    h *= 0x100000001b3ull;
  };
  const auto add = [&](const float* data, Eigen::Index n) {
    mix(static_cast<std::uint64_t>(n));
    for (Eigen::Index k = 0; k < n; ++k) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, data + k, sizeof(bits));
      mix(bits);
    }
  };
  add(w.token_embedding.data(), w.token_embedding.size());
  for (const auto& l : w.layers) {
    add(l.attn_norm.data(), l.attn_norm.size());
    add(l.ffn_norm.data(), l.ffn_norm.size());
    for (const auto* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3})
      add(m->data(), m->size());
    for (const auto& b : l.biases) add(b.data(), b.size());
  }
  add(w.final_norm.data(), w.final_norm.size());
  add(w.classifier.data(), w.classifier.size());
  add(w.rope_freq_factors.data(), w.rope_freq_factors.size());
  return h;
}

/// The --save-calibration file: {model, calibration, sources: [{name, kind, path, weight} for
/// each --calibration source], seed, text_field, responses_only, special_tokens, sequences,
/// length, tokens: [[...]], counted: [[0|1...]] or null when every token counts, origins: [the
/// name of each sequence's source, KIND:PATH as given, one of sources' names]}: the tokens and
/// what is needed to draw them again and to count the same ones.
inline std::string calibration_json(const prune_options& o, const std::string& special_tokens,
                                    const std::string& text_bytes,
                                    const std::vector<calibration_spec>& specs,
                                    const calibration_batch& b) {
  io::json_writer w;
  w.begin_object().key("model").value(o.model).key("calibration").value(o.calibration);
  w.key("sources").begin_array();
  for (const auto& spec : specs) {
    w.begin_object().key("name").value(calibration_source_name(spec));
    w.key("kind").value(spec.kind_name).key("path").value(spec.path);
    w.key("weight").value(spec.weight).end_object();
  }
  w.end_array();
  w.key("seed").value(static_cast<std::uint64_t>(o.seed)).key("text_field").value(o.text_field);
  w.key("responses_only").value(o.responses_only).key("special_tokens").value(special_tokens);
  w.key("text_bytes").value(text_bytes);
  w.key("sequences").value(static_cast<std::int64_t>(b.n_sequences));
  w.key("length").value(static_cast<std::int64_t>(b.length));
  const auto rows = [&](const auto& values) {
    w.begin_array();
    for (index_t s = 0; s < b.n_sequences; ++s) {
      w.begin_array();
      for (index_t t = 0; t < b.length; ++t)
        w.value(static_cast<std::int64_t>(values[static_cast<std::size_t>(s * b.length + t)]));
      w.end_array();
    }
    w.end_array();
  };
  w.key("tokens");
  rows(b.tokens);
  w.key("counted");
  if (b.counted.empty())
    w.null();
  else
    rows(b.counted);
  w.key("origins").begin_array();
  for (index_t s = 0; s < b.n_sequences; ++s)
    if (b.origin.empty())
      w.null();
    else
      w.value(b.origin[static_cast<std::size_t>(s)]);
  w.end_array();
  w.end_object();
  return w.str() + "\n";
}

/// Prints a linear's line of the log (unless quiet) and its warnings (always, on stderr).
inline void print_linear(const model::linear_report& l, bool quiet) {
  for (const auto& w : l.warnings)
    std::fprintf(stderr, "pollard: warning: %s: %s\n", l.name.c_str(),
                 printable(without_internal_prefixes(w)).c_str());
  if (quiet) return;
  std::printf("%-22s %5lldx%-5lld %-9s sparsity %.4f", l.name.c_str(),
              static_cast<long long>(l.rows), static_cast<long long>(l.cols), l.input.c_str(),
              l.sparsity);
  if (std::isfinite(l.loss)) std::printf("  loss %.4g  percdamp %.3g", l.loss, l.percdamp_used);
  std::printf("  %.2f s\n", l.seconds);
  flush_stdout();
}

}  // namespace detail

/// model::prune_model, its errors in the command line's terms: without the function's name, and
/// naming the option a failure comes from (--n-m whose M does not divide a linear's width,
/// --allocation FILE that has no row for a linear, --owl-lambda too large for --sparsity on
/// this model).
template <class Model>
model::prune_report prune_model_named(const prune_options& o, const cpu::par_t& policy, Model& lm,
                                      const calibration_batch& batch,
                                      const model::prune_recipe& recipe,
                                      const model::prune_callbacks& callbacks) {
  try {
    return model::prune_model(policy, lm, batch, recipe, callbacks);
  } catch (const option_error& e) {
    const std::string message = e.what();
    const auto after = [&](std::string_view prefix) -> std::optional<std::string> {
      const std::size_t at = message.find(prefix);
      if (at == std::string::npos) return std::nullopt;
      return message.substr(at + prefix.size());
    };
    if (const auto rest = after("N:M group "))
      throw option_error("--n-m " + o.n_m + ": M = " + *rest);
    if (const auto rest = after("sparsity table: "))
      throw option_error("--allocation " + o.allocation + ": " + *rest);
    if (message.find("owl_allocation: ") != std::string::npos) {
      const auto gives = after(" gives ");
      throw usage_error("--owl-lambda " + pollard::format_number(o.owl_lambda) +
                        " with --sparsity " + pollard::format_number(o.sparsity) + " gives " +
                        gives.value_or(without_internal_prefixes(message)) +
                        " on this model: give a smaller --owl-lambda");
    }
    throw option_error(without_internal_prefixes(message));
  }
}

inline int run_prune(const prune_options& o) {
  use_threads(o.threads);
  const model::prune_recipe recipe = detail::prune_recipe_of(o);
  const fs::path in = o.model, out = o.out;
  const auto report_path = optional_path(o.report);
  const auto tokens_path = optional_path(o.save_calibration);
  const bool needs_data = recipe.needs_moments() || recipe.needs_hessian();
  if (needs_data && comma_list(o.calibration).empty()) {
    // The first setting that needs calibration data, as the command line names it.
    const std::string why = o.method != "magnitude" ? "--method " + o.method
                            : o.dsnot               ? std::string("--dsnot")
                            : o.reconstruct         ? std::string("--reconstruct")
                                                    : "--allocation " + o.allocation;
    throw usage_error(why + " needs calibration data: give --calibration KIND:PATH");
  }
  std::vector<calibration_spec> specs;
  for (const auto& text : comma_list(o.calibration)) {
    try {
      specs.push_back(parse_calibration_spec(text));
    } catch (const option_error& e) {
      throw usage_error(std::string("--calibration: ") + e.what());
    }
  }
  refuse_repeated_sources(specs, o.samples);
  // Options that would change nothing are refused, saying why.
  const auto any_spec = [&](calibration_kind kind) {
    return std::any_of(specs.begin(), specs.end(),
                       [&](const calibration_spec& c) { return c.kind == kind; });
  };
  for (const char* option :
       {"--calibration", "--samples", "--length", "--seed", "--mode", "--text-field",
        "--save-calibration", "--tokenizer", "--special-tokens", "--text-bytes"})
    refuse_if_given(o.given, option, !needs_data,
                    "concerns calibration data, which --method magnitude without --dsnot, "
                    "--reconstruct or --allocation owl does not use");
  const bool solves = recipe.needs_hessian();
  refuse_if_given(o.given, "--percdamp", !solves,
                  "damps the Hessian of sparsegpt and --reconstruct, which --method " + o.method +
                      " does not use");
  refuse_if_given(o.given, "--block-size", !solves && o.group != "column-block",
                  "sets sparsegpt's and --reconstruct's column blocks (and --group "
                  "column-block's), which --method " +
                      o.method + " does not use");
  for (const char* option : {"--owl-m", "--owl-lambda"})
    refuse_if_given(o.given, option, o.allocation != "owl",
                    "is a setting of --allocation owl, which is not chosen");
  refuse_responses_only_without_instructions(o.given, specs);
  refuse_if_given(o.given, "--text-field", !reads_json_documents(specs),
                  "names the text field of JSON documents, and no --calibration source is a "
                  "JSON file of documents (*.gz, *.jsonl, *.json)");
  for (const char* option : {"--selfgen-cache", "--selfgen-sources"})
    refuse_if_given(o.given, option, !any_spec(calibration_kind::self_generated),
                    "applies to selfgen calibration, and no --calibration source is selfgen");
  if (const auto selfgen = std::count_if(
          specs.begin(), specs.end(),
          [](const calibration_spec& c) { return c.kind == calibration_kind::self_generated; });
      !o.selfgen_cache.empty() && selfgen > 1)
    throw usage_error(
        "--selfgen-cache holds the texts of one selfgen source, and --calibration "
        "names " +
        std::to_string(selfgen) + ": give one selfgen source, or leave out --selfgen-cache");
  // No output may replace what is read (MODEL, its tokenizer, the calibration and allocation
  // files) or another output; the selfgen cache is read and written, so it counts as an output.
  std::vector<io::named_path> inputs{{"MODEL", in}, {"--tokenizer", o.tokenizer}};
  if (o.allocation != "uniform" && o.allocation != "owl")
    inputs.push_back({"--allocation", o.allocation});
  for (const auto& spec : specs) inputs.push_back({"--calibration", spec.path});
  const std::vector<io::named_path> extra_outputs{{"--report", o.report},
                                                  {"--save-calibration", o.save_calibration},
                                                  {"--selfgen-cache", o.selfgen_cache}};
  std::vector<io::named_path> outputs{{"OUT", out}};
  outputs.insert(outputs.end(), extra_outputs.begin(), extra_outputs.end());
  std::vector<input_path> checked = model_inputs("MODEL", o.model, {{"--tokenizer", o.tokenizer}});
  for (const auto& spec : specs) checked.push_back({"--calibration", spec.path});
  // The selfgen cache is read when it exists, and written with the other outputs otherwise.
  std::error_code cache_status;
  const bool cache_exists =
      !o.selfgen_cache.empty() && fs::exists(fs::symlink_status(o.selfgen_cache, cache_status));
  if (cache_exists) checked.push_back({"--selfgen-cache", o.selfgen_cache});
  check_inputs(checked);
  check_inputs(hf_copy_inputs(o.model));
  check_distinct_outputs(inputs, outputs);
  const llm::model_format format = llm::detail::detect_format(in);
  if (format == llm::model_format::safetensors)
    check_outside_output_folder({"OUT", out}, extra_outputs);
  check_model_output_location("OUT", out, format, in);
  for (const auto& output : {io::named_path{"--report", o.report},
                             io::named_path{"--save-calibration", o.save_calibration}}) {
    check_output_name(output.name, output.path, "JSON", {".json"});
    if (!output.path.empty()) check_output_file(output.name, output.path);
  }
  check_output_name("--selfgen-cache", o.selfgen_cache, "JSON lines", {".jsonl", ".json"});
  if (!o.selfgen_cache.empty() && !cache_exists)
    check_output_file("--selfgen-cache", o.selfgen_cache);

  const bool gguf = llm::detail::detect_format(in) == llm::model_format::gguf;
  check_output_type(o.given, o.type, format, "the pruned linears");
  if (gguf && !o.tokenizer.empty())
    throw usage_error("--tokenizer applies to llama2.c checkpoints; a GGUF carries its tokenizer");

  // A GGUF stays mapped and is pruned one block at a time (the whole model is never held in
  // float); the other formats are read whole.
  std::shared_ptr<const io::gguf_file> file;
  std::optional<llm::model_file> whole;
  std::optional<llm::text_tokenizer> gguf_tokenizer;
  std::optional<std::pair<fs::path, std::string>> tokenizer_copy;  // where, what
  const llm::text_tokenizer* tokenizer = nullptr;
  llm::llama_config config;
  if (gguf) {
    try {
      file = std::make_shared<const io::gguf_file>(in);
      config = llm::llama_config_from_gguf(*file);
      if (needs_data) {
        gguf_tokenizer.emplace(llm::load_gguf_text_tokenizer(*file));
        apply_text_reading_options(gguf_tokenizer, o.special_tokens);
        tokenizer = &*gguf_tokenizer;
        warn_if_no_gguf_pre_tokenizer(*file, in);
      }
    } catch (...) {
      rethrow_saying_if_text(in, std::nullopt);
    }
    if (needs_data) check_vocabulary(in, std::nullopt, *tokenizer, config.vocab_size);
  } else {
    whole.emplace(needs_data ? open_model_with_tokenizer(in, optional_path(o.tokenizer))
                             : open_model_file(in));
    config = whole->weights.config;
    // What is read beside MODEL counts as input; a Hugging Face OUT is a folder of files.
    inputs.erase(inputs.begin());
    const auto model_files = files_read_with(in, *whole, true);
    inputs.insert(inputs.begin(), model_files.begin(), model_files.end());
    outputs = files_written_as(out, *whole);
    outputs.insert(outputs.end(), extra_outputs.begin(), extra_outputs.end());
    // A llama2.c checkpoint is read with the tokenizer beside it (or --tokenizer): an OUT whose
    // folder does not already hold it gets a copy as tok<vocab>.bin, the name the reader tries
    // first, so the pruned model runs as the original does. A different tok<vocab>.bin or
    // tokenizer.bin already there is refused: the copy would replace or shadow it.
    if (whole->format == llm::model_format::llama2c) {
      const auto source = !o.tokenizer.empty()
                              ? std::optional<fs::path>(o.tokenizer)
                              : llm::detail::find_llama2c_tokenizer(in, config.vocab_size);
      const fs::path copy =
          out.parent_path() / ("tok" + std::to_string(config.vocab_size) + ".bin");
      std::error_code ec;
      if (source && !fs::equivalent(*source, copy, ec)) {
        std::string content = read_file(*source);
        // The reader prefers tok<vocab>.bin to tokenizer.bin: the copy would take over every
        // model of that vocabulary in OUT's folder that is read with a different tokenizer.bin.
        const fs::path shared = out.parent_path() / "tokenizer.bin";
        if (!fs::exists(copy, ec) && fs::exists(shared, ec) &&
            !fs::equivalent(*source, shared, ec) && read_file(shared) != content)
          throw usage_error("OUT's folder holds " + shared.string() +
                            ", which is not the tokenizer " + source->string() +
                            " MODEL is read with: the copy " + copy.string() +
                            " that OUT needs would take precedence over it for every " +
                            std::to_string(config.vocab_size) +
                            "-token llama2.c model there; write OUT into another folder");
        if (!fs::exists(copy, ec)) {
          outputs.push_back({"the copy of MODEL's tokenizer beside OUT,", copy});
          tokenizer_copy.emplace(copy, std::move(content));
        } else if (read_file(copy) != content) {
          throw usage_error("OUT's folder holds " + copy.string() +
                            ", which is not the tokenizer " + source->string() +
                            " MODEL is read with: the pruned model would " +
                            "be run with it; write OUT into another folder");
        }
      }
    }
    check_distinct_outputs(inputs, outputs);
    if (needs_data) {
      apply_text_reading_options(whole->tokenizer, o.special_tokens);
      tokenizer = &*whole->tokenizer;
    }
  }

  // Every --targets and --ignore pattern must match a linear (a misspelt one would silently
  // prune another set), and together they must leave a linear to prune.
  std::vector<std::string> linear_names;
  for (index_t b = 0; b < config.n_layers; ++b)
    for (const auto l : llm::all_llama_linears)
      linear_names.push_back(llm::llama_linear_name(b, l));
  for (const auto& [option, patterns] : {std::pair{"--targets", &recipe.targets.include},
                                         std::pair{"--ignore", &recipe.targets.exclude}})
    for (const auto& pattern : *patterns)
      if (std::none_of(linear_names.begin(), linear_names.end(),
                       [&](const std::string& n) { return model::name_matches(pattern, n); }))
        throw usage_error(std::string(option) + " '" + pattern + "' matches no linear of " +
                          in.string() + " (linears are named blk.B.attn_q, ..., blk.B.ffn_down)");
  // An --ignore pattern that matches only linears --targets leaves out would change nothing.
  const auto targeted = [&](const std::string& name) {
    return recipe.targets.include.empty() ||
           std::any_of(recipe.targets.include.begin(), recipe.targets.include.end(),
                       [&](const std::string& p) { return model::name_matches(p, name); });
  };
  for (const auto& pattern : recipe.targets.exclude)
    if (std::none_of(linear_names.begin(), linear_names.end(), [&](const std::string& n) {
          return targeted(n) && model::name_matches(pattern, n);
        }))
      throw usage_error("--ignore '" + pattern + "' would change nothing: it matches no linear " +
                        "that --targets '" + o.targets + "' selects");
  bool selects_any = false;
  for (index_t b = 0; b < config.n_layers && !selects_any; ++b)
    for (const auto l : llm::all_llama_linears)
      selects_any = selects_any || recipe.targets.selects(llm::llama_linear_name(b, l));
  if (!selects_any)
    throw usage_error("--targets '" + o.targets + "' with --ignore '" + o.ignore +
                      "' selects no linear of " + in.string() +
                      " (linears are named blk.B.attn_q, ..., blk.B.ffn_down)");

  // --include-embeddings / --include-classifier: the tables pruned by magnitude once the blocks
  // are done, named as GGUF names them (a Hugging Face model's model.embed_tokens.weight and
  // lm_head.weight); refused where that cannot be done as asked. A tied classifier is the
  // embedding table: pruned once, with it (a Hugging Face file's tied lm_head.weight copy gets
  // the same values). Both options asked of a tied model prune that table by one rule (by
  // magnitude, the recipe's mask rule, --sparsity, --type), so both are honoured by pruning it
  // once, and the summary says so; --include-classifier alone would prune the embeddings unasked.
  std::vector<std::string> tables;
  if (o.include_embeddings || o.include_classifier) {
    const std::string asked =
        o.include_embeddings ? "--include-embeddings" : "--include-classifier";
    if (std::holds_alternative<model::sparsity_table>(recipe.allocation))
      throw usage_error(asked +
                        " prunes at --sparsity, which --allocation FILE replaces; give --sparsity "
                        "or --n-m");
    if (o.include_classifier && config.tied_classifier && !o.include_embeddings)
      throw usage_error("--include-classifier: the classifier of " + in.string() +
                        " is its embedding table (tied weights); --include-embeddings prunes "
                        "that one tensor, for both");
    if (recipe.is_n_m() && config.dim % recipe.n_m_group != 0)
      throw usage_error("--n-m " + o.n_m + ": M = " + std::to_string(recipe.n_m_group) +
                        " does not divide the " + std::to_string(config.dim) +
                        " columns of the embedding table");
    if (o.include_embeddings) tables.push_back("token_embd");
    if (o.include_classifier && !config.tied_classifier) tables.push_back("output");
    if (gguf && !o.given.has("--type"))
      for (const auto& t : tables)
        if (file->tensor(t + ".weight").type == io::ggml_type::q4_1)
          throw usage_error(asked + ": " + t +
                            ".weight is Q4_1, which cannot hold an exact zero: give --type");
  }
  std::vector<model::linear_report> table_reports;

  // A linear stored as Q4_1 (x = d·q + min) cannot hold an exact zero, so writing the pruned
  // linears back in their stored type (--type left at same) would not give a sparse model.
  if (gguf && !o.given.has("--type"))
    for (index_t b = 0; b < config.n_layers; ++b)
      for (const auto l : llm::all_llama_linears) {
        const std::string name = llm::llama_linear_name(b, l) + ".weight";
        if (!recipe.targets.selects(llm::llama_linear_name(b, l))) continue;
        if (file->tensor(name).type == io::ggml_type::q4_1)
          throw usage_error(
              "the pruned linears would be written back as they are stored, and " + name +
              " is Q4_1, which cannot hold an exact zero (a value is d·q + min): give --type "
              "f16, bf16 or f32 (or --type same to re-quantize anyway)");
      }

  // --n-m's M must divide the input width of every linear pruned, and an --allocation table
  // must have a row for each and no row that decides nothing: found before any work
  // (prune_model checks again).
  if (const auto* table = std::get_if<model::sparsity_table>(&recipe.allocation)) {
    try {
      table->require_every_row_used(linear_names);
    } catch (const option_error& e) {
      throw usage_error("--allocation " + o.allocation + ": " +
                        std::string(e.what()).substr(std::string("sparsity table: ").size()));
    }
  }
  for (index_t b = 0; b < config.n_layers; ++b)
    for (const auto l : llm::all_llama_linears) {
      const std::string name = llm::llama_linear_name(b, l);
      if (!recipe.targets.selects(name)) continue;
      const index_t width = l == llm::llama_linear::down ? config.hidden_dim : config.dim;
      if (recipe.is_n_m() && width % recipe.n_m_group != 0)
        throw usage_error("--n-m " + o.n_m + ": M = " + std::to_string(recipe.n_m_group) +
                          " does not divide the " + std::to_string(width) + " input columns of " +
                          name);
      if (const auto* table = std::get_if<model::sparsity_table>(&recipe.allocation)) {
        try {
          (void)table->sparsity_of(name);
        } catch (const option_error&) {
          throw usage_error("--allocation " + o.allocation + ": no pattern matches the linear " +
                            name);
        }
      }
    }

  calibration_batch batch;
  std::string calibration_tokens;
  std::optional<std::string> new_selfgen_cache;  // written with OUT
  if (needs_data) {
    llm::calibration_options co;
    co.samples = o.samples;
    co.length = o.length > 0 ? o.length : std::min<index_t>(2048, config.seq_len);
    if (co.length > config.seq_len)
      throw usage_error("--length " + std::to_string(co.length) +
                        " exceeds the model's context of " + std::to_string(config.seq_len) +
                        " tokens");
    co.seed = o.seed;
    co.text_field = o.text_field;
    co.responses_only = o.responses_only;
    std::fprintf(stderr, "pollard: drawing %lld calibration sequences of %lld tokens\n",
                 static_cast<long long>(co.samples), static_cast<long long>(co.length));
    const auto add_self_generated = [&](calibration_mixture& mix, const calibration_spec& spec) {
      // Generation needs the whole model in float; it is released before pruning starts.
      const llm::llama_weights full = whole ? whole->weights : llm::load_llama_weights(*file);
      llm::llama_weights generation_weights = full;
      llm::llama_model generator(generation_weights);
      llm::self_generation_options g;
      if (cache_exists) g.cache = o.selfgen_cache;
      g.source_texts = o.selfgen_sources;
      char fingerprint[17];
      std::snprintf(fingerprint, sizeof(fingerprint), "%016llx",
                    static_cast<unsigned long long>(detail::weights_fingerprint(full)));
      const std::string identity = in.filename().string() + " (weights " + fingerprint + ")";
      auto windows = llm::self_generated_calibration(generator, identity, spec, *tokenizer, co, g);
      if (!o.selfgen_cache.empty() && !cache_exists)
        new_selfgen_cache = windows.cache_contents("--selfgen-cache " + o.selfgen_cache);
      mix.add(spec.weight, std::move(windows));
    };
    batch = with_calibration_named(
        [&] { return llm::draw_calibration(specs, *tokenizer, co, add_self_generated); });
    require_counted_responses(o.responses_only, batch, co);
    // Written with the other outputs once OUT is: a failed run leaves none of them.
    if (tokens_path)
      calibration_tokens =
          detail::calibration_json(o, recorded_special_tokens(tokenizer, o.special_tokens),
                                   recorded_text_bytes(tokenizer, o.special_tokens), specs, batch);
  }

  model::prune_callbacks callbacks;
  llm::progress_bar bar("pruning", "blocks");
  callbacks.on_block = [&](index_t b, index_t blocks) { bar(b + 1, blocks); };
  callbacks.on_linear = [quiet = o.quiet](const model::linear_report& l) {
    detail::print_linear(l, quiet);
  };
  model::prune_report report;
  // OUT, --report, --save-calibration and a new --selfgen-cache are complete in their
  // temporaries before any is renamed into place: a failed run leaves none of them.
  io::atomic_file_set written_files;
  std::chrono::steady_clock::time_point finish_start;
  if (gguf) {
    std::vector<std::string> replaced;
    for (index_t b = 0; b < config.n_layers; ++b)
      for (const auto l : llm::all_llama_linears) {
        const std::string name = llm::llama_linear_name(b, l);
        if (recipe.targets.selects(name)) replaced.push_back(name + ".weight");
      }
    for (const auto& t : tables) replaced.push_back(t + ".weight");
    const io::gguf_output_type output_type = io::parse_gguf_output_type(o.type);
    io::gguf_rewriter writer(*file, out, replaced, output_type);
    // Each pruned linear is rounded to what its stored type holds before it is measured, so the
    // report and the next block's calibration see the weights as written.
    callbacks.store_linear = [&](const std::string& linear, matrix_view<float> w) {
      const io::ggml_type type =
          io::gguf_stored_type(output_type, file->tensor(linear + ".weight").type);
      std::vector<float> values(static_cast<std::size_t>(w.size()));
      for (index_t i = 0; i < w.rows(); ++i)
        for (index_t j = 0; j < w.cols(); ++j)
          values[static_cast<std::size_t>(i * w.cols() + j)] = w(i, j);
      io::round_trip(type, values, static_cast<std::size_t>(w.cols()), linear + ".weight");
      for (index_t i = 0; i < w.rows(); ++i)
        for (index_t j = 0; j < w.cols(); ++j)
          w(i, j) = values[static_cast<std::size_t>(i * w.cols() + j)];
      return io::ggml_type_name(type);
    };
    std::set<std::string> supplied;
    llm::streaming_gguf_llama_model lm(file, [&](index_t b, const llm::llama_layer_weights& layer) {
      for (const auto l : llm::all_llama_linears) {
        const std::string name = llm::llama_linear_name(b, l) + ".weight";
        if (std::find(replaced.begin(), replaced.end(), name) == replaced.end()) continue;
        const auto& w = layer.linear(l);
        writer.replace(name, std::span<const float>(w.data(), static_cast<std::size_t>(w.size())));
        supplied.insert(name);
      }
    });
    report = prune_model_named(o, cpu::par.threads(o.threads), lm, batch, recipe, callbacks);
    finish_start = std::chrono::steady_clock::now();
    for (const auto& t : tables) {
      io::gguf_matrix w = file->read_matrix(t + ".weight");
      const matrix_view<float> v(w.data(), w.rows(), w.cols());
      table_reports.push_back(
          model::prune_by_magnitude(cpu::par.threads(o.threads), t, v, recipe, recipe.sparsity));
      callbacks.store_linear(t, v);
      writer.replace(t + ".weight",
                     std::span<const float>(w.data(), static_cast<std::size_t>(w.size())));
      supplied.insert(t + ".weight");
    }
    // Selected linears left unchanged (e.g. sparsity 0) are written as they were read.
    for (const auto& name : replaced)
      if (supplied.count(name) == 0) {
        const io::gguf_matrix w = file->read_matrix(name);
        writer.replace(name, std::span<const float>(w.data(), static_cast<std::size_t>(w.size())));
      }
    writer.commit();
    // What was written, read back: the report describes the file, whatever re-quantizing did.
    const io::gguf_file written(written_files.pending(out));
    for (auto& l : report.linears) {
      const io::gguf_matrix w = written.read_matrix(l.name + ".weight");
      const matrix_view<const float> v(w.data(), w.rows(), w.cols());
      l.sparsity = sparsity(v);
      if (recipe.is_n_m()) l.n_m_valid = satisfies_n_m(v, recipe.n_m_pruned, recipe.n_m_group);
      l.stored_type = io::ggml_type_name(written.tensor(l.name + ".weight").type);
    }
    for (auto& t : table_reports) {
      const io::gguf_matrix w = written.read_matrix(t.name + ".weight");
      const matrix_view<const float> v(w.data(), w.rows(), w.cols());
      t.sparsity = sparsity(v);
      if (recipe.is_n_m()) t.n_m_valid = satisfies_n_m(v, recipe.n_m_pruned, recipe.n_m_group);
      t.stored_type = io::ggml_type_name(written.tensor(t.name + ".weight").type);
    }
  } else {
    // A Hugging Face model's pruned linears are stored in their own dtype (or --type) and
    // rounded to it as they are pruned; every other tensor is copied byte for byte.
    const bool hf = whole->format == llm::model_format::safetensors;
    std::map<std::string, std::string> hf_names;  // blk.B.attn_q -> model.layers.B....weight
    for (index_t b = 0; b < config.n_layers; ++b)
      for (const auto l : llm::all_llama_linears)
        hf_names[llm::llama_linear_name(b, l)] = llm::hf_linear_weight_name(b, l);
    hf_names["token_embd"] = "model.embed_tokens.weight";
    hf_names["output"] = "lm_head.weight";
    const auto hf_dtype = [&](pollard::dtype stored) {
      return o.type == "f16"    ? pollard::dtype::f16
             : o.type == "bf16" ? pollard::dtype::bf16
             : o.type == "f32"  ? pollard::dtype::f32
                                : stored;
    };
    if (hf)
      callbacks.store_linear = [&](const std::string& linear, matrix_view<float> w) {
        const std::string& name = hf_names.at(linear);
        const pollard::dtype type = hf_dtype(whole->safetensors->at(name).dtype);
        for (index_t i = 0; i < w.rows(); ++i)
          for (index_t j = 0; j < w.cols(); ++j) {
            const narrowing_site site{"prune", name, i, j};
            if (type == pollard::dtype::f16)
              w(i, j) = static_cast<float>(narrow<half>(w(i, j), overflow::error, site));
            else if (type == pollard::dtype::bf16)
              w(i, j) = static_cast<float>(narrow<bfloat16>(w(i, j), overflow::error, site));
          }
        return std::string(io::safetensors_dtype_name(type));
      };
    llm::llama_model lm(whole->weights);
    report = prune_model_named(o, cpu::par.threads(o.threads), lm, batch, recipe, callbacks);
    finish_start = std::chrono::steady_clock::now();
    // A llama2.c checkpoint's tables are written in float; a Hugging Face model's are rounded
    // to the dtype they are written in (as its linears), and measured as rounded.
    std::map<std::string, const llm::row_matrix*> hf_tables;  // Hugging Face name -> values
    for (const auto& t : tables) {
      auto& w = t == "token_embd" ? whole->weights.token_embedding : whole->weights.classifier;
      const matrix_view<float> v(w.data(), w.rows(), w.cols());
      auto& r = table_reports.emplace_back(
          model::prune_by_magnitude(cpu::par.threads(o.threads), t, v, recipe, recipe.sparsity));
      if (!hf) continue;
      r.stored_type = callbacks.store_linear(t, v);
      r.sparsity = sparsity(matrix_view<const float>(v));
      if (recipe.is_n_m())
        r.n_m_valid =
            satisfies_n_m(matrix_view<const float>(v), recipe.n_m_pruned, recipe.n_m_group);
      hf_tables[hf_names.at(t)] = &w;
      if (t == "token_embd" && config.tied_classifier &&
          whole->safetensors->find("lm_head.weight") != nullptr)
        hf_tables["lm_head.weight"] = &w;
    }
    if (hf) {
      const fs::path folder = hf_folder_of(*whole);
      if (!fs::exists(out)) written_files.create_folder(out);
      write_hf_companions(written_files, *whole, out);
      write_file_atomically(out / "config.json", read_file(folder / "config.json"));
      llm::rewrite_hf_llama_linears(
          out / "model.safetensors", *whole->safetensors, whole->weights,
          [&](index_t b, llm::llama_linear l) {
            return recipe.targets.selects(llm::llama_linear_name(b, l));
          },
          hf_dtype, hf_tables);
    } else {
      save_model_into(written_files, *whole, whole->weights, out);
    }
    if (tokenizer_copy) write_file_atomically(tokenizer_copy->first, tokenizer_copy->second);
  }
  report.inputs.model = in.string();
  if (needs_data) {
    report.inputs.calibration = o.calibration;
    report.inputs.seed = o.seed;
    report.inputs.responses_only = o.responses_only;
    report.inputs.text_field = o.text_field;
    report.inputs.special_tokens = recorded_special_tokens(tokenizer, o.special_tokens);
    report.inputs.text_bytes = recorded_text_bytes(tokenizer, o.special_tokens);
  }
  if (tokens_path) write_file_atomically(*tokens_path, calibration_tokens);
  report.tables = table_reports;
  if (report_path) write_file_atomically(*report_path, model::to_json(report) + "\n");
  if (new_selfgen_cache) write_file_atomically(o.selfgen_cache, *new_selfgen_cache);
  written_files.commit();
  const std::chrono::duration<double> finishing = std::chrono::steady_clock::now() - finish_start;

  std::printf("pruned %zu linears of %s with %s (%s): %.4f of their weights are zero\n",
              report.linears.size(), printable(in.string()).c_str(), report.method.c_str(),
              report.mode.c_str(), report.overall_sparsity());
  for (const auto& t : table_reports)
    std::printf(
        "also pruned %s (%lldx%lld) by magnitude: %.4f of its weights are zero as "
        "written (%s)%s\n",
        t.name.c_str(), static_cast<long long>(t.rows), static_cast<long long>(t.cols), t.sparsity,
        t.stored_type.c_str(),
        t.name != "token_embd" || !config.tied_classifier ? ""
        : o.include_classifier
            ? "; it is also the classifier (tied weights): --include-embeddings and "
              "--include-classifier pruned this one table once, by their common rule"
            : "; it is also the classifier (tied weights)");
  std::map<std::string, int> types;
  for (const auto& l : report.linears) ++types[l.stored_type];
  std::string written_as;
  for (const auto& [type, count] : types)
    written_as += (written_as.empty() ? "" : ", ") + std::to_string(count) + " as " + type;
  std::printf("sparsity as written in %s (linears %s)\n",
              printable(out.filename().string()).c_str(), written_as.c_str());
  if (needs_data)
    std::printf(
        "calibration: %s, %lld sequences x %lld tokens (%lld counted), seed %llu%s\n",
        printable(o.calibration).c_str(), static_cast<long long>(report.calibration_sequences),
        static_cast<long long>(report.calibration_length),
        static_cast<long long>(report.calibration_tokens_counted),
        static_cast<unsigned long long>(o.seed), o.responses_only ? ", response tokens only" : "");
  else
    std::printf("calibration: none (--method %s reads only the weights)\n", o.method.c_str());
  std::printf(
      "time: %.1f s (forward passes %.1f s, statistics %.1f s, pruning %.1f s, blocks loaded and "
      "written back %.1f s), then %.1f s to finish and check the output\n",
      report.timing.total_seconds, report.timing.forward_seconds, report.timing.statistics_seconds,
      report.timing.solver_seconds, report.timing.block_io_seconds, finishing.count());
  std::printf("wrote %s\n", printable(out.string()).c_str());
  if (tokenizer_copy)
    std::printf("wrote %s (MODEL's tokenizer, found there when OUT is run)\n",
                printable(tokenizer_copy->first.string()).c_str());
  return 0;
}

}  // namespace pollard::cli
