#include <doctest/doctest.h>

#include <vector>

#include "pollard/model/prune_by_magnitude.hpp"

using namespace pollard;

namespace {

std::vector<float> pruned(std::vector<float> w, index_t rows, const model::prune_recipe& recipe,
                          double s = 0.5) {
  const auto r = model::prune_by_magnitude(
      cpu::par.threads(1), "token_embd",
      matrix_view<float>(w.data(), rows, static_cast<index_t>(w.size()) / rows), recipe, s);
  CHECK(r.block == -1);
  CHECK(r.name == "token_embd");
  return w;
}

}  // namespace

TEST_CASE("prune_by_magnitude zeroes the smallest |w| in the recipe's group, whatever the method") {
  // Worked by hand: per row, the two smallest |w| of each row; per matrix, the four smallest of
  // all eight (0.1, -0.5, 1, 2).
  const std::vector<float> w{0.1f, -3.0f, 2.0f, -0.5f, 4.0f, 5.0f, -6.0f, 1.0f};
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::wanda;  // its reference group: per row
  CHECK(pruned(w, 2, recipe) == std::vector<float>{0, -3, 2, 0, 0, 5, -6, 0});
  recipe.method = model::pruning_method::magnitude;  // per matrix
  CHECK(pruned(w, 2, recipe) == std::vector<float>{0, -3, 0, 0, 4, 5, -6, 0});
  recipe.group = model::comparison_group::per_row;
  CHECK(pruned(w, 2, recipe, 0.25) == std::vector<float>{0, -3, 2, -0.5f, 4, 5, -6, 0});
}

TEST_CASE("prune_by_magnitude keeps N:M along each row and refuses a group that does not fit") {
  model::prune_recipe recipe;
  recipe.method = model::pruning_method::sparsegpt;
  recipe.n_m_pruned = 2;
  recipe.n_m_group = 4;
  // 2:4 zeroes the two smallest of each group of four, not of the row.
  const std::vector<float> w{1, 2, 3, 4, 8, 7, 6, 5};
  CHECK(pruned(w, 1, recipe) == std::vector<float>{0, 0, 3, 4, 8, 7, 0, 0});
  std::vector<float> six{1, 2, 3, 4, 5, 6};
  const auto before = six;
  CHECK_THROWS_WITH_AS(model::prune_by_magnitude(cpu::par, "output",
                                                 matrix_view<float>(six.data(), 1, 6), recipe, 0.5),
                       "prune_by_magnitude: N:M group 4 does not divide the 6 columns of output",
                       option_error);
  CHECK(six == before);
  const auto r = model::prune_by_magnitude(cpu::par, "output", matrix_view<float>(six.data(), 2, 3),
                                           model::prune_recipe{}, 0.5);
  CHECK(r.sparsity == 2.0 / 6.0);  // per row floor(3 · 0.5) = 1 of 3
  CHECK(r.target_sparsity == 0.5);
  CHECK_FALSE(r.n_m_valid);  // unstructured: not known, as for the block linears
  std::vector<float> eight{1, 2, 3, 4, 8, 7, 6, 5};
  const auto nm = model::prune_by_magnitude(cpu::par, "output",
                                            matrix_view<float>(eight.data(), 1, 8), recipe, 0.5);
  CHECK(nm.n_m_valid == true);
}
