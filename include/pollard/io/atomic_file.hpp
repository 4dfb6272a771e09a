// pollard — writes a file through a temporary beside it, renamed into place only when complete.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "pollard/core/error.hpp"

namespace pollard::io {

namespace detail {

/// The temporaries being written, for a signal handler to unlink: a fixed table of C strings
/// (a handler may neither allocate nor lock). A slot is free (0), being filled (1) or live (2);
/// the handler unlinks live slots only.
struct temporary_table {
  static constexpr std::size_t slots = 64;
  static constexpr std::size_t path_capacity = 4096;
  std::array<std::atomic<int>, slots> state{};
  std::array<std::array<char, path_capacity>, slots> path{};
};

inline temporary_table& temporaries() noexcept {
  static temporary_table table;
  return table;
}

/// Records a temporary before it is created; returns its slot, or -1 when the table is full or
/// the path too long (the temporary is then still removed on every exit but a signal).
inline int register_temporary(const std::string& path) noexcept {
  auto& t = temporaries();
  if (path.size() >= temporary_table::path_capacity) return -1;
  for (std::size_t k = 0; k < temporary_table::slots; ++k) {
    int expected = 0;
    if (t.state[k].compare_exchange_strong(expected, 1)) {
      std::memcpy(t.path[k].data(), path.c_str(), path.size() + 1);
      t.state[k].store(2, std::memory_order_release);
      return static_cast<int>(k);
    }
  }
  return -1;
}

inline void unregister_temporary(int slot) noexcept {
  if (slot >= 0) temporaries().state[static_cast<std::size_t>(slot)].store(0);
}

/// Unlinks every live temporary (async-signal-safe: atomics and unlink only).
inline void unlink_live_temporaries() noexcept {
  auto& t = temporaries();
  for (std::size_t k = 0; k < temporary_table::slots; ++k)
    if (t.state[k].load(std::memory_order_acquire) == 2) ::unlink(t.path[k].data());
}

/// Unlinks every live temporary, then lets the signal take its default course, so the process
/// ends as signalled (async-signal-safe: atomics, unlink, sigaction and raise only).
extern "C" inline void remove_temporaries_and_reraise(int signal_number) {
  unlink_live_temporaries();
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
}

extern "C" inline void remove_temporaries_at_exit() { unlink_live_temporaries(); }

/// A name for the next temporary of this process: `<path>.tmp-<pid>-<n>` (unique within the
/// process by the counter, across processes by the pid; O_EXCL refuses a leftover).
inline std::string temporary_name(const std::filesystem::path& path) {
  static std::atomic<unsigned long> counter{0};
  return path.string() + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" +
         std::to_string(counter.fetch_add(1));
}

}  // namespace detail

/// Makes every signal whose default action ends the process without a crash (SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT, SIGPIPE — a reader such as `| head` gone —, SIGXFSZ — a file size limit —,
/// SIGXCPU, SIGALRM, SIGUSR1, SIGUSR2) remove the temporaries of unfinished atomic_files before
/// the process ends as the signal says (the exit status still reports the signal), and std::exit
/// remove them too. A program calls it once, at its start (a library installs no signal
/// handlers on its own); a signal whose handler the program has already set is left alone.
inline void remove_temporaries_on_signal() {
  static const bool installed = [] {
    for (const int s :
         {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ, SIGXCPU, SIGALRM, SIGUSR1, SIGUSR2}) {
      struct sigaction current {};
      if (::sigaction(s, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) continue;
      struct sigaction action {};
      action.sa_handler = detail::remove_temporaries_and_reraise;
      sigemptyset(&action.sa_mask);
      ::sigaction(s, &action, nullptr);
    }
    std::atexit(detail::remove_temporaries_at_exit);
    return true;
  }();
  (void)installed;
}

/// Writes a file so that `path` holds either its old content (or nothing) or the whole new
/// content, never a part. Bytes go to a temporary beside `path` (`<path>.tmp-<pid>-<n>`, unique
/// per atomic_file, so two outputs of one process never share one); commit() writes them out,
/// fsyncs the temporary, renames it over `path` and fsyncs the folder. Destroyed without
/// commit() (an exception on the way) it removes the temporary, as does a signal once
/// remove_temporaries_on_signal() is in force.
class atomic_file {
 public:
  /// Creates the temporary; io_error when it cannot be created.
  explicit atomic_file(std::filesystem::path path) : path_(std::move(path)) {
    int error = 0;
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      temporary_ = detail::temporary_name(path_);
      // Registered before it exists, so that no signal finds it unrecorded.
      slot_ = detail::register_temporary(temporary_.string());
      fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      error = errno;
      if (fd_ < 0) detail::unregister_temporary(slot_);
      if (fd_ < 0 && error != EEXIST) break;
    }
    if (fd_ < 0)
      throw io_error("cannot create " + temporary_.string() + ": " + std::strerror(error));
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (committed_) return;
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temporary_.c_str());
    detail::unregister_temporary(slot_);
  }

  /// Appends bytes; io_error when the disk refuses them.
  void write(std::span<const std::byte> bytes) {
    if (buffer_.size() + bytes.size() > buffer_limit) flush();
    if (bytes.size() > buffer_limit)
      write_out(bytes.data(), bytes.size());
    else
      buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    position_ += bytes.size();
  }
  void write(const void* data, std::size_t n) {
    write(std::span<const std::byte>(static_cast<const std::byte*>(data), n));
  }
  /// Bytes written so far.
  std::size_t position() const noexcept { return position_; }
  /// The temporary the bytes go to until commit().
  const std::filesystem::path& temporary() const noexcept { return temporary_; }

  /// Writes out what is buffered, fsyncs the temporary and renames it over the target.
  void commit() {
    flush();
    if (::fsync(fd_) != 0)
      throw io_error("cannot write " + temporary_.string() + ": " + std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0)
      throw io_error("cannot finish writing " + temporary_.string() + ": " + std::strerror(errno));
    if (::rename(temporary_.c_str(), path_.c_str()) != 0)
      throw io_error("cannot rename " + temporary_.string() + " to " + path_.string() + ": " +
                     std::strerror(errno));
    committed_ = true;
    detail::unregister_temporary(slot_);
    // The rename itself is durable once the folder is synced.
    const std::filesystem::path folder =
        path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      (void)::fsync(dir);
      ::close(dir);
    }
  }

 private:
  static constexpr std::size_t buffer_limit = std::size_t{1} << 20;

  void flush() {
    write_out(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void write_out(const std::byte* data, std::size_t n) {
    while (n > 0) {
      const ::ssize_t done = ::write(fd_, data, n);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0)
        throw io_error("cannot write " + temporary_.string() + ": " + std::strerror(errno));
      data += done;
      n -= static_cast<std::size_t>(done);
    }
  }

  std::filesystem::path path_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  int slot_ = -1;
  std::vector<std::byte> buffer_;
  std::size_t position_ = 0;
  bool committed_ = false;
};

}  // namespace pollard::io
