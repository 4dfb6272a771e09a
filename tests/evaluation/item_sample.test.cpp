#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pollard/evaluation/item_sample.hpp"

using namespace pollard;
using namespace pollard::evaluation;

using indices = std::vector<std::size_t>;

// Expected values printed by CPython 3.11: sorted(random.Random(seed).sample(range(n), k)).
// Both of its branches are covered: the shrinking pool (n <= 21 + 4^ceil(log4(3k)), 21 for
// k <= 5) and the redraw of repeats (larger n).
TEST_CASE("a random item sample is CPython's sorted(random.Random(seed).sample(range(n), k))") {
  CHECK(sample_item_indices(10, 3, 0) == indices{0, 6, 9});                          // pool, k <= 5
  CHECK(sample_item_indices(60, 8, 3) == indices{8, 15, 23, 30, 34, 37, 38, 40});    // pool
  CHECK(sample_item_indices(100, 8, 3) == indices{16, 30, 47, 60, 69, 75, 77, 80});  // redraws
  CHECK(sample_item_indices(1000, 20, 12345) == indices{10,  127, 165, 198, 267, 276, 305,
                                                        377, 382, 426, 443, 446, 579, 750,
                                                        822, 839, 845, 875, 895, 954});
  CHECK(sample_item_indices(5, 1, (std::uint64_t{1} << 40) + 3) == indices{1});  // a 2-word seed
  CHECK(sample_item_indices(7, 0, 1).empty());
  CHECK(sample_item_indices(10, 10, 1) == indices{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK_THROWS_AS(sample_item_indices(3, 4, 0), option_error);
}

TEST_CASE("task_items_at keeps the task's name, metric and the items at the given positions") {
  multiple_choice_task task{"t", {}, false};
  for (int i = 0; i < 5; ++i)
    task.items.push_back(choice_item("q" + std::to_string(i), {"a", "b"}, i % 2));
  const auto some = task_items_at(task, {1, 4});
  CHECK(some.name == "t");
  CHECK_FALSE(some.reports_acc_norm);
  REQUIRE(some.items.size() == 2);
  CHECK(some.items[0].requests[0].context == "q1");
  CHECK(some.items[1].requests[0].context == "q4");
  CHECK(some.items[1].gold == 0);
  CHECK_THROWS_WITH_AS(task_items_at(task, {5}), doctest::Contains("item 5"), option_error);
}
