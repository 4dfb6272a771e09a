// pollard CLI — `pollard prune`: prune every linear of a checkpoint block by block on calibration
// data and write it back in its own format, with a report per linear.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "common.hpp"
#include "pollard/calibration/calibration_spec.hpp"
#include "pollard/io/gguf_rewrite.hpp"
#include "pollard/llm/calibration_data.hpp"
#include "pollard/llm/llama_model.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/progress.hpp"
#include "pollard/llm/self_generated_calibration.hpp"
#include "pollard/llm/streaming_gguf_model.hpp"
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
  std::vector<std::string> calibration;
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
  std::vector<std::string> targets, ignore;
  std::string type = "same";
  std::string report;
  std::string save_calibration;
  std::string tokenizer;
  bool quiet = false;
  int threads = 0;
};

inline const char* const prune_help =
    "usage: pollard prune MODEL OUT [--method magnitude|wanda|ria|sparsegpt] [--sparsity S | --n-m "
    "N:M]\n"
    "                     [--calibration KIND:PATH[@W][,KIND:PATH[@W]...]] [--samples N] [--length "
    "L]\n"
    "                     [--seed S] [--group row|matrix|column-block] [--allocation "
    "uniform|owl|FILE]\n"
    "                     [--owl-m M] [--owl-lambda L] [--percdamp P] [--block-size B]\n"
    "                     [--mode sequential|parallel] [--dsnot] [--reconstruct]\n"
    "                     [--targets P[,P...]] [--ignore P[,P...]] [--type same|f32|f16|bf16]\n"
    "                     [--report OUT.json] [--save-calibration OUT.json] [--text-field F]\n"
    "                     [--responses-only] [--selfgen-cache FILE] [--selfgen-sources N]\n"
    "                     [--tokenizer FILE] [--threads N] [--quiet]\n"
    "\n"
    "Prunes every linear of MODEL block by block (SparseGPT's and Wanda's procedure) and writes "
    "OUT\n"
    "in MODEL's format with every other tensor and metadata key. For each block the calibration\n"
    "sequences run through it; the inputs of its linears give the statistics the method needs "
    "(one\n"
    "per input that several linears share: q/k/v, gate/up); every linear is pruned; in sequential\n"
    "mode the block runs again with its pruned weights to calibrate the next one. Embeddings, "
    "norms\n"
    "and the classifier are never pruned. A GGUF is read memory-mapped and pruned one block at a\n"
    "time (the model is never held in float); the pruned linears are written back in their stored\n"
    "type (--type same: Q4_1, Q8_0, Q4_0, F16, BF16, F32) or as --type. The output is written\n"
    "through a temporary file and renamed, so it is whole or absent.\n"
    "\n"
    "  --method M          magnitude (no calibration), wanda, ria or sparsegpt (default wanda)\n"
    "  --sparsity S        fraction of each linear pruned, in [0, 1) (default 0.5; the mean under "
    "OWL)\n"
    "  --n-m N:M           N zeros in every M consecutive input weights of a row (2:4 prunes 2 of "
    "4)\n"
    "  --calibration SPEC  KIND:PATH[@WEIGHT], several separated by commas for a mixture; KIND:\n"
    "                      c4 (documents): one random window from each of N random documents;\n"
    "                      wikitext (corpus, text): the documents joined by a space, N random "
    "windows;\n"
    "                      alpaca (instructions): the Alpaca template, packed; selfgen: the "
    "model's\n"
    "                      own continuations of the first 2 tokens of each document (temperature "
    "0.6,\n"
    "                      top-k 50, top-p 0.95, repetition penalty 1.2), the 20 % with the "
    "highest\n"
    "                      perplexity dropped. Files: *.gz gzip JSON lines, *.jsonl JSON lines, "
    "*.json\n"
    "                      a JSON list, else plain text split at blank lines. Window starts are "
    "drawn\n"
    "                      as the reference scripts draw them (CPython's random with --seed)\n"
    "  --samples N         calibration sequences (default 128)\n"
    "  --length L          tokens per sequence (default min(2048, the model's context))\n"
    "  --seed S            calibration seed (default 0)\n"
    "  --group G           unstructured comparison group: row, matrix or column-block (default: "
    "the\n"
    "                      method's reference: Wanda per row, magnitude and RIA per matrix, "
    "SparseGPT\n"
    "                      per column block)\n"
    "  --allocation A      sparsity per linear: uniform (default), owl, or a FILE of\n"
    "                      'PATTERN SPARSITY' lines (first match wins)\n"
    "  --owl-m M           OWL outlier threshold (default 5)\n"
    "  --owl-lambda L      OWL spread (default 0.08)\n"
    "  --percdamp P        SparseGPT damping, λ = P x mean(diag H) (default 0.01)\n"
    "  --block-size B      SparseGPT columns per lazy batch and column block (default 128)\n"
    "  --mode M            sequential (default): block b is calibrated on the outputs of the "
    "pruned\n"
    "                      blocks before it; parallel: on the dense ones\n"
    "  --dsnot             refine a criterion's mask with DSnoT\n"
    "  --reconstruct       after a criterion's mask, update the kept weights (fixed-mask OBS)\n"
    "  --targets P,...     prune only linears matching a pattern (e.g. 'blk.*.ffn_*'; default "
    "all)\n"
    "  --ignore P,...      never prune linears matching a pattern\n"
    "  --type T            GGUF: same (default), f32, f16 or bf16 for the pruned linears\n"
    "  --report OUT.json   also write the per-linear report as JSON\n"
    "  --save-calibration OUT.json  also write the calibration tokens {sequences, length, tokens}\n"
    "  --text-field F      JSON field holding a document's text (default text)\n"
    "  --responses-only    alpaca: count only the response tokens in the statistics\n"
    "  --selfgen-cache F   selfgen: read the generated texts from F when it matches, else write "
    "them\n"
    "  --selfgen-sources N selfgen: continue the first N documents (default all)\n"
    "  --tokenizer FILE    llama2.c tokenizer (default: beside the model)\n"
    "  --threads N         threads to compute with (default: all hardware threads)\n"
    "  --quiet             no per-linear log\n";

