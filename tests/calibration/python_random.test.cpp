// The expected draws were printed by CPython 3.11:
//   random.seed(0); [random.randint(0, 999) for _ in range(8)]
//   random.seed(7); [random.randint(0, 355) for _ in range(5)], random.getrandbits(32)
//   random.seed(2**40 + 5); [random.randint(10, 10**9) for _ in range(4)]
//   random.seed(0); [random.randint(0, 0) for _ in range(3)], random.randint(0, 2**32 - 1)
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "pollard/calibration/python_random.hpp"

TEST_CASE("python_random reproduces CPython's random.seed + randint draws") {
  const auto draws = [](std::uint64_t seed, std::int64_t a, std::int64_t b, int n) {
    pollard::python_random rng(seed);
    std::vector<std::int64_t> out;
    for (int k = 0; k < n; ++k) out.push_back(rng.randint(a, b));
    return out;
  };
  CHECK(draws(0, 0, 999, 8) == std::vector<std::int64_t>{864, 394, 776, 911, 430, 41, 265, 988});
  CHECK(draws((std::uint64_t{1} << 40) + 5, 10, 1000000000, 4) ==
        std::vector<std::int64_t>{541574227, 555040217, 288411828, 712747978});

  pollard::python_random rng(7);
  std::vector<std::int64_t> first;
  for (int k = 0; k < 5; ++k) first.push_back(rng.randint(0, 355));
  CHECK(first == std::vector<std::int64_t>{165, 77, 202, 333, 24});
  CHECK(rng.getrandbits(32) == 311111475u);
}

TEST_CASE("python_random: one-value ranges still consume a draw, as CPython's do") {
  pollard::python_random rng(0);
  for (int k = 0; k < 3; ++k) CHECK(rng.randint(0, 0) == 0);
  CHECK(rng.randint(0, 4294967295LL) == 2195908194LL);
}

TEST_CASE("python_random: ranges wider than 32 bits take two words, as CPython's getrandbits") {
  // random.seed(9); [random.randint(0, 10**15) for _ in range(3)], random.getrandbits(40)
  pollard::python_random rng(9);
  CHECK(rng.randint(0, 1000000000000000LL) == 690417981433454LL);
  CHECK(rng.randint(0, 1000000000000000LL) == 300765278199536LL);
  CHECK(rng.randint(0, 1000000000000000LL) == 209577819197866LL);
  CHECK(rng.getrandbits(40) == 746751197013ull);
}

TEST_CASE("python_random refuses an empty range and oversized ranges") {
  pollard::python_random rng(1);
  CHECK_THROWS_AS(rng.randint(5, 4), pollard::option_error);
  CHECK_THROWS_AS(rng.below(0), pollard::option_error);
  CHECK_THROWS_AS(rng.getrandbits(65), pollard::option_error);
}
