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

/// The temporaries being written and the folders made for them, for a signal handler to remove:
/// a fixed table of C strings (a handler may neither allocate nor lock). A slot is free (0),
/// being filled (1), a live temporary (2) or a live folder (3); the handler removes live slots
/// only.
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

/// Records a temporary (or, with `folder`, a folder made for outputs) before it is created;
/// returns its slot, or -1 when the table is full or the path too long (it is then still removed
/// on every exit but a signal).
inline int register_temporary(const std::string& path, bool folder = false) noexcept {
  auto& t = temporaries();
  if (path.size() >= temporary_table::path_capacity) return -1;
  for (std::size_t k = 0; k < temporary_table::slots; ++k) {
    int expected = 0;
    if (t.state[k].compare_exchange_strong(expected, 1)) {
      std::memcpy(t.path[k].data(), path.c_str(), path.size() + 1);
      t.state[k].store(folder ? 3 : 2, std::memory_order_release);
      return static_cast<int>(k);
    }
  }
  return -1;
}

inline void unregister_temporary(int slot) noexcept {
  if (slot >= 0) temporaries().state[static_cast<std::size_t>(slot)].store(0);
}

/// Unlinks every live temporary, then removes the live folders that are empty (a folder inside
/// another is removed first, whatever their slots' order) — async-signal-safe: atomics, unlink
/// and rmdir only.
inline void unlink_live_temporaries() noexcept {
  auto& t = temporaries();
  for (std::size_t k = 0; k < temporary_table::slots; ++k)
    if (t.state[k].load(std::memory_order_acquire) == 2) ::unlink(t.path[k].data());
  for (std::size_t pass = 0; pass < temporary_table::slots; ++pass) {
    bool removed = false;
    for (std::size_t k = 0; k < temporary_table::slots; ++k)
      if (t.state[k].load(std::memory_order_acquire) == 3 && ::rmdir(t.path[k].data()) == 0) {
        t.state[k].store(0);
        removed = true;
      }
    if (!removed) break;
  }
}

/// What a terminating signal does (remove_temporaries_on_signal()): 0, it removes the
/// temporaries and ends the process; 1, it is doing so; 2, it is held: outputs are being renamed
/// into place (atomic_file_set::commit()), so it is only recorded (held_signal()).
inline std::atomic<int>& signal_mode() noexcept {
  static std::atomic<int> mode{0};
  return mode;
}

/// The first signal that arrived while signals were held (0: none).
inline std::atomic<int>& held_signal() noexcept {
  static std::atomic<int> signal_number{0};
  return signal_number;
}

/// Whether remove_temporaries_on_signal() is in force (and so commits hold signals).
inline std::atomic<bool>& signal_handlers_installed() noexcept {
  static std::atomic<bool> installed{false};
  return installed;
}

/// Removes the temporaries, then lets `signal_number` take its default course, so the process
/// ends as signalled (async-signal-safe: atomics, unlink, rmdir, sigaction and raise only).
inline void end_as_signalled(int signal_number) noexcept {
  unlink_live_temporaries();
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
}

/// The handler of the terminating signals: ends the process as signalled, or, while signals are
/// held, records the signal and returns.
extern "C" inline void remove_temporaries_and_reraise(int signal_number) {
  int mode = 0;
  if (!signal_mode().compare_exchange_strong(mode, 1) && mode == 2) {
    int none = 0;
    held_signal().compare_exchange_strong(none, signal_number);
    return;
  }
  end_as_signalled(signal_number);
}

extern "C" inline void remove_temporaries_at_exit() { unlink_live_temporaries(); }

/// Holds the terminating signals (signal_mode() 2) before outputs are renamed into place.
/// Returns only when they are held: when a signal is already ending the process (on another
/// thread), it waits for the end, so that nothing is renamed.
inline void hold_signals() noexcept {
  if (!signal_handlers_installed().load()) return;
  int mode = 0;
  if (signal_mode().compare_exchange_strong(mode, 2) || mode == 2) return;
  for (;;) ::pause();
}

