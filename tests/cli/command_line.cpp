// Tests of the command line the pollard tools share (examples/cli/command_line.hpp): CLI11
// configured as the tools configure it, with their value checks.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../../examples/cli/command_line.hpp"

using pollard::cli::integer_in;
using pollard::cli::real_where;
using pollard::cli::unsigned_integer;

namespace {

// One command with the kinds of options the tools have.
struct test_command {
  CLI::App app{"test command", "test"};
  std::string model, more, text;
  long long steps = 0;
  int threads = 0;
  int shift = 0;
  double top_p = 1.0, lambda = 0.0, offset = 0.0;
  std::uint64_t seed = 7;
  bool verbose = false;

  test_command() {
    pollard::cli::configure(app);
    app.add_option("MODEL", model, "model")->required();
    app.add_option("MORE", more, "second positional");
    app.add_option("--steps", steps, "steps")->transform(integer_in(1, 100));
    app.add_option("--threads", threads, "threads")->transform(integer_in(0, 4096));
    app.add_option("--shift", shift, "shift")->transform(integer_in(-5, 5));
    app.add_option("--top-p", top_p, "p")->transform(real_where("in (0, 1]", [](double x) {
      return x > 0 && x <= 1;
    }));
    app.add_option("--lambda", lambda, "l")->transform(real_where(">= 0", [](double x) {
      return x >= 0;
    }));
    app.add_option("--offset", offset, "o")->transform(real_where("finite", [](double) {
      return true;
    }));
    app.add_option("--seed", seed, "seed")->transform(unsigned_integer());
    app.add_option("--text", text, "text");
    app.add_flag("--verbose", verbose, "flag");
  }

