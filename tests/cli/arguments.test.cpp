// Tests of the pollard tool's command-line parsing (examples/cli/arguments.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../../examples/cli/arguments.hpp"

using pollard::cli::arguments;
using pollard::cli::option_spec;
using pollard::cli::usage_error;

namespace {

// argv-style storage for a list of words.
struct words {
  explicit words(std::vector<std::string> w) : text(std::move(w)) {
    for (auto& s : text) pointers.push_back(s.data());
  }
  std::span<char* const> span() const { return pointers; }
  std::vector<std::string> text;
  std::vector<char*> pointers;
};

const option_spec spec{{"--steps", "--top-p", "--seed", "--text"}, {"--verbose"}};

arguments parse(std::vector<std::string> w) {
  const words a(std::move(w));
  return arguments("test", a.span(), spec);
}

}  // namespace

TEST_CASE("values follow their option as the next word or after '='; flags and positionals") {
  const auto a = parse({"model.bin", "--steps", "12", "--top-p=0.5", "--verbose", "more"});
  CHECK(a.positional() == std::vector<std::string>{"model.bin", "more"});
  CHECK(a.integer("--steps", 0, 1, 100) == 12);
  CHECK(a.real("--top-p", 1.0, "in (0, 1]", [](double x) { return x > 0 && x <= 1; }) == 0.5);
  CHECK(a.has("--verbose"));
  CHECK_FALSE(a.has("--seed"));
  CHECK(a.integer("--seed", 7, 0, 10) == 7);
  CHECK_FALSE(a.help());
}

TEST_CASE("a value may start with '-' and words after '--' are positional") {
  const auto a = parse({"--text", "-", "--", "--steps"});
  CHECK(*a.text("--text") == "-");
  CHECK(a.positional() == std::vector<std::string>{"--steps"});
  CHECK_THROWS_WITH_AS(parse({"--steps", "-3"}).integer("--steps", 0, 1, 100),
                       "--steps must be in [1, 100], got -3", usage_error);
}

TEST_CASE("--help and -h are accepted by every command") {
  CHECK(parse({"--help"}).help());
  CHECK(parse({"model", "-h"}).help());
}

TEST_CASE("malformed command lines are usage errors that name the option") {
  CHECK_THROWS_WITH_AS(parse({"--colour"}), "unknown option --colour for 'pollard test'",
                       usage_error);
  CHECK_THROWS_WITH_AS(parse({"--steps"}), "--steps needs a value", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--verbose=yes"}), "--verbose takes no value", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--seed", "1", "--seed", "2"}), "--seed is given more than once",
                       usage_error);
  CHECK_THROWS_WITH_AS(parse({"--steps", "12x"}).integer("--steps", 0, 1, 100),
                       "--steps needs an integer, got '12x'", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--steps="}).integer("--steps", 0, 1, 100),
                       "--steps needs an integer, got ''", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--steps", "99999999999999999999"}).integer("--steps", 0, 1, 100),
                       "--steps needs an integer, got '99999999999999999999'", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--seed", "-1"}).unsigned_integer("--seed", 0),
                       "--seed needs a non-negative integer, got '-1'", usage_error);
  CHECK_THROWS_WITH_AS(
      parse({"--top-p", "nan"}).real("--top-p", 1.0, "in (0, 1]", [](double) { return true; }),
      "--top-p needs a number, got 'nan'", usage_error);
  CHECK_THROWS_WITH_AS(
      parse({"--top-p", "1.5"}).real("--top-p", 1.0, "in (0, 1]", [](double x) { return x <= 1; }),
      "--top-p must be in (0, 1], got 1.5", usage_error);
  CHECK_THROWS_WITH_AS(parse({"--text="}).path("--text"), "--text needs a file name", usage_error);
}

TEST_CASE("the positional count is checked with a message naming what is missing or extra") {
  CHECK_NOTHROW(parse({"a"}).expect_positional(1, "a MODEL file"));
  CHECK_THROWS_WITH_AS(parse({}).expect_positional(1, "a MODEL file"),
                       "'pollard test' needs a MODEL file", usage_error);
  CHECK_THROWS_WITH_AS(parse({"a", "b"}).expect_positional(1, "a MODEL file"),
                       "unexpected argument 'b' for 'pollard test'", usage_error);
}

TEST_CASE("an unsigned seed takes the whole 64-bit range") {
  CHECK(parse({"--seed", "18446744073709551615"}).unsigned_integer("--seed", 0) ==
        18446744073709551615ull);
}