/// For a test of the commit (the environment variable POLLARD_TEST_PAUSE_IN_COMMIT names a
/// file): once the first output is in place, creates that file and waits, up to a minute, for a
/// terminating signal to arrive, so that a test can send one at that moment without timing.
inline void pause_in_commit_for_test() {
  const char* marker = std::getenv("POLLARD_TEST_PAUSE_IN_COMMIT");
  if (marker == nullptr || *marker == '\0') return;
  const int fd = ::open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd >= 0) ::close(fd);
  for (int waited = 0; waited < 6000 && held_signal().load() == 0; ++waited) ::usleep(10000);
}

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
/// remove them too, and the folders an atomic_file_set made for them. A program calls it once, at
/// its start (a library installs no signal handlers on its own); a signal whose handler the
/// program has already set is left alone.
///
/// Once atomic_file_set::commit() begins to rename outputs into place, these signals are held:
/// one that arrives is recorded, not acted on, so that the process never ends with some
/// outputs replaced while its exit status says it failed. A program that finishes and exits
/// with success after the commit leaves them held (a signal arriving then changes nothing); a
/// program that goes on working, or that fails, calls release_held_signals().
inline void remove_temporaries_on_signal() {
  static const bool installed = [] {
    for (const int s :
         {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ, SIGXCPU, SIGALRM, SIGUSR1, SIGUSR2}) {
      struct sigaction current {};
      if (::sigaction(s, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) continue;
      struct sigaction action {};
      action.sa_handler = detail::remove_temporaries_and_reraise;
      sigemptyset(&action.sa_mask);
      // A held signal returns from the handler: the call it interrupted goes on.
      action.sa_flags = SA_RESTART;
      ::sigaction(s, &action, nullptr);
    }
    std::atexit(detail::remove_temporaries_at_exit);
    detail::signal_handlers_installed().store(true);
    return true;
  }();
  (void)installed;
}

/// Ends the hold that atomic_file_set::commit() began (see remove_temporaries_on_signal()): a
/// signal that arrived meanwhile now takes its course (the process ends as signalled), and later
/// ones act at once again.
inline void release_held_signals() noexcept {
  int mode = 2;
  if (!detail::signal_mode().compare_exchange_strong(mode, 0)) return;
  if (const int signal_number = detail::held_signal().exchange(0); signal_number != 0)
    detail::remove_temporaries_and_reraise(signal_number);
}

/// Where writing `path` lands: `path` itself, or, when it is a symbolic link, the file the link
/// names (followed through chains of links, relative targets read from the link's folder), so
/// that an output written through a link replaces the link's target and leaves the link — what
/// `cp` and shell redirection do. A target that does not exist yet is created. io_error after 40
/// links (a loop).
inline std::filesystem::path write_target(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(p, ec))) return p;
    const std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    if (ec) throw io_error("cannot read the link " + path.string() + ": " + ec.message());
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  throw io_error("cannot write " + path.string() + ": too many levels of symbolic links");
}

/// Throws io_error unless `target` (a path with its links followed) is absent or a regular file:
/// a file is written through a temporary renamed over it, which would replace a device, a FIFO
/// or a socket (/dev/null, /dev/stdout) by a regular file.
inline void require_regular_or_absent(const std::filesystem::path& target,
                                      const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(target, ec);
  if (ec || !std::filesystem::exists(status) || std::filesystem::is_regular_file(status) ||
      std::filesystem::is_directory(status))
    return;
  throw io_error(what + " is not a regular file but a device, FIFO or socket (" + target.string() +
                 "): pollard writes a temporary and renames it over the " +
                 "output, which would replace it; name a regular file");
}

/// Throws io_error, naming `name` (the option) and the path as the user gave it, unless a file
/// can be written at `path` (through a link: at its target): its folder exists, is a folder and
/// is writable, and `path` is not itself a folder, a device, a FIFO or a socket. Meant to run
/// before any long work, so that an output that cannot be written fails at once.
inline void check_output_location(const std::string& name, const std::filesystem::path& path) {
  const std::string what = (name.empty() ? std::string() : name + ": ") + "output ";
  const std::string quoted = "'" + path.string() + "'";
  if (path.empty()) throw io_error(what + "file name is empty");
  const std::filesystem::path target = write_target(path);
  std::error_code ec;
  if (std::filesystem::is_directory(target, ec))
    throw io_error(what + quoted + " is a folder, not a file");
  require_regular_or_absent(target, what + quoted);
  const std::filesystem::path folder =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::exists(folder, ec))
    throw io_error(what + "folder of " + quoted + " does not exist");
  if (!std::filesystem::is_directory(folder, ec))
    throw io_error(what + "folder of " + quoted + " (" + folder.string() + ") is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw io_error(what + "folder of " + quoted + " is not writable (" + std::strerror(errno) +
                   ")");
}

class atomic_file;
class atomic_file_set;

namespace detail {
/// The set that, on this thread, takes over the commits of atomic_files (innermost first).
inline atomic_file_set*& current_file_set() noexcept {
  thread_local atomic_file_set* set = nullptr;
  return set;
}
}  // namespace detail

