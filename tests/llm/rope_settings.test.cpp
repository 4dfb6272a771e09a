#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "pollard/io/gguf.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/safetensors.hpp"
#include "pollard/llm/gguf_model.hpp"
#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama_forward.hpp"
#include "pollard/llm/model_file.hpp"
#include "pollard/llm/rope_frequencies.hpp"
#include "pollard/llm/safetensors_model.hpp"
#include "pollard/llm/streaming_gguf_model.hpp"

// tests/llm/fixtures/rope/: tiny Llama checkpoints with linear RoPE scaling, llama.cpp's
// rope_freqs.weight, transformers' llama3 rope_scaling and q/k/v/o/MLP biases, written by the
// gguf package and by hand, with the logits of an independent float64 numpy forward pass
// (tests/llm/fixtures/make_rope_fixture.py, transformers' LlamaModel definition).

using namespace pollard;
using namespace pollard::llm;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(__FILE__).parent_path() / "fixtures" / "rope";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const io::json_value& expected() {
  static const io::json_value v = io::parse_json(read_text(fixtures / "expected.json"));
  return v;
}

std::vector<token_id> fixture_tokens() {
  std::vector<token_id> t;
  for (const auto& v : expected().find("tokens")->as_array("tokens"))
    t.push_back(static_cast<token_id>(v.as_number("token")));
  return t;
}

row_matrix logits_of(const llama_weights& w) {
  llama_forward f(w);
  const auto tokens = fixture_tokens();
  return f.prefill(tokens, sequence_layout{1, static_cast<index_t>(tokens.size())});
}

double max_difference_from_expected(const row_matrix& logits, const std::string& name) {
  const auto& rows = expected().find("logits")->find(name)->as_array(name);
  REQUIRE(static_cast<index_t>(rows.size()) == logits.rows());
  double worst = 0.0;
  for (index_t r = 0; r < logits.rows(); ++r) {
    const auto& row = rows[static_cast<std::size_t>(r)].as_array("row");
    REQUIRE(static_cast<index_t>(row.size()) == logits.cols());
    for (index_t c = 0; c < logits.cols(); ++c)
      worst = std::max(worst, std::abs(row[static_cast<std::size_t>(c)].as_number("logit") -
                                       static_cast<double>(logits(r, c))));
  }
  return worst;
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("pollard-rope-" + name);
}

/// A copy of a fixture GGUF with its metadata changed by `edit` and, optionally, one more
/// tensor (a copy of token_embd.weight under another name).
fs::path edited_gguf(const std::string& source, const std::string& out_name,
                     const std::function<void(io::gguf_metadata&)>& edit,
                     const std::string& extra_tensor = "") {
  const io::gguf_file file(fixtures / source);
  io::gguf_metadata md = file.metadata();
  edit(md);
  std::vector<io::gguf_matrix> data;
  data.reserve(file.tensors().size() + 1);
  std::vector<io::gguf_tensor_view> views;
  for (const auto& t : file.tensors()) {
    data.push_back(file.read_matrix(t.name));
    views.push_back(
        {t.name, t.dims, io::ggml_type::f32,
         std::span<const float>(data.back().data(), static_cast<std::size_t>(data.back().size()))});
  }
  if (!extra_tensor.empty()) {
    auto copy = views.front();
    copy.name = extra_tensor;
    views.push_back(copy);
  }
  const auto out = temp_path(out_name);
  io::write_gguf(out, md, std::span<const io::gguf_tensor_view>(views));
  return out;
}

std::string load_error(const fs::path& gguf_path) {
  try {
    const io::gguf_file file(gguf_path);
    (void)load_llama_weights(file);
  } catch (const std::exception& e) {
    fs::remove(gguf_path);
    return e.what();
  }
  fs::remove(gguf_path);
  return "(loaded)";
}

