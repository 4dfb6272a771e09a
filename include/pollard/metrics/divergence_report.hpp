// pollard — the divergence report (dense P vs pruned Q) and its plain-text, Markdown and JSON
// forms.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "pollard/io/json_writer.hpp"
#include "pollard/metrics/perplexity.hpp"

namespace pollard {

/// The percentile ladder of llama.cpp's KL-divergence report, in percent, in report order:
/// max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min.
inline constexpr std::array<double, 11> percentile_ladder_levels{
    100.0, 99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1, 0.0};

/// Mean ± standard error (sample deviation / sqrt(n); NaN when n < 2) and the percentile ladder
/// (entry k at percentile_ladder_levels[k], linear interpolation between closest ranks).
struct metric_summary : mean_with_error {
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
  /// llama.cpp's perplexity-ratio statistics (tools/perplexity/perplexity.cpp,
  /// kl_divergence()), from the paired per-position NLLs: ln(PPL(Q)/PPL(P)) = mean(nll_q −
  /// nll_p) ± the standard error of that paired mean; PPL(Q)/PPL(P) = its exp ± exp·SE;
  /// PPL(Q) − PPL(P) ± sqrt(u_Q² + u_P² − 2·PPL(Q)·PPL(P)·cov), cov the covariance of the two
  /// mean NLLs; and their correlation cov / (SE_P·SE_Q). NaN with fewer than 2 positions.
  mean_with_error log_ppl_ratio;
  mean_with_error ppl_ratio;
  mean_with_error ppl_difference;
  double log_ppl_correlation = 0.0;
};

namespace detail {

/// `value` in `format`; a NaN (a standard error of fewer than two positions) as "n/a", right-
/// aligned in the field width when the format gives one ("%10.6f").
inline std::string report_number(const char* format, double value) {
  char buffer[64];
  if (std::isnan(value)) {
    const bool field = format[0] == '%' && format[1] >= '1' && format[1] <= '9';
    const int width = field ? std::snprintf(buffer, sizeof buffer, format, 0.0) : 0;
    std::snprintf(buffer, sizeof buffer, "%*s", width, "n/a");
    return buffer;
  }
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
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

inline void report_json_summary(io::json_writer& w, const metric_summary& m) {
  w.begin_object().key("mean").value(m.mean).key("standard_error").value(m.standard_error);
  w.key("percentiles").begin_object();
  for (std::size_t k = 0; k < m.percentiles.size(); ++k)
    w.key(report_ladder_keys()[k]).value(m.percentiles[k]);
  w.end_object().end_object();
}

inline void report_json_perplexity(io::json_writer& w, const perplexity_result& p) {
  w.begin_object()
      .key("tokens")
      .value(std::int64_t{p.tokens})
      .key("mean_nll")
      .value(p.mean_nll)
      .key("perplexity")
      .value(p.perplexity)
      .key("standard_error")
      .value(p.standard_error)
      .end_object();
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
  out += "Cor(ln(PPL(Q)), ln(PPL(P))): " + report_number("%6.2f", 100.0 * r.log_ppl_correlation) +
         "%\n";
  out += "Mean ln(PPL(Q)/PPL(P))     : " + report_number("%10.6f", r.log_ppl_ratio.mean) + " ± " +
         report_number("%10.6f", r.log_ppl_ratio.standard_error) + "\n";
  out += "Mean PPL(Q)/PPL(P)         : " + report_number("%10.6f", r.ppl_ratio.mean) + " ± " +
         report_number("%10.6f", r.ppl_ratio.standard_error) + "\n";
  out += "Mean PPL(Q)-PPL(P)         : " + report_number("%10.6f", r.ppl_difference.mean) + " ± " +
         report_number("%10.6f", r.ppl_difference.standard_error) + "\n";
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
         report_number("%.6f", r.perplexity_q.standard_error) +
         "; PPL(Q)/PPL(P): " + report_number("%.6f", r.ppl_ratio.mean) + " ± " +
         report_number("%.6f", r.ppl_ratio.standard_error) + "\n";
  return out;
}

/// A JSON object with every field (numbers in full precision, delta_p as a probability,
/// non-finite values as null).
inline std::string to_json(const divergence_report& r) {
  io::json_writer w;
  w.begin_object().key("positions").value(std::int64_t{r.positions});
  w.key("js_nats");
  detail::report_json_summary(w, r.js_nats);
  w.key("js_bits");
  detail::report_json_summary(w, r.js_bits);
  w.key("kl");
  detail::report_json_summary(w, r.kl);
  w.key("delta_p");
  detail::report_json_summary(w, r.delta_p);
  w.key("delta_p_rms").value(r.delta_p_rms);
  w.key("same_top").begin_object().key("fraction").value(r.same_top);
  w.key("standard_error").value(r.same_top_standard_error).end_object();
  w.key("perplexity_p");
  detail::report_json_perplexity(w, r.perplexity_p);
  w.key("perplexity_q");
  detail::report_json_perplexity(w, r.perplexity_q);
  const auto pair = [&](const char* key, const mean_with_error& m) {
    w.key(key).begin_object().key("mean").value(m.mean);
    w.key("standard_error").value(m.standard_error).end_object();
  };
  pair("log_ppl_ratio", r.log_ppl_ratio);
  pair("ppl_ratio", r.ppl_ratio);
  pair("ppl_difference", r.ppl_difference);
  w.key("log_ppl_correlation").value(r.log_ppl_correlation);
  w.end_object();
  return w.str();
}

}  // namespace pollard
