// pollard — the divergence report (dense P vs pruned Q) and its plain-text, Markdown and JSON
// forms.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "pollard/metrics/perplexity.hpp"

namespace pollard {

/// The percentile ladder of llama.cpp's KL-divergence report, in percent, in report order:
/// max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min.
inline constexpr std::array<double, 11> percentile_ladder_levels{
    100.0, 99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1, 0.0};

/// Mean ± standard error (sample deviation / sqrt(n); NaN when n < 2) and the percentile ladder
/// (entry k at percentile_ladder_levels[k], linear interpolation between closest ranks).
struct metric_summary {
  double mean = 0.0;
  double standard_error = 0.0;
  std::array<double, 11> percentiles{};
};

/// What divergence_accumulator::report() returns. Every metric is per token position over the
/// vocabulary. delta_p is q(correct) − p(correct) as a probability (the text and Markdown forms
/// print it in percent, as llama.cpp does); same_top is a fraction with the binomial standard
/// error sqrt(f(1−f)/(n−1)).
struct divergence_report {
  std::int64_t positions = 0;
  metric_summary js_nats;  // Jensen–Shannon divergence in nats, in [0, ln 2]
  metric_summary js_bits;  // the same in bits, in [0, 1]
  metric_summary kl;       // KL(P‖Q) in nats
  metric_summary delta_p;
  double delta_p_rms = 0.0;
  double same_top = 0.0;
  double same_top_standard_error = 0.0;
  perplexity_result perplexity_p;  // of the dense model on the correct tokens
  perplexity_result perplexity_q;  // of the pruned model on the correct tokens
};

namespace detail {

inline std::string report_number(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

inline std::string report_json_number(double value) {
  if (!std::isfinite(value)) return "null";
  return report_number("%.17g", value);
}

inline const std::array<const char*, 11>& report_ladder_labels() {
  static const std::array<const char*, 11> labels{"Maximum", "99.9%",  "99.0%",  "95.0%",
                                                  "90.0%",   "Median", "10.0%",  "5.0%",
                                                  "1.0%",    "0.1%",   "Minimum"};
  return labels;
}

inline const std::array<const char*, 11>& report_ladder_keys() {
  static const std::array<const char*, 11> keys{"max", "99.9", "99", "95",  "90", "median",
                                                "10",  "5",    "1",  "0.1", "min"};
  return keys;
}

inline void report_text_section(std::string& out, const char* title, const char* name,
                                const metric_summary& m, double scale) {
  out += "====== ";
  out += title;
  out += " ======\n";
  out += "Mean    " + std::string(name) + ": " + report_number("%10.6f", m.mean * scale) + " ± " +
         report_number("%10.6f", m.standard_error * scale) + "\n";
  for (std::size_t k = 0; k < m.percentiles.size(); ++k) {
    char label[16];
    std::snprintf(label, sizeof label, "%-7s", report_ladder_labels()[k]);
    out += std::string(label) + " " + name + ": " +
           report_number("%10.6f", m.percentiles[k] * scale) + "\n";
  }
}

inline std::string report_json_summary(const metric_summary& m) {
  std::string out = "{\"mean\":" + report_json_number(m.mean) +
                    ",\"standard_error\":" + report_json_number(m.standard_error) +
                    ",\"percentiles\":{";
  for (std::size_t k = 0; k < m.percentiles.size(); ++k) {
    if (k != 0) out += ",";
    out +=
        "\"" + std::string(report_ladder_keys()[k]) + "\":" + report_json_number(m.percentiles[k]);
  }
  return out + "}}";
}

inline std::string report_json_perplexity(const perplexity_result& p) {
  return "{\"tokens\":" + std::to_string(p.tokens) +
         ",\"mean_nll\":" + report_json_number(p.mean_nll) +
         ",\"perplexity\":" + report_json_number(p.perplexity) +
         ",\"standard_error\":" + report_json_number(p.standard_error) + "}";
}

}  // namespace detail

/// A plain-text report laid out like llama.cpp's KL-divergence statistics.
inline std::string to_text(const divergence_report& r) {
  using detail::report_number;
  std::string out;
  out +=
      "====== Divergence of Q (pruned) from P (dense), per position over the vocabulary ======\n";
  out += "Positions: " + std::to_string(r.positions) + "\n";
  out += "PPL(P)   : " + report_number("%10.6f", r.perplexity_p.perplexity) + " ± " +
         report_number("%10.6f", r.perplexity_p.standard_error) + "\n";
  out += "PPL(Q)   : " + report_number("%10.6f", r.perplexity_q.perplexity) + " ± " +
         report_number("%10.6f", r.perplexity_q.standard_error) + "\n";
  detail::report_text_section(out, "Jensen-Shannon divergence (nats)", "JS", r.js_nats, 1.0);
  detail::report_text_section(out, "Jensen-Shannon divergence (bits)", "JS", r.js_bits, 1.0);
  detail::report_text_section(out, "KL divergence KL(P||Q) (nats)", "KLD", r.kl, 1.0);
  detail::report_text_section(out, "Token probability difference q - p (%)", "Δp", r.delta_p,
                              100.0);
  out += "RMS Δp    : " + report_number("%10.6f", r.delta_p_rms * 100.0) + " %\n";
  out += "Same top p: " + report_number("%6.3f", r.same_top * 100.0) + " ± " +
         report_number("%5.3f", r.same_top_standard_error * 100.0) + " %\n";
  return out;
}

/// A Markdown table: one row per statistic, one column per metric.
inline std::string to_markdown(const divergence_report& r) {
  using detail::report_number;
  const std::array<const metric_summary*, 4> metrics{&r.js_nats, &r.js_bits, &r.kl, &r.delta_p};
  const std::array<double, 4> scale{1.0, 1.0, 1.0, 100.0};
  std::string out = "| statistic | JS (nats) | JS (bits) | KL(P‖Q) (nats) | Δp (%) |\n";
  out += "|---|---|---|---|---|\n";
  out += "| mean ± SE |";
  for (std::size_t c = 0; c < metrics.size(); ++c)
    out += " " + report_number("%.6f", metrics[c]->mean * scale[c]) + " ± " +
           report_number("%.6f", metrics[c]->standard_error * scale[c]) + " |";
  out += "\n";
  for (std::size_t k = 0; k < percentile_ladder_levels.size(); ++k) {
    out += "| " + std::string(detail::report_ladder_labels()[k]) + " |";
    for (std::size_t c = 0; c < metrics.size(); ++c)
      out += " " + report_number("%.6f", metrics[c]->percentiles[k] * scale[c]) + " |";
    out += "\n";
  }
  out += "\nPositions: " + std::to_string(r.positions) +
         "; same top token: " + report_number("%.3f", r.same_top * 100.0) + " ± " +
         report_number("%.3f", r.same_top_standard_error * 100.0) +
         " %; RMS Δp: " + report_number("%.6f", r.delta_p_rms * 100.0) +
         " %; PPL(P): " + report_number("%.6f", r.perplexity_p.perplexity) + " ± " +
         report_number("%.6f", r.perplexity_p.standard_error) +
         "; PPL(Q): " + report_number("%.6f", r.perplexity_q.perplexity) + " ± " +
         report_number("%.6f", r.perplexity_q.standard_error) + "\n";
  return out;
}

/// A JSON object with every field (numbers in full precision, delta_p as a probability,
/// non-finite values as null).
inline std::string to_json(const divergence_report& r) {
  using detail::report_json_number;
  return "{\"positions\":" + std::to_string(r.positions) +
         ",\"js_nats\":" + detail::report_json_summary(r.js_nats) +
         ",\"js_bits\":" + detail::report_json_summary(r.js_bits) +
         ",\"kl\":" + detail::report_json_summary(r.kl) +
         ",\"delta_p\":" + detail::report_json_summary(r.delta_p) +
         ",\"delta_p_rms\":" + report_json_number(r.delta_p_rms) +
         ",\"same_top\":{\"fraction\":" + report_json_number(r.same_top) +
         ",\"standard_error\":" + report_json_number(r.same_top_standard_error) +
         "},\"perplexity_p\":" + detail::report_json_perplexity(r.perplexity_p) +
         ",\"perplexity_q\":" + detail::report_json_perplexity(r.perplexity_q) + "}";
}

}  // namespace pollard
