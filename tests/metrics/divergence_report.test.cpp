// Tests for pollard/metrics/divergence_report.hpp: text, Markdown and JSON forms of a report.
#include "pollard/metrics/divergence_report.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "pollard/io/json.hpp"

using namespace pollard;

namespace {

// A report with distinct, recognisable values in every field.
divergence_report sample_report() {
  divergence_report r;
  r.positions = 1234;
  auto fill = [](metric_summary& m, double base) {
    m.mean = base;
    m.standard_error = std::abs(base) / 100;
    for (std::size_t k = 0; k < m.percentiles.size(); ++k)
      m.percentiles[k] = base * static_cast<double>(11 - k);
  };
  fill(r.js_nats, 0.0125);
  fill(r.js_bits, 0.0125 / std::log(2.0));
  fill(r.kl, 0.05);
  fill(r.delta_p, -0.002);
  r.delta_p_rms = 0.03;
  r.same_top = 0.9375;
  r.same_top_standard_error = 0.0069;
  r.perplexity_p = {1234, 2.5, std::exp(2.5), 0.25};
  r.perplexity_q = {1234, 2.75, std::exp(2.75), 0.5};
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("the text report lists mean ± SE and the ladder like llama.cpp's KL-divergence report") {
  const std::string t = to_text(sample_report());
  CHECK(contains(t, "Positions: 1234\n"));
  CHECK(contains(t, "Mean    JS:   0.012500 ±   0.000125\n"));
  CHECK(contains(t, "Maximum JS:   0.137500\n"));  // 11 · base
  CHECK(contains(t, "Median  JS:   0.075000\n"));  // 6 · base
  CHECK(contains(t, "Minimum JS:   0.012500\n"));
  CHECK(contains(t, "99.9%   KLD:   0.500000\n"));  // 10 · 0.05
  CHECK(contains(t, "0.1%    KLD:   0.100000\n"));
  CHECK(contains(t, "Mean    Δp:  -0.200000 ±   0.002000\n"));  // percent
  CHECK(contains(t, "Same top p: 93.750 ± 0.690 %\n"));
  CHECK(contains(t, "PPL(Q)   :  15.642632 ±   0.500000\n"));
}

TEST_CASE("the Markdown report is a table with one row per statistic") {
  const std::string m = to_markdown(sample_report());
  CHECK(contains(
      m,
      "| statistic | JS (nats) | JS (bits) | KL(P‖Q) (nats) | Δp (%) |\n|---|---|---|---|---|\n"));
  CHECK(contains(m,
                 "| mean ± SE | 0.012500 ± 0.000125 | 0.018034 ± 0.000180 | 0.050000 ± 0.000500 | "
                 "-0.200000 ± 0.002000 |\n"));
  CHECK(contains(m, "| Maximum | 0.137500 | 0.198371 | 0.550000 | -2.200000 |\n"));
  CHECK(contains(m, "same top token: 93.750 ± 0.690 %"));
  std::size_t rows = 0;
  for (std::size_t at = m.find("\n|"); at != std::string::npos; at = m.find("\n|", at + 1)) ++rows;
  CHECK(rows == 13);  // separator, mean ± SE and 11 ladder rows after the header
}

TEST_CASE("the JSON report parses and round-trips every number") {
  auto r = sample_report();
  r.kl.standard_error = std::numeric_limits<double>::quiet_NaN();  // one position: undefined
  const auto doc = io::parse_json(to_json(r), "divergence report");
  CHECK(doc.find("positions")->as_number("positions") == 1234.0);
  const auto& js = *doc.find("js_nats");
  CHECK(js.find("mean")->as_number("mean") == r.js_nats.mean);
  CHECK(js.find("standard_error")->as_number("se") == r.js_nats.standard_error);
  const auto& ladder = *js.find("percentiles");
  CHECK(ladder.find("max")->as_number("max") == r.js_nats.percentiles[0]);
  CHECK(ladder.find("99.9")->as_number("99.9") == r.js_nats.percentiles[1]);
  CHECK(ladder.find("median")->as_number("median") == r.js_nats.percentiles[5]);
  CHECK(ladder.find("min")->as_number("min") == r.js_nats.percentiles[10]);
  CHECK(ladder.as_object("ladder").size() == 11);
  CHECK(doc.find("kl")->find("standard_error")->is_null());
  CHECK(doc.find("delta_p")->find("mean")->as_number("dp") == -0.002);
  CHECK(doc.find("delta_p_rms")->as_number("rms") == 0.03);
  CHECK(doc.find("same_top")->find("fraction")->as_number("f") == 0.9375);
  CHECK(doc.find("same_top")->find("standard_error")->as_number("se") == 0.0069);
  CHECK(doc.find("perplexity_q")->find("perplexity")->as_number("ppl") == std::exp(2.75));
  CHECK(doc.find("perplexity_p")->find("tokens")->as_number("tokens") == 1234.0);
  CHECK(doc.find("js_bits") != nullptr);
}

TEST_CASE("a standard error of one position (NaN) reads n/a in the text and Markdown reports") {
  divergence_report r = sample_report();
  r.positions = 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.js_nats.standard_error = r.kl.standard_error = r.same_top_standard_error = nan;
  const std::string t = to_text(r);
  CHECK(contains(t, "Mean    JS:   0.012500 ±        n/a\n"));
  CHECK(contains(t, "Same top p: 93.750 ±   n/a %\n"));
  CHECK_FALSE(contains(t, "nan"));
  const std::string m = to_markdown(r);
  CHECK(contains(m, "| mean ± SE | 0.012500 ± n/a |"));
  CHECK_FALSE(contains(m, "nan"));
}
