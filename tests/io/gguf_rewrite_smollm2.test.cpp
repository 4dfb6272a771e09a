// rewrite_gguf on the real SmolLM2-135M-Instruct Q4_1 GGUF (skipped when cmake/fetch_smollm2.sh
// was not run): its 210 Q4_1 and one Q8_0 tensors were written by llama.cpp's reference
// quantiser, so replacing every tensor by its own dequantised values reproduces the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pollard/io/gguf/rewrite.hpp"
#include "support/smollm2.hpp"

using namespace pollard::io;

namespace {

namespace fs = std::filesystem;

const std::optional<fs::path>& model_path() {
  static const auto path = pollard::test::smollm2_gguf();
  return path;
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() /
                  ("pollard-gguf-rewrite-smollm2-" + std::to_string(std::random_device{}()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

bool same_file_bytes(const fs::path& a, const fs::path& b) {
  if (fs::file_size(a) != fs::file_size(b)) return false;
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  std::vector<char> p(1 << 20), q(1 << 20);
  while (x && y) {
    x.read(p.data(), static_cast<std::streamsize>(p.size()));
    y.read(q.data(), static_cast<std::streamsize>(q.size()));
    if (x.gcount() != y.gcount() || !std::equal(p.begin(), p.begin() + x.gcount(), q.begin()))
      return false;
  }
  return true;
}

// Zeroes the half of each row (ne[0] elements) with the smallest magnitudes.
void prune_half_of_each_row(std::vector<float>& w, std::size_t row) {
  std::vector<float> magnitudes(row);
  for (std::size_t r = 0; r < w.size() / row; ++r) {
    float* x = &w[r * row];
    for (std::size_t j = 0; j < row; ++j) magnitudes[j] = std::fabs(x[j]);
    std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<long>(row / 2),
                     magnitudes.end());
    for (std::size_t j = 0; j < row; ++j)
      if (std::fabs(x[j]) < magnitudes[row / 2]) x[j] = 0.0f;
  }
}

}  // namespace

TEST_CASE(
    "SmolLM2: every tensor replaced by its own dequantised values, kept `same`, gives the "
    "file back byte for byte") {
  if (!model_path()) return;
  const gguf_file model(*model_path());
  std::vector<std::string> names;
  for (const auto& t : model.tensors()) names.push_back(t.name);
  temp_dir dir;
  const auto start = std::chrono::steady_clock::now();
  rewrite_gguf(
      model, dir.path / "copy.gguf", names,
      [&](const gguf_tensor_info& t, std::span<float> values) { model.read_into(t, values); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("dequantised and re-quantised all " << names.size() << " tensors in " << seconds << " s");
  CHECK(same_file_bytes(*model_path(), dir.path / "copy.gguf"));
}

TEST_CASE(
    "SmolLM2: replaced block by block in numeric order (0, 1, 2, ...), the file comes back "
    "whole; what is held waiting for the name order (0, 1, 10, ..., 19, 2, 20, ...)") {
  if (!model_path()) return;
  const gguf_file model(*model_path());
  const auto blocks = model.metadata().get<std::uint32_t>("llama.block_count");
  std::vector<std::vector<std::string>> by_block(blocks);
  std::vector<std::string> names;
  for (const auto& t : model.tensors())
    if (t.name.rfind("blk.", 0) == 0) {
      by_block[std::stoul(t.name.substr(4))].push_back(t.name);
      names.push_back(t.name);
    }
  temp_dir dir;
  gguf_rewriter writer(model, dir.path / "copy.gguf", names);
  std::size_t most_held = 0;
  for (const auto& block : by_block) {
    for (const auto& name : block) writer.replace(name, model.read(name).values);
    most_held = std::max(most_held, writer.held_bytes());
  }
  writer.commit();
  MESSAGE("most held while supplying blocks in numeric order: "
          << most_held << " bytes (the file: " << fs::file_size(*model_path()) << ")");
  CHECK(most_held < fs::file_size(*model_path()) / 2);
  CHECK(same_file_bytes(*model_path(), dir.path / "copy.gguf"));
}

TEST_CASE(
    "SmolLM2: block 0's linears pruned 50 % per row and kept Q4_1 — what re-quantising costs") {
  if (!model_path()) return;
  const gguf_file model(*model_path());
  const std::vector<std::string> linears{"blk.0.attn_q.weight",   "blk.0.attn_k.weight",
                                         "blk.0.attn_v.weight",   "blk.0.attn_output.weight",
                                         "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
                                         "blk.0.ffn_down.weight"};
  std::map<std::string, gguf_tensor, std::less<>> pruned;
  for (const auto& name : linears) {
    auto t = model.read(name);
    prune_half_of_each_row(t.values, static_cast<std::size_t>(t.dims[0]));
    pruned.emplace(name, std::move(t));
  }
  temp_dir dir;
  rewrite_gguf(model, dir.path / "pruned.gguf", pruned);
  const gguf_file back(dir.path / "pruned.gguf");
  CHECK(back.metadata() == model.metadata());
  REQUIRE(back.tensors().size() == model.tensors().size());

  std::size_t zeros = 0, survived = 0;
  double error2 = 0.0, norm2 = 0.0;
  for (std::size_t i = 0; i < model.tensors().size(); ++i) {
    const auto& a = model.tensors()[i];
    const auto& b = back.tensors()[i];
    CAPTURE(a.name);
    REQUIRE(b.name == a.name);
    CHECK(b.type == a.type);
    CHECK(b.offset == a.offset);  // `same` keeps every size, so every offset
    const auto it = pruned.find(a.name);
    if (it == pruned.end()) {
      const auto x = model.tensor_data(a);
      const auto y = back.tensor_data(b);
      REQUIRE(std::equal(x.begin(), x.end(), y.begin(), y.end()));
      continue;
    }
    const auto& want = it->second.values;
    const auto got = back.read(b).values;
    for (std::size_t j = 0; j < want.size(); ++j) {
      error2 += (static_cast<double>(got[j]) - want[j]) * (static_cast<double>(got[j]) - want[j]);
      norm2 += static_cast<double>(want[j]) * want[j];
      if (want[j] == 0.0f) {
        ++zeros;
        if (got[j] == 0.0f) ++survived;
      }
    }
  }
  const double fraction = static_cast<double>(survived) / static_cast<double>(zeros);
  MESSAGE("SmolLM2 block 0, 7 linears pruned 50 % per row, re-quantised Q4_1: "
          << survived << " of " << zeros << " pruned zeros read back as zero (" << 100.0 * fraction
          << " %); relative Frobenius error of the stored pruned weights "
          << std::sqrt(error2 / norm2));
  CHECK(zeros >= back.tensor("blk.0.attn_q.weight").elements() / 2);
  // Q4_1 stores zero as round(-min/d)·d + min: only blocks with no negative kept weight (or a
  // level that lands on zero exactly) keep it, which a 50 %-pruned real row almost never has.
  CHECK(fraction < 0.05);
}
