// pollard — how much of each linear a whole-model recipe prunes: uniform, OWL (outlier-weighted
// layer-wise sparsity) or a table of name patterns.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/plain_text.hpp"
#include "pollard/model/name_patterns.hpp"

namespace pollard::model {

/// Every pruned linear gets the recipe's sparsity.
struct uniform_sparsity {};

/// OWL (Yin et al., 2024, "Outlier Weighed Layerwise Sparsity"): per block l, D_l = the percentage
/// of Wanda scores of the block's linears above m · their mean; D is rescaled to [0, 2λ] and
/// shifted so the mean sparsity stays the target; blocks with more outliers are pruned less.
/// Defaults are the reference's (M = 5, λ = 0.08).
struct owl_sparsity {
  double outlier_multiple = 5.0;
  double lambda = 0.08;
};

/// Sparsity per linear from (pattern, sparsity) rows: the first row whose pattern matches the
/// linear's name wins; a selected linear that no row matches is an error (no silent default).
class sparsity_table {
 public:
  sparsity_table() = default;
  explicit sparsity_table(std::vector<std::pair<std::string, double>> rows)
      : rows_(std::move(rows)) {
    for (const auto& [pattern, s] : rows_) check(pattern, s, "sparsity table");
  }

  /// Reads "PATTERN SPARSITY" lines (SPARSITY in plain decimal notation, read_real); blank lines
  /// and lines starting with '#' are skipped. A UTF-8 byte-order mark at the start of the file is
  /// dropped, one anywhere else refused naming the line and byte offset (io::plain_text_of).
  /// Throws io_error when the file cannot be read, format_error naming the file (as given) and the
  /// line otherwise.
  static sparsity_table read(const std::filesystem::path& path) {
    io::require_regular_file(path);
    std::ifstream file(path, std::ios::binary);
    if (!file)
      throw io_error("cannot open sparsity table " + path.string() + ": " + std::strerror(errno));
    std::ostringstream content;
    content << file.rdbuf();
    std::istringstream in{std::string(io::plain_text_of(content.str(), path.string()))};
    std::vector<std::pair<std::string, double>> rows;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      std::istringstream fields(line);
      std::string pattern, value, extra;
      fields >> pattern >> value;
      const std::string where = path.string() + " line " + std::to_string(number);
      if (value.empty() || (fields >> extra))
        throw format_error(where + ": expected \"PATTERN SPARSITY\", got \"" + line + "\"");
      const auto s = read_real(value);
      if (!s)
        throw format_error(where + ": \"" + value + "\" is not a decimal number" +
                           (s.error == std::errc::result_out_of_range ? " a double can hold" : ""));
      check(pattern, s.value, where);
      rows.emplace_back(pattern, s.value);
    }
    if (rows.empty()) throw format_error(path.string() + ": the sparsity table is empty");
    return sparsity_table(std::move(rows));
  }

  /// The sparsity of `name`; option_error when no pattern matches it.
  double sparsity_of(const std::string& name) const {
    return rows_[static_cast<std::size_t>(row_of(name))].second;
  }

  /// The index of the row that decides `name` (the first whose pattern matches); option_error
  /// when none does.
  index_t row_of(const std::string& name) const {
    if (const auto row = first_match(name)) return static_cast<index_t>(*row);
    throw option_error("sparsity table: no pattern matches the linear " + name);
  }

  /// Throws option_error naming the first row that decides none of `names` (a pattern that
  /// matches nothing, often a misspelt name, or one that earlier rows shadow).
  void require_every_row_used(const std::vector<std::string>& names) const {
    std::vector<bool> used(rows_.size(), false);
    for (const auto& name : names)
      if (const auto row = first_match(name)) used[*row] = true;
    for (std::size_t i = 0; i < rows_.size(); ++i)
      if (!used[i])
        throw option_error("sparsity table: the row \"" + rows_[i].first + " " +
                           format_number(rows_[i].second) + "\" (row " + std::to_string(i + 1) +
                           ") decides no linear of the model: its pattern matches none, or " +
                           "only linears that an earlier row already decides");
  }

  const std::vector<std::pair<std::string, double>>& rows() const noexcept { return rows_; }

 private:
  std::optional<std::size_t> first_match(const std::string& name) const {
    for (std::size_t i = 0; i < rows_.size(); ++i)
      if (name_matches(rows_[i].first, name)) return i;
    return std::nullopt;
  }
  static void check(const std::string& pattern, double s, const std::string& where) {
    if (!(s >= 0.0 && s < 1.0))
      throw option_error(where + ": sparsity " + std::to_string(s) + " for " + pattern +
                         " is outside [0, 1)");
  }
  std::vector<std::pair<std::string, double>> rows_;
};

/// One of the allocation rules above.
using sparsity_allocation = std::variant<uniform_sparsity, owl_sparsity, sparsity_table>;

}  // namespace pollard::model
