// pollard CLI — the command line of one subcommand: options (--name VALUE, --name=VALUE, flags)
// and positional arguments, with typed, range-checked access.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pollard::cli {

/// A mistake on the command line (unknown option, missing or malformed value): exit status 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a subcommand accepts: options that take a value and flags that do not.
struct option_spec {
  std::set<std::string, std::less<>> valued;
  std::set<std::string, std::less<>> flags;
};

/// One subcommand's parsed arguments. `--help`/`-h` are always accepted as flags.
class arguments {
 public:
  arguments(std::string command, std::span<char* const> args, const option_spec& spec)
      : command_(std::move(command)) {
    bool only_positional = false;
    for (std::size_t a = 0; a < args.size(); ++a) {
      std::string token = args[a];
      if (only_positional || token == "-" || token.rfind("-", 0) != 0) {
        positional_.push_back(std::move(token));
        continue;
      }
      if (token == "--") {
        only_positional = true;
        continue;
      }
      if (token == "-h" || token == "--help") {
        help_ = true;
        continue;
      }
      std::optional<std::string> inline_value;
      if (const auto eq = token.find('='); eq != std::string::npos) {
        inline_value = token.substr(eq + 1);
        token.resize(eq);
      }
      if (spec.flags.contains(token)) {
        if (inline_value) throw usage_error(token + " takes no value");
        remember(token, "");
      } else if (spec.valued.contains(token)) {
        if (inline_value) {
          remember(token, *inline_value);
        } else {
          if (a + 1 >= args.size()) throw usage_error(token + " needs a value");
          remember(token, args[++a]);
        }
      } else {
        throw usage_error("unknown option " + token + " for 'pollard " + command_ + "'");
      }
    }
  }

  bool help() const noexcept { return help_; }
  const std::vector<std::string>& positional() const noexcept { return positional_; }

  /// Exactly `count` positional arguments, named in the message when they are not there.
  void expect_positional(std::size_t count, std::string_view names) const {
    if (positional_.size() < count)
      throw usage_error("'pollard " + command_ + "' needs " + std::string(names));
    if (positional_.size() > count)
      throw usage_error("unexpected argument '" + positional_[count] + "' for 'pollard " +
                        command_ + "'");
  }

  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }

  std::optional<std::string> text(std::string_view name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::filesystem::path> path(std::string_view name) const {
    auto v = text(name);
    if (!v) return std::nullopt;
    if (v->empty()) throw usage_error(std::string(name) + " needs a file name");
    return std::filesystem::path(*v);
  }

  /// An integer in [low, high], or `fallback` when the option is absent.
  std::int64_t integer(std::string_view name, std::int64_t fallback, std::int64_t low,
                       std::int64_t high) const {
    const auto v = text(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    const long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE)
      throw usage_error(std::string(name) + " needs an integer, got '" + *v + "'");
    if (x < low || x > high)
      throw usage_error(std::string(name) + " must be in [" + std::to_string(low) + ", " +
                        std::to_string(high) + "], got " + *v);
    return x;
  }

  /// An unsigned 64-bit integer (seeds), or `fallback` when the option is absent.
  std::uint64_t unsigned_integer(std::string_view name, std::uint64_t fallback) const {
    const auto v = text(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    const unsigned long long x = std::strtoull(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE || v->front() == '-' || v->front() == ' ')
      throw usage_error(std::string(name) + " needs a non-negative integer, got '" + *v + "'");
    return x;
  }

  /// A finite real number; `check` says what is allowed ("> 0") and returns whether x is.
  template <class Check>
  double real(std::string_view name, double fallback, const char* allowed, Check check) const {
    const auto v = text(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
      throw usage_error(std::string(name) + " needs a number, got '" + *v + "'");
    if (!check(x)) throw usage_error(std::string(name) + " must be " + allowed + ", got " + *v);
    return x;
  }

 private:
  void remember(const std::string& name, std::string value) {
    if (!values_.emplace(name, std::move(value)).second)
      throw usage_error(name + " is given more than once");
  }

  std::string command_;
  std::vector<std::string> positional_;
  std::map<std::string, std::string, std::less<>> values_;
  bool help_ = false;
};

}  // namespace pollard::cli
