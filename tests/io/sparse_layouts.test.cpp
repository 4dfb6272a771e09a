// The 2:4 bitmask and CSR layouts of pruned weights: a hand-worked example, round trips over
// random pruned matrices, refusals, hostile files, and numpy (compressed-tensors' decompression
// rule and torch's CSR convention re-implemented) reading what pollard writes.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pollard/io/csr_matrix.hpp"
#include "pollard/io/sparse_24_bitmask.hpp"
#include "pollard/io/sparse_safetensors.hpp"
#include "support/random.hpp"

namespace io = pollard::io;
using pollard::index_t;

namespace {

// Zeroes `pruned` random entries of every group of 4 (the other entries stay nonzero).
pollard::test::dense_matrix<float> random_n_of_4(index_t rows, index_t cols, int pruned,
                                                 std::uint64_t seed) {
  auto w = pollard::test::random_normal<float>(rows, cols, seed);
  std::mt19937_64 rng(seed + 1);
  for (index_t i = 0; i < rows; ++i)
    for (index_t g = 0; g < cols; g += 4) {
      std::vector<index_t> order{0, 1, 2, 3};
      std::shuffle(order.begin(), order.end(), rng);
      for (int k = 0; k < pruned; ++k) w(i, g + order[static_cast<std::size_t>(k)]) = 0.0f;
    }
  return w;
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("pollard-sparse-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

TEST_CASE("sparse-24-bitmask packs a hand-worked 2x8 matrix") {
  // Row 0: groups [1 0 0 2] [0 3 4 0]; row 1: [0 0 0 5] (one nonzero: the lowest zero column,
  // 0, is kept too) and [0 0 0 0] (columns 4 and 5 kept).
  const std::vector<float> w = {1, 0, 0, 2, 0, 3, 4, 0, 0, 0, 0, 5, 0, 0, 0, 0};
  const auto s = io::compress_sparse_24_bitmask({w.data(), 2, 8}, "w");
  CHECK(s.values == std::vector<float>{1, 2, 3, 4, 0, 5, 0, 0});
  // Bit b of the byte flags column b (little bit order): row 0 keeps 0, 3, 5, 6; row 1 keeps
  // 0, 3, 4, 5.
  CHECK(s.bitmask == std::vector<std::uint8_t>{0b01101001, 0b00111001});
  CHECK(io::decompress(s).values() == w);
}

TEST_CASE("sparse-24-bitmask and CSR round-trip random pruned matrices exactly") {
  for (int pruned : {2, 3, 4}) {
    for (index_t cols : {4, 8, 12, 20, 64}) {
      const auto w = random_n_of_4(7, cols, pruned, static_cast<std::uint64_t>(cols * 10 + pruned));
      const auto s = io::compress_sparse_24_bitmask(w.view(), "w");
      CHECK(s.values.size() == static_cast<std::size_t>(7 * cols / 2));
      CHECK(s.bitmask.size() == static_cast<std::size_t>(7 * ((cols + 7) / 8)));
      CHECK(io::decompress(s).values() == w.values);
      const auto c = io::compress_csr(w.view(), "w");
      CHECK(c.nonzeros() == 7 * cols / 4 * (4 - pruned));
      CHECK(io::decompress(c).values() == w.values);
    }
  }
  // Unstructured sparsity: CSR only.
  auto w = pollard::test::random_normal<float>(5, 9, 3);
  for (std::size_t k = 0; k < w.values.size(); k += 3) w.values[k] = 0.0f;
  CHECK(io::decompress(io::compress_csr(w.view(), "w")).values() == w.values);
}

TEST_CASE("sparse-24-bitmask refuses what is not 2:4") {
  const std::vector<float> three = {1, 2, 3, 0, 1, 0, 0, 1};
  CHECK_THROWS_WITH_AS(io::compress_sparse_24_bitmask({three.data(), 1, 8}, "blk.0.ffn_up"),
                       "sparse-24-bitmask: blk.0.ffn_up row 0, columns 0..3 hold 3 nonzero "
                       "values; a 2:4 layout keeps at most 2 of every 4",
                       pollard::option_error);
  const std::vector<float> six(6, 0.0f);
  CHECK_THROWS_AS(io::compress_sparse_24_bitmask({six.data(), 1, 6}, "w"), pollard::shape_error);
  const std::vector<float> nan = {1, 0, 0, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_AS(io::compress_sparse_24_bitmask({nan.data(), 1, 4}, "w"),
                  pollard::non_finite_error);
  CHECK_THROWS_AS(io::compress_csr({nan.data(), 1, 4}, "w"), pollard::non_finite_error);
}

TEST_CASE("decompression refuses corrupt layouts") {
  io::sparse_24_bitmask s{1, 4, {1.0f, 2.0f}, {0b0111}};  // three columns flagged
  CHECK_THROWS_AS(io::decompress(s), pollard::format_error);
  s.bitmask = {0b0011};
  s.values = {1.0f};  // too few values
  CHECK_THROWS_AS(io::decompress(s), pollard::format_error);
  io::csr_matrix c{2, 3, {0, 2, 1}, {0, 1}, {1.0f, 2.0f}};  // last offset below the count
  CHECK_THROWS_AS(io::decompress(c), pollard::format_error);
  c.row_offsets = {0, 2, 2};
  c.column_indices = {1, 1};  // not increasing
  CHECK_THROWS_AS(io::decompress(c), pollard::format_error);
  c.column_indices = {0, 3};  // out of range
  CHECK_THROWS_AS(io::decompress(c), pollard::format_error);
}

TEST_CASE("sparse safetensors files round-trip and are read by numpy as the formats define") {
  const auto q = random_n_of_4(6, 16, 2, 11);
  const auto k = random_n_of_4(4, 8, 3, 12);
  const std::vector<float> norm = {1.0f, 0.5f, -2.0f};
  for (const auto layout : {io::sparse_layout::sparse_24_bitmask, io::sparse_layout::csr}) {
    for (const auto dtype : {pollard::dtype::f32, pollard::dtype::f16}) {
      const auto path = temp_path(std::string(io::sparse_layout_name(layout)) + ".safetensors");
      io::write_sparse_safetensors(
          path,
          {{"model.layers.0.self_attn.q_proj.weight", {6, 16}, q.values, true},
           {"model.layers.0.self_attn.k_proj.weight", {4, 8}, k.values, true},
           {"model.norm.weight", {3}, norm, false}},
          layout, dtype);
      const auto expected_path = temp_path("expected.safetensors");
      io::write_safetensors(expected_path,
                            {{"model.layers.0.self_attn.q_proj.weight", dtype, {6, 16}, q.values},
                             {"model.layers.0.self_attn.k_proj.weight", dtype, {4, 8}, k.values},
                             {"model.norm.weight", dtype, {3}, norm}});
      const auto back = io::read_sparse_safetensors(path);
      REQUIRE(back.size() == 3);
      auto rounded = [&](const std::vector<float>& v) {
        std::vector<float> r;
        for (float x : v)
          r.push_back(dtype == pollard::dtype::f16 ? static_cast<float>(pollard::half(x)) : x);
        return r;
      };
      CHECK(back.at("model.layers.0.self_attn.q_proj.weight").values == rounded(q.values));
      CHECK(back.at("model.layers.0.self_attn.q_proj.weight").shape ==
            std::vector<std::uint64_t>{6, 16});
      CHECK(back.at("model.layers.0.self_attn.k_proj.weight").values == rounded(k.values));
      CHECK(back.at("model.norm.weight").values == rounded(norm));

      const std::string command = "python3 " +
                                  (std::filesystem::path(__FILE__).parent_path() / "fixtures" /
                                   "sparse" / "check_sparse_safetensors.py")
                                      .string() +
                                  " " + path.string() + " " +
                                  std::string(io::sparse_layout_name(layout)) + " " +
                                  expected_path.string();
      const int status = std::system(command.c_str());
      std::filesystem::remove(path);
      std::filesystem::remove(expected_path);
      if (WEXITSTATUS(status) == 3) {
        MESSAGE("python3 with safetensors and numpy is not available: cross-check not run");
        continue;
      }
      CHECK(WEXITSTATUS(status) == 0);
    }
  }
}

TEST_CASE("write_sparse_safetensors refuses bad input and writes nothing") {
  const auto path = temp_path("refused.safetensors");
  std::filesystem::remove(path);
  const auto dense = pollard::test::random_normal<float>(2, 8, 5);
  CHECK_THROWS_AS(io::write_sparse_safetensors(path, {{"w.weight", {2, 8}, dense.values, true}},
                                               io::sparse_layout::sparse_24_bitmask),
                  pollard::option_error);
  CHECK_THROWS_AS(io::write_sparse_safetensors(path, {{"w.weight", {16}, dense.values, true}},
                                               io::sparse_layout::csr),
                  pollard::shape_error);
  CHECK_THROWS_AS(
      io::write_sparse_safetensors(
          path, {{"w.weight", {2, 8}, dense.values, true}, {"w.shape", {16}, dense.values, false}},
          io::sparse_layout::csr),
      pollard::option_error);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("read_sparse_safetensors refuses a hostile shape before allocating") {
  const auto path = temp_path("hostile.safetensors");
  // A CSR tensor claiming 2^20 x 2^20 elements with a handful of bytes behind it.
  const std::vector<std::int64_t> shape = {1 << 20, 1 << 20};
  std::vector<std::int64_t> offsets((1 << 20) + 1, 0);
  const std::vector<std::int64_t> none;
  const std::vector<float> no_values;
  io::write_safetensors(path, {{"w.shape",
                                pollard::dtype::i64,
                                {2},
                                {},
                                pollard::overflow::error,
                                std::as_bytes(std::span(shape))},
                               {"w.crow_indices",
                                pollard::dtype::i64,
                                {offsets.size()},
                                {},
                                pollard::overflow::error,
                                std::as_bytes(std::span(offsets))},
                               {"w.col_indices",
                                pollard::dtype::i64,
                                {0},
                                {},
                                pollard::overflow::error,
                                std::as_bytes(std::span(none))},
                               {"w.values", pollard::dtype::f32, {0}, no_values}});
  CHECK_THROWS_WITH_AS(io::read_sparse_safetensors(path),
                       doctest::Contains("a dense tensor of at most 2^30 elements is read"),
                       pollard::format_error);
  std::filesystem::remove(path);
}
