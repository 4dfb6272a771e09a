// pollard — a seeded random sample of a multiple-choice task's items, drawn as CPython's
// random.sample draws it, so that Python reproduces the subset:
// sorted(random.Random(seed).sample(range(n), k)).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "pollard/calibration/python_random.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/evaluation/multiple_choice.hpp"

namespace pollard::evaluation {

/// sorted(random.Random(seed).sample(range(n), k)) for k <= n: k distinct indices of [0, n),
/// ascending. CPython's sample (Lib/random.py) draws from a pool it shrinks when n is at most
/// 21 + 4^ceil(log4(3k)) (21 for k <= 5), otherwise by redrawing repeats; both branches are
/// reproduced, each draw being randbelow(m) = getrandbits(bit_length(m)) retried while >= m.
inline std::vector<std::size_t> sample_item_indices(std::size_t n, std::size_t k,
                                                    std::uint64_t seed) {
  if (k > n)
    throw option_error("sample_item_indices: a sample of " + std::to_string(k) + " from " +
                       std::to_string(n) + " items");
  python_random rng(seed);
  std::vector<std::size_t> out;
  out.reserve(k);
  std::uint64_t set_size = 21;
  if (k > 5)
    set_size += static_cast<std::uint64_t>(
        std::pow(4.0, std::ceil(std::log(3.0 * static_cast<double>(k)) / std::log(4.0))));
  if (n <= set_size) {
    std::vector<std::size_t> pool(n);
    for (std::size_t i = 0; i < n; ++i) pool[i] = i;
    for (std::size_t i = 0; i < k; ++i) {
      const auto j = static_cast<std::size_t>(rng.below(n - i));
      out.push_back(pool[j]);
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::unordered_set<std::size_t> selected;
    for (std::size_t i = 0; i < k; ++i) {
      auto j = static_cast<std::size_t>(rng.below(n));
      while (selected.contains(j)) j = static_cast<std::size_t>(rng.below(n));
      selected.insert(j);
      out.push_back(j);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The items of `task` at `indices` (positions in task.items), in that order.
inline multiple_choice_task task_items_at(const multiple_choice_task& task,
                                          const std::vector<std::size_t>& indices) {
  multiple_choice_task out{task.name, {}, task.reports_acc_norm};
  out.items.reserve(indices.size());
  for (const std::size_t i : indices) {
    if (i >= task.items.size())
      throw option_error("task_items_at: item " + std::to_string(i) + " of task " + task.name +
                         ", which has " + std::to_string(task.items.size()));
    out.items.push_back(task.items[i]);
  }
  return out;
}

}  // namespace pollard::evaluation