  void parse(std::vector<std::string> words) {
    std::reverse(words.begin(), words.end());  // CLI11 takes a reversed vector
    app.parse(words);
  }
};

// The message of the CLI11 parse error that `words` raise ("" when they parse).
std::string parse_error(std::vector<std::string> words) {
  test_command c;
  try {
    c.parse(std::move(words));
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("values follow their option as the next word or after '='; flags and positionals") {
  test_command c;
  c.parse({"model.bin", "--steps", "12", "--top-p=0.5", "--verbose", "more"});
  CHECK(c.model == "model.bin");
  CHECK(c.more == "more");
  CHECK(c.steps == 12);
  CHECK(c.top_p == 0.5);
  CHECK(c.verbose);
  CHECK(c.seed == 7);
}

TEST_CASE("a value may be '-' and words after '--' are positional") {
  test_command c;
  c.parse({"--text", "-", "--", "--steps"});
  CHECK(c.text == "-");
  CHECK(c.model == "--steps");
  CHECK(parse_error({"m", "--steps", "-3"}) == "--steps: must be in [1, 100], got -3");
}

TEST_CASE("--help and --version are accepted; the help shows every default") {
  test_command c;
  CHECK_THROWS_AS(c.parse({"--help"}), CLI::CallForHelp);
  CHECK_THROWS_AS(c.parse({"--version"}), CLI::CallForVersion);
  const std::string help = c.app.help();
  CHECK(help.rfind("usage: test", 0) == 0);
  CHECK(help.find("=1") != std::string::npos);  // --top-p's default
  CHECK(help.find("=7") != std::string::npos);  // --seed's default
}

TEST_CASE("malformed command lines are parse errors that name the option") {
  CHECK(parse_error({"m", "--colour"}) == "The following argument was not expected: --colour");
  CHECK(parse_error({"m", "--steps"}) == "--steps: 1 required INT missing");
  CHECK(parse_error({"m", "--seed", "1", "--seed", "2"}).rfind("--seed: ", 0) == 0);
  CHECK(parse_error({"m", "--steps", "12x"}) == "--steps: needs an integer in [1, 100], got '12x'");
  CHECK(parse_error({"m", "--steps", "99999999999999999999"}) ==
        "--steps: must be in [1, 100], got 99999999999999999999");
  CHECK(parse_error({"m", "--seed", "-1"}) == "--seed: needs a non-negative integer, got '-1'");
  CHECK(parse_error({"m", "--top-p", "nan"}) ==
        "--top-p: needs a decimal number in (0, 1], got 'nan'");
  CHECK(parse_error({"m", "--top-p", "1.5"}) == "--top-p: must be in (0, 1], got 1.5");
  CHECK(parse_error({"m", "--text="}) == "--text: 1 required TEXT missing");
}

TEST_CASE("the positional count is checked with a message naming what is missing or extra") {
  CHECK(parse_error({"a"}).empty());
  CHECK(parse_error({}) == "MODEL is required");
  CHECK(parse_error({"a", "b", "c"}) == "The following argument was not expected: c");
}

TEST_CASE("an unsigned seed takes the whole 64-bit range") {
  test_command c;
  c.parse({"m", "--seed", "18446744073709551615"});
  CHECK(c.seed == 18446744073709551615ull);
}

TEST_CASE("an option given twice is reported as such, not in CLI11's words") {
  test_command c;
  try {
    c.parse({"m", "--steps", "2", "--steps", "3"});
    FAIL("no error");
  } catch (const CLI::ParseError& e) {
    CHECK(pollard::cli::parse_error_message(e) == "--steps is given 2 times: give it once");
  }
}

TEST_CASE("messages lose the library's internal prefixes, and keep what a user wrote") {
  using pollard::cli::without_internal_prefixes;
  CHECK(without_internal_prefixes("sparsegpt: the Hessian is singular") ==
        "the Hessian is singular");
  CHECK(without_internal_prefixes("obs_reconstruct: 2 dead input channels") ==
        "2 dead input channels");
  CHECK(without_internal_prefixes("prune recipe: sparsity must be in [0, 1)") ==
        "sparsity must be in [0, 1)");
  CHECK(without_internal_prefixes("--calibration: calibration: unknown kind \"pile\"") ==
        "--calibration: unknown kind \"pile\"");
  CHECK(without_internal_prefixes("calibration mixture: sparsegpt: x") == "x");
  // Not prefixes: a sentence's words, a file's name, an option as typed.
  CHECK(without_internal_prefixes("cannot open: no such file") == "cannot open: no such file");
  CHECK(without_internal_prefixes("hf300: no tokenizer found") == "hf300: no tokenizer found");
  CHECK(without_internal_prefixes("tok512.bin: 3 trailing bytes") ==
        "tok512.bin: 3 trailing bytes");
  CHECK(without_internal_prefixes("--n-m 2:3: M = 3 does not divide 64") ==
        "--n-m 2:3: M = 3 does not divide 64");
  CHECK(without_internal_prefixes("OUT: output folder of 'x/y' does not exist") ==
        "OUT: output folder of 'x/y' does not exist");
  // A file that exists under a snake_case name is the user's, not a component.
  const std::string name = "my_model_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(name.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  CHECK(without_internal_prefixes(name + ": no tokenizer found") == name + ": no tokenizer found");
  std::remove(name.c_str());
  CHECK(without_internal_prefixes(name + ": x") == "x");
}

TEST_CASE("help is found anywhere before '--', for the command it follows") {
  CLI::App app("tool", "tool");
  pollard::cli::configure(app);
  CLI::App* sub = app.add_subcommand("prune", "p");
  app.add_subcommand("layer", "l");
  const auto asked = [&](std::vector<std::string> words) {
    std::vector<char*> argv;
    std::string program = "tool";
    argv.push_back(program.data());
    for (auto& w : words) argv.push_back(w.data());
    return pollard::cli::help_asked(app, static_cast<int>(argv.size()), argv.data());
  };
  CHECK(asked({"prune", "--sparsity", "2", "--help"}) == sub);
  CHECK(asked({"prune", "-h", "--sparsity", "2"}) == sub);
  CHECK(asked({"--bogus", "--help"}) == &app);
  CHECK(asked({"prune", "--sparsity", "2"}) == nullptr);
  CHECK(asked({"prune", "--", "--help"}) == nullptr);
  // A later word that happens to name a command is a value, not the command.
  CHECK(asked({"prune", "--text", "layer", "--help"}) == sub);
}

TEST_CASE("names are printed with control characters escaped, other text kept") {
  using pollard::cli::printable;
  CHECK(printable("plain/path.bin") == "plain/path.bin");
  CHECK(printable("a\x1b[31mred\x07") == "a\\x1b[31mred\\x07");
  CHECK(printable("tab\there\nnl\x7f") == "tab\\x09here\\x0anl\\x7f");
  // UTF-8 text stays; C1 controls (U+009B is a CSI on many terminals) and broken bytes do not.
  CHECK(printable("caf\xc3\xa9 \xe2\x98\x95") == "caf\xc3\xa9 \xe2\x98\x95");
  CHECK(printable("x\xc2\x9b"
                  "2Jy") == "x\\xc2\\x9b2Jy");
  CHECK(printable("bad\xff\xc3") == "bad\\xff\\xc3");
}

TEST_CASE("unexpected arguments are listed in the order given") {
  test_command c;
  try {
    c.parse({"m", "n", "first", "second", "third"});
    FAIL("no error");
  } catch (const CLI::ParseError& e) {
    // CLI11 itself lists them last first.
    CHECK(std::string(e.what()) == "The following arguments were not expected: third second first");
    CHECK(pollard::cli::parse_error_message(e, &c.app) ==
          "The following arguments were not expected: first second third");
  }
}

TEST_CASE("a std::filesystem error names what was done, the path and the reason") {
  const std::filesystem::path loop =
      std::filesystem::temp_directory_path() / ("pollard-loop-" + std::to_string(::getpid()));
  std::filesystem::remove(loop);
  std::filesystem::create_symlink(loop.filename(), loop);
  try {
    (void)std::filesystem::is_regular_file(loop / "x");
    FAIL("no error");
  } catch (const std::filesystem::filesystem_error& e) {
    CHECK(pollard::cli::filesystem_error_message(e) ==
          "cannot look at '" + (loop / "x").string() + "': Too many levels of symbolic links");
  }
  try {
    for (const auto& entry : std::filesystem::directory_iterator(loop)) (void)entry;
    FAIL("no error");
  } catch (const std::filesystem::filesystem_error& e) {
    CHECK(pollard::cli::filesystem_error_message(e) ==
          "cannot list the folder '" + loop.string() + "': Too many levels of symbolic links");
  }
  std::filesystem::remove(loop);
}

TEST_CASE("an empty option value is refused naming the option; accepted where it means something") {
  CLI::App app("t", "t");
  std::string out, prompt, model;
  app.add_option("MODEL", model, "m");
  app.add_option("--json", out, "j");
  pollard::cli::accepts_empty_value(app.add_option("--prompt", prompt, "p"));
  const auto refused = [&](std::vector<std::string> words) -> std::string {
    std::reverse(words.begin(), words.end());
    app.clear();
    app.parse(words);
    try {
      pollard::cli::refuse_empty_values(app);
    } catch (const pollard::cli::usage_error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(refused({"m", "--json", ""}) ==
        "--json is given an empty value: give a value, or leave the option out");
  CHECK(refused({"", "--json", "x"}) == "MODEL is given an empty value: give one");
  CHECK(refused({"m", "--prompt", ""}).empty());
  CHECK(refused({"m"}).empty());
}

TEST_CASE("comma-separated items lose the spaces around them; empty items stay empty") {
  using pollard::cli::comma_items;
  CHECK(comma_items("arc_easy, piqa ,\thellaswag") ==
        std::vector<std::string>{"arc_easy", "piqa", "hellaswag"});
  CHECK(comma_items("a, ,b") == std::vector<std::string>{"a", "", "b"});
  CHECK(comma_items(" a b ") == std::vector<std::string>{"a b"});
  CHECK(pollard::cli::comma_list("x,  y") == std::vector<std::string>{"x", "y"});
}

TEST_CASE("comma-separated items lose the Unicode white space around them, not inside them") {
  using pollard::cli::comma_items;
  // U+00A0 no-break space, U+3000 ideographic space, U+2009 thin space, U+0085, a line feed.
  CHECK(comma_items("\u00a0boolq\u00a0,\u3000piqa\u2009,\xc2\x85\narc_easy\r") ==
        std::vector<std::string>{"boolq", "piqa", "arc_easy"});
  CHECK(comma_items("arc\u00a0easy") == std::vector<std::string>{"arc\u00a0easy"});
  // Characters that are not white space stay: U+200B (zero width), U+00E9, an ill-formed byte.
  CHECK(comma_items("\u200bx") == std::vector<std::string>{"\u200bx"});
  CHECK(comma_items(" caf\u00e9\u00a0") == std::vector<std::string>{"caf\u00e9"});
  CHECK(comma_items("\xff ") == std::vector<std::string>{"\xff"});
  CHECK(comma_items("\u00a0, \u2003") == std::vector<std::string>{"", ""});
}

TEST_CASE("a comma-separated list with empty items names every one, or says it names none") {
  using pollard::cli::empty_comma_items;
  CHECK(empty_comma_items("a,b").empty());
  CHECK(empty_comma_items("boolq,") == "item 2 of 'boolq,' is empty: remove the extra comma");
  CHECK(empty_comma_items(",a,,b,") ==
        "items 1, 3 and 5 of ',a,,b,' are empty: remove the extra commas");
  CHECK(empty_comma_items("a, \u00a0") == "item 2 of 'a, \u00a0' is empty: remove the extra comma");
  CHECK(empty_comma_items(" ") == "' ' names no item: it is only white space");
  CHECK(empty_comma_items("\u00a0") == "'\u00a0' names no item: it is only white space");
  CHECK(empty_comma_items(" , ") ==
        "' , ' names no item: it is only commas and white space, each of its 2 items empty");
  CHECK(empty_comma_items(",,") ==
        "',,' names no item: it is only commas, each of its 3 items empty");
}

TEST_CASE("the check of a comma-separated option puts the option's name before the reason") {
  CLI::App app("t", "t");
  std::string suite;
  app.add_option("--suite", suite, "s")->check(pollard::cli::comma_list_text());
  const auto message = [&](std::string value) -> std::string {
    std::vector<std::string> words{value, "--suite"};
    app.clear();
    try {
      app.parse(words);
    } catch (const CLI::ValidationError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(message(" ").find("--suite: ' ' names no item") != std::string::npos);
  CHECK(message(" , ").find("--suite: ' , ' names no item") != std::string::npos);
  CHECK(message("boolq,\u00a0").find("--suite: item 2 of") != std::string::npos);
  CHECK(message("\u00a0boolq").empty());
}

// The texts that break the rule for numbers once each (read_integer, read_real), with the
// message every kind of numeric option gives for them.
TEST_CASE("every numeric option refuses what is not plain decimal, naming itself and the text") {
  struct refused {
    const char* option;
    const char* text;
    const char* message;
  };
  const refused cases[] = {
      {"--steps", " 5", "--steps: needs an integer in [1, 100], got ' 5'"},
      {"--steps", "5 ", "--steps: needs an integer in [1, 100], got '5 '"},
      {"--steps", "0x10", "--steps: needs an integer in [1, 100], got '0x10'"},
      {"--steps", "+5", "--steps: needs an integer in [1, 100], got '+5'"},
      {"--steps", "1e1", "--steps: needs an integer in [1, 100], got '1e1'"},
      {"--steps", "1_0", "--steps: needs an integer in [1, 100], got '1_0'"},
      {"--steps", "5.0", "--steps: needs an integer in [1, 100], got '5.0'"},
      {"--steps", "inf", "--steps: needs an integer in [1, 100], got 'inf'"},
      {"--steps", "nan", "--steps: needs an integer in [1, 100], got 'nan'"},
      {"--steps", "true", "--steps: needs an integer in [1, 100], got 'true'"},
      {"--steps", "9223372036854775808", "--steps: must be in [1, 100], got 9223372036854775808"},
      {"--threads", "-0", "--threads: needs an integer in [0, 4096] without a '-' sign, got '-0'"},
      {"--threads", "-1", "--threads: must be in [0, 4096], got -1"},
      {"--shift", "-6", "--shift: must be in [-5, 5], got -6"},
      {"--seed", " 5", "--seed: needs a non-negative integer, got ' 5'"},
      {"--seed", "0x10", "--seed: needs a non-negative integer, got '0x10'"},
      {"--seed", "+5", "--seed: needs a non-negative integer, got '+5'"},
      {"--seed", "5x", "--seed: needs a non-negative integer, got '5x'"},
      {"--seed", "1e3", "--seed: needs a non-negative integer, got '1e3'"},
      {"--seed", "-0", "--seed: needs a non-negative integer, got '-0'"},
      {"--seed", "18446744073709551616",
       "--seed: must be in [0, 18446744073709551615], got 18446744073709551616"},
      {"--top-p", "0x1p-1", "--top-p: needs a decimal number in (0, 1], got '0x1p-1'"},
      {"--top-p", " 0.5", "--top-p: needs a decimal number in (0, 1], got ' 0.5'"},
      {"--top-p", "0.5 ", "--top-p: needs a decimal number in (0, 1], got '0.5 '"},
      {"--top-p", "+0.5", "--top-p: needs a decimal number in (0, 1], got '+0.5'"},
      {"--top-p", "inf", "--top-p: needs a decimal number in (0, 1], got 'inf'"},
      {"--top-p", "-inf", "--top-p: needs a decimal number in (0, 1], got '-inf'"},
      {"--top-p", "Infinity", "--top-p: needs a decimal number in (0, 1], got 'Infinity'"},
      {"--top-p", "NAN", "--top-p: needs a decimal number in (0, 1], got 'NAN'"},
      {"--top-p", "0.5x", "--top-p: needs a decimal number in (0, 1], got '0.5x'"},
      {"--top-p", "1e", "--top-p: needs a decimal number in (0, 1], got '1e'"},
      {"--top-p", "0,5", "--top-p: needs a decimal number in (0, 1], got '0,5'"},
      {"--top-p", "1e999",
       "--top-p: needs a decimal number within a double's range (magnitude 5e-324 to 1.8e308, or "
       "0), got '1e999'"},
      {"--top-p", "1e-999",
       "--top-p: needs a decimal number within a double's range (magnitude 5e-324 to 1.8e308, or "
       "0), got '1e-999'"},
      {"--top-p", "2", "--top-p: must be in (0, 1], got 2"},
      {"--lambda", "-0", "--lambda: needs a decimal number >= 0 without a '-' sign, got '-0'"},
      {"--lambda", "-0.0e5",
       "--lambda: needs a decimal number >= 0 without a '-' sign, got '-0.0e5'"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.option) + " '" + c.text + "'");
    CHECK(parse_error({"m", c.option, c.text}) == c.message);
    CHECK(parse_error({"m", std::string(c.option) + "=" + c.text}) == c.message);
  }
}

TEST_CASE("numeric options take plain decimal forms, and get the value their check read") {
  test_command c;
  // CLI11 2.1 itself reads "010" as octal and 17-digit texts through long double: the checks
  // hand it the value they read.
  c.parse({"m", "--steps", "010", "--threads", "0", "--shift", "-5", "--seed", "007", "--top-p",
           "0.63553726630136681", "--lambda", "0", "--offset", "-1.5e-3"});
  CHECK(c.steps == 10);
  CHECK(c.threads == 0);
  CHECK(c.shift == -5);
  CHECK(c.seed == 7);
  CHECK(c.top_p == 0x1.456523fc4ea67p-1);
  CHECK(c.lambda == 0.0);
  CHECK_FALSE(std::signbit(c.lambda));
  CHECK(c.offset == -1.5e-3);
  test_command d;
  d.parse({"m", "--top-p", ".5", "--lambda", "2.5E+04", "--offset", "-0", "--steps", "100"});
  CHECK(d.top_p == 0.5);
  CHECK(d.lambda == 25000.0);
  CHECK(std::signbit(d.offset));  // "finite" allows negatives, so -0 is -0
  CHECK(d.steps == 100);
}

TEST_CASE("--n-m reads N and M by the rule for integers, naming the text") {
  using pollard::cli::parse_n_m;
  CHECK(parse_n_m("--n-m", "2:4").pruned == 2);
  CHECK(parse_n_m("--n-m", "02:04").group_size == 4);
  CHECK(parse_n_m("--n-m", "1048575:1048576").group_size == 1048576);
  const std::string needs =
      "--n-m needs N:M with integers in [1, 1048576] (N pruned of every M), got '";
  for (const char* text :
       {" 2:4",  "2:4 ",  "2 :4",  "2: 4",  "+2:4",      "0x2:4",
        "2:0x4", "2e0:4", "2.0:4", "-2:4",  "0:4",       "2:4:8",
        "2",     "2:",    ":4",    "inf:4", "2:1048577", "2:99999999999999999999",
        "2:4x",  "2,4"}) {
    CAPTURE(std::string(text));
    try {
      (void)parse_n_m("--n-m", text);
      FAIL("no error");
    } catch (const pollard::cli::usage_error& e) {
      CHECK(std::string(e.what()) == needs + text + "'");
    }
  }
  CHECK_THROWS_WITH_AS(parse_n_m("--n-m", "4:4"),
                       "--n-m 4:4 prunes 4 of every 4 weights: N must be smaller than M",
                       pollard::cli::usage_error);
}

TEST_CASE("a numeric check given with ->check() instead of ->transform() is found before parsing") {
  CLI::App app("t", "t");
  CLI::App* sub = app.add_subcommand("sub", "s");
  int threads = 0;
  double fraction = 0.0;
  app.add_option("--threads", threads, "n")->transform(integer_in(0, 4096));
  sub->add_option("--fraction", fraction, "f")->transform(real_where(">= 0", [](double x) {
    return x >= 0;
  }));
  CHECK_NOTHROW(pollard::cli::require_number_transforms(app));
  std::uint64_t seed = 0;
  sub->add_option("--seed", seed, "s")->check(unsigned_integer());
  CHECK_THROWS_WITH_AS(pollard::cli::require_number_transforms(app),
                       "--seed: its numeric check is given with ->check(); give it with "
                       "->transform(), so that CLI11 stores the value the check read",
                       std::logic_error);
}
