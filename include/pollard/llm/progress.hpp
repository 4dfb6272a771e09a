// pollard — progress reporting for long work: a bar with rate and ETA on a terminal, plain
// lines (at most one per 10 %) when the output is a file or pipe.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "pollard/core/config.hpp"

namespace pollard::llm {

/// Draws progress for one task on a stdio stream (stderr by default).
class progress_bar {
 public:
  progress_bar(std::string label, std::string unit, std::FILE* stream = stderr)
      : label_(std::move(label)),
        unit_(std::move(unit)),
        stream_(stream),
        terminal_(::isatty(::fileno(stream)) == 1),
        start_(clock::now()) {}

  void operator()(index_t done, index_t total) {
    const double seconds = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
    const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (terminal_) {
      constexpr int width = 30;
      const int filled = percent * width / 100;
      std::fprintf(stream_, "\r%s [%s%s] %3d%% %lld/%lld %s, %.1f %s/s, ETA %s ", label_.c_str(),
                   std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - filled), '.').c_str(), percent,
                   static_cast<long long>(done), static_cast<long long>(total), unit_.c_str(), rate,
                   unit_.c_str(), format_seconds(eta).c_str());
      if (done >= total) std::fprintf(stream_, "\n");
      std::fflush(stream_);
    } else if (percent >= next_percent_ || done >= total) {
      std::fprintf(stream_, "%s: %d%% (%lld/%lld %s, %.1f %s/s, ETA %s)\n", label_.c_str(), percent,
                   static_cast<long long>(done), static_cast<long long>(total), unit_.c_str(), rate,
                   unit_.c_str(), format_seconds(eta).c_str());
      std::fflush(stream_);
      next_percent_ = (percent / 10 + 1) * 10;
    }
  }

  static std::string format_seconds(double s) {
    const long total = static_cast<long>(s + 0.5);
    char buf[32];
    if (total >= 3600)
      std::snprintf(buf, sizeof buf, "%ldh%02ldm", total / 3600, (total / 60) % 60);
    else
      std::snprintf(buf, sizeof buf, "%ldm%02lds", total / 60, total % 60);
    return buf;
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string label_, unit_;
  std::FILE* stream_;
  bool terminal_;
  clock::time_point start_;
  int next_percent_ = 0;
};

}  // namespace pollard::llm
