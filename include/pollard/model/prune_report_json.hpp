// pollard — a prune_report as one JSON document (what `pollard prune --report` writes).
#pragma once

#include <cstdint>
#include <string>

#include "pollard/io/json_writer.hpp"
#include "pollard/model/prune_report.hpp"

namespace pollard::model {

/// {"method", "mode", "model", "calibration": {spec, seed, responses_only, text_field,
///  special_tokens, text_bytes, sequences, length, tokens_counted}, "overall_sparsity",
///  "timing": {forward_seconds, statistics_seconds, solver_seconds, block_io_seconds,
///             total_seconds},
///  "block_sparsity": [...] (as written), "block_allocation": [...] (as asked),
///  "linears": [{name, block, rows, cols, input, stored_type, target_sparsity, sparsity,
///  sparsity_before_storing, n_m_valid, loss, percdamp_used, damping_used, damping_retries,
///  seconds, warnings}],
///  "tables": [the same for each tensor outside the blocks pruned by magnitude, block null]}.
/// Quantities that were not measured or are not known (loss without a Hessian, a block with no
/// selected linear's allocation, the seed when not given, n_m_valid of an unstructured recipe,
/// the calibration spec, text field and special-token mode of a run that read no calibration
/// data) are null.
inline std::string to_json(const prune_report& r) {
  io::json_writer w;
  w.begin_object();
  w.key("method").value(r.method).key("mode").value(r.mode);
  const auto text_or_null = [&w](const std::string& text) {
    if (text.empty())
      w.null();
    else
      w.value(text);
  };
  w.key("model");
  text_or_null(r.inputs.model);
  w.key("calibration").begin_object();
  w.key("spec");
  text_or_null(r.inputs.calibration);
  if (r.inputs.seed)
    w.key("seed").value(*r.inputs.seed);
  else
    w.key("seed").null();
  w.key("responses_only").value(r.inputs.responses_only);
  w.key("text_field");
  text_or_null(r.inputs.text_field);
  w.key("special_tokens");
  text_or_null(r.inputs.special_tokens);
  w.key("text_bytes");
  text_or_null(r.inputs.text_bytes);
  w.key("sequences").value(static_cast<std::int64_t>(r.calibration_sequences));
  w.key("length").value(static_cast<std::int64_t>(r.calibration_length));
  w.key("tokens_counted").value(static_cast<std::int64_t>(r.calibration_tokens_counted));
  w.end_object();
  w.key("overall_sparsity").value(r.overall_sparsity());
  w.key("timing").begin_object();
  w.key("forward_seconds").value(r.timing.forward_seconds);
  w.key("statistics_seconds").value(r.timing.statistics_seconds);
  w.key("solver_seconds").value(r.timing.solver_seconds);
  w.key("block_io_seconds").value(r.timing.block_io_seconds);
  w.key("total_seconds").value(r.timing.total_seconds);
  w.end_object();
  w.key("block_sparsity").begin_array();
  for (const double s : r.block_sparsity()) w.value(s);
  w.end_array();
  w.key("block_allocation").begin_array();
  for (const double s : r.block_allocation) w.value(s);
  w.end_array();
  const auto write_linear = [&w](const linear_report& l) {
    w.begin_object();
    w.key("name").value(l.name).key("block");
    if (l.block < 0)
      w.null();
    else
      w.value(static_cast<std::int64_t>(l.block));
    w.key("rows").value(static_cast<std::int64_t>(l.rows));
    w.key("cols").value(static_cast<std::int64_t>(l.cols));
    w.key("input").value(l.input).key("stored_type").value(l.stored_type);
    w.key("target_sparsity").value(l.target_sparsity).key("sparsity").value(l.sparsity);
    w.key("sparsity_before_storing").value(l.sparsity_before_storing);
    w.key("n_m_valid");
    if (l.n_m_valid)
      w.value(*l.n_m_valid);
    else
      w.null();
    w.key("loss").value(l.loss).key("percdamp_used").value(l.percdamp_used);
    w.key("damping_used").value(l.damping_used);
    w.key("damping_retries").value(l.damping_retries).key("seconds").value(l.seconds);
    w.key("warnings").begin_array();
    for (const auto& m : l.warnings) w.value(m);
    w.end_array();
    w.end_object();
  };
  w.key("linears").begin_array();
  for (const auto& l : r.linears) write_linear(l);
  w.end_array();
  w.key("tables").begin_array();
  for (const auto& t : r.tables) write_linear(t);
  w.end_array();
  w.end_object();
  return w.str();
}

}  // namespace pollard::model