fs::path copy_hf_folder(const std::string& name) {
  const auto dir = temp_path(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(fixtures / "hf_llama3_bias", dir, fs::copy_options::recursive);
  return dir;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string open_error(const fs::path& p) {
  try {
    (void)open_model(p);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(loaded)";
}

}  // namespace

TEST_CASE("GGUF linear RoPE scaling (factor 4) is applied as llama.cpp defines it") {
  const io::gguf_file base(fixtures / "base.gguf"), linear(fixtures / "linear4.gguf");
  const auto wb = load_llama_weights(base), wl = load_llama_weights(linear);
  CHECK(wb.config.scaling.type == rope_scaling_type::none);
  CHECK(wl.config.scaling.type == rope_scaling_type::linear);
  CHECK(wl.config.scaling.factor == 4.0);
  const row_matrix lb = logits_of(wb), ll = logits_of(wl);
  CHECK(max_difference_from_expected(lb, "base") < 2e-4);
  CHECK(max_difference_from_expected(ll, "linear4") < 2e-4);
  CHECK((lb - ll).cwiseAbs().maxCoeff() > 0.1);  // the scaling changes the result
}

TEST_CASE("GGUF rope_freqs.weight and blk.N.*.bias tensors are applied as llama.cpp does") {
  const io::gguf_file file(fixtures / "freqs_bias.gguf");
  const auto w = load_llama_weights(file);
  CHECK(w.rope_freq_factors.size() == 4);
  for (const auto l : all_llama_linears) CHECK(w.has_bias(l));
  CHECK(max_difference_from_expected(logits_of(w), "freqs_bias") < 2e-4);
}

TEST_CASE("transformers' llama3 rope_scaling gives _compute_llama3_parameters' frequencies") {
  const auto hf = read_hf_config(fixtures / "hf_llama3_bias" / "config.json");
  CHECK(hf.config.scaling.type == rope_scaling_type::llama3);
  const auto f = rope_inverse_frequencies(hf.config);
  const auto& want = expected().find("llama3_inv_freq")->as_array("llama3_inv_freq");
  REQUIRE(f.size() == want.size());
  for (std::size_t i = 0; i < f.size(); ++i)
    CHECK(static_cast<double>(f[i]) == doctest::Approx(want[i].as_number("f")).epsilon(1e-6));
}

TEST_CASE(
    "a Hugging Face folder with llama3 rope_scaling and attention/MLP biases computes the "
    "reference logits") {
  const auto m = open_model(fixtures / "hf_llama3_bias");
  CHECK(m.weights.config.rope == rope_style::half_split);
  CHECK(m.weights.config.tied_classifier);
  for (const auto l : all_llama_linears) CHECK(m.weights.has_bias(l));
  CHECK(max_difference_from_expected(logits_of(m.weights), "hf_llama3_bias") < 2e-4);
}

TEST_CASE("GGUF settings pollard does not compute are refused by name") {
  const auto with = [](const char* key, io::gguf_value v) {
    return [key, v](io::gguf_metadata& md) { md.set(key, v); };
  };
  auto e = load_error(
      edited_gguf("base.gguf", "nrot.gguf", with("llama.rope.dimension_count", std::uint32_t{4})));
  CHECK(e.find("llama.rope.dimension_count") != std::string::npos);
  CHECK(e.find("invalid n_rot") != std::string::npos);
  e = load_error(edited_gguf("base.gguf", "yarn.gguf", with("llama.rope.scaling.type", "yarn")));
  CHECK(e.find("llama.rope.scaling.type") != std::string::npos);
  CHECK(e.find("yarn") != std::string::npos);
  e = load_error(edited_gguf("base.gguf", "keylen.gguf",
                             with("llama.attention.key_length", std::uint32_t{16})));
  CHECK(e.find("llama.attention.key_length") != std::string::npos);
  e = load_error(edited_gguf("base.gguf", "unknown.gguf", with("llama.attention.clamp_kqv", 8.0f)));
  CHECK(e.find("llama.attention.clamp_kqv") != std::string::npos);
  e = load_error(
      edited_gguf("base.gguf", "attn.gguf", with("llama.rope.scaling.attn_factor", 2.0f)));
  CHECK(e.find("llama.rope.scaling.attn_factor") != std::string::npos);
  e = load_error(
      edited_gguf("base.gguf", "experts.gguf", with("llama.expert_count", std::uint32_t{8})));
  CHECK(e.find("llama.expert_count") != std::string::npos);
  e = load_error(edited_gguf(
      "base.gguf", "extra.gguf", [](io::gguf_metadata&) {}, "blk.0.attn_q_norm.weight"));
  CHECK(e.find("blk.0.attn_q_norm.weight") != std::string::npos);
  // Type "none" never scales, whatever the factor (llama.cpp).
  const auto none =
      edited_gguf("linear4.gguf", "none.gguf", with("llama.rope.scaling.type", "none"));
  const io::gguf_file file(none);
  CHECK(max_difference_from_expected(logits_of(load_llama_weights(file)), "base") < 2e-4);
  fs::remove(none);
}

TEST_CASE("config.json settings pollard does not compute are refused by name") {
  const auto dir = copy_hf_folder("refusals");
  const auto config = dir / "config.json";
  const std::string original = read_text(config);
  const auto error_with = [&](const std::string& text) {
    write_text(config, text);
    return open_error(dir);
  };
  auto e = error_with(replaced(original, "\"llama3\"", "\"yarn\""));
  CHECK(e.find("rope_scaling type 'yarn'") != std::string::npos);
  e = error_with(
      replaced(original, "\"use_cache\"", "\"attn_logit_softcapping\": 30, \"use_cache\""));
  CHECK(e.find("attn_logit_softcapping") != std::string::npos);
  e = error_with(replaced(original, "\"use_cache\"", "\"head_dim\": 4, \"use_cache\""));
  CHECK(e.find("head_dim 4") != std::string::npos);
  e = error_with(
      replaced(original, "\"use_cache\"", "\"partial_rotary_factor\": 0.5, \"use_cache\""));
  CHECK(e.find("partial_rotary_factor") != std::string::npos);
  e = error_with(
      replaced(original, "\"low_freq_factor\"", "\"attention_factor\": 2, \"low_freq_factor\""));
  CHECK(e.find("rope_scaling.attention_factor") != std::string::npos);
  // Bias tensors a config without attention_bias does not use: named, not dropped.
  e = error_with(replaced(original, "\"attention_bias\": true", "\"attention_bias\": false"));
  CHECK(e.find("model.layers.0.self_attn.") != std::string::npos);
  CHECK(e.find(".bias' is not used") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("convert of a Hugging Face folder keeps every config key and every tensor") {
  const auto original = open_model(fixtures / "hf_llama3_bias");
  const auto out = temp_path("hf-copy");
  fs::remove_all(out);
  save_model(original, original.weights, out);
  const auto config = io::parse_json(read_text(out / "config.json"));
  const auto source = io::parse_json(read_text(fixtures / "hf_llama3_bias" / "config.json"));
  for (const auto& [key, value] : source.as_object("config")) {
    INFO(key);
    REQUIRE(config.find(key) != nullptr);
    CHECK(json_text(*config.find(key)) == json_text(value));
  }
  const io::safetensors_file a(fixtures / "hf_llama3_bias" / "model.safetensors"),
      b(out / "model.safetensors");
  CHECK(a.tensors().size() == b.tensors().size());
  for (const auto& t : a.tensors()) {
    INFO(t.name);
    REQUIRE(b.find(t.name) != nullptr);
    CHECK(a.read_float(t.name) == b.read_float(t.name));
  }
  const auto again = open_model(out);
  CHECK(max_difference_from_expected(logits_of(again.weights), "hf_llama3_bias") < 2e-4);
  fs::remove_all(out);
}

TEST_CASE(
    "rotary_emb.inv_freq buffers are read only when config.json implies them, and a copy keeps "
    "them and a tied lm_head.weight byte for byte") {
  const auto dir = copy_hf_folder("inv-freq");
  const auto weights_file = dir / "model.safetensors";
  const std::string layer0 = "model.layers.0.self_attn.rotary_emb.inv_freq";
  const std::string shared = "model.rotary_emb.inv_freq";
  // Rewrites the fixture's model.safetensors with the embedding as lm_head.weight and the
  // buffers: the llama3-scaled frequencies in F32 (layer 0), the unscaled ones in F16 (shared).
  const auto write_with = [&](float scale_of_pair_1) {
    std::vector<float> scaled, unscaled;
    {
      const io::safetensors_file file(fixtures / "hf_llama3_bias" / "model.safetensors");
      const auto config = read_hf_llama_config(fixtures / "hf_llama3_bias" / "config.json");
      scaled = rope_inverse_frequencies(config);
      auto plain = config;
      plain.scaling = {};
      unscaled = rope_inverse_frequencies(plain);
      scaled[1] *= scale_of_pair_1;
      std::vector<io::safetensors_output> tensors;
      for (const auto& t : file.tensors())
        tensors.push_back({t.name, t.dtype, t.shape, {}, overflow::error, t.data});
      const auto& embedding = file.at("model.embed_tokens.weight");
      tensors.push_back({"lm_head.weight",
                         embedding.dtype,
                         embedding.shape,
                         {},
                         overflow::error,
                         embedding.data});
      tensors.push_back({layer0, dtype::f32, {scaled.size()}, scaled});
      tensors.push_back({shared, dtype::f16, {unscaled.size()}, unscaled});
      io::write_safetensors(dir / "with.safetensors", tensors, file.metadata());
    }
    fs::rename(dir / "with.safetensors", weights_file);
  };
  write_with(1.0f);
  const auto out = temp_path("inv-freq-copy");
  fs::remove_all(out);
  {
    const auto m = open_model(dir);
    save_model(m, m.weights, out);
    const io::safetensors_file a(weights_file), b(out / "model.safetensors");
    for (const std::string& name : {layer0, shared, std::string("lm_head.weight")}) {
      INFO(name);
      REQUIRE(b.find(name) != nullptr);
      CHECK(b.at(name).dtype == a.at(name).dtype);
      CHECK(b.at(name).shape == a.at(name).shape);
      CHECK(std::equal(a.at(name).data.begin(), a.at(name).data.end(), b.at(name).data.begin(),
                       b.at(name).data.end()));
    }
    CHECK(a.tensors().size() == b.tensors().size());
    CHECK(max_difference_from_expected(logits_of(open_model(out).weights), "hf_llama3_bias") <
          2e-4);
    // Weights whose config no longer implies the buffers read with them: refused by name.
    auto w = m.weights;
    w.config.rope_theta = 200.0f;
    const auto refused = temp_path("inv-freq-refused");
    fs::remove_all(refused);
    CHECK_THROWS_WITH_AS(
        write_hf_llama(refused, w, dtype::f32, nullptr, nullptr, m.safetensors.get()),
        doctest::Contains(layer0.c_str()), option_error);
    CHECK_FALSE(fs::exists(refused / "model.safetensors"));
  }
  // A buffer config.json does not imply is refused on reading, naming it and the pair.
  write_with(1.01f);
  const std::string e = open_error(dir);
  CHECK(e.find("tensor '" + layer0 + "' holds") != std::string::npos);
  CHECK(e.find("rotary pair 1") != std::string::npos);
  fs::remove_all(out);
  fs::remove_all(dir);
}

TEST_CASE(
    "convert of a GGUF keeps every metadata key and every tensor, biases and rope_freqs "
    "included") {
  for (const char* name : {"freqs_bias.gguf", "linear4.gguf"}) {
    INFO(name);
    const auto original = open_model(fixtures / name);
    const auto out = temp_path(std::string("copy-") + name);
    save_model(original, original.weights, out, pollard::dtype::f32);
    const io::gguf_file a(fixtures / name), b(out);
    CHECK(a.metadata().size() == b.metadata().size());
    for (const auto& [key, value] : a.metadata().entries()) {
      INFO(key);
      REQUIRE(b.metadata().find(key) != nullptr);
      CHECK(b.metadata().at(key).type() == value.type());
    }
    CHECK(a.tensors().size() == b.tensors().size());
    for (const auto& t : a.tensors()) {
      INFO(t.name);
      REQUIRE(b.find_tensor(t.name) != nullptr);
      CHECK(a.read_matrix(t.name) == b.read_matrix(t.name));
    }
    const auto again = load_llama_weights(b);
    CHECK(max_difference_from_expected(
              logits_of(again), std::string(name).substr(0, std::string(name).find('.'))) < 2e-4);
    fs::remove(out);
  }
}

TEST_CASE("a Hugging Face writer refuses what config.json cannot express") {
  const io::gguf_file file(fixtures / "freqs_bias.gguf");
  const auto w = load_llama_weights(file);
  const auto out = temp_path("hf-refused");
  fs::remove_all(out);
  CHECK_THROWS_WITH_AS(write_hf_llama(out, w), doctest::Contains("rope_freqs.weight"),
                       option_error);
  auto partial = w;
  partial.rope_freq_factors.resize(0);
  partial.layers[0].bias(llama_linear::o).resize(0);
  CHECK_THROWS_WITH_AS(write_hf_llama(out, partial), doctest::Contains("attention_bias"),
                       option_error);
  CHECK_FALSE(fs::exists(out / "model.safetensors"));
}

TEST_CASE("the llama2.c writer refuses settings its format cannot hold") {
  const io::gguf_file linear(fixtures / "linear4.gguf"), freqs(fixtures / "freqs_bias.gguf");
  auto w = load_llama_weights(linear);
  w.classifier.resize(0, 0);
  w.config.tied_classifier = true;
  w.config.rope_theta = 10000.0f;
  const auto out = temp_path("refused.bin");
  CHECK_THROWS_WITH_AS(write_llama2c(w, out), doctest::Contains("linear scaling"), option_error);
  auto b = load_llama_weights(freqs);
  b.classifier.resize(0, 0);
  b.config.tied_classifier = true;
  b.config.rope_theta = 10000.0f;
  CHECK_THROWS_WITH_AS(write_llama2c(b, out), doctest::Contains("rope_freqs.weight"), option_error);
  b.rope_freq_factors.resize(0);
  CHECK_THROWS_WITH_AS(write_llama2c(b, out), doctest::Contains("biases"), option_error);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("the streaming GGUF model applies biases and rope_freqs.weight like the full model") {
  const auto file = std::make_shared<const io::gguf_file>(fixtures / "freqs_bias.gguf");
  const auto w = load_llama_weights(*file);
  const auto tokens = fixture_tokens();
  const sequence_layout layout{1, static_cast<index_t>(tokens.size())};
  llama_forward full(w);
  row_matrix expected = full.embed(tokens);
  for (index_t b = 0; b < w.config.n_layers; ++b) full.run_block(b, expected, layout);

  streaming_gguf_llama_model streaming(file);
  row_matrix hidden(layout.tokens(), w.config.dim);
  streaming.embed(tokens, view_of(hidden));
  for (index_t b = 0; b < w.config.n_layers; ++b) {
    streaming.begin_block(b);
    streaming.run_block(b, view_of(hidden), layout, {});
    streaming.end_block(b);
  }
  CHECK(hidden == expected);
  const auto extra = edited_gguf(
      "base.gguf", "streaming-extra.gguf", [](io::gguf_metadata&) {}, "blk.1.attn_k_norm.weight");
  CHECK_THROWS_WITH_AS(streaming_gguf_llama_model(std::make_shared<const io::gguf_file>(extra)),
                       doctest::Contains("blk.1.attn_k_norm.weight"), format_error);
  fs::remove(extra);
}
