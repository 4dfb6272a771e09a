#include <doctest/doctest.h>

#include <initializer_list>
#include <vector>

#include "pollard/calibration/calibration_spec.hpp"

using pollard::calibration_kind;
using pollard::parse_calibration_spec;

TEST_CASE("calibration specs name a kind, a path and an optional weight") {
  const auto c4 = parse_calibration_spec("c4:/data/c4-train.json.gz");
  CHECK(c4.kind == calibration_kind::documents);
  CHECK(c4.kind_name == "c4");
  CHECK(c4.path == "/data/c4-train.json.gz");
  CHECK(c4.weight == 1.0);
  const auto alpaca = parse_calibration_spec("alpaca:alpaca.json@0.25");
  CHECK(alpaca.kind == calibration_kind::instructions);
  CHECK(alpaca.path == "alpaca.json");
  CHECK(alpaca.weight == 0.25);
  CHECK(parse_calibration_spec("wikitext:a:b.jsonl").path == "a:b.jsonl");
  CHECK(parse_calibration_spec("text:me@home.txt@2").path == "me@home.txt");
  CHECK(parse_calibration_spec("selfgen:stories.txt").kind == calibration_kind::self_generated);
}

TEST_CASE("malformed calibration specs are refused, naming the argument") {
  CHECK_THROWS_WITH_AS(parse_calibration_spec("c4.json.gz"),
                       "calibration: expected KIND:PATH[@WEIGHT], got \"c4.json.gz\"",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(parse_calibration_spec("pile:x"),
                       "calibration: unknown kind \"pile\" (choose c4/documents, "
                       "wikitext/corpus/text, alpaca/instructions or selfgen)",
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(parse_calibration_spec("c4:x@0"),
                       "calibration: the weight \"0\" in \"c4:x@0\" is not a decimal number > 0",
                       pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec("c4:x@nan"), pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec("c4:x@1e999"), pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec("c4:x@2kg"), pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec("c4:"), pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec("c4:@2"), pollard::option_error);
  CHECK_THROWS_AS(parse_calibration_spec(":x"), pollard::option_error);
}

TEST_CASE("a weight is a decimal number > 0 by the rule for every number a user writes") {
  CHECK(parse_calibration_spec("c4:x@.5").weight == 0.5);
  CHECK(parse_calibration_spec("c4:x@2e-1").weight == 0.2);
  CHECK(parse_calibration_spec("c4:x@010").weight == 10.0);
  for (const char* w : {"0x1p-1", " 0.5", "0.5 ", "+0.5", "inf", "nan", "Infinity", "0.5kg", "1e",
                        "-0", "-1", "0", "0,5"}) {
    const std::string arg = std::string("c4:x@") + w;
    CAPTURE(arg);
    CHECK_THROWS_WITH_AS(parse_calibration_spec(arg),
                         ("calibration: the weight \"" + std::string(w) + "\" in \"" + arg +
                          "\" is not a decimal number > 0")
                             .c_str(),
                         pollard::option_error);
  }
  for (const char* w : {"1e999", "1e-999"})
    CHECK_THROWS_WITH_AS(parse_calibration_spec(std::string("c4:x@") + w),
                         ("calibration: the weight \"" + std::string(w) + "\" in \"c4:x@" + w +
                          "\" is beyond a double's range")
                             .c_str(),
                         pollard::option_error);
}

TEST_CASE("a source is named KIND:PATH as given, and one listed twice is refused naming both") {
  using pollard::calibration_source_name;
  using pollard::refuse_repeated_calibration_sources;
  const auto specs = [](std::initializer_list<const char*> texts) {
    std::vector<pollard::calibration_spec> out;
    for (const char* t : texts) out.push_back(parse_calibration_spec(t));
    return out;
  };
  CHECK(calibration_source_name(parse_calibration_spec("c4:a/c4.jsonl@2")) == "c4:a/c4.jsonl");
  CHECK(calibration_source_name(parse_calibration_spec("c4:b/c4.jsonl")) == "c4:b/c4.jsonl");
  // Two files of one name, and one file read as two kinds, are distinct sources.
  CHECK_NOTHROW(refuse_repeated_calibration_sources(specs({"c4:a/c4.jsonl", "c4:b/c4.jsonl"})));
  CHECK_NOTHROW(refuse_repeated_calibration_sources(specs({"c4:x.jsonl", "wikitext:x.jsonl"})));
  CHECK_THROWS_WITH_AS(
      refuse_repeated_calibration_sources(
          specs({"text:t.txt", "c4:x.jsonl@2", "documents:./x.jsonl"})),
      "calibration: c4:x.jsonl and documents:./x.jsonl are the same source listed twice (one "
      "kind, one file); give it once, with @WEIGHT for its share of the mixture",
      pollard::option_error);
  CHECK_THROWS_AS(refuse_repeated_calibration_sources(specs({"c4:/d/x", "c4:/d/e/../x"})),
                  pollard::option_error);
}

TEST_CASE("a weight on the only source is refused: it would change nothing") {
  using pollard::refuse_lone_source_weight;
  CHECK(parse_calibration_spec("text:t.txt@3").weight_given);
  CHECK_FALSE(parse_calibration_spec("text:t.txt").weight_given);
  CHECK_THROWS_WITH_AS(refuse_lone_source_weight({parse_calibration_spec("text:a/t.txt@3")}),
                       "calibration: text:a/t.txt is the only source, so its @WEIGHT would change "
                       "nothing (every sequence is drawn from it); weights are for the sources "
                       "of a mixture",
                       pollard::option_error);
  CHECK_NOTHROW(refuse_lone_source_weight({parse_calibration_spec("text:a/t.txt")}));
  CHECK_NOTHROW(refuse_lone_source_weight(
      {parse_calibration_spec("text:a/t.txt@3"), parse_calibration_spec("c4:b.jsonl")}));
}