inline std::optional<fs::path> optional_path(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return fs::path(text);
}

inline std::vector<std::string> comma_list(const std::optional<std::string>& text) {
  std::vector<std::string> out;
  if (!text) return out;
  std::size_t begin = 0;
  while (begin <= text->size()) {
    const std::size_t end = std::min(text->find(',', begin), text->size());
    if (end > begin) out.push_back(text->substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

inline prune_options read_prune_options(const arguments& a) {
  prune_options o;
  a.expect_positional(2, "MODEL and OUT");
  o.model = a.positional()[0];
  o.out = a.positional()[1];
  o.method = a.text("--method").value_or("wanda");
  if (o.method != "magnitude" && o.method != "wanda" && o.method != "ria" &&
      o.method != "sparsegpt")
    throw usage_error("--method must be magnitude, wanda, ria or sparsegpt, got '" + o.method +
                      "'");
  if (a.has("--sparsity") && a.has("--n-m"))
    throw usage_error("--sparsity and --n-m exclude each other");
  o.sparsity = a.real("--sparsity", 0.5, "in [0, 1)", [](double s) { return s >= 0 && s < 1; });
  o.n_m = a.text("--n-m").value_or("");
  o.group = a.text("--group").value_or("default");
  if (o.group != "default" && o.group != "row" && o.group != "matrix" && o.group != "column-block")
    throw usage_error("--group must be row, matrix or column-block, got '" + o.group + "'");
  o.allocation = a.text("--allocation").value_or("uniform");
  o.owl_m = a.real("--owl-m", 5.0, "> 0", [](double x) { return x > 0; });
  o.owl_lambda = a.real("--owl-lambda", 0.08, ">= 0", [](double x) { return x >= 0; });
  o.calibration = comma_list(a.text("--calibration"));
  o.samples = a.integer("--samples", 128, 1, 1 << 20);
  o.length = a.integer("--length", 0, 2, 1 << 20);
  o.seed = a.unsigned_integer("--seed", 0);
  o.text_field = a.text("--text-field").value_or("text");
  o.responses_only = a.has("--responses-only");
  o.selfgen_cache = a.text("--selfgen-cache").value_or("");
  o.selfgen_sources = a.integer("--selfgen-sources", 0, 0, 1 << 30);
  o.percdamp = a.real("--percdamp", 0.01, ">= 0", [](double x) { return x >= 0; });
  o.block_size = a.integer("--block-size", 128, 1, 1 << 20);
  o.mode = a.text("--mode").value_or("sequential");
  if (o.mode != "sequential" && o.mode != "parallel")
    throw usage_error("--mode must be sequential or parallel, got '" + o.mode + "'");
  o.dsnot = a.has("--dsnot");
  o.reconstruct = a.has("--reconstruct");
  o.targets = comma_list(a.text("--targets"));
  o.ignore = comma_list(a.text("--ignore"));
  o.type = a.text("--type").value_or("same");
  if (o.type != "same" && o.type != "f32" && o.type != "f16" && o.type != "bf16")
    throw usage_error("--type must be same, f32, f16 or bf16, got '" + o.type + "'");
  o.report = a.text("--report").value_or("");
  o.save_calibration = a.text("--save-calibration").value_or("");
  o.tokenizer = a.text("--tokenizer").value_or("");
  o.quiet = a.has("--quiet");
  o.threads = static_cast<int>(a.integer("--threads", 0, 0, 4096));
  return o;
}

namespace detail {

inline model::prune_recipe prune_recipe_of(const prune_options& o) {
  model::prune_recipe r;
  r.method = model::pruning_method_from_name(o.method);
  r.sparsity = o.sparsity;
  if (!o.n_m.empty()) {
    const auto colon = o.n_m.find(':');
    const auto number = [&](const std::string& s) -> index_t {
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 6)
        throw usage_error("--n-m needs N:M with positive integers, got '" + o.n_m + "'");
      return static_cast<index_t>(std::stol(s));
    };
    if (colon == std::string::npos)
      throw usage_error("--n-m needs N:M with positive integers, got '" + o.n_m + "'");
    r.n_m_pruned = number(o.n_m.substr(0, colon));
    r.n_m_group = number(o.n_m.substr(colon + 1));
  }
  if (o.group == "row") r.group = model::comparison_group::per_row;
  if (o.group == "matrix") r.group = model::comparison_group::per_matrix;
  if (o.group == "column-block") r.group = model::comparison_group::per_column_block;
  r.column_block = o.block_size;
  if (o.allocation == "owl")
    r.allocation = model::owl_sparsity{o.owl_m, o.owl_lambda};
  else if (o.allocation != "uniform")
    r.allocation = model::sparsity_table::read(o.allocation);
  r.mode = o.mode == "parallel" ? model::calibration_mode::parallel
                                : model::calibration_mode::sequential;
  r.dsnot = o.dsnot;
  r.reconstruct = o.reconstruct;
  r.percdamp = o.percdamp;
  r.block_size = o.block_size;
  r.targets.include = o.targets;
  r.targets.exclude = o.ignore;
  r.validate();
  return r;
}

inline std::string calibration_json(const calibration_batch& b) {
  io::json_writer w;
  w.begin_object().key("sequences").value(static_cast<std::int64_t>(b.n_sequences));
  w.key("length").value(static_cast<std::int64_t>(b.length)).key("tokens").begin_array();
  for (index_t s = 0; s < b.n_sequences; ++s) {
    w.begin_array();
    for (index_t t = 0; t < b.length; ++t)
      w.value(static_cast<std::int64_t>(b.tokens[static_cast<std::size_t>(s * b.length + t)]));
    w.end_array();
  }
  w.end_array().end_object();
  return w.str() + "\n";
}

inline void print_linear(const model::linear_report& l) {
  std::printf("%-22s %5lldx%-5lld %-9s sparsity %.4f", l.name.c_str(),
              static_cast<long long>(l.rows), static_cast<long long>(l.cols), l.input.c_str(),
              l.sparsity);
  if (std::isfinite(l.loss)) std::printf("  loss %.4g  percdamp %.3g", l.loss, l.percdamp_used);
  std::printf("  %.2f s\n", l.seconds);
  for (const auto& w : l.warnings)
    std::fprintf(stderr, "pollard: warning: %s: %s\n", l.name.c_str(), w.c_str());
  std::fflush(stdout);
}

}  // namespace detail

inline int run_prune(std::span<char* const> args) {
  const arguments a("prune", args,
                    option_spec{{"--method",        "--sparsity",
                                 "--n-m",           "--group",
                                 "--allocation",    "--owl-m",
                                 "--owl-lambda",    "--calibration",
                                 "--samples",       "--length",
                                 "--seed",          "--text-field",
                                 "--selfgen-cache", "--selfgen-sources",
                                 "--percdamp",      "--block-size",
                                 "--mode",          "--targets",
                                 "--ignore",        "--type",
                                 "--report",        "--save-calibration",
                                 "--tokenizer",     "--threads"},
                                {"--responses-only", "--dsnot", "--reconstruct", "--quiet"}});
  if (a.help()) {
    std::fputs(prune_help, stdout);
    return 0;
  }
  const prune_options o = read_prune_options(a);
  if (o.threads > 0) Eigen::setNbThreads(o.threads);
  const model::prune_recipe recipe = detail::prune_recipe_of(o);
  const fs::path in = o.model, out = o.out;
  if (!fs::exists(in)) throw io_error("cannot open " + in.string());
  check_output_path(out, "OUT");
  if (fs::exists(out) && fs::equivalent(in, out))
    throw usage_error("OUT must differ from MODEL (the input is read while the output is written)");
  const auto report_path = optional_path(o.report);
  if (report_path) check_output_path(*report_path, "--report");
  const auto tokens_path = optional_path(o.save_calibration);
  if (tokens_path) check_output_path(*tokens_path, "--save-calibration");
  const bool needs_data = recipe.needs_moments() || recipe.needs_hessian();
  if (needs_data && o.calibration.empty())
    throw usage_error("--method " + o.method + " needs --calibration KIND:PATH");
  std::vector<calibration_spec> specs;
  for (const auto& text : o.calibration) {
    try {
      specs.push_back(parse_calibration_spec(text));
    } catch (const option_error& e) {
      throw usage_error(std::string("--calibration: ") + e.what());
    }
  }

  const bool gguf = llm::detail::detect_format(in) == llm::model_format::gguf;
  if (!gguf && (o.type == "f16" || o.type == "bf16"))
    throw usage_error("--type " + o.type + " is for GGUF outputs; " +
                      llm::name_of(llm::detail::detect_format(in)) + " is written as f32");
  if (gguf && !o.tokenizer.empty())
    throw usage_error("--tokenizer applies to llama2.c checkpoints; a GGUF carries its tokenizer");

  // A GGUF stays mapped and is pruned one block at a time (the whole model is never held in
  // float); the other formats are read whole.
  std::shared_ptr<const io::gguf_file> file;
  std::optional<llm::model_file> whole;
  std::optional<llm::text_tokenizer> gguf_tokenizer;
  const llm::text_tokenizer* tokenizer = nullptr;
  llm::llama_config config;
  if (gguf) {
    file = std::make_shared<const io::gguf_file>(in);
    config = llm::llama_config_from_gguf(*file);
    if (needs_data) tokenizer = &gguf_tokenizer.emplace(llm::load_gguf_tokenizer(*file));
  } else {
    whole.emplace(needs_data ? open_model_with_tokenizer(in, optional_path(o.tokenizer))
                             : llm::open_model(in));
    config = whole->weights.config;
    if (needs_data) tokenizer = &*whole->tokenizer;
  }

  calibration_batch batch;
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
      if (!o.selfgen_cache.empty()) g.cache = o.selfgen_cache;
      g.source_texts = o.selfgen_sources;
      const std::string identity =
          in.filename().string() + " (" + std::to_string(fs::file_size(in)) + " bytes)";
      mix.add(spec.weight,
              llm::self_generated_calibration(generator, identity, spec, *tokenizer, co, g));
    };
    batch = llm::draw_calibration(specs, *tokenizer, co, add_self_generated);
    if (tokens_path) write_file_atomically(*tokens_path, detail::calibration_json(batch));
  }

  model::prune_callbacks callbacks;
  llm::progress_bar bar("pruning", "blocks");
  callbacks.on_block = [&](index_t b, index_t blocks) { bar(b + 1, blocks); };
  if (!o.quiet) callbacks.on_linear = detail::print_linear;
  model::prune_report report;
  std::optional<double> written_sparsity;
  if (gguf) {
    std::vector<std::string> replaced;
    for (index_t b = 0; b < config.n_layers; ++b)
      for (const auto l : llm::all_llama_linears) {
        const std::string name = llm::llama_linear_name(b, l);
        if (recipe.targets.selects(name)) replaced.push_back(name + ".weight");
      }
    io::gguf_rewriter writer(*file, out, replaced, io::parse_gguf_output_type(o.type));
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
    report = model::prune_model(lm, batch, recipe, callbacks);
    // Selected linears left unchanged (e.g. sparsity 0) are written as they were read.
    for (const auto& name : replaced)
      if (supplied.count(name) == 0) {
        const io::gguf_matrix w = file->read_matrix(name);
        writer.replace(name, std::span<const float>(w.data(), static_cast<std::size_t>(w.size())));
      }
    writer.commit();
    // What was written, read back: Q4_1 stores a zero as q·d + min, so a pruned Q4_1 linear is
    // not exactly sparse; the printed sparsity must describe the file, not the float weights.
    const io::gguf_file written(out);
    double zeros = 0.0, total = 0.0;
    for (const auto& name : replaced) {
      const io::gguf_matrix w = written.read_matrix(name);
      zeros += static_cast<double>((w.array() == 0.0f).count());
      total += static_cast<double>(w.size());
    }
    const double stored = total > 0 ? zeros / total : 0.0;
    written_sparsity = stored;
    if (stored + 1e-9 < report.overall_sparsity())
      std::fprintf(stderr,
                   "pollard: warning: as stored (%s) only %.4f of the pruned linears' weights are "
                   "exactly zero, against %.4f before storing\n",
                   io::ggml_type_name(file->tensor(replaced.front()).type).c_str(), stored,
                   report.overall_sparsity());
  } else {
    llm::llama_model lm(whole->weights);
    report = model::prune_model(lm, batch, recipe, callbacks);
    llm::save_model(*whole, whole->weights, out);
  }

  std::printf("pruned %zu linears of %s with %s (%s): %.4f of their weights are zero\n",
              report.linears.size(), in.string().c_str(), report.method.c_str(),
              report.mode.c_str(), report.overall_sparsity());
  if (written_sparsity)
    std::printf("as written in %s: %.4f of the pruned linears' weights are zero\n",
                out.filename().string().c_str(), *written_sparsity);
  std::printf("time: %.1f s (forward passes %.1f s, statistics %.1f s, pruning %.1f s)\n",
              report.timing.total_seconds, report.timing.forward_seconds,
              report.timing.statistics_seconds, report.timing.solver_seconds);
  std::printf("wrote %s (%s)\n", out.string().c_str(),
              gguf ? ("linears as " + o.type).c_str() : "f32");
  if (report_path) write_file_atomically(*report_path, model::to_json(report) + "\n");
  return 0;
}

}  // namespace pollard::cli