/// Writes a file so that `path` holds either its old content (or nothing) or the whole new
/// content, never a part. Bytes go to a temporary beside `path` (`<path>.tmp-<pid>-<n>`, unique
/// per atomic_file, so two outputs of one process never share one); commit() writes them out,
/// fsyncs the temporary, renames it over `path` and fsyncs the folder. A `path` that is a
/// symbolic link is written through: the link's target is replaced, the link stays
/// (write_target()). Destroyed without commit() (an exception on the way) it removes the
/// temporary, as does a signal once remove_temporaries_on_signal() is in force. While an
/// atomic_file_set is alive on the calling thread, commit() only completes the temporary and
/// hands it to that set, which renames all its files together.
class atomic_file {
 public:
  /// Creates the temporary; io_error, naming `path`, when it cannot be created.
  explicit atomic_file(std::filesystem::path path)
      : named_(std::move(path)), path_(write_target(named_)) {
    require_regular_or_absent(path_, "output '" + named_.string() + "'");
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
    if (fd_ < 0) {
      const std::filesystem::path folder =
          path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
      std::error_code ec;
      if (error == ENOENT && !std::filesystem::is_directory(folder, ec))
        throw io_error("output folder of '" + named_.string() + "' does not exist");
      throw io_error("cannot write '" + named_.string() + "': cannot create a file in " +
                     folder.string() + ": " + std::strerror(error));
    }
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (handed_over_) return;
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
  /// The file the temporary replaces (the path given, links followed).
  const std::filesystem::path& target() const noexcept { return path_; }

  /// Writes out what is buffered, fsyncs the temporary and renames it over the target (or,
  /// while an atomic_file_set is alive on this thread, hands the complete temporary to it).
  inline void commit();

 private:
  friend class atomic_file_set;
  static constexpr std::size_t buffer_limit = std::size_t{1} << 20;

  /// Writes out what is buffered, fsyncs and closes the temporary: it is complete.
  void finish() {
    flush();
    if (::fsync(fd_) != 0)
      throw io_error("cannot write '" + named_.string() + "': " + std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0)
      throw io_error("cannot finish writing '" + named_.string() + "': " + std::strerror(errno));
  }

  void flush() {
    write_out(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void write_out(const std::byte* data, std::size_t n) {
    while (n > 0) {
      const ::ssize_t done = ::write(fd_, data, n);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0)
        throw io_error("cannot write '" + named_.string() + "': " + std::strerror(errno));
      data += done;
      n -= static_cast<std::size_t>(done);
    }
  }

  std::filesystem::path named_;  // as the caller named it, for messages
  std::filesystem::path path_;   // where it lands
  std::filesystem::path temporary_;
  int fd_ = -1;
  int slot_ = -1;
  std::vector<std::byte> buffer_;
  std::size_t position_ = 0;
  bool handed_over_ = false;  // renamed into place, or owned by an atomic_file_set
};

namespace detail {
/// Makes the rename of a finished temporary durable: fsyncs the folder it lands in.
inline void sync_folder_of(const std::filesystem::path& path) noexcept {
  const std::filesystem::path folder =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}
}  // namespace detail

/// Several outputs of one command committed together: either every one is in place with its
/// whole new content, or none has changed. While the set is alive, every atomic_file committed
/// on the same thread (by pollard's writers: write_npy, write_safetensors, the GGUF and llama2.c
/// writers...) is only completed — written, fsynced, closed — and kept as a temporary; commit()
/// then renames them all. A rename that fails undoes those before it (each replaced file was
/// kept as a hard link, so it is put back; a new one is removed). Destroyed without commit(), the
/// set removes every temporary it holds, and the folders it created. Sets nest: an inner set
/// takes the commits until it ends.
class atomic_file_set {
 public:
  atomic_file_set() : outer_(detail::current_file_set()) { detail::current_file_set() = this; }
  atomic_file_set(const atomic_file_set&) = delete;
  atomic_file_set& operator=(const atomic_file_set&) = delete;
  ~atomic_file_set() {
    detail::current_file_set() = outer_;
    for (const auto& f : files_) {
      ::unlink(f.temporary.c_str());
      detail::unregister_temporary(f.slot);
    }
    for (auto it = created_folders_.rbegin(); it != created_folders_.rend(); ++it) {
      ::rmdir(it->path.c_str());  // only when empty
      detail::unregister_temporary(it->slot);
    }
  }

  /// Creates `folder` (and missing parents) for files of the set; when the set is not
  /// committed, the folders it created are removed again (when empty), also by a signal once
  /// remove_temporaries_on_signal() is in force.
  void create_folder(const std::filesystem::path& folder) {
    std::vector<std::filesystem::path> missing;
    for (std::filesystem::path p = folder; !p.empty() && !std::filesystem::exists(p);
         p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      // Registered before it exists, so that no signal finds it unrecorded.
      created_folders_.push_back({*it, detail::register_temporary(it->string(), true)});
      std::error_code ec;
      if (!std::filesystem::create_directory(*it, ec) && ec)
        throw io_error("cannot create the folder " + it->string() + ": " + ec.message());
    }
  }

  /// Removes `path` (a file; a link itself, not its target) as part of commit(): a file that the
  /// committed outputs replace as a whole (a stale file of an output folder). It is removed with
  /// the renames, and put back when the commit fails; nothing happens to it before.
  void remove_on_commit(const std::filesystem::path& path) {
    files_.push_back({path, path, {}, {}, -1, -1});
  }

  /// Where a file committed to this set is until commit(): its temporary (to read it back
  /// before it is published); `path` itself when the set holds no file for it.
  std::filesystem::path pending(const std::filesystem::path& path) const {
    const std::filesystem::path target = write_target(path);
    for (const auto& f : files_)
      if (f.target == target) return f.temporary;
    return path;
  }

  /// Renames every file into place, all or none; io_error naming the file that failed. From
  /// the first rename on, the terminating signals are held (remove_temporaries_on_signal()
  /// says how); when a rename fails, every file is put back and the hold released.
  void commit() {
    detail::hold_signals();
    std::size_t done = 0;
    try {
      for (; done < files_.size(); ++done) {
        publish(files_[done]);
        if (done == 0) detail::pause_in_commit_for_test();
      }
    } catch (...) {
      if (done < files_.size()) {
        if (!files_[done].backup.empty()) ::unlink(files_[done].backup.c_str());
        detail::unregister_temporary(files_[done].backup_slot);
      }
      for (std::size_t k = done; k-- > 0;) undo(files_[k]);
      release_held_signals();
      throw;
    }
    for (auto& f : files_) {
      if (!f.backup.empty()) ::unlink(f.backup.c_str());
      detail::unregister_temporary(f.slot);
      detail::unregister_temporary(f.backup_slot);
      detail::sync_folder_of(f.target);
    }
    for (const auto& folder : created_folders_) detail::unregister_temporary(folder.slot);
    files_.clear();
    created_folders_.clear();
  }

 private:
  friend class atomic_file;
  struct pending_file {
    std::filesystem::path named, target, temporary, backup;
    int slot = -1, backup_slot = -1;
  };

  void adopt(atomic_file& f) {
    f.finish();
    files_.push_back({f.named_, f.path_, f.temporary_, {}, f.slot_, -1});
    f.handed_over_ = true;
  }

  /// Keeps what `f.target` holds as a hard link beside it, then renames the temporary over it
  /// (or, for a file to remove, which has no temporary, unlinks it).
  void publish(pending_file& f) {
    struct stat st {};
    if (::lstat(f.target.c_str(), &st) == 0) {
      const std::filesystem::path backup = detail::temporary_name(f.target);
      f.backup_slot = detail::register_temporary(backup.string());
      if (::link(f.target.c_str(), backup.c_str()) == 0) {
        f.backup = backup;
      } else {
        detail::unregister_temporary(f.backup_slot);
        f.backup_slot = -1;
      }
    }
    if (f.temporary.empty()) {
      if (f.backup.empty() && ::lstat(f.target.c_str(), &st) == 0)
        throw io_error("cannot remove '" + f.named.string() +
                       "': no copy of it could be kept to put back; no output was written");
      if (::unlink(f.target.c_str()) != 0 && errno != ENOENT)
        throw io_error("cannot remove '" + f.named.string() + "': " + std::strerror(errno) +
                       "; no output was written");
      return;
    }
    if (::rename(f.temporary.c_str(), f.target.c_str()) != 0)
      throw io_error("cannot write '" + f.named.string() + "': " + std::strerror(errno) +
                     "; no output was written");
    f.temporary.clear();
  }

  /// Puts back what `f.target` held before publish(f) (or removes the new file).
  static void undo(pending_file& f) noexcept {
    if (!f.backup.empty())
      (void)::rename(f.backup.c_str(), f.target.c_str());
    else
      ::unlink(f.target.c_str());
    detail::unregister_temporary(f.backup_slot);
    f.backup.clear();
  }

  struct created_folder {
    std::filesystem::path path;
    int slot = -1;
  };

  atomic_file_set* outer_;
  std::vector<pending_file> files_;
  std::vector<created_folder> created_folders_;
};

inline void atomic_file::commit() {
  if (atomic_file_set* set = detail::current_file_set()) {
    set->adopt(*this);
    return;
  }
  finish();
  if (::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw io_error("cannot write '" + named_.string() + "': " + std::strerror(errno));
  handed_over_ = true;
  detail::unregister_temporary(slot_);
  // The rename itself is durable once the folder is synced.
  detail::sync_folder_of(path_);
}

}  // namespace pollard::io
